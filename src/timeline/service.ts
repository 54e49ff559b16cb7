import type { Db } from "../db/client.ts";
import type { NewTimelineEvent, TimelineEventType } from "./models.ts";

/**
 * Appends an event. Call it with the transaction client of the state change
 * it records, so that the change and its event commit together.
 */
export async function recordEvent<T extends TimelineEventType>(tx: Db, event: NewTimelineEvent<T>): Promise<bigint> {
  const created = await tx.timelineEvent.create({
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
    select: { id: true },
  });
  return created.id;
}

export async function listEvents(db: Db, incidentId: string, options: { limit?: number; includeHidden?: boolean } = {}) {
  const rows = await db.timelineEvent.findMany({
    where: { incidentId, ...(options.includeHidden ? {} : { hidden: false }) },
    orderBy: [{ occurredAt: "desc" }, { id: "desc" }],
    ...(options.limit ? { take: options.limit } : {}),
  });
  return rows.reverse();
}

export async function countEvents(db: Db, incidentId: string): Promise<number> {
  return db.timelineEvent.count({ where: { incidentId, hidden: false } });
}
