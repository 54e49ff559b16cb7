import { z } from "zod";
import type { Clock } from "../core/clock.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import { userActor } from "../events/lifecycle.ts";
import type { AccessGuard, Principal } from "../incident/authz.ts";
import type { IncidentLifecycle } from "../incident/lifecycle.ts";
import { jobOptions, postEventJob } from "../incident/lifecycle-jobs.ts";
import { incidentRef, type IncidentDetail } from "../incident/models.ts";
import { getIncidentDetail } from "../incident/service.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { outcomeOf } from "../lib/outbound.ts";
import { jobType } from "../queue/service.ts";
import { onceFor, type SlackApi } from "../slack/api.ts";
import { parsePrivateMetadata } from "../slack/blocks.ts";
import type { Clicker, ViewAnswer } from "../slack/listeners.ts";
import { actionsFor, type ConfiguredAction } from "./actions.ts";
import { REMEDIATION_EVENTS, type RemediationOutcomeStatus } from "./events.ts";
import type { ActionBase, Outcome, Preview, RemediationKind, RemediationProvider } from "./ports.ts";
import { confirmModal, resultMessage, type ButtonValue } from "./views.ts";

/**
 * Remediation, end to end:
 *
 *   button ─▶ who may press? (commander, admins, the action's `allowed`; else refused + action.denied)
 *          ─▶ confirmation modal (opened at once, then filled with what the provider reads)
 *   Run    ─▶ one execution row per modal (its view id: a double submit or a Slack retry adds nothing)
 *             + remediation.requested + remediation.execute job, in one transaction
 *   job    ─▶ REQUESTED → RUNNING, committed before the call; the call; the outcome, the event
 *             and the channel message in one transaction
 *
 * A job that finds its execution RUNNING was interrupted mid-call (a crash,
 * kill -9): it records the outcome as unknown and calls nothing. A second run
 * needs a new confirmation.
 */

const executePayload = z.object({ executionId: z.uuid() });
export const executeJob = jobType("remediation.execute", executePayload);
export const postResultJob = jobType("remediation.post_result", executePayload);

const metadataSchema = z.object({
  incidentId: z.uuid(),
  actionId: z.string().min(1),
  flagState: z.enum(["on", "off"]).optional(),
  target: z.string().optional(),
});

const STATUS_OF: Readonly<Record<RemediationOutcomeStatus, "SUCCEEDED" | "FAILED" | "DRY_RUN" | "APPROVAL_REQUIRED" | "REFUSED" | "UNKNOWN">> = {
  succeeded: "SUCCEEDED",
  failed: "FAILED",
  dry_run: "DRY_RUN",
  approval_required: "APPROVAL_REQUIRED",
  refused: "REFUSED",
  unknown: "UNKNOWN",
};

export interface RemediationDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "openView" | "updateView" | "postMessage" | "displayName">;
  guard: AccessGuard;
  lifecycle: Pick<IncidentLifecycle, "tellUser" | "setStatus">;
  actions: ReadonlyMap<string, ConfiguredAction>;
  providers: ReadonlyMap<RemediationKind, RemediationProvider>;
  /** `remediation.dryRun`: every action only says what it would call. */
  dryRun: boolean;
  clock: Clock;
  wakeJobs(): void;
  logger: Pick<Logger, "warn">;
  /** Hears of each provider call (preview, execute): `firebreak_outbound_calls_total{vendor=<kind>}`. */
  observe: (call: { vendor: string; operation: string; outcome: string; seconds: number }) => void;
}

/** Who may press: the commander, incident admins, and the action's own users and groups. */
export function principalsOf(action: ActionBase): Principal[] {
  return ["commander", "admins", ...action.allowed.map((id): Principal => (id.startsWith("S") ? { group: id } : { user: id }))];
}

function flagStateOf(action: ActionBase): "on" | "off" | undefined {
  const state = (action as ActionBase & { state?: unknown }).state;
  return state === "on" || state === "off" ? state : undefined;
}

