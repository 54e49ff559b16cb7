import type { FileConfig } from "../config/file.ts";
import type { PrismaClient } from "../db/client.ts";
import type { SlackApi } from "../slack/api.ts";
import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import type { TimelineEditor } from "../timeline/editing.ts";
import type { Authorizer } from "./authz.ts";
import { parseIncidentCommand, type IncidentCommand } from "./commands.ts";
import type { IncidentFlows } from "./flows.ts";
import type { IncidentLifecycle, Outcome } from "./lifecycle.ts";
import { incidentRef, type IncidentDetail } from "./models.ts";
import { countIncidents, getIncidentByChannel, getIncidentByNumber, isParticipant, listIncidents } from "./service.ts";
import { declareModal, declaredReply, helpReply, incidentListReply, incidentShowReply } from "./views.ts";

/** Who typed the command and where; taken from the verified Slack payload. */
export interface CommandContext {
  userId: string;
  channelId: string;
  /** Unique per invocation: a repeated delivery of the same command is recognised by it. */
  triggerId: string;
}

/** `undefined` acknowledges without a message (e.g. a modal was opened instead). */
export type CommandReply = EphemeralResponse | undefined;

type Handlers = {
  [K in IncidentCommand["kind"]]: (command: Extract<IncidentCommand, { kind: K }>, context: CommandContext) => Promise<CommandReply>;
};

export interface CommandHandlerDeps {
  prisma: PrismaClient;
  flows: Pick<IncidentFlows, "declare" | "enqueueInvites">;
  lifecycle: IncidentLifecycle;
  slack: Pick<SlackApi, "openView">;
  authorizer: Authorizer;
  config: Pick<FileConfig, "services">;
  alerts: { recentGroups(limit: number): Promise<string> };
  timeline: Pick<TimelineEditor, "page">;
  postmortem: { requestSummary(incidentId: string, key: string): Promise<void>; addFollowUp(incidentId: string, userId: string, title: string, key: string): Promise<{ created: boolean }> };
  now?: () => Date;
}

function reply(outcome: Outcome): EphemeralResponse {
  return ephemeral(outcome.message);
}

/**
 * `/incident <text>` -> the reply Slack shows the user. One small handler per
 * subcommand; the Slack listener only parses the payload and acks the reply.
 */
