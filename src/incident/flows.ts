import { randomUUID } from "node:crypto";
import { z } from "zod";
import { INCIDENT_EVENTS } from "./events.ts";
import type { FileConfig } from "../config/file.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { IncidentSource, Severity } from "../generated/prisma/enums.ts";
import { FirebreakError, NotReadyError, PermanentOutboundError } from "../lib/errors.ts";

import { jobType } from "../queue/service.ts";
import { onceFor, type SlackApi } from "../slack/api.ts";
import { snapshot, systemActor, userActor, type LifecycleBus } from "../events/lifecycle.ts";
import type { Clock } from "../core/clock.ts";
import type { HeaderIncident } from "../core/module.ts";
import { incidentChannelName } from "../slack/channel-name.ts";
import { announceJob, enqueueSync, scheduleReminder, severityPriority } from "./lifecycle-jobs.ts";
import { type IncidentDetail, type IncidentSummary } from "./models.ts";
import {
  claimIdempotencyKey,
  createIncident,
  ensureParticipant,
  ensureParticipants,
  getIncident,
  getIncidentByNumber,
  getIncidentDetail,
  recordIdempotentResult,
  setHeaderMessage,
  setIncidentChannel,
} from "./service.ts";
import { incidentHeader } from "./views.ts";

/**
 * Declaring an incident and setting up its channel. The incident and the
 * first job commit in one transaction; each job records its result and
 * enqueues the next steps in one transaction too. A crash or a 429 at any
 * point leaves a pending job, never a lost step:
 *
 *   declare ─▶ create_channel ─▶ invite (declarer, service owners, severity notify list)
 *                             ├▶ post_header ─▶ pin_header
 *                             │             └▶ sync_status (header, topic, bookmark)
 *                             └▶ announce (announcement channel of the severity)
 *           └▶ reminder (status update due after the severity's interval)
 */

const incidentPayload = z.object({ incidentId: z.uuid() });
const invitePayload = z.object({
  incidentId: z.uuid(),
  users: z.array(z.string().regex(/^[UWS][A-Z0-9]+$/)).min(1),
  /** Who asked (`/incident invite`); absent for the automatic invites. */
  actorId: z.string().optional(),
});

export const createChannelJob = jobType("incident.create_channel", incidentPayload);
export const inviteJob = jobType("incident.invite", invitePayload);
export const postHeaderJob = jobType("incident.post_header", incidentPayload);
export const pinHeaderJob = jobType("incident.pin_header", incidentPayload);

export { severityPriority };

export interface DeclareInput {
  title: string;
  severity: Severity;
  private: boolean;
  source: IncidentSource;
  declaredById: string | null;
  description?: string | null;
  services?: string[];
  /** Slack's trigger_id or view id: a repeated request declares nothing new. */
  idempotencyKey?: string;
}

export interface IncidentFlowDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "createChannel" | "findChannelByName" | "inviteToChannel" | "postMessage" | "pinMessage" | "usergroupMembers">;
  metrics: Pick<Metrics, "incidentsDeclared">;
  config: Pick<FileConfig, "severities" | "services">;
  /** Wakes the job worker after a commit that enqueued jobs. */
  wakeJobs(): void;
  /** Subscribers hear of the declaration inside its transaction. */
  bus: Pick<LifecycleBus, "publish">;
  clock: Clock;
  /** The bot's own Slack user id (from auth.test). */
  botUserId(): string | undefined;
  channelPrefix: string;
  /** conversations.create is paced to this many a minute (Slack's Tier 2 is about 20). */
  channelsPerMinute: number;
  /** Blocks other capabilities add to the header (see Core.headerBlocks). */
  headerBlocks: (incident: HeaderIncident) => readonly unknown[];
}

/** All channel creations share one rate key: one at a time, paced, most severe first. */
export const CREATE_CHANNEL_RATE_KEY = "conversations.create";

export interface DeclareResult {
  incident: IncidentSummary;
  plannedChannel: string;
  /** False when the same request was seen before (retry, double submit). */
  created: boolean;
}

const MAX_NAME_ATTEMPTS = 20;
const INVITE_BATCH = 100; // conversations.invite takes up to 1000 ids; stay well below.

