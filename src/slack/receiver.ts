import type { FastifyInstance, FastifyReply } from "fastify";
import { verifySlackRequest, type App, type Receiver, type ReceiverEvent } from "@slack/bolt";
import type { Logger } from "../lib/logger.ts";
import { apologyFor } from "./views.ts";

/**
 * Bolt receiver mounted on Firebreak's one HTTP server: POST /slack/events.
 * Verifies the signature on the raw body (401 for unsigned, badly signed or
 * stale requests), hands the event to Bolt and turns Bolt's ack() into the
 * HTTP response. If a listener fails or is slow before acking, Slack still
 * gets an answer in time: a polite ephemeral message for slash commands.
 *
 * Events API callbacks are different: Bolt acks them before any listener
 * runs, which would lose an event whose listener then fails. Here an event is
 * answered only once its listeners are done (they just queue durable work):
 * 200 then, 500 if one failed, and no answer before Slack's 3 s timeout if
 * they are slow, so that Slack retries it (listeners are idempotent by
 * event_id).
 */
export interface SlackReceiverOptions {
  signingSecret: string;
  logger: Logger;
  /** Answer Slack before its 3 s deadline even if a listener has not acked. */
  ackDeadlineMs?: number;
}

export type JsonObject = Record<string, unknown>;

function parseBody(raw: string, contentType: string | undefined): JsonObject {
  if (contentType?.includes("application/json")) {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("body is not a JSON object");
    return parsed as JsonObject;
  }
  const form = new URLSearchParams(raw);
  const payload = form.get("payload");
  if (payload !== null) {
    const parsed: unknown = JSON.parse(payload);
    if (parsed === null || typeof parsed !== "object") throw new Error("payload is not a JSON object");
    return parsed as JsonObject;
  }
  return Object.fromEntries(form.entries());
}

export class SlackReceiver implements Receiver {
  private app: App | undefined;
  private readonly options: SlackReceiverOptions;
  private readonly ackDeadlineMs: number;

  constructor(options: SlackReceiverOptions) {
    this.options = options;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 2_500;
  }

  init(app: App): void {
    this.app = app;
  }

  // The HTTP server is owned by the composition root, not by Bolt.
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** Registers POST /slack/events on the server, with a raw-body parser scoped to it. */
  register(server: FastifyInstance): void {
    void server.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
      scope.post("/slack/events", async (request, reply) => {
        const raw = typeof request.body === "string" ? request.body : "";
        const signature = request.headers["x-slack-signature"];
        const timestampHeader = request.headers["x-slack-request-timestamp"];
        const timestamp = Number(timestampHeader);
        // Slack's rule is five minutes either way; Bolt checks only the past (a request signed for
        // an hour ahead could be replayed for an hour), and takes "Infinity" for a number.
        if (typeof timestampHeader !== "string" || !/^\d{1,12}$/.test(timestampHeader) || Math.abs(Date.now() / 1000 - timestamp) > 300) {
          request.log.warn("rejected Slack request: missing, malformed or out-of-window timestamp");
          return reply.status(401).send({ ok: false, error: "invalid_timestamp" });
        }
        try {
          verifySlackRequest({
            signingSecret: this.options.signingSecret,
            body: raw,
            headers: { "x-slack-signature": typeof signature === "string" ? signature : "", "x-slack-request-timestamp": timestamp },
          });
        } catch (error) {
          request.log.warn({ reason: error instanceof Error ? error.message : String(error) }, "rejected Slack request: bad signature");
          return reply.status(401).send({ ok: false, error: "invalid_signature" });
        }

        let body: JsonObject;
        try {
          body = parseBody(raw, request.headers["content-type"]);
        } catch {
          return reply.status(400).send({ ok: false, error: "unparseable_body" });
        }
        if (body.ssl_check) return reply.status(200).send();
        if (body.type === "url_verification") {
          return typeof body.challenge === "string" ? reply.status(200).send({ challenge: body.challenge }) : reply.status(400).send({ ok: false, error: "invalid_challenge" });
        }

        const app = this.app;
        if (!app) return reply.status(503).send({ ok: false, error: "not_ready" });
        return this.dispatch(app, body, request.headers, reply);
      });
    });
  }

  private async dispatch(
    app: App,
    body: JsonObject,
    headers: Record<string, string | string[] | undefined>,
    reply: FastifyReply,
  ): Promise<unknown> {
    const retryNum = Number(headers["x-slack-retry-num"]);
    const retryReason = headers["x-slack-retry-reason"];
    const result = await dispatchToBolt(app, body, {
      retryNum: Number.isFinite(retryNum) ? retryNum : undefined,
      retryReason: typeof retryReason === "string" ? retryReason : undefined,
      logger: this.options.logger,
      ackDeadlineMs: this.ackDeadlineMs,
    });
    if (result.body === undefined) return reply.status(result.status).send();
    if (typeof result.body === "string") return reply.status(result.status).type("text/plain; charset=utf-8").send(result.body);
    return reply.status(result.status).send(result.body);
  }
}

/** What Slack is answered: 200 with the ack's payload (or an apology), or 500 for an event whose listener failed. */
export interface DispatchResult {
  status: number;
  body: unknown;
}

/**
 * Hands one Slack payload to Bolt and settles on the first of: the listener's
 * ack(), the listener finishing, or the ack deadline. The same rules for
 * every transport (HTTP, Socket Mode): a slash command is answered by its
 * ack (or an apology when the listener fails or is slow); an Events API
 * callback only once its listeners are done (they just queue durable work),
 * and never before, so that Slack redelivers an event whose listener failed
 * or was slow (listeners are idempotent by event_id).
 */
export function dispatchToBolt(
  app: App,
  body: JsonObject,
  options: { retryNum: number | undefined; retryReason: string | undefined; logger: Logger; ackDeadlineMs: number },
): Promise<DispatchResult> {
  const isCommand = typeof body.command === "string";
  const isEvent = body.type === "event_callback";
  let settled = false;
  let resolveResponse!: (value: DispatchResult) => void;
  const response = new Promise<DispatchResult>((resolve) => {
    resolveResponse = resolve;
  });
  const settle = (status: number, payload: unknown) => {
    if (settled) return false;
    settled = true;
    resolveResponse({ status, body: payload });
    return true;
  };

  const deadline = setTimeout(() => {
    if (isEvent) return;
    if (settle(200, isCommand ? apologyFor("slow") : undefined)) {
      options.logger.warn({ command: body.command }, "listener did not acknowledge in time; answered Slack with an apology");
    }
  }, options.ackDeadlineMs);

  const event: ReceiverEvent = {
    body,
    retryNum: options.retryNum,
    retryReason: options.retryReason,
    ack: async (ackResponse?: unknown) => {
      if (isEvent) return;
      if (!settle(200, ackResponse === undefined || ackResponse === "" ? undefined : ackResponse)) {
        options.logger.warn("ack() called after Slack was already answered");
      }
    },
  };

  app.processEvent(event).then(
    () => settle(200, undefined),
    // The global error handler (bolt.ts) has logged it already.
    () => settle(isCommand ? 200 : 500, isCommand ? apologyFor("error") : { ok: false, error: "internal_error" }),
  ).finally(() => clearTimeout(deadline));

  return response;
}
