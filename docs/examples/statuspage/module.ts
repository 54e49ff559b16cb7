import { z } from "zod";
import type { Core, FirebreakModule } from "../core/module.ts";
import { commandKey, inIncidentChannel } from "../incident/command-handler.ts";
import { jobType } from "../queue/service.ts";
import { ok, subcommand, usageOf } from "../slack/commands.ts";
import { ephemeral } from "../slack/views.ts";
import { STATUSPAGE_EVENTS } from "./events.ts";

/** One job kind, declared once: its name and payload schema; the handler is attached below. */
export const statusPageJob = jobType("statuspage.post", z.object({ incidentId: z.uuid(), service: z.string().min(1) }));

/** One subcommand: name, help line and a pure parser; `/incident help` lists it. */
export const statusPageCommand = subcommand<{ kind: "statuspage" }>({
  name: "statuspage",
  usage: "/incident statuspage",
  description: "Post the incident on the status page of its service",
  where: "incident channel",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "statuspage" }) : usageOf("/incident statuspage")),
});

/** The status page capability: everything it contributes, in one module. */
export function createStatusPageModule(core: Pick<Core, "prisma" | "wakeJobs">): FirebreakModule<keyof typeof STATUSPAGE_EVENTS> {
  const inChannel = inIncidentChannel(core.prisma);
  return {
    name: "statuspage",
    events: STATUSPAGE_EVENTS,
    jobs: [
      statusPageJob.handler({
        async handle({ incidentId, service }, context) {
          // (A real module calls the status page provider here, through its port, before recording.)
          await context.complete(async (tx) => {
            await STATUSPAGE_EVENTS["statuspage.posted"].record(tx, { incidentId, source: "SYSTEM", data: { service, dedupKey: `statuspage-${incidentId}` } });
          });
        },
      }),
    ],
    subcommands: [
      statusPageCommand.handler(async (_args, context) =>
        inChannel(context, async (incident) => {
          const service = incident.services?.[0] ?? "unknown";
          await core.prisma.$transaction(async (tx) => statusPageJob.enqueue(tx, { incidentId: incident.id, service }, { dedupeKey: `statuspage:${commandKey(context)}`, incidentId: incident.id }));
          core.wakeJobs();
          return ephemeral(":satellite: Posting on the status page…");
        }),
      ),
    ],
    subscribers: [
      {
        name: "statuspage: post when a SEV1 is declared",
        on: {
          "incident.declared": async (tx, event) => {
            if (event.incident.severity !== "SEV1") return;
            const service = event.incident.services[0] ?? "unknown";
            await statusPageJob.enqueue(tx, { incidentId: event.incident.id, service }, { dedupeKey: `statuspage:declared:${event.incident.id}`, incidentId: event.incident.id });
          },
        },
      },
    ],
  };
}
