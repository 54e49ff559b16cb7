import { z } from "zod";
import type { Clock } from "../core/clock.ts";
import type { HeaderIncident } from "../core/module.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import { pinHeaderJob } from "../incident/flows.ts";
import { severityPriority } from "../incident/lifecycle-jobs.ts";
import { incidentRef, type IncidentDetail } from "../incident/models.ts";
import { getIncidentDetail, setBookmark, setHeaderMessage } from "../incident/service.ts";
import { bookmarkTitle, incidentHeader } from "../incident/views.ts";
import { PermanentOutboundError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { jobType } from "../queue/service.ts";
import { onceFor, type MessageOnce, type SlackApi } from "../slack/api.ts";
import { showsCurrent } from "./compare.ts";
import { RECONCILE_EVENTS, driftText } from "./events.ts";
import { BOOKMARK_EMOJI, type ChannelBookmark, type Drift, type DriftCheck } from "./models.ts";
import type { ChannelReads } from "./ports.ts";
import { checksInFlight, hasWorkInFlight, nextTarget, openReports, purgeFinishedRounds, type ReconcileTarget } from "./service.ts";

/**
 * The reconciler: compares each open incident's channel, header and bookmark
 * in Slack with the database, repairs what Firebreak owns, and reports what
 * only a person can fix, once per drift.
 *
 *   maintenance (every replica, each sweep) ─▶ reconcile.round   (one per interval: its dedupe key names the slot)
 *                                               └▶ reconcile.check (incident 1) ─▶ reconcile.check (incident 2) ─▶ ...
 *
 * The checks run one after the other, each enqueued by the previous one at
 * most `checksPerMinute` a minute, so a round never bursts Slack whatever the
 * number of incidents, and picks up where it was after a crash. A check
 * shares its channel's `sync:` rate key with the incident's header and
 * bookmark updates (incident/lifecycle-jobs.ts), so the two never run at once.
 */

export const ROUND_KIND = "reconcile.round";
export const CHECK_KIND = "reconcile.check";
const roundId = z.string().min(1).max(100);
export const reconcileRoundJob = jobType(ROUND_KIND, z.object({ round: roundId }));
export const reconcileCheckJob = jobType(CHECK_KIND, z.object({ round: roundId, incidentId: z.uuid(), number: z.number().int().positive() }));
const OWN_KINDS = [ROUND_KIND, CHECK_KIND] as const;

/** Below the incidents' own work (10-40 by severity, 100 by default): drift waits for what people are doing. */
const PRIORITY = 150;
/** Rounds share one rate key: a late round never runs beside the next one. */
const ROUND_RATE_KEY = "reconcile.round";

export interface ReconcileConfig {
  /** A round every this many milliseconds; 0: no rounds are scheduled. */
  intervalMs: number;
  checksPerMinute: number;
}

export interface ReconcileDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "postMessage" | "updateMessage" | "permalink" | "addBookmark" | "editBookmark">;
  reads: ChannelReads;
  /** `firebreak_reconcile_drift_total{check,outcome}`. */
  drift: { inc(labels: { check: DriftCheck; outcome: "repaired" | "reported" }): void };
  clock: Clock;
  config: ReconcileConfig;
  wakeJobs(): void;
  /** Blocks other capabilities add to the header (see Core.headerBlocks). */
  headerBlocks: (incident: HeaderIncident) => readonly unknown[];
}

/** What a check found that is recorded when it completes (repairs are recorded as they happen). */
interface Findings {
  reports: Drift[];
  cleared: Drift[];
}

type Checked = IncidentDetail & { channelId: string; headerMessageTs: string };

function permanent(error: unknown): error is PermanentOutboundError {
  return error instanceof PermanentOutboundError;
}

/** The permalink of the header holds its ts without the dot (`…/archives/C…/p1700000000000100`). */
function linksTo(link: string, ts: string): boolean {
  return link.includes(`/p${ts.replace(".", "")}`);
}

