import { INCIDENT_EVENTS, type IncidentEventType } from "./events.ts";
import type { Db } from "../db/client.ts";
import type { Clock } from "../core/clock.ts";
import { snapshot, sourceOf, userActor, type Actor, type LifecycleBus, type LifecycleEvent } from "../events/lifecycle.ts";
import type { IncidentStatus, Severity } from "../generated/prisma/enums.ts";
import { textOf } from "../events/catalogue.ts";
import type { TimelineEventData } from "../events/models.ts";
import { recordEvent } from "../events/store.ts";
import { MANAGE, type AccessGuard, type ManageAction } from "./authz.ts";
import { STATUS_LABEL, incidentRef, type IncidentDetail } from "./models.ts";
import {
  assignRole,
  claimIdempotencyKey,
  ensureParticipant,
  getIncidentDetail,
  lockIncident,
  updateIncident,
  type IncidentChanges,
} from "./service.ts";
import {
  announceJob,
  createLifecycleJobs,
  rehearseFollowUps,
  enqueueSync,
  ephemeralJob,
  jobOptions,
  postEventJob,
  scheduleReminder,
  threadUpdateJob,
  type LifecycleJobDeps,
} from "./lifecycle-jobs.ts";

/**
 * Everything that changes a running incident. Each operation: check who may
 * do it, then in ONE transaction lock the incident, change it, append a typed
 * timeline event and enqueue the Slack side effects (keep the header, topic
 * and bookmark current; post a notice; thread updates under the
 * announcement). Repeats (double clicks, retries) change nothing twice: a
 * change to the current value is a no-op, and posted updates carry an
 * idempotency key.
 */

export type { Actor } from "../events/lifecycle.ts";

/** The person behind an actor; null for a system (Alertmanager, PagerDuty, a remediation), which no authorization check applies to. */
function personOf(actor: Actor): string | null {
  return actor.kind === "user" ? actor.userId : null;
}

export type Outcome = { ok: true; message: string } | { ok: false; message: string };

