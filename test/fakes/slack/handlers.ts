/**
 * Stateful implementations of the Slack Web API methods the fake supports.
 * Handlers throw SlackError for `ok:false` answers; generic checks (auth, required
 * arguments, scopes, injected failures) happen in server.ts before a handler runs.
 */
import { validateBlocks, validateView } from "./blocks.ts";
import type { SocketModeServer } from "./socket-mode.ts";
import type { FakeBookmark, FakeChannel, FakeFile, FakeMessage, FakeUser, FakeView, TopicLike, WorkspaceState } from "./state.ts";

export type Args = Record<string, unknown>;

/** An `ok:false` Slack answer: `{ ok: false, error: code, ...extra }`. */
export class SlackError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code);
    this.name = "SlackError";
  }
}

export interface HandlerContext {
  readonly state: WorkspaceState;
  readonly args: Args;
  /** Scopes granted to the token. */
  readonly scopes: ReadonlySet<string>;
  /** Base of the upload URLs the fake serves, e.g. "http://127.0.0.1:PORT/upload/v1/". */
  readonly uploadBase: string;
  /** Socket Mode (apps.connections.open hands out its URLs). */
  readonly socketMode?: Pick<SocketModeServer, "openConnection">;
}

export type Handler = (ctx: HandlerContext) => Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// argument helpers
// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalidArguments(...problems: string[]): SlackError {
  return new SlackError("invalid_arguments", {
    response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
  });
}

/** String value of an argument (numbers/booleans stringified, as form encoding would). */
function str(args: Args, name: string): string | undefined {
  const v = args[name];
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === undefined || v === null) return undefined;
  throw invalidArguments(`must provide a string [json-pointer:/${name}]`);
}

function bool(args: Args, name: string): boolean {
  const v = args[name];
  return v === true || v === 1 || v === "true" || v === "1";
}

const TS_RE = /^\d+\.\d+$/;

// ---------------------------------------------------------------------------------------------
// object renderers (shapes follow Slack's documented responses)
// ---------------------------------------------------------------------------------------------

export function conversationObject(
  state: WorkspaceState,
  ch: FakeChannel,
  opts: { numMembers?: boolean } = {},
): Record<string, unknown> {
  if (ch.is_im) {
    return {
      id: ch.id,
      created: ch.created,
      is_im: true,
      is_org_shared: false,
      user: ch.im_user,
      is_user_deleted: state.users.get(ch.im_user ?? "")?.deleted ?? false,
      priority: 0,
    };
  }
  return {
    id: ch.id,
    name: ch.name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: ch.is_private,
    created: ch.created,
    is_archived: ch.is_archived,
    is_general: ch.is_general,
    unlinked: 0,
    name_normalized: ch.name,
    is_shared: false,
    is_org_shared: false,
    is_ext_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: state.bot.team_id,
    updated: ch.created * 1000,
    parent_conversation: null,
    creator: ch.creator,
    is_member: ch.members.includes(state.bot.user_id),
    topic: { ...ch.topic },
    purpose: { ...ch.purpose },
    previous_names: [...ch.previous_names],
    ...(opts.numMembers === true ? { num_members: ch.members.length } : {}),
  };
}

export function messageObject(state: WorkspaceState, m: FakeMessage): Record<string, unknown> {
  const fromBot = m.bot_id !== undefined;
  const files = (m.files ?? []).map((id) => state.files.get(id)).filter((f): f is FakeFile => f !== undefined);
  return {
    type: "message",
    ...(m.client_msg_id !== undefined ? { client_msg_id: m.client_msg_id } : {}),
    user: m.user,
    ...(fromBot ? { bot_id: m.bot_id, app_id: state.bot.app_id } : {}),
    text: m.text,
    ts: m.ts,
    team: state.bot.team_id,
    ...(m.blocks !== undefined ? { blocks: m.blocks } : {}),
    ...(m.attachments !== undefined ? { attachments: m.attachments } : {}),
    ...(m.metadata !== undefined ? { metadata: m.metadata } : {}),
    ...(m.thread_ts !== undefined && m.thread_ts !== m.ts ? { thread_ts: m.thread_ts } : {}),
    ...(m.edited !== undefined ? { edited: { ...m.edited } } : {}),
    ...(m.reactions.length > 0
      ? { reactions: m.reactions.map((r) => ({ name: r.name, users: [...r.users], count: r.users.length })) }
      : {}),
    ...(m.pinned ? { pinned_to: [m.channel] } : {}),
    ...(files.length > 0 ? { files: files.map((f) => fileObject(state, f)), upload: true, display_as_bot: false } : {}),
    ...(fromBot
      ? {
          bot_profile: {
            id: m.bot_id,
            app_id: state.bot.app_id,
            name: state.bot.name,
            deleted: false,
            team_id: state.bot.team_id,
          },
        }
      : {}),
  };
}

/** A file object as Slack renders it (the fields an app reads; URLs point nowhere). */
export function fileObject(state: WorkspaceState, f: FakeFile): Record<string, unknown> {
  const ext = /\.([A-Za-z0-9]+)$/.exec(f.filename)?.[1]?.toLowerCase() ?? "";
  return {
    id: f.id,
    created: f.created,
    timestamp: f.created,
    name: f.filename,
    title: f.title ?? f.filename,
    mimetype: ext === "md" ? "text/markdown" : ext === "txt" ? "text/plain" : ext === "json" ? "application/json" : "application/octet-stream",
    filetype: f.snippetType ?? (ext === "" ? "binary" : ext),
    pretty_type: ext === "" ? "Binary" : ext.toUpperCase(),
    user: state.bot.user_id,
    user_team: state.bot.team_id,
    editable: false,
    size: f.content?.length ?? f.length,
    mode: "hosted",
    is_external: false,
    external_type: "",
    is_public: f.channel !== undefined && state.channels.get(f.channel)?.is_private === false,
    public_url_shared: false,
    display_as_bot: false,
    username: "",
    url_private: `https://files.slack.com/files-pri/${state.bot.team_id}-${f.id}/${encodeURIComponent(f.filename)}`,
    url_private_download: `https://files.slack.com/files-pri/${state.bot.team_id}-${f.id}/download/${encodeURIComponent(f.filename)}`,
    permalink: `${state.bot.url}files/${state.bot.user_id}/${f.id}/${encodeURIComponent(f.filename)}`,
    ...(f.altTxt !== undefined ? { alt_txt: f.altTxt } : {}),
    channels: f.channel !== undefined && state.channels.get(f.channel)?.is_private === false ? [f.channel] : [],
    groups: f.channel !== undefined && state.channels.get(f.channel)?.is_private === true && state.channels.get(f.channel)?.is_im === false ? [f.channel] : [],
    ims: f.channel !== undefined && state.channels.get(f.channel)?.is_im === true ? [f.channel] : [],
    comments_count: 0,
  };
}

