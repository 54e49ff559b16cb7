/**
 * In-memory workspace state of the fake Slack, plus the read/seed helpers tests use.
 * IDs and timestamps are deterministic and, like Slack's, never reused: reset()
 * clears the workspace but keeps counting, so an app that remembers an id from
 * before a reset never sees it handed out again.
 */

export interface UserSeed {
  id: string;
  name: string;
  real_name?: string;
  email?: string;
  is_bot?: boolean;
  deleted?: boolean;
  is_admin?: boolean;
  tz?: string;
}

export interface FakeUser {
  id: string;
  team_id: string;
  name: string;
  real_name: string;
  email: string;
  is_bot: boolean;
  deleted: boolean;
  is_admin: boolean;
  tz: string;
}

export interface TopicLike {
  value: string;
  creator: string;
  last_set: number;
}

export interface FakeChannel {
  id: string;
  name: string;
  is_private: boolean;
  /** Direct message with `im_user` (created when the bot posts to a user ID). */
  is_im: boolean;
  im_user?: string;
  is_archived: boolean;
  is_general: boolean;
  created: number;
  creator: string;
  topic: TopicLike;
  purpose: TopicLike;
  /** Every topic the channel has had, oldest first (a seeded topic, then each conversations.setTopic); the last is `topic`. */
  topic_history: TopicLike[];
  /** Every purpose the channel has had, oldest first; the last is `purpose`. */
  purpose_history: TopicLike[];
  /** Member user IDs in join order (includes the bot user when the bot is a member). */
  members: string[];
  previous_names: string[];
}

export interface ChannelSeed {
  name: string;
  id?: string;
  is_private?: boolean;
  is_archived?: boolean;
  is_general?: boolean;
  members?: string[];
  /** Whether the bot user is a member (default true). */
  botIsMember?: boolean;
  topic?: string;
  purpose?: string;
  creator?: string;
}

export interface MessageRevision {
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  /** The fake's clock (epoch ms) when this revision was replaced. */
  replacedAt: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  metadata?: unknown;
  thread_ts?: string;
  reply_broadcast: boolean;
  /** Author user ID (the bot user for messages posted through the API). */
  user: string;
  bot_id?: string;
  username?: string;
  icon_emoji?: string;
  icon_url?: string;
  pinned: boolean;
  reactions: Array<{ name: string; users: string[] }>;
  edited?: { user: string; ts: string };
  /** Earlier versions, oldest first (chat.update and messages.editAs push the replaced content here). */
  history: MessageRevision[];
  /** Set on messages a human typed (messages.postAs), as Slack's clients do. */
  client_msg_id?: string;
  /**
   * The current pin (or, once removed, the last one): who pinned it and when (epoch seconds), and
   * who removed it (pins.removeAs).
   */
  pin?: { by: string; at: number; removedBy?: string };
  /** IDs of files shared with this message (files.completeUploadExternal with a channel_id). */
  files?: string[];
}

export interface MessageSeed {
  text: string;
  user: string;
  blocks?: unknown[];
  thread_ts?: string;
}

export interface FakeFile {
  /** `FFB…`, handed out by files.getUploadURLExternal. */
  id: string;
  filename: string;
  /** The byte length announced to files.getUploadURLExternal. */
  length: number;
  /** Secret part of the upload URL. */
  uploadSecret: string;
  /** Bytes received at the upload URL (undefined until uploaded). */
  content?: Buffer;
  /** Set by files.completeUploadExternal (default: the filename). */
  title?: string;
  completed: boolean;
  /** Channel the file was shared to by files.completeUploadExternal (none: a private file). */
  channel?: string;
  initialComment?: string;
  threadTs?: string;
  /** ts of the message that shared the file in `channel`. */
  messageTs?: string;
  created: number;
  snippetType?: string;
  altTxt?: string;
}

export interface FakeEphemeral {
  channel: string;
  user: string;
  message_ts: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  thread_ts?: string;
}

export interface FakeView {
  id: string;
  type: "modal" | "home";
  /** The user the view is shown to, when known (home tabs; modals opened with a trigger from newTriggerId(userId)). */
  user_id?: string;
  trigger_id?: string;
  external_id?: string;
  callback_id?: string;
  private_metadata?: string;
  hash: string;
  /** The view payload as last sent by the app. */
  view: Record<string, unknown>;
  root_view_id: string;
  previous_view_id: string | null;
  /** Earlier payloads, oldest first. */
  history: Array<Record<string, unknown>>;
}

export interface FakeBookmark {
  id: string;
  channel_id: string;
  title: string;
  link: string;
  emoji: string | null;
  type: string;
  entity_id: string | null;
  date_created: number;
  date_updated: number;
  rank: string;
  last_updated_by_user_id: string;
  last_updated_by_team_id: string;
}

export interface UsergroupSeed {
  /** Encoded user group ID, e.g. "S0ADMINS01" (default: a fresh `SFB…` id). */
  id?: string;
  /** The mention handle without '@', e.g. "incident-admins". */
  handle: string;
  /** Display name (default: the handle). */
  name?: string;
  description?: string;
  /** Member user IDs; each must be a workspace user. */
  users?: string[];
  /** A disabled group (usergroups.users.list then needs include_disabled). */
  disabled?: boolean;
}

