import type { AlertStatus, Severity } from "../generated/prisma/enums.ts";
import { ACTIONS } from "../incident/views.ts";
import { SLACK_LIMITS, plain, safeText } from "../slack/text.ts";

/**
 * Slack messages about alerts. Alert text (summaries, descriptions, labels,
 * URLs) comes from outside and is untrusted: escaped, truncated, and links
 * only become buttons when they are plain http(s) URLs.
 */
export interface AlertView {
  fingerprint: string;
  status: AlertStatus;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  startsAt: Date;
  generatorUrl: string | null;
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

export const ALERT_ACTIONS = { declareFromGroup: "alert.declare_incident" } as const;

/** Labels worth showing; the rest are noise in a channel. */
const SHOWN_LABELS = ["alertname", "severity", "service", "team", "namespace", "cluster", "instance", "job"];
const ALERTS_PER_MESSAGE = 10;

export function safeUrl(value: string | null | undefined): string | undefined {
  if (!value || value.length > 3_000) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

function alertBlocks(alert: AlertView): unknown[] {
  const name = alert.labels.alertname ?? "alert";
  const summary = alert.annotations.summary ?? alert.annotations.message ?? name;
  const description = alert.annotations.description;
  const labels = SHOWN_LABELS.filter((key) => alert.labels[key]).map((key) => `\`${safeText(key, 40)}=${safeText(alert.labels[key] ?? "", 80)}\``);
  const icon = alert.status === "FIRING" ? ":fire:" : ":white_check_mark:";
  const lines = [`${icon} *${safeText(summary, 300)}*`];
  if (description) lines.push(safeText(description, 1_500));
  if (labels.length > 0) lines.push(labels.join(" "));
  const blocks: unknown[] = [{ type: "section", text: { type: "mrkdwn", text: lines.join("\n").slice(0, SLACK_LIMITS.sectionText) } }];
  const buttons: unknown[] = [];
  const runbook = safeUrl(alert.annotations.runbook_url);
  const source = safeUrl(alert.generatorUrl);
  if (runbook) buttons.push({ type: "button", text: { type: "plain_text", text: "Runbook" }, url: runbook, action_id: `alert.runbook.${alert.fingerprint.slice(0, 40)}` });
  if (source) buttons.push({ type: "button", text: { type: "plain_text", text: "Source" }, url: source, action_id: `alert.source.${alert.fingerprint.slice(0, 40)}` });
  if (buttons.length > 0) blocks.push({ type: "actions", elements: buttons });
  return blocks;
}

function list(alerts: readonly AlertView[]): unknown[] {
  const shown = alerts.slice(0, ALERTS_PER_MESSAGE).flatMap(alertBlocks);
  const more = alerts.length - ALERTS_PER_MESSAGE;
  return more > 0 ? [...shown, { type: "context", elements: [{ type: "mrkdwn", text: `…and ${more} more alert${more === 1 ? "" : "s"} (\`/incident alerts\`).` }] }] : shown;
}

export function alertsMessage(alerts: readonly AlertView[]): SlackMessage {
  const firing = alerts.filter((alert) => alert.status === "FIRING").length;
  const heading = `:rotating_light: *${firing} alert${firing === 1 ? "" : "s"} firing*`;
  return {
    text: safeText(`${firing} alert(s) firing: ${alerts.map((alert) => alert.labels.alertname ?? "alert").slice(0, 5).join(", ")}`, 300),
    blocks: [{ type: "section", text: { type: "mrkdwn", text: heading } }, ...list(alerts)].slice(0, SLACK_LIMITS.blocksPerMessage),
  };
}

export function triageMessage(group: { id: string; severity: Severity | null; route: string | null }, alerts: readonly AlertView[]): SlackMessage {
  const heading = `:mag: *Alerts need triage* (${group.severity ?? "no severity"}, route \`${safeText(group.route ?? "default", 60)}\`)`;
  return {
    text: safeText(`Alerts need triage: ${alerts.map((alert) => alert.labels.alertname ?? "alert").slice(0, 5).join(", ")}`, 300),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: heading } },
      ...list(alerts).slice(0, SLACK_LIMITS.blocksPerMessage - 2),
      {
        type: "actions",
        elements: [{ type: "button", style: "danger", action_id: ALERT_ACTIONS.declareFromGroup, value: group.id, text: { type: "plain_text", text: plain("Declare incident", SLACK_LIMITS.buttonText) } }],
      },
    ],
  };
}

export function allResolvedMessage(incident: { id: string; number: number }): SlackMessage {
  const text = `:white_check_mark: All alerts of INC-${incident.number} have resolved. Resolve the incident when you are confident it is over.`;
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      { type: "actions", elements: [{ type: "button", style: "primary", action_id: ACTIONS.resolve, value: incident.id, text: { type: "plain_text", text: "Resolve" } }] },
    ],
  };
}

export interface AlertGroupLine {
  status: AlertStatus;
  route: string | null;
  disposition: string;
  severity: Severity | null;
  alertname: string;
  firing: number;
  total: number;
  incidentNumber: number | null;
  lastSeenAt: Date;
}

export function alertGroupsText(groups: readonly AlertGroupLine[]): string {
  if (groups.length === 0) return ":sunny: No alerts received yet.";
  const lines = groups.map(
    (group) =>
      `${group.status === "FIRING" ? ":fire:" : ":white_check_mark:"} *${safeText(group.alertname, 80)}* ${group.firing}/${group.total} firing · ${group.severity ?? "-"} · route \`${safeText(group.route ?? "default", 40)}\` (${group.disposition.toLowerCase()})` +
      (group.incidentNumber ? ` · INC-${group.incidentNumber}` : ""),
  );
  return `*Recent alert groups*\n${lines.join("\n")}`.slice(0, SLACK_LIMITS.sectionText);
}
