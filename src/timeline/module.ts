import type { Core, FirebreakModule } from "../core/module.ts";
import type { IncidentServices } from "../incident/module.ts";
import { createTimelineCapture } from "./capture.ts";
import { createTimelineCommands } from "./commands.ts";
import { createTimelineEditor } from "./editing.ts";
import { TIMELINE_EVENTS } from "./events.ts";
import { registerTimelineListeners } from "./slack.ts";

/** Capturing Slack messages onto the timeline (pins, a reaction, a shortcut), and reading and correcting it. */
export function createTimelineModule(core: Core, incident: Pick<IncidentServices, "authorizer" | "guard" | "lifecycle">): FirebreakModule<keyof typeof TIMELINE_EVENTS> {
  const { prisma, slack } = core;
  const capture = createTimelineCapture({ prisma, slack, captureEmoji: core.fileConfig.timeline.captureEmoji, botUserId: core.botUserId, wakeJobs: core.wakeJobs, clock: core.clock });
  const editor = createTimelineEditor({
    prisma,
    authorizer: incident.authorizer,
    guard: incident.guard,
    slack,
    clock: core.clock,
    events: core.events,
    tell: (channelId, userId, text) => incident.lifecycle.tellUser(undefined, channelId, userId, text),
  });
  return {
    name: "timeline",
    events: TIMELINE_EVENTS,
    jobs: capture.jobs,
    subcommands: createTimelineCommands({ prisma, timeline: editor }),
    slack: (app) => registerTimelineListeners(app, capture, editor),
  };
}
