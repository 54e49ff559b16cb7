import { Counter } from "prom-client";
import type { Core, FirebreakModule } from "../core/module.ts";
import { RECONCILE_EVENTS, type ReconcileEventType } from "./events.ts";
import { createReconcileFlows } from "./flows.ts";
import { DRIFT_CHECKS } from "./models.ts";

/**
 * The reconciler: on a schedule (RECONCILE_INTERVAL_SECONDS), one replica
 * compares every open incident's channel, header and bookmark in Slack with
 * the database; it repairs the header and the bookmark, and reports on the
 * timeline, in the log and in `firebreak_reconcile_drift_total` what only a
 * person can fix (a deleted or archived channel), once per drift.
 */
export function createReconcileModule(core: Pick<Core, "config" | "prisma" | "slack" | "logger" | "metrics" | "clock" | "wakeJobs" | "headerBlocks">): FirebreakModule<ReconcileEventType> {
  const drift = new Counter({
    name: "firebreak_reconcile_drift_total",
    help: "Drift between the database and Slack found by the reconciler, by check and outcome (repaired, or reported for a person to fix: counted once per drift)",
    labelNames: ["check", "outcome"],
    registers: [core.metrics.registry],
  });
  // Every series from the start, so that rate() and alerts see the first drift.
  for (const check of DRIFT_CHECKS) for (const outcome of ["repaired", "reported"] as const) drift.inc({ check, outcome }, 0);
  const logger = core.logger.child({ component: "reconcile" });
  const flows = createReconcileFlows({
    prisma: core.prisma,
    slack: core.slack,
    reads: { channel: (id) => core.slack.channelInfo(id), message: (channel, ts) => core.slack.topLevelMessage({ channel, ts }), bookmarks: (id) => core.slack.listBookmarks(id) },
    drift,
    clock: core.clock,
    config: core.config.reconcile,
    wakeJobs: core.wakeJobs,
    headerBlocks: core.headerBlocks,
  });
  if (core.config.reconcile.intervalMs === 0) logger.info("the reconciler is off (RECONCILE_INTERVAL_SECONDS=0)");
  return {
    name: "reconcile",
    events: RECONCILE_EVENTS,
    jobs: flows.jobs,
    maintenance: flows.maintenance,
  };
}
