import type { Db } from "../db/client.ts";
import type { NewTimelineEvent, TimelineEventType } from "./models.ts";

/** The row of a new event. */
function eventRow(event: NewTimelineEvent) {
  return {
    incidentId: event.incidentId,
    type: event.type,
    source: event.source,
    actorId: event.actorId ?? null,
    text: event.text,
    data: event.data,
    private: event.private ?? false,
    ...(event.occurredAt ? { occurredAt: event.occurredAt } : {}),
    ...(event.sourceRef ? { sourceRef: event.sourceRef } : {}),
  };
}

/**
 * Appends an event. Call it with the transaction client of the state change
 * it records, so that the change and its event commit together.
 */
export async function recordEvent<T extends TimelineEventType>(tx: Db, event: NewTimelineEvent<T>): Promise<bigint> {
  const created = await tx.timelineEvent.create({ data: eventRow(event), select: { id: true } });
  return created.id;
}

/**
 * Several events in one statement (alert processing records one per transition). Same rules as
 * `recordEvent`: a duplicate `sourceRef` of an incident fails the whole statement.
 */
export async function recordEvents(tx: Db, events: readonly NewTimelineEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.timelineEvent.createMany({ data: events.map(eventRow) });
}

/** The entries of one page of the timeline, oldest first; page 1 holds the newest `pageSize`. */
export async function pageOfEvents(db: Db, incidentId: string, options: { page: number; pageSize: number; includeHidden: boolean }) {
  const where = { incidentId, ...(options.includeHidden ? {} : { hidden: false }) };
  const total = await db.timelineEvent.count({ where });
  const rows = await db.timelineEvent.findMany({
    where,
    orderBy: [{ occurredAt: "desc" }, { id: "desc" }],
    skip: (options.page - 1) * options.pageSize,
    take: options.pageSize,
  });
  return { rows: rows.reverse(), total, pages: Math.max(1, Math.ceil(total / options.pageSize)) };
}
