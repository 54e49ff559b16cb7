import { z } from "zod";
import type { HeaderIncident } from "../core/module.ts";
import { INCIDENT_EVENTS } from "./events.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import type { FileConfig } from "../config/file.ts";
import type { Severity } from "../generated/prisma/enums.ts";
import { NotReadyError, PermanentOutboundError } from "../lib/errors.ts";

import { jobType } from "../queue/service.ts";
import { onceFor, type SlackApi } from "../slack/api.ts";
import type { EventCatalogue } from "../events/catalogue.ts";
import type { IncidentDetail } from "./models.ts";
import { getIncidentDetail, setAnnouncement, setBookmark } from "./service.ts";
import { announcementMessage, bookmarkTitle, channelTopic, incidentHeader, noticeRenderer, type NoticeEvent } from "./views.ts";

/**
 * The Slack side of a running incident, as jobs: keep the header, topic and
 * bookmark current, post notices in the channel and updates in the
 * announcement's thread, announce, reply ephemerally, and remind the channel
 * to post status updates. The lifecycle (lifecycle.ts) enqueues them in the
 * transaction of each change.
 */

const incidentPayload = z.object({ incidentId: z.uuid() });
const syncPayload = z.object({ incidentId: z.uuid(), header: z.boolean().default(true) });
const eventPayload = z.object({ incidentId: z.uuid(), eventId: z.string().regex(/^\d+$/) });
const ephemeralPayload = z.object({ channel: z.string().min(1), user: z.string().min(1), text: z.string().min(1).max(3000) });
const reminderPayload = z.object({
  incidentId: z.uuid(),
  /** The status update (or declaration) this reminder counts from. */
  basis: z.iso.datetime(),
  intervalMinutes: z.number().int().positive(),
  misses: z.number().int().min(0),
});

export const syncStatusJob = jobType("incident.sync_status", syncPayload);
export const postEventJob = jobType("incident.post_event", eventPayload);
export const threadUpdateJob = jobType("incident.thread_update", eventPayload);
export const announceJob = jobType("incident.announce", incidentPayload);
export const ephemeralJob = jobType("incident.ephemeral", ephemeralPayload);
export const reminderJob = jobType("incident.reminder", reminderPayload);

/** What the lifecycle's jobs use (the lifecycle's dependencies include these). */
export interface LifecycleJobDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "postMessage" | "postEphemeral" | "updateMessage" | "setTopic" | "permalink" | "addBookmark" | "editBookmark" | "displayName">;
  config: Pick<FileConfig, "severities">;
  wakeJobs(): void;
  /** How each event type reads in a notice. */
  /** Every event type's kind (read when handling). */
  events: () => EventCatalogue;
  /** Blocks other capabilities add to the header (see Core.headerBlocks). */
  headerBlocks: (incident: HeaderIncident) => readonly unknown[];
}

export function severityPriority(severity: Severity): number {
  return { SEV1: 10, SEV2: 20, SEV3: 30, SEV4: 40 }[severity];
}

export function jobOptions(incident: { id: string; severity: Severity }, rateKey: string, dedupeKey?: string) {
  return { incidentId: incident.id, priority: severityPriority(incident.severity), rateKey, ...(dedupeKey ? { dedupeKey } : {}) };
}

/** Schedules the next "post a status update" reminder (old ones notice they are stale and stop). */
export async function scheduleReminder(tx: Db, config: Pick<FileConfig, "severities">, incident: { id: string; severity: Severity }, basis: Date, misses = 0): Promise<void> {
  const intervalMinutes = config.severities[incident.severity].updateIntervalMinutes;
  const runAt = new Date(basis.getTime() + intervalMinutes * 60_000 * (misses + 1));
  await reminderJob.enqueue(
    tx,
    { incidentId: incident.id, basis: basis.toISOString(), intervalMinutes, misses },
    { ...jobOptions(incident, `reminder:${incident.id}`, `reminder:${incident.id}:${basis.toISOString()}:${intervalMinutes}:${misses}`), runAt },
  );
}

export async function enqueueSync(tx: Db, incident: { id: string; severity: Severity; channelId: string | null }, header = true): Promise<void> {
  if (!incident.channelId) return; // the channel set-up syncs once it exists
  await syncStatusJob.enqueue(tx, { incidentId: incident.id, header }, jobOptions(incident, `sync:${incident.channelId}`));
}

/**
 * For the start-up rehearsal (see IncidentFlows.rehearse): what the channel's follow-up jobs
 * (topic and bookmark, announcement) record and render for a new incident, inside the
 * rehearsal's transaction; their Slack calls are not made.
 */
export async function rehearseFollowUps(deps: Pick<LifecycleJobDeps, "config" | "headerBlocks">, tx: Db, incidentId: string): Promise<void> {
  const incident = await getIncidentDetail(tx, incidentId);
  if (!incident?.channelId) throw new PermanentOutboundError("incident_not_found", "incident_not_found", "the rehearsal's incident has no channel");
  incidentHeader(incident, deps.headerBlocks(incident));
  channelTopic(incident, "Rehearsal");
  bookmarkTitle(incident);
  announcementMessage(incident, `<#${incident.channelId}>`);
  await setBookmark(tx, incidentId, "Bk0REHEARSAL");
  await setAnnouncement(tx, incidentId, incident.channelId, "1.000002");
  await INCIDENT_EVENTS["announcement.posted"].record(tx, { incidentId, source: "SYSTEM", data: { channelId: incident.channelId, ts: "1.000002" } });
}

