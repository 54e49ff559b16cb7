import { formatDistanceStrict } from "date-fns";
import type { FileConfig } from "../config/file.ts";
import { readEvent, type EventCatalogue } from "../events/catalogue.ts";
import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import { chunk, context, modal, option, section, slackDate } from "../slack/blocks.ts";
import { SLACK_LIMITS, plain, safeText, truncate } from "../slack/text.ts";
import { SEVERITIES, SEVERITY_INFO, STATUS_LABEL, incidentRef, type IncidentDetail, type IncidentSummary, type Severity } from "./models.ts";

/**
 * Block Kit for incidents, as pure functions of the data. Everything a person
 * typed goes through safeText (mrkdwn, escaped) or plain (plain_text), and
 * every message stays within Slack's limits (50 blocks, 3000 chars a section).
 */

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/** Action and view ids shared by the views and the Slack routing. */
export const ACTIONS = {
  takeCommand: "incident.take_command",
  setSeverity: "incident.set_severity",
  postUpdate: "incident.post_update",
  resolve: "incident.resolve",
} as const;

export const VIEWS = {
  declare: "incident.declare",
  postUpdate: "incident.post_update",
  resolve: "incident.resolve",
} as const;

/** Block and action ids of the modal inputs (the submission handlers read them). */
export const FIELDS = {
  title: { block: "title", action: "title" },
  severity: { block: "severity", action: "severity" },
  service: { block: "service", action: "service" },
  description: { block: "description", action: "description" },
  private: { block: "private", action: "private" },
  status: { block: "status", action: "status" },
  message: { block: "message", action: "message" },
  summary: { block: "summary", action: "summary" },
} as const;


/** Only well-formed ids (from Slack payloads, never typed text) become mentions. */
export function person(userId: string | null | undefined): string {
  return userId && /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : "_unassigned_";
}


/** Usage strings contain <placeholders> that Slack would read as links: show them as text. */



function severityOption(severity: Severity) {
  const info = SEVERITY_INFO[severity];
  return option(`${info.label}: ${info.description}`, severity);
}

function fallback(text: string): string {
  return safeText(text, 300);
}

/** `extra`: blocks other capabilities add under the header's buttons while it is open (remediation's actions). */
export function incidentHeader(incident: IncidentDetail, extra: readonly unknown[] = []): SlackMessage {
  const severity = SEVERITY_INFO[incident.severity];
  const ref = incidentRef(incident.number);
  const resolved = incident.status === "RESOLVED";
  const fields = [
    { type: "mrkdwn", text: `*Severity*\n${severity.emoji} ${severity.label} (${severity.description})` },
    { type: "mrkdwn", text: `*Status*\n${STATUS_LABEL[incident.status]}` },
    { type: "mrkdwn", text: `*Commander*\n${person(incident.commanderId)}` },
    { type: "mrkdwn", text: `*Declared by*\n${person(incident.declaredById)}` },
  ];
  if (incident.scribeId) fields.push({ type: "mrkdwn", text: `*Scribe*\n${person(incident.scribeId)}` });
  if (incident.commsId) fields.push({ type: "mrkdwn", text: `*Comms*\n${person(incident.commsId)}` });
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: plain(`${ref}: ${incident.title}`, SLACK_LIMITS.headerText), emoji: false } },
    { type: "section", fields },
  ];
  if (incident.description) blocks.push(section(safeText(incident.description, 2_000)));
  if (resolved && incident.summary) blocks.push(section(`*Resolution*\n${safeText(incident.summary, 2_000)}`));
  if (!resolved) {
    blocks.push({
      type: "actions",
      block_id: "incident_actions",
      elements: [
        { type: "button", action_id: ACTIONS.takeCommand, text: { type: "plain_text", text: incident.commanderId ? "Take command" : "Acknowledge / take command" }, value: incident.id },
        {
          type: "static_select",
          action_id: ACTIONS.setSeverity,
          placeholder: { type: "plain_text", text: "Change severity" },
          options: SEVERITIES.map(severityOption),
          initial_option: severityOption(incident.severity),
        },
        { type: "button", action_id: ACTIONS.postUpdate, text: { type: "plain_text", text: "Post update" }, value: incident.id },
        { type: "button", action_id: ACTIONS.resolve, style: "primary", text: { type: "plain_text", text: "Resolve" }, value: incident.id },
      ],
    });
    blocks.push(...extra);
  }
  blocks.push(
    context(
      `Declared ${incident.private ? "(private) " : ""}${slackDate(incident.declaredAt)}` +
        (incident.resolvedAt ? ` · resolved ${slackDate(incident.resolvedAt)}` : "") +
        " · Type `/incident help` for commands",
    ),
  );
  return { text: fallback(`${ref} ${severity.label} ${STATUS_LABEL[incident.status]}: ${incident.title}`), blocks };
}

