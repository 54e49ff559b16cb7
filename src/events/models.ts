import type { EventSource } from "../generated/prisma/enums.ts";

export type { EventSource } from "../generated/prisma/enums.ts";

/**
 * Every timeline event type, with the shape of its `data`. Empty here: each
 * capability declares its own types in its events.ts (module augmentation),
 * next to their kinds (see catalogue.ts), so adding a type touches only the
 * capability that records it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TimelineEventData {}

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
