import { App, LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { ExtendedErrorHandlerArgs } from "@slack/bolt/dist/App.js";
import type { Logger } from "../lib/logger.ts";
import type { IncidentCommandHandler } from "../incident/command-handler.ts";
import type { IncidentInteractions, ViewAnswer } from "../incident/interactions.ts";
import { ACTIONS, VIEWS } from "../incident/views.ts";
import type { AlertFlows } from "../alert/flows.ts";
import { ALERT_ACTIONS } from "../alert/views.ts";
import type { SlackReceiver } from "./receiver.ts";

/** Bolt logs through pino, so its lines get the same redaction. */
export function boltLogger(logger: Logger): BoltLogger {
  const log = logger.child({ component: "bolt" });
  let level = LogLevel.INFO;
  return {
    debug: (...msgs) => log.debug(msgs.map(String).join(" ")),
    info: (...msgs) => log.info(msgs.map(String).join(" ")),
    warn: (...msgs) => log.warn(msgs.map(String).join(" ")),
    error: (...msgs) => log.error({ err: msgs.find((msg) => msg instanceof Error) }, msgs.map(String).join(" ")),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export interface BoltDeps {
  receiver: SlackReceiver;
  logger: Logger;
  token: string;
  botUserId: string;
  botId: string | undefined;
  apiUrl: string;
  timeoutMs: number;
  commandName: string;
  handleIncidentCommand: IncidentCommandHandler;
  interactions: IncidentInteractions;
  alerts: Pick<AlertFlows, "declareFromGroup">;
}

function viewAck(answer: ViewAnswer) {
  return "errors" in answer ? { response_action: "errors" as const, errors: answer.errors } : undefined;
}

/**
 * The Bolt app: routing only. Listeners translate payloads into calls to the
 * domain and ack the result; they hold no business logic, touch no database
 * and catch nothing: errors reach the one global handler below, and the
 * receiver answers Slack politely.
 */
export function createBoltApp(deps: BoltDeps): App {
  const app = new App({
    token: deps.token,
    // auth.test already ran in the composition root; don't call it twice.
    tokenVerificationEnabled: false,
    botUserId: deps.botUserId,
    ...(deps.botId ? { botId: deps.botId } : {}),
    receiver: deps.receiver,
    logger: boltLogger(deps.logger),
    deferInitialization: true,
    extendedErrorHandler: true,
    clientOptions: { slackApiUrl: deps.apiUrl, timeout: deps.timeoutMs, retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000 } },
  });

  app.command(deps.commandName, async ({ command, ack }) => {
    const reply = await deps.handleIncidentCommand(command.text, { userId: command.user_id, channelId: command.channel_id, triggerId: command.trigger_id });
    await ack(reply);
  });

  // Buttons and menus on the incident header: ack at once, then act.
  app.action({ action_id: ACTIONS.takeCommand, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await deps.interactions.takeCommand(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.setSeverity, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "static_select" || !body.channel?.id) return;
    const incidentId = await deps.interactions.incidentInChannel(body.channel.id);
    if (!incidentId) return;
    await deps.interactions.setSeverity(incidentId, action.selected_option.value, { userId: body.user.id, channelId: body.channel.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.postUpdate, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await deps.interactions.openUpdate(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.resolve, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await deps.interactions.openResolve(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });

  // The triage channel's "Declare incident" button on an alert group.
  app.action({ action_id: ALERT_ACTIONS.declareFromGroup, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    const origin = body.channel?.id && body.message?.ts ? { channelId: body.channel.id, messageTs: body.message.ts } : undefined;
    await deps.alerts.declareFromGroup(action.value, body.user.id, origin);
  });

  // Modal submissions: answer with field errors, or close.
  app.view(VIEWS.declare, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.interactions.submitDeclare(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(VIEWS.postUpdate, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.interactions.submitUpdate(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(VIEWS.resolve, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.interactions.submitResolve(view.state.values, view.private_metadata, body.user.id, view.id)));
  });

  app.error(async ({ error, body }: ExtendedErrorHandlerArgs) => {
    const original = (error as { original?: unknown }).original ?? error;
    const payload = body as { command?: unknown; type?: unknown; user_id?: unknown; team_id?: unknown } | undefined;
    deps.logger.error(
      { err: original, code: error.code, slack: { command: payload?.command, type: payload?.type, user: payload?.user_id, team: payload?.team_id } },
      "Slack request failed",
    );
    throw error;
  });

  return app;
}
