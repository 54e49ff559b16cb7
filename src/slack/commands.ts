import { FirebreakError } from "../lib/errors.ts";
import { chunk, section } from "./blocks.ts";
import { escapeMrkdwn, readable, safeText } from "./text.ts";
import { ephemeral, type EphemeralResponse } from "./views.ts";

/**
 * The `/incident` router. Capabilities register subcommands (name, aliases,
 * usage, help line, a pure parser, a handler); this file splits the text,
 * dispatches, and builds `help` from whatever is registered. It knows no
 * capability.
 */

/** Who typed the command and where; taken from the verified Slack payload. */
export interface CommandContext {
  userId: string;
  channelId: string;
  /** Unique per invocation: a repeated delivery of the same command is recognised by it. */
  triggerId: string;
}

/** `undefined` acknowledges without a message (e.g. a modal was opened instead). */
export type CommandReply = EphemeralResponse | undefined;

export type CommandProblem =
  | { type: "unknown_command"; subcommand: string }
  | { type: "missing_title" }
  | { type: "title_too_long"; length: number; max: number }
  | { type: "text_too_long"; length: number; max: number }
  | { type: "usage"; usage: string }
  /** A person typed as plain `@alice`: the app's command does not have Slack escape mentions. */
  | { type: "unescaped_mention"; token: string };

/** The text after the subcommand: whole, and split on white space. */
export interface CommandInput {
  readonly rest: string;
  readonly words: readonly string[];
}

export type Parsed<Args> = { ok: true; args: Args } | { ok: false; problem: CommandProblem };

/** Updates, notes and summaries: one Slack section's worth. */
export const MAX_TEXT_LENGTH = 2_900;

export interface HelpEntry {
  readonly usage: string;
  readonly description: string;
  readonly where: "anywhere" | "incident channel";
}

/** A subcommand's static part: pure, testable without any dependency. */
export interface SubcommandSpec<Args> extends HelpEntry {
  readonly name: string;
  readonly aliases?: readonly string[];
  parse(input: CommandInput): Parsed<Args>;
}

export type SubcommandHandler<Args> = (args: Args, context: CommandContext) => Promise<CommandReply>;

/** What the router runs: the payload type erased (the spec parses its own arguments). */
export interface RegisteredSubcommand {
  readonly spec: SubcommandSpec<unknown>;
  run(input: CommandInput, context: CommandContext): Promise<CommandReply | CommandProblem>;
}

export interface Subcommand<Args> extends SubcommandSpec<Args> {
  /** Attaches the handler (built where its dependencies are): what a module registers. */
  handler(run: SubcommandHandler<Args>): RegisteredSubcommand;
}

/** Declares a subcommand once: its name, help and parser; `handler` attaches what it does. */
export function subcommand<Args>(spec: SubcommandSpec<Args>): Subcommand<Args> {
  return {
    ...spec,
    handler: (run) => ({
      spec,
      async run(input, context) {
        const parsed = spec.parse(input);
        return parsed.ok ? run(parsed.args, context) : parsed.problem;
      },
    }),
  };
}

export const ok = <Args>(args: Args): Parsed<Args> => ({ ok: true, args });
export const problem = <Args>(value: CommandProblem): Parsed<Args> => ({ ok: false, problem: value });
export const usageOf = <Args>(usage: string): Parsed<Args> => problem({ type: "usage", usage });

/** Free text (an update, a note): required, at most one section long, kept as people typed it (`readable`). */
export function freeText<Args>(input: CommandInput, usage: string, build: (text: string) => Args): Parsed<Args> {
  const text = readable(input.rest);
  if (text === "") return usageOf(usage);
  if (text.length > MAX_TEXT_LENGTH) return problem({ type: "text_too_long", length: text.length, max: MAX_TEXT_LENGTH });
  return ok(build(text));
}

export const HELP_ENTRY: HelpEntry = { usage: "/incident help", description: "This help", where: "anywhere" };

/** `/incident <text>` split into the subcommand's name (lower-cased) and its input. */
export function splitCommand(text: string): { name: string; input: CommandInput } | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const [raw = "", ...words] = trimmed.split(/\s+/);
  return { name: raw.toLowerCase(), input: { rest: trimmed.slice(raw.length).trim(), words } };
}

