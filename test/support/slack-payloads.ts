/**
 * Interaction payloads as Slack POSTs them to the app's request URL: a form-encoded body with one
 * field, `payload`, holding the JSON (https://api.slack.com/interactivity/handling#payloads).
 *
 *   await sendBlockAction(app.url, { user: "U0DECLARER", channel: ch.id, messageTs, actionId: "incident_resolve", value: "42",
 *     triggerId: slack.newTriggerId("U0DECLARER") });
 *   await sendViewSubmission(app.url, { user: "U0DECLARER", ...fromFakeView(slack.views.last()!),
 *     values: { title: { value: { type: "plain_text_input", value: "DB down" } } } });
 *
 * Bolt routes block_actions on `actions[0].action_id` / `block_id` and view submissions on
 * `view.callback_id`; the shapes follow Slack's docs and are checked at compile time against Bolt's
 * own payload types (BlockAction, ViewSubmitAction), widened only where Slack sends more than Bolt
 * declares (`enterprise: null`, `user.username` on view submissions).
 *
 * Identities default to the fake Slack's workspace (team TFAKETEAM1, app AFAKEAPP01, bot
 * UBOT00001/BBOT00001), so payloads line up with what test/fakes/slack serves.
 */
import type {
  BlockAction,
  ButtonAction,
  OverflowAction,
  StaticSelectAction,
  ViewOutput,
  ViewResponseUrl,
  ViewStateSelectedOption,
  ViewStateValue,
  ViewSubmitAction,
} from "@slack/bolt";
import { DEFAULT_BOT, DEFAULT_TEAM_ID, DEFAULT_USERS, GENERAL_CHANNEL_ID, type FakeView } from "../fakes/slack/state.ts";
import { sendToSlackEndpoint, type SendOptions, type SlackResponse } from "./slack-requests.ts";

// ---------------------------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------------------------

/** A user as Slack describes the actor of an interaction; `id` alone is enough. */
export interface PayloadUser {
  id: string;
  /** Handle (default: the fake workspace's name for the ID, else the ID lowercased). */
  username?: string;
  team_id?: string;
}

/** A channel reference; a FakeChannel fits. */
export interface PayloadChannel {
  id: string;
  name?: string;
}

/** A select option, short form: `{ value: "sev1", text: "SEV1" }` (text becomes a plain_text object). */
export interface OptionInput {
  value: string;
  text: string;
}

/** Workspace identity of a payload (defaults: the fake Slack's team, domain, app and a verification token). */
export interface PayloadIdentity {
  teamId?: string;
  teamDomain?: string;
  apiAppId?: string;
  /** The deprecated verification token Slack still sends (default "deprecated-verification-token"). */
  token?: string;
}

/** The message an action was taken on; a FakeMessage from the fake Slack fits. */
export interface PayloadMessage {
  text?: string;
  blocks?: unknown[];
  /** Author (default: the bot user). */
  user?: string;
  /** Set for bot messages (default: the fake bot's bot_id when `user` is not given). */
  bot_id?: string;
  thread_ts?: string;
}

export interface BlockActionOptions extends PayloadIdentity {
  user: string | PayloadUser;
  channel: string | PayloadChannel;
  /** ts of the message holding the interactive element. */
  messageTs: string;
  actionId: string;
  /** A trigger the fake Slack accepts for views.open: `slack.newTriggerId(userId)`. */
  triggerId: string;
  /** Default: the block_id of the block in `message.blocks` holding `actionId`, else "actions". */
  blockId?: string;
  /** Button value (buttons without a value send none, as in Slack). */
  value?: string;
  /** Makes the action a static_select choice instead of a button click. */
  selectedOption?: OptionInput;
  /** Makes the action an overflow menu choice. */
  overflowOption?: OptionInput;
  /** The message is ephemeral (e.g. an /incident reply): Slack marks the container so. */
  ephemeral?: boolean;
  /** Button label (default: the element's text in `message.blocks`, else the action_id). */
  buttonText?: string;
  /** The message content (text, blocks, author, thread); default an empty bot message. */
  message?: PayloadMessage;
  /** Default: now, in Slack's "seconds.micros" form. */
  actionTs?: string;
  responseUrl?: string;
}

