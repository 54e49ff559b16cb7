/**
 * Events API payloads as Slack POSTs them to the app's request URL: a JSON `event_callback`
 * envelope (https://docs.slack.dev/apis/events-api/#callback-field) around one event, signed like
 * every request, plus the message-shortcut interaction payload.
 *
 * Build them from the fake Slack's state, so the payload says what the fake holds:
 *
 *   const ts = slack.messages.postAs("U0RESPOND1", "inc-1-db", "primary is back");
 *   await sendEvent(app.url, pinAddedEvent(slack.pins.addAs("U0RESPOND2", "inc-1-db", ts)));
 *   await sendEvent(app.url, reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", "inc-1-db", ts, "eyes"), { user: "U0RESPOND2", reaction: "eyes" }));
 *   await sendEvent(app.url, messageChangedEvent(slack.messages.editAs("inc-1-db", ts, "primary is back (for real)")));
 *   await sendEvent(app.url, messageDeletedEvent(slack.messages.deleteAs("inc-1-db", ts)));
 *   await sendMessageShortcut(app.url, { user: "U0RESPOND1", channel: slack.channels.get("inc-1-db"),
 *     message: slack.messages.get("inc-1-db", ts)!, callbackId: "add_to_timeline", triggerId: slack.newTriggerId("U0RESPOND1") });
 *
 * Shapes follow Slack's event docs (https://docs.slack.dev/reference/events/<type>) and are checked at
 * compile time against Bolt's own types (EnvelopedEvent, PinAddedEvent, ReactionAddedEvent,
 * MessageChangedEvent, MessageDeletedEvent, MessageShortcut). One deliberate difference: messages
 * nested in an event (`item.message`, `message`, `previous_message`) carry what Slack puts there
 * (type, user, text, ts, team, ...), not the event-level `channel` / `channel_type` / `event_ts` that
 * Bolt's MessageEvent type declares for them; NestedMessage is checked against the rest of Bolt's
 * GenericMessageEvent.
 */
import type { AddressInfo } from "node:net";
import { App, HTTPReceiver, type EnvelopedEvent, type Logger, type MessageShortcut, type types as SlackTypes } from "@slack/bolt";
import type { FakeSlack } from "../fakes/slack/server.ts";
import { DEFAULT_BOT, type FakeChannel, type FakeMessage, type MessageRevision } from "../fakes/slack/state.ts";
import { interactionBody, payloadChannel, payloadIdentity, payloadUser, slackNowTs, type PayloadChannel, type PayloadIdentity, type PayloadUser } from "./slack-payloads.ts";
import { sendToSlackEndpoint, TEST_BOT_TOKEN, TEST_SIGNING_SECRET, type SendOptions, type SlackResponse } from "./slack-requests.ts";

type Block = SlackTypes.Block;
type ChannelType = "channel" | "group" | "im" | "mpim";

// ---------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------

/** Envelope and timing of an event (defaults: the fake Slack's team and app, now, a fresh event_id). */
export interface EventOptions extends PayloadIdentity {
  /** `event.event_ts` (default: now, "seconds.micros"). */
  eventTs?: string;
  /** `event_id` (default: a fresh "Ev…"); a retried delivery repeats it. */
  eventId?: string;
  /** `event_time`, epoch seconds (default: now). */
  eventTime?: number;
  /** The installation the event is delivered for, in `authorizations` (default: the fake bot user). */
  botUserId?: string;
  /**
   * `channel_type` of message events. Default: from `channel` when given (private -> "group", DM -> "im"),
   * else from the channel ID ("D…" -> "im", "G…" -> "group", otherwise "channel").
   */
  channelType?: ChannelType;
  /** The conversation (a FakeChannel fits), to derive `channel_type`. */
  channel?: Pick<FakeChannel, "is_private" | "is_im">;
}

export interface PinEventOptions extends EventOptions {
  /** Who pinned (pin_added) or unpinned (pin_removed). Default: from the message's `pin` (pins.addAs / removeAs). */
  user?: string;
  /** `pin_count` after the change (default 1 for pin_added, 0 for pin_removed). */
  pinCount?: number;
}

export interface ReactionEventOptions extends EventOptions {
  /** Who reacted. */
  user: string;
  /** Emoji name, without colons. */
  reaction: string;
}

