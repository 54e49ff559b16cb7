import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";

/** Paging's timeline event type and its payload (declared here, not in src/events/). */
declare module "../events/models.ts" {
  interface TimelineEventData {
    "paging.paged": { service: string; dedupKey: string };
  }
}

export const PAGING_EVENTS: EventKinds<"paging.paged"> = {
  "paging.paged": eventKind("paging.paged", {
    schema: z.object({ service: z.string(), dedupKey: z.string() }),
    text: (data) => `Paged the on-call engineer of ${data.service}`,
    notice: (data, context) => `${context.prefix}:pager: Paged the on-call engineer of ${data.service}`,
    postmortem: (data) => ({ label: `On-call engineer of ${data.service} paged`, detail: null, diagram: { priority: 1, label: "Paged" } }),
    hideable: true,
  }),
};
