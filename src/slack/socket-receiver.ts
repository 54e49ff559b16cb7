import type { App, Receiver } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
import type { Foreground } from "../lib/foreground.ts";
import type { Logger } from "../lib/logger.ts";
import { dispatchToBolt, type JsonObject } from "./receiver.ts";

/**
 * Bolt receiver over Slack's Socket Mode: Firebreak opens a WebSocket to
 * Slack (apps.connections.open with the app-level token) instead of being
 * reached at /slack/events, so it runs without a public URL. Each envelope
 * goes through the same dispatch as an HTTP request (receiver.ts): a slash
 * command is acknowledged with its reply, an event only once its listeners
 * have queued their work; an event whose listener failed is not
 * acknowledged, so Slack delivers it again (listeners are idempotent).
 *
 * Reconnecting is done here, not by @slack/socket-mode, for every way a
 * connection is lost or fails to open (a dropped socket, Slack's `disconnect`
 * message, apps.connections.open refused or unreachable, a refused
 * handshake): one backoff, each attempt logged and counted. The library's own
 * reconnection waits 5 s and more before trying again even after Slack's
 * routine refresh, keeps reporting the lost connection as open meanwhile, and
 * lets a start that fails during a reconnection reject unhandled.
 *
 * A connection that ends is replaced at once (Slack refreshes connections
 * every few hours and asks for a new one "as quickly as possible"); failed
 * attempts wait `retryMs.first`, doubling up to `retryMs.max`, and attempts
 * are never closer than `retryMs.first` (a connection that keeps dropping
 * right after it opens backs off too). `/readyz` asks `connected()`.
 */
export interface SlackSocketReceiverOptions {
  appToken: string;
  /** The Web API base URL (apps.connections.open). */
  apiUrl: string;
  timeoutMs: number;
  logger: Logger;
  /** Counts reconnections (firebreak_slack_socket_reconnects_total). */
  onReconnect(): void;
  ackDeadlineMs?: number;
  /** Backoff of a failed start: first and longest wait (default 1 s, 30 s). */
  retryMs?: { first: number; max: number };
  /** Commands and interactions in flight, for background work to hold back (see lib/foreground.ts). */
  foreground?: Pick<Foreground, "begin">;
}

type SocketEvent = { ack: (response?: Record<string, unknown>) => Promise<void>; body: JsonObject; retry_num?: number; retry_reason?: string };

/** @slack/logger's interface, on pino (same redaction as every other line). */
function socketLogger(logger: Logger) {
  const log = logger.child({ component: "slack-socket" });
  const text = (messages: unknown[]) => messages.map(String).join(" ");
  return {
    debug: (...messages: unknown[]) => log.debug(text(messages)),
    info: (...messages: unknown[]) => log.info(text(messages)),
    warn: (...messages: unknown[]) => log.warn(text(messages)),
    error: (...messages: unknown[]) => log.error(text(messages)),
    setLevel: () => undefined,
    getLevel: () => "info" as never,
    setName: () => undefined,
  };
}

export class SlackSocketReceiver implements Receiver {
  private app: App | undefined;
  private readonly client: SocketModeClient;
  private readonly options: SlackSocketReceiverOptions;
  private isConnected = false;
  /** Between start() and stop(). */
  private running = false;
  /** The client.start() in flight, if any: it settles when Slack says hello or the attempt fails. */
  private attempt: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Consecutive failed attempts (0 once a connection opens). */
  private failures = 0;
  private attempts = 0;
  private lastAttemptAt = 0;

