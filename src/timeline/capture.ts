import { z } from "zod";
import { TIMELINE_EVENTS } from "./events.ts";
import type { Clock } from "../core/clock.ts";
import type { Db, Prisma, PrismaClient } from "../db/client.ts";
import { NotReadyError, PermanentOutboundError } from "../lib/errors.ts";

import { jobType } from "../queue/service.ts";
import type { SlackApi, SlackMessage } from "../slack/api.ts";
import { ensureParticipant, getIncidentByChannel, lockIncident } from "../incident/service.ts";
import { ephemeralJob } from "../incident/lifecycle-jobs.ts";
import { incidentRef } from "../incident/models.ts";
import { messageRef, tsToDate, type CaptureVia, type CapturedMessageData } from "./events.ts";
import { captureConfirmation, notAnIncidentChannelModal } from "./views.ts";

/**
 * Human capture of the timeline: pinning a message in an incident channel,
 * reacting to it with the capture emoji, or the "Add to incident timeline"
 * message shortcut. Each adds ONE entry per message (author, original time,
 * text, permalink); a second way of capturing the same message only adds to
 * what keeps it there. Removing the pin or the reaction (when nothing else
 * keeps it) or deleting the message marks the entry removed; it is never
 * deleted.
 *
 * Slack events are acknowledged only once their change is durably queued
 * (see receiver.ts), and every change to one message's entry runs as a job
 * on the same rate key, so they apply one at a time in arrival order.
 */
const viaSchema = z.enum(["pin", "reaction", "shortcut"]);
const captureSchema = z.object({
  incidentId: z.uuid(),
  channelId: z.string().min(1),
  ts: z.string().min(1),
  via: viaSchema,
  actorId: z.string().min(1),
  /** Pins and shortcuts carry the message; reactions only name it. */
  message: z.object({ userId: z.string().nullable(), text: z.string(), threadTs: z.string().nullable() }).optional(),
});
const releaseSchema = z.object({
  incidentId: z.uuid(),
  channelId: z.string().min(1),
  ts: z.string().min(1),
  reason: z.enum(["unpinned", "unreacted", "deleted"]),
  actorId: z.string().nullable(),
});
const reviseSchema = z.object({
  incidentId: z.uuid(),
  channelId: z.string().min(1),
  ts: z.string().min(1),
  text: z.string(),
  editorId: z.string().nullable(),
});
type CapturePayload = z.infer<typeof captureSchema>;
type ReleasePayload = z.infer<typeof releaseSchema>;

export const captureJob = jobType("timeline.capture", captureSchema);
export const releaseJob = jobType("timeline.release", releaseSchema);
export const reviseJob = jobType("timeline.revise", reviseSchema);

const RELEASED_BY: Record<ReleasePayload["reason"], CaptureVia | undefined> = { unpinned: "pin", unreacted: "reaction", deleted: undefined };
/** The longest text kept for a captured message (Slack allows 40,000; the timeline wants the gist). */
export const CAPTURED_TEXT_MAX = 4_000;

export interface CaptureDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "readMessage" | "permalink" | "openView">;
  /** Reacting with this emoji captures a message (config: timeline.captureEmoji). */
  captureEmoji: string;
  /** Firebreak's own pins (the incident header) and reactions are not captures. */
  botUserId(): string;
  wakeJobs(): void;
  clock: Clock;
}

export interface MessageRefInput {
  channelId: string;
  ts: string;
  userId: string;
  /** Slack's event_id (or the shortcut's trigger id): a redelivered event changes nothing twice. */
  eventKey: string;
}

export interface ShortcutInput extends MessageRefInput {
  triggerId: string;
  message: { userId: string | null; text: string; threadTs: string | null };
}

export type CaptureResult = "queued" | "ignored";

function rateKey(channelId: string, ts: string): string {
  return `capture:${channelId}:${ts}`;
}

function asData(value: Prisma.JsonValue): CapturedMessageData | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const data = value as Partial<CapturedMessageData>;
  return typeof data.channelId === "string" && typeof data.ts === "string" && Array.isArray(data.via) ? (data as CapturedMessageData) : undefined;
}