/**
 * A message as conversations.history / replies return it: messageObject plus the thread fields
 * (parents: thread_ts, reply_count, reply_users, latest_reply; replies: thread_ts, parent_user_id;
 * broadcast replies: subtype thread_broadcast).
 */
function listedMessageObject(state: WorkspaceState, m: FakeMessage): Record<string, unknown> {
  const base = messageObject(state, m);
  const isReply = m.thread_ts !== undefined && m.thread_ts !== m.ts;
  if (isReply) {
    const parent = state.findMessage(m.channel, m.thread_ts ?? "");
    return {
      ...base,
      ...(m.reply_broadcast ? { subtype: "thread_broadcast" } : {}),
      ...(m.reply_broadcast && parent !== undefined ? { root: messageObject(state, parent) } : {}),
      thread_ts: m.thread_ts,
      ...(parent !== undefined ? { parent_user_id: parent.user } : {}),
    };
  }
  const replies = state.messages.filter((r) => r.channel === m.channel && r.thread_ts === m.ts && r.ts !== m.ts);
  if (replies.length === 0) return base;
  return {
    ...base,
    thread_ts: m.ts,
    reply_count: replies.length,
    reply_users_count: new Set(replies.map((r) => r.user)).size,
    latest_reply: replies[replies.length - 1]?.ts,
    reply_users: [...new Set(replies.map((r) => r.user))].slice(0, 5),
    is_locked: false,
    subscribed: false,
  };
}

function userObject(user: FakeUser, withEmail: boolean): Record<string, unknown> {
  return {
    id: user.id,
    team_id: user.team_id,
    name: user.name,
    deleted: user.deleted,
    color: "9f69e7",
    real_name: user.real_name,
    tz: user.tz,
    tz_label: user.tz,
    tz_offset: 0,
    profile: {
      real_name: user.real_name,
      real_name_normalized: user.real_name,
      display_name: user.name,
      display_name_normalized: user.name,
      ...(withEmail && !user.is_bot ? { email: user.email } : {}),
      image_48: `https://avatars.example.invalid/${user.id}_48.png`,
      image_72: `https://avatars.example.invalid/${user.id}_72.png`,
      team: user.team_id,
    },
    is_admin: user.is_admin,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: user.is_bot,
    is_app_user: false,
    updated: 1_700_000_000,
    is_email_confirmed: !user.is_bot,
  };
}

function viewObject(state: WorkspaceState, v: FakeView): Record<string, unknown> {
  const p = v.view;
  return {
    id: v.id,
    team_id: state.bot.team_id,
    type: v.type,
    ...(v.type === "modal" ? { title: p["title"], close: p["close"] ?? null, submit: p["submit"] ?? null } : {}),
    blocks: p["blocks"],
    private_metadata: v.private_metadata ?? "",
    callback_id: v.callback_id ?? "",
    external_id: v.external_id ?? "",
    state: { values: {} },
    hash: v.hash,
    clear_on_close: p["clear_on_close"] === true,
    notify_on_close: p["notify_on_close"] === true,
    root_view_id: v.root_view_id,
    previous_view_id: v.previous_view_id,
    app_id: state.bot.app_id,
    app_installed_team_id: state.bot.team_id,
    bot_id: state.bot.bot_id,
  };
}

function bookmarkObject(b: FakeBookmark): Record<string, unknown> {
  return { ...b, icon_url: null, shortcut_id: null, app_id: null };
}

// ---------------------------------------------------------------------------------------------
// lookups
// ---------------------------------------------------------------------------------------------

interface ResolveOptions {
  /** Accept "#name" / "name" (chat.postMessage and chat.postEphemeral accept names). */
  allowName?: boolean;
  /** Accept a user ID and resolve it to the bot's DM with that user (chat.postMessage). */
  allowUser?: boolean;
  /** Error code when the channel is unknown or invisible (default channel_not_found). */
  notFound?: string;
}

/**
 * Resolves a channel as the bot sees it: private channels and DMs the bot is not a member
 * of are invisible, exactly like unknown channels (Slack answers channel_not_found).
 */
function resolveChannel(ctx: HandlerContext, ref: string | undefined, opts: ResolveOptions = {}): FakeChannel {
  const notFound = new SlackError(opts.notFound ?? "channel_not_found");
  if (ref === undefined || ref === "") throw notFound;
  const { state } = ctx;
  let ch = state.channels.get(ref);
  if (ch === undefined && opts.allowName === true) ch = state.channelByName(ref);
  if (ch === undefined && opts.allowUser === true) {
    const user = state.users.get(ref);
    if (user !== undefined && !user.is_bot && !user.deleted) ch = state.dmWith(user.id, true);
  }
  if (ch === undefined) throw notFound;
  if ((ch.is_private || ch.is_im) && !ch.members.includes(state.bot.user_id)) throw notFound;
  return ch;
}

interface MessageContent {
  text?: string;
  blocks?: unknown[];
  attachments?: unknown[];
  metadata?: unknown;
}

