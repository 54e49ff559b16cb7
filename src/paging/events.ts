import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";
import { escapeMrkdwn } from "../slack/text.ts";

/**
 * The paging capability's event types. Names and emails come from PagerDuty
 * (outside text): stored as given, escaped in every notice. No routing key,
 * token or webhook secret is ever part of an event.
 */
type Target = { target: string; targetKind: "service" | "user" };

declare module "../events/models.ts" {
  interface TimelineEventData {
    /** PagerDuty accepted the page (a trigger, or an incident assigned to a person). */
    "page.triggered": Target & { again: boolean; message: string | null; attempts: number };
    /** The page has not gone out after PAGERDUTY_DELAY_WARNING_SECONDS; Firebreak keeps retrying. */
    "page.delayed": Target & { reason: string };
    /** PagerDuty refused the page for good (a wrong key, an unknown user). */
    "page.failed": Target & { reason: string };
    "page.resolved": Target;
    /** The on-call engineer was found; `role`: what they became. */
    "oncall.assigned": { service: string; policy: string; userId: string; name: string; role: "commander" | "responder" };
    /** Someone must be paged by hand: who, when it is known, and why. */
    "oncall.unavailable": { service: string; policy: string; reason: string; person: string | null };
    /** A PagerDuty v3 webhook about a page of this incident. */
    "pagerduty.incident": {
      event: "acknowledged" | "resolved" | "escalated" | "reassigned";
      pagerdutyIncidentId: string;
      target: string;
      /** Who did it in PagerDuty (name), or null for PagerDuty itself. */
      agent: string | null;
      /** The Slack user of the agent, when found by email. */
      agentUserId: string | null;
      /** Escalated or reassigned to. */
      assignees: string[];
    };
  }
}

const target = { target: z.string(), targetKind: z.enum(["service", "user"]) };

/** Stored text: a person is `@U…`, a service its name. */
const label = (data: Target) => (data.targetKind === "user" ? `@${data.target}` : data.target);
/** In a notice: a person is mentioned, a service's name is bold (and escaped). */
const shown = (data: Target) => (data.targetKind === "user" ? `<@${data.target}>` : `*${escapeMrkdwn(data.target)}*`);
const person = (data: { agent: string | null; agentUserId: string | null }) => (data.agentUserId ? `<@${data.agentUserId}>` : data.agent ? escapeMrkdwn(data.agent) : "PagerDuty");

const PAGERDUTY_VERBS = { acknowledged: "acknowledged", resolved: "resolved", escalated: "escalated", reassigned: "reassigned" } as const;

export type PagingEventType = "page.triggered" | "page.delayed" | "page.failed" | "page.resolved" | "oncall.assigned" | "oncall.unavailable" | "pagerduty.incident";

