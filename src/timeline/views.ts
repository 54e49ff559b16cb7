import { context, modal, section, slackDate } from "../slack/blocks.ts";
import { SLACK_LIMITS, safeText, truncate } from "../slack/text.ts";
import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import type { CapturedMessageData } from "./events.ts";

/**
 * Block Kit for the timeline, as pure functions: the paged `/incident
 * timeline`, its per-entry menu (edit, hide), the edit modal, and the answers
 * to the capture shortcut.
 */
export const TIMELINE_ACTIONS = {
  entryMenu: "timeline.entry_menu",
} as const;

/** callback_id of the "Add to incident timeline" message shortcut (manifest.yml). */
export const ADD_TO_TIMELINE_SHORTCUT = "timeline.add_message";

export const TIMELINE_VIEWS = {
  editEntry: "timeline.edit_entry",
  info: "timeline.info",
} as const;

export const TIMELINE_FIELDS = {
  text: { block: "entry_text", action: "entry_text" },
} as const;

/** Joins lines into as few sections as fit, never splitting a line (each is at most ~1,300 characters). */
function packLines(lines: readonly string[], max: number): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const last = out.at(-1);
    if (last !== undefined && last.length + 1 + line.length <= max) out[out.length - 1] = `${last}\n${line}`;
    else out.push(line);
  }
  return out;
}

/** Entries per page of `/incident timeline`: one section each, within Slack's 50 blocks. */
export const TIMELINE_PAGE_SIZE = 20;
export const ENTRY_TEXT_MAX = 2_900;

export interface TimelineEntry {
  id: string;
  type: string;
  occurredAt: Date;
  text: string;
  actorId: string | null;
  hidden: boolean;
  editedAt: Date | null;
  removedAt: Date | null;
  captured: CapturedMessageData | undefined;
  /** From the event's kind: people may correct its text. */
  editable: boolean;
  /** From the event's kind: people may hide it. */
  hideable: boolean;
}

export interface TimelinePage {
  entries: readonly TimelineEntry[];
  page: number;
  pages: number;
  total: number;
}

/** Whether people may correct the entry's text (what people wrote, not what the system recorded); from the event catalogue. */
export function canEditText(entry: Pick<TimelineEntry, "editable">): boolean {
  return entry.editable;
}

/** The audit trail of corrections is never hidden; from the event catalogue. */
export function canHide(entry: Pick<TimelineEntry, "hideable">): boolean {
  return entry.hideable;
}

function mention(userId: string | null | undefined): string {
  return userId && /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : "someone";
}

const REMOVED_REASON = { unpinned: "unpinned", unreacted: "reaction removed", deleted: "message deleted" } as const;

/** One entry as a line of mrkdwn (escaped; user ids only from Slack payloads become mentions). */
export function entryLine(entry: TimelineEntry): string {
  const when = slackDate(entry.occurredAt);
  const marks = [entry.editedAt ? "_(edited)_" : "", entry.hidden ? "_(hidden)_" : ""].filter(Boolean).join(" ");
  if (entry.captured) {
    const text = safeText(entry.text, 1_200);
    const body = entry.removedAt ? `~${text}~ _(removed: ${REMOVED_REASON[entry.captured.removedReason ?? "deleted"]})_` : text;
    const link = entry.captured.permalink && /^https:\/\//.test(entry.captured.permalink) ? ` <${entry.captured.permalink}|view message>` : "";
    return `${when} :speech_balloon: ${mention(entry.captured.authorId)}: ${body}${link}${marks ? ` ${marks}` : ""}`;
  }
  const text = safeText(entry.text.replace(/<@([UW][A-Z0-9]+)>/g, "@$1"), 1_200);
  return `${when} ${text}${entry.actorId ? ` · ${mention(entry.actorId)}` : ""}${marks ? ` ${marks}` : ""}`;
}

function entryMenu(entry: TimelineEntry): unknown {
  const options: Array<{ text: { type: "plain_text"; text: string }; value: string }> = [];
  if (canEditText(entry) && !entry.removedAt) options.push({ text: { type: "plain_text", text: "Edit text" }, value: `edit:${entry.id}` });
  if (canHide(entry)) options.push({ text: { type: "plain_text", text: entry.hidden ? "Show again" : "Hide" }, value: `${entry.hidden ? "show" : "hide"}:${entry.id}` });
  return options.length > 0 ? { type: "overflow", action_id: TIMELINE_ACTIONS.entryMenu, options } : undefined;
}

/**
 * A page of the timeline, newest last. Page 1 holds the newest entries, page
 * 2 the ones before. Editors (commander, scribe, admins) get a menu on every
 * entry and also see hidden ones.
 */
export function timelinePageReply(incidentRef: string, page: TimelinePage, editor: boolean): EphemeralResponse {
  const first = page.total === 0 ? 0 : Math.max(1, page.total - page.page * TIMELINE_PAGE_SIZE + 1);
  const last = first === 0 ? 0 : first + page.entries.length - 1;
  const heading = `*Timeline of ${incidentRef}*: ${page.total === 0 ? "no entries yet" : `entries ${first}–${last} of ${page.total}`}`;
  if (page.entries.length === 0) {
    const text = page.total === 0 ? heading : `${heading}\nThere is no page ${page.page}; the timeline has ${page.pages}.`;
    return ephemeral(text, [section(text)]);
  }
  const blocks: unknown[] = [section(heading)];
  if (editor) {
    for (const entry of page.entries) blocks.push(section(entryLine(entry), entryMenu(entry)));
  } else {
    for (const group of packLines(page.entries.map(entryLine), SLACK_LIMITS.sectionText)) blocks.push(section(group));
  }
  const footer = [
    page.page < page.pages ? `Older: \`/incident timeline ${page.page + 1}\`` : "",
    page.page > 1 ? `Newer: \`/incident timeline ${page.page - 1}\`` : "",
    `Page ${page.page} of ${page.pages}`,
  ].filter(Boolean);
  blocks.push(context(footer.join(" · ")));
  const fallback = [heading, ...page.entries.map(entryLine)].join("\n");
  return ephemeral(truncate(fallback, SLACK_LIMITS.sectionText), blocks.slice(0, SLACK_LIMITS.blocksPerMessage));
}

export function editEntryModal(incidentRef: string, entry: Pick<TimelineEntry, "id" | "text">): unknown {
  return modal(
    TIMELINE_VIEWS.editEntry,
    `Edit ${incidentRef} entry`,
    "Save",
    [
      context("The original text stays in the timeline's edit history."),
      {
        type: "input",
        block_id: TIMELINE_FIELDS.text.block,
        label: { type: "plain_text", text: "Entry text" },
        element: {
          type: "plain_text_input",
          action_id: TIMELINE_FIELDS.text.action,
          multiline: true,
          max_length: ENTRY_TEXT_MAX,
          initial_value: entry.text.slice(0, ENTRY_TEXT_MAX),
        },
      },
    ],
    JSON.stringify({ eventId: entry.id }),
  );
}

/** What the message shortcuts answer outside an incident channel. */
export function notAnIncidentChannelModal(title: string): unknown {
  return modal(TIMELINE_VIEWS.info, title, undefined, [
    section(":information_source: This message is not in an incident channel. Use the shortcut on a message in an incident's channel (`inc-…`)."),
  ]);
}

export function captureConfirmation(incidentRef: string, permalink: string | null): { text: string } {
  const link = permalink && /^https:\/\//.test(permalink) ? ` (<${permalink}|the message>)` : "";
  return { text: `:pushpin: Added to the timeline of ${incidentRef}${link}.` };
}
