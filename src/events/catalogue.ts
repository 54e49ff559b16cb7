import type { z } from "zod";
import type { Db } from "../db/client.ts";
import type { EventSource, NewTimelineEvent, TimelineEventData, TimelineEventType } from "./models.ts";
import { recordEvent } from "./store.ts";

/**
 * The typed event catalogue. Each timeline event type is defined once, by the
 * capability that records it (`eventKind(type, {...})` in its events.ts):
 * how it reads as stored text, in the channel notice and in the post-mortem,
 * and whether people may edit or hide it. The composition root assembles the
 * kinds into an `EventCatalogue`, which the compiler checks for completeness
 * (a type declared in `TimelineEventData` without its kind does not compile).
 * Readers (notices, the post-mortem, the timeline view) dispatch through it;
 * nothing is parsed back out of display text.
 */

/** What a notice needs to know besides the event. */
export interface NoticeContext {
  readonly incident: { number: number; severity: string; status: string; commanderId: string | null };
  readonly where: "channel" | "announcement";
  /** " by <@U…>" or "" (mrkdwn, escaped). */
  readonly by: string;
  /** "*INC-7* · " under the announcement, "" in the incident channel. */
  readonly prefix: string;
  /** The event's free text as an mrkdwn quote ("\n>…"), or "". */
  quote(text: string | null | undefined): string;
}

/** What the post-mortem needs to know besides the event. */
export interface PostmortemContext {
  /** Public audience: no names, no user ids. */
  readonly isPublic: boolean;
  /** A user's display name (only used when not public). */
  nameOf(userId: string): string;
  readonly actorId: string | null;
  /** The incident's current severity. */
  readonly severity: string;
}

export interface PostmortemLine {
  label: string;
  /** Free text (raw, Slack-formatted), withheld when redacted. */
  detail: string | null;
  /** Shown in the diagram with this priority (0 first), or not at all. */
  diagram?: { priority: number; label: string };
}

export interface EventKind<K extends TimelineEventType> {
  readonly type: K;
  /** The payload's schema: checked when recorded, and when read back (a row that does not match is shown by its text). */
  readonly schema: z.ZodType<TimelineEventData[K]>;
  /** The one-line text stored with the event: plain, no Slack markup (a user is `@U…`). */
  text(data: TimelineEventData[K]): string;
  /** The message posted for it in the incident channel or the announcement thread (mrkdwn); undefined: none. */
  notice?(data: TimelineEventData[K], context: NoticeContext): string;
  /** Its line in the post-mortem's timeline; undefined: not on it (events about the record itself, e.g. corrections). */
  postmortem?(data: TimelineEventData[K], context: PostmortemContext): PostmortemLine;
  /** The payload field holding what a person wrote, when people may correct it. */
  readonly editable?: keyof TimelineEventData[K] & string;
  /** False for the audit trail of corrections, which is never hidden. */
  readonly hideable: boolean;
  /** Records one event of this kind in `tx`; its text comes from `text`. */
  record(tx: Db, event: Omit<NewTimelineEvent<K>, "type" | "text">): Promise<bigint>;
  /** The row to record with others (`recordEvents`). */
  row(event: Omit<NewTimelineEvent<K>, "type" | "text">): NewTimelineEvent<K>;
}

export type EventKindSpec<K extends TimelineEventType> = Omit<EventKind<K>, "type" | "record" | "row">;

export function eventKind<K extends TimelineEventType>(type: K, spec: EventKindSpec<K>): EventKind<K> {
  const row = (event: Omit<NewTimelineEvent<K>, "type" | "text">): NewTimelineEvent<K> => {
    const data = spec.schema.parse(event.data);
    return { ...event, data, type, text: spec.text(data) };
  };
  return { ...spec, type, row, record: (tx, event) => recordEvent(tx, row(event)) };
}

/** Every event type with its kind: completeness is checked by the compiler where it is assembled. */
export type EventCatalogue = { readonly [K in TimelineEventType]: EventKind<K> };

/** A capability's share of the catalogue. */
export type EventKinds<K extends TimelineEventType> = { readonly [T in K]: EventKind<T> };

/** A stored event, as readers get it (the payload is JSON from the database). */
export interface StoredEvent {
  type: string;
  text: string;
  data: unknown;
  actorId: string | null;
  source?: EventSource;
}

/**
 * The kind of a stored event, when its type is one this version knows (rows of
 * types added by a newer version, or retired ones, are shown by their text).
 * The payload is trusted as written by `record` (typed at the source).
 */
export function kindOf(catalogue: EventCatalogue, type: string): EventKind<TimelineEventType> | undefined {
  return Object.hasOwn(catalogue, type) ? (catalogue[type as TimelineEventType] as unknown as EventKind<TimelineEventType>) : undefined;
}

/**
 * A stored event's kind with its payload checked against the kind's schema;
 * undefined for a type this version does not know, or a payload that does not match.
 */
export function readEvent(catalogue: EventCatalogue, type: string, data: unknown): { kind: EventKind<TimelineEventType>; data: never } | undefined {
  const kind = kindOf(catalogue, type);
  const parsed = kind?.schema.safeParse(data);
  return kind && parsed?.success ? { kind, data: parsed.data as never } : undefined;
}

/** Whether people may correct the entry's text, and which payload field holds it. */
export function editableField(catalogue: EventCatalogue, type: string): string | undefined {
  return kindOf(catalogue, type)?.editable;
}

export function isHideable(catalogue: EventCatalogue, type: string): boolean {
  return kindOf(catalogue, type)?.hideable ?? true;
}

/** The stored text of an event, from its kind. */
export function textOf<K extends TimelineEventType>(kinds: EventKinds<K>, type: K, data: TimelineEventData[K]): string {
  return (kinds[type] as EventKind<K>).text(data);
}
