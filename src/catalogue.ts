import { ALERT_EVENTS } from "./alert/events.ts";
import type { EventCatalogue } from "./events/catalogue.ts";
import { INCIDENT_EVENTS } from "./incident/events.ts";
import { POSTMORTEM_EVENTS } from "./postmortem/events.ts";
import { TIMELINE_EVENTS } from "./timeline/events.ts";

/**
 * Every timeline event type with its kind, gathered from the capabilities
 * that define them. Part of the composition root: the compiler refuses this
 * object when a type declared anywhere lacks its kind (a new capability adds
 * its share here, next to its module line in app.ts).
 */
export const EVENT_CATALOGUE: EventCatalogue = {
  ...INCIDENT_EVENTS,
  ...ALERT_EVENTS,
  ...TIMELINE_EVENTS,
  ...POSTMORTEM_EVENTS,
};
