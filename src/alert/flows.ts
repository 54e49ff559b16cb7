import type { FileConfig } from "../config/file.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { AlertStatus, Severity } from "../generated/prisma/enums.ts";
import type { IncidentFlows } from "../incident/flows.ts";
import { ALERT_EVENTS } from "./events.ts";
import type { IncidentLifecycle } from "../incident/lifecycle.ts";
import { severityPriority } from "../incident/lifecycle-jobs.ts";
import { PermanentOutboundError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Foreground } from "../lib/foreground.ts";
import type { SlackApi } from "../slack/api.ts";
import { recordEvents } from "../events/store.ts";
import { createIngestQueue, type StoredDelivery } from "./ingest.ts";
import { assertStorable, withoutByteOrderMark } from "./ingest-storable.ts";
import { ingestTuning, type IngestTuning } from "./ingest-tuning.ts";
import { createAlertJobs, incidentOpJob, postAlertsJob, postTriageJob } from "./jobs.ts";
import { endsAtOrNull, validateWebhook, type AlertmanagerWebhook } from "./models.ts";
import { purgeOldDeliveries, recentGroups } from "./queries.ts";
import type { DeliveryStore } from "./service.ts";
import { decideRoute, type AlertRoutingConfig, type RoutingDecision } from "./routing.ts";
import { declareFromGroup } from "./triage.ts";

/**
 * Alertmanager deliveries -> alert groups -> incidents.
 *
 * The webhook stores the raw delivery and a processing job in one
 * statement (group commit: deliveries arriving together share it; an
 * identical HA copy shares its original's row, see ingest.ts), then answers
 * 2xx. Processing takes a per-group advisory lock,
 * so re-sends (group_interval, repeat_interval) and the duplicate deliveries
 * of an HA pair, in any order and concurrently, are merged into one state:
 * only real transitions (new alert firing, alert resolved, alert firing
 * again) produce timeline events and Slack messages, and a group is linked to
 * at most one open incident.
 */

export interface AlertFlowDeps {
  prisma: PrismaClient;
  /** The webhook's store statement. */
  deliveries: Pick<DeliveryStore, "store">;
  config: Pick<FileConfig, "alerts" | "services">;
  flows: Pick<IncidentFlows, "declareWithin">;
  lifecycle: Pick<IncidentLifecycle, "resolve" | "reopen">;
  slack: Pick<SlackApi, "postMessage">;
  metrics: Pick<Metrics, "incidentsDeclared">;
  logger: Logger;
  wakeJobs(): void;
  now?: () => Date;
  /** Group commit, copies, admission and ingest-first settings (default: PostgreSQL's). */
  ingest?: IngestTuning;
  /** Slack commands and interactions waiting for their answer: processing holds back for them too. */
  foreground?: Pick<Foreground, "active" | "onIdle">;
}


export function routingConfig(config: Pick<FileConfig, "alerts">): AlertRoutingConfig {
  return {
    routes: config.alerts.routes,
    severityMap: config.alerts.severityMap,
    triageChannel: config.alerts.triageChannel,
    configured: config.alerts.configured,
    defaultAction: config.alerts.defaultAction,
  };
}

/** Priority of an alert job: the most severe first during storms. */
function priorityOf(decision: RoutingDecision): number {
  return severityPriority(decision.severity);
}

type Transition = { fingerprint: string; kind: "firing" | "resolved" | "refiring"; name: string };

/** An existing alert whose status changes with this delivery. */
interface AlertChange {
  id: string;
  status: AlertStatus;
  annotations: Record<string, string>;
  startsAt: Date;
  endsAt: Date | null;
}

/**
 * What a delivery changes in its group's existing alerts, in one statement: each status change
 * (a delivery that resolves or re-fires most of a group's alerts would otherwise cost one round
 * trip and one pass through Prisma's query engine per alert) and the last-seen time of the
 * alerts it carries unchanged. The two sets are disjoint (one row per alert).
 */
