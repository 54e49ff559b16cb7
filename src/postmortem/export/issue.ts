import type { ActionItemPriority, Severity } from "../../generated/prisma/enums.ts";
import { BARE_USER_ID, clip, mdInline, slackToPlain } from "../text.ts";

/**
 * The GitHub issue for one follow-up, as a pure function.
 *
 * - Title: the follow-up as the team typed it (`/incident followup <text>`),
 *   for every incident, private ones included: it was written as a task for a
 *   tracker. Slack markup becomes plain text; Slack mentions and user ids
 *   become "a responder" (GitHub knows neither, and names stay in Slack).
 * - Body: the incident's number and severity, the follow-up's priority and
 *   due date, and a hidden marker that lets a retry find the issue. For a
 *   public incident also its title and services. For a private incident,
 *   nothing else: no incident title, summary, timeline, channel or names.
 */
export const ISSUE_TITLE_MAX = 256;

export interface FollowUpIssueInput {
  actionItemId: string;
  title: string;
  priority: ActionItemPriority;
  /** Calendar date (stored at UTC midnight). */
  dueDate: Date | null;
  incident: { number: number; title: string; severity: Severity; private: boolean; services: readonly string[] };
}

const PRIORITY = { HIGH: "High", MEDIUM: "Medium", LOW: "Low" } as const;

/** The hidden comment that identifies the issue of one follow-up. */
export function followUpMarker(actionItemId: string): string {
  return `firebreak:followup:${actionItemId}`;
}

/** GitHub Markdown text: escaped, and @mentions / #references kept from pinging people or linking issues. */
function githubText(text: string): string {
  return mdInline(text).replace(/@/g, "@\u200b").replace(/#(?=\d)/g, "#\u200b");
}

export function followUpIssue(input: FollowUpIssueInput): { title: string; body: string } {
  const ref = `INC-${input.incident.number}`;
  const noMarkup = slackToPlain(input.title, () => "a responder").replace(BARE_USER_ID, "a responder");
  const plain = Array.from(noMarkup, (char) => ((char.codePointAt(0) ?? 0) < 32 || char === "\u007f" ? " " : char))
    .join("")
    .replace(/\s+/g, " ")
    .trim();
  const title = clip(plain === "" ? `Follow-up from ${ref}` : plain, ISSUE_TITLE_MAX);
  const incident = input.incident;
  const from = incident.private
    ? `a private incident (${ref}, ${incident.severity}); its details stay in Firebreak and Slack`
    : `**${githubText(`${ref}: ${slackToPlain(incident.title, () => "a responder").replace(BARE_USER_ID, "a responder")}`)}** (${incident.severity})`;
  const lines = [
    `Follow-up action item from ${from}, recorded with Firebreak.`,
    "",
    `- Priority: ${PRIORITY[input.priority]}`,
    `- Due: ${input.dueDate ? input.dueDate.toISOString().slice(0, 10) : "not set"}`,
  ];
  if (!incident.private && incident.services.length > 0) lines.push(`- Services: ${githubText(incident.services.join(", "))}`);
  lines.push("", `<!-- ${followUpMarker(input.actionItemId)} -->`);
  return { title, body: lines.join("\n") };
}
