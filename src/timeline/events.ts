import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";

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

const capturedMessageSchema = z.object({
  channelId: z.string(),
  ts: z.string(),
  threadTs: z.string().nullable(),
  authorId: z.string().nullable(),
  text: z.string(),
  permalink: z.string().nullable(),
  via: z.array(z.enum(["pin", "reaction", "shortcut"])),
  removedReason: z.enum(["unpinned", "unreacted", "deleted"]).nullable().optional(),
  removedById: z.string().nullable().optional(),
});

/** The timeline capability's event types and their payloads. */
declare module "../events/models.ts" {
  interface TimelineEventData {
    /** A Slack message added to the timeline by a pin, a reaction or the message shortcut. */
    "message.captured": CapturedMessageData;
    /** An entry's text was edited (the entry keeps the new text; this event keeps both). */
    "timeline.entry_edited": { eventId: string; before: string; after: string };
    "timeline.entry_hidden": { eventId: string; hidden: boolean };
  }
}

/** The idempotency key of a captured message on its incident's timeline. */
export function messageRef(channelId: string, ts: string): string {
  return `msg:${channelId}:${ts}`;
}

/** Slack's message ts ("1700000000.000100") as the time the message was posted, or undefined when it is not one. */
export function tsToDate(ts: string): Date | undefined {
  const seconds = Number(ts);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(Math.floor(seconds * 1_000)) : undefined;
}

export const TIMELINE_EVENTS: EventKinds<"message.captured" | "timeline.entry_edited" | "timeline.entry_hidden"> = {
  // The text is the message as people wrote it (Slack's own text, which is what the entry quotes).
  "message.captured": eventKind("message.captured", {
    schema: capturedMessageSchema,
    text: (data) => data.text,
    postmortem: (data, context) => ({ label: data.authorId && !context.isPublic ? `Message from ${context.nameOf(data.authorId)}` : "Message from the incident channel", detail: data.text }),
    editable: "text",
    hideable: true,
  }),
  "timeline.entry_edited": eventKind("timeline.entry_edited", {
    schema: z.object({ eventId: z.string(), before: z.string(), after: z.string() }),
    text: (data) => `Timeline entry #${data.eventId} edited`,
    hideable: false,
  }),
  "timeline.entry_hidden": eventKind("timeline.entry_hidden", {
    schema: z.object({ eventId: z.string(), hidden: z.boolean() }),
    text: (data) => `Timeline entry #${data.eventId} ${data.hidden ? "hidden" : "shown again"}`,
    hideable: false,
  }),
};
