import type { FileConfig } from "../config/file.ts";
import type { Clock } from "../core/clock.ts";
import { userActor } from "../events/lifecycle.ts";
import type { PrismaClient } from "../db/client.ts";
import type { SlackApi } from "../slack/api.ts";
import type { CommandContext, CommandReply, RegisteredSubcommand } from "../slack/commands.ts";
import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import type { Authorizer } from "./authz.ts";
import {
  commanderCommand,
  declareCommand,
  inviteCommand,
  listCommand,
  noteCommand,
  reopenCommand,
  resolveCommand,
  roleCommand,
  severityCommand,
  showCommand,
  statusCommand,
  updateCommand,
} from "./commands.ts";
import type { IncidentFlows } from "./flows.ts";
import type { IncidentLifecycle, Outcome } from "./lifecycle.ts";
import { incidentRef, type IncidentDetail } from "./models.ts";
import { getIncidentByChannel, getIncidentByNumber, isParticipant, listIncidents, participatingIn } from "./service.ts";
import { LIST_LIMIT, declareModal, declaredReply, incidentListReply, incidentShowReply } from "./views.ts";

export type { CommandContext, CommandReply } from "../slack/commands.ts";

function reply(outcome: Outcome): EphemeralResponse {
  return ephemeral(outcome.message);
}

/** The idempotency key of one `/incident` invocation (Slack retries carry the same trigger id). */
export const commandKey = (context: CommandContext) => `command:${context.triggerId}`;

/**
 * Runs `run` with the incident whose channel the command was typed in, or
 * tells the person to use an incident channel. Other capabilities' subcommands
 * that act on "this incident" use it too.
 */
export function inIncidentChannel(prisma: PrismaClient) {
  return async (context: CommandContext, run: (incident: IncidentDetail) => Promise<CommandReply>): Promise<CommandReply> => {
    const incident = await getIncidentByChannel(prisma, context.channelId);
    if (!incident) return ephemeral(":information_source: Run this inside an incident channel (the one Firebreak created for the incident). `/incident list` shows them.");
    return run(incident);
  };
}

export interface CommandHandlerDeps {
  prisma: PrismaClient;
  flows: Pick<IncidentFlows, "declare" | "enqueueInvites">;
  lifecycle: IncidentLifecycle;
  slack: Pick<SlackApi, "openView">;
  authorizer: Pick<Authorizer, "isAdmin">;
  config: Pick<FileConfig, "services">;
  clock: Clock;
}

/** The incident's subcommands with their handlers: each one small, the Slack listener only acks the reply. */
export function createIncidentCommands(deps: CommandHandlerDeps): RegisteredSubcommand[] {
  const inChannel = inIncidentChannel(deps.prisma);
  const user = (context: CommandContext) => userActor(context.userId);

  async function refuseInsideIncident(context: CommandContext): Promise<EphemeralResponse | undefined> {
    const incident = await getIncidentByChannel(deps.prisma, context.channelId);
    return incident
      ? ephemeral(`:information_source: This is the channel of *${incidentRef(incident.number)}*. Declare new incidents from another channel, or use \`/incident sev\` and \`/incident update\` here.`)
      : undefined;
  }

  async function canSee(incident: { id: string; private: boolean }, userId: string): Promise<boolean> {
    return !incident.private || (await isParticipant(deps.prisma, incident.id, userId)) || (await deps.authorizer.isAdmin(userId));
  }

  /** canSee for a page of incidents: one statement for the private ones, the admin check only if one is left hidden. */
  async function withVisibility<Row extends { id: string; private: boolean }>(rows: readonly Row[], userId: string): Promise<Array<Row & { visible: boolean }>> {
    const hidden = rows.filter((row) => row.private);
    const joined = await participatingIn(deps.prisma, hidden.map((row) => row.id), userId);
    const admin = hidden.some((row) => !joined.has(row.id)) && (await deps.authorizer.isAdmin(userId));
    return rows.map((row) => ({ ...row, visible: !row.private || admin || joined.has(row.id) }));
  }

  return [
    declareCommand.handler(async (command, context) => {
      const refused = await refuseInsideIncident(context);
      if (refused) return refused;
      if (command.kind === "declare_modal") {
        await deps.slack.openView({ triggerId: context.triggerId, view: declareModal(deps.config.services, { channelId: context.channelId }) });
        return undefined;
      }
      const { incident, plannedChannel, created } = await deps.flows.declare({
        title: command.title,
        severity: command.severity,
        private: false,
        source: "SLACK",
        declaredById: context.userId,
        idempotencyKey: commandKey(context),
      });
      return declaredReply(incident, plannedChannel, created);
    }),
    listCommand.handler(async (command, context) => {
      const { rows, total } = await listIncidents(deps.prisma, { includeResolved: command.all, limit: LIST_LIMIT });
      const listed = await withVisibility(rows, context.userId);
      return incidentListReply(listed, { all: command.all, total, now: deps.clock.now() });
    }),
    showCommand.handler(async (command, context) => {
      const incident = await getIncidentByNumber(deps.prisma, command.number);
      if (!incident || !(await canSee(incident, context.userId))) return ephemeral(`:mag: There is no ${incidentRef(command.number)} that you can see.`);
      return incidentShowReply(incident, deps.clock.now(), deps.config.services);
    }),
    statusCommand.handler(async (command, context) =>
      inChannel(context, async (incident) => reply(await deps.lifecycle.setStatus(incident.id, user(context), command.status, command.message, commandKey(context)))),
    ),
    updateCommand.handler(async (command, context) =>
      inChannel(context, async (incident) => reply(await deps.lifecycle.postUpdate(incident.id, user(context), command.message, commandKey(context)))),
    ),
    severityCommand.handler(async (command, context) => inChannel(context, async (incident) => reply(await deps.lifecycle.setSeverity(incident.id, user(context), command.severity)))),
    commanderCommand.handler(async (command, context) =>
      inChannel(context, async (incident) =>
        reply(
          command.user.me
            ? await deps.lifecycle.takeCommand(incident.id, context.userId)
            : await deps.lifecycle.assignCommander(incident.id, user(context), command.user.id),
        ),
      ),
    ),
    roleCommand.handler(async (command, context) => inChannel(context, async (incident) => reply(await deps.lifecycle.assignRole(incident.id, user(context), command.role, command.userId)))),
    inviteCommand.handler(async (command, context) =>
      inChannel(context, async (incident) =>
        reply(
          await deps.lifecycle.invite(
            incident.id,
            user(context),
            command.userIds,
            (tx, target, users) => deps.flows.enqueueInvites(tx, target, users, commandKey(context), context.userId),
            commandKey(context),
          ),
        ),
      ),
    ),
    noteCommand.handler(async (command, context) => inChannel(context, async (incident) => reply(await deps.lifecycle.addNote(incident.id, user(context), command.text, commandKey(context))))),
    resolveCommand.handler(async (command, context) =>
      inChannel(context, async (incident) => reply(await deps.lifecycle.resolve(incident.id, user(context), command.summary, commandKey(context)))),
    ),
    reopenCommand.handler(async (_command, context) => inChannel(context, async (incident) => reply(await deps.lifecycle.reopen(incident.id, user(context))))),
  ];
}