export interface MessageChangedOptions extends EventOptions {
  /** The content before the edit (default: the last entry of `message.history`, i.e. what editAs / chat.update replaced). */
  previous?: FakeMessage | MessageRevision;
}

// ---------------------------------------------------------------------------------------------
// payload types (Bolt's, checked below)
// ---------------------------------------------------------------------------------------------

interface EventAuthorization {
  enterprise_id: null;
  team_id: string;
  user_id: string;
  is_bot: boolean;
  is_enterprise_install: boolean;
}

/** The `event_callback` envelope Slack POSTs (Bolt: EnvelopedEvent). */
export interface EventCallback<E> {
  token: string;
  team_id: string;
  context_team_id: string;
  api_app_id: string;
  event: E;
  type: "event_callback";
  event_id: string;
  event_time: number;
  authorizations: EventAuthorization[];
  is_ext_shared_channel: boolean;
  event_context: string;
}

/** A message as Slack nests it in events and interaction payloads. */
export interface NestedMessage {
  type: "message";
  user: string;
  text: string;
  ts: string;
  team: string;
  client_msg_id?: string;
  bot_id?: string;
  app_id?: string;
  blocks?: Block[];
  thread_ts?: string;
  edited?: { user: string; ts: string };
  reactions?: Array<{ name: string; users: string[]; count: number }>;
  pinned_to?: string[];
}

export interface PinnedMessage extends NestedMessage {
  permalink: string;
}

export interface PinEvent<T extends "pin_added" | "pin_removed"> {
  type: T;
  user: string;
  channel_id: string;
  item: { type: "message"; channel: string; created: number; created_by: string; message: PinnedMessage };
  item_user: string;
  pin_count: string;
  pinned_info: { channel: string; pinned_by: string; pinned_ts: number };
  event_ts: string;
}

export type PinAddedPayload = PinEvent<"pin_added">;
export type PinRemovedPayload = PinEvent<"pin_removed"> & { has_pins: boolean };

export interface ReactionPayload<T extends "reaction_added" | "reaction_removed"> {
  type: T;
  user: string;
  reaction: string;
  item_user: string;
  item: { type: "message"; channel: string; ts: string };
  event_ts: string;
}

export interface MessagePostedPayload extends NestedMessage {
  subtype: undefined;
  channel: string;
  channel_type: ChannelType;
  event_ts: string;
}

export interface MessageDeletedPayload {
  type: "message";
  subtype: "message_deleted";
  hidden: true;
  channel: string;
  channel_type: ChannelType;
  /** The deletion's own ts (= event_ts). */
  ts: string;
  deleted_ts: string;
  event_ts: string;
  previous_message: NestedMessage;
}

export interface MessageChangedPayload {
  type: "message";
  subtype: "message_changed";
  hidden: true;
  channel: string;
  channel_type: ChannelType;
  /** The edit's ts (= event_ts). */
  ts: string;
  event_ts: string;
  message: NestedMessage;
  previous_message: NestedMessage;
}

export interface MessageShortcutPayload extends Omit<MessageShortcut, "enterprise" | "team" | "user" | "message"> {
  team: { id: string; domain: string };
  user: { id: string; name: string; username: string; team_id: string };
  enterprise: null;
  is_enterprise_install: boolean;
  message: NestedMessage;
}

// Compile-time proof that the payloads are what Bolt's listeners are typed to receive.
type Assignable<T, U extends T> = U;
type WithoutNested<E> = Omit<E, "message" | "previous_message">;
export type BoltAcceptsEnvelope = Assignable<EnvelopedEvent<SlackTypes.PinAddedEvent>, EventCallback<PinAddedPayload>>;
export type BoltAcceptsPinAdded = Assignable<SlackTypes.PinAddedEvent, PinAddedPayload>;
export type BoltAcceptsPinRemoved = Assignable<SlackTypes.PinRemovedEvent, PinRemovedPayload>;
export type BoltAcceptsReactionAdded = Assignable<SlackTypes.ReactionAddedEvent, ReactionPayload<"reaction_added">>;
export type BoltAcceptsReactionRemoved = Assignable<SlackTypes.ReactionRemovedEvent, ReactionPayload<"reaction_removed">>;
export type BoltAcceptsMessage = Assignable<SlackTypes.GenericMessageEvent, MessagePostedPayload>;
export type BoltAcceptsMessageDeleted = Assignable<WithoutNested<SlackTypes.MessageDeletedEvent>, WithoutNested<MessageDeletedPayload>>;
export type BoltAcceptsMessageChanged = Assignable<WithoutNested<SlackTypes.MessageChangedEvent>, WithoutNested<MessageChangedPayload>>;
export type BoltAcceptsNestedMessage = Assignable<Omit<SlackTypes.GenericMessageEvent, "channel" | "channel_type" | "event_ts" | "subtype">, NestedMessage>;
export type BoltAcceptsMessageShortcut = Assignable<Omit<MessageShortcut, "enterprise">, Omit<MessageShortcutPayload, "enterprise">>;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