export function createLifecycleJobs(deps: LifecycleJobDeps, now: () => Date) {
  const eventNotice = (...args: Parameters<ReturnType<typeof noticeRenderer>>) => noticeRenderer(deps.events())(...args);
  async function requireDetail(id: string): Promise<IncidentDetail> {
    const incident = await getIncidentDetail(deps.prisma, id);
    if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${id} does not exist`);
    return incident;
  }

  async function loadEvent(incidentId: string, eventId: string): Promise<NoticeEvent> {
    const event = await deps.prisma.timelineEvent.findFirst({ where: { id: BigInt(eventId), incidentId } });
    if (!event) throw new PermanentOutboundError("incident_not_found", "event_not_found", `event ${eventId} does not exist`);
    return { type: event.type, actorId: event.actorId, data: event.data, occurredAt: event.occurredAt };
  }

  const syncStatus = syncStatusJob.handler({
    async handle({ incidentId, header }, context) {
      const incident = await requireDetail(incidentId);
      const channel = incident.channelId;
      if (!channel) return;
      if (header && incident.headerMessageTs) {
        const header = incidentHeader(incident, deps.headerBlocks(incident));
        await deps.slack.updateMessage({ channel, ts: incident.headerMessageTs, text: header.text, blocks: header.blocks });
      }
      const commanderName = incident.commanderId ? await deps.slack.displayName(incident.commanderId) : undefined;
      await deps.slack.setTopic({ channel, topic: channelTopic(incident, commanderName) });
      if (incident.headerMessageTs) {
        const link = await deps.slack.permalink({ channel, ts: incident.headerMessageTs });
        const title = bookmarkTitle(incident);
        if (incident.bookmarkId) {
          await deps.slack.editBookmark({ channel, bookmarkId: incident.bookmarkId, title, link, emoji: ":rotating_light:" });
        } else {
          const bookmark = await deps.slack.addBookmark({ channel, title, link, emoji: ":rotating_light:" });
          await context.complete(async (tx) => setBookmark(tx, incidentId, bookmark.id));
        }
      }
    },
  });

  const postEvent = postEventJob.handler({
    async handle({ incidentId, eventId }, context) {
      const incident = await requireDetail(incidentId);
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`);
      const message = eventNotice(await loadEvent(incidentId, eventId), incident, "channel");
      await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks, once: onceFor(context) });
    },
  });

  const threadUpdate = threadUpdateJob.handler({
    async handle({ incidentId, eventId }, context) {
      const incident = await requireDetail(incidentId);
      if (incident.private) return;
      const target = deps.config.severities[incident.severity].announcementChannel ?? incident.announcementChannelId;
      if (!target && !incident.announcementChannelId) return; // nowhere to announce
      // The announcement is posted by its own job; wait for it (retried with backoff).
      if (!incident.announcementTs || !incident.announcementChannelId) throw new NotReadyError(`incident ${incidentId} is not announced yet`);
      const message = eventNotice(await loadEvent(incidentId, eventId), incident, "announcement");
      await deps.slack.postMessage({ channel: incident.announcementChannelId, threadTs: incident.announcementTs, text: message.text, blocks: message.blocks, once: onceFor(context) });
    },
  });

  const announce = announceJob.handler({
    async handle({ incidentId }, context) {
      const incident = await requireDetail(incidentId);
      if (incident.announcementTs) return;
      const channel = deps.config.severities[incident.severity].announcementChannel;
      if (!channel) return;
      const link = incident.channelId && !incident.private ? `<#${incident.channelId}>` : undefined;
      const message = announcementMessage(incident, link);
      const posted = await deps.slack.postMessage({ channel, text: message.text, blocks: message.blocks, once: onceFor(context) });
      await context.complete(async (tx) => {
        await setAnnouncement(tx, incidentId, posted.channel, posted.ts);
        await INCIDENT_EVENTS["announcement.posted"].record(tx, {
          incidentId,
          source: "SYSTEM",
          data: { channelId: posted.channel, ts: posted.ts },
        });
      });
    },
  });

  const ephemeral = ephemeralJob.handler({
    maxAttempts: 3,
    async handle({ channel, user, text }) {
      await deps.slack.postEphemeral({ channel, user, text });
    },
  });

  const reminder = reminderJob.handler({
    async handle({ incidentId, basis, intervalMinutes, misses }, context) {
      const incident = await requireDetail(incidentId);
      if (incident.status === "RESOLVED" || !incident.channelId) return;
      const lastUpdate = incident.lastStatusUpdateAt ?? incident.declaredAt;
      const current = deps.config.severities[incident.severity].updateIntervalMinutes;
      // A newer update (or a severity change) scheduled a fresher reminder.
      if (lastUpdate.getTime() > new Date(basis).getTime() + 1 || current !== intervalMinutes) return;
      const missed = misses + 1;
      const escalate = missed >= 2;
      const channelId = incident.channelId;
      await context.complete(async (tx) => {
        const eventId = await INCIDENT_EVENTS["reminder.sent"].record(tx, {
          incidentId,
          source: "SYSTEM",
          data: { misses: missed, escalated: escalate },
          private: incident.private,
        });
        const options = { incidentId, priority: severityPriority(incident.severity) };
        await postEventJob.enqueue(tx, { incidentId, eventId: String(eventId) }, { ...options, rateKey: `chat.postMessage:${channelId}`, dedupeKey: `nudge:${incidentId}:${basis}:${missed}` });
        if (escalate && !incident.private && incident.announcementTs) {
          await threadUpdateJob.enqueue(tx, { incidentId, eventId: String(eventId) }, { ...options, rateKey: "announcement", dedupeKey: `escalate:${incidentId}:${basis}:${missed}` });
        }
        await scheduleReminder(tx, deps.config, incident, new Date(basis), missed);
      });
      context.logger.info({ incidentId, missed, at: now().toISOString() }, "status update reminder sent");
      deps.wakeJobs();
    },
  });

  return [syncStatus, postEvent, threadUpdate, announce, ephemeral, reminder] as const;
}
