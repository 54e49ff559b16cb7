import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";

/** The status page's timeline event type and its payload (declared here, not in src/events/). */
declare module "../events/models.ts" {
  interface TimelineEventData {
    "statuspage.posted": { service: string; dedupKey: string };
  }
}

export const STATUSPAGE_EVENTS: EventKinds<"statuspage.posted"> = {
  "statuspage.posted": eventKind("statuspage.posted", {
    schema: z.object({ service: z.string(), dedupKey: z.string() }),
    text: (data) => `Posted an incident on the status page of ${data.service}`,
    notice: (data, context) => `${context.prefix}:satellite: Posted an incident on the status page of ${data.service}`,
    postmortem: (data) => ({ label: `Status page of ${data.service} updated`, detail: null, diagram: { priority: 1, label: "Status page" } }),
    hideable: true,
  }),
};