/** Looks up a subcommand by name or alias; refuses two registrations of one name at start-up. */
export function commandIndex<T extends { readonly spec: Pick<SubcommandSpec<unknown>, "name" | "aliases"> }>(entries: readonly T[]): Map<string, T> {
  const index = new Map<string, T>();
  for (const entry of entries) {
    for (const name of [entry.spec.name, ...(entry.spec.aliases ?? [])]) {
      if (name === "help" || index.has(name)) throw new FirebreakError("config_invalid", `two subcommands register "/incident ${name}"`);
      index.set(name, entry);
    }
  }
  return index;
}

/** The help lines, "anywhere" commands first, each group in registration order. */
export function helpEntries(specs: readonly HelpEntry[]): HelpEntry[] {
  return [...specs.filter((spec) => spec.where === "anywhere"), ...specs.filter((spec) => spec.where !== "anywhere"), HELP_ENTRY];
}

export function describeProblem(value: CommandProblem): string {
  switch (value.type) {
    case "unknown_command":
      return `:thinking_face: I don't know the command \`${safeText(value.subcommand, 40)}\`.`;
    case "missing_title":
      return ":memo: `declare` needs a title, e.g. `/incident declare Checkout is failing`.";
    case "title_too_long":
      return `:scissors: That title is ${value.length} characters long; keep it to ${value.max} or fewer.`;
    case "text_too_long":
      return `:scissors: That text is ${value.length} characters long; keep it to ${value.max} or fewer.`;
    case "usage":
      return `:information_source: Usage: \`${escapeMrkdwn(value.usage)}\``;
    case "unescaped_mention":
      return (
        `:warning: Slack sent \`${safeText(value.token, 80)}\` as plain text, so Firebreak cannot tell who that is. ` +
        "In your Slack app's settings, open *Slash Commands*, edit `/incident` and tick *Escape channels, users, and links sent to your app* " +
        "(or re-apply Firebreak's manifest.yml, which has `should_escape: true`). Nothing was changed."
      );
  }
}

export function helpReply(entries: readonly HelpEntry[], reason?: CommandProblem): EphemeralResponse {
  const lines = entries.map((entry) => `• \`${escapeMrkdwn(entry.usage)}\`: ${entry.description}`);
  const intro = reason ? `${describeProblem(reason)}\n\n` : "";
  const text = `${intro}*Firebreak commands*\n${lines.join("\n")}`;
  const blocks = [
    ...(reason ? [section(describeProblem(reason))] : []),
    ...chunk(lines, 6).map((group, index) => section(`${index === 0 ? "*Firebreak commands*\n" : ""}${group.join("\n")}`)),
  ];
  return ephemeral(text.slice(0, 3_000), blocks);
}

export type CommandRouter = (text: string, context: CommandContext) => Promise<CommandReply>;

/** Dispatches `/incident` text to the registered subcommands; anything else gets help, with the problem named. */
export function createCommandRouter(subcommands: readonly RegisteredSubcommand[]): CommandRouter {
  const index = commandIndex(subcommands);
  const entries = helpEntries(subcommands.map((entry) => entry.spec));
  return async (text, context) => {
    const split = splitCommand(text);
    if (!split || split.name === "help") return helpReply(entries);
    const target = index.get(split.name);
    if (!target) return helpReply(entries, { type: "unknown_command", subcommand: split.name });
    const answer = await target.run(split.input, context);
    return answer !== undefined && "type" in answer ? helpReply(entries, answer) : answer;
  };
}

/** What `/incident <text>` parses to, without running anything: the arguments, or help (with the problem, if any). */
export function parseCommand<Args>(specs: readonly SubcommandSpec<Args>[], text: string): Args | { kind: "help"; problem?: CommandProblem } {
  const split = splitCommand(text);
  if (!split || split.name === "help") return { kind: "help" };
  const spec = commandIndex(specs.map((entry) => ({ spec: entry }))).get(split.name)?.spec;
  if (!spec) return { kind: "help", problem: { type: "unknown_command", subcommand: split.name } };
  const parsed = spec.parse(split.input);
  return parsed.ok ? parsed.args : { kind: "help", problem: parsed.problem };
}
