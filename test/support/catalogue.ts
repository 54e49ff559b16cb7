import { ALERT_EVENTS } from "../../src/alert/events.ts";
import type { EventCatalogue } from "../../src/events/catalogue.ts";
import { INCIDENT_EVENTS } from "../../src/incident/events.ts";
import { PAGING_EVENTS } from "../../src/paging/events.ts";
import { REMEDIATION_EVENTS } from "../../src/remediation/events.ts";
import { RECONCILE_EVENTS } from "../../src/reconcile/events.ts";
import { POSTMORTEM_EVENTS } from "../../src/postmortem/events.ts";
import { TIMELINE_EVENTS } from "../../src/timeline/events.ts";

/** The catalogue as the composition root assembles it from the modules, for pure view tests (and the post-mortem bench). */
export const EVENT_CATALOGUE: EventCatalogue = { ...INCIDENT_EVENTS, ...ALERT_EVENTS, ...TIMELINE_EVENTS, ...POSTMORTEM_EVENTS, ...PAGING_EVENTS, ...REMEDIATION_EVENTS, ...RECONCILE_EVENTS };