async function updateAlerts(tx: Db, changes: readonly AlertChange[], unchanged: readonly string[], at: Date): Promise<void> {
  if (changes.length === 0 && unchanged.length === 0) return;
  const rows = changes.map((change) => Prisma.sql`(${change.id}::uuid, ${change.status}::"AlertStatus", ${JSON.stringify(change.annotations)}::jsonb, ${change.startsAt}::timestamptz, ${change.endsAt}::timestamptz)`);
  const changed =
    rows.length > 0
      ? Prisma.sql`UPDATE alerts AS a
          SET status = v.status, annotations = v.annotations, starts_at = v.starts_at, ends_at = v.ends_at, last_seen_at = ${at}::timestamptz
          FROM (VALUES ${Prisma.join(rows)}) AS v(id, status, annotations, starts_at, ends_at)
          WHERE a.id = v.id RETURNING a.id`
      : Prisma.sql`SELECT NULL::uuid AS id WHERE false`;
  const [counts] = await tx.$queryRaw<Array<{ changed: number; seen: number }>>`
    WITH changed AS (${changed}),
         seen AS (UPDATE alerts SET last_seen_at = ${at}::timestamptz WHERE id = ANY(${[...unchanged]}::uuid[]) RETURNING id)
    SELECT (SELECT count(*) FROM changed)::int AS changed, (SELECT count(*) FROM seen)::int AS seen`;
  if (counts?.changed !== changes.length || counts.seen !== unchanged.length) {
    throw new Error(`updated ${counts?.changed ?? 0} of ${changes.length} changed and ${counts?.seen ?? 0} of ${unchanged.length} unchanged alerts`);
  }
}

/**
 * The group's status from its alerts (firing while one fires; resolved since the moment none
 * does), in one statement after this delivery's writes; returns how many fire.
 */
async function settleGroupStatus(tx: Db, groupId: string, at: Date): Promise<number> {
  const [row] = await tx.$queryRaw<Array<{ firing: number }>>`
    UPDATE alert_groups AS g
    SET status = (CASE WHEN f.firing > 0 THEN 'FIRING' ELSE 'RESOLVED' END)::"AlertStatus",
        resolved_at = CASE WHEN f.firing > 0 THEN NULL ELSE COALESCE(g.resolved_at, ${at}::timestamptz) END
    FROM (SELECT count(*)::int AS firing FROM alerts WHERE group_id = ${groupId}::uuid AND status = 'FIRING') AS f
    WHERE g.id = ${groupId}::uuid
    RETURNING f.firing`;
  if (!row) throw new Error(`alert group ${groupId} vanished while its delivery was processed`);
  return row.firing;
}

/**
 * A stored delivery's JSON. The webhook stores the text it parsed, less a byte order mark;
 * one is dropped here too (a second one, which Fastify's parser also drops, and rows stored
 * before the webhook dropped them). Text that does not parse cannot get better by retrying.
 */