export interface FakeUsergroup {
  id: string;
  team_id: string;
  handle: string;
  name: string;
  description: string;
  /** Member user IDs, in the order given. */
  users: string[];
  date_create: number;
  date_update: number;
  /** Non-zero when the group is disabled (as in Slack's usergroup object). */
  date_delete: number;
  created_by: string;
}

export interface BotIdentity {
  user_id: string;
  bot_id: string;
  app_id: string;
  /** The bot user's handle, as auth.test reports it in `user`. */
  name: string;
  team_id: string;
  team: string;
  /** Workspace URL, e.g. "https://firebreak-test.slack.com/". */
  url: string;
}

export interface TriggerInfo {
  issuedAt: number;
  userId?: string;
  expiresAt?: number;
  used: boolean;
}

export const DEFAULT_BOT = {
  user_id: "UBOT00001",
  bot_id: "BBOT00001",
  app_id: "AFAKEAPP01",
  name: "firebreak",
} as const;

export const DEFAULT_TEAM_ID = "TFAKETEAM1";

/** Users seeded into every fake workspace (besides the bot user). */
export const DEFAULT_USERS: readonly UserSeed[] = [
  { id: "U0DECLARER", name: "dana.declarer", real_name: "Dana Declarer" },
  { id: "U0RESPOND1", name: "riley.responder", real_name: "Riley Responder" },
  { id: "U0RESPOND2", name: "sam.sre", real_name: "Sam SRE" },
  { id: "U0COMMANDR", name: "casey.commander", real_name: "Casey Commander", is_admin: true },
  { id: "U0DEPARTED", name: "former.employee", real_name: "Former Employee", deleted: true },
  { id: "U0OTHERBOT", name: "otherbot", real_name: "Other Bot", is_bot: true },
];

export const GENERAL_CHANNEL_ID = "C0GENERAL0";

const BASE_TS_MICROS = 1_700_000_000_000_000;

function pad(n: number, width: number): string {
  return n.toString(36).toUpperCase().padStart(width, "0");
}

function stripHash(name: string): string {
  return name.startsWith("#") ? name.slice(1) : name;
}

export class WorkspaceState {
  readonly users = new Map<string, FakeUser>();
  readonly channels = new Map<string, FakeChannel>();
  readonly messages: FakeMessage[] = [];
  readonly ephemerals: FakeEphemeral[] = [];
  readonly views = new Map<string, FakeView>();
  readonly bookmarks: FakeBookmark[] = [];
  readonly triggers = new Map<string, TriggerInfo>();
  readonly usergroups = new Map<string, FakeUsergroup>();
  readonly files = new Map<string, FakeFile>();
  private seq = { channel: 0, dm: 0, ts: 0, view: 0, hash: 0, bookmark: 0, trigger: 0, usergroup: 0, file: 0, clientMsg: 0 };

  constructor(
    readonly bot: BotIdentity,
    private readonly seedUsers: readonly UserSeed[],
    private readonly seedUsergroups: readonly UsergroupSeed[] = [],
  ) {
    this.reset();
  }

  reset(): void {
    this.users.clear();
    this.channels.clear();
    this.messages.length = 0;
    this.ephemerals.length = 0;
    this.views.clear();
    this.bookmarks.length = 0;
    this.triggers.clear();
    this.usergroups.clear();
    this.files.clear();
    this.addUser({ id: this.bot.user_id, name: this.bot.name, real_name: "Firebreak", is_bot: true });
    for (const u of this.seedUsers) this.addUser(u);
    const humans = [...this.users.values()].filter((u) => !u.is_bot && !u.deleted).map((u) => u.id);
    this.addChannel({
      id: GENERAL_CHANNEL_ID,
      name: "general",
      is_general: true,
      members: humans,
      botIsMember: false,
      purpose: "This channel is for workspace-wide communication and announcements.",
      creator: humans[0] ?? this.bot.user_id,
    });
    for (const g of this.seedUsergroups) this.addUsergroup(g);
  }

  now(): number {
    return Math.floor(Date.now() / 1000);
  }

  // ---- ids ----------------------------------------------------------------------------------

  nextChannelId(): string {
    return `CFB${pad(++this.seq.channel, 7)}`;
  }

  nextDmId(): string {
    return `DFB${pad(++this.seq.dm, 7)}`;
  }

  nextTs(): string {
    const micros = BASE_TS_MICROS + ++this.seq.ts * 100;
    const secs = Math.floor(micros / 1_000_000);
    return `${secs}.${String(micros % 1_000_000).padStart(6, "0")}`;
  }

  nextViewId(): string {
    return `VFB${pad(++this.seq.view, 7)}`;
  }

  nextViewHash(): string {
    return `${this.now()}.${(++this.seq.hash * 2654435761 >>> 0).toString(16).padStart(8, "0")}`;
  }

  nextBookmarkId(): string {
    return `BkFB${pad(++this.seq.bookmark, 8)}`;
  }

  nextUsergroupId(): string {
    return `SFB${pad(++this.seq.usergroup, 7)}`;
  }

  nextFileId(): string {
    return `FFB${pad(++this.seq.file, 7)}`;
  }