/** The channel topic: severity, status and commander at a glance (Slack allows 250 characters). */
/** The channel topic: plain text (Slack shows `<@U…>` in a topic as is), so the commander appears by name. */
export function channelTopic(incident: IncidentSummary, commanderName?: string): string {
  const commander = incident.commanderId ? plain(commanderName ?? `@${incident.commanderId}`, 60) : "unassigned";
  const head = `${SEVERITY_INFO[incident.severity].label} | ${STATUS_LABEL[incident.status]} | Commander: ${commander} | `;
  return `${head}${plain(incident.title, SLACK_LIMITS.topic - head.length)}`.slice(0, SLACK_LIMITS.topic);
}

export function bookmarkTitle(incident: IncidentSummary): string {
  return `${incidentRef(incident.number)} · ${incident.severity} · ${STATUS_LABEL[incident.status]}`;
}

export function announcementMessage(incident: IncidentSummary, channelLink: string | undefined): SlackMessage {
  const severity = SEVERITY_INFO[incident.severity];
  if (incident.private) {
    const text = `${severity.emoji} A private ${severity.label} incident was declared.`;
    return { text, blocks: [section(text)] };
  }
  const ref = incidentRef(incident.number);
  const text = `${severity.emoji} *${ref} (${severity.label})*: ${safeText(incident.title, 500)}\nDeclared by ${person(incident.declaredById)}${channelLink ? ` · join ${channelLink}` : ""}`;
  return { text: fallback(`${ref} ${severity.label}: ${incident.title}`), blocks: [section(text), context("Status updates follow in this thread.")] };
}

/** A timeline event as loaded for rendering a notice. */
export interface NoticeEvent {
  type: string;
  actorId: string | null;
  data: unknown;
  occurredAt: Date;
}

/**
 * What a timeline event says in the incident channel ("channel") or under the
 * announcement ("announcement", for stakeholders): each kind's own notice
 * from the catalogue; a type this version does not know shows its name.
 */
export function noticeRenderer(catalogue: EventCatalogue) {
  return function eventNotice(event: NoticeEvent, incident: IncidentSummary, where: "channel" | "announcement"): SlackMessage {
    const by = event.actorId ? ` by ${person(event.actorId)}` : "";
    const prefix = where === "announcement" ? `*${incidentRef(incident.number)}* · ` : "";
    const quote = (message: string | null | undefined) => {
      // Leave room for the ">" added to each line, so the section limit never cuts the quote.
      const lines = message ? safeText(message, 2_700).split("\n") : [];
      return lines.length > 0 ? `\n>${lines.join("\n>")}` : "";
    };
    const known = readEvent(catalogue, event.type, event.data);
    const text = known?.kind.notice?.(known.data, { incident, where, by, prefix, quote }) ?? `${prefix}${safeText(event.type, 100)}${by}`;
    // `text` is mrkdwn built from escaped parts already: shorten, don't escape again.
    return { text: truncate(text.replace(/\*/g, ""), 300), blocks: [section(text)] };
  };
}

export type EventNotice = ReturnType<typeof noticeRenderer>;

export interface ListedIncident extends IncidentSummary {
  /** Whether the viewer may see the title of a private incident. */
  visible: boolean;
}

/** The most incidents `/incident list` shows. */
export const LIST_LIMIT = 20;

export function incidentListReply(incidents: readonly ListedIncident[], options: { all: boolean; total: number; now: Date }): EphemeralResponse {
  if (incidents.length === 0) return ephemeral(options.all ? "No incidents yet." : ":sunny: No open incidents.");
  const lines = incidents.slice(0, LIST_LIMIT).map((incident) => {
    const severity = SEVERITY_INFO[incident.severity];
    const title = incident.visible ? safeText(incident.title, 120) : "_private incident_";
    const channel = incident.visible && incident.channelId ? ` <#${incident.channelId}>` : "";
    const age = formatDistanceStrict(incident.declaredAt, options.now);
    return `${severity.emoji} *${incidentRef(incident.number)}* ${severity.label} · ${STATUS_LABEL[incident.status]} · ${title}${channel}\n      commander ${person(incident.commanderId)} · ${age} old`;
  });
  const heading = options.all ? `*Incidents* (newest first, ${options.total} in all)` : `*Open incidents* (newest first, ${options.total})`;
  const more = options.total > LIST_LIMIT ? [context(`Showing the newest ${LIST_LIMIT}.`)] : [];
  const blocks = [section(heading), ...chunk(lines, 8).map((group) => section(group.join("\n"))), ...more];
  let fallbackText = heading;
  for (const line of lines) {
    if (fallbackText.length + line.length + 1 > 3_000) break;
    fallbackText += `\n${line}`;
  }
  return ephemeral(fallbackText, blocks);
}