function parseStored(deliveryId: bigint, payload: string): unknown {
  try {
    return JSON.parse(withoutByteOrderMark(payload));
  } catch (error) {
    throw new PermanentOutboundError("job_payload_invalid", "delivery_not_json", `alert delivery ${deliveryId} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function createAlertFlows(deps: AlertFlowDeps) {
  const now = deps.now ?? (() => new Date());
  const routing = routingConfig(deps.config);

  const tuning = deps.ingest ?? ingestTuning();
  const ingestQueue = createIngestQueue(
    { store: deps.deliveries.store, onStored: () => deps.wakeJobs(), clock: () => now().getTime(), ...(deps.foreground ? { foreground: deps.foreground } : {}) },
    tuning,
  );

  /**
   * Called by the webhook with the validated payload, the bytes it was parsed from, stored as
   * received, and `text`, those bytes as the UTF-8 text that was parsed (when the caller has it); `key` identifies identical copies (the hash of the body). Resolves once
   * the delivery (or the identical original it copies) is committed.
   * Rejects with UnstorablePayloadError (bad input, before batching), IngestOverloadedError
   * when the database cannot keep up, or the database's error when its batch failed.
   */
  async function ingest(payload: AlertmanagerWebhook, raw: Buffer, key?: string, text?: string): Promise<StoredDelivery> {
    assertStorable(payload, raw);
    const decision = decideRoute(routing, { ...payload.commonLabels, ...payload.groupLabels });
    const body = text ?? raw.toString("utf8");
    return ingestQueue.submit({ groupKey: payload.groupKey, body, priority: priorityOf(decision) }, key);
  }

  /**
   * The alert states a group's last processed delivery carried. A re-send or
   * an HA duplicate carrying exactly the same states changes nothing, so it
   * is marked processed without touching the group. A cache only: after a
   * restart the first delivery of each group is processed in full.
   */
  const lastStates = new Map<string, string>();
  const MAX_CACHED_GROUPS = 10_000;

  function statesOf(payload: AlertmanagerWebhook): string {
    return payload.alerts
      .map((alert) => `${alert.fingerprint}:${alert.status}:${alert.startsAt}:${alert.endsAt ?? ""}`)
      .sort()
      .join("|");
  }

  /** Processing yields to the webhook (see ingest.ts): Alertmanager is waiting for the webhook, nobody for this. */
  async function processDelivery(deliveryId: bigint, logger: Logger): Promise<void> {
    const release = await ingestQueue.backgroundTurn();
    try {
      await processDeliveryNow(deliveryId, logger);
    } finally {
      release();
    }
  }

  async function processDeliveryNow(deliveryId: bigint, logger: Logger): Promise<void> {
    const delivery = await deps.prisma.alertDelivery.findUnique({ where: { id: deliveryId } });
    if (!delivery) throw new PermanentOutboundError("job_payload_invalid", "delivery_not_found", `alert delivery ${deliveryId} does not exist`);
    if (delivery.processedAt) return;
    // Validated before it was stored; a payload a later version no longer accepts cannot get better by retrying.
    const validated = validateWebhook(parseStored(deliveryId, delivery.payload));
    if (!validated.ok) throw new PermanentOutboundError("job_payload_invalid", "delivery_invalid", `alert delivery ${deliveryId}: ${validated.error}`);
    const payload = validated.value;
    const states = statesOf(payload);
    if (lastStates.get(payload.groupKey) === states) {
      await deps.prisma.$transaction(async (tx) => {
        await tx.alertGroup.updateMany({ where: { groupKey: payload.groupKey }, data: { lastSeenAt: now() } });
        await tx.alertDelivery.update({ where: { id: delivery.id }, data: { processedAt: now() } });
      });
      return;
    }
    const decision = decideRoute(routing, { ...payload.commonLabels, ...payload.groupLabels });
    let declared: { severity: Severity } | undefined;

    await deps.prisma.$transaction(async (tx) => {
      const at = now();
      // One delivery of a group at a time, whichever instance sent it: the upsert (INSERT ... ON
      // CONFLICT DO UPDATE) locks the group's row until this transaction ends, and one that
      // inserts a group another is inserting waits for that one's commit, then updates it.
      const group = await tx.alertGroup.upsert({
        where: { groupKey: payload.groupKey },
        create: {
          groupKey: payload.groupKey,
          receiver: payload.receiver,
          status: "FIRING",
          groupLabels: payload.groupLabels,
          commonLabels: payload.commonLabels,
          externalUrl: payload.externalURL || null,
          route: decision.route,
          serviceKey: decision.service ?? null,
          severity: decision.severity,
          disposition: decision.action === "declare" ? "DECLARE" : decision.action === "triage" ? "TRIAGE" : "RECORD",
        },
        update: { lastSeenAt: at, commonLabels: payload.commonLabels, route: decision.route, severity: decision.severity, serviceKey: decision.service ?? null },
      });

      // One read for the whole delivery, one insert for the new alerts, one statement for the
      // changed and unchanged ones.
      const transitions: Transition[] = [];
      const existingAlerts = await tx.alert.findMany({ where: { groupId: group.id, fingerprint: { in: payload.alerts.map((alert) => alert.fingerprint) } } });
      const byFingerprint = new Map(existingAlerts.map((alert) => [alert.fingerprint, alert]));
      const fresh: Prisma.AlertCreateManyInput[] = [];
      const unchanged: string[] = [];
      const changed: AlertChange[] = [];
      for (const alert of payload.alerts) {
        const status: AlertStatus = alert.status === "firing" ? "FIRING" : "RESOLVED";
        const startsAt = new Date(alert.startsAt);
        const endsAt = endsAtOrNull(alert);
        const name = alert.labels.alertname ?? alert.fingerprint;
        const existing = byFingerprint.get(alert.fingerprint);
        if (!existing) {
          if (fresh.some((entry) => entry.fingerprint === alert.fingerprint)) continue;
          fresh.push({ groupId: group.id, fingerprint: alert.fingerprint, status, labels: alert.labels, annotations: alert.annotations, startsAt, endsAt, generatorUrl: alert.generatorURL || null });
          if (status === "FIRING") transitions.push({ fingerprint: alert.fingerprint, kind: "firing", name });
          continue;
        }
        let next: AlertStatus = existing.status;
        if (existing.status === "FIRING" && status === "RESOLVED") {
          next = "RESOLVED";
          transitions.push({ fingerprint: alert.fingerprint, kind: "resolved", name });
        } else if (existing.status === "RESOLVED" && status === "FIRING") {
          // A stale re-send of the old firing (out of order) is not a new firing.
          const resolvedAt = existing.endsAt ?? existing.lastSeenAt;
          if (startsAt.getTime() > resolvedAt.getTime()) {
            next = "FIRING";
            transitions.push({ fingerprint: alert.fingerprint, kind: "refiring", name });
          }
        }
        if (next === existing.status) {
          unchanged.push(existing.id);
          continue;
        }
        changed.push({
          id: existing.id,
          status: next,
          annotations: alert.annotations,
          startsAt: next === "FIRING" ? startsAt : existing.startsAt,
          endsAt: next === "RESOLVED" ? (endsAt ?? at) : null,
        });
      }
      if (fresh.length > 0) await tx.alert.createMany({ data: fresh, skipDuplicates: true });
      await updateAlerts(tx, changed, unchanged, at);
      const firingCount = await settleGroupStatus(tx, group.id, at);

      const firing = transitions.filter((t) => t.kind !== "resolved");
      const resolved = transitions.filter((t) => t.kind === "resolved");
      let incidentId = group.incidentId;
      const priority = priorityOf(decision);

      if (firing.length > 0) {
        const incident = incidentId ? await tx.incident.findUnique({ where: { id: incidentId }, select: { id: true, status: true, resolvedAt: true } }) : null;
        const windowMs = deps.config.alerts.reopenWindowMinutes * 60_000;
        if (incident && incident.status === "RESOLVED") {
          if (incident.resolvedAt && at.getTime() - incident.resolvedAt.getTime() <= windowMs) {
            await incidentOpJob.enqueue(tx, { incidentId: incident.id, op: "reopen", key: `reopen:${group.id}:${delivery.id}` }, { incidentId: incident.id, priority, rateKey: `alertop:${incident.id}` });
          } else {
            incidentId = null; // an old incident: this is a new one
          }
        }
        if (!incidentId && decision.action === "declare") {
          const first = await tx.alert.findFirst({ where: { groupId: group.id, status: "FIRING" }, orderBy: { startsAt: "asc" } });
          const title = payload.commonAnnotations.summary ?? payload.commonLabels.alertname ?? firing[0]?.name ?? "Alert";
          const result = await deps.flows.declareWithin(tx, {
            title: title.slice(0, 200),
            severity: decision.severity,
            private: false,
            source: "ALERT",
            declaredById: null,
            description: payload.commonAnnotations.description ?? null,
            services: decision.service && deps.config.services.some((service) => service.key === decision.service) ? [decision.service] : [],
            idempotencyKey: `alertgroup:${group.id}:${first?.startsAt.toISOString() ?? at.toISOString()}`,
            startedAt: first?.startsAt ?? null,
          });
          incidentId = result.incident.id;
          if (result.created) declared = { severity: result.incident.severity };
        }
        if (incidentId !== group.incidentId) await tx.alertGroup.update({ where: { id: group.id }, data: { incidentId } });
        if (!incidentId && decision.action === "triage") {
          await postTriageJob.enqueue(tx, { groupId: group.id }, { priority, rateKey: "triage", dedupeKey: `triage:${group.id}:${firing.map((t) => t.fingerprint).sort().join(",")}:${delivery.id}` });
        }
      }

      if (incidentId) {
        const linked = incidentId;
        await recordEvents(
          tx,
          transitions.map((transition) => {
            const data = { fingerprint: transition.fingerprint, alertname: transition.name, groupKey: payload.groupKey };
            const row = { incidentId: linked, source: "ALERTMANAGER" as const, sourceRef: `alert:${transition.fingerprint}:${transition.kind}:${delivery.id}` };
            return transition.kind === "resolved"
              ? ALERT_EVENTS["alert.resolved"].row({ ...row, data })
              : ALERT_EVENTS["alert.firing"].row({ ...row, data: { ...data, again: transition.kind === "refiring" } });
          }),
        );
        if (firing.length > 0) {
          await postAlertsJob.enqueue(tx, { incidentId, groupId: group.id, fingerprints: firing.map((t) => t.fingerprint) }, { incidentId, priority, rateKey: `alerts:${incidentId}` });
        }
        if (resolved.length > 0) {
          // This group is linked to the incident by now: while it still fires, so does the incident.
          const stillFiring = firingCount > 0 ? firingCount : await tx.alert.count({ where: { status: "FIRING", group: { incidentId } } });
          if (stillFiring === 0) {
            await incidentOpJob.enqueue(
              tx,
              { incidentId, op: decision.autoResolve ? "resolve" : "offer_resolve", key: `allresolved:${incidentId}:${delivery.id}` },
              { incidentId, priority, rateKey: `alertop:${incidentId}` },
            );
          }
        }
      }
      await tx.alertDelivery.update({ where: { id: delivery.id }, data: { processedAt: at } });
    });
    if (lastStates.size >= MAX_CACHED_GROUPS) lastStates.clear();
    lastStates.set(payload.groupKey, states);
    if (declared) deps.metrics.incidentsDeclared.inc({ severity: declared.severity, source: "ALERT" });
    logger.debug({ groupKey: payload.groupKey, route: decision.route, action: decision.action }, "alert delivery processed");
    deps.wakeJobs();
  }

  const jobs = createAlertJobs(deps, { processDelivery, backgroundSlots: tuning.backgroundSlots });

  return {
    ingest,
    /** The ingest queue's backlog, for /metrics. */
    ingestStats: () => ingestQueue.stats(),
    copyOf: (key: string) => ingestQueue.copyOf(key),
    processDelivery,
    /** The triage channel's "Declare incident" button (triage.ts). */
    declareFromGroup: (groupId: string, userId: string, origin?: { channelId: string; messageTs: string }) => declareFromGroup(deps, groupId, userId, origin),
    /** `/incident alerts` (queries.ts). */
    recentGroups: (limit: number) => recentGroups(deps.prisma, limit),
    /** Housekeeping: processed deliveries older than `retentionDays` (queries.ts). */
    purgeOldDeliveries: (retentionDays: number, batch?: number) => purgeOldDeliveries(deps.prisma, retentionDays, batch),
    jobs,
  };
}

export type AlertFlows = ReturnType<typeof createAlertFlows>;
