import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import { SLACK_LIMITS, plain, safeText } from "../slack/text.ts";
import type { CommandProblem } from "./commands.ts";
import { SEVERITY_INFO, STATUS_LABEL, incidentRef, type IncidentSummary } from "./models.ts";

/**
 * Block Kit for incidents, as pure functions of the data. Everything a person
 * typed goes through safeText/plain (escaped and within Slack's limits).
 */

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

function slackDate(date: Date): string {
  const unix = Math.floor(date.getTime() / 1000);
  return `<!date^${unix}^{date_short_pretty} at {time}|${date.toISOString()}>`;
}

function person(userId: string | null): string {
  // User ids come from Slack payloads, never from typed text; still, only
  // well-formed ids are rendered as mentions.
  return userId && /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : "_unassigned_";
}

export function incidentHeader(incident: IncidentSummary): SlackMessage {
  const severity = SEVERITY_INFO[incident.severity];
  const ref = incidentRef(incident.number);
  return {
    text: truncateFallback(`${ref} ${severity.label}: ${incident.title}`),
    blocks: [
      { type: "header", text: { type: "plain_text", text: plain(`${ref}: ${incident.title}`, SLACK_LIMITS.headerText), emoji: false } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Severity*\n${severity.emoji} ${severity.label} (${severity.description})` },
          { type: "mrkdwn", text: `*Status*\n${STATUS_LABEL[incident.status]}` },
          { type: "mrkdwn", text: `*Commander*\n${person(incident.commanderId)}` },
          { type: "mrkdwn", text: `*Declared by*\n${person(incident.declaredById)}` },
        ],
      },
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: safeText(`Declared ${incident.private ? "(private) " : ""}`, 100) + `${slackDate(incident.declaredAt)} · Type \`/incident help\` for commands`,
          },
        ],
      },
    ],
  };
}

function truncateFallback(text: string): string {
  // The notification fallback is rendered as mrkdwn too.
  return safeText(text, 300);
}

export function declaredReply(incident: IncidentSummary, plannedChannel: string): EphemeralResponse {
  const ref = incidentRef(incident.number);
  const severity = SEVERITY_INFO[incident.severity];
  const text = `${severity.emoji} Declared *${ref}* (${severity.label}): ${safeText(incident.title, 500)}. Creating #${plannedChannel} and inviting you…`;
  return ephemeral(text, [{ type: "section", text: { type: "mrkdwn", text } }]);
}

export const COMMAND_HELP: ReadonlyArray<{ usage: string; description: string }> = [
  { usage: "/incident declare [sev1-sev4] <title>", description: "Declare an incident: a channel is created and you are invited as commander. Example: `/incident declare sev2 Checkout is failing`" },
  { usage: "/incident help", description: "Show this help" },
];

export function describeProblem(problem: CommandProblem): string {
  switch (problem.type) {
    case "unknown_command":
      return `:thinking_face: I don't know the command \`${safeText(problem.subcommand, 40)}\`.`;
    case "missing_title":
      return ":memo: `declare` needs a title, e.g. `/incident declare Checkout is failing`.";
    case "title_too_long":
      return `:scissors: That title is ${problem.length} characters long; keep it to ${problem.max} or fewer.`;
  }
}

export function helpReply(problem?: CommandProblem): EphemeralResponse {
  const lines = COMMAND_HELP.map((entry) => `• \`${entry.usage}\`: ${entry.description}`).join("\n");
  const intro = problem ? `${describeProblem(problem)}\n\n` : "";
  const text = `${intro}*Firebreak commands*\n${lines}`;
  return ephemeral(text, [{ type: "section", text: { type: "mrkdwn", text: text.slice(0, SLACK_LIMITS.sectionText) } }]);
}
