import { MAX_TEXT_LENGTH, freeText, ok, problem, subcommand, usageOf, type Parsed } from "../slack/commands.ts";
import { readable } from "../slack/text.ts";
import type { IncidentStatus, Severity } from "./models.ts";
import { DEFAULT_SEVERITY, parseSeverity } from "./models.ts";

/**
 * The incident's `/incident` subcommands: name, help and a pure parser each.
 * Their handlers are attached in command-handler.ts; parsing needs no Slack
 * and no database, and anything it cannot understand becomes a named problem.
 */
export type AssignableRole = "SCRIBE" | "COMMS";

export const MAX_TITLE_LENGTH = 200;
export { MAX_TEXT_LENGTH };

export const USAGE = {
  declare: "/incident declare [sev1-sev4] <title>",
  status: "/incident status <investigating|identified|monitoring|resolved> [message]",
  update: "/incident update <message>",
  sev: "/incident sev <1-4>",
  commander: "/incident commander <@user|me>",
  role: "/incident role <scribe|comms> <@user>",
  invite: "/incident invite <@user> [<@user>...]",
  note: "/incident note <text>",
  resolve: "/incident resolve [summary]",
  reopen: "/incident reopen",
  list: "/incident list [all]",
  show: "/incident show <number>",
} as const;

const STATUSES: Readonly<Record<string, IncidentStatus>> = {
  investigating: "INVESTIGATING",
  identified: "IDENTIFIED",
  monitoring: "MONITORING",
  resolved: "RESOLVED",
};

/** Slack sends mentions as <@U123|name> (or <@U123>) in command text when the command escapes them (manifest.yml). */
const MENTION = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/;

export function parseMention(token: string): string | undefined {
  return MENTION.exec(token)?.[1];
}

/** A person typed as plain text (`@alice`): what Slack sends when the command does not escape mentions. */
function unescaped<Args>(tokens: readonly string[]): Parsed<Args> | undefined {
  const token = tokens.find((word) => /^@[^\s]+$/.test(word) && word.toLowerCase() !== "@me");
  return token ? problem({ type: "unescaped_mention", token }) : undefined;
}

function maxText<Args>(text: string, build: () => Args): Parsed<Args> {
  return text.length > MAX_TEXT_LENGTH ? problem({ type: "text_too_long", length: text.length, max: MAX_TEXT_LENGTH }) : ok(build());
}

export const declareCommand = subcommand<{ kind: "declare"; title: string; severity: Severity } | { kind: "declare_modal" }>({
  name: "declare",
  aliases: ["new", "open"],
  usage: USAGE.declare,
  description: "Declare an incident; without a title, opens a form. e.g. `/incident declare sev2 Checkout is failing`",
  where: "anywhere",
  parse({ rest, words }) {
    if (rest === "") return ok({ kind: "declare_modal" });
    const first = words[0];
    const parsed = first === undefined ? undefined : parseSeverity(first);
    const severity = parsed ?? DEFAULT_SEVERITY;
    const title = readable(parsed && first !== undefined ? rest.slice(first.length).trim() : rest);
    if (title === "") return problem({ type: "missing_title" });
    if (title.length > MAX_TITLE_LENGTH) return problem({ type: "title_too_long", length: title.length, max: MAX_TITLE_LENGTH });
    return ok({ kind: "declare", title, severity });
  },
});

export const listCommand = subcommand<{ kind: "list"; all: boolean }>({
  name: "list",
  usage: USAGE.list,
  description: "Open incidents, newest first (`all` includes resolved ones)",
  where: "anywhere",
  parse: ({ words }) => {
    if (words.length === 0) return ok({ kind: "list", all: false });
    return words.length === 1 && words[0]?.toLowerCase() === "all" ? ok({ kind: "list", all: true }) : usageOf(USAGE.list);
  },
});

export const showCommand = subcommand<{ kind: "show"; number: number }>({
  name: "show",
  usage: USAGE.show,
  description: "One incident's summary, e.g. `/incident show 42`",
  where: "anywhere",
  parse: ({ words }) => {
    const match = words.length === 1 && words[0] ? /^(?:inc-)?(\d{1,9})$/i.exec(words[0]) : null;
    return match?.[1] ? ok({ kind: "show", number: Number(match[1]) }) : usageOf(USAGE.show);
  },
});

