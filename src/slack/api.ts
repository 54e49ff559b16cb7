import { WebClient, ErrorCode, type WebAPICallResult } from "@slack/web-api";
import type { Logger } from "../lib/logger.ts";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError, errorMessage } from "../lib/errors.ts";
import type { Metrics } from "../http/metrics.ts";

/** The Slack Web API calls Firebreak makes, behind a small port. */
export interface SlackApi {
  authTest(): Promise<{ userId: string; botId: string | undefined; teamId: string | undefined }>;
  createChannel(args: { name: string; isPrivate: boolean }): Promise<{ id: string; name: string }>;
  findChannelByName(name: string): Promise<{ id: string; name: string; creator: string | undefined; created: number | undefined } | undefined>;
  /** Invites whoever can be invited; per-user refusals (already there, deactivated...) are reported, not thrown. */
  inviteToChannel(args: { channel: string; users: readonly string[] }): Promise<{ invited: string[]; failed: Array<{ user: string; error: string }> }>;
  /**
   * Posts a message. With `once`, the message carries its key in Slack's message metadata, and a
   * retry (`once.retry`: an earlier attempt may have posted it before its process died or its
   * answer was lost) first looks for a message with that key in the channel's (or thread's)
   * latest 100 messages and returns it instead of posting a second one.
   */
  postMessage(args: { channel: string; text: string; blocks?: readonly unknown[]; threadTs?: string; once?: MessageOnce }): Promise<{ channel: string; ts: string }>;
  postEphemeral(args: { channel: string; user: string; text: string; blocks?: readonly unknown[] }): Promise<void>;
  updateMessage(args: { channel: string; ts: string; text: string; blocks?: readonly unknown[] }): Promise<void>;
  setTopic(args: { channel: string; topic: string }): Promise<void>;
  pinMessage(args: { channel: string; ts: string }): Promise<void>;
  permalink(args: { channel: string; ts: string }): Promise<string>;
  addBookmark(args: { channel: string; title: string; link: string; emoji?: string }): Promise<{ id: string }>;
  editBookmark(args: { channel: string; bookmarkId: string; title: string; link: string; emoji?: string }): Promise<void>;
  /** Opens a modal; must run within 3 s of the interaction that gave the trigger_id. */
  openView(args: { triggerId: string; view: unknown }): Promise<{ viewId: string | undefined }>;
  /** Replaces an open modal (views.update); `hash` guards against overwriting a newer version. */
  updateView(args: { viewId: string; view: unknown; hash?: string }): Promise<void>;
  usergroupMembers(usergroupId: string): Promise<string[]>;
  /** A person's display name (users.info; cached for a few minutes); undefined when Slack does not know them. */
  displayName(userId: string): Promise<string | undefined>;
  /** A person's email (users.info, scope users:read.email); undefined when Slack does not know them or shows none. */
  userEmail(userId: string): Promise<string | undefined>;
  /** The Slack user with this email (users.lookupByEmail); undefined when there is none. */
  userByEmail(email: string): Promise<string | undefined>;
  /** One message, top-level or a thread reply; undefined when it no longer exists. */
  readMessage(args: { channel: string; ts: string }): Promise<SlackMessage | undefined>;
  /** conversations.info: whether the channel exists, is archived, and has the bot as a member. */
  channelInfo(channel: string): Promise<ChannelInfo>;
  /** A top-level message with its blocks (conversations.history for exactly `ts`); undefined when deleted (or a tombstone). */
  topLevelMessage(args: { channel: string; ts: string }): Promise<PostedMessage | undefined>;
  /** bookmarks.list (scope bookmarks:read). */
  listBookmarks(channel: string): Promise<ChannelBookmark[]>;
  /** Uploads a text file and shares it in a channel (files.getUploadURLExternal, upload, files.completeUploadExternal). */
  uploadFile(args: { channel: string; filename: string; title: string; content: string; initialComment?: string; threadTs?: string }): Promise<{ fileId: string | undefined }>;
}

