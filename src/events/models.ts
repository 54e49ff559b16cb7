import type { EventSource } from "../generated/prisma/enums.ts";

export type { EventSource } from "../generated/prisma/enums.ts";

/**
 * Every timeline event type, with the shape of its `data`. Adding a type here
 * is how a capability records what it did; the timeline view and the
 * post-mortem read the same union.
 */
export interface TimelineEventData {
  "incident.declared": { title: string; severity: string; private: boolean };
  "channel.created": { channelId: string; channelName: string };
  "participant.invited": { users: string[] };
  "incident.acknowledged": { by: string };
  "status.changed": { from: string; to: string; message: string | null };
  "update.posted": { message: string; status: string };
  "severity.changed": { from: string; to: string };
  "commander.assigned": { from: string | null; to: string };
  "role.assigned": { role: string; from: string | null; to: string };
  "note.added": { text: string };
  "incident.resolved": { summary: string | null };
  "incident.reopened": { previousResolvedAt: string | null };
  "action.denied": { action: string; reason: string };
  "reminder.sent": { misses: number; escalated: boolean };
  "announcement.posted": { channelId: string; ts: string };
  "followup.added": { title: string };
  "alert.firing": { fingerprint: string; alertname: string; groupKey: string };
  "alert.resolved": { fingerprint: string; alertname: string; groupKey: string };
  /** A Slack message added to the timeline by a pin, a reaction or the message shortcut. */
  "message.captured": CapturedMessageData;
  /** An entry's text was edited (the entry keeps the new text; this event keeps both). */
  "timeline.entry_edited": { eventId: string; before: string; after: string };
  "timeline.entry_hidden": { eventId: string; hidden: boolean };
  /** A hand-written answer to a post-mortem prompt; the latest per section wins. */
  "postmortem.section_edited": { section: string; text: string };
}

export type CaptureVia = "pin" | "reaction" | "shortcut";

export type CapturedMessageData = {
  channelId: string;
  ts: string;
  threadTs: string | null;
  authorId: string | null;
  /** The message as it was when captured. */
  text: string;
  permalink: string | null;
  /** What currently keeps the entry on the timeline; empty once removed. */
  via: CaptureVia[];
  /** Why the entry was marked removed: the pin or reaction went away, or the message was deleted. */
  removedReason?: "unpinned" | "unreacted" | "deleted" | null;
  removedById?: string | null;
};

/** The idempotency key of a captured message on its incident's timeline. */
export function messageRef(channelId: string, ts: string): string {
  return `msg:${channelId}:${ts}`;
}

/** Slack's message ts ("1700000000.000100") as the time the message was posted. */
export function tsToDate(ts: string): Date {
  const seconds = Number(ts);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(Math.floor(seconds * 1_000)) : new Date();
}

export type TimelineEventType = keyof TimelineEventData;

export interface NewTimelineEvent<T extends TimelineEventType = TimelineEventType> {
  incidentId: string;
  type: T;
  source: EventSource;
  actorId?: string | null;
  text: string;
  data: TimelineEventData[T];
  occurredAt?: Date;
  private?: boolean;
  sourceRef?: string;
}
