import type { ChannelBookmark, ChannelState, PostedMessage } from "./models.ts";

/**
 * The Slack reads the reconciler makes: one call each, errors mapped as the
 * Slack API wrapper maps them (a 429 is a RateLimitedError, so the job queue
 * holds the job's rate key; timeouts and 5xx are transient and retried).
 * Writes (post, update, bookmark) go through the shared `SlackApi`.
 */
export interface ChannelReads {
  /** conversations.info: `{ exists: false }` on channel_not_found. */
  channel(channelId: string): Promise<ChannelState>;
  /** conversations.history for exactly `ts`; undefined when the message is gone (deleted, or a tombstone). */
  message(channelId: string, ts: string): Promise<PostedMessage | undefined>;
  /** bookmarks.list (scope bookmarks:read). */
  bookmarks(channelId: string): Promise<ChannelBookmark[]>;
}