/** One element's state as Slack reports it in `view.state.values[blockId][actionId]`. */
export interface StateValueInput {
  /** The element type: plain_text_input, static_select, users_select, multi_users_select, ... */
  type: string;
  value?: string | null;
  selected_option?: OptionInput | ViewStateSelectedOption | null;
  selected_options?: Array<OptionInput | ViewStateSelectedOption>;
  selected_user?: string | null;
  selected_users?: string[];
  selected_conversation?: string | null;
  selected_conversations?: string[];
  selected_channel?: string | null;
  selected_channels?: string[];
  selected_date?: string | null;
  selected_time?: string | null;
}

export type StateValuesInput = Record<string, Record<string, StateValueInput>>;

export interface ViewSubmissionOptions extends PayloadIdentity {
  user: string | PayloadUser;
  callbackId: string;
  /** `view.state.values`: blockId -> actionId -> element state. */
  values: StateValuesInput;
  privateMetadata?: string;
  /** Default: a fresh `VPL…` id. Use the fake's view id (fromFakeView) to submit a modal the app opened. */
  viewId?: string;
  hash?: string;
  /** Slack sends a trigger_id with view submissions too (default: one the fake never issued). */
  triggerId?: string;
  /** Modal title text (default "Firebreak"). */
  title?: string;
  /** Submit button text (default "Submit"). */
  submit?: string;
  close?: string;
  /** The modal's blocks (default: one input block per `values` entry). */
  blocks?: ViewOutput["blocks"];
  externalId?: string;
  rootViewId?: string;
  previousViewId?: string | null;
  responseUrls?: ViewResponseUrl[];
}

// ---------------------------------------------------------------------------------------------
// payload types (Bolt's, widened where Slack sends more)
// ---------------------------------------------------------------------------------------------

interface PlainText {
  type: "plain_text";
  text: string;
  emoji: boolean;
}

export type BlockActionElement = ButtonAction | StaticSelectAction | OverflowAction;

export interface BlockActionsPayload extends Omit<BlockAction<BlockActionElement>, "enterprise" | "channel" | "message" | "container" | "state" | "team"> {
  team: { id: string; domain: string };
  enterprise: null;
  is_enterprise_install: boolean;
  container: { type: "message"; message_ts: string; channel_id: string; is_ephemeral: boolean; thread_ts?: string };
  channel: { id: string; name: string };
  message: {
    type: "message";
    ts: string;
    text: string;
    user?: string;
    bot_id?: string;
    app_id?: string;
    team: string;
    blocks: unknown[];
    thread_ts?: string;
  };
  state: { values: Record<string, Record<string, ViewStateValue>> };
}

export interface ViewSubmissionPayload extends Omit<ViewSubmitAction, "enterprise" | "user" | "team" | "view"> {
  team: { id: string; domain: string };
  user: { id: string; username: string; name: string; team_id: string };
  enterprise: null;
  is_enterprise_install: boolean;
  view: ViewOutput & { title: PlainText; external_id: string; app_installed_team_id: string };
  response_urls: ViewResponseUrl[];
}

// Compile-time proof that the payloads are what Bolt's listeners are typed to receive.
type Assignable<T, U extends T> = U;
export type BoltAcceptsBlockActions = Assignable<Omit<BlockAction<BlockActionElement>, "enterprise">, Omit<BlockActionsPayload, "enterprise">>;
export type BoltAcceptsViewSubmission = Assignable<Omit<ViewSubmitAction, "enterprise">, Omit<ViewSubmissionPayload, "enterprise">>;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

let sequence = 0;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function plainText(text: string): PlainText {
  return { type: "plain_text", text, emoji: true };
}