/** Validates text / blocks / attachments / metadata the way chat.* methods do. */
function messageContent(args: Args, opts: { requireSome: boolean }): MessageContent {
  const out: MessageContent = {};
  const text = str(args, "text");
  if (text !== undefined) {
    if (text.length > 40_000) throw new SlackError("msg_too_long");
    out.text = text;
  }
  const blocks = args["blocks"];
  if (blocks !== undefined && blocks !== null && blocks !== "") {
    if (!Array.isArray(blocks)) {
      throw new SlackError("invalid_blocks_format", {
        response_metadata: { messages: ["[ERROR] blocks must be a JSON-encoded array of block objects"] },
      });
    }
    const problems = validateBlocks(blocks, "message");
    if (problems.length > 0) {
      throw new SlackError("invalid_blocks", {
        errors: problems,
        response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
      });
    }
    out.blocks = blocks;
  }
  const attachments = args["attachments"];
  if (attachments !== undefined && attachments !== null && attachments !== "") {
    if (!Array.isArray(attachments)) throw invalidArguments("attachments must be a JSON-encoded array [json-pointer:/attachments]");
    if (attachments.length > 100) throw new SlackError("too_many_attachments");
    out.attachments = attachments;
  }
  const metadata = args["metadata"];
  if (metadata !== undefined && metadata !== null && metadata !== "") {
    if (!isRecord(metadata) || typeof metadata["event_type"] !== "string" || !isRecord(metadata["event_payload"])) {
      throw invalidArguments("metadata must be an object with event_type and event_payload [json-pointer:/metadata]");
    }
    out.metadata = metadata;
  }
  const hasText = out.text !== undefined && out.text.trim() !== "";
  const hasBlocks = out.blocks !== undefined && out.blocks.length > 0;
  const hasAttachments = out.attachments !== undefined && out.attachments.length > 0;
  if (opts.requireSome && !hasText && !hasBlocks && !hasAttachments) throw new SlackError("no_text");
  return out;
}

function findMessageIn(ctx: HandlerContext, channel: FakeChannel, ts: string | undefined): FakeMessage {
  if (ts === undefined || ts === "") throw new SlackError("message_not_found");
  const m = ctx.state.findMessage(channel.id, ts);
  if (m === undefined) throw new SlackError("message_not_found");
  return m;
}

function pinTarget(
  ctx: HandlerContext,
  notFound: string,
  opts: { requireMember?: boolean } = {},
): { channel: FakeChannel; message: FakeMessage } {
  const channel = resolveChannel(ctx, str(ctx.args, "channel"), { notFound });
  if (opts.requireMember === true && !channel.members.includes(ctx.state.bot.user_id)) throw new SlackError("not_in_channel");
  const ts = str(ctx.args, "timestamp");
  if (ts === undefined || ts === "") throw new SlackError("no_item_specified");
  if (!TS_RE.test(ts)) throw new SlackError("bad_timestamp");
  const message = ctx.state.findMessage(channel.id, ts);
  if (message === undefined) throw new SlackError("message_not_found");
  return { channel, message };
}

// ---------------------------------------------------------------------------------------------
// pagination
// ---------------------------------------------------------------------------------------------

function page<T>(items: readonly T[], args: Args): { items: T[]; next_cursor: string } {
  const limitRaw = str(args, "limit");
  let limit = 100;
  if (limitRaw !== undefined && limitRaw !== "") {
    limit = Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0 || limit > 1000) throw new SlackError("invalid_limit");
    if (limit === 0) limit = 100;
  }
  const cursor = str(args, "cursor");
  let offset = 0;
  if (cursor !== undefined && cursor !== "") {
    const decoded = Buffer.from(cursor, "base64").toString("utf8");
    const match = /^fake:(\d+)$/.exec(decoded);
    if (match === null || match[1] === undefined) throw new SlackError("invalid_cursor");
    offset = Number(match[1]);
  }
  const slice = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? Buffer.from(`fake:${offset + limit}`).toString("base64") : "";
  return { items: slice, next_cursor: next };
}

// ---------------------------------------------------------------------------------------------
// message lists (conversations.history / conversations.replies)
// ---------------------------------------------------------------------------------------------

const LIST_TS_RE = /^\d+(\.\d{1,6})?$/;

/** A Slack ts as an exact integer of microseconds (floats lose the last digits). */
function tsMicros(ts: string): bigint {
  const [secs = "0", frac = ""] = ts.split(".");
  return BigInt(secs) * 1_000_000n + BigInt(frac.padEnd(6, "0").slice(0, 6) || "0");
}

interface TsWindow {
  oldest?: bigint;
  latest?: bigint;
  inclusive: boolean;
}

function tsWindow(args: Args): TsWindow {
  const bound = (name: "oldest" | "latest"): bigint | undefined => {
    const raw = str(args, name);
    if (raw === undefined || raw === "") return undefined;
    if (!LIST_TS_RE.test(raw)) throw new SlackError(`invalid_ts_${name}`);
    return tsMicros(raw);
  };
  const oldest = bound("oldest");
  const latest = bound("latest");
  return { ...(oldest !== undefined ? { oldest } : {}), ...(latest !== undefined ? { latest } : {}), inclusive: bool(args, "inclusive") };
}

function inWindow(w: TsWindow, ts: string): boolean {
  const t = tsMicros(ts);
  if (w.oldest !== undefined && (w.inclusive ? t < w.oldest : t <= w.oldest)) return false;
  if (w.latest !== undefined && (w.inclusive ? t > w.latest : t >= w.latest)) return false;
  return true;
}

/** `limit` for history-like lists: 0/absent -> default, above max -> max (Slack returns at most that many). */
function listLimit(args: Args, byDefault: number, max: number): number {
  const raw = str(args, "limit");
  if (raw === undefined || raw === "") return byDefault;
  if (!/^\d+$/.test(raw)) throw invalidArguments("limit must be an integer [json-pointer:/limit]");
  const n = Number(raw);
  return n === 0 ? byDefault : Math.min(n, max);
}

