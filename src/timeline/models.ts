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