/** Now as Slack writes event/action timestamps: "1700000000.123456". */
function slackNowTs(): string {
  const micros = Date.now() * 1000 + (++sequence % 1000);
  return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, "0")}`;
}

function identity(opts: PayloadIdentity): { teamId: string; teamDomain: string; apiAppId: string; token: string } {
  return {
    teamId: opts.teamId ?? DEFAULT_TEAM_ID,
    teamDomain: opts.teamDomain ?? "firebreak-test",
    apiAppId: opts.apiAppId ?? DEFAULT_BOT.app_id,
    token: opts.token ?? "deprecated-verification-token",
  };
}

function resolveUser(user: string | PayloadUser, teamId: string): { id: string; username: string; name: string; team_id: string } {
  const ref: PayloadUser = typeof user === "string" ? { id: user } : user;
  const username = ref.username ?? DEFAULT_USERS.find((u) => u.id === ref.id)?.name ?? ref.id.toLowerCase();
  return { id: ref.id, username, name: username, team_id: ref.team_id ?? teamId };
}

function resolveChannel(channel: string | PayloadChannel): { id: string; name: string } {
  const ref: PayloadChannel = typeof channel === "string" ? { id: channel } : channel;
  const name = ref.name ?? (ref.id === GENERAL_CHANNEL_ID ? "general" : ref.id.startsWith("D") ? "directmessage" : ref.id.toLowerCase());
  return { id: ref.id, name };
}

function option(o: OptionInput | ViewStateSelectedOption): ViewStateSelectedOption {
  return typeof o.text === "string" ? { text: plainText(o.text), value: o.value } : { text: o.text, value: o.value };
}

/** The block and element holding `actionId` in a blocks array (section accessory, actions/context elements, input element). */
function findElement(blocks: readonly unknown[] | undefined, actionId: string): { blockId?: string; element: Record<string, unknown> } | undefined {
  for (const block of blocks ?? []) {
    if (!isRecord(block)) continue;
    const blockId = typeof block["block_id"] === "string" ? block["block_id"] : undefined;
    const elements: unknown = block["elements"];
    const candidates: unknown[] = [block["accessory"], block["element"], ...(Array.isArray(elements) ? (elements as unknown[]) : [])];
    for (const el of candidates) {
      if (isRecord(el) && el["action_id"] === actionId) return { ...(blockId !== undefined ? { blockId } : {}), element: el };
    }
  }
  return undefined;
}

function textOf(value: unknown): string | undefined {
  return isRecord(value) && typeof value["text"] === "string" ? value["text"] : undefined;
}

/** Encodes a payload as Slack does: `payload=<url-encoded JSON>`. */
export function interactionBody(payload: object): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

// ---------------------------------------------------------------------------------------------
// block_actions
// ---------------------------------------------------------------------------------------------

/** A `block_actions` payload for a button click (or static_select choice with `selectedOption`) on a message. */
export function blockActionPayload(opts: BlockActionOptions): BlockActionsPayload {
  if (opts.selectedOption !== undefined && opts.value !== undefined) {
    throw new TypeError("blockActionPayload: give `value` (button) or `selectedOption` (static_select), not both");
  }
  const id = identity(opts);
  const user = resolveUser(opts.user, id.teamId);
  const channel = resolveChannel(opts.channel);
  const found = findElement(opts.message?.blocks, opts.actionId);
  const blockId = opts.blockId ?? found?.blockId ?? "actions";
  const actionTs = opts.actionTs ?? slackNowTs();

  const action: BlockActionElement =
    opts.overflowOption !== undefined
      ? { type: "overflow", action_id: opts.actionId, block_id: blockId, selected_option: option(opts.overflowOption), action_ts: actionTs }
      : opts.selectedOption !== undefined
      ? {
          type: "static_select",
          action_id: opts.actionId,
          block_id: blockId,
          selected_option: option(opts.selectedOption),
          action_ts: actionTs,
        }
      : {
          type: "button",
          action_id: opts.actionId,
          block_id: blockId,
          text: plainText(opts.buttonText ?? textOf(found?.element["text"]) ?? opts.actionId),
          ...(opts.value !== undefined ? { value: opts.value } : {}),
          action_ts: actionTs,
        };

  const m = opts.message ?? {};
  const author = m.user ?? DEFAULT_BOT.user_id;
  const botId = m.bot_id ?? (m.user === undefined ? DEFAULT_BOT.bot_id : undefined);
  const threadTs = m.thread_ts !== undefined && m.thread_ts !== opts.messageTs ? m.thread_ts : undefined;

  return {
    type: "block_actions",
    user,
    api_app_id: id.apiAppId,
    token: id.token,
    container: {
      type: "message",
      message_ts: opts.messageTs,
      channel_id: channel.id,
      is_ephemeral: opts.ephemeral ?? false,
      ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
    },
    trigger_id: opts.triggerId,
    team: { id: id.teamId, domain: id.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel,
    message: {
      type: "message",
      ...(botId !== undefined ? { bot_id: botId, app_id: id.apiAppId } : {}),
      user: author,
      text: m.text ?? "",
      ts: opts.messageTs,
      team: id.teamId,
      blocks: [...(m.blocks ?? [])],
      ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
    },
    state: { values: {} },
    response_url:
      opts.responseUrl ?? `https://hooks.slack.com/actions/${id.teamId}/${1_000_000_000 + ++sequence}/fakeResponseUrlSecret${sequence}`,
    actions: [action],
  };
}