export const statusCommand = subcommand<{ kind: "status"; status: IncidentStatus; message: string | undefined }>({
  name: "status",
  usage: USAGE.status,
  description: "Change the status, with an optional update, e.g. `/incident status identified Bad deploy of cart`",
  where: "incident channel",
  parse: ({ rest, words }) => {
    const first = words[0];
    const status = first === undefined ? undefined : STATUSES[first.toLowerCase()];
    if (!status || first === undefined) return usageOf(USAGE.status);
    const message = readable(rest.slice(first.length).trim());
    return maxText(message, () => ({ kind: "status" as const, status, message: message === "" ? undefined : message }));
  },
});

export const updateCommand = subcommand<{ kind: "update"; message: string }>({
  name: "update",
  usage: USAGE.update,
  description: "Post a status update here and under the announcement",
  where: "incident channel",
  parse: (input) => freeText(input, USAGE.update, (message) => ({ kind: "update", message })),
});

export const severityCommand = subcommand<{ kind: "severity"; severity: Severity }>({
  name: "sev",
  aliases: ["severity"],
  usage: USAGE.sev,
  description: "Change the severity (commander or admin)",
  where: "incident channel",
  parse: ({ words }) => {
    const severity = words.length === 1 && words[0] ? parseSeverity(words[0]) : undefined;
    return severity ? ok({ kind: "severity", severity }) : usageOf(USAGE.sev);
  },
});

export const commanderCommand = subcommand<{ kind: "commander"; user: { me: true } | { me: false; id: string } }>({
  name: "commander",
  aliases: ["lead"],
  usage: USAGE.commander,
  description: "Hand over command (commander or admin); `me` to take it",
  where: "incident channel",
  parse: ({ words }) => {
    const first = words[0];
    if (words.length !== 1 || !first) return usageOf(USAGE.commander);
    if (first.toLowerCase() === "me") return ok({ kind: "commander", user: { me: true } });
    const id = parseMention(first);
    return id ? ok({ kind: "commander", user: { me: false, id } }) : (unescaped(words) ?? usageOf(USAGE.commander));
  },
});

export const roleCommand = subcommand<{ kind: "role"; role: AssignableRole; userId: string }>({
  name: "role",
  usage: USAGE.role,
  description: "Assign the scribe or comms lead (commander or admin)",
  where: "incident channel",
  parse: ({ words }) => {
    const role = words[0]?.toLowerCase();
    const userId = words.length === 2 && words[1] ? parseMention(words[1]) : undefined;
    if ((role !== "scribe" && role !== "comms") || !userId) return unescaped(words.slice(1)) ?? usageOf(USAGE.role);
    return ok({ kind: "role", role: role === "scribe" ? "SCRIBE" : "COMMS", userId });
  },
});

export const inviteCommand = subcommand<{ kind: "invite"; userIds: string[] }>({
  name: "invite",
  usage: USAGE.invite,
  description: "Invite people to the incident channel",
  where: "incident channel",
  parse: ({ words }) => {
    const ids = words.map(parseMention);
    const valid = ids.filter((id): id is string => id !== undefined);
    if (ids.length === 0 || valid.length !== ids.length) return unescaped(words) ?? usageOf(USAGE.invite);
    return ok({ kind: "invite", userIds: [...new Set(valid)] });
  },
});

export const noteCommand = subcommand<{ kind: "note"; text: string }>({
  name: "note",
  usage: USAGE.note,
  description: "Add a note to the timeline",
  where: "incident channel",
  parse: (input) => freeText(input, USAGE.note, (text) => ({ kind: "note", text })),
});

export const resolveCommand = subcommand<{ kind: "resolve"; summary: string | undefined }>({
  name: "resolve",
  usage: USAGE.resolve,
  description: "Resolve, with an optional summary (commander or admin)",
  where: "incident channel",
  parse: ({ rest }) => {
    const summary = readable(rest);
    return maxText(summary, () => ({ kind: "resolve" as const, summary: summary === "" ? undefined : summary }));
  },
});

export const reopenCommand = subcommand<{ kind: "reopen" }>({
  name: "reopen",
  usage: USAGE.reopen,
  description: "Reopen a resolved incident (commander or admin)",
  where: "incident channel",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "reopen" }) : usageOf(USAGE.reopen)),
});

/** The incident's subcommands, in help order. */
export const INCIDENT_COMMANDS = [
  declareCommand,
  listCommand,
  showCommand,
  statusCommand,
  updateCommand,
  severityCommand,
  commanderCommand,
  roleCommand,
  inviteCommand,
  noteCommand,
  resolveCommand,
  reopenCommand,
] as const;
