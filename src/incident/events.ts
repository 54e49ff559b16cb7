import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";
import { STATUS_LABEL, SEVERITY_INFO, incidentRef, type IncidentStatus, type Severity } from "./models.ts";
import { person } from "./views.ts";

/** The incident's timeline event types and their payloads. */
declare module "../events/models.ts" {
  interface TimelineEventData {
    "incident.declared": { title: string; severity: string; private: boolean; number?: number };
    "channel.created": { channelId: string; channelName: string };
    "participant.invited": { users: string[] };
    "incident.acknowledged": { by: string };
    "status.changed": { from: string; to: string; message: string | null };
    "update.posted": { message: string; status: string };
    "severity.changed": { from: string; to: string };
    "commander.assigned": { from: string | null; to: string };
    "role.assigned": { role: string; from: string | null; to: string };
    "note.added": { text: string };
    "incident.resolved": { summary: string | null };
    "incident.reopened": { previousResolvedAt: string | null };
    "action.denied": { action: string; reason: string };
    "reminder.sent": { misses: number; escalated: boolean };
    "announcement.posted": { channelId: string; ts: string };
  }
}

function statusLabel(status: string | null | undefined): string {
  return status && Object.hasOwn(STATUS_LABEL, status) ? STATUS_LABEL[status as IncidentStatus] : (status ?? "?");
}

/** In notices, a status this version does not know reads "?" (it comes from stored data). */
function noticeStatus(status: string | null | undefined): string {
  return status && Object.hasOwn(STATUS_LABEL, status) ? STATUS_LABEL[status as IncidentStatus] : "?";
}

function roleLabel(role: string): string {
  return role === "COMMS" ? "comms lead" : role === "SCRIBE" ? "scribe" : role.toLowerCase();
}

