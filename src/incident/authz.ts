import type { PrismaClient } from "../db/client.ts";
import { INCIDENT_EVENTS } from "./events.ts";
import type { Logger } from "../lib/logger.ts";
import type { SlackApi } from "../slack/api.ts";
import { incidentRef } from "./models.ts";

/**
 * Authorization as policy: a rule names who may do an action on an incident
 * (actor x action x incident). Principals are the incident's roles, the
 * incident admins from the config, named users and user groups (members are
 * looked up in Slack and cached for a minute; when a lookup fails,
 * membership is denied, fail closed, and the failure logged). One place
 * (`createAccessGuard`) builds the refusal and records `action.denied`.
 */
export type Principal = "commander" | "scribe" | "comms" | "admins" | { user: string } | { group: string };

/** The incident's own actions: the commander or an incident admin. */
export const MANAGE: readonly Principal[] = ["commander", "admins"];
/** Correcting the timeline: also the scribe. */
export const EDIT_TIMELINE: readonly Principal[] = ["commander", "scribe", "admins"];

export type ManageAction = "change severity" | "resolve" | "reopen" | "assign the commander" | "assign roles";

/** The incident's role holders, as the rules see them. */
export interface IncidentRoles {
  commanderId: string | null;
  scribeId?: string | null;
  commsId?: string | null;
}

export interface Authorizer {
  /** Whether `userId` is one of `allowed` on this incident. */
  allows(userId: string, allowed: readonly Principal[], incident: IncidentRoles): Promise<boolean>;
  canManage(userId: string, incident: IncidentRoles): Promise<boolean>;
  isAdmin(userId: string): Promise<boolean>;
}

/** A principal as people read it in a refusal ("the commander (@alice)", "members of @sre"). */
function describePrincipal(principal: Principal, incident: IncidentRoles): string {
  if (principal === "commander") return `the commander${incident.commanderId ? ` (<@${incident.commanderId}>)` : ""}`;
  if (principal === "scribe") return "the scribe";
  if (principal === "comms") return "the comms lead";
  if (principal === "admins") return "an incident admin";
  return "user" in principal ? `<@${principal.user}>` : `members of <!subteam^${principal.group}>`;
}

/** "Only the commander (<@U1>), the scribe or an incident admin can resolve on INC-7." */
export function refusalReason(allowed: readonly Principal[], incident: IncidentRoles & { number: number }, action: string): string {
  const names = allowed.map((principal) => describePrincipal(principal, incident));
  const who = names.length <= 1 ? (names[0] ?? "nobody") : `${names.slice(0, -1).join(", ")} or ${names.at(-1) ?? ""}`;
  return `Only ${who} can ${action} on ${incidentRef(incident.number)}.`;
}

export interface AccessGuard {
  /**
   * Undefined when `userId` may do `action`; otherwise the refusal to show them,
   * after recording `action.denied` on the incident's timeline.
   */
  check(userId: string, action: string, allowed: readonly Principal[], incident: IncidentRoles & { id: string; number: number }): Promise<string | undefined>;
}

export function createAccessGuard(deps: { prisma: PrismaClient; authorizer: Pick<Authorizer, "allows"> }): AccessGuard {
  return {
    async check(userId, action, allowed, incident) {
      if (await deps.authorizer.allows(userId, allowed, incident)) return undefined;
      const reason = refusalReason(allowed, incident, action);
      await deps.prisma.$transaction(async (tx) => {
        await INCIDENT_EVENTS["action.denied"].record(tx, { incidentId: incident.id, source: "SLACK", actorId: userId, data: { action, reason } });
      });
      return `:no_entry: ${reason} Nothing was changed.`;
    },
  };
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

  async function allows(userId: string, allowed: readonly Principal[], incident: IncidentRoles): Promise<boolean> {
    for (const principal of allowed) {
      if (principal === "commander" && incident.commanderId === userId) return true;
      if (principal === "scribe" && incident.scribeId === userId) return true;
      if (principal === "comms" && incident.commsId === userId) return true;
      if (typeof principal === "object" && "user" in principal && principal.user === userId) return true;
    }
    for (const principal of allowed) {
      if (principal === "admins" && (await isAdmin(userId))) return true;
      if (typeof principal === "object" && "group" in principal && (await members(principal.group)).has(userId)) return true;
    }
    return false;
  }

  return {
    isAdmin,
    allows,
    canManage: (userId, incident) => allows(userId, MANAGE, incident),
  };
}
