import { App, LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { ExtendedErrorHandlerArgs } from "@slack/bolt/dist/App.js";
import type { Logger } from "../lib/logger.ts";
import type { IncidentCommandHandler } from "../incident/command-handler.ts";
import type { IncidentInteractions, ViewAnswer } from "../incident/interactions.ts";
import { ACTIONS, VIEWS } from "../incident/views.ts";
import type { AlertFlows } from "../alert/flows.ts";
import { ALERT_ACTIONS } from "../alert/views.ts";
import type { TimelineCapture } from "../timeline/capture.ts";
import type { TimelineEditor } from "../timeline/editing.ts";
import { ADD_TO_TIMELINE_SHORTCUT, TIMELINE_ACTIONS, TIMELINE_VIEWS } from "../timeline/views.ts";
import type { PostmortemInteractions } from "../postmortem/interactions.ts";
import { CREATE_FOLLOWUP_SHORTCUT, POSTMORTEM_ACTIONS, POSTMORTEM_VIEWS } from "../postmortem/views.ts";
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
  capture: Pick<TimelineCapture, "pinAdded" | "pinRemoved" | "reactionAdded" | "reactionRemoved" | "messageDeleted" | "messageChanged" | "shortcut">;
  timeline: Pick<TimelineEditor, "menu" | "submitEdit">;
  postmortem: Pick<PostmortemInteractions, "openEditor" | "submitEditor" | "openFollowUp" | "submitFollowUp">;
}

/** The Events API envelope's id: a redelivered event carries the same one. */
function eventKey(body: unknown, fallback: string): string {
  const id = (body as { event_id?: unknown }).event_id;
  return typeof id === "string" && id !== "" ? id : fallback;
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

  // Timeline capture: pins, the capture reaction, deleted messages (events are
  // answered once the change is queued; see receiver.ts).
  app.event("pin_added", async ({ event, body }) => {
    const message = event.item.message;
    if (event.item.type !== "message" || !message?.ts) return;
    await deps.capture.pinAdded(
      { channelId: event.channel_id, ts: message.ts, userId: event.user, eventKey: eventKey(body, `pin:${event.channel_id}:${message.ts}:${event.event_ts}`) },
      { userId: message.user || null, text: message.text ?? "", threadTs: null },
    );
  });
  app.event("pin_removed", async ({ event, body }) => {
    const ts = event.item.message?.ts;
    if (event.item.type !== "message" || !ts) return;
    await deps.capture.pinRemoved({ channelId: event.channel_id, ts, userId: event.user, eventKey: eventKey(body, `unpin:${event.channel_id}:${ts}:${event.event_ts}`) });
  });
  app.event("reaction_added", async ({ event, body }) => {
    if (event.item.type !== "message") return;
    const input = { channelId: event.item.channel, ts: event.item.ts, userId: event.user, reaction: event.reaction };
    await deps.capture.reactionAdded({ ...input, eventKey: eventKey(body, `react:${event.item.channel}:${event.item.ts}:${event.event_ts}`) });
  });
  app.event("reaction_removed", async ({ event, body }) => {
    if (event.item.type !== "message") return;
    const input = { channelId: event.item.channel, ts: event.item.ts, userId: event.user, reaction: event.reaction };
    await deps.capture.reactionRemoved({ ...input, eventKey: eventKey(body, `unreact:${event.item.channel}:${event.item.ts}:${event.event_ts}`) });
  });
  app.event("message", async ({ event, body }) => {
    if (event.subtype === "message_deleted") {
      await deps.capture.messageDeleted({ channelId: event.channel, ts: event.deleted_ts, eventKey: eventKey(body, `delete:${event.channel}:${event.deleted_ts}`) });
    } else if (event.subtype === "message_changed") {
      const edited = event.message as { ts?: unknown; text?: unknown; user?: unknown };
      if (typeof edited.ts !== "string") return;
      await deps.capture.messageChanged({
        channelId: event.channel,
        ts: edited.ts,
        text: typeof edited.text === "string" ? edited.text : "",
        userId: typeof edited.user === "string" ? edited.user : null,
        eventKey: eventKey(body, `edit:${event.channel}:${edited.ts}:${event.event_ts}`),
      });
    }
  });

  // "Add to incident timeline": queued durably before Slack is answered, so a
  // failure shows the person an error instead of silently losing the capture.
  app.shortcut({ callback_id: ADD_TO_TIMELINE_SHORTCUT, type: "message_action" }, async ({ ack, shortcut }) => {
    const message = { userId: shortcut.message.user ?? null, text: shortcut.message.text ?? "", threadTs: typeof shortcut.message.thread_ts === "string" ? shortcut.message.thread_ts : null };
    await deps.capture.shortcut({ channelId: shortcut.channel.id, ts: shortcut.message.ts, userId: shortcut.user.id, eventKey: `shortcut:${shortcut.trigger_id}`, triggerId: shortcut.trigger_id, message });
    await ack();
  });
  app.shortcut({ callback_id: CREATE_FOLLOWUP_SHORTCUT, type: "message_action" }, async ({ ack, shortcut }) => {
    await ack();
    await deps.postmortem.openFollowUp({ channelId: shortcut.channel.id, messageTs: shortcut.message.ts, triggerId: shortcut.trigger_id, text: shortcut.message.text ?? "", authorId: shortcut.message.user ?? null });
  });

  // The per-entry menu of /incident timeline, and the post-mortem editor button.
  app.action({ action_id: TIMELINE_ACTIONS.entryMenu, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "overflow") return;
    await deps.timeline.menu(action.selected_option.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: POSTMORTEM_ACTIONS.edit, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await deps.postmortem.openEditor(action.value, body.trigger_id);
  });
  app.view(TIMELINE_VIEWS.editEntry, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.timeline.submitEdit(view.state.values, view.private_metadata, body.user.id)));
  });
  app.view(POSTMORTEM_VIEWS.edit, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.postmortem.submitEditor(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(POSTMORTEM_VIEWS.followUp, async ({ ack, body, view }) => {
    await ack(viewAck(await deps.postmortem.submitFollowUp(view.state.values, view.private_metadata, body.user.id, view.id)));
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