  /** A UUID-shaped client_msg_id, as Slack's clients attach to messages people type. */
  nextClientMsgId(): string {
    const hex = (++this.seq.clientMsg).toString(16).padStart(12, "0");
    return `00000000-0000-4000-8000-${hex}`;
  }

  nextTriggerId(): string {
    const n = ++this.seq.trigger;
    return `${1_700_000_000 + n}.${this.bot.team_id.length}${n}.${(n * 2654435761 >>> 0).toString(16).padStart(8, "0")}`;
  }

  // ---- users --------------------------------------------------------------------------------

  addUser(seed: UserSeed): FakeUser {
    const user: FakeUser = {
      id: seed.id,
      team_id: this.bot.team_id,
      name: seed.name,
      real_name: seed.real_name ?? seed.name,
      email: seed.email ?? `${seed.name.replace(/[^a-z0-9._-]/gi, "")}@example.com`,
      is_bot: seed.is_bot ?? false,
      deleted: seed.deleted ?? false,
      is_admin: seed.is_admin ?? false,
      tz: seed.tz ?? "Europe/London",
    };
    this.users.set(user.id, user);
    return user;
  }

  // ---- channels -----------------------------------------------------------------------------

  addChannel(seed: ChannelSeed): FakeChannel {
    const name = stripHash(seed.name);
    if (this.channelByName(name) !== undefined) throw new Error(`Fake Slack: channel #${name} already exists`);
    const id = seed.id ?? this.nextChannelId();
    if (this.channels.has(id)) throw new Error(`Fake Slack: channel id ${id} already exists`);
    const creator = seed.creator ?? this.bot.user_id;
    const now = this.now();
    const members = [...(seed.members ?? [])];
    if ((seed.botIsMember ?? true) && !members.includes(this.bot.user_id)) members.push(this.bot.user_id);
    const topic: TopicLike = { value: seed.topic ?? "", creator: seed.topic ? creator : "", last_set: seed.topic ? now : 0 };
    const purpose: TopicLike = { value: seed.purpose ?? "", creator: seed.purpose ? creator : "", last_set: seed.purpose ? now : 0 };
    const channel: FakeChannel = {
      id,
      name,
      is_private: seed.is_private ?? false,
      is_im: false,
      is_archived: seed.is_archived ?? false,
      is_general: seed.is_general ?? false,
      created: now,
      creator,
      topic,
      purpose,
      topic_history: seed.topic ? [{ ...topic }] : [],
      purpose_history: seed.purpose ? [{ ...purpose }] : [],
      members,
      previous_names: [],
    };
    this.channels.set(id, channel);
    return channel;
  }

  channelByName(name: string): FakeChannel | undefined {
    const wanted = stripHash(name);
    for (const ch of this.channels.values()) if (!ch.is_im && ch.name === wanted) return ch;
    return undefined;
  }

  channelByIdOrName(idOrName: string): FakeChannel | undefined {
    return this.channels.get(idOrName) ?? this.channelByName(idOrName);
  }

  dmWith(userId: string, create: boolean): FakeChannel | undefined {
    for (const ch of this.channels.values()) if (ch.is_im && ch.im_user === userId) return ch;
    if (!create) return undefined;
    const id = this.nextDmId();
    const channel: FakeChannel = {
      id,
      name: id,
      is_private: true,
      is_im: true,
      im_user: userId,
      is_archived: false,
      is_general: false,
      created: this.now(),
      creator: this.bot.user_id,
      topic: { value: "", creator: "", last_set: 0 },
      purpose: { value: "", creator: "", last_set: 0 },
      topic_history: [],
      purpose_history: [],
      members: [userId, this.bot.user_id],
      previous_names: [],
    };
    this.channels.set(id, channel);
    return channel;
  }

  isMember(channel: FakeChannel, userId: string): boolean {
    return channel.members.includes(userId);
  }

  // ---- user groups --------------------------------------------------------------------------

  addUsergroup(seed: UsergroupSeed): FakeUsergroup {
    const id = seed.id ?? this.nextUsergroupId();
    if (!/^S[A-Z0-9]{2,}$/.test(id)) throw new Error(`Fake Slack: user group id "${id}" is not a Slack user group id (S…)`);
    if (this.usergroups.has(id)) throw new Error(`Fake Slack: user group ${id} already exists`);
    const handle = seed.handle.startsWith("@") ? seed.handle.slice(1) : seed.handle;
    if (!/^[a-z0-9._-]+$/.test(handle)) throw new Error(`Fake Slack: user group handle "${seed.handle}" is not a valid handle`);
    if (this.usergroupByHandle(handle) !== undefined) throw new Error(`Fake Slack: user group handle @${handle} already exists`);
    const users = this.checkGroupUsers(seed.users ?? [], `@${handle}`);
    const now = this.now();
    const group: FakeUsergroup = {
      id,
      team_id: this.bot.team_id,
      handle,
      name: seed.name ?? handle,
      description: seed.description ?? "",
      users,
      date_create: now,
      date_update: now,
      date_delete: seed.disabled === true ? now : 0,
      created_by: this.bot.user_id,
    };
    this.usergroups.set(id, group);
    return group;
  }

  usergroupByHandle(handle: string): FakeUsergroup | undefined {
    const wanted = handle.startsWith("@") ? handle.slice(1) : handle;
    for (const g of this.usergroups.values()) if (g.handle === wanted) return g;
    return undefined;
  }

