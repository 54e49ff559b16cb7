import pg from "pg";
import type { Logger } from "../lib/logger.ts";

/**
 * PostgreSQL LISTEN on a connection of its own (a pooled connection would be handed to other
 * queries). A notification is delivered when the transaction that sent it commits, to every
 * listening session of every process: what wakes the job workers of all replicas as soon as a
 * job is committed (see the `jobs_notify` trigger in prisma/migrations).
 *
 * The connection is re-opened with backoff (0.5 s doubling to 30 s) when it breaks; after each
 * (re)connect `onNotify` is called once, since notifications sent while it was down are lost.
 * Each connection attempt has a deadline.
 */
export interface Listener {
  /** True while the LISTEN session is open. */
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface ListenOptions {
  readonly url: string;
  /** A plain identifier: lower-case letters, digits and `_`. */
  readonly channel: string;
  readonly logger: Logger;
  readonly onNotify: () => void;
  readonly connectTimeoutMs?: number;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function listen(options: ListenOptions): Listener {
  if (!CHANNEL.test(options.channel)) throw new TypeError(`listen: ${JSON.stringify(options.channel)} is not a plain channel name`);
  const { logger } = options;
  let client: pg.Client | undefined;
  let connected = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

  function scheduleReconnect(): void {
    if (closed || retryTimer) return;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
    failures += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
    retryTimer.unref();
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      application_name: "firebreak-listen",
      // A LISTEN session is idle by design; keepalive finds a dead peer.
      keepAlive: true,
    });
    let reported = false;
    const lost = (error?: unknown): void => {
      if (reported) return;
      reported = true;
      connected = false;
      if (client === next) client = undefined;
      if (!closed) {
        logger.warn({ err: error, channel: options.channel }, "the LISTEN connection broke; reconnecting (the poll covers the gap)");
        scheduleReconnect();
      }
      void next.end().catch(() => undefined);
    };
    next.on("error", lost);
    next.on("end", () => lost());
    next.on("notification", (message) => {
      if (message.channel === options.channel) options.onNotify();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${options.channel}`);
    } catch (error) {
      lost(error);
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    connected = true;
    if (failures > 0) logger.info({ channel: options.channel }, "LISTEN connection restored");
    failures = 0;
    // Anything committed while no session listened was not announced.
    options.onNotify();
  }

  void connect();

  return {
    get connected() {
      return connected;
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      connected = false;
      await current?.end().catch(() => undefined);
    },
  };
}