function listPage<T>(items: readonly T[], args: Args, limit: number, kind: string): { items: T[]; has_more: boolean; next_cursor: string } {
  const cursor = str(args, "cursor");
  let offset = 0;
  if (cursor !== undefined && cursor !== "") {
    const match = new RegExp(`^fake-${kind}:(\\d+)$`).exec(Buffer.from(cursor, "base64").toString("utf8"));
    if (match === null || match[1] === undefined) throw new SlackError("invalid_cursor");
    offset = Number(match[1]);
  }
  const slice = items.slice(offset, offset + limit);
  const hasMore = offset + limit < items.length;
  return { items: slice, has_more: hasMore, next_cursor: hasMore ? Buffer.from(`fake-${kind}:${offset + limit}`).toString("base64") : "" };
}

/**
 * The conversation a history/replies call reads, as a bot token sees it: invisible private
 * channels answer channel_not_found, public channels the bot has not joined not_in_channel, and
 * the token needs the history scope of the conversation's type.
 */
function readableConversation(ctx: HandlerContext): FakeChannel {
  const ch = resolveChannel(ctx, str(ctx.args, "channel"));
  const needed = ch.is_im ? "im:history" : ch.is_private ? "groups:history" : "channels:history";
  if (!ctx.scopes.has(needed)) throw new SlackError("missing_scope", { needed, provided: [...ctx.scopes].join(",") });
  if (!ch.members.includes(ctx.state.bot.user_id)) throw new SlackError("not_in_channel");
  return ch;
}

// ---------------------------------------------------------------------------------------------
// views
// ---------------------------------------------------------------------------------------------

const TRIGGER_RE = /^\d+\.\d+\.[0-9a-f]+$/i;

function parseViewArg(args: Args, expected: "modal" | "home" | "modal|home"): Record<string, unknown> {
  const view = args["view"];
  if (typeof view === "string") throw invalidArguments("failed to parse view: must be a JSON-encoded object [json-pointer:/view]");
  if (JSON.stringify(view ?? null).length > 250_000) throw new SlackError("view_too_large");
  const problems = validateView(view, expected);
  if (problems.length > 0 || !isRecord(view)) throw invalidArguments(...problems);
  return view;
}