/** conversations.info, as Firebreak needs it: `{ exists: false }` on channel_not_found. */
export type ChannelInfo = { exists: false } | { exists: true; archived: boolean; member: boolean };

/** A top-level message as posted, blocks included. */
export interface PostedMessage {
  ts: string;
  text: string;
  blocks: readonly unknown[];
}

/** A channel bookmark (bookmarks.list). */
export interface ChannelBookmark {
  id: string;
  title: string;
  link: string;
}

/** What makes a message posted at most once (see SlackApi.postMessage). */
export interface MessageOnce {
  key: string;
  retry: boolean;
}

/** Message metadata event type of messages posted with a key. */
const ONCE_EVENT_TYPE = "firebreak_message";

/** A job's message is posted at most once, also when the job runs again after a crash or a lost answer. */
export function onceFor(job: { readonly id: bigint; readonly attempt: number }, part = "message"): MessageOnce {
  return { key: `job-${job.id}-${part}`, retry: job.attempt > 1 };
}

/** A message as Firebreak reads it back from Slack. */
export interface SlackMessage {
  ts: string;
  userId: string | undefined;
  text: string;
  threadTs: string | undefined;
}

interface RawSlackMessage {
  ts?: string;
  subtype?: string;
  blocks?: unknown[];
  metadata?: { event_type?: string; event_payload?: { key?: unknown } };
  user?: string;
  bot_id?: string;
  text?: string;
  thread_ts?: string;
}

function toSlackMessage(raw: RawSlackMessage | undefined): SlackMessage | undefined {
  if (!raw?.ts) return undefined;
  return { ts: raw.ts, userId: raw.user, text: raw.text ?? "", threadTs: raw.thread_ts };
}

