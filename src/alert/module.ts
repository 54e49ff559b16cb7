import { Gauge } from "prom-client";
import type { Core, FirebreakModule } from "../core/module.ts";
import type { IncidentServices } from "../incident/module.ts";
import { createAlertCommands } from "./commands.ts";
import { ALERT_EVENTS } from "./events.ts";
import { createAlertFlows } from "./flows.ts";
import { processDeliveryJob } from "./jobs.ts";
import { createDeliveryStore } from "./service.ts";
import { registerAlertListeners } from "./slack.ts";
import { registerAlertmanagerWebhook } from "./webhook.ts";

/** Alertmanager's webhook, grouping, routing, triage posts and alert-declared incidents. */
export function createAlertModule(core: Core, incident: Pick<IncidentServices, "flows" | "lifecycle">) {
  const { config, logger } = core;
  const deliveries = createDeliveryStore({ sql: core.sql, jobKind: processDeliveryJob.kind });
  const alerts = createAlertFlows({
    prisma: core.prisma,
    deliveries,
    config: core.fileConfig,
    flows: incident.flows,
    lifecycle: incident.lifecycle,
    slack: core.slack,
    metrics: core.metrics,
    logger: logger.child({ component: "alerts" }),
    wakeJobs: core.wakeJobs,
    now: () => core.clock.now(),
    foreground: core.foreground,
  });
  // The ingest backlog, for dashboards and alerts on Firebreak itself (read at scrape time).
  new Gauge({
    name: "firebreak_alert_deliveries_waiting",
    help: "Alertmanager deliveries accepted and waiting for their insert statement",
    registers: [core.metrics.registry],
    collect() {
      this.set(alerts.ingestStats().waiting);
    },
  });
  new Gauge({
    name: "firebreak_alert_delivery_oldest_wait_seconds",
    help: "How long the oldest waiting Alertmanager delivery has waited to be stored",
    registers: [core.metrics.registry],
    collect() {
      this.set(alerts.ingestStats().oldestWaitMs / 1_000);
    },
  });

  const module: FirebreakModule<keyof typeof ALERT_EVENTS> = {
    name: "alert",
    events: ALERT_EVENTS,
    jobs: alerts.jobs,
    subcommands: createAlertCommands(alerts),
    slack: (app) => registerAlertListeners(app, alerts),
    routes: (server) => {
      if (config.alertmanager) {
        registerAlertmanagerWebhook(server, { auth: config.alertmanager, flows: alerts, logger: logger.child({ component: "alertmanager-webhook" }) });
        if (config.alertmanager.kind === "insecure") logger.warn("the Alertmanager webhook accepts unauthenticated requests (ALERTMANAGER_ALLOW_INSECURE=true)");
      } else {
        logger.warn("the Alertmanager webhook is off: set ALERTMANAGER_TOKEN (or ALERTMANAGER_USERNAME and ALERTMANAGER_PASSWORD) to receive alerts");
      }
    },
    maintenance: [{ name: "alert deliveries older than the retention", run: () => alerts.purgeOldDeliveries(config.alertDeliveryRetentionDays) }],
  };
  return { module, alerts };
}