export function createIncidentFlows(deps: IncidentFlowDeps) {
  /** Who joins a new incident's channel: declarer, owners of affected services, the severity's notify list. */
  function initialResponders(input: { declaredById: string | null; severity: Severity; services: readonly string[] }): string[] {
    const owners = deps.config.services.filter((service) => input.services.includes(service.key)).flatMap((service) => service.owners);
    return [...new Set([...(input.declaredById ? [input.declaredById] : []), ...owners, ...deps.config.severities[input.severity].notify])];
  }

  async function declare(input: DeclareInput): Promise<DeclareResult> {
    const result = await deps.prisma.$transaction(async (tx) => declareWithin(tx, input));
    if (result.created) {
      deps.metrics.incidentsDeclared.inc({ severity: result.incident.severity, source: input.source });
      deps.wakeJobs();
    }
    return {
      ...result,
      plannedChannel: result.incident.channelName ?? incidentChannelName(result.incident.number, result.incident.title, 1, deps.channelPrefix),
    };
  }

  /**
   * Declares inside the caller's transaction (the alert pipeline links alert
   * groups in the same commit). After commit the caller wakes the job worker
   * and counts the incident (`firebreak_incidents_declared_total`).
   */
  async function declareWithin(tx: Db, input: DeclareInput & { startedAt?: Date | null }): Promise<{ incident: IncidentSummary; created: boolean }> {
    {
      if (input.idempotencyKey) {
        const claim = await claimIdempotencyKey(tx, input.idempotencyKey);
        if (!claim.fresh) {
          const number = (claim.result as { incidentNumber?: number } | null)?.incidentNumber;
          const existing = number === undefined ? null : await getIncidentByNumber(tx, number);
          if (existing) return { incident: existing, created: false };
        }
      }
      const declaredAt = deps.clock.now();
      const created = await createIncident(tx, {
        title: input.title,
        severity: input.severity,
        private: input.private,
        source: input.source,
        declaredById: input.declaredById,
        // Whoever declares from Slack leads, and is on it, until someone takes command.
        commanderId: input.declaredById,
        acknowledgedAt: input.declaredById ? declaredAt : null,
        declaredAt,
        description: input.description ?? null,
        services: input.services ?? [],
      });
      await INCIDENT_EVENTS["incident.declared"].record(tx, {
        incidentId: created.id,
        source: input.source === "ALERT" ? "ALERTMANAGER" : input.source,
        actorId: input.declaredById,
        data: { title: created.title, severity: created.severity, private: created.private, number: created.number },
        private: created.private,
      });
      await createChannelJob.enqueue(tx, { incidentId: created.id }, {
        dedupeKey: `create_channel:${created.id}`,
        rateKey: CREATE_CHANNEL_RATE_KEY,
        priority: severityPriority(created.severity),
        incidentId: created.id,
      });
      await scheduleReminder(tx, deps.config, created, created.declaredAt);
      const actor = input.declaredById ? userActor(input.declaredById) : systemActor(input.source === "ALERT" ? "ALERTMANAGER" : input.source === "API" ? "API" : "SYSTEM");
      await deps.bus.publish(tx, { type: "incident.declared", incident: snapshot(created), actor, alertDeclared: input.source === "ALERT" });
      if (input.idempotencyKey) await recordIdempotentResult(tx, input.idempotencyKey, { incidentNumber: created.number });
      if (input.startedAt) await tx.incident.update({ where: { id: created.id }, data: { startedAt: input.startedAt } });
      return { incident: created, created: true };
    }
  }

  async function enqueueInvites(tx: Db, incident: { id: string; severity: Severity; channelId: string | null }, users: string[], key: string, actorId?: string) {
    if (!incident.channelId || users.length === 0) return;
    for (let i = 0; i < users.length; i += INVITE_BATCH) {
      await inviteJob.enqueue(tx, { incidentId: incident.id, users: users.slice(i, i + INVITE_BATCH), ...(actorId ? { actorId } : {}) }, {
        dedupeKey: `invite:${incident.id}:${key}:${i}`,
        rateKey: `conversations.invite:${incident.channelId}`,
        priority: severityPriority(incident.severity),
        incidentId: incident.id,
      });
    }
  }

  /** The channel is made: record it, pace the next creation, enqueue the channel's set-up (create_channel's completion). */
  async function recordChannel(tx: Db, incident: IncidentSummary, created: { id: string; name: string }): Promise<void> {
    const priority = severityPriority(incident.severity);
    // Pace the next creation (Tier 2): the queue skips jobs whose rate key is held.
    const until = new Date(Date.now() + Math.ceil(60_000 / deps.channelsPerMinute));
    await tx.rateLimitHold.upsert({ where: { key: CREATE_CHANNEL_RATE_KEY }, create: { key: CREATE_CHANNEL_RATE_KEY, until }, update: { until } });
    await setIncidentChannel(tx, incident.id, created);
    await INCIDENT_EVENTS["channel.created"].record(tx, {
      incidentId: incident.id,
      source: "SYSTEM",
      data: { channelId: created.id, channelName: created.name },
      private: incident.private,
    });
    const bot = deps.botUserId();
    const users = initialResponders({ declaredById: incident.declaredById, severity: incident.severity, services: incident.services ?? [] }).filter((user) => user !== bot);
    await enqueueInvites(tx, { ...incident, channelId: created.id }, users, "declared");
    await postHeaderJob.enqueue(tx, { incidentId: incident.id }, {
      dedupeKey: `post_header:${incident.id}`,
      rateKey: `chat.postMessage:${created.id}`,
      priority,
      incidentId: incident.id,
    });
    await announceJob.enqueue(tx, { incidentId: incident.id }, { dedupeKey: `announce:${incident.id}`, rateKey: "announcement", priority, incidentId: incident.id });
  }

  /** The header is posted: record it, enqueue its pin and the topic and bookmark (post_header's completion). */
  async function recordHeader(tx: Db, incident: IncidentDetail, channelId: string, ts: string): Promise<void> {
    await setHeaderMessage(tx, incident.id, ts);
    const options = { incidentId: incident.id, priority: severityPriority(incident.severity) };
    await pinHeaderJob.enqueue(tx, { incidentId: incident.id }, { ...options, dedupeKey: `pin_header:${incident.id}`, rateKey: `pins.add:${channelId}` });
    // The header was just posted as it is: only the topic and bookmark need setting.
    await enqueueSync(tx, incident, false);
  }

  /**
   * The declare and its channel's set-up, as far as the database sees them, inside the caller's
   * transaction: the declare's rows and subscribers, then what create_channel, the invites and
   * post_header record. For the start-up rehearsal (src/core/rehearsal.ts), whose transaction
   * always rolls back: the first real incident after a start finds Prisma's query plans made and
   * this code run once (a cold declare took about a second of CPU, see README "Declare latency").
   */
  async function rehearse(tx: Db): Promise<string> {
    const user = "U0REHEARSAL";
    const { incident } = await declareWithin(tx, {
      title: "Start-up rehearsal",
      severity: "SEV2",
      private: false,
      source: "SLACK",
      declaredById: user,
      idempotencyKey: `rehearsal:${randomUUID()}`,
    });
    const summary = await getIncident(tx, incident.id);
    if (!summary) throw new FirebreakError("incident_not_found", "the rehearsal's incident is not there");
    const channel = { id: "C0REHEARSAL", name: incidentChannelName(summary.number, summary.title, 1, deps.channelPrefix) };
    await recordChannel(tx, summary, channel);
    await ensureParticipant(tx, incident.id, user);
    await INCIDENT_EVENTS["participant.invited"].record(tx, { incidentId: incident.id, source: "SYSTEM", actorId: null, data: { users: [user] }, private: false });
    const detail = await getIncidentDetail(tx, incident.id);
    if (!detail) throw new FirebreakError("incident_not_found", "the rehearsal's incident is not there");
    await recordHeader(tx, detail, channel.id, "1.000001");
    return incident.id;
  }

  async function requireIncident(id: string): Promise<IncidentSummary> {
    const incident = await getIncident(deps.prisma, id);
    if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${id} does not exist`);
    return incident;
  }

  /**
   * Creates `inc-<n>-<slug>`; on name_taken tries `-2`, `-3`... A name taken by
   * a channel this bot created for this incident (a previous attempt that
   * crashed before recording it) is adopted rather than duplicated.
   */
  const createChannel = createChannelJob.handler({
    async handle({ incidentId }, context) {
      const incident = await requireIncident(incidentId);
      if (incident.channelId) return;
      let channel: { id: string; name: string } | undefined;
      for (let attempt = 1; attempt <= MAX_NAME_ATTEMPTS && !channel; attempt += 1) {
        const name = incidentChannelName(incident.number, incident.title, attempt, deps.channelPrefix);
        try {
          channel = await deps.slack.createChannel({ name, isPrivate: incident.private });
        } catch (error) {
          if (!(error instanceof PermanentOutboundError && error.remoteCode === "name_taken")) throw error;
          if (context.attempt > 1) {
            const existing = await deps.slack.findChannelByName(name);
            const ours = existing && existing.creator !== undefined && existing.creator === deps.botUserId();
            const recent = existing?.created !== undefined && existing.created * 1000 >= incident.declaredAt.getTime() - 60_000;
            if (existing && ours && recent) {
              context.logger.info({ channel: existing.id }, "adopting the channel created by an earlier attempt");
              channel = { id: existing.id, name: existing.name };
            }
          }
        }
      }
      if (!channel) throw new PermanentOutboundError("slack_api_error", "name_taken", `no free channel name after ${MAX_NAME_ATTEMPTS} attempts`);
      const created = channel;
      await context.complete((tx) => recordChannel(tx, incident, created));
      deps.wakeJobs();
    },
  });

  /** Invites users (user group ids are expanded to their members). */
  const invite = inviteJob.handler({
    async handle({ incidentId, users, actorId }, context) {
      const incident = await requireIncident(incidentId);
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`);
      const expanded = new Set<string>();
      for (const id of users) {
        if (id.startsWith("S")) for (const member of await deps.slack.usergroupMembers(id)) expanded.add(member);
        else expanded.add(id);
      }
      const bot = deps.botUserId();
      const people = [...expanded].filter((id) => id !== bot);
      const invited: string[] = [];
      const present: string[] = [];
      for (let i = 0; i < people.length; i += INVITE_BATCH) {
        const result = await deps.slack.inviteToChannel({ channel: incident.channelId, users: people.slice(i, i + INVITE_BATCH) });
        invited.push(...result.invited);
        present.push(...result.failed.filter((entry) => entry.error === "already_in_channel").map((entry) => entry.user));
        for (const entry of result.failed.filter((failure) => failure.error !== "already_in_channel")) {
          context.logger.warn({ user: entry.user, error: entry.error }, "could not invite a user to the incident channel");
        }
      }
      await context.complete(async (tx) => {
        await ensureParticipants(tx, incidentId, [...invited, ...present]);
        if (invited.length > 0) {
          await INCIDENT_EVENTS["participant.invited"].record(tx, {
            incidentId,
            source: actorId ? "SLACK" : "SYSTEM",
            actorId: actorId ?? null,
            data: { users: invited },
            private: incident.private,
          });
        }
      });
    },
  });

  const postHeader = postHeaderJob.handler({
    async handle({ incidentId }, context) {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${incidentId} does not exist`);
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`);
      if (incident.headerMessageTs) return;
      const message = incidentHeader(incident, deps.headerBlocks(incident));
      const posted = await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks, once: onceFor(context) });
      const channelId = incident.channelId;
      await context.complete((tx) => recordHeader(tx, incident, channelId, posted.ts));
      deps.wakeJobs();
    },
  });

  const pinHeader = pinHeaderJob.handler({
    async handle({ incidentId }) {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident?.channelId || !incident.headerMessageTs) throw new NotReadyError(`incident ${incidentId} has no header yet`);
      await deps.slack.pinMessage({ channel: incident.channelId, ts: incident.headerMessageTs });
    },
  });

  return {
    declare,
    declareWithin,
    rehearse,
    initialResponders,
    /** For `/incident invite` and severity changes: invites through the same durable job, once per request key. */
    enqueueInvites: (tx: Db, incident: { id: string; severity: Severity; channelId: string | null }, users: string[], requestKey: string, actorId?: string) =>
      enqueueInvites(tx, incident, users, requestKey, actorId),
    jobs: [createChannel, invite, postHeader, pinHeader] as const,
  };
}

export type IncidentFlows = ReturnType<typeof createIncidentFlows>;