/** Slack error codes that mean "try again later" rather than "this will never work". */
const TRANSIENT_SLACK_ERRORS = new Set(["internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "team_added_to_org"]);

export interface SlackApiOptions {
  token: string;
  apiUrl: string;
  timeoutMs: number;
  logger: Logger;
  metrics?: Pick<Metrics, "slackCalls" | "slackCallDuration">;
  /** How long a display name is reused (default 5 minutes). */
  nameCacheMs?: number;
  now?: () => number;
}

/**
 * Maps the WebClient's errors onto Firebreak's: 429 -> RateLimitedError (the
 * job queue postpones the job and every job sharing its rate key), network
 * errors, timeouts and 5xx -> TransientOutboundError (retried with backoff),
 * anything else -> PermanentOutboundError carrying Slack's own error code.
 */
export function toOutboundError(method: string, error: unknown): Error {
  const coded = error as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number };
  if (coded.code === ErrorCode.RateLimitedError) {
    return new RateLimitedError(`Slack rate-limited ${method}`, Math.max(1, coded.retryAfter ?? 1) * 1_000, "slack");
  }
  if (coded.code === ErrorCode.PlatformError) {
    const slackError = coded.data?.error ?? "unknown_error";
    if (slackError === "ratelimited") return new RateLimitedError(`Slack rate-limited ${method}`, 1_000, "slack");
    if (TRANSIENT_SLACK_ERRORS.has(slackError)) return new TransientOutboundError("outbound_unavailable", `Slack ${method} failed: ${slackError}`);
    return new PermanentOutboundError("slack_api_error", slackError, `Slack ${method} failed: ${slackError}`, { details: coded.data });
  }
  if (coded.code === ErrorCode.HTTPError && coded.statusCode !== undefined && coded.statusCode < 500 && coded.statusCode !== 408) {
    return new PermanentOutboundError("slack_api_error", `http_${coded.statusCode}`, `Slack ${method} answered HTTP ${coded.statusCode}`);
  }
  const timedOut = /timeout|ECONNABORTED|ETIMEDOUT/i.test(errorMessage(error));
  return new TransientOutboundError(timedOut ? "outbound_timeout" : "outbound_unavailable", `Slack ${method} failed: ${errorMessage(error)}`, { cause: error });
}

export function createSlackApi(options: SlackApiOptions): SlackApi {
  const client = new WebClient(options.token, {
    slackApiUrl: options.apiUrl,
    timeout: options.timeoutMs,
    // The durable job queue owns retries and 429 handling, so that a crash or
    // a long Retry-After never holds a request in memory.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: {
      debug: (...msgs) => options.logger.debug({ slack: msgs.map(String) }),
      info: (...msgs) => options.logger.debug({ slack: msgs.map(String) }),
      warn: (...msgs) => options.logger.warn({ slack: msgs.map(String) }),
      error: (...msgs) => options.logger.error({ slack: msgs.map(String) }),
      setLevel: () => undefined,
      getLevel: () => "info" as never,
      setName: () => undefined,
    },
  });

  async function call<T extends WebAPICallResult>(method: string, args: Record<string, unknown>): Promise<T> {
    const end = options.metrics?.slackCallDuration.startTimer({ method });
    try {
      const result = (await client.apiCall(method, args)) as T;
      options.metrics?.slackCalls.inc({ method, outcome: "ok" });
      return result;
    } catch (error) {
      const mapped = toOutboundError(method, error);
      options.metrics?.slackCalls.inc({ method, outcome: mapped instanceof RateLimitedError ? "rate_limited" : "error" });
      throw mapped;
    } finally {
      end?.();
    }
  }

  /** The ts of the message posted with `key` among the latest 100 of the channel or thread. */
  async function findPosted(channel: string, threadTs: string | undefined, key: string): Promise<string | undefined> {
    const args = { channel, limit: 100, include_all_metadata: true };
    const page = threadTs
      ? await call<WebAPICallResult & { messages?: RawSlackMessage[] }>("conversations.replies", { ...args, ts: threadTs })
      : await call<WebAPICallResult & { messages?: RawSlackMessage[] }>("conversations.history", args);
    const found = page.messages?.find((message) => message.metadata?.event_type === ONCE_EVENT_TYPE && message.metadata.event_payload?.key === key);
    return found?.ts;
  }

  const names = new Map<string, { name: string | undefined; until: number }>();
  const nameCacheMs = options.nameCacheMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;

  return {
    async displayName(userId) {
      const cached = names.get(userId);
      if (cached && cached.until > now()) return cached.name;
      let name: string | undefined;
      try {
        const result = await call<WebAPICallResult & { user?: { name?: string; real_name?: string; profile?: { display_name?: string; real_name?: string } } }>("users.info", { user: userId });
        const user = result.user;
        name = [user?.profile?.display_name, user?.profile?.real_name, user?.real_name, user?.name].find((value) => typeof value === "string" && value.trim() !== "")?.trim();
      } catch (error) {
        if (!(error instanceof PermanentOutboundError && error.remoteCode === "user_not_found")) throw error;
      }
      if (names.size > 5_000) names.clear();
      names.set(userId, { name, until: now() + nameCacheMs });
      return name;
    },
    async userEmail(userId) {
      try {
        const result = await call<WebAPICallResult & { user?: { deleted?: boolean; profile?: { email?: string } } }>("users.info", { user: userId });
        const email = result.user?.deleted ? undefined : result.user?.profile?.email;
        return typeof email === "string" && email !== "" ? email : undefined;
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "user_not_found") return undefined;
        throw error;
      }
    },
    async userByEmail(email) {
      try {
        const result = await call<WebAPICallResult & { user?: { id?: string; deleted?: boolean } }>("users.lookupByEmail", { email });
        return result.user?.id && !result.user.deleted ? result.user.id : undefined;
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "users_not_found") return undefined;
        throw error;
      }
    },
    async authTest() {
      const result = await call<WebAPICallResult & { user_id?: string; bot_id?: string; team_id?: string }>("auth.test", {});
      if (!result.user_id) throw new PermanentOutboundError("slack_api_error", "no_user_id", "auth.test returned no user_id");
      return { userId: result.user_id, botId: result.bot_id, teamId: result.team_id };
    },
    async createChannel({ name, isPrivate }) {
      const result = await call<WebAPICallResult & { channel?: { id?: string; name?: string } }>("conversations.create", { name, is_private: isPrivate });
      if (!result.channel?.id) throw new PermanentOutboundError("slack_api_error", "no_channel", "conversations.create returned no channel");
      return { id: result.channel.id, name: result.channel.name ?? name };
    },
    async findChannelByName(name) {
      let cursor: string | undefined;
      for (let page = 0; page < 50; page += 1) {
        const result = await call<WebAPICallResult & { channels?: Array<{ id?: string; name?: string; creator?: string; created?: number }> }>(
          "conversations.list",
          { types: "public_channel,private_channel", exclude_archived: true, limit: 1000, ...(cursor ? { cursor } : {}) },
        );
        const match = result.channels?.find((channel) => channel.name === name);
        if (match?.id) return { id: match.id, name, creator: match.creator, created: match.created };
        cursor = result.response_metadata?.next_cursor || undefined;
        if (!cursor) return undefined;
      }
      return undefined;
    },
    async inviteToChannel({ channel, users }) {
      if (users.length === 0) return { invited: [], failed: [] };
      const perUser = (value: unknown) =>
        Array.isArray(value)
          ? value.flatMap((entry: unknown) => {
              const item = entry as { user?: unknown; error?: unknown };
              return typeof item.user === "string" && typeof item.error === "string" ? [{ user: item.user, error: item.error }] : [];
            })
          : [];
      try {
        // force: one user who cannot be invited must not keep the others out.
        const result = await call<WebAPICallResult & { errors?: unknown }>("conversations.invite", { channel, users: users.join(","), force: true });
        const failed = perUser(result.errors);
        return { invited: users.filter((user) => !failed.some((entry) => entry.user === user)), failed };
      } catch (error) {
        // Nobody could be invited, for per-user reasons (e.g. all already there): nothing to retry.
        const failed = error instanceof PermanentOutboundError ? perUser((error.details as { errors?: unknown } | undefined)?.errors) : [];
        if (failed.length > 0 || (error instanceof PermanentOutboundError && error.remoteCode === "already_in_channel")) {
          return { invited: [], failed: failed.length > 0 ? failed : users.map((user) => ({ user, error: "already_in_channel" })) };
        }
        throw error;
      }
    },
    async postMessage({ channel, text, blocks, threadTs, once }) {
      if (once?.retry) {
        const posted = await findPosted(channel, threadTs, once.key);
        if (posted) return { channel, ts: posted };
      }
      const result = await call<WebAPICallResult & { channel?: string; ts?: string }>("chat.postMessage", {
        channel,
        text,
        ...(blocks ? { blocks } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(once ? { metadata: { event_type: ONCE_EVENT_TYPE, event_payload: { key: once.key } } } : {}),
        unfurl_links: false,
        unfurl_media: false,
      });
      if (!result.ts) throw new PermanentOutboundError("slack_api_error", "no_ts", "chat.postMessage returned no ts");
      return { channel: result.channel ?? channel, ts: result.ts };
    },
    async postEphemeral({ channel, user, text, blocks }) {
      await call("chat.postEphemeral", { channel, user, text, ...(blocks ? { blocks } : {}) });
    },
    async updateMessage({ channel, ts, text, blocks }) {
      await call("chat.update", { channel, ts, text, ...(blocks ? { blocks } : {}) });
    },
    async setTopic({ channel, topic }) {
      await call("conversations.setTopic", { channel, topic });
    },
    async pinMessage({ channel, ts }) {
      try {
        await call("pins.add", { channel, timestamp: ts });
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "already_pinned") return;
        throw error;
      }
    },
    async permalink({ channel, ts }) {
      const result = await call<WebAPICallResult & { permalink?: string }>("chat.getPermalink", { channel, message_ts: ts });
      if (!result.permalink) throw new PermanentOutboundError("slack_api_error", "no_permalink", "chat.getPermalink returned no permalink");
      return result.permalink;
    },
    async addBookmark({ channel, title, link, emoji }) {
      const result = await call<WebAPICallResult & { bookmark?: { id?: string } }>("bookmarks.add", {
        channel_id: channel,
        title,
        type: "link",
        link,
        ...(emoji ? { emoji } : {}),
      });
      if (!result.bookmark?.id) throw new PermanentOutboundError("slack_api_error", "no_bookmark", "bookmarks.add returned no bookmark");
      return { id: result.bookmark.id };
    },
    async editBookmark({ channel, bookmarkId, title, link, emoji }) {
      await call("bookmarks.edit", { channel_id: channel, bookmark_id: bookmarkId, title, link, ...(emoji ? { emoji } : {}) });
    },
    async openView({ triggerId, view }) {
      const result = await call<WebAPICallResult & { view?: { id?: string } }>("views.open", { trigger_id: triggerId, view });
      return { viewId: result.view?.id };
    },
    async updateView({ viewId, view, hash }) {
      await call("views.update", { view_id: viewId, view, ...(hash ? { hash } : {}) });
    },
    async usergroupMembers(usergroupId) {
      const result = await call<WebAPICallResult & { users?: string[] }>("usergroups.users.list", { usergroup: usergroupId });
      return result.users ?? [];
    },
    async readMessage({ channel, ts }) {
      const window = { channel, latest: ts, oldest: ts, inclusive: true };
      const history = await call<WebAPICallResult & { messages?: RawSlackMessage[] }>("conversations.history", { ...window, limit: 1 });
      const topLevel = history.messages?.find((message) => message.ts === ts);
      if (topLevel) return toSlackMessage(topLevel);
      // A thread reply is not in the channel's history; conversations.replies finds it by its own ts.
      try {
        const replies = await call<WebAPICallResult & { messages?: RawSlackMessage[] }>("conversations.replies", { ...window, ts });
        return toSlackMessage(replies.messages?.find((message) => message.ts === ts));
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "thread_not_found") return undefined;
        throw error;
      }
    },
    async channelInfo(channel) {
      try {
        const result = await call<WebAPICallResult & { channel?: { is_archived?: boolean; is_member?: boolean } }>("conversations.info", { channel });
        return { exists: true, archived: result.channel?.is_archived === true, member: result.channel?.is_member !== false };
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "channel_not_found") return { exists: false };
        throw error;
      }
    },
    async topLevelMessage({ channel, ts }) {
      const result = await call<WebAPICallResult & { messages?: RawSlackMessage[] }>("conversations.history", { channel, latest: ts, oldest: ts, inclusive: true, limit: 1 });
      const found = result.messages?.find((message) => message.ts === ts);
      // A deleted message with thread replies stays as a tombstone ("This message was deleted.").
      if (!found || found.subtype === "tombstone") return undefined;
      return { ts, text: found.text ?? "", blocks: Array.isArray(found.blocks) ? found.blocks : [] };
    },
    async listBookmarks(channel) {
      const result = await call<WebAPICallResult & { bookmarks?: Array<{ id?: string; title?: string; link?: string }> }>("bookmarks.list", { channel_id: channel });
      return (result.bookmarks ?? []).flatMap((bookmark) => (bookmark.id ? [{ id: bookmark.id, title: bookmark.title ?? "", link: bookmark.link ?? "" }] : []));
    },
    async uploadFile({ channel, filename, title, content, initialComment, threadTs }) {
      try {
        const file = { filename, title, content, ...(initialComment ? { initial_comment: initialComment } : {}) };
        const result = (await (threadTs
          ? client.filesUploadV2({ ...file, channel_id: channel, thread_ts: threadTs })
          : client.filesUploadV2({ ...file, channel_id: channel }))) as { files?: Array<{ files?: Array<{ id?: string }> }> };
        options.metrics?.slackCalls.inc({ method: "files.uploadV2", outcome: "ok" });
        return { fileId: result.files?.[0]?.files?.[0]?.id };
      } catch (error) {
        const mapped = toOutboundError("files.uploadV2", error);
        options.metrics?.slackCalls.inc({ method: "files.uploadV2", outcome: mapped instanceof RateLimitedError ? "rate_limited" : "error" });
        throw mapped;
      }
    },
  };
}