  checkGroupUsers(users: readonly string[], what: string): string[] {
    const unknown = users.filter((u) => !this.users.has(u));
    if (unknown.length > 0) {
      throw new Error(`Fake Slack: ${what} lists users that are not in the workspace: ${unknown.join(", ")} (add them with users.add() or options.users)`);
    }
    return [...new Set(users)];
  }

  // ---- messages -----------------------------------------------------------------------------

  findMessage(channelId: string, ts: string): FakeMessage | undefined {
    return this.messages.find((m) => m.channel === channelId && m.ts === ts);
  }
}

// ---------------------------------------------------------------------------------------------
// Readers exposed to tests
// ---------------------------------------------------------------------------------------------

function describeChannels(state: WorkspaceState): string {
  const list = [...state.channels.values()].map((c) => (c.is_im ? `${c.id} (DM ${c.im_user ?? "?"})` : `${c.id} #${c.name}`));
  return list.length > 0 ? list.join(", ") : "(none)";
}

export interface ChannelsReader {
  /** All channels including #general and DMs, in creation order. */
  all(): FakeChannel[];
  byId(id: string): FakeChannel | undefined;
  /** By name, with or without a leading '#'. */
  byName(name: string): FakeChannel | undefined;
  /** By id or name; throws (listing known channels) when absent. */
  get(idOrName: string): FakeChannel;
  /** Member IDs of a channel (throws when absent). */
  members(idOrName: string): string[];
  /** The DM channel between the bot and `userId`, if the bot has posted to the user. */
  dm(userId: string): FakeChannel | undefined;
  /** Seeds a pre-existing channel (the bot is a member unless `botIsMember: false`). */
  create(seed: ChannelSeed): FakeChannel;
  /** Archives a channel (simulates someone archiving it in Slack). */
  archive(idOrName: string): void;
  /** A person unarchives an archived channel (bots cannot: conversations.unarchive answers them `user_is_bot`). */
  unarchive(idOrName: string): void;
  /**
   * A workspace admin deletes a channel: it is gone with its messages, pins and bookmarks, and every
   * method answers `channel_not_found` for it, as in Slack (its id is never handed out again; its name is free).
   */
  delete(idOrName: string): FakeChannel;
  /** Adds users to a channel as if they joined in Slack (no API call recorded). */
  addMembers(idOrName: string, userIds: string[]): void;
  /** Removes users (e.g. the bot) from a channel as if they left in Slack. */
  removeMembers(idOrName: string, userIds: string[]): void;
  /** The channel's current topic text ("" when none). */
  topic(idOrName: string): string;
  /** Every topic the channel has had, oldest first (a seeded topic, then each conversations.setTopic). */
  topicHistory(idOrName: string): TopicLike[];
  /** The channel's current purpose text ("" when none). */
  purpose(idOrName: string): string;
  /** Every purpose the channel has had, oldest first. */
  purposeHistory(idOrName: string): TopicLike[];
}

export function channelsReader(state: WorkspaceState): ChannelsReader {
  const get = (idOrName: string): FakeChannel => {
    const ch = state.channelByIdOrName(idOrName);
    if (ch === undefined) {
      throw new Error(`Fake Slack: no channel "${idOrName}". Known channels: ${describeChannels(state)}`);
    }
    return ch;
  };
  return {
    all: () => [...state.channels.values()],
    byId: (id) => state.channels.get(id),
    byName: (name) => state.channelByName(name),
    get,
    members: (idOrName) => [...get(idOrName).members],
    dm: (userId) => state.dmWith(userId, false),
    create: (seed) => state.addChannel(seed),
    archive: (idOrName) => {
      get(idOrName).is_archived = true;
    },
    unarchive: (idOrName) => {
      const ch = get(idOrName);
      if (!ch.is_archived) throw new Error(`Fake Slack channels.unarchive: #${ch.name} is not archived`);
      ch.is_archived = false;
    },
    delete: (idOrName) => {
      const ch = get(idOrName);
      if (ch.is_general || ch.is_im) throw new Error(`Fake Slack channels.delete: ${ch.is_im ? "a DM" : "#general"} cannot be deleted`);
      state.channels.delete(ch.id);
      for (let i = state.messages.length - 1; i >= 0; i--) if (state.messages[i]?.channel === ch.id) state.messages.splice(i, 1);
      for (let i = state.bookmarks.length - 1; i >= 0; i--) if (state.bookmarks[i]?.channel_id === ch.id) state.bookmarks.splice(i, 1);
      return ch;
    },
    addMembers: (idOrName, userIds) => {
      const ch = get(idOrName);
      for (const u of userIds) if (!ch.members.includes(u)) ch.members.push(u);
    },
    removeMembers: (idOrName, userIds) => {
      const ch = get(idOrName);
      ch.members = ch.members.filter((m) => !userIds.includes(m));
    },
    topic: (idOrName) => get(idOrName).topic.value,
    topicHistory: (idOrName) => get(idOrName).topic_history.map((t) => ({ ...t })),
    purpose: (idOrName) => get(idOrName).purpose.value,
    purposeHistory: (idOrName) => get(idOrName).purpose_history.map((t) => ({ ...t })),
  };
}

