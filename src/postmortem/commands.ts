import type { PrismaClient } from "../db/client.ts";
import { commandKey, inIncidentChannel } from "../incident/command-handler.ts";
import { incidentRef } from "../incident/models.ts";
import { freeText, ok, subcommand, usageOf, type RegisteredSubcommand } from "../slack/commands.ts";
import { ephemeral } from "../slack/views.ts";
import type { PostmortemFlows } from "./flows.ts";

export const POSTMORTEM_USAGE = { postmortem: "/incident postmortem", followup: "/incident followup <text>" } as const;

export const postmortemCommand = subcommand<{ kind: "postmortem" }>({
  name: "postmortem",
  usage: POSTMORTEM_USAGE.postmortem,
  description: "Post the post-mortem draft's summary here (it is also posted on resolve)",
  where: "incident channel",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "postmortem" }) : usageOf(POSTMORTEM_USAGE.postmortem)),
});

export const followupCommand = subcommand<{ kind: "followup"; title: string }>({
  name: "followup",
  aliases: ["follow-up"],
  usage: POSTMORTEM_USAGE.followup,
  description: "Record a follow-up action item for the post-mortem",
  where: "incident channel",
  parse: (input) => freeText(input, POSTMORTEM_USAGE.followup, (title) => ({ kind: "followup", title })),
});

export function createPostmortemCommands(deps: { prisma: PrismaClient; flows: Pick<PostmortemFlows, "requestSummary" | "addFollowUp"> }): RegisteredSubcommand[] {
  const inChannel = inIncidentChannel(deps.prisma);
  return [
    postmortemCommand.handler(async (_command, context) =>
      inChannel(context, async (incident) => {
        await deps.flows.requestSummary(incident.id, commandKey(context));
        return ephemeral(`:memo: Generating the post-mortem draft of ${incidentRef(incident.number)}; its summary will be posted here.`);
      }),
    ),
    followupCommand.handler(async (command, context) =>
      inChannel(context, async (incident) => {
        const { created } = await deps.flows.addFollowUp(incident.id, context.userId, command.title, commandKey(context));
        return ephemeral(created ? ":white_check_mark: Follow-up recorded for the post-mortem." : "That follow-up was already recorded.");
      }),
    ),
  ];
}