/** The lifecycle's jobs' dependencies (lifecycle-jobs.ts), and: */
export interface LifecycleDeps extends LifecycleJobDeps {
  guard: AccessGuard;
  /** Subscribers hear of every change inside its transaction. */
  bus: Pick<LifecycleBus, "publish">;
  clock: Clock;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

type EventSpec = { [K in IncidentEventType]: { type: K; data: TimelineEventData[K]; post?: boolean; thread?: boolean } }[IncidentEventType];

interface ChangePlan {
  changes?: IncidentChanges;
  event: EventSpec;
  /** Header, topic and bookmark show something that changed. */
  sync?: boolean;
  /** (Re)schedule the status-update reminder, counting from the last update, with the current severity's interval. */
  restartReminders?: boolean;
  /** The severity changed: announce if the new one has an announcement channel, invite its notify list. */
  severityChanged?: boolean;
  /** What subscribers hear (the incident after the change is added). */
  publish?: DistributiveOmit<LifecycleEvent, "incident" | "actor">;
  message: string;
}

export function createIncidentLifecycle(deps: LifecycleDeps) {
  const now = () => deps.clock.now();

  /**
   * The shape of every operation: authorise, then lock + plan + apply in one
   * transaction. `plan` returns undefined when there is nothing to do.
   */
  async function change(
    incidentId: string,
    actor: Actor,
    options: { action?: ManageAction; idempotencyKey?: string; unchanged: string },
    plan: (incident: IncidentDetail, tx: Db) => Promise<ChangePlan | undefined> | ChangePlan | undefined,
  ): Promise<Outcome> {
    const person = personOf(actor);
    if (options.action && person !== null) {
      const current = await getIncidentDetail(deps.prisma, incidentId);
      if (!current) return { ok: false, message: "That incident no longer exists." };
      const refusal = await deps.guard.check(person, options.action, MANAGE, current);
      if (refusal) return { ok: false, message: refusal };
    }
    const outcome = await deps.prisma.$transaction(async (tx): Promise<Outcome> => {
      if (options.idempotencyKey) {
        const claim = await claimIdempotencyKey(tx, options.idempotencyKey);
        if (!claim.fresh) return { ok: true, message: "That was already done." };
      }
      const incident = await lockIncident(tx, incidentId);
      const steps = await plan(incident, tx);
      if (!steps) return { ok: true, message: options.unchanged };
      if (steps.changes) await updateIncident(tx, incident.id, steps.changes);
      const after = { ...incident, ...steps.changes };
      const eventId = await recordEvent(tx, {
        incidentId: incident.id,
        type: steps.event.type,
        source: sourceOf(actor),
        actorId: person,
        text: textOf(INCIDENT_EVENTS, steps.event.type, steps.event.data as never),
        data: steps.event.data,
        private: incident.private,
      });
      if (person !== null) await ensureParticipant(tx, incident.id, person);
      if (steps.sync) await enqueueSync(tx, after);
      if (steps.event.post !== false && incident.channelId) {
        await postEventJob.enqueue(tx, { incidentId: incident.id, eventId: String(eventId) }, jobOptions(incident, `chat.postMessage:${incident.channelId}`));
      }
      if (steps.event.thread && !incident.private) {
        await threadUpdateJob.enqueue(tx, { incidentId: incident.id, eventId: String(eventId) }, jobOptions(incident, "announcement"));
      }
      if (steps.restartReminders && after.status !== "RESOLVED") {
        await scheduleReminder(tx, deps.config, after, after.lastStatusUpdateAt ?? after.declaredAt);
      }
      if (steps.publish) await deps.bus.publish(tx, { ...steps.publish, incident: snapshot(after), actor });
      if (steps.changes?.status === "RESOLVED") await deps.bus.publish(tx, { type: "incident.resolved", incident: snapshot(after), actor, eventId: String(eventId) });
      if (steps.severityChanged) {
        if (!incident.announcementTs && incident.channelId) {
          await announceJob.enqueue(tx, { incidentId: incident.id }, jobOptions(after, "announcement", `announce:${incident.id}:${after.severity}`));
        }
      }
      return { ok: true, message: steps.message };
    });
    deps.wakeJobs();
    return outcome;
  }

  function statusPlan(incident: IncidentDetail, status: IncidentStatus, message: string | undefined): ChangePlan | undefined {
    if (incident.status === status && !message) return undefined;
    const at = now();
    const changes: IncidentChanges = { status, lastStatusUpdateAt: at };
    if ((status === "MONITORING" || status === "RESOLVED") && !incident.mitigatedAt) changes.mitigatedAt = at;
    if (status === "RESOLVED") {
      changes.resolvedAt = at;
      if (message) changes.summary = message;
    }
    if (!incident.acknowledgedAt) changes.acknowledgedAt = at;
    const label = STATUS_LABEL[status];
    if (incident.status === status) {
      return {
        changes: { lastStatusUpdateAt: at },
        event: { type: "update.posted", data: { message: message ?? "", status }, thread: true },
        restartReminders: true,
        message: "Update posted.",
      };
    }
    return {
      changes,
      event: {
        type: status === "RESOLVED" ? "incident.resolved" : "status.changed",
        data: status === "RESOLVED" ? { summary: message ?? null } : { from: incident.status, to: status, message: message ?? null },
        thread: true,
      } as EventSpec,
      sync: true,
      restartReminders: true,
      publish: { type: "incident.status_changed", from: incident.status, to: status },
      message: `${incidentRef(incident.number)} is now *${label}*.`,
    };
  }

  return {
    async setStatus(incidentId: string, actor: Actor, status: IncidentStatus, message: string | undefined, idempotencyKey?: string): Promise<Outcome> {
      if (status === "RESOLVED") return this.resolve(incidentId, actor, message, idempotencyKey);
      const current = await getIncidentDetail(deps.prisma, incidentId);
      if (current?.status === "RESOLVED") {
        return { ok: false, message: `${incidentRef(current.number)} is resolved; use \`/incident reopen\` first. Nothing was changed.` };
      }
      return change(incidentId, actor, { unchanged: `Already ${STATUS_LABEL[status].toLowerCase()}.`, ...(idempotencyKey ? { idempotencyKey } : {}) }, (incident) => {
        if (incident.status === "RESOLVED") return undefined;
        return statusPlan(incident, status, message);
      });
    },

    async postUpdate(incidentId: string, actor: Actor, message: string, idempotencyKey?: string): Promise<Outcome> {
      return change(incidentId, actor, { unchanged: "Nothing to post.", ...(idempotencyKey ? { idempotencyKey } : {}) }, (incident) => {
        const at = now();
        return {
          changes: { lastStatusUpdateAt: at, ...(incident.acknowledgedAt ? {} : { acknowledgedAt: at }) },
          event: { type: "update.posted", data: { message, status: incident.status }, thread: true },
          restartReminders: true,
          message: "Update posted.",
        };
      });
    },

    async setSeverity(incidentId: string, actor: Actor, severity: Severity): Promise<Outcome> {
      return change(incidentId, actor, { action: "change severity", unchanged: `Severity is already ${severity}.` }, (incident) => {
        if (incident.severity === severity) return undefined;
        return {
          changes: { severity },
          event: { type: "severity.changed", data: { from: incident.severity, to: severity }, thread: true },
          sync: true,
          // The reminder interval depends on the severity.
          restartReminders: incident.status !== "RESOLVED",
          severityChanged: true,
          publish: { type: "incident.severity_changed", from: incident.severity, to: severity },
          message: `${incidentRef(incident.number)} is now *${severity}*.`,
        };
      });
    },

    async assignCommander(incidentId: string, actor: Actor, userId: string): Promise<Outcome> {
      return change(incidentId, actor, { action: "assign the commander", unchanged: `<@${userId}> is already the commander.` }, async (incident, tx) => {
        if (incident.commanderId === userId) return undefined;
        await assignRole(tx, incident.id, "COMMANDER", userId, personOf(actor));
        return {
          // A person handing over command acknowledges the incident; a system (paging's on-call lookup) does not: PagerDuty's acknowledgement does.
          changes: { commanderId: userId, ...(incident.acknowledgedAt || actor.kind === "system" ? {} : { acknowledgedAt: now() }) },
          event: { type: "commander.assigned", data: { from: incident.commanderId, to: userId } },
          sync: true,
          publish: { type: "incident.role_changed", role: "COMMANDER", from: incident.commanderId, to: userId },
          message: `<@${userId}> is now the commander of ${incidentRef(incident.number)}.`,
        };
      });
    },

    /** The header's "Acknowledge / take command" button: anyone may take an unowned incident. */
    async takeCommand(incidentId: string, userId: string): Promise<Outcome> {
      const actor = userActor(userId);
      const current = await getIncidentDetail(deps.prisma, incidentId);
      if (!current) return { ok: false, message: "That incident no longer exists." };
      if (current.commanderId === userId && current.acknowledgedAt) return { ok: true, message: "You are already the commander." };
      if (current.commanderId && current.commanderId !== userId) return this.assignCommander(incidentId, actor, userId);
      return change(incidentId, actor, { unchanged: "You are already the commander." }, async (incident, tx) => {
        if (incident.commanderId && incident.commanderId !== userId) return undefined;
        await assignRole(tx, incident.id, "COMMANDER", userId, userId);
        const at = now();
        return {
          changes: { commanderId: userId, ...(incident.acknowledgedAt ? {} : { acknowledgedAt: at }) },
          event: { type: "incident.acknowledged", data: { by: userId } },
          sync: true,
          ...(incident.commanderId === userId ? {} : { publish: { type: "incident.role_changed", role: "COMMANDER", from: incident.commanderId, to: userId } as const }),
          message: `You are now the commander of ${incidentRef(incident.number)}.`,
        };
      });
    },

    async assignRole(incidentId: string, actor: Actor, role: "SCRIBE" | "COMMS", userId: string): Promise<Outcome> {
      const label = role === "SCRIBE" ? "scribe" : "comms lead";
      return change(incidentId, actor, { action: "assign roles", unchanged: `<@${userId}> is already the ${label}.` }, async (incident, tx) => {
        const previous = role === "SCRIBE" ? incident.scribeId : incident.commsId;
        if (previous === userId) return undefined;
        await assignRole(tx, incident.id, role, userId, personOf(actor));
        return {
          event: { type: "role.assigned", data: { role, from: previous, to: userId } },
          sync: true,
          publish: { type: "incident.role_changed", role, from: previous, to: userId },
          message: `<@${userId}> is now the ${label} of ${incidentRef(incident.number)}.`,
        };
      });
    },

    async addNote(incidentId: string, actor: Actor, text: string, idempotencyKey?: string): Promise<Outcome> {
      return change(incidentId, actor, { unchanged: "Noted already.", ...(idempotencyKey ? { idempotencyKey } : {}) }, () => ({
        event: { type: "note.added", data: { text }, post: false },
        message: ":memo: Added to the timeline.",
      }));
    },

    async resolve(incidentId: string, actor: Actor, summary: string | undefined, idempotencyKey?: string): Promise<Outcome> {
      return change(incidentId, actor, { action: "resolve", unchanged: "Already resolved.", ...(idempotencyKey ? { idempotencyKey } : {}) }, (incident) => {
        if (incident.status === "RESOLVED") return undefined;
        return statusPlan(incident, "RESOLVED", summary);
      });
    },

    async reopen(incidentId: string, actor: Actor): Promise<Outcome> {
      return change(incidentId, actor, { action: "reopen", unchanged: "It is not resolved." }, (incident) => {
        if (incident.status !== "RESOLVED") return undefined;
        return {
          // resolvedAt is cleared so the incident counts as open; the
          // resolution stays on the timeline, and the next resolve sets it again.
          changes: { status: "INVESTIGATING", resolvedAt: null, lastStatusUpdateAt: now() },
          event: { type: "incident.reopened", data: { previousResolvedAt: incident.resolvedAt?.toISOString() ?? null }, thread: true },
          sync: true,
          restartReminders: true,
          publish: { type: "incident.reopened" },
          message: `${incidentRef(incident.number)} is open again (Investigating).`,
        };
      });
    },

    /** Invites people to the incident channel (the invite job records them as participants). */
    async invite(incidentId: string, actor: Actor, userIds: string[], enqueueInvite: (tx: Db, incident: IncidentDetail, users: string[]) => Promise<void>, idempotencyKey?: string): Promise<Outcome> {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident?.channelId) return { ok: false, message: "The incident channel is not ready yet; try again in a moment." };
      const repeated = await deps.prisma.$transaction(async (tx) => {
        if (idempotencyKey && !(await claimIdempotencyKey(tx, idempotencyKey)).fresh) return true;
        const person = personOf(actor);
        if (person !== null) await ensureParticipant(tx, incident.id, person);
        await enqueueInvite(tx, incident, userIds);
        return false;
      });
      if (repeated) return { ok: true, message: "That was already done." };
      deps.wakeJobs();
      return { ok: true, message: `Inviting ${userIds.map((id) => `<@${id}>`).join(", ")}…` };
    },

    /** Ephemeral reply for interactions that have no synchronous response (buttons). */
    async tellUser(tx: Db | undefined, channel: string, user: string, text: string): Promise<void> {
      const run = async (db: Db) => ephemeralJob.enqueue(db, { channel, user, text: text.slice(0, 3000) }, { rateKey: `chat.postEphemeral:${channel}`, priority: 5 });
      if (tx) await run(tx);
      else await deps.prisma.$transaction(async (inner) => run(inner));
      deps.wakeJobs();
    },

    jobs: createLifecycleJobs(deps, now),
    /** The start-up rehearsal of the channel's follow-up jobs (see IncidentFlows.rehearse). */
    rehearseFollowUps: (tx: Db, incidentId: string) => rehearseFollowUps(deps, tx, incidentId),
  };
}

export type IncidentLifecycle = ReturnType<typeof createIncidentLifecycle>;