let sequence = 0;

function isBlock(value: unknown): value is Block {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** The message as Slack nests it in an event: what the fake holds, in Slack's field names. */
export function nestedMessage(m: FakeMessage, teamId: string = payloadIdentity({}).teamId): NestedMessage {
  const fromBot = m.bot_id !== undefined;
  const blocks = m.blocks?.filter(isBlock);
  return {
    type: "message",
    ...(m.client_msg_id !== undefined ? { client_msg_id: m.client_msg_id } : {}),
    user: m.user,
    ...(fromBot ? { bot_id: m.bot_id, app_id: DEFAULT_BOT.app_id } : {}),
    text: m.text,
    ts: m.ts,
    team: teamId,
    ...(blocks !== undefined ? { blocks } : {}),
    ...(m.thread_ts !== undefined && m.thread_ts !== m.ts ? { thread_ts: m.thread_ts } : {}),
    ...(m.edited !== undefined ? { edited: { ...m.edited } } : {}),
    ...(m.reactions.length > 0 ? { reactions: m.reactions.map((r) => ({ name: r.name, users: [...r.users], count: r.users.length })) } : {}),
    ...(m.pinned ? { pinned_to: [m.channel] } : {}),
  };
}

function channelType(channelId: string, opts: EventOptions): ChannelType {
  if (opts.channelType !== undefined) return opts.channelType;
  if (opts.channel !== undefined) return opts.channel.is_im ? "im" : opts.channel.is_private ? "group" : "channel";
  return channelId.startsWith("D") ? "im" : channelId.startsWith("G") ? "group" : "channel";
}

/** Wraps an event in Slack's `event_callback` envelope. */
export function eventCallback<E>(event: E, opts: EventOptions = {}): EventCallback<E> {
  const id = payloadIdentity(opts);
  const n = ++sequence;
  return {
    token: id.token,
    team_id: id.teamId,
    context_team_id: id.teamId,
    api_app_id: id.apiAppId,
    event,
    type: "event_callback",
    event_id: opts.eventId ?? `Ev${(Date.now() % 1e8).toString(36).toUpperCase()}${n.toString(36).toUpperCase().padStart(4, "0")}`,
    event_time: opts.eventTime ?? Math.floor(Date.now() / 1000),
    authorizations: [
      { enterprise_id: null, team_id: id.teamId, user_id: opts.botUserId ?? DEFAULT_BOT.user_id, is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${Buffer.from(`fake:${id.teamId}:${n}`).toString("base64url")}`,
  };
}

function permalink(domain: string, m: FakeMessage): string {
  const base = `https://${domain}.slack.com/archives/${m.channel}/p${m.ts.replace(".", "")}`;
  return m.thread_ts !== undefined && m.thread_ts !== m.ts ? `${base}?thread_ts=${m.thread_ts}&cid=${m.channel}` : base;
}

function pinEvent<T extends "pin_added" | "pin_removed">(type: T, m: FakeMessage, opts: PinEventOptions, pinCount: number): PinEvent<T> {
  const id = payloadIdentity(opts);
  const pin = m.pin;
  const pinnedBy = pin?.by ?? opts.user ?? m.user;
  const user = opts.user ?? (type === "pin_removed" ? pin?.removedBy ?? pinnedBy : pinnedBy);
  const pinnedAt = pin?.at ?? Math.floor(Date.now() / 1000);
  return {
    type,
    user,
    channel_id: m.channel,
    item: {
      type: "message",
      channel: m.channel,
      created: pinnedAt,
      created_by: pinnedBy,
      message: { ...nestedMessage(m, id.teamId), permalink: permalink(id.teamDomain, m) },
    },
    item_user: m.user,
    pin_count: String(pinCount),
    pinned_info: { channel: m.channel, pinned_by: pinnedBy, pinned_ts: pinnedAt },
    event_ts: opts.eventTs ?? slackNowTs(),
  };
}

// ---------------------------------------------------------------------------------------------
// event factories
// ---------------------------------------------------------------------------------------------

/** `pin_added` for a message (pass what `slack.pins.addAs()` returns; `user` defaults to who pinned it). */
export function pinAddedEvent(message: FakeMessage, opts: PinEventOptions = {}): EventCallback<PinAddedPayload> {
  return eventCallback(pinEvent("pin_added", message, opts, opts.pinCount ?? 1), opts);
}

/** `pin_removed` (pass what `slack.pins.removeAs()` returns; `user` defaults to who removed the pin). */
export function pinRemovedEvent(message: FakeMessage, opts: PinEventOptions = {}): EventCallback<PinRemovedPayload> {
  const pinCount = opts.pinCount ?? 0;
  return eventCallback({ ...pinEvent("pin_removed", message, opts, pinCount), has_pins: pinCount > 0 }, opts);
}

function reactionEvent<T extends "reaction_added" | "reaction_removed">(type: T, m: FakeMessage, opts: ReactionEventOptions): EventCallback<ReactionPayload<T>> {
  return eventCallback(
    {
      type,
      user: opts.user,
      reaction: opts.reaction.replace(/^:|:$/g, ""),
      item_user: m.user,
      item: { type: "message", channel: m.channel, ts: m.ts },
      event_ts: opts.eventTs ?? slackNowTs(),
    },
    opts,
  );
}

/** `reaction_added` on a message (pass what `slack.reactions.addAs()` returns). */
export function reactionAddedEvent(message: FakeMessage, opts: ReactionEventOptions): EventCallback<ReactionPayload<"reaction_added">> {
  return reactionEvent("reaction_added", message, opts);
}

/** `reaction_removed` on a message (pass what `slack.reactions.removeAs()` returns). */
export function reactionRemovedEvent(message: FakeMessage, opts: ReactionEventOptions): EventCallback<ReactionPayload<"reaction_removed">> {
  return reactionEvent("reaction_removed", message, opts);
}

/** A plain `message` event for a new message (e.g. one `slack.messages.postAs()` created: `slack.messages.get(ch, ts)`). */
export function messageEvent(message: FakeMessage, opts: EventOptions = {}): EventCallback<MessagePostedPayload> {
  const id = payloadIdentity(opts);
  return eventCallback(
    { ...nestedMessage(message, id.teamId), subtype: undefined, channel: message.channel, channel_type: channelType(message.channel, opts), event_ts: opts.eventTs ?? message.ts },
    opts,
  );
}

/** `message` / `message_deleted` (pass what `slack.messages.deleteAs()` returns). */
export function messageDeletedEvent(deleted: FakeMessage, opts: EventOptions = {}): EventCallback<MessageDeletedPayload> {
  const id = payloadIdentity(opts);
  const ts = opts.eventTs ?? slackNowTs();
  return eventCallback(
    {
      type: "message",
      subtype: "message_deleted",
      hidden: true,
      channel: deleted.channel,
      channel_type: channelType(deleted.channel, opts),
      ts,
      deleted_ts: deleted.ts,
      event_ts: ts,
      previous_message: nestedMessage(deleted, id.teamId),
    },
    opts,
  );
}

/**
 * `message` / `message_changed` (pass what `slack.messages.editAs()` returns, or a message the app
 * changed with chat.update). `previous_message` is the replaced revision unless `previous` is given.
 */
export function messageChangedEvent(message: FakeMessage, opts: MessageChangedOptions = {}): EventCallback<MessageChangedPayload> {
  const id = payloadIdentity(opts);
  const revision = opts.previous ?? message.history[message.history.length - 1];
  if (revision === undefined) {
    throw new TypeError(`messageChangedEvent: message ${message.ts} was never edited; edit it with slack.messages.editAs() or pass \`previous\``);
  }
  // A revision keeps text and blocks; the rest of the message (author, ts, thread) is unchanged by an edit.
  const before: FakeMessage = "ts" in revision ? revision : { ...message, text: revision.text, blocks: revision.blocks, edited: undefined };
  const ts = opts.eventTs ?? message.edited?.ts ?? slackNowTs();
  return eventCallback(
    {
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel: message.channel,
      channel_type: channelType(message.channel, opts),
      ts,
      event_ts: ts,
      message: nestedMessage(message, id.teamId),
      previous_message: nestedMessage(before, id.teamId),
    },
    opts,
  );
}

/** Sends an event the way Slack does: a signed JSON POST to /slack/events. */
export function sendEvent<E>(appUrl: string, body: EventCallback<E>, sendOptions: SendOptions = {}): Promise<SlackResponse> {
  return sendToSlackEndpoint(appUrl, JSON.stringify(body), { contentType: "application/json", ...sendOptions });
}

// ---------------------------------------------------------------------------------------------
// message shortcut (an interaction: form-encoded `payload`)
// ---------------------------------------------------------------------------------------------

export interface MessageShortcutOptions extends PayloadIdentity {
  /** Who used the shortcut. */
  user: string | PayloadUser;
  /** Where the message is (a FakeChannel fits). */
  channel: string | PayloadChannel;
  /** The message the shortcut was used on (a FakeMessage from the fake Slack). */
  message: FakeMessage;
  /** The shortcut's callback_id, as in the app manifest. */
  callbackId: string;
  /** A trigger the fake Slack accepts for views.open: `slack.newTriggerId(userId)`. */
  triggerId: string;
  responseUrl?: string;
  /** Default: now. */
  actionTs?: string;
}

/** A `message_action` payload: a person used a message shortcut on `message`. */
export function messageShortcutPayload(opts: MessageShortcutOptions): MessageShortcutPayload {
  const id = payloadIdentity(opts);
  const user = payloadUser(opts.user, id.teamId);
  const n = ++sequence;
  return {
    type: "message_action",
    token: id.token,
    action_ts: opts.actionTs ?? slackNowTs(),
    team: { id: id.teamId, domain: id.teamDomain },
    user: { id: user.id, name: user.name, username: user.username, team_id: user.team_id },
    channel: payloadChannel(opts.channel),
    is_enterprise_install: false,
    enterprise: null,
    callback_id: opts.callbackId,
    trigger_id: opts.triggerId,
    response_url: opts.responseUrl ?? `https://hooks.slack.com/app/${id.teamId}/${2_000_000_000 + n}/fakeShortcutResponseUrl${n}`,
    message_ts: opts.message.ts,
    message: nestedMessage(opts.message, id.teamId),
  };
}

/** The form body (`payload=<json>`) of a message shortcut, for sendToSlackEndpoint. */
export function messageShortcutBody(opts: MessageShortcutOptions): string {
  return interactionBody(messageShortcutPayload(opts));
}

export function sendMessageShortcut(appUrl: string, opts: MessageShortcutOptions, sendOptions: SendOptions = {}): Promise<SlackResponse> {
  return sendToSlackEndpoint(appUrl, messageShortcutBody(opts), sendOptions);
}

// ---------------------------------------------------------------------------------------------
// a bare Bolt app to aim payloads at (for tests of the factories themselves)
// ---------------------------------------------------------------------------------------------

export interface BoltTestApp {
  /** Register listeners on it (before or after start). */
  readonly app: App;
  /** Base URL; payloads go to `${url}/slack/events`. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * A real Bolt App behind Bolt's own HTTPReceiver (signature check with TEST_SIGNING_SECRET, parsing,
 * routing) on 127.0.0.1, its WebClient pointed at the fake Slack. With `processBeforeResponse` the
 * HTTP answer waits for the listeners, so a test can assert right after sending.
 */
export async function startBoltTestApp(slack: FakeSlack, options: { logger: Logger; processBeforeResponse?: boolean }): Promise<BoltTestApp> {
  const receiver = new HTTPReceiver({
    signingSecret: TEST_SIGNING_SECRET,
    logger: options.logger,
    processBeforeResponse: options.processBeforeResponse ?? false,
  });
  const app = new App({
    receiver,
    token: TEST_BOT_TOKEN,
    tokenVerificationEnabled: false,
    botId: slack.bot.bot_id,
    botUserId: slack.bot.user_id,
    logger: options.logger,
    clientOptions: { slackApiUrl: slack.url, retryConfig: { retries: 0 } },
  });
  const server = await receiver.start({ port: 0, host: "127.0.0.1" });
  return {
    app,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => receiver.stop(),
  };
}
