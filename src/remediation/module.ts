import type { Core, FirebreakModule } from "../core/module.ts";
import { outboundObserver } from "../http/metrics.ts";
import type { IncidentServices } from "../incident/module.ts";
import { loadActions } from "./actions.ts";
import { createRemediationCommands } from "./commands.ts";
import { REMEDIATION_EVENTS, type RemediationEventType } from "./events.ts";
import { createRemediationFlows } from "./flows.ts";
import type { RemediationKind, RemediationProvider } from "./ports.ts";
import { registerRemediationListeners } from "./slack.ts";
import { actionButtons } from "./views.ts";

/**
 * Remediation: rollback and feature-flag buttons in the incident channel.
 * Its configuration (each service's `actions`) is checked here, against each
 * kind's own fields, when Firebreak starts.
 */
export function createRemediationModule(core: Core, incident: Pick<IncidentServices, "lifecycle" | "guard">) {
  const { config, fileConfig, logger } = core;
  const actions = loadActions(fileConfig, config.configFile ?? "configuration");
  const providers = new Map<RemediationKind, RemediationProvider>();
  for (const configured of actions.values()) {
    if (!providers.has(configured.action.kind)) providers.set(configured.action.kind, configured.provider.create({ secrets: config.secret, timeoutMs: config.remediationTimeoutMs }));
    for (const name of configured.provider.credentials(configured.action)) {
      if (!config.secret(name)) logger.warn({ action: configured.action.id, variable: name }, "a remediation action names an environment variable that is not set: pressing it will say so");
    }
  }
  const flows = createRemediationFlows({
    prisma: core.prisma,
    slack: core.slack,
    guard: incident.guard,
    lifecycle: incident.lifecycle,
    actions,
    providers,
    dryRun: fileConfig.remediation.dryRun,
    clock: core.clock,
    wakeJobs: core.wakeJobs,
    logger: logger.child({ component: "remediation" }),
    observe: outboundObserver(core.metrics),
  });

  const module: FirebreakModule<RemediationEventType> = {
    name: "remediation",
    events: REMEDIATION_EVENTS,
    jobs: flows.jobs,
    subcommands: createRemediationCommands({ prisma: core.prisma, flows }),
    slack: (app) => registerRemediationListeners(app, flows),
    header: (shown) => actionButtons(shown.id, flows.actionsOf(shown.services ?? [])),
  };
  return { module, flows };
}
