import type { PrismaClient } from "../db/client.ts";
import { inIncidentChannel } from "../incident/command-handler.ts";
import { incidentRef } from "../incident/models.ts";
import { ok, subcommand, usageOf, type RegisteredSubcommand } from "../slack/commands.ts";
import type { RemediationFlows } from "./flows.ts";
import { mitigateReply } from "./views.ts";

export const MITIGATE_USAGE = "/incident mitigate";

export const mitigateCommand = subcommand<{ kind: "mitigate" }>({
  name: "mitigate",
  aliases: ["remediate", "rollback"],
  usage: MITIGATE_USAGE,
  description: "Roll back or switch off a feature flag: the actions configured for the incident's services",
  where: "incident channel",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "mitigate" }) : usageOf(MITIGATE_USAGE)),
});

export function createRemediationCommands(deps: { prisma: PrismaClient; flows: Pick<RemediationFlows, "actionsOf"> }): RegisteredSubcommand[] {
  const inChannel = inIncidentChannel(deps.prisma);
  return [
    mitigateCommand.handler(async (_command, context) =>
      inChannel(context, async (incident) => mitigateReply(incidentRef(incident.number), incident.id, deps.flows.actionsOf(incident.services ?? []))),
    ),
  ];
}
