import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import type { ChannelsReader, UsergroupsApi, UsersApi } from "./state.ts";

/**
 * What Slack sends as a slash command's `text` for what a person typed. With
 * the command's "Escape channels, users, and links sent to your app" on
 * (`should_escape: true` in the manifest), Slack turns what it recognises into
 * wire syntax: `@alice` -> `<@U…|alice>`, `#checkout` -> `<#C…|checkout>`,
 * `@channel`/`@here`/`@everyone` -> `<!channel>`…, `@sre` (a user group
 * handle) -> `<!subteam^S…|@sre>`, `https://x` -> `<https://x>`. With it off,
 * the text arrives as typed. Names Slack does not know stay as typed.
 */
export function escapeCommandText(typed: string, escape: boolean, workspace: { users: UsersApi; channels: ChannelsReader; usergroups: UsergroupsApi }): string {
  if (!escape) return typed;
  return typed.replace(/(^|\s)(@[\w.-]+|#[\w-]+|https?:\/\/[^\s<>]+)/g, (_whole, lead: string, token: string) => `${lead}${escapeToken(token, workspace)}`);
}

function escapeToken(token: string, workspace: { users: UsersApi; channels: ChannelsReader; usergroups: UsergroupsApi }): string {
  if (/^https?:\/\//.test(token)) return `<${token}>`;
  if (token.startsWith("#")) {
    const channel = workspace.channels.byName(token.slice(1));
    return channel ? `<#${channel.id}|${channel.name}>` : token;
  }
  const name = token.slice(1);
  if (name === "channel" || name === "here" || name === "everyone") return `<!${name}>`;
  const user = workspace.users.byName(name);
  if (user) return `<@${user.id}|${user.name}>`;
  const group = workspace.usergroups.get(name);
  return group ? `<!subteam^${group.id}|@${group.handle}>` : token;
}

/** The manifest's `should_escape` for a command (what the fake Slack sends by default). */
export function manifestEscapes(command = "/incident", path = resolve(import.meta.dirname, "../../../manifest.yml")): boolean {
  const manifest = parse(readFileSync(path, "utf8")) as { features?: { slash_commands?: Array<{ command?: string; should_escape?: boolean }> } };
  return manifest.features?.slash_commands?.find((entry) => entry.command === command)?.should_escape === true;
}
