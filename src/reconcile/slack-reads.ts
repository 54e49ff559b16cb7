import { WebClient, type WebAPICallResult } from "@slack/web-api";
import type { Metrics } from "../http/metrics.ts";
import { PermanentOutboundError, RateLimitedError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { toOutboundError } from "../slack/api.ts";
import type { ChannelBookmark, PostedMessage } from "./models.ts";
import type { ChannelReads } from "./ports.ts";

export interface ChannelReadsOptions {
  token: string;
  apiUrl: string;
  timeoutMs: number;
  logger: Logger;
  metrics: Pick<Metrics, "slackCalls" | "slackCallDuration">;
}

interface RawMessage {
  ts?: string;
  subtype?: string;
  text?: string;
  blocks?: unknown[];
}

interface RawBookmark {
  id?: string;
  title?: string;
  link?: string;
}

/**
 * The reconciler's Slack reads, configured as `createSlackApi` configures its
 * client: the request timeout, no retries of its own and 429s rejected at once
 * (the job queue owns retries), the same error mapping (`toOutboundError`) and
 * the same call metrics. (These three reads belong in `SlackApi` when
 * src/slack/api.ts next changes; the port stays the same.)
 */
export function createChannelReads(options: ChannelReadsOptions): ChannelReads {
  const client = new WebClient(options.token, {
    slackApiUrl: options.apiUrl,
    timeout: options.timeoutMs,
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
    const end = options.metrics.slackCallDuration.startTimer({ method });
    try {
      const result = (await client.apiCall(method, args)) as T;
      options.metrics.slackCalls.inc({ method, outcome: "ok" });
      return result;
    } catch (error) {
      const mapped = toOutboundError(method, error);
      options.metrics.slackCalls.inc({ method, outcome: mapped instanceof RateLimitedError ? "rate_limited" : "error" });
      throw mapped;
    } finally {
      end();
    }
  }

  return {
    async channel(channelId) {
      try {
        const result = await call<WebAPICallResult & { channel?: { is_archived?: boolean; is_member?: boolean } }>("conversations.info", { channel: channelId });
        return { exists: true, archived: result.channel?.is_archived === true, member: result.channel?.is_member !== false };
      } catch (error) {
        if (error instanceof PermanentOutboundError && error.remoteCode === "channel_not_found") return { exists: false };
        throw error;
      }
    },
    async message(channelId, ts): Promise<PostedMessage | undefined> {
      const result = await call<WebAPICallResult & { messages?: RawMessage[] }>("conversations.history", { channel: channelId, latest: ts, oldest: ts, inclusive: true, limit: 1 });
      const found = result.messages?.find((message) => message.ts === ts);
      // A deleted message with thread replies stays as a tombstone ("This message was deleted.").
      if (!found || found.subtype === "tombstone") return undefined;
      return { ts, text: found.text ?? "", blocks: Array.isArray(found.blocks) ? found.blocks : [] };
    },
    async bookmarks(channelId): Promise<ChannelBookmark[]> {
      const result = await call<WebAPICallResult & { bookmarks?: RawBookmark[] }>("bookmarks.list", { channel_id: channelId });
      return (result.bookmarks ?? []).flatMap((bookmark) => (bookmark.id ? [{ id: bookmark.id, title: bookmark.title ?? "", link: bookmark.link ?? "" }] : []));
    },
  };
}