export function createReconcileFlows(deps: ReconcileDeps) {
  const spacingMs = Math.ceil(60_000 / deps.config.checksPerMinute);
  let scopeWarned = false;

  async function enqueueCheck(tx: Db, round: string, target: ReconcileTarget, runAt: Date): Promise<void> {
    await reconcileCheckJob.enqueue(tx, { round, incidentId: target.id, number: target.number }, {
      dedupeKey: `reconcile:check:${round}:${target.id}`,
      // The rate key of the incident's header, topic and bookmark updates (lifecycle-jobs.ts enqueueSync).
      rateKey: `sync:${target.channelId}`,
      priority: PRIORITY,
      incidentId: target.id,
      maxAttempts: 5,
      runAt,
    });
  }

  async function recordDrift(tx: Db, incident: { id: string; private: boolean }, drift: Drift, round: string): Promise<void> {
    await RECONCILE_EVENTS["channel.drift"].record(tx, {
      incidentId: incident.id,
      source: "SYSTEM",
      data: drift,
      private: incident.private,
      // One finding per check per round, whichever replica (or retry) records it.
      sourceRef: `reconcile:${round}:${drift.check}`,
    });
  }

  /** Compares one incident with Slack; repairs as it goes (each repair committed with its event), returns the rest. */
  async function check(incident: Checked, round: string, log: Logger, once: MessageOnce): Promise<Findings> {
    const channelId = incident.channelId;
    const open = await openReports(deps.prisma, incident.id);
    const findings: Findings = { reports: [], cleared: [] };
    const unrepaired = (check: DriftCheck, detail: string | null = null) => {
      if (!open.has(check)) findings.reports.push({ check, outcome: "reported", channelId, detail });
    };
    const fine = (...checks: DriftCheck[]) => {
      for (const check of checks) if (open.has(check)) findings.cleared.push({ check, outcome: "cleared", channelId, detail: null });
    };
    const repaired = async (check: DriftCheck, record: (tx: Db) => Promise<void>) => {
      const drift: Drift = { check, outcome: "repaired", channelId, detail: null };
      await deps.prisma.$transaction(async (tx) => {
        await record(tx);
        await recordDrift(tx, incident, drift, round);
      });
      deps.drift.inc({ check, outcome: "repaired" });
      log.info({ check, channel: channelId }, `reconcile: ${driftText(drift)}`);
    };
    /** A repair Slack refuses for good is reported like drift Firebreak cannot repair. */
    const attempt = async (check: DriftCheck, repair: () => Promise<void>): Promise<void> => {
      try {
        await repair();
      } catch (error) {
        if (!permanent(error)) throw error;
        unrepaired(check, error.remoteCode);
      }
    };

    // 1. The channel (conversations.info): nothing else can be checked without it.
    const channel = await deps.reads.channel(channelId);
    if (!channel.exists) {
      unrepaired("channel_missing");
      return findings;
    }
    fine("channel_missing");
    if (channel.archived) {
      unrepaired("channel_archived");
      return findings;
    }
    fine("channel_archived");
    if (!channel.member) {
      unrepaired("bot_not_member");
      return findings;
    }
    fine("bot_not_member");

    // 2. The header (conversations.history of its ts), compared with what the header view renders now.
    let headerTs = incident.headerMessageTs;
    const header = incidentHeader(incident, deps.headerBlocks(incident));
    const posted = await deps.reads.message(channelId, headerTs);
    if (!posted) {
      await attempt("header_missing", async () => {
        // Posted once, also when this job runs again after its answer was lost (see SlackApi.postMessage).
        const message = await deps.slack.postMessage({ channel: channelId, text: header.text, blocks: header.blocks, once });
        headerTs = message.ts;
        await repaired("header_missing", async (tx) => {
          await setHeaderMessage(tx, incident.id, message.ts);
          await pinHeaderJob.enqueue(tx, { incidentId: incident.id }, {
            dedupeKey: `pin_header:${incident.id}:${message.ts}`,
            rateKey: `pins.add:${channelId}`,
            priority: severityPriority(incident.severity),
            incidentId: incident.id,
          });
        });
        deps.wakeJobs();
      });
    } else if (!showsCurrent(header, posted)) {
      await attempt("header_outdated", async () => {
        await deps.slack.updateMessage({ channel: channelId, ts: headerTs, text: header.text, blocks: header.blocks });
        await repaired("header_outdated", async () => undefined);
      });
    } else {
      fine("header_missing", "header_outdated");
    }

    // 3. The bookmark (bookmarks.list): Firebreak's (its stored id, or one titled for this incident) with the current title and link.
    let bookmarks: ChannelBookmark[];
    try {
      bookmarks = await deps.reads.bookmarks(channelId);
    } catch (error) {
      if (!(permanent(error) && error.remoteCode === "missing_scope")) throw error;
      if (!scopeWarned) log.warn("reconcile: the bookmark is not checked: the Slack app lacks the bookmarks:read scope (add it to the app and reinstall)");
      scopeWarned = true;
      return findings;
    }
    const title = bookmarkTitle(incident);
    const ours = bookmarks.find((bookmark) => bookmark.id === incident.bookmarkId) ?? bookmarks.find((bookmark) => bookmark.title.startsWith(`${incidentRef(incident.number)} · `));
    if (!ours) {
      await attempt("bookmark_missing", async () => {
        const link = await deps.slack.permalink({ channel: channelId, ts: headerTs });
        const added = await deps.slack.addBookmark({ channel: channelId, title, link, emoji: BOOKMARK_EMOJI });
        await repaired("bookmark_missing", (tx) => setBookmark(tx, incident.id, added.id));
      });
    } else if (ours.title !== title || !linksTo(ours.link, headerTs)) {
      await attempt("bookmark_outdated", async () => {
        const link = await deps.slack.permalink({ channel: channelId, ts: headerTs });
        await deps.slack.editBookmark({ channel: channelId, bookmarkId: ours.id, title, link, emoji: BOOKMARK_EMOJI });
        await repaired("bookmark_outdated", (tx) => setBookmark(tx, incident.id, ours.id));
      });
    } else {
      // A bookmark added by an attempt that died before storing its id is adopted as it is.
      if (ours.id !== incident.bookmarkId) await setBookmark(deps.prisma, incident.id, ours.id);
      fine("bookmark_missing", "bookmark_outdated");
    }
    return findings;
  }

  const round = reconcileRoundJob.handler({
    maxAttempts: 3,
    async handle({ round }, context) {
      const inFlight = await checksInFlight(deps.prisma, CHECK_KIND);
      if (inFlight > 0) {
        context.logger.info({ round }, "reconcile: the previous round is still checking incidents; this round is skipped");
        return;
      }
      const first = await nextTarget(deps.prisma, 0);
      if (!first) return;
      await context.complete(async (tx) => enqueueCheck(tx, round, first, new Date()));
      deps.wakeJobs();
    },
  });

  const checkIncident = reconcileCheckJob.handler({
    maxAttempts: 5,
    async handle({ round, incidentId, number }, context) {
      const log = context.logger.child({ round, incident: incidentRef(number) });
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      let findings: Findings = { reports: [], cleared: [] };
      if (incident?.status !== "RESOLVED" && incident?.channelId && incident.headerMessageTs) {
        const target = { ...incident, channelId: incident.channelId, headerMessageTs: incident.headerMessageTs };
        if (await hasWorkInFlight(deps.prisma, incidentId, OWN_KINDS, () => new Date())) {
          log.debug("reconcile: the incident's own jobs are under way; checked next round");
        } else {
          try {
            findings = await check(target, round, log, onceFor(context, "reconcile-header"));
          } catch (error) {
            // Slack refusing a read for good (not a 429, not an outage) must not stop the round.
            if (!permanent(error)) throw error;
            log.warn({ err: error }, "reconcile: could not check the incident; the next round tries again");
          }
        }
      }
      const next = await nextTarget(deps.prisma, number);
      await context.complete(async (tx) => {
        if (incident) for (const drift of [...findings.reports, ...findings.cleared]) await recordDrift(tx, incident, drift, round);
        if (next) await enqueueCheck(tx, round, next, new Date(Date.now() + spacingMs));
      });
      for (const drift of findings.reports) {
        deps.drift.inc({ check: drift.check, outcome: "reported" });
        log.warn({ check: drift.check, channel: drift.channelId, detail: drift.detail }, `reconcile: ${driftText(drift)}`);
      }
      for (const drift of findings.cleared) log.info({ check: drift.check, channel: drift.channelId }, `reconcile: ${driftText(drift)}`);
      if (next) deps.wakeJobs();
    },
  });

  /** Every replica asks for the current slot's round at each sweep; its dedupe key lets one through. */
  async function scheduleRound(): Promise<number> {
    const { intervalMs } = deps.config;
    if (intervalMs <= 0) return 0;
    const slot = new Date(Math.floor(deps.clock.now().getTime() / intervalMs) * intervalMs).toISOString();
    await reconcileRoundJob.enqueue(deps.prisma, { round: slot }, { dedupeKey: `reconcile:round:${slot}`, rateKey: ROUND_RATE_KEY, priority: PRIORITY, maxAttempts: 3 });
    return 0;
  }

  /** Finished rounds' jobs, an hour (or two intervals) after they finished. */
  function purgeOldRounds(): Promise<number> {
    return purgeFinishedRounds(deps.prisma, OWN_KINDS, new Date(Date.now() - Math.max(60 * 60_000, 2 * deps.config.intervalMs)));
  }

  return {
    jobs: [round, checkIncident] as const,
    maintenance: [
      { name: "reconcile: schedule this interval's round", run: scheduleRound },
      { name: "reconcile: finished rounds", run: purgeOldRounds },
    ],
  };
}
