import { z } from "zod";
import type { FileConfig } from "../config/file.ts";
import type { PrismaClient } from "../db/client.ts";
import { systemActor } from "../events/lifecycle.ts";
import type { IncidentLifecycle } from "../incident/lifecycle.ts";
import { NotReadyError, PermanentOutboundError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { jobType } from "../queue/service.ts";
import { onceFor, type SlackApi } from "../slack/api.ts";
import { toAlertView } from "./queries.ts";
import { alertsMessage, allResolvedMessage, triageMessage } from "./views.ts";

/**
 * The alert flows' jobs (flows.ts and triage.ts enqueue them): process a
 * stored delivery, post alerts in the incident channel or the triage channel,
 * reply under a triage message, and resolve or reopen an incident as its
 * alerts do.
 */

const ALERTMANAGER = systemActor("ALERTMANAGER");

const deliveryPayload = z.object({ deliveryId: z.string().regex(/^\d+$/) });
const postAlertsPayload = z.object({ incidentId: z.uuid(), groupId: z.uuid(), fingerprints: z.array(z.string()).min(1) });
const groupPayload = z.object({ groupId: z.uuid() });
const replyPayload = z.object({ channel: z.string().min(1), threadTs: z.string().min(1), text: z.string().min(1).max(3_000) });
const incidentOpPayload = z.object({ incidentId: z.uuid(), op: z.enum(["resolve", "reopen", "offer_resolve"]), key: z.string() });

export const processDeliveryJob = jobType("alert.process_delivery", deliveryPayload);
export const postAlertsJob = jobType("alert.post_alerts", postAlertsPayload);
export const postTriageJob = jobType("alert.post_triage", groupPayload);
export const incidentOpJob = jobType("alert.incident_op", incidentOpPayload);
/** A reply under the triage message (the bot posts there with chat:write.public; ephemerals need membership). */
export const triageReplyJob = jobType("alert.triage_reply", replyPayload);

/** What the jobs use of the alert flows' dependencies. */
export interface AlertJobDeps {
  prisma: PrismaClient;
  config: Pick<FileConfig, "alerts">;
  lifecycle: Pick<IncidentLifecycle, "resolve" | "reopen">;
  slack: Pick<SlackApi, "postMessage">;
}

/**
 * The handlers. `processDelivery` is the flows' (it waits for its turn behind
 * the webhook); at most `backgroundSlots` of its jobs run at once.
 */
export function createAlertJobs(deps: AlertJobDeps, processing: { processDelivery(deliveryId: bigint, logger: Logger): Promise<void>; backgroundSlots: number }) {
  async function loadIncidentChannel(incidentId: string) {
    const incident = await deps.prisma.incident.findUnique({ where: { id: incidentId } });
    if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${incidentId} does not exist`);
    return incident;
  }

  return [
    processDeliveryJob.handler({
      maxAttempts: 20,
      // Waiting for its turn (ingest first) must not hold every worker slot: Slack work goes on.
      maxConcurrent: processing.backgroundSlots,
      // The way from an alert to its page: it may take the worker's reserved slot.
      critical: true,
      async handle({ deliveryId }, context) {
        await processing.processDelivery(BigInt(deliveryId), context.logger);
      },
    }),
    postAlertsJob.handler({
      async handle({ incidentId, groupId, fingerprints }, context) {
        const incident = await loadIncidentChannel(incidentId);
        // Posted once the incident channel has its header (the declare flow creates both): the
        // channel opens with the header, even when Slack held the header back with a 429.
        if (!incident.channelId || !incident.headerMessageTs) throw new NotReadyError(`incident ${incidentId} has no channel header yet`);
        const alerts = await deps.prisma.alert.findMany({ where: { groupId, fingerprint: { in: fingerprints } }, orderBy: { startsAt: "asc" } });
        if (alerts.length === 0) return;
        const message = alertsMessage(alerts.map(toAlertView));
        await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks, once: onceFor(context) });
      },
    }),
    postTriageJob.handler({
      async handle({ groupId }) {
        const channel = deps.config.alerts.triageChannel;
        if (!channel) return;
        const group = await deps.prisma.alertGroup.findUnique({ where: { id: groupId }, include: { alerts: { where: { status: "FIRING" }, orderBy: { startsAt: "asc" } } } });
        if (!group || group.incidentId || group.alerts.length === 0) return;
        const message = triageMessage({ id: group.id, severity: group.severity, route: group.route }, group.alerts.map(toAlertView));
        await deps.slack.postMessage({ channel, text: message.text, blocks: message.blocks });
      },
    }),
    triageReplyJob.handler({
      async handle({ channel, threadTs, text }) {
        await deps.slack.postMessage({ channel, threadTs, text });
      },
    }),
    incidentOpJob.handler({
      async handle({ incidentId, op, key }) {
        if (op === "resolve") {
          await deps.lifecycle.resolve(incidentId, ALERTMANAGER, "All alerts resolved (resolved automatically by its alert route).", key);
        } else if (op === "reopen") {
          await deps.lifecycle.reopen(incidentId, ALERTMANAGER);
        } else {
          const incident = await loadIncidentChannel(incidentId);
          if (!incident.channelId || incident.status === "RESOLVED") return;
          const message = allResolvedMessage({ id: incident.id, number: incident.number });
          await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks });
        }
      },
    }),
  ];
}
