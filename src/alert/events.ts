import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";

/** The alert capability's event types and their payloads. */
declare module "../events/models.ts" {
  interface TimelineEventData {
    /** `again`: the alert had resolved and fires again (absent in rows written before it was recorded). */
    "alert.firing": { fingerprint: string; alertname: string; groupKey: string; again?: boolean };
    "alert.resolved": { fingerprint: string; alertname: string; groupKey: string };
  }
}

export const ALERT_EVENTS: EventKinds<"alert.firing" | "alert.resolved"> = {
  "alert.firing": eventKind("alert.firing", {
    schema: z.object({ fingerprint: z.string(), alertname: z.string(), groupKey: z.string(), again: z.boolean().optional() }),
    text: (data) => `${data.again ? "Firing again" : "Firing"}: ${data.alertname}`,
    postmortem: (data) => ({ label: `${data.again ? "Alert firing again" : "Alert firing"}: ${data.alertname || "alert"}`, detail: null }),
    hideable: true,
  }),
  "alert.resolved": eventKind("alert.resolved", {
    schema: z.object({ fingerprint: z.string(), alertname: z.string(), groupKey: z.string() }),
    text: (data) => `Resolved: ${data.alertname}`,
    postmortem: (data) => ({ label: `Alert resolved: ${data.alertname || "alert"}`, detail: null }),
    hideable: true,
  }),
};