export function createIncidentCommandHandler(deps: CommandHandlerDeps) {
  const now = deps.now ?? (() => new Date());

  /** Commands that act on "this incident" need to run in its channel. */
  async function inIncidentChannel(context: CommandContext, run: (incident: IncidentDetail) => Promise<CommandReply>): Promise<CommandReply> {
    const incident = await getIncidentByChannel(deps.prisma, context.channelId);
    if (!incident) return ephemeral(":information_source: Run this inside an incident channel (the one Firebreak created for the incident). `/incident list` shows them.");
    return run(incident);
  }

  async function refuseInsideIncident(context: CommandContext): Promise<EphemeralResponse | undefined> {
    const incident = await getIncidentByChannel(deps.prisma, context.channelId);
    return incident
      ? ephemeral(`:information_source: This is the channel of *${incidentRef(incident.number)}*. Declare new incidents from another channel, or use \`/incident sev\` and \`/incident update\` here.`)
      : undefined;
  }

  async function canSee(incident: { id: string; private: boolean }, userId: string): Promise<boolean> {
    return !incident.private || (await isParticipant(deps.prisma, incident.id, userId)) || (await deps.authorizer.isAdmin(userId));
  }

  const key = (context: CommandContext) => `command:${context.triggerId}`;

  const handlers: Handlers = {
    help: async (command) => helpReply(command.problem),
    declare: async (command, context) => {
      const refused = await refuseInsideIncident(context);
      if (refused) return refused;
      const { incident, plannedChannel, created } = await deps.flows.declare({
        title: command.title,
        severity: command.severity,
        private: false,
        source: "SLACK",
        declaredById: context.userId,
        idempotencyKey: key(context),
      });
      return declaredReply(incident, plannedChannel, created);
    },
    declare_modal: async (_command, context) => {
      const refused = await refuseInsideIncident(context);
      if (refused) return refused;
      await deps.slack.openView({ triggerId: context.triggerId, view: declareModal(deps.config.services, { channelId: context.channelId }) });
      return undefined;
    },
    status: async (command, context) =>
      inIncidentChannel(context, async (incident) =>
        reply(await deps.lifecycle.setStatus(incident.id, { userId: context.userId }, command.status, command.message, key(context))),
      ),
    update: async (command, context) =>
      inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.postUpdate(incident.id, { userId: context.userId }, command.message, key(context)))),
    severity: async (command, context) =>
      inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.setSeverity(incident.id, { userId: context.userId }, command.severity))),
    commander: async (command, context) =>
      inIncidentChannel(context, async (incident) =>
        reply(
          command.user.me
            ? await deps.lifecycle.takeCommand(incident.id, { userId: context.userId })
            : await deps.lifecycle.assignCommander(incident.id, { userId: context.userId }, command.user.id),
        ),
      ),
    role: async (command, context) =>
      inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.assignRole(incident.id, { userId: context.userId }, command.role, command.userId))),
    invite: async (command, context) =>
      inIncidentChannel(context, async (incident) =>
        reply(
          await deps.lifecycle.invite(
            incident.id,
            { userId: context.userId },
            command.userIds,
            (tx, target, users) => deps.flows.enqueueInvites(tx, target, users, key(context), context.userId),
            key(context),
          ),
        ),
      ),
    note: async (command, context) =>
      inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.addNote(incident.id, { userId: context.userId }, command.text, key(context)))),
    resolve: async (command, context) =>
      inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.resolve(incident.id, { userId: context.userId }, command.summary, key(context)))),
    reopen: async (_command, context) => inIncidentChannel(context, async (incident) => reply(await deps.lifecycle.reopen(incident.id, { userId: context.userId }))),
    timeline: async (command, context) => inIncidentChannel(context, async (incident) => deps.timeline.page(incident, context.userId, command.page)),
    list: async (command, context) => {
      const [rows, total] = await Promise.all([
        listIncidents(deps.prisma, { includeResolved: command.all, limit: 20 }),
        countIncidents(deps.prisma, { includeResolved: command.all }),
      ]);
      const listed = await Promise.all(rows.map(async (row) => ({ ...row, visible: await canSee(row, context.userId) })));
      return incidentListReply(listed, { all: command.all, total, now: now() });
    },
    alerts: async () => ephemeral(await deps.alerts.recentGroups(20)),
    postmortem: async (_command, context) =>
      inIncidentChannel(context, async (incident) => {
        await deps.postmortem.requestSummary(incident.id, key(context));
        return ephemeral(`:memo: Generating the post-mortem draft of ${incidentRef(incident.number)}; its summary will be posted here.`);
      }),
    followup: async (command, context) =>
      inIncidentChannel(context, async (incident) => {
        const { created } = await deps.postmortem.addFollowUp(incident.id, context.userId, command.title, key(context));
        return ephemeral(created ? ":white_check_mark: Follow-up recorded for the post-mortem." : "That follow-up was already recorded.");
      }),
    show: async (command, context) => {
      const incident = await getIncidentByNumber(deps.prisma, command.number);
      if (!incident || !(await canSee(incident, context.userId))) return ephemeral(`:mag: There is no ${incidentRef(command.number)} that you can see.`);
      return incidentShowReply(incident, now(), deps.config.services);
    },
  };

  return async function handle(text: string, context: CommandContext): Promise<CommandReply> {
    const command = parseIncidentCommand(text);
    const handler = handlers[command.kind] as (command: IncidentCommand, context: CommandContext) => Promise<CommandReply>;
    return handler(command, context);
  };
}

export type IncidentCommandHandler = ReturnType<typeof createIncidentCommandHandler>;
