import type { Logger } from "../lib/logger.ts";
import type { SlackApi } from "../slack/api.ts";

/**
 * Who may change severity, resolve, reopen and assign roles: the incident's
 * commander, or an incident admin from the config (user ids, or user group
 * ids whose members are looked up in Slack and cached for a minute). When the
 * lookup fails, membership is denied (fail closed) and the failure logged.
 */
export type ManageAction = "change severity" | "resolve" | "reopen" | "assign the commander" | "assign roles";

export interface Authorizer {
  canManage(userId: string, incident: { commanderId: string | null }): Promise<boolean>;
  isAdmin(userId: string): Promise<boolean>;
}

export interface AuthorizerDeps {
  admins: readonly string[];
  slack: Pick<SlackApi, "usergroupMembers">;
  logger: Pick<Logger, "warn">;
  cacheMs?: number;
  now?: () => number;
}

export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const users = new Set(deps.admins.filter((id) => !id.startsWith("S")));
  const groups = deps.admins.filter((id) => id.startsWith("S"));
  const cacheMs = deps.cacheMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { members: Set<string>; until: number }>();

  async function members(groupId: string): Promise<Set<string>> {
    const cached = cache.get(groupId);
    if (cached && cached.until > now()) return cached.members;
    try {
      const list = new Set(await deps.slack.usergroupMembers(groupId));
      cache.set(groupId, { members: list, until: now() + cacheMs });
      return list;
    } catch (error) {
      deps.logger.warn({ err: error, usergroup: groupId }, "could not read incident admin user group; treating as not a member");
      return new Set();
    }
  }

  async function isAdmin(userId: string): Promise<boolean> {
    if (users.has(userId)) return true;
    for (const group of groups) if ((await members(group)).has(userId)) return true;
    return false;
  }

  return {
    isAdmin,
    async canManage(userId, incident) {
      return incident.commanderId === userId || isAdmin(userId);
    },
  };
}