/** The form body (`payload=<json>`) of a block_actions interaction, for sendToSlackEndpoint. */
export function blockActionBody(opts: BlockActionOptions): string {
  return interactionBody(blockActionPayload(opts));
}

export function sendBlockAction(appUrl: string, opts: BlockActionOptions, sendOptions: SendOptions = {}): Promise<SlackResponse> {
  return sendToSlackEndpoint(appUrl, blockActionBody(opts), sendOptions);
}

// ---------------------------------------------------------------------------------------------
// view_submission
// ---------------------------------------------------------------------------------------------

/** Fills in the keys Slack always sends for an element type (null / [] when nothing was entered). */
function stateValue(input: StateValueInput): ViewStateValue {
  const out: ViewStateValue = { type: input.type };
  for (const key of [
    "value",
    "selected_user",
    "selected_users",
    "selected_conversation",
    "selected_conversations",
    "selected_channel",
    "selected_channels",
    "selected_date",
    "selected_time",
  ] as const) {
    if (input[key] !== undefined) Object.assign(out, { [key]: input[key] });
  }
  if (input.selected_option !== undefined) out.selected_option = input.selected_option === null ? null : option(input.selected_option);
  if (input.selected_options !== undefined) out.selected_options = input.selected_options.map(option);

  const defaults: Record<string, keyof ViewStateValue> = {
    plain_text_input: "value",
    number_input: "value",
    email_text_input: "value",
    url_text_input: "value",
    static_select: "selected_option",
    external_select: "selected_option",
    radio_buttons: "selected_option",
    users_select: "selected_user",
    conversations_select: "selected_conversation",
    channels_select: "selected_channel",
    datepicker: "selected_date",
    timepicker: "selected_time",
  };
  const multi: Record<string, keyof ViewStateValue> = {
    multi_static_select: "selected_options",
    multi_external_select: "selected_options",
    checkboxes: "selected_options",
    multi_users_select: "selected_users",
    multi_conversations_select: "selected_conversations",
    multi_channels_select: "selected_channels",
  };
  const single = defaults[input.type];
  if (single !== undefined && out[single] === undefined) Object.assign(out, { [single]: null });
  const many = multi[input.type];
  if (many !== undefined && out[many] === undefined) Object.assign(out, { [many]: [] });
  return out;
}

/** One input block per submitted element, so `view.blocks` matches `view.state.values`. */
function inputBlocksFor(values: StateValuesInput): ViewOutput["blocks"] {
  const blocks: ViewOutput["blocks"] = [];
  for (const [blockId, elements] of Object.entries(values)) {
    for (const [actionId, state] of Object.entries(elements)) {
      const block = {
        type: "input",
        block_id: blockId,
        label: plainText(blockId),
        optional: false,
        dispatch_action: false,
        element: { type: state.type, action_id: actionId },
      };
      blocks.push(block);
    }
  }
  return blocks;
}