export const PAGING_EVENTS: EventKinds<PagingEventType> = {
  "page.triggered": eventKind("page.triggered", {
    schema: z.object({ ...target, again: z.boolean(), message: z.string().nullable(), attempts: z.number().int() }),
    text: (data) => `${data.again ? "Paged again" : "Paged"} ${label(data)} through PagerDuty${data.message ? `: ${data.message}` : ""}`,
    notice: (data, context) =>
      `:pager: ${data.again ? "Paged again" : "Paged"} ${shown(data)} through PagerDuty${context.by}${data.attempts > 1 ? ` (accepted after ${data.attempts} attempts)` : ""}.${context.quote(data.message)}`,
    postmortem: (data) => ({ label: `${data.again ? "Paged again" : "Paged"}: ${data.targetKind === "user" ? "a responder" : data.target}`, detail: null, diagram: { priority: 2, label: "Paged" } }),
    hideable: true,
  }),
  "page.delayed": eventKind("page.delayed", {
    schema: z.object({ ...target, reason: z.string() }),
    text: (data) => `The page to ${label(data)} has not gone out yet: ${data.reason}`,
    notice: (data) =>
      `:warning: The page to ${shown(data)} has not gone out yet: ${escapeMrkdwn(data.reason)}. Firebreak keeps trying; if this cannot wait, page them by hand in PagerDuty.`,
    postmortem: (data) => ({ label: `Page delayed: ${data.targetKind === "user" ? "a responder" : data.target}`, detail: data.reason }),
    hideable: true,
  }),
  "page.failed": eventKind("page.failed", {
    schema: z.object({ ...target, reason: z.string() }),
    text: (data) => `Could not page ${label(data)}: ${data.reason}`,
    notice: (data) => `:x: Could not page ${shown(data)}: ${escapeMrkdwn(data.reason)}. Page them by hand in PagerDuty.`,
    postmortem: (data) => ({ label: `Page failed: ${data.targetKind === "user" ? "a responder" : data.target}`, detail: data.reason }),
    hideable: true,
  }),
  "page.resolved": eventKind("page.resolved", {
    schema: z.object(target),
    text: (data) => `Resolved the PagerDuty page to ${label(data)}`,
    hideable: true,
  }),
  "oncall.assigned": eventKind("oncall.assigned", {
    schema: z.object({ service: z.string(), policy: z.string(), userId: z.string(), name: z.string(), role: z.enum(["commander", "responder"]) }),
    text: (data) => `@${data.userId} (${data.name}) is on call for ${data.service} (${data.policy})${data.role === "commander" ? " and leads the incident" : " and was invited"}`,
    notice: (data) =>
      `:pager: <@${data.userId}> is on call for *${escapeMrkdwn(data.service)}* (${escapeMrkdwn(data.policy)})${data.role === "commander" ? " and is now the incident commander." : " and has been invited."}`,
    postmortem: (data, context) => ({ label: context.isPublic ? `On-call engineer for ${data.service} joined` : `${context.nameOf(data.userId)} (on call for ${data.service}) joined${data.role === "commander" ? " as commander" : ""}`, detail: null }),
    hideable: true,
  }),
  "oncall.unavailable": eventKind("oncall.unavailable", {
    schema: z.object({ service: z.string(), policy: z.string(), reason: z.string(), person: z.string().nullable() }),
    text: (data) => `Could not bring in the on-call engineer for ${data.service}: ${data.reason}`,
    notice: (data) =>
      `:warning: Could not bring in the on-call engineer for *${escapeMrkdwn(data.service)}* (${escapeMrkdwn(data.policy)}): ${escapeMrkdwn(data.reason)}. ${data.person ? `Reach *${escapeMrkdwn(data.person)}* by hand` : `Check who is on call in PagerDuty and page them by hand`}, then \`/incident commander @someone\`.`,
    postmortem: (data) => ({ label: `On-call engineer for ${data.service} not reached automatically`, detail: data.reason }),
    hideable: true,
  }),
  "pagerduty.incident": eventKind("pagerduty.incident", {
    schema: z.object({
      event: z.enum(["acknowledged", "resolved", "escalated", "reassigned"]),
      pagerdutyIncidentId: z.string(),
      target: z.string(),
      agent: z.string().nullable(),
      agentUserId: z.string().nullable(),
      assignees: z.array(z.string()),
    }),
    text: (data) =>
      `${data.agentUserId ? `@${data.agentUserId}` : data.agent ?? "PagerDuty"} ${PAGERDUTY_VERBS[data.event]} the PagerDuty page to ${data.target}${data.assignees.length > 0 ? ` (now: ${data.assignees.join(", ")})` : ""}`,
    notice: (data) =>
      `:pager: ${person(data)} ${PAGERDUTY_VERBS[data.event]} the PagerDuty page to *${escapeMrkdwn(data.target)}*${data.assignees.length > 0 ? `; now with ${data.assignees.map(escapeMrkdwn).join(", ")}` : ""}.`,
    postmortem: (data, context) => ({
      label: `Page ${PAGERDUTY_VERBS[data.event]} in PagerDuty${!context.isPublic && data.agent ? ` by ${data.agent}` : ""}`,
      detail: null,
      ...(data.event === "acknowledged" ? { diagram: { priority: 1, label: "Acknowledged" } } : {}),
    }),
    hideable: true,
  }),
};