  constructor(options: SlackSocketReceiverOptions) {
    this.options = options;
    this.client = new SocketModeClient({
      appToken: options.appToken,
      logger: socketLogger(options.logger),
      // Reconnection is this class's (see above); without it the client reports a lost
      // connection as `disconnected` and a failed start as a rejection.
      autoReconnectEnabled: false,
      // No retries inside the Web API client either: a failed apps.connections.open comes back
      // here, to be retried with the same backoff (a 429 is still waited out for its Retry-After).
      clientOptions: { slackApiUrl: options.apiUrl, timeout: options.timeoutMs, retryConfig: { retries: 0 } },
    });
    this.client.on("connected", () => {
      this.isConnected = true;
      this.failures = 0;
      options.logger.info("connected to Slack over Socket Mode");
    });
    this.client.on("disconnected", () => {
      const wasConnected = this.isConnected;
      this.isConnected = false;
      // A failed attempt is retried where it was made (connect()); stop() wants no reconnection.
      if (!this.running || this.attempt !== undefined) return;
      if (wasConnected) options.logger.info("the Socket Mode connection to Slack closed; opening a new one");
      this.scheduleConnect();
    });
    this.client.on("slack_event", (event: SocketEvent) => {
      void this.handle(event);
    });
  }

  init(app: App): void {
    this.app = app;
  }

  /** Whether a Socket Mode connection is open (what /readyz reports). */
  connected(): boolean {
    return this.isConnected;
  }

  /** Connects in the background: start-up does not wait for Slack, and a refused start is retried with backoff. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retry);
    this.retry = undefined;
    // An attempt in flight is let finish (for as long as a request to Slack may take): it closes
    // what it opened itself (connect()). Closing a WebSocket half-way through its handshake leaves
    // the client's 30 s close-handshake timer running, which holds up the process's exit.
    if (this.attempt !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.attempt, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs)))]);
      clearTimeout(timer);
    }
    await this.client.disconnect().catch((error: unknown) => this.options.logger.warn({ err: error }, "closing the Socket Mode connection failed"));
    this.isConnected = false;
  }

  private connect(): void {
    this.retry = undefined;
    if (!this.running || this.attempt !== undefined) return;
    if (this.attempts > 0) this.options.onReconnect();
    this.attempts++;
    this.lastAttemptAt = Date.now();
    this.attempt = this.client.start().then(
      () => {
        this.attempt = undefined;
        if (!this.running) return this.client.disconnect().catch(() => undefined);
        // Lost between Slack's hello and here: try again.
        if (!this.isConnected) this.scheduleConnect();
        return undefined;
      },
      (error: unknown) => {
        this.attempt = undefined;
        this.isConnected = false;
        if (!this.running) return;
        this.failures++;
        const waitMs = this.scheduleConnect();
        this.options.logger.warn(
          { err: error ?? new Error("the WebSocket closed before Slack's hello"), attempt: this.failures, retryInMs: waitMs },
          "could not open a Socket Mode connection to Slack; trying again",
        );
      },
    );
  }

  /** Schedules the next attempt (once); returns how long it waits. */
  private scheduleConnect(): number {
    const first = this.options.retryMs?.first ?? 1_000;
    const max = this.options.retryMs?.max ?? 30_000;
    const backoff = this.failures === 0 ? 0 : Math.min(max, first * 2 ** (this.failures - 1));
    const waitMs = Math.max(backoff, this.lastAttemptAt + first - Date.now(), 0);
    if (this.retry === undefined && this.running) this.retry = setTimeout(() => this.connect(), waitMs);
    return waitMs;
  }

  private async handle({ ack, body, retry_num: retryNum, retry_reason: retryReason }: SocketEvent): Promise<void> {
    const app = this.app;
    if (!app) return; // not acknowledged: Slack delivers it again once the app is up
    const result = await dispatchToBolt(app, body, {
      retryNum,
      retryReason,
      logger: this.options.logger,
      ackDeadlineMs: this.options.ackDeadlineMs ?? 2_500,
      foreground: this.options.foreground,
    });
    // A listener that failed (5xx): not acknowledged, so Slack delivers the envelope again. An
    // envelope refused as malformed (4xx) would be refused again: acknowledged without a payload.
    if (result.status >= 500) return;
    const payload = result.status === 200 ? result.body : undefined;
    try {
      if (typeof payload === "string") await ack({ text: payload });
      else await ack(payload !== null && typeof payload === "object" ? (payload as Record<string, unknown>) : undefined);
    } catch (error) {
      // The connection closed meanwhile: Slack delivers the envelope again (on a new connection).
      this.options.logger.warn({ err: error }, "could not acknowledge a Socket Mode envelope; Slack will deliver it again");
    }
  }
}