/** A `view_submission` payload: the user pressed the modal's submit button. */
export function viewSubmissionPayload(opts: ViewSubmissionOptions): ViewSubmissionPayload {
  const id = identity(opts);
  const user = resolveUser(opts.user, id.teamId);
  const n = ++sequence;
  const viewId = opts.viewId ?? `VPL${String(n).padStart(8, "0")}`;
  const values: Record<string, Record<string, ViewStateValue>> = {};
  for (const [blockId, elements] of Object.entries(opts.values)) {
    values[blockId] = Object.fromEntries(Object.entries(elements).map(([actionId, v]) => [actionId, stateValue(v)]));
  }
  return {
    type: "view_submission",
    team: { id: id.teamId, domain: id.teamDomain },
    user,
    api_app_id: id.apiAppId,
    token: id.token,
    trigger_id: opts.triggerId ?? `${Math.floor(Date.now() / 1000)}.${n}.${(n * 2654435761 >>> 0).toString(16)}f`,
    view: {
      id: viewId,
      team_id: id.teamId,
      type: "modal",
      blocks: opts.blocks ?? inputBlocksFor(opts.values),
      private_metadata: opts.privateMetadata ?? "",
      callback_id: opts.callbackId,
      state: { values },
      hash: opts.hash ?? `${Math.floor(Date.now() / 1000)}.${(n * 40503 >>> 0).toString(16).padStart(8, "0")}`,
      title: plainText(opts.title ?? "Firebreak"),
      clear_on_close: false,
      notify_on_close: false,
      close: opts.close !== undefined ? plainText(opts.close) : null,
      submit: plainText(opts.submit ?? "Submit"),
      previous_view_id: opts.previousViewId ?? null,
      root_view_id: opts.rootViewId ?? viewId,
      app_id: id.apiAppId,
      external_id: opts.externalId ?? "",
      app_installed_team_id: id.teamId,
      bot_id: DEFAULT_BOT.bot_id,
    },
    response_urls: opts.responseUrls ?? [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

/** The form body (`payload=<json>`) of a view_submission, for sendToSlackEndpoint. */
export function viewSubmissionBody(opts: ViewSubmissionOptions): string {
  return interactionBody(viewSubmissionPayload(opts));
}

export function sendViewSubmission(appUrl: string, opts: ViewSubmissionOptions, sendOptions: SendOptions = {}): Promise<SlackResponse> {
  return sendToSlackEndpoint(appUrl, viewSubmissionBody(opts), sendOptions);
}

/**
 * The parts of a submission that come from a modal the app opened in the fake Slack (id, hash,
 * callback_id, private_metadata, title, blocks), to spread into viewSubmissionBody's options:
 * `viewSubmissionBody({ user, values, ...fromFakeView(slack.views.last()!) })`.
 */
export function fromFakeView(
  view: FakeView,
): Pick<ViewSubmissionOptions, "callbackId" | "viewId" | "hash" | "privateMetadata" | "title" | "submit" | "close" | "blocks" | "externalId" | "rootViewId" | "previousViewId"> {
  const p = view.view;
  const blocks = Array.isArray(p["blocks"])
    ? p["blocks"].filter((b): b is ViewOutput["blocks"][number] => isRecord(b) && typeof b["type"] === "string")
    : undefined;
  const title = textOf(p["title"]);
  const submit = textOf(p["submit"]);
  const close = textOf(p["close"]);
  return {
    callbackId: view.callback_id ?? "",
    viewId: view.id,
    hash: view.hash,
    rootViewId: view.root_view_id,
    previousViewId: view.previous_view_id,
    ...(view.private_metadata !== undefined ? { privateMetadata: view.private_metadata } : {}),
    ...(view.external_id !== undefined ? { externalId: view.external_id } : {}),
    ...(title !== undefined ? { title } : {}),
    ...(submit !== undefined ? { submit } : {}),
    ...(close !== undefined ? { close } : {}),
    ...(blocks !== undefined ? { blocks } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// shared with slack-events.ts (event and message-shortcut payloads use the same identities)
// ---------------------------------------------------------------------------------------------

export { identity as payloadIdentity, resolveChannel as payloadChannel, resolveUser as payloadUser, slackNowTs };
