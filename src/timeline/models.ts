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
