import type { FileConfig } from "../config/file.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import type { Severity } from "../generated/prisma/enums.ts";
import type { Metrics } from "../http/metrics.ts";
import type { IncidentFlows } from "../incident/flows.ts";
import { postAlertsJob, triageReplyJob } from "./jobs.ts";
import { labelsOf } from "./queries.ts";

/** The triage channel's way from an alert group to an incident. */

/** What declaring from a group uses of the alert flows' dependencies. */
export interface TriageDeps {
  prisma: PrismaClient;
  config: Pick<FileConfig, "services">;
  flows: Pick<IncidentFlows, "declareWithin">;
  metrics: Pick<Metrics, "incidentsDeclared">;
  wakeJobs(): void;
}

/** The triage channel's "Declare incident" button; the answer goes in a thread under the triage message. */
export async function declareFromGroup(deps: TriageDeps, groupId: string, userId: string, origin?: { channelId: string; messageTs: string }): Promise<{ ok: boolean; message: string }> {
  let number: number | undefined;
  let createdSeverity: Severity | undefined;
  await deps.prisma.$transaction(async (tx: Db) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`alertgroup-id:${groupId}`}))`;
    const group = await tx.alertGroup.findUnique({ where: { id: groupId }, include: { alerts: { orderBy: { startsAt: "asc" } } } });
    if (!group) return;
    if (group.incidentId) {
      number = (await tx.incident.findUnique({ where: { id: group.incidentId }, select: { number: true } }))?.number;
      return;
    }
    const labels = labelsOf(group.commonLabels);
    const firing = group.alerts.filter((alert) => alert.status === "FIRING");
    const first = firing[0] ?? group.alerts[0];
    const annotations = first ? labelsOf(first.annotations) : {};
    const result = await deps.flows.declareWithin(tx, {
      title: (annotations.summary ?? labels.alertname ?? "Alert").slice(0, 200),
      severity: group.severity ?? "SEV3",
      private: false,
      source: "ALERT",
      declaredById: userId,
      description: annotations.description ?? null,
      services: group.serviceKey && deps.config.services.some((service) => service.key === group.serviceKey) ? [group.serviceKey] : [],
      idempotencyKey: `triage-declare:${group.id}`,
      startedAt: first?.startsAt ?? null,
    });
    await tx.alertGroup.update({ where: { id: group.id }, data: { incidentId: result.incident.id } });
    if (firing.length > 0) {
      await postAlertsJob.enqueue(tx, { incidentId: result.incident.id, groupId: group.id, fingerprints: firing.map((alert) => alert.fingerprint) }, { incidentId: result.incident.id, rateKey: `alerts:${result.incident.id}` });
    }
    number = result.incident.number;
    if (result.created) {
      createdSeverity = result.incident.severity;
      if (origin) {
        await triageReplyJob.enqueue(
          tx,
          { channel: origin.channelId, threadTs: origin.messageTs, text: `:rotating_light: <@${userId}> declared *INC-${result.incident.number}* for these alerts; its channel is on the way.` },
          { rateKey: `chat.postMessage:${origin.channelId}`, dedupeKey: `triage-reply:${group.id}` },
        );
      }
    }
  });
  if (createdSeverity) deps.metrics.incidentsDeclared.inc({ severity: createdSeverity, source: "ALERT" });
  deps.wakeJobs();
  return number === undefined ? { ok: false, message: "That alert group no longer exists." } : { ok: true, message: `INC-${number} is declared for these alerts.` };
}
