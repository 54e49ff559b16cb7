import type { PrismaClient } from "../db/client.ts";
import { inIncidentChannel } from "../incident/command-handler.ts";
import { ok, subcommand, usageOf, type RegisteredSubcommand } from "../slack/commands.ts";
import type { TimelineEditor } from "./editing.ts";

export const TIMELINE_USAGE = "/incident timeline [page]";

export const timelineCommand = subcommand<{ kind: "timeline"; page: number }>({
  name: "timeline",
  usage: TIMELINE_USAGE,
  description: "Show the incident's timeline, newest last (page 2 is older)",
  where: "incident channel",
  parse: ({ words }) => {
    if (words.length === 0) return ok({ kind: "timeline", page: 1 });
    if (words.length === 1 && /^[1-9][0-9]{0,4}$/.test(words[0] ?? "")) return ok({ kind: "timeline", page: Number(words[0]) });
    return usageOf(TIMELINE_USAGE);
  },
});

export function createTimelineCommands(deps: { prisma: PrismaClient; timeline: Pick<TimelineEditor, "page"> }): RegisteredSubcommand[] {
  const inChannel = inIncidentChannel(deps.prisma);
  return [timelineCommand.handler(async (command, context) => inChannel(context, async (incident) => deps.timeline.page(incident, context.userId, command.page)))];
}
