import type { Db } from "../db/client.ts";
import type { NewTimelineEvent, TimelineEventType } from "./models.ts";

/**
 * Appends an event. Call it with the transaction client of the state change
 * it records, so that the change and its event commit together.
 */
export async function recordEvent<T extends TimelineEventType>(tx: Db, event: NewTimelineEvent<T>): Promise<void> {
  await tx.timelineEvent.create({
    data: {
      incidentId: event.incidentId,
      type: event.type,
      source: event.source,
      actorId: event.actorId ?? null,
      text: event.text,
      data: event.data,
      private: event.private ?? false,
      ...(event.occurredAt ? { occurredAt: event.occurredAt } : {}),
      ...(event.sourceRef ? { sourceRef: event.sourceRef } : {}),
    },
  });
}

export async function listEvents(db: Db, incidentId: string) {
  return db.timelineEvent.findMany({ where: { incidentId }, orderBy: [{ occurredAt: "asc" }, { id: "asc" }] });
}