export interface MessagesReader {
  /** Every message in posting order (all channels, including thread replies). */
  all(): FakeMessage[];
  /** Messages in a channel (id or name), top-level and replies, in posting order. */
  in(idOrName: string): FakeMessage[];
  /** Top-level messages in a channel (no thread replies, except broadcast ones). */
  topLevel(idOrName: string): FakeMessage[];
  /** Replies in a thread (parent excluded). */
  thread(idOrName: string, threadTs: string): FakeMessage[];
  get(idOrName: string, ts: string): FakeMessage | undefined;
  /** The most recent message, optionally within one channel. */
  last(idOrName?: string): FakeMessage | undefined;
  /** Messages the bot sent to a user by DM (chat.postMessage with a user ID as channel). */
  dm(userId: string): FakeMessage[];
  /** Ephemeral messages (chat.postEphemeral), optionally filtered. */
  ephemeral(filter?: { channel?: string; user?: string }): FakeEphemeral[];
  /** Seeds a message from a human (e.g. for the app to pin or react to). */
  seed(idOrName: string, message: MessageSeed): FakeMessage;
  /**
   * A person posts a message (test-only: changes fake state, sends no event; pair it with a factory
   * from test/support/slack-events.ts). The user must be an active workspace member of the channel,
   * and `threadTs` must name a top-level message of the channel. Returns the new message's ts.
   */
  postAs(userId: string, idOrName: string, text: string, options?: PostAsOptions): string;
  /**
   * A person (the author or an admin) deletes a message: it disappears from state and from
   * conversations.history / replies, as in Slack. Returns the deleted message (for messageDeletedEvent).
   */
  deleteAs(idOrName: string, ts: string): FakeMessage;
  /**
   * The author edits their message: the old text goes to `history`, `edited` is set. Slack lets only
   * the author edit, so bot messages are refused (the app edits those with chat.update).
   * Returns the edited message (for messageChangedEvent).
   */
  editAs(idOrName: string, ts: string, text: string): FakeMessage;
}

export interface PostAsOptions {
  /** Reply in the thread of this top-level message. */
  threadTs?: string;
  /** "Also send to #channel" for a thread reply. */
  broadcast?: boolean;
}

export function messagesReader(state: WorkspaceState, channels: ChannelsReader): MessagesReader {
  const inChannel = (idOrName: string): FakeMessage[] => {
    const id = channels.get(idOrName).id;
    return state.messages.filter((m) => m.channel === id);
  };
  return {
    all: () => [...state.messages],
    in: inChannel,
    topLevel: (idOrName) =>
      inChannel(idOrName).filter((m) => m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast),
    thread: (idOrName, threadTs) => inChannel(idOrName).filter((m) => m.thread_ts === threadTs && m.ts !== threadTs),
    get: (idOrName, ts) => state.findMessage(channels.get(idOrName).id, ts),
    last: (idOrName) => {
      const list = idOrName === undefined ? state.messages : inChannel(idOrName);
      return list[list.length - 1];
    },
    dm: (userId) => {
      const ch = state.dmWith(userId, false);
      return ch === undefined ? [] : state.messages.filter((m) => m.channel === ch.id);
    },
    ephemeral: (filter) =>
      state.ephemerals.filter((e) => {
        if (filter?.channel !== undefined && e.channel !== channels.get(filter.channel).id) return false;
        if (filter?.user !== undefined && e.user !== filter.user) return false;
        return true;
      }),
    seed: (idOrName, seed) => {
      const ch = channels.get(idOrName);
      const message: FakeMessage = {
        channel: ch.id,
        ts: state.nextTs(),
        text: seed.text,
        ...(seed.blocks !== undefined ? { blocks: seed.blocks } : {}),
        ...(seed.thread_ts !== undefined ? { thread_ts: seed.thread_ts } : {}),
        reply_broadcast: false,
        user: seed.user,
        pinned: false,
        reactions: [],
        history: [],
      };
      state.messages.push(message);
      return message;
    },
    postAs: (userId, idOrName, text, options = {}) => {
      const ch = channels.get(idOrName);
      const user = humanMember(state, ch, userId, "postAs");
      if (ch.is_archived) throw new Error(`Fake Slack postAs: #${ch.name} is archived; nobody can post there`);
      const threadTs = options.threadTs;
      if (threadTs !== undefined) {
        const parent = state.findMessage(ch.id, threadTs);
        if (parent === undefined) throw new Error(`Fake Slack postAs: no message ${threadTs} in ${ch.id} to reply to`);
        if (parent.thread_ts !== undefined && parent.thread_ts !== parent.ts) {
          throw new Error(`Fake Slack postAs: ${threadTs} is itself a reply; people reply to the thread's parent (${parent.thread_ts})`);
        }
      }
      const message: FakeMessage = {
        channel: ch.id,
        ts: state.nextTs(),
        text,
        ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
        reply_broadcast: threadTs !== undefined && options.broadcast === true,
        user: user.id,
        pinned: false,
        reactions: [],
        history: [],
        client_msg_id: state.nextClientMsgId(),
      };
      state.messages.push(message);
      return message.ts;
    },
    deleteAs: (idOrName, ts) => {
      const ch = channels.get(idOrName);
      const index = state.messages.findIndex((m) => m.channel === ch.id && m.ts === ts);
      const message = state.messages[index];
      if (message === undefined) throw new Error(`Fake Slack deleteAs: no message ${ts} in ${ch.id}`);
      state.messages.splice(index, 1);
      return message;
    },
    editAs: (idOrName, ts, text) => {
      const ch = channels.get(idOrName);
      const message = state.findMessage(ch.id, ts);
      if (message === undefined) throw new Error(`Fake Slack editAs: no message ${ts} in ${ch.id}`);
      if (message.bot_id !== undefined || state.users.get(message.user)?.is_bot === true) {
        throw new Error(`Fake Slack editAs: ${ts} was posted by a bot; only its author edits a message (the app uses chat.update)`);
      }
      message.history.push({
        text: message.text,
        ...(message.blocks !== undefined ? { blocks: message.blocks } : {}),
        ...(message.attachments !== undefined ? { attachments: message.attachments } : {}),
        replacedAt: Date.now(),
      });
      message.text = text;
      message.edited = { user: message.user, ts: state.nextTs() };
      return message;
    },
  };
}

