import type { Core, FirebreakModule } from "../core/module.ts";
import { outboundObserver } from "../http/metrics.ts";
import { registerPostmortemApi } from "./api.ts";
import { createPostmortemCommands } from "./commands.ts";
import { createConfluenceApi } from "./export/confluence.ts";
import { createGitHubApi } from "./export/github.ts";
import { createPostmortemExporters } from "./export/jobs.ts";
import { POSTMORTEM_EVENTS } from "./events.ts";
import { createPostmortemFlows } from "./flows.ts";
import { createPostmortemInteractions } from "./interactions.ts";
import { registerPostmortemListeners } from "./slack.ts";

/** The blameless post-mortem draft: posted on resolve, edited in Slack, exported (Confluence, GitHub, the HTTP API). */
export function createPostmortemModule(core: Core): FirebreakModule<keyof typeof POSTMORTEM_EVENTS> {
  const { prisma, slack, config, clock, wakeJobs } = core;
  const { confluence, github, timeoutMs } = config.exporters;
  const observe = outboundObserver(core.metrics);
  const exporters = createPostmortemExporters({
    prisma,
    timeZone: config.timeZone,
    events: core.events,
    confluence: confluence ? { api: createConfluenceApi({ ...confluence, timeoutMs, observe }), spaceId: confluence.spaceId } : undefined,
    github: github ? { api: createGitHubApi({ ...github, timeoutMs, observe }), labels: github.labels } : undefined,
  });
  core.logger.info({ confluence: confluence !== undefined, github: github !== undefined }, "post-mortem exporters");
  const flows = createPostmortemFlows({ prisma, slack, timeZone: config.timeZone, wakeJobs, exporters, clock, events: core.events });
  const interactions = createPostmortemInteractions({ prisma, slack, flows, wakeJobs });
  const apiToken = config.apiToken;
  return {
    name: "postmortem",
    events: POSTMORTEM_EVENTS,
    jobs: [...flows.jobs, ...exporters.jobs],
    subcommands: createPostmortemCommands({ prisma, flows }),
    slack: (app) => registerPostmortemListeners(app, interactions),
    ...(apiToken ? { routes: (server) => registerPostmortemApi(server, { prisma, apiToken, timeZone: config.timeZone, clock, events: core.events }) } : {}),
    subscribers: [
      {
        name: "postmortem: draft on resolve",
        on: { "incident.resolved": async (tx, event) => flows.requestSummaryWithin(tx, event.incident, event.eventId) },
      },
    ],
  };
}
