import type { App, Receiver } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
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
 * @slack/socket-mode reconnects by itself after a dropped socket or a
 * `disconnect` message; a failed start (apps.connections.open refused or
 * unreachable) is retried here with backoff. `/readyz` asks `connected()`.
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
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(options: SlackSocketReceiverOptions) {
    this.options = options;
    this.client = new SocketModeClient({
      appToken: options.appToken,
      logger: socketLogger(options.logger),
      autoReconnectEnabled: true,
      clientOptions: { slackApiUrl: options.apiUrl, timeout: options.timeoutMs },
    });
    this.client.on("connected", () => {
      this.isConnected = true;
      options.logger.info("connected to Slack over Socket Mode");
    });
    this.client.on("disconnected", () => {
      this.isConnected = false;
    });
    this.client.on("reconnecting", () => {
      this.isConnected = false;
      options.onReconnect();
      options.logger.info("reconnecting to Slack over Socket Mode");
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
    this.stopped = false;
    this.connect(this.options.retryMs?.first ?? 1_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.client.disconnect().catch((error: unknown) => this.options.logger.warn({ err: error }, "closing the Socket Mode connection failed"));
    this.isConnected = false;
  }

  private connect(waitMs: number): void {
    this.client.start().catch((error: unknown) => {
      if (this.stopped) return;
      const max = this.options.retryMs?.max ?? 30_000;
      this.options.onReconnect();
      this.options.logger.warn({ err: error, retryInMs: waitMs }, "could not open a Socket Mode connection; trying again");
      this.retry = setTimeout(() => this.connect(Math.min(max, waitMs * 2)), waitMs);
    });
  }

  private async handle({ ack, body, retry_num: retryNum, retry_reason: retryReason }: SocketEvent): Promise<void> {
    const app = this.app;
    if (!app) return; // not acknowledged: Slack delivers it again once the app is up
    const result = await dispatchToBolt(app, body, { retryNum, retryReason, logger: this.options.logger, ackDeadlineMs: this.options.ackDeadlineMs ?? 2_500 });
    if (result.status !== 200) return; // an event whose listener failed: Slack redelivers it
    const payload = result.body;
    if (typeof payload === "string") await ack({ text: payload });
    else await ack(payload !== null && typeof payload === "object" ? (payload as Record<string, unknown>) : undefined);
  }
}