/** The active, human workspace user `userId`, who must be a member of `ch` (throws otherwise). */
function humanMember(state: WorkspaceState, ch: FakeChannel, userId: string, what: string): FakeUser {
  const user = state.users.get(userId);
  if (user === undefined) throw new Error(`Fake Slack ${what}: no workspace user ${userId} (add one with users.add())`);
  if (user.deleted) throw new Error(`Fake Slack ${what}: ${userId} is deactivated`);
  if (user.is_bot) throw new Error(`Fake Slack ${what}: ${userId} is a bot; the app acts through the Web API instead`);
  if (!ch.members.includes(userId)) {
    throw new Error(`Fake Slack ${what}: ${userId} is not a member of ${ch.is_im ? ch.id : `#${ch.name}`} (members: ${ch.members.join(", ") || "none"}; use channels.addMembers())`);
  }
  return user;
}

const MAX_PINS = 100;
const REACTION_NAME_RE = /^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/;

function findOrThrow(state: WorkspaceState, ch: FakeChannel, ts: string, what: string): FakeMessage {
  const message = state.findMessage(ch.id, ts);
  if (message === undefined) throw new Error(`Fake Slack ${what}: no message ${ts} in ${ch.id}`);
  return message;
}

export interface PinsReader {
  /** Pinned messages in a channel, in posting order. */
  in(idOrName: string): FakeMessage[];
  all(): Array<{ channel: string; ts: string; message: FakeMessage }>;
  isPinned(idOrName: string, ts: string): boolean;
  /** A person pins a message (test-only; they must be a member). Returns it, for pinAddedEvent. */
  addAs(userId: string, idOrName: string, ts: string): FakeMessage;
  /** A person unpins a message (test-only). Returns it (its `pin` still names the removed pin), for pinRemovedEvent. */
  removeAs(userId: string, idOrName: string, ts: string): FakeMessage;
}

export function pinsReader(state: WorkspaceState, channels: ChannelsReader): PinsReader {
  return {
    addAs: (userId, idOrName, ts) => {
      const ch = channels.get(idOrName);
      humanMember(state, ch, userId, "pins.addAs");
      const message = findOrThrow(state, ch, ts, "pins.addAs");
      if (message.pinned) throw new Error(`Fake Slack pins.addAs: ${ts} is already pinned`);
      if (state.messages.filter((m) => m.channel === ch.id && m.pinned).length >= MAX_PINS) {
        throw new Error(`Fake Slack pins.addAs: ${ch.id} already has ${MAX_PINS} pins`);
      }
      message.pinned = true;
      message.pin = { by: userId, at: state.now() };
      return message;
    },
    removeAs: (userId, idOrName, ts) => {
      const ch = channels.get(idOrName);
      humanMember(state, ch, userId, "pins.removeAs");
      const message = findOrThrow(state, ch, ts, "pins.removeAs");
      if (!message.pinned) throw new Error(`Fake Slack pins.removeAs: ${ts} is not pinned`);
      message.pinned = false;
      message.pin = { by: message.pin?.by ?? userId, at: message.pin?.at ?? state.now(), removedBy: userId };
      return message;
    },
    in: (idOrName) => {
      const id = channels.get(idOrName).id;
      return state.messages.filter((m) => m.channel === id && m.pinned);
    },
    all: () => state.messages.filter((m) => m.pinned).map((m) => ({ channel: m.channel, ts: m.ts, message: m })),
    isPinned: (idOrName, ts) => state.findMessage(channels.get(idOrName).id, ts)?.pinned ?? false,
  };
}

export interface ReactionsApi {
  /** Reactions on a message: emoji name and the users who reacted, in order. */
  on(idOrName: string, ts: string): Array<{ name: string; users: string[] }>;
  /**
   * A person reacts (test-only). `name` with or without colons. Private channels need membership.
   * Returns the message, for reactionAddedEvent.
   */
  addAs(userId: string, idOrName: string, ts: string, name: string): FakeMessage;
  /** A person takes their reaction back (test-only). Returns the message, for reactionRemovedEvent. */
  removeAs(userId: string, idOrName: string, ts: string, name: string): FakeMessage;
}

export function reactionsApi(state: WorkspaceState, channels: ChannelsReader): ReactionsApi {
  const target = (userId: string, idOrName: string, ts: string, what: string): FakeMessage => {
    const ch = channels.get(idOrName);
    const user = state.users.get(userId);
    if (user === undefined || user.deleted) throw new Error(`Fake Slack ${what}: ${userId} is not an active workspace user`);
    if ((ch.is_private || ch.is_im) && !ch.members.includes(userId)) {
      throw new Error(`Fake Slack ${what}: ${userId} cannot see ${ch.id} (not a member)`);
    }
    return findOrThrow(state, ch, ts, what);
  };
  const emoji = (name: string, what: string): string => {
    const bare = name.replace(/^:|:$/g, "");
    if (!REACTION_NAME_RE.test(bare)) throw new Error(`Fake Slack ${what}: "${name}" is not an emoji name`);
    return bare;
  };
  return {
    on: (idOrName, ts) =>
      (state.findMessage(channels.get(idOrName).id, ts)?.reactions ?? []).map((r) => ({ name: r.name, users: [...r.users] })),
    addAs: (userId, idOrName, ts, name) => {
      const message = target(userId, idOrName, ts, "reactions.addAs");
      const bare = emoji(name, "reactions.addAs");
      let reaction = message.reactions.find((r) => r.name === bare);
      if (reaction?.users.includes(userId) === true) throw new Error(`Fake Slack reactions.addAs: ${userId} already reacted :${bare}:`);
      if (reaction === undefined) {
        reaction = { name: bare, users: [] };
        message.reactions.push(reaction);
      }
      reaction.users.push(userId);
      return message;
    },
    removeAs: (userId, idOrName, ts, name) => {
      const message = target(userId, idOrName, ts, "reactions.removeAs");
      const bare = emoji(name, "reactions.removeAs");
      const reaction = message.reactions.find((r) => r.name === bare);
      if (reaction === undefined || !reaction.users.includes(userId)) {
        throw new Error(`Fake Slack reactions.removeAs: ${userId} has no :${bare}: on ${ts}`);
      }
      reaction.users = reaction.users.filter((u) => u !== userId);
      if (reaction.users.length === 0) message.reactions = message.reactions.filter((r) => r !== reaction);
      return message;
    },
  };
}

/** A file as tests read it back: what the app uploaded and where it shared it. */
export interface FakeFileView {
  id: string;
  /** The title given to files.completeUploadExternal (default: the filename). */
  title: string;
  filename: string;
  /** The uploaded bytes as UTF-8 text ("" before the upload). */
  content: string;
  /** The raw uploaded bytes. */
  bytes: Buffer;
  /** The channel it was shared to, if any. */
  channel?: string;
  initialComment?: string;
  threadTs?: string;
  /** ts of the file-share message in `channel`. */
  messageTs?: string;
  /** Whether files.completeUploadExternal finished the upload. */
  completed: boolean;
}

export interface FilesReader {
  /** Files shared (completed) in one channel (id or name), in the order their upload URLs were issued. */
  in(idOrName: string): FakeFileView[];
  /** Every file the app asked an upload URL for, completed or not, in that order. */
  all(): FakeFileView[];
  byId(id: string): FakeFileView | undefined;
}

function fileView(f: FakeFile): FakeFileView {
  const bytes = f.content ?? Buffer.alloc(0);
  return {
    id: f.id,
    title: f.title ?? f.filename,
    filename: f.filename,
    content: bytes.toString("utf8"),
    bytes,
    ...(f.channel !== undefined ? { channel: f.channel } : {}),
    ...(f.initialComment !== undefined ? { initialComment: f.initialComment } : {}),
    ...(f.threadTs !== undefined ? { threadTs: f.threadTs } : {}),
    ...(f.messageTs !== undefined ? { messageTs: f.messageTs } : {}),
    completed: f.completed,
  };
}

export function filesReader(state: WorkspaceState, channels: ChannelsReader): FilesReader {
  return {
    in: (idOrName) => {
      const id = channels.get(idOrName).id;
      return [...state.files.values()].filter((f) => f.completed && f.channel === id).map(fileView);
    },
    all: () => [...state.files.values()].map(fileView),
    byId: (id) => {
      const f = state.files.get(id);
      return f === undefined ? undefined : fileView(f);
    },
  };
}

export interface UsersApi {
  all(): FakeUser[];
  get(id: string): FakeUser | undefined;
  byName(name: string): FakeUser | undefined;
  /** Adds (or replaces) a workspace user. */
  add(seed: UserSeed): FakeUser;
}

export function usersApi(state: WorkspaceState): UsersApi {
  return {
    all: () => [...state.users.values()],
    get: (id) => state.users.get(id),
    byName: (name) => [...state.users.values()].find((u) => u.name === name),
    add: (seed) => state.addUser(seed),
  };
}

export interface ViewsReader {
  /** All views (modals and home tabs), in creation order. */
  all(): FakeView[];
  byId(id: string): FakeView | undefined;
  byExternalId(externalId: string): FakeView | undefined;
  modals(): FakeView[];
  /** The published App Home view of a user. */
  home(userId: string): FakeView | undefined;
  last(): FakeView | undefined;
}

export function viewsReader(state: WorkspaceState): ViewsReader {
  const all = (): FakeView[] => [...state.views.values()];
  return {
    all,
    byId: (id) => state.views.get(id),
    byExternalId: (externalId) => all().find((v) => v.external_id === externalId),
    modals: () => all().filter((v) => v.type === "modal"),
    home: (userId) => all().find((v) => v.type === "home" && v.user_id === userId),
    last: () => {
      const list = all();
      return list[list.length - 1];
    },
  };
}

export interface BookmarksReader {
  /** Every bookmark, in creation order. */
  all(): FakeBookmark[];
  /** Bookmarks of one channel (id or name), in creation order. */
  in(idOrName: string): FakeBookmark[];
  byId(id: string): FakeBookmark | undefined;
  /**
   * A person removes a bookmark from the channel's bookmark bar (test-only: no API call recorded, no
   * event sent). They must be an active human member of the channel. Returns the removed bookmark.
   */
  removeAs(userId: string, idOrName: string, bookmarkId: string): FakeBookmark;
  /** A person edits a bookmark's title or link (test-only, as removeAs); `last_updated_by_user_id` names them. */
  editAs(userId: string, idOrName: string, bookmarkId: string, changes: { title?: string; link?: string }): FakeBookmark;
}

export function bookmarksReader(state: WorkspaceState, channels: ChannelsReader): BookmarksReader {
  const target = (userId: string, idOrName: string, bookmarkId: string, what: string) => {
    const ch = channels.get(idOrName);
    humanMember(state, ch, userId, what);
    const bookmark = state.bookmarks.find((b) => b.id === bookmarkId && b.channel_id === ch.id);
    if (bookmark === undefined) throw new Error(`Fake Slack ${what}: no bookmark ${bookmarkId} in ${ch.id}`);
    return bookmark;
  };
  return {
    all: () => [...state.bookmarks],
    byId: (id) => state.bookmarks.find((b) => b.id === id),
    in: (idOrName) => {
      const id = channels.get(idOrName).id;
      return state.bookmarks.filter((b) => b.channel_id === id);
    },
    removeAs: (userId, idOrName, bookmarkId) => {
      const bookmark = target(userId, idOrName, bookmarkId, "bookmarks.removeAs");
      state.bookmarks.splice(state.bookmarks.indexOf(bookmark), 1);
      return bookmark;
    },
    editAs: (userId, idOrName, bookmarkId, changes) => {
      const bookmark = target(userId, idOrName, bookmarkId, "bookmarks.editAs");
      if (changes.link !== undefined && !/^https?:\/\/\S+$/.test(changes.link)) throw new Error(`Fake Slack bookmarks.editAs: ${changes.link} is not a link Slack accepts`);
      if (changes.title !== undefined) bookmark.title = changes.title;
      if (changes.link !== undefined) bookmark.link = changes.link;
      bookmark.date_updated = state.now();
      bookmark.last_updated_by_user_id = userId;
      return bookmark;
    },
  };
}

export interface UsergroupsApi {
  /** Every user group (enabled and disabled), in creation order. */
  all(): FakeUsergroup[];
  /** By ID ("S…") or handle (with or without '@'). */
  get(idOrHandle: string): FakeUsergroup | undefined;
  /**
   * Seeds a user group as if an admin had created it in Slack (no API call recorded). Every user
   * must exist. Runtime additions are dropped by reset(); `startFakeSlack({ usergroups })` survive it.
   */
  create(seed: UsergroupSeed): FakeUsergroup;
  /** Member IDs of a group (throws when absent). */
  users(idOrHandle: string): string[];
  /** Replaces a group's members (as an admin editing the group in Slack). */
  setUsers(idOrHandle: string, userIds: string[]): void;
  /** Disables a group: usergroups.users.list then answers no_such_subteam unless include_disabled is set. */
  disable(idOrHandle: string): void;
  enable(idOrHandle: string): void;
}

export function usergroupsApi(state: WorkspaceState): UsergroupsApi {
  const find = (idOrHandle: string): FakeUsergroup | undefined =>
    state.usergroups.get(idOrHandle) ?? state.usergroupByHandle(idOrHandle);
  const get = (idOrHandle: string): FakeUsergroup => {
    const group = find(idOrHandle);
    if (group === undefined) {
      const known = [...state.usergroups.values()].map((g) => `${g.id} @${g.handle}`).join(", ") || "(none)";
      throw new Error(`Fake Slack: no user group "${idOrHandle}". Known user groups: ${known}`);
    }
    return group;
  };
  return {
    all: () => [...state.usergroups.values()],
    get: find,
    create: (seed) => state.addUsergroup(seed),
    users: (idOrHandle) => [...get(idOrHandle).users],
    setUsers: (idOrHandle, userIds) => {
      const group = get(idOrHandle);
      group.users = state.checkGroupUsers(userIds, `@${group.handle}`);
      group.date_update = state.now();
    },
    disable: (idOrHandle) => {
      const group = get(idOrHandle);
      group.date_delete = state.now();
      group.date_update = group.date_delete;
    },
    enable: (idOrHandle) => {
      const group = get(idOrHandle);
      group.date_delete = 0;
      group.date_update = state.now();
    },
  };
}
