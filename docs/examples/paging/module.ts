import { z } from "zod";
import type { Core, FirebreakModule } from "../core/module.ts";
import { commandKey, inIncidentChannel } from "../incident/command-handler.ts";
import { jobType } from "../queue/service.ts";
import { ok, subcommand, usageOf } from "../slack/commands.ts";
import { ephemeral } from "../slack/views.ts";
import { PAGING_EVENTS } from "./events.ts";

/** One job kind, declared once: its name and payload schema; the handler is attached below. */
export const pageJob = jobType("paging.page", z.object({ incidentId: z.uuid(), service: z.string().min(1) }));

/** One subcommand: name, help line and a pure parser; `/incident help` lists it. */
export const pageCommand = subcommand<{ kind: "page" }>({
  name: "page",
  usage: "/incident page",
  description: "Page the on-call engineer of the incident's service",
  where: "incident channel",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "page" }) : usageOf("/incident page")),
});

/** The paging capability: everything it contributes, in one module. */
export function createPagingModule(core: Pick<Core, "prisma" | "wakeJobs">): FirebreakModule<keyof typeof PAGING_EVENTS> {
  const inChannel = inIncidentChannel(core.prisma);
  return {
    name: "paging",
    events: PAGING_EVENTS,
    jobs: [
      pageJob.handler({
        async handle({ incidentId, service }, context) {
          // (A real module calls PagerDuty here, through its port, before recording.)
          await context.complete(async (tx) => {
            await PAGING_EVENTS["paging.paged"].record(tx, { incidentId, source: "PAGERDUTY", data: { service, dedupKey: `firebreak-${incidentId}` } });
          });
        },
      }),
    ],
    subcommands: [
      pageCommand.handler(async (_args, context) =>
        inChannel(context, async (incident) => {
          const service = incident.services?.[0] ?? "unknown";
          await core.prisma.$transaction(async (tx) => pageJob.enqueue(tx, { incidentId: incident.id, service }, { dedupeKey: `page:${commandKey(context)}`, incidentId: incident.id }));
          core.wakeJobs();
          return ephemeral(":pager: Paging the on-call engineer…");
        }),
      ),
    ],
    subscribers: [
      {
        name: "paging: page when a SEV1 is declared",
        on: {
          "incident.declared": async (tx, event) => {
            if (event.incident.severity !== "SEV1") return;
            const service = event.incident.services[0] ?? "unknown";
            await pageJob.enqueue(tx, { incidentId: event.incident.id, service }, { dedupeKey: `page:declared:${event.incident.id}`, incidentId: event.incident.id });
          },
        },
      },
    ],
  };
}