export function createRemediationFlows(deps: RemediationDeps) {
  /** An ephemeral answer to the person, in the channel they clicked in (none when Slack said no channel). */
  const tell = async (channel: string | null | undefined, user: string, text: string): Promise<void> => {
    if (channel) await deps.lifecycle.tellUser(undefined, channel, user, text);
  };

  const providerOf = (configured: ConfiguredAction): RemediationProvider => {
    const provider = deps.providers.get(configured.action.kind);
    if (!provider) throw new Error(`no provider for ${configured.action.kind}`);
    return provider;
  };

  /** The incident and the action, if this action belongs to one of its services; otherwise what to tell the person. */
  async function resolve(incidentId: string, actionId: string): Promise<{ incident: IncidentDetail; configured: ConfiguredAction } | { problem: string }> {
    const incident = await getIncidentDetail(deps.prisma, incidentId);
    if (!incident) return { problem: "That incident no longer exists." };
    const configured = actionsFor(deps.actions, incident.services ?? []).find((candidate) => candidate.action.id === actionId);
    if (!configured) return { problem: "That action is no longer configured for this incident's services." };
    if (incident.status === "RESOLVED") return { problem: `${incidentRef(incident.number)} is resolved: reopen it before running a remediation.` };
    return { incident, configured };
  }

  async function authorize(userId: string, incident: IncidentDetail, configured: ConfiguredAction): Promise<string | undefined> {
    return deps.guard.check(userId, `run “${configured.action.label}”`, principalsOf(configured.action), incident);
  }

  /** Times a provider call for the metrics: `ok` when it answered, else what it threw. */
  async function observed<T>(configured: ConfiguredAction, operation: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome = "error";
    try {
      const result = await call();
      outcome = "ok";
      return result;
    } catch (error) {
      outcome = outcomeOf({ error });
      throw error;
    } finally {
      deps.observe({ vendor: configured.action.kind, operation, outcome, seconds: (performance.now() - started) / 1_000 });
    }
  }

  async function preview(configured: ConfiguredAction, flagState: "on" | "off" | undefined): Promise<Preview> {
    try {
      return await observed(configured, "preview", () => providerOf(configured).preview(configured.action, flagState ? { flagState } : {}));
    } catch (error) {
      return { target: configured.service.name, effect: configured.action.label, problem: errorMessage(error), credentials: configured.provider.credentials(configured.action) };
    }
  }

  async function recordOutcome(executionId: string, outcome: Outcome | { status: "unknown"; summary: string }, startedAt: Date | null, tx: Db) {
    const execution = await tx.remediationExecution.findUniqueOrThrow({ where: { id: executionId }, include: { incident: true } });
    const finishedAt = deps.clock.now();
    const durationMs = startedAt ? Math.max(0, finishedAt.getTime() - startedAt.getTime()) : null;
    const link = "link" in outcome && outcome.link ? outcome.link : null;
    const detail = outcome.status === "failed" && outcome.detail ? outcome.detail : null;
    await tx.remediationExecution.update({
      where: { id: executionId },
      data: { status: STATUS_OF[outcome.status], finishedAt, result: { ...outcome }, error: outcome.status === "failed" ? (detail ?? outcome.summary).slice(0, 2_000) : null },
    });
    const params = (execution.params ?? {}) as { target?: string };
    await REMEDIATION_EVENTS["remediation.finished"].record(tx, {
      incidentId: execution.incidentId,
      source: "REMEDIATION",
      actorId: execution.confirmedById,
      occurredAt: finishedAt,
      data: {
        executionId,
        actionId: execution.actionKey,
        label: execution.label,
        kind: execution.kind,
        target: params.target ?? "",
        status: outcome.status,
        summary: outcome.summary,
        link,
        durationMs,
        dryRun: execution.dryRun,
      },
      private: execution.incident.private,
    });
    await postResultJob.enqueue(tx, { executionId }, { ...jobOptions(execution.incident, `chat.postMessage:${execution.incident.channelId ?? `incident:${execution.incidentId}`}`), dedupeKey: `remediation-result:${executionId}` });
  }

  const execute = executeJob.handler({
    maxAttempts: 3,
    // A rollback someone confirmed during an outage does not wait behind Slack's backlog.
    critical: true,
    async handle({ executionId }, context) {
      const execution = await deps.prisma.remediationExecution.findUnique({ where: { id: executionId } });
      if (!execution) return;
      if (execution.status === "RUNNING") {
        // Interrupted between starting the call and recording its answer: never call again by itself.
        await context.complete((tx) =>
          recordOutcome(executionId, { status: "unknown", summary: `Firebreak stopped while the call was under way: whether it took effect is unknown. Check ${execution.kind} before running it again.` }, execution.startedAt, tx),
        );
        deps.wakeJobs();
        return;
      }
      if (execution.status !== "REQUESTED") return;
      const startedAt = deps.clock.now();
      // Committed before the call: from here on, a crash reads as "unknown", never as "not yet run".
      const claimed = await deps.prisma.remediationExecution.updateMany({ where: { id: executionId, status: "REQUESTED" }, data: { status: "RUNNING", startedAt } });
      if (claimed.count !== 1) return;
      const incident = await getIncidentDetail(deps.prisma, execution.incidentId);
      const configured = deps.actions.get(execution.actionKey);
      const params = (execution.params ?? {}) as { flagState?: "on" | "off" };
      let outcome: Outcome;
      if (!incident || !configured) {
        outcome = { status: "failed", summary: "The action is no longer configured; nothing was called.", retryable: false };
      } else {
        const name = (await deps.slack.displayName(execution.confirmedById ?? execution.requestedById).catch(() => undefined)) ?? execution.requestedById;
        try {
          outcome = await observed(configured, "execute", () => providerOf(configured).execute(configured.action, {
            incident: { number: incident.number, title: incident.title, severity: incident.severity, channelId: incident.channelId, channelName: incident.channelName },
            confirmedBy: { userId: execution.confirmedById ?? execution.requestedById, name },
            idempotencyKey: execution.id,
            dryRun: execution.dryRun,
            ...(params.flagState ? { flagState: params.flagState } : {}),
          }));
        } catch (error) {
          outcome = { status: "failed", summary: `The call failed: ${errorMessage(error)}`, retryable: true };
        }
      }
      await context.complete((tx) => recordOutcome(executionId, outcome, startedAt, tx));
      deps.wakeJobs();
    },
  });

  const postResult = postResultJob.handler({
    async handle({ executionId }, context) {
      const execution = await deps.prisma.remediationExecution.findUniqueOrThrow({ where: { id: executionId }, include: { incident: true } });
      const incident = execution.incident;
      if (!incident.channelId) return;
      const result = (execution.result ?? {}) as { status?: string; summary?: string; link?: string };
      const status = (Object.keys(STATUS_OF) as RemediationOutcomeStatus[]).find((key) => STATUS_OF[key] === execution.status) ?? "unknown";
      const configured = deps.actions.get(execution.actionKey);
      const params = (execution.params ?? {}) as { flagState?: "on" | "off" };
      const setTo = params.flagState ?? (configured ? flagStateOf(configured.action) : undefined);
      const message = resultMessage({
        incidentId: incident.id,
        actionId: execution.actionKey,
        label: execution.label,
        status,
        summary: result.summary ?? "",
        link: result.link ?? null,
        confirmedBy: execution.confirmedById ?? execution.requestedById,
        durationMs: execution.startedAt && execution.finishedAt ? execution.finishedAt.getTime() - execution.startedAt.getTime() : null,
        flag: configured?.provider.flag && setTo && !execution.dryRun ? { setTo } : undefined,
        canMarkMonitoring: incident.status === "INVESTIGATING" || incident.status === "IDENTIFIED",
      });
      await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks, once: onceFor(context) });
    },
  });

  return {
    jobs: [execute, postResult] as const,

    /** A remediation button: refuse, or open the confirmation at once and fill it in when the provider has answered. */
    async open(value: ButtonValue, clicker: Clicker): Promise<void> {
      const found = await resolve(value.incidentId, value.actionId);
      if ("problem" in found) return tell(clicker.channelId, clicker.userId, found.problem);
      const { incident, configured } = found;
      const refusal = await authorize(clicker.userId, incident, configured);
      if (refusal) return tell(clicker.channelId ?? incident.channelId, clicker.userId, refusal);
      const facts = {
        incidentRef: incidentRef(incident.number),
        label: configured.action.label,
        kind: configured.action.kind,
        dryRun: deps.dryRun || configured.action.dryRun,
        credentials: configured.provider.credentials(configured.action),
      };
      const metadata: ButtonValue = { incidentId: incident.id, actionId: configured.action.id, ...(value.flagState ? { flagState: value.flagState } : {}) };
      const { viewId } = await deps.slack.openView({ triggerId: clicker.triggerId, view: confirmModal({ ...facts, preview: undefined }, metadata) });
      const read = await preview(configured, value.flagState);
      if (viewId) await deps.slack.updateView({ viewId, view: confirmModal({ ...facts, preview: read }, { ...metadata, target: read.target } as ButtonValue) });
    },

    /** "Run" in the confirmation: one execution per modal, queued with its audit event. */
    async submit(privateMetadata: string, userId: string, viewId: string, channelHint?: string): Promise<ViewAnswer> {
      const parsed = metadataSchema.safeParse(parsePrivateMetadata(privateMetadata));
      if (!parsed.success) return { close: true };
      const found = await resolve(parsed.data.incidentId, parsed.data.actionId);
      if ("problem" in found) {
        await tell(channelHint, userId, found.problem);
        return { close: true };
      }
      const { incident, configured } = found;
      const refusal = await authorize(userId, incident, configured);
      if (refusal) {
        await tell(incident.channelId, userId, refusal);
        return { close: true };
      }
      const dryRun = deps.dryRun || configured.action.dryRun;
      const target = parsed.data.target ?? configured.service.name;
      const created = await deps.prisma.$transaction(async (tx) => {
        const inserted = await tx.remediationExecution.createMany({
          data: [
            {
              incidentId: incident.id,
              actionKey: configured.action.id,
              kind: configured.action.kind,
              label: configured.action.label,
              dryRun,
              params: { target, ...(parsed.data.flagState ? { flagState: parsed.data.flagState } : {}) },
              status: "REQUESTED",
              requestedById: userId,
              confirmedById: userId,
              idempotencyKey: `view:${viewId}`,
            },
          ],
          skipDuplicates: true,
        });
        if (inserted.count === 0) return false; // a double submit, or Slack's retry of it
        const execution = await tx.remediationExecution.findUniqueOrThrow({ where: { idempotencyKey: `view:${viewId}` } });
        const eventId = await REMEDIATION_EVENTS["remediation.requested"].record(tx, {
          incidentId: incident.id,
          source: "SLACK",
          actorId: userId,
          data: { executionId: execution.id, actionId: configured.action.id, label: configured.action.label, kind: configured.action.kind, target, dryRun },
          private: incident.private,
        });
        const options = jobOptions(incident, `chat.postMessage:${incident.channelId ?? `incident:${incident.id}`}`);
        await postEventJob.enqueue(tx, { incidentId: incident.id, eventId: String(eventId) }, options);
        await executeJob.enqueue(tx, { executionId: execution.id }, { dedupeKey: `remediation:${execution.id}`, priority: 1, incidentId: incident.id, maxAttempts: 3 });
        return true;
      });
      if (created) deps.wakeJobs();
      return { close: true };
    },

    /** "Mark Monitoring" after a successful remediation (the mitigated time feeds the post-mortem). */
    async markMonitoring(incidentId: string, clicker: Clicker): Promise<void> {
      const outcome = await deps.lifecycle.setStatus(incidentId, userActor(clicker.userId), "MONITORING", "Mitigated by a remediation", `monitoring:${clicker.triggerId}`);
      if (!outcome.ok) await tell(clicker.channelId, clicker.userId, outcome.message);
    },

    /** For `/incident mitigate` and the header. */
    actionsOf(services: readonly string[]) {
      return actionsFor(deps.actions, services).map((configured) => configured.action);
    },
  };
}

export type RemediationFlows = ReturnType<typeof createRemediationFlows>;