export function createTimelineCapture(deps: CaptureDeps) {
  async function enqueue(channelId: string, build: (tx: Db, incident: { id: string; number: number }) => Promise<void>): Promise<CaptureResult> {
    const incident = await getIncidentByChannel(deps.prisma, channelId);
    if (!incident) return "ignored";
    await deps.prisma.$transaction(async (tx) => build(tx, incident));
    deps.wakeJobs();
    return "queued";
  }

  async function capture(input: MessageRefInput, via: CaptureVia, message?: CapturePayload["message"]): Promise<CaptureResult> {
    if (input.userId === deps.botUserId()) return "ignored";
    return enqueue(input.channelId, (tx, incident) =>
      captureJob.enqueue(
        tx,
        { incidentId: incident.id, channelId: input.channelId, ts: input.ts, via, actorId: input.userId, ...(message ? { message } : {}) },
        { incidentId: incident.id, rateKey: rateKey(input.channelId, input.ts), dedupeKey: `capture:${input.eventKey}` },
      ),
    );
  }

  async function release(input: Omit<MessageRefInput, "userId"> & { userId: string | null }, reason: ReleasePayload["reason"]): Promise<CaptureResult> {
    if (input.userId !== null && input.userId === deps.botUserId()) return "ignored";
    return enqueue(input.channelId, (tx, incident) =>
      releaseJob.enqueue(
        tx,
        { incidentId: incident.id, channelId: input.channelId, ts: input.ts, reason, actorId: input.userId },
        { incidentId: incident.id, rateKey: rateKey(input.channelId, input.ts), dedupeKey: `release:${input.eventKey}` },
      ),
    );
  }

  function isCaptureEmoji(reaction: string): boolean {
    // Skin-tone variants ("thumbsup::skin-tone-2") count as the base emoji.
    return reaction.split("::")[0] === deps.captureEmoji;
  }

  const captureHandler = captureJob.handler({
    async handle(payload, context) {
      let message: Pick<SlackMessage, "userId" | "text" | "threadTs"> | undefined = payload.message
        ? { userId: payload.message.userId ?? undefined, text: payload.message.text, threadTs: payload.message.threadTs ?? undefined }
        : undefined;
      message ??= await deps.slack.readMessage({ channel: payload.channelId, ts: payload.ts });
      if (!message) {
        context.logger.info({ channel: payload.channelId, ts: payload.ts, via: payload.via }, "message to capture no longer exists; nothing added to the timeline");
        return;
      }
      let permalink: string | null = null;
      try {
        permalink = await deps.slack.permalink({ channel: payload.channelId, ts: payload.ts });
      } catch (error) {
        // The entry is worth more than its link: keep it without one.
        if (!(error instanceof PermanentOutboundError)) throw error;
        context.logger.warn({ err: error, channel: payload.channelId, ts: payload.ts }, "no permalink for a captured message");
      }
      const captured = message;
      await context.complete(async (tx) => {
        const incident = await lockIncident(tx, payload.incidentId);
        if (payload.via === "shortcut") {
          // The person who used the shortcut hears back privately (a job: retried, never lost).
          const { text } = captureConfirmation(incidentRef(incident.number), permalink);
          await ephemeralJob.enqueue(tx, { channel: payload.channelId, user: payload.actorId, text }, { rateKey: `chat.postEphemeral:${payload.channelId}`, priority: 5, incidentId: incident.id });
        }
        const sourceRef = messageRef(payload.channelId, payload.ts);
        const existing = await tx.timelineEvent.findUnique({ where: { incidentId_sourceRef: { incidentId: incident.id, sourceRef } } });
        const current = existing ? asData(existing.data) : undefined;
        if (existing && current) {
          const via = current.via.includes(payload.via) ? current.via : [...current.via, payload.via];
          const data: CapturedMessageData = { ...current, via, removedReason: null, removedById: null };
          await tx.timelineEvent.update({ where: { id: existing.id }, data: { data: { ...data }, removedAt: null } });
          return;
        }
        const data: CapturedMessageData = {
          channelId: payload.channelId,
          ts: payload.ts,
          threadTs: captured.threadTs ?? null,
          authorId: captured.userId ?? null,
          text: captured.text.slice(0, CAPTURED_TEXT_MAX),
          permalink,
          via: [payload.via],
        };
        await TIMELINE_EVENTS["message.captured"].record(tx, {
          incidentId: incident.id,
          source: "SLACK",
          actorId: payload.actorId,
          data,
          occurredAt: tsToDate(payload.ts),
          private: incident.private,
          sourceRef,
        });
        await ensureParticipant(tx, incident.id, payload.actorId);
      });
    },
  });

  /**
   * The incident (locked) and the entry of a captured message, for a change
   * to it. None yet: if a capture of the message queued before this change
   * is still retrying, wait for it (NotReadyError, no attempt used) rather
   * than lose the order; otherwise there is nothing to change.
   */
  async function capturedEntry(tx: Db, payload: { incidentId: string; channelId: string; ts: string }, jobId: bigint, change: string) {
    const incident = await lockIncident(tx, payload.incidentId);
    const existing = await tx.timelineEvent.findUnique({
      where: { incidentId_sourceRef: { incidentId: incident.id, sourceRef: messageRef(payload.channelId, payload.ts) } },
    });
    const current = existing ? asData(existing.data) : undefined;
    if (existing && current) return { incident, existing, current };
    const earlier = await tx.job.count({
      where: { rateKey: rateKey(payload.channelId, payload.ts), kind: captureJob.kind, status: { in: ["PENDING", "RUNNING"] }, id: { lt: jobId } },
    });
    if (earlier > 0) throw new NotReadyError(`a capture of ${payload.ts} queued before this ${change} has not finished`);
    return undefined;
  }

  const releaseHandler = releaseJob.handler({
    async handle(payload, context) {
      await context.complete(async (tx) => {
        const found = await capturedEntry(tx, payload, context.id, "release");
        if (!found) return;
        const { existing, current } = found;
        const releasedVia = RELEASED_BY[payload.reason];
        const via = releasedVia ? current.via.filter((kept) => kept !== releasedVia) : [];
        if (via.length === current.via.length && releasedVia) return; // that way of capturing never applied
        const removed = via.length === 0;
        const data: CapturedMessageData = { ...current, via, ...(removed ? { removedReason: payload.reason, removedById: payload.actorId } : {}) };
        await tx.timelineEvent.update({
          where: { id: existing.id },
          data: { data: { ...data }, ...(removed && !existing.removedAt ? { removedAt: deps.clock.now() } : {}) },
        });
      });
    },
  });

  /** The author edited a captured message in Slack: the entry follows, and the edit is recorded with before and after. */
  const reviseHandler = reviseJob.handler({
    async handle(payload, context) {
      await context.complete(async (tx) => {
        const found = await capturedEntry(tx, payload, context.id, "edit");
        if (!found) return; // never captured: nothing to follow
        const { incident, existing, current } = found;
        const after = payload.text.slice(0, CAPTURED_TEXT_MAX);
        if (current.text === after) return;
        await tx.timelineEvent.update({ where: { id: existing.id }, data: { text: after, editedAt: deps.clock.now(), data: { ...current, text: after } } });
        await TIMELINE_EVENTS["timeline.entry_edited"].record(tx, {
          incidentId: incident.id,
          source: "SLACK",
          actorId: payload.editorId,
          data: { eventId: String(existing.id), before: current.text, after },
          private: true,
        });
      });
    },
  });

  return {
    jobs: [captureHandler, releaseHandler, reviseHandler] as const,
    captureEmoji: deps.captureEmoji,

    pinAdded(input: MessageRefInput, message?: CapturePayload["message"]): Promise<CaptureResult> {
      return capture(input, "pin", message);
    },
    pinRemoved(input: MessageRefInput): Promise<CaptureResult> {
      return release(input, "unpinned");
    },
    async reactionAdded(input: MessageRefInput & { reaction: string }): Promise<CaptureResult> {
      return isCaptureEmoji(input.reaction) ? capture(input, "reaction") : "ignored";
    },
    async reactionRemoved(input: MessageRefInput & { reaction: string }): Promise<CaptureResult> {
      return isCaptureEmoji(input.reaction) ? release(input, "unreacted") : "ignored";
    },
    messageDeleted(input: Omit<MessageRefInput, "userId">): Promise<CaptureResult> {
      return release({ ...input, userId: null }, "deleted");
    },
    /** A message edited in Slack; only captured ones change (the edit is queued behind any capture of it). */
    async messageChanged(input: Omit<MessageRefInput, "userId"> & { userId: string | null; text: string }): Promise<CaptureResult> {
      const incident = await getIncidentByChannel(deps.prisma, input.channelId);
      if (!incident) return "ignored";
      const ref = messageRef(input.channelId, input.ts);
      const [captured, pending] = await Promise.all([
        deps.prisma.timelineEvent.count({ where: { incidentId: incident.id, sourceRef: ref } }),
        deps.prisma.job.count({ where: { rateKey: rateKey(input.channelId, input.ts), status: { in: ["PENDING", "RUNNING"] } } }),
      ]);
      // Most edits in an incident channel are of messages nobody captured: no job for those.
      if (captured === 0 && pending === 0) return "ignored";
      return enqueue(input.channelId, (tx, found) =>
        reviseJob.enqueue(
          tx,
          { incidentId: found.id, channelId: input.channelId, ts: input.ts, text: input.text, editorId: input.userId },
          { incidentId: found.id, rateKey: rateKey(input.channelId, input.ts), dedupeKey: `revise:${input.eventKey}` },
        ),
      );
    },
    /** The "Add to incident timeline" message shortcut. Outside an incident channel it explains, in a modal. */
    async shortcut(input: ShortcutInput): Promise<CaptureResult> {
      const result = await capture(input, "shortcut", input.message);
      if (result === "ignored") await deps.slack.openView({ triggerId: input.triggerId, view: notAnIncidentChannelModal("Add to timeline") });
      return result;
    },
  };
}

export type TimelineCapture = ReturnType<typeof createTimelineCapture>;