function capitalized(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** A user in stored text: plain, never a mention (stored text holds no Slack markup). */
const at = (userId: string | null | undefined) => (userId ? `@${userId}` : "nobody");

export type IncidentEventType = keyof typeof INCIDENT_EVENTS;

export const INCIDENT_EVENTS: EventKinds<
  | "incident.declared"
  | "channel.created"
  | "participant.invited"
  | "incident.acknowledged"
  | "status.changed"
  | "update.posted"
  | "severity.changed"
  | "commander.assigned"
  | "role.assigned"
  | "note.added"
  | "incident.resolved"
  | "incident.reopened"
  | "action.denied"
  | "reminder.sent"
  | "announcement.posted"
> = {
  "incident.declared": eventKind("incident.declared", {
    schema: z.object({ title: z.string(), severity: z.string(), private: z.boolean(), number: z.number().int().optional() }),
    text: (data) => `${data.number ? `${incidentRef(data.number)} declared` : "Declared"} as ${data.severity}: ${data.title}`,
    postmortem: (data, context) => ({ label: `Incident declared as ${data.severity || context.severity}`, detail: data.title, diagram: { priority: 0, label: `Declared ${data.severity || context.severity}` } }),
    hideable: true,
  }),
  "channel.created": eventKind("channel.created", {
    schema: z.object({ channelId: z.string(), channelName: z.string() }),
    text: (data) => `Channel #${data.channelName} created`,
    postmortem: (data) => ({ label: "Incident channel created", detail: data.channelName ? `#${data.channelName}` : null }),
    hideable: true,
  }),
  "participant.invited": eventKind("participant.invited", {
    schema: z.object({ users: z.array(z.string()) }),
    text: (data) => `Invited ${data.users.map(at).join(", ")}`,
    postmortem: (data, context) => {
      if (context.isPublic) return { label: data.users.length === 1 ? "1 person invited" : `${data.users.length} people invited`, detail: null };
      return { label: data.users.length > 0 ? `Invited ${data.users.map((user) => context.nameOf(user)).join(", ")}` : "People invited", detail: null };
    },
    hideable: true,
  }),
  "incident.acknowledged": eventKind("incident.acknowledged", {
    schema: z.object({ by: z.string() }),
    text: (data) => `${at(data.by)} acknowledged and took command`,
    notice: (data, context) => `${context.prefix}:raised_hand: ${person(data.by)} acknowledged and took command`,
    postmortem: (data, context) => {
      const by = data.by || context.actorId;
      return { label: by && !context.isPublic ? `Acknowledged by ${context.nameOf(by)}` : "Acknowledged", detail: null, diagram: { priority: 0, label: "Acknowledged" } };
    },
    hideable: true,
  }),
  "status.changed": eventKind("status.changed", {
    schema: z.object({ from: z.string(), to: z.string(), message: z.string().nullable() }),
    text: (data) => `Status ${statusLabel(data.from)} → ${statusLabel(data.to)}${data.message ? `: ${data.message}` : ""}`,
    notice: (data, context) => `${context.prefix}:arrows_counterclockwise: Status is now *${noticeStatus(data.to)}*${context.by}${context.quote(data.message)}`,
    postmortem: (data) => ({ label: `Status ${statusLabel(data.from)} → ${statusLabel(data.to)}`, detail: data.message, diagram: { priority: 0, label: statusLabel(data.to) } }),
    hideable: true,
  }),
  "update.posted": eventKind("update.posted", {
    schema: z.object({ message: z.string(), status: z.string() }),
    text: (data) => `Update: ${data.message}`,
    notice: (data, context) => `${context.prefix}:loudspeaker: *Update* (${noticeStatus(Object.hasOwn(STATUS_LABEL, data.status) ? data.status : context.incident.status)})${context.by}${context.quote(data.message)}`,
    postmortem: (data) => ({ label: `Status update (${statusLabel(data.status)})`, detail: data.message }),
    editable: "message",
    hideable: true,
  }),
  "severity.changed": eventKind("severity.changed", {
    schema: z.object({ from: z.string(), to: z.string() }),
    text: (data) => `Severity ${data.from} → ${data.to}`,
    notice: (data, context) =>
      `${context.prefix}${SEVERITY_INFO[context.incident.severity as Severity].emoji} Severity changed from ${data.from || "?"} to *${data.to || "?"}*${context.by}`,
    postmortem: (data) => {
      const text = `Severity ${data.from || "?"} → ${data.to || "?"}`;
      return { label: text, detail: null, diagram: { priority: 1, label: text } };
    },
    hideable: true,
  }),
  "commander.assigned": eventKind("commander.assigned", {
    schema: z.object({ from: z.string().nullable(), to: z.string() }),
    text: (data) => `${at(data.to)} is now the commander`,
    notice: (data, context) => `${context.prefix}:firefighter: ${person(data.to)} is now the commander${context.by}`,
    postmortem: (data, context) => ({ label: data.to && !context.isPublic ? `${context.nameOf(data.to)} is now the commander` : "Commander assigned", detail: null }),
    hideable: true,
  }),
  "role.assigned": eventKind("role.assigned", {
    schema: z.object({ role: z.string(), from: z.string().nullable(), to: z.string() }),
    text: (data) => `${at(data.to)} is now the ${roleLabel(data.role)}`,
    notice: (data, context) => `${context.prefix}:busts_in_silhouette: ${person(data.to)} is now the ${data.role === "SCRIBE" ? "scribe" : "comms lead"}${context.by}`,
    postmortem: (data, context) => {
      const label = roleLabel(data.role || "role");
      return { label: data.to && !context.isPublic ? `${context.nameOf(data.to)} is now the ${label}` : `${capitalized(label)} assigned`, detail: null };
    },
    hideable: true,
  }),
  "note.added": eventKind("note.added", {
    schema: z.object({ text: z.string() }),
    text: (data) => `Note: ${data.text}`,
    postmortem: (data) => ({ label: "Note", detail: data.text }),
    editable: "text",
    hideable: true,
  }),
  "incident.resolved": eventKind("incident.resolved", {
    schema: z.object({ summary: z.string().nullable() }),
    text: (data) => `Resolved${data.summary ? `: ${data.summary}` : ""}`,
    notice: (data, context) => `${context.prefix}:white_check_mark: *Resolved*${context.by}${context.quote(data.summary)}`,
    postmortem: (data) => ({ label: "Resolved", detail: data.summary, diagram: { priority: 0, label: "Resolved" } }),
    hideable: true,
  }),
  "incident.reopened": eventKind("incident.reopened", {
    schema: z.object({ previousResolvedAt: z.string().nullable() }),
    text: () => "Reopened",
    notice: (_data, context) => `${context.prefix}:leftwards_arrow_with_hook: *Reopened*${context.by}; status is Investigating`,
    postmortem: () => ({ label: "Reopened", detail: null, diagram: { priority: 0, label: "Reopened" } }),
    hideable: true,
  }),
  "action.denied": eventKind("action.denied", {
    schema: z.object({ action: z.string(), reason: z.string() }),
    text: (data) => `Refused: ${data.action}`,
    postmortem: (data) => ({ label: `Action refused: ${data.action || "?"}`, detail: data.reason }),
    hideable: true,
  }),
  "reminder.sent": eventKind("reminder.sent", {
    schema: z.object({ misses: z.number().int(), escalated: z.boolean() }),
    text: (data) => `Reminder: no status update (${data.misses} missed)${data.escalated ? " (escalated)" : ""}`,
    notice: (data, context) => {
      const ref = incidentRef(context.incident.number);
      const commander = person(context.incident.commanderId);
      return context.where === "announcement"
        ? `${context.prefix}:warning: No status update from ${commander} for a while (${data.misses} reminders).`
        : `:alarm_clock: ${commander}, it's time for a status update on ${ref}${data.misses > 1 ? ` (reminder ${data.misses}; escalated to the announcement channel)` : ""}. Use \`/incident update &lt;message&gt;\` or the *Post update* button.`;
    },
    postmortem: (data) => ({ label: `Status update reminder${typeof data.misses === "number" ? `, ${data.misses} missed` : ""}${data.escalated ? ", escalated" : ""}`, detail: null }),
    hideable: true,
  }),
  "announcement.posted": eventKind("announcement.posted", {
    schema: z.object({ channelId: z.string(), ts: z.string() }),
    text: (data) => `Announced in #${data.channelId}`,
    postmortem: () => ({ label: "Announced in the announcement channel", detail: null }),
    hideable: true,
  }),
};
