import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";
import { PROMPTS } from "./prompts.ts";

/** The post-mortem capability's event types and their payloads. */
declare module "../events/models.ts" {
  interface TimelineEventData {
    /** Owner, due date and priority are absent in rows written before they were recorded. */
    "followup.added": { title: string; ownerId?: string | null; dueDate?: string | null; priority?: string | null };
    /** A hand-written answer to a post-mortem prompt; the latest per section wins. */
    "postmortem.section_edited": { section: string; text: string };
  }
}

export const POSTMORTEM_EVENTS: EventKinds<"followup.added" | "postmortem.section_edited"> = {
  "followup.added": eventKind("followup.added", {
    schema: z.object({ title: z.string(), ownerId: z.string().nullable().optional(), dueDate: z.string().nullable().optional(), priority: z.string().nullable().optional() }),
    text: (data) => {
      const extras = [data.ownerId ? `owner @${data.ownerId}` : "", data.dueDate ? `due ${data.dueDate}` : "", data.priority ? `${data.priority.toLowerCase()} priority` : ""].filter(Boolean);
      return `Follow-up: ${data.title}${extras.length > 0 ? ` (${extras.join(", ")})` : ""}`;
    },
    // Same text as the action item, so the blameless review reads it once.
    postmortem: (data) => ({ label: "Follow-up recorded", detail: data.title }),
    editable: "title",
    hideable: true,
  }),
  // About the draft itself, not the incident: not on the post-mortem's timeline.
  "postmortem.section_edited": eventKind("postmortem.section_edited", {
    schema: z.object({ section: z.string(), text: z.string() }),
    text: (data) => `Post-mortem section "${PROMPTS.find((prompt) => prompt.id === data.section)?.title ?? data.section}" edited`,
    hideable: true,
  }),
};