function checkExternalId(state: WorkspaceState, view: Record<string, unknown>, self?: FakeView): string | undefined {
  const ext = view["external_id"];
  if (typeof ext !== "string" || ext === "") return undefined;
  for (const v of state.views.values()) {
    if (v !== self && v.external_id === ext) throw new SlackError("duplicate_external_id");
  }
  return ext;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------------------------

const CHANNEL_NAME_RE = /^[a-z0-9_-]+$/;
const MAX_PINS_PER_CHANNEL = 100;
const EMOJI_NAME_RE = /^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/;

export const handlers: Record<string, Handler> = {
  "auth.test": ({ state }) => ({
    url: state.bot.url,
    team: state.bot.team,
    user: state.bot.name,
    team_id: state.bot.team_id,
    user_id: state.bot.user_id,
    bot_id: state.bot.bot_id,
    is_enterprise_install: false,
  }),

  // ---- Socket Mode (app-level token; server.ts checks the token type) -------------------------

  "apps.connections.open": ({ socketMode }) => {
    if (socketMode === undefined) throw new Error("apps.connections.open needs the fake's Socket Mode server");
    return socketMode.openConnection();
  },

  // ---- conversations ------------------------------------------------------------------------

  "conversations.create": (ctx) => {
    const { state, args } = ctx;
    const name = str(args, "name") ?? "";
    if (name.trim() === "") throw new SlackError("invalid_name_required");
    if (name.length > 80) throw new SlackError("invalid_name_maxlength");
    if (!CHANNEL_NAME_RE.test(name)) throw new SlackError("invalid_name_specials");
    if (/^[-_]+$/.test(name)) throw new SlackError("invalid_name_punctuation");
    if (state.channelByName(name) !== undefined) throw new SlackError("name_taken");
    const ch = state.addChannel({ name, is_private: bool(args, "is_private"), creator: state.bot.user_id });
    return { channel: conversationObject(state, ch) };
  },

  "conversations.info": (ctx) => {
    const ch = resolveChannel(ctx, str(ctx.args, "channel"));
    return { channel: conversationObject(ctx.state, ch, { numMembers: bool(ctx.args, "include_num_members") }) };
  },

  "conversations.invite": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel"));
    if (ch.is_im) throw new SlackError("method_not_supported_for_channel_type");
    if (ch.is_archived) throw new SlackError("is_archived");
    if (!ch.members.includes(state.bot.user_id)) throw new SlackError("not_in_channel");
    const ids = (str(args, "users") ?? "")
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "");
    if (ids.length === 0) throw new SlackError("no_user");
    if (ids.length > 1000) throw new SlackError("too_many_users");

    const failures: Array<{ user: string; ok: false; error: string }> = [];
    const valid: string[] = [];
    for (const id of ids) {
      const user = state.users.get(id);
      let error: string | undefined;
      if (user === undefined) error = "user_not_found";
      else if (id === state.bot.user_id) error = "cant_invite_self";
      else if (user.deleted) error = "cant_invite";
      else if (ch.members.includes(id) || valid.includes(id)) error = "already_in_channel";
      if (error === undefined) valid.push(id);
      else failures.push({ user: id, ok: false, error });
    }
    const first = failures[0];
    // Without force, one bad user fails the whole call and nobody is invited.
    if (first !== undefined && (!bool(args, "force") || valid.length === 0)) {
      throw new SlackError(first.error, { errors: failures });
    }
    ch.members.push(...valid);
    return {
      channel: conversationObject(state, ch),
      ...(failures.length > 0 ? { errors: failures } : {}),
    };
  },

  "conversations.join": (ctx) => {
    const { state } = ctx;
    const ch = resolveChannel(ctx, str(ctx.args, "channel"));
    if (ch.is_private || ch.is_im) throw new SlackError("method_not_supported_for_channel_type");
    if (ch.is_archived) throw new SlackError("is_archived");
    if (ch.members.includes(state.bot.user_id)) {
      return {
        channel: conversationObject(state, ch),
        warning: "already_in_channel",
        response_metadata: { warnings: ["already_in_channel"] },
      };
    }
    ch.members.push(state.bot.user_id);
    return { channel: conversationObject(state, ch) };
  },

  "conversations.setTopic": (ctx) => setTopicOrPurpose(ctx, "topic"),
  "conversations.setPurpose": (ctx) => setTopicOrPurpose(ctx, "purpose"),

  "conversations.members": (ctx) => {
    const ch = resolveChannel(ctx, str(ctx.args, "channel"));
    const { items, next_cursor } = page(ch.members, ctx.args);
    return { members: items, response_metadata: { next_cursor } };
  },

  "conversations.list": (ctx) => {
    const { state, args } = ctx;
    const typesRaw = str(args, "types");
    const types = new Set(
      (typesRaw === undefined || typesRaw === "" ? "public_channel" : typesRaw)
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t !== ""),
    );
    for (const t of types) {
      if (!["public_channel", "private_channel", "mpim", "im"].includes(t)) throw new SlackError("invalid_types");
    }
    const excludeArchived = bool(args, "exclude_archived");
    const visible = [...state.channels.values()].filter((ch) => {
      if (excludeArchived && ch.is_archived) return false;
      if (ch.is_im) return types.has("im") && ch.members.includes(state.bot.user_id);
      if (ch.is_private) return types.has("private_channel") && ch.members.includes(state.bot.user_id);
      return types.has("public_channel");
    });
    const { items, next_cursor } = page(visible, args);
    return { channels: items.map((ch) => conversationObject(state, ch)), response_metadata: { next_cursor } };
  },

  "conversations.history": (ctx) => {
    const { state, args } = ctx;
    const ch = readableConversation(ctx);
    const window = tsWindow(args);
    const limit = listLimit(args, 100, 999);
    // Top-level messages and broadcast replies, newest first (thread replies live in conversations.replies).
    const visible = state.messages
      .filter((m) => m.channel === ch.id && (m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast))
      .filter((m) => inWindow(window, m.ts))
      .reverse();
    const { items, has_more, next_cursor } = listPage(visible, args, limit, "history");
    return {
      messages: items.map((m) => listedMessageObject(state, m)),
      has_more,
      pin_count: state.messages.filter((m) => m.channel === ch.id && m.pinned).length,
      channel_actions_ts: null,
      channel_actions_count: 0,
      ...(has_more ? { response_metadata: { next_cursor } } : {}),
    };
  },

  "conversations.replies": (ctx) => {
    const { state, args } = ctx;
    const ch = readableConversation(ctx);
    const ts = str(args, "ts") ?? "";
    const target = state.findMessage(ch.id, ts);
    if (target === undefined) throw new SlackError("thread_not_found");
    const rootTs = target.thread_ts ?? target.ts;
    const parent = state.findMessage(ch.id, rootTs);
    const window = tsWindow(args);
    const limit = listLimit(args, 1000, 1000);
    // The parent first (whatever the window, as Slack does), then the replies oldest first.
    const replies = state.messages.filter((m) => m.channel === ch.id && m.thread_ts === rootTs && m.ts !== rootTs && inWindow(window, m.ts));
    const thread = [...(parent !== undefined ? [parent] : []), ...replies];
    const { items, has_more, next_cursor } = listPage(thread, args, limit, "replies");
    return {
      messages: items.map((m) => listedMessageObject(state, m)),
      has_more,
      ...(has_more ? { response_metadata: { next_cursor } } : {}),
    };
  },

  // ---- chat ---------------------------------------------------------------------------------

  "chat.postMessage": (ctx) => {
    const { state, args, scopes } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel"), { allowName: true, allowUser: true });
    if (ch.is_archived) throw new SlackError("is_archived");
    const canPostPublic = !ch.is_private && scopes.has("chat:write.public");
    if (!ch.members.includes(state.bot.user_id) && !canPostPublic) throw new SlackError("not_in_channel");
    const content = messageContent(args, { requireSome: true });
    const threadTs = str(args, "thread_ts");
    const message: FakeMessage = {
      channel: ch.id,
      ts: state.nextTs(),
      text: content.text ?? "",
      ...(content.blocks !== undefined ? { blocks: content.blocks } : {}),
      ...(content.attachments !== undefined ? { attachments: content.attachments } : {}),
      ...(content.metadata !== undefined ? { metadata: content.metadata } : {}),
      ...(threadTs !== undefined && threadTs !== "" ? { thread_ts: threadTs } : {}),
      reply_broadcast: bool(args, "reply_broadcast"),
      user: state.bot.user_id,
      bot_id: state.bot.bot_id,
      ...(optionalString(args["username"]) !== undefined ? { username: optionalString(args["username"]) } : {}),
      ...(optionalString(args["icon_emoji"]) !== undefined ? { icon_emoji: optionalString(args["icon_emoji"]) } : {}),
      ...(optionalString(args["icon_url"]) !== undefined ? { icon_url: optionalString(args["icon_url"]) } : {}),
      pinned: false,
      reactions: [],
      history: [],
    };
    state.messages.push(message);
    return { channel: ch.id, ts: message.ts, message: messageObject(state, message) };
  },

  "chat.update": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel"));
    const message = findMessageIn(ctx, ch, str(args, "ts"));
    if (message.bot_id !== state.bot.bot_id) throw new SlackError("cant_update_message");
    const content = messageContent(args, { requireSome: true });
    message.history.push({
      text: message.text,
      ...(message.blocks !== undefined ? { blocks: message.blocks } : {}),
      ...(message.attachments !== undefined ? { attachments: message.attachments } : {}),
      replacedAt: Date.now(),
    });
    if (content.text !== undefined) message.text = content.text;
    if (args["blocks"] !== undefined) {
      if (content.blocks === undefined || content.blocks.length === 0) delete message.blocks;
      else message.blocks = content.blocks;
    }
    if (content.attachments !== undefined) message.attachments = content.attachments;
    if (content.metadata !== undefined) message.metadata = content.metadata;
    message.edited = { user: state.bot.user_id, ts: state.nextTs() };
    const rendered = messageObject(state, message);
    return { channel: ch.id, ts: message.ts, text: message.text, message: rendered };
  },

  "chat.postEphemeral": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel"), { allowName: true });
    // Bots cannot post ephemerals where they are not present; Slack answers channel_not_found.
    if (!ch.members.includes(state.bot.user_id)) throw new SlackError("channel_not_found");
    if (ch.is_archived) throw new SlackError("is_archived");
    const user = str(args, "user") ?? "";
    if (!state.users.has(user) || !ch.members.includes(user)) throw new SlackError("user_not_in_channel");
    const content = messageContent(args, { requireSome: true });
    const threadTs = str(args, "thread_ts");
    const messageTs = state.nextTs();
    state.ephemerals.push({
      channel: ch.id,
      user,
      message_ts: messageTs,
      text: content.text ?? "",
      ...(content.blocks !== undefined ? { blocks: content.blocks } : {}),
      ...(content.attachments !== undefined ? { attachments: content.attachments } : {}),
      ...(threadTs !== undefined && threadTs !== "" ? { thread_ts: threadTs } : {}),
    });
    return { message_ts: messageTs };
  },

  "chat.getPermalink": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel"));
    const message = findMessageIn(ctx, ch, str(args, "message_ts"));
    const base = `${state.bot.url}archives/${ch.id}/p${message.ts.replace(".", "")}`;
    const permalink =
      message.thread_ts !== undefined && message.thread_ts !== message.ts
        ? `${base}?thread_ts=${message.thread_ts}&cid=${ch.id}`
        : base;
    return { channel: ch.id, permalink };
  },

  // ---- pins / reactions ---------------------------------------------------------------------

  "pins.add": (ctx) => {
    // Bots can only pin in conversations they are members of (public channels included).
    const { channel, message } = pinTarget(ctx, "channel_not_found", { requireMember: true });
    if (message.pinned) throw new SlackError("already_pinned");
    const pinned = ctx.state.messages.filter((m) => m.channel === channel.id && m.pinned).length;
    if (pinned >= MAX_PINS_PER_CHANNEL) throw new SlackError("too_many_pins");
    message.pinned = true;
    message.pin = { by: ctx.state.bot.user_id, at: ctx.state.now() };
    return {};
  },

  "pins.remove": (ctx) => {
    // The spec lists no channel_not_found for pins.remove: unknown channels surface as message_not_found.
    const { message } = pinTarget(ctx, "message_not_found");
    if (!message.pinned) throw new SlackError("not_pinned");
    message.pinned = false;
    return {};
  },

  "reactions.add": (ctx) => {
    const { state, args } = ctx;
    const name = str(args, "name") ?? "";
    if (!EMOJI_NAME_RE.test(name)) throw new SlackError("invalid_name");
    const ts = str(args, "timestamp") ?? "";
    if (!TS_RE.test(ts)) throw new SlackError("bad_timestamp");
    // The spec lists no channel_not_found for reactions.add: unknown channels surface as message_not_found.
    const ch = resolveChannel(ctx, str(args, "channel"), { notFound: "message_not_found" });
    const message = state.findMessage(ch.id, ts);
    if (message === undefined) throw new SlackError("message_not_found");
    let reaction = message.reactions.find((r) => r.name === name);
    if (reaction?.users.includes(state.bot.user_id) === true) throw new SlackError("already_reacted");
    if (reaction === undefined) {
      if (message.reactions.length >= 50) throw new SlackError("too_many_reactions");
      reaction = { name, users: [] };
      message.reactions.push(reaction);
    }
    reaction.users.push(state.bot.user_id);
    return {};
  },

  // ---- files (the two-step external upload) -------------------------------------------------

  "files.getUploadURLExternal": ({ state, args, uploadBase }) => {
    const filename = str(args, "filename") ?? "";
    if (filename.trim() === "") throw invalidArguments("filename must not be empty [json-pointer:/filename]");
    const rawLength = str(args, "length") ?? "";
    if (!/^\d+$/.test(rawLength)) throw invalidArguments("length must be an integer [json-pointer:/length]");
    const length = Number(rawLength);
    if (length === 0) throw new SlackError("missing_argument");
    const altTxt = str(args, "alt_txt");
    if (altTxt !== undefined && altTxt.length > 1000) throw new SlackError("alt_txt_too_large");
    const snippetType = str(args, "snippet_type");
    if (snippetType !== undefined && snippetType !== "" && length > 1024 * 1024) throw new SlackError("snippet_too_large");
    const id = state.nextFileId();
    const file: FakeFile = {
      id,
      filename,
      length,
      uploadSecret: `${(Number.parseInt(id.slice(3), 36) * 2654435761 >>> 0).toString(16).padStart(8, "0")}${state.now().toString(16)}`,
      completed: false,
      created: state.now(),
      ...(snippetType !== undefined && snippetType !== "" ? { snippetType } : {}),
      ...(altTxt !== undefined ? { altTxt } : {}),
    };
    state.files.set(id, file);
    return { upload_url: `${uploadBase}${id}/${file.uploadSecret}`, file_id: id };
  },

  "files.completeUploadExternal": (ctx) => {
    const { state, args } = ctx;
    const list = args["files"];
    if (!Array.isArray(list) || list.length === 0) {
      throw invalidArguments("files must be a non-empty JSON array of {id, title?} [json-pointer:/files]");
    }
    const entries = list.map((entry, i) => {
      if (!isRecord(entry) || typeof entry["id"] !== "string") throw invalidArguments(`files[${i}] must be an object with a string id [json-pointer:/files/${i}/id]`);
      const title = entry["title"];
      return { id: entry["id"], ...(typeof title === "string" && title !== "" ? { title } : {}) };
    });
    const files = entries.map((e) => {
      const file = state.files.get(e.id);
      // Unknown tickets, files whose bytes never reached the upload URL, and finished uploads all fail.
      if (file === undefined || file.content === undefined || file.completed) throw new SlackError("file_not_found");
      return { file, title: e.title };
    });

    let channelRef = str(args, "channel_id");
    const channelsCsv = str(args, "channels");
    if ((channelRef === undefined || channelRef === "") && channelsCsv !== undefined && channelsCsv !== "") {
      const ids = channelsCsv.split(",").map((c) => c.trim()).filter((c) => c !== "");
      if (ids.length > 100) throw new SlackError("channels_limit_exceeded");
      if (ids.length > 1) throw new Error("fake Slack: files.completeUploadExternal with several `channels` is not implemented (use channel_id)");
      channelRef = ids[0];
    }
    const threadTs = str(args, "thread_ts");
    const initialComment = str(args, "initial_comment");
    let channel: FakeChannel | undefined;
    if (channelRef !== undefined && channelRef !== "") {
      channel = resolveChannel(ctx, channelRef);
      if (channel.is_archived) throw new SlackError("invalid_channel");
      if (!channel.members.includes(state.bot.user_id)) throw new SlackError("not_in_channel");
    } else if (threadTs !== undefined && threadTs !== "") {
      throw invalidArguments("thread_ts needs channel_id [json-pointer:/thread_ts]");
    }
    let blocks: unknown[] | undefined;
    if ((initialComment === undefined || initialComment === "") && args["blocks"] !== undefined && args["blocks"] !== "") {
      blocks = messageContent({ blocks: args["blocks"] }, { requireSome: false }).blocks;
    }

    let messageTs: string | undefined;
    if (channel !== undefined) {
      const message: FakeMessage = {
        channel: channel.id,
        ts: state.nextTs(),
        text: initialComment ?? "",
        ...(blocks !== undefined ? { blocks } : {}),
        ...(threadTs !== undefined && threadTs !== "" ? { thread_ts: threadTs } : {}),
        reply_broadcast: false,
        user: state.bot.user_id,
        bot_id: state.bot.bot_id,
        pinned: false,
        reactions: [],
        history: [],
        files: files.map((f) => f.file.id),
      };
      state.messages.push(message);
      messageTs = message.ts;
    }
    for (const { file, title } of files) {
      file.completed = true;
      file.title = title ?? file.filename;
      if (channel !== undefined) file.channel = channel.id;
      if (initialComment !== undefined && initialComment !== "") file.initialComment = initialComment;
      if (threadTs !== undefined && threadTs !== "" && channel !== undefined) file.threadTs = threadTs;
      if (messageTs !== undefined) file.messageTs = messageTs;
    }
    return { files: files.map(({ file }) => fileObject(state, file)) };
  },

  // ---- users --------------------------------------------------------------------------------

  "users.info": ({ state, args, scopes }) => {
    const user = state.users.get(str(args, "user") ?? "");
    if (user === undefined) throw new SlackError("user_not_found");
    return { user: userObject(user, scopes.has("users:read.email")) };
  },

  "users.lookupByEmail": ({ state, args }) => {
    const email = (str(args, "email") ?? "").toLowerCase();
    const user = [...state.users.values()].find((candidate) => !candidate.is_bot && !candidate.deleted && candidate.email.toLowerCase() === email);
    if (user === undefined) throw new SlackError("users_not_found");
    return { user: userObject(user, true) };
  },

  // ---- user groups --------------------------------------------------------------------------

  "usergroups.users.list": ({ state, args }) => {
    const group = state.usergroups.get(str(args, "usergroup") ?? "");
    if (group === undefined) throw new SlackError("no_such_subteam");
    if (group.date_delete !== 0 && !bool(args, "include_disabled")) throw new SlackError("no_such_subteam");
    return { users: [...group.users] };
  },

  // ---- views --------------------------------------------------------------------------------

  "views.open": ({ state, args }) => {
    const trigger = str(args, "trigger_id") ?? "";
    if (!TRIGGER_RE.test(trigger)) throw new SlackError("invalid_trigger_id");
    // Only trigger IDs Slack handed out (slack.newTriggerId()) are accepted, once, before they expire.
    const known = state.triggers.get(trigger);
    if (known === undefined) throw new SlackError("invalid_trigger_id");
    if (known.used) throw new SlackError("exchanged_trigger_id");
    if (known.expiresAt !== undefined && Date.now() > known.expiresAt) throw new SlackError("expired_trigger_id");
    const payload = parseViewArg(args, "modal");
    const externalId = checkExternalId(state, payload, undefined);
    known.used = true;
    const id = state.nextViewId();
    const callbackId = optionalString(payload["callback_id"]);
    const privateMetadata = optionalString(payload["private_metadata"]);
    const view: FakeView = {
      id,
      type: "modal",
      ...(known.userId !== undefined ? { user_id: known.userId } : {}),
      trigger_id: trigger,
      ...(externalId !== undefined ? { external_id: externalId } : {}),
      ...(callbackId !== undefined ? { callback_id: callbackId } : {}),
      ...(privateMetadata !== undefined ? { private_metadata: privateMetadata } : {}),
      hash: state.nextViewHash(),
      view: payload,
      root_view_id: id,
      previous_view_id: null,
      history: [],
    };
    state.views.set(id, view);
    return { view: viewObject(state, view) };
  },

  "views.update": ({ state, args }) => {
    const viewId = str(args, "view_id");
    const externalIdArg = str(args, "external_id");
    let existing: FakeView | undefined;
    if (viewId !== undefined && viewId !== "") existing = state.views.get(viewId);
    else if (externalIdArg !== undefined && externalIdArg !== "") {
      existing = [...state.views.values()].find((v) => v.external_id === externalIdArg);
    }
    if (existing === undefined) throw new SlackError("not_found");
    const hash = str(args, "hash");
    if (hash !== undefined && hash !== "" && hash !== existing.hash) throw new SlackError("hash_conflict");
    const payload = parseViewArg(args, existing.type);
    const externalId = checkExternalId(state, payload, existing) ?? existing.external_id;
    existing.history.push(existing.view);
    existing.view = payload;
    existing.hash = state.nextViewHash();
    if (externalId !== undefined) existing.external_id = externalId;
    const callbackId = optionalString(payload["callback_id"]);
    if (callbackId !== undefined) existing.callback_id = callbackId;
    else delete existing.callback_id;
    const privateMetadata = optionalString(payload["private_metadata"]);
    if (privateMetadata !== undefined) existing.private_metadata = privateMetadata;
    else delete existing.private_metadata;
    return { view: viewObject(state, existing) };
  },

  "views.publish": ({ state, args }) => {
    const userId = str(args, "user_id") ?? "";
    const user = state.users.get(userId);
    if (user === undefined || user.deleted || user.is_bot) throw invalidArguments(`invalid user_id: ${userId} [json-pointer:/user_id]`);
    const payload = parseViewArg(args, "home");
    const existing = [...state.views.values()].find((v) => v.type === "home" && v.user_id === userId);
    const hash = str(args, "hash");
    if (existing !== undefined && hash !== undefined && hash !== "" && hash !== existing.hash) {
      throw new SlackError("hash_conflict");
    }
    const externalId = checkExternalId(state, payload, existing);
    const callbackId = optionalString(payload["callback_id"]);
    const privateMetadata = optionalString(payload["private_metadata"]);
    if (existing !== undefined) {
      existing.history.push(existing.view);
      existing.view = payload;
      existing.hash = state.nextViewHash();
      if (externalId !== undefined) existing.external_id = externalId;
      if (callbackId !== undefined) existing.callback_id = callbackId;
      if (privateMetadata !== undefined) existing.private_metadata = privateMetadata;
      return { view: viewObject(state, existing) };
    }
    const id = state.nextViewId();
    const view: FakeView = {
      id,
      type: "home",
      user_id: userId,
      ...(externalId !== undefined ? { external_id: externalId } : {}),
      ...(callbackId !== undefined ? { callback_id: callbackId } : {}),
      ...(privateMetadata !== undefined ? { private_metadata: privateMetadata } : {}),
      hash: state.nextViewHash(),
      view: payload,
      root_view_id: id,
      previous_view_id: null,
      history: [],
    };
    state.views.set(id, view);
    return { view: viewObject(state, view) };
  },

  // ---- bookmarks ----------------------------------------------------------------------------

  "bookmarks.add": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel_id"));
    if (str(args, "type") !== "link") throw new SlackError("invalid_bookmark_type");
    const link = str(args, "link") ?? "";
    if (!/^https?:\/\/\S+$/.test(link)) throw new SlackError("invalid_link");
    const emoji = str(args, "emoji");
    if (emoji !== undefined && emoji !== "" && !/^:[a-z0-9_+'-]+:$/.test(emoji)) throw new SlackError("invalid_emoji");
    if (state.bookmarks.filter((b) => b.channel_id === ch.id).length >= 100) throw new SlackError("too_many_bookmarks");
    const bookmark: FakeBookmark = {
      id: state.nextBookmarkId(),
      channel_id: ch.id,
      title: str(args, "title") ?? "",
      link,
      emoji: emoji !== undefined && emoji !== "" ? emoji : null,
      type: "link",
      entity_id: null,
      date_created: state.now(),
      date_updated: 0,
      rank: String.fromCharCode(97 + (state.bookmarks.length % 26)),
      last_updated_by_user_id: state.bot.user_id,
      last_updated_by_team_id: state.bot.team_id,
    };
    state.bookmarks.push(bookmark);
    return { bookmark: bookmarkObject(bookmark) };
  },

  "bookmarks.edit": (ctx) => {
    const { state, args } = ctx;
    const ch = resolveChannel(ctx, str(args, "channel_id"));
    const id = str(args, "bookmark_id");
    const bookmark = state.bookmarks.find((b) => b.id === id && b.channel_id === ch.id);
    if (bookmark === undefined) throw new SlackError("not_found");
    const link = str(args, "link");
    if (link !== undefined && !/^https?:\/\/\S+$/.test(link)) throw new SlackError("invalid_link");
    const emoji = str(args, "emoji");
    if (emoji !== undefined && emoji !== "" && !/^:[a-z0-9_+'-]+:$/.test(emoji)) throw new SlackError("invalid_emoji");
    const title = str(args, "title");
    if (title !== undefined) bookmark.title = title;
    if (link !== undefined) bookmark.link = link;
    if (emoji !== undefined) bookmark.emoji = emoji === "" ? null : emoji;
    bookmark.date_updated = state.now();
    bookmark.last_updated_by_user_id = state.bot.user_id;
    return { bookmark: bookmarkObject(bookmark) };
  },

  "bookmarks.list": (ctx) => {
    const ch = resolveChannel(ctx, str(ctx.args, "channel_id"));
    return { bookmarks: ctx.state.bookmarks.filter((b) => b.channel_id === ch.id).map(bookmarkObject) };
  },
};

function setTopicOrPurpose(ctx: HandlerContext, field: "topic" | "purpose"): Record<string, unknown> {
  const { state, args } = ctx;
  const ch = resolveChannel(ctx, str(args, "channel"));
  if (ch.is_im) throw new SlackError("method_not_supported_for_channel_type");
  if (ch.is_archived) throw new SlackError("is_archived");
  if (!ch.members.includes(state.bot.user_id)) throw new SlackError("not_in_channel");
  const value = str(args, field) ?? "";
  if (value.length > 250) throw new SlackError("too_long");
  const set: TopicLike = { value, creator: state.bot.user_id, last_set: state.now() };
  ch[field] = set;
  ch[`${field}_history`].push({ ...set });
  return { channel: conversationObject(state, ch) };
}
