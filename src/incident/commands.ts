import type { IncidentStatus, Severity } from "./models.ts";
import { DEFAULT_SEVERITY, parseSeverity } from "./models.ts";

/**
 * `/incident` text -> a typed command. Pure: no Slack, no database. Anything
 * it cannot understand becomes `help` with a structured problem, so the user
 * gets an explanation and nothing is recorded.
 */
export type AssignableRole = "SCRIBE" | "COMMS";

export type IncidentCommand =
  | { kind: "help"; problem?: CommandProblem }
  | { kind: "declare"; title: string; severity: Severity }
  | { kind: "declare_modal" }
  | { kind: "status"; status: IncidentStatus; message: string | undefined }
  | { kind: "update"; message: string }
  | { kind: "severity"; severity: Severity }
  | { kind: "commander"; user: { me: true } | { me: false; id: string } }
  | { kind: "role"; role: AssignableRole; userId: string }
  | { kind: "invite"; userIds: string[] }
  | { kind: "note"; text: string }
  | { kind: "resolve"; summary: string | undefined }
  | { kind: "reopen" }
  | { kind: "timeline"; page: number }
  | { kind: "list"; all: boolean }
  | { kind: "alerts" }
  | { kind: "postmortem" }
  | { kind: "followup"; title: string }
  | { kind: "show"; number: number };

export type CommandProblem =
  | { type: "unknown_command"; subcommand: string }
  | { type: "missing_title" }
  | { type: "title_too_long"; length: number; max: number }
  | { type: "text_too_long"; length: number; max: number }
  | { type: "usage"; usage: string };

export const MAX_TITLE_LENGTH = 200;
/** Updates, notes and summaries: one Slack section's worth. */
export const MAX_TEXT_LENGTH = 2_900;

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
  timeline: "/incident timeline [page]",
  list: "/incident list [all]",
  alerts: "/incident alerts",
  postmortem: "/incident postmortem",
  followup: "/incident followup <text>",
  show: "/incident show <number>",
} as const;

const STATUSES: Readonly<Record<string, IncidentStatus>> = {
  investigating: "INVESTIGATING",
  identified: "IDENTIFIED",
  monitoring: "MONITORING",
  resolved: "RESOLVED",
};

/** Slack renders mentions as <@U123> or <@U123|name> in command text. */
const MENTION = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/;

export function parseMention(token: string): string | undefined {
  return MENTION.exec(token)?.[1];
}

function usage(key: keyof typeof USAGE): IncidentCommand {
  return { kind: "help", problem: { type: "usage", usage: USAGE[key] } };
}

function text(value: string, key: keyof typeof USAGE, build: (value: string) => IncidentCommand): IncidentCommand {
  if (value === "") return usage(key);
  if (value.length > MAX_TEXT_LENGTH) return { kind: "help", problem: { type: "text_too_long", length: value.length, max: MAX_TEXT_LENGTH } };
  return build(value);
}

export function parseIncidentCommand(input: string): IncidentCommand {
  const trimmed = input.trim();
  if (trimmed === "") return { kind: "help" };
  const [rawSubcommand = "", ...words] = trimmed.split(/\s+/);
  const subcommand = rawSubcommand.toLowerCase();
  const rest = trimmed.slice(rawSubcommand.length).trim();
  const first = words[0];

  switch (subcommand) {
    case "help":
      return { kind: "help" };
    case "declare":
    case "new":
    case "open": {
      if (rest === "") return { kind: "declare_modal" };
      let severity = DEFAULT_SEVERITY;
      let title = rest;
      const parsed = first === undefined ? undefined : parseSeverity(first);
      if (first !== undefined && parsed) {
        severity = parsed;
        title = rest.slice(first.length).trim();
      }
      if (title === "") return { kind: "help", problem: { type: "missing_title" } };
      if (title.length > MAX_TITLE_LENGTH) return { kind: "help", problem: { type: "title_too_long", length: title.length, max: MAX_TITLE_LENGTH } };
      return { kind: "declare", title, severity };
    }
    case "status": {
      const status = first === undefined ? undefined : STATUSES[first.toLowerCase()];
      if (!status) return usage("status");
      const message = rest.slice(first!.length).trim();
      if (message.length > MAX_TEXT_LENGTH) return { kind: "help", problem: { type: "text_too_long", length: message.length, max: MAX_TEXT_LENGTH } };
      return { kind: "status", status, message: message === "" ? undefined : message };
    }
    case "update":
      return text(rest, "update", (message) => ({ kind: "update", message }));
    case "note":
      return text(rest, "note", (value) => ({ kind: "note", text: value }));
    case "sev":
    case "severity": {
      const severity = words.length === 1 && first ? parseSeverity(first) : undefined;
      return severity ? { kind: "severity", severity } : usage("sev");
    }
    case "commander":
    case "lead": {
      if (words.length !== 1 || !first) return usage("commander");
      if (first.toLowerCase() === "me") return { kind: "commander", user: { me: true } };
      const id = parseMention(first);
      return id ? { kind: "commander", user: { me: false, id } } : usage("commander");
    }
    case "role": {
      const role = first?.toLowerCase();
      const userId = words.length === 2 && words[1] ? parseMention(words[1]) : undefined;
      if ((role !== "scribe" && role !== "comms") || !userId) return usage("role");
      return { kind: "role", role: role === "scribe" ? "SCRIBE" : "COMMS", userId };
    }
    case "invite": {
      const ids = words.map(parseMention);
      if (ids.length === 0 || ids.some((id) => id === undefined)) return usage("invite");
      return { kind: "invite", userIds: [...new Set(ids as string[])] };
    }
    case "resolve": {
      if (rest.length > MAX_TEXT_LENGTH) return { kind: "help", problem: { type: "text_too_long", length: rest.length, max: MAX_TEXT_LENGTH } };
      return { kind: "resolve", summary: rest === "" ? undefined : rest };
    }
    case "reopen":
      return words.length === 0 ? { kind: "reopen" } : usage("reopen");
    case "timeline":
      if (words.length === 0) return { kind: "timeline", page: 1 };
      if (words.length === 1 && /^[1-9][0-9]{0,4}$/.test(words[0] ?? "")) return { kind: "timeline", page: Number(words[0]) };
      return usage("timeline");
    case "list":
      if (words.length === 0) return { kind: "list", all: false };
      return words.length === 1 && first?.toLowerCase() === "all" ? { kind: "list", all: true } : usage("list");
    case "postmortem":
      return words.length === 0 ? { kind: "postmortem" } : usage("postmortem");
    case "followup":
    case "follow-up":
      return text(rest, "followup", (title) => ({ kind: "followup", title }));
    case "alerts":
      return words.length === 0 ? { kind: "alerts" } : usage("alerts");
    case "show": {
      const match = words.length === 1 && first ? /^(?:inc-)?(\d{1,9})$/i.exec(first) : null;
      return match?.[1] ? { kind: "show", number: Number(match[1]) } : usage("show");
    }
    default:
      return { kind: "help", problem: { type: "unknown_command", subcommand } };
  }
}
