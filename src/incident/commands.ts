import { DEFAULT_SEVERITY, parseSeverity, type Severity } from "./models.ts";

/**
 * `/incident` text -> a typed command. Pure: no Slack, no database. Unknown
 * subcommands and missing arguments become `help` with a reason, so the user
 * gets an explanation and nothing is recorded.
 */
export type IncidentCommand =
  | { kind: "declare"; title: string; severity: Severity }
  | { kind: "help"; problem?: CommandProblem };

export type CommandProblem =
  | { type: "unknown_command"; subcommand: string }
  | { type: "missing_title" }
  | { type: "title_too_long"; length: number; max: number };

export const MAX_TITLE_LENGTH = 200;

export function parseIncidentCommand(text: string): IncidentCommand {
  const trimmed = text.trim();
  if (trimmed === "") return { kind: "help" };
  const [rawSubcommand = "", ...rest] = trimmed.split(/\s+/);
  const subcommand = rawSubcommand.toLowerCase();
  const args = trimmed.slice(rawSubcommand.length).trim();
  switch (subcommand) {
    case "help":
      return { kind: "help" };
    case "declare":
    case "new":
    case "open": {
      let severity = DEFAULT_SEVERITY;
      let title = args;
      const first = rest[0];
      const parsed = first === undefined ? undefined : parseSeverity(first);
      if (first !== undefined && parsed) {
        severity = parsed;
        title = args.slice(first.length).trim();
      }
      if (title === "") return { kind: "help", problem: { type: "missing_title" } };
      if (title.length > MAX_TITLE_LENGTH) {
        return { kind: "help", problem: { type: "title_too_long", length: title.length, max: MAX_TITLE_LENGTH } };
      }
      return { kind: "declare", title, severity };
    }
    default:
      return { kind: "help", problem: { type: "unknown_command", subcommand } };
  }
}