export function incidentShowReply(incident: IncidentDetail, now: Date, services: FileConfig["services"]): EphemeralResponse {
  const severity = SEVERITY_INFO[incident.severity];
  const affected = (incident.services ?? []).map((key) => services.find((service) => service.key === key)?.name ?? key);
  const lines = [
    `${severity.emoji} *${incidentRef(incident.number)}: ${safeText(incident.title, 200)}*`,
    `${severity.label} · ${STATUS_LABEL[incident.status]} · commander ${person(incident.commanderId)}${incident.channelId ? ` · <#${incident.channelId}>` : ""}`,
    `Declared ${slackDate(incident.declaredAt)} (${formatDistanceStrict(incident.declaredAt, now)} ago) by ${person(incident.declaredById)}`,
  ];
  if (affected.length > 0) lines.push(`Services: ${safeText(affected.join(", "), 300)}`);
  if (incident.resolvedAt) lines.push(`Resolved ${slackDate(incident.resolvedAt)}${incident.summary ? `: ${safeText(incident.summary, 1_000)}` : ""}`);
  return ephemeral(lines.join("\n"), [section(lines.join("\n"))]);
}

export function declaredReply(incident: IncidentSummary, plannedChannel: string, created = true): EphemeralResponse {
  const ref = incidentRef(incident.number);
  const severity = SEVERITY_INFO[incident.severity];
  const text = created
    ? `${severity.emoji} Declared *${ref}* (${severity.label}): ${safeText(incident.title, 500)}. Creating #${plannedChannel} and inviting you…`
    : `${severity.emoji} *${ref}* was already declared for this request: ${safeText(incident.title, 500)} (#${plannedChannel}).`;
  return ephemeral(text, [section(text)]);
}

export function declareModal(services: FileConfig["services"], origin: { channelId: string }): unknown {
  const blocks: unknown[] = [
    {
      type: "input",
      block_id: FIELDS.title.block,
      label: { type: "plain_text", text: "Title" },
      element: { type: "plain_text_input", action_id: FIELDS.title.action, max_length: 200, placeholder: { type: "plain_text", text: "Checkout is failing for EU customers" } },
    },
    {
      type: "input",
      block_id: FIELDS.severity.block,
      label: { type: "plain_text", text: "Severity" },
      element: { type: "static_select", action_id: FIELDS.severity.action, options: SEVERITIES.map(severityOption), initial_option: severityOption("SEV3") },
    },
  ];
  if (services.length > 0) {
    blocks.push({
      type: "input",
      block_id: FIELDS.service.block,
      optional: true,
      label: { type: "plain_text", text: "Affected service" },
      element: { type: "static_select", action_id: FIELDS.service.action, options: services.slice(0, 100).map((service) => option(service.name, service.key)) },
    });
  }
  blocks.push(
    {
      type: "input",
      block_id: FIELDS.description.block,
      optional: true,
      label: { type: "plain_text", text: "What is happening?" },
      element: { type: "plain_text_input", action_id: FIELDS.description.action, multiline: true, max_length: 2_000 },
    },
    {
      type: "input",
      block_id: FIELDS.private.block,
      optional: true,
      label: { type: "plain_text", text: "Visibility" },
      element: { type: "checkboxes", action_id: FIELDS.private.action, options: [option("Private incident (private channel, no public announcement)", "private")] },
    },
  );
  return modal(VIEWS.declare, "Declare an incident", "Declare", blocks, JSON.stringify(origin));
}

export function updateModal(incident: IncidentSummary): unknown {
  const statusOptions = (["INVESTIGATING", "IDENTIFIED", "MONITORING"] as const).map((status) => option(STATUS_LABEL[status], status));
  return modal(
    VIEWS.postUpdate,
    `Update ${incidentRef(incident.number)}`,
    "Post update",
    [
      {
        type: "input",
        block_id: FIELDS.status.block,
        label: { type: "plain_text", text: "Status" },
        element: {
          type: "static_select",
          action_id: FIELDS.status.action,
          options: statusOptions,
          initial_option: statusOptions.find((entry) => entry.value === incident.status) ?? statusOptions[0],
        },
      },
      {
        type: "input",
        block_id: FIELDS.message.block,
        label: { type: "plain_text", text: "Update" },
        element: { type: "plain_text_input", action_id: FIELDS.message.action, multiline: true, max_length: 2_900 },
      },
    ],
    JSON.stringify({ incidentId: incident.id }),
  );
}

export function resolveModal(incident: IncidentSummary): unknown {
  return modal(
    VIEWS.resolve,
    `Resolve ${incidentRef(incident.number)}`,
    "Resolve",
    [
      section(`You are about to resolve *${incidentRef(incident.number)}: ${safeText(incident.title, 200)}*. Reminders stop and the resolution is announced.`),
      {
        type: "input",
        block_id: FIELDS.summary.block,
        label: { type: "plain_text", text: "Resolution summary" },
        element: { type: "plain_text_input", action_id: FIELDS.summary.action, multiline: true, max_length: 2_900, placeholder: { type: "plain_text", text: "What fixed it, and what is the impact now?" } },
      },
    ],
    JSON.stringify({ incidentId: incident.id }),
  );
}
