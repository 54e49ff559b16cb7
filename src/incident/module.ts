import type { Core, FirebreakModule } from "../core/module.ts";
import { createAccessGuard, createAuthorizer } from "./authz.ts";
import { createIncidentCommands } from "./command-handler.ts";
import { INCIDENT_EVENTS, type IncidentEventType } from "./events.ts";
import { createIncidentFlows } from "./flows.ts";
import { createIncidentInteractions } from "./interactions.ts";
import { createIncidentLifecycle } from "./lifecycle.ts";
import { registerIncidentListeners } from "./slack.ts";

/**
 * The incident capability: declaring, the channel and its header, the
 * lifecycle, who may do what. Its services are what other modules build on.
 */
export function createIncidentModule(core: Core) {
  const { prisma, slack, fileConfig, clock, bus, wakeJobs } = core;
  const authorizer = createAuthorizer({ admins: fileConfig.incidents.admins, slack, logger: core.logger.child({ component: "authz" }) });
  const guard = createAccessGuard({ prisma, authorizer });
  const flows = createIncidentFlows({
    prisma,
    slack,
    metrics: core.metrics,
    config: fileConfig,
    wakeJobs,
    bus,
    clock,
    botUserId: core.botUserId,
    channelPrefix: fileConfig.incidents.channelPrefix,
    channelsPerMinute: core.config.slack.channelsPerMinute,
    headerBlocks: core.headerBlocks,
  });
  const lifecycle = createIncidentLifecycle({ prisma, slack, guard, config: fileConfig, wakeJobs, bus, clock, events: core.events, headerBlocks: core.headerBlocks });
  const interactions = createIncidentInteractions({ prisma, flows, lifecycle, slack, authorizer, config: fileConfig });

  const module: FirebreakModule<IncidentEventType> = {
    name: "incident",
    events: INCIDENT_EVENTS,
    jobs: [...flows.jobs, ...lifecycle.jobs],
    subcommands: createIncidentCommands({ prisma, flows, lifecycle, slack, authorizer, config: fileConfig, clock }),
    slack: (app) => registerIncidentListeners(app, interactions),
    rehearse: async (tx) => lifecycle.rehearseFollowUps(tx, await flows.rehearse(tx)),
    subscribers: [
      {
        name: "incident: invite the new severity's notify list",
        on: {
          "incident.severity_changed": async (tx, event) =>
            flows.enqueueInvites(tx, event.incident, [...fileConfig.severities[event.to].notify], `severity:${event.to}`),
        },
      },
    ],
  };
  return { module, flows, lifecycle, authorizer, guard };
}

export type IncidentServices = ReturnType<typeof createIncidentModule>;
