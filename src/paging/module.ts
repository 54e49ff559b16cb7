import type { Core, FirebreakModule } from "../core/module.ts";
import { outboundObserver } from "../http/metrics.ts";
import type { IncidentServices } from "../incident/module.ts";
import { createPagingWebhookFlows } from "./acknowledge.ts";
import { createPagingCommands } from "./commands.ts";
import { PAGING_EVENTS, type PagingEventType } from "./events.ts";
import { createPagingFlows } from "./flows.ts";
import type { Pager } from "./ports.ts";
import { createPagerDuty } from "./pagerduty.ts";
import { registerPagerDutyWebhook } from "./webhook.ts";

/**
 * Paging through PagerDuty: pages go out when an incident is declared in (or
 * escalated into) a paging severity for a service with a PagerDuty
 * integration; the on-call engineer is brought in; PagerDuty's webhooks land
 * on the timeline. Off (nothing paged) until a service has `pagerduty`.
 */
export function createPagingModule(core: Core, incident: Pick<IncidentServices, "flows" | "lifecycle">, options: { pager?: Pager } = {}) {
  const { config, fileConfig, logger } = core;
  const pd = config.pagerduty;
  const pager = options.pager ?? createPagerDuty({ token: pd.token, apiUrl: pd.apiUrl, eventsUrl: pd.eventsUrl, timeoutMs: pd.timeoutMs, outbound: { observe: outboundObserver(core.metrics) } });
  const restApi = pd.token !== undefined;
  const flows = createPagingFlows({
    prisma: core.prisma,
    pager,
    slack: core.slack,
    config: fileConfig,
    lifecycle: incident.lifecycle,
    flows: incident.flows,
    clock: core.clock,
    wakeJobs: core.wakeJobs,
    teamId: core.teamId,
    restApi,
    delayWarningMs: pd.delayWarningMs,
  });
  const webhooks = createPagingWebhookFlows({ prisma: core.prisma, config: fileConfig, clock: core.clock, wakeJobs: core.wakeJobs });
  const paged = fileConfig.services.filter((service) => service.pagerduty);

  const module: FirebreakModule<PagingEventType> = {
    name: "paging",
    events: PAGING_EVENTS,
    jobs: flows.jobs,
    subcommands: createPagingCommands({ prisma: core.prisma, flows, config: fileConfig, restApi }),
    subscribers: [flows.subscriber],
    routes: (server) => {
      if (pd.webhookSecret) {
        registerPagerDutyWebhook(server, { secret: pd.webhookSecret, flows: webhooks, logger: logger.child({ component: "pagerduty-webhook" }) });
      } else if (paged.length > 0) {
        logger.warn("the PagerDuty webhook is off: set PAGERDUTY_WEBHOOK_SECRET to record acknowledgements from PagerDuty");
      }
    },
  };
  if (paged.length > 0 && !restApi && paged.some((service) => service.pagerduty?.escalationPolicy)) {
    logger.warn("PAGERDUTY_TOKEN is not set: pages go out, but nobody on call is looked up or made commander");
  }
  return { module, flows };
}
