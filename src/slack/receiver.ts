import type { FastifyInstance, FastifyReply } from "fastify";
import { verifySlackRequest, type App, type Receiver, type ReceiverEvent } from "@slack/bolt";
import { z } from "zod";
import type { Foreground } from "../lib/foreground.ts";
import type { Logger } from "../lib/logger.ts";
import { apologyFor } from "./views.ts";

/**
 * Bolt receiver mounted on Firebreak's one HTTP server: POST /slack/events.
 * Verifies the signature on the raw body (401 for unsigned, badly signed or
 * stale requests; 400 for a body that does not parse, or a payload of the
 * wrong shape, see slackPayloadProblem; a NUL or an unpaired surrogate, which
 * PostgreSQL cannot store, becomes U+FFFD, see replaceUnstorable), hands the
 * event to Bolt and turns Bolt's ack() into the HTTP response. If a listener fails or is slow before acking, Slack still
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
  /** Commands and interactions in flight, for background work to hold back (see lib/foreground.ts). */
  foreground?: Pick<Foreground, "begin">;
}

export type JsonObject = Record<string, unknown>;

/**
 * The shapes of the payloads Slack sends Firebreak (api.slack.com/reference: the Events API
 * envelope and the events manifest.yml subscribes to, slash commands, block_actions, message
 * shortcuts, view_submission/view_closed), as far as Bolt and the listeners read them. Signed
 * by Slack, but checked once here, before Bolt: Bolt's own routing, and every listener, read
 * these fields as their types say, and a payload of another shape (an `event` that is not an
 * object, `actions` that is not a list, a view submission without a user) would fail there
 * (500, an error logged) instead of being refused. Fields nobody reads are not checked.
 */
const slackId = z.string().min(1);
const record = z.looseObject({});
/**
 * A workspace or organization id ("T0123ABCD", "E0123ABCD"): Bolt keeps a client per workspace in
 * a plain object keyed by it, so an id such as "toString" or "__proto__" would fail in Bolt.
 */
const workspaceId = z.string().regex(/^[A-Z0-9]*$/, "not a Slack workspace id");
const workspaceRef = z.looseObject({ id: workspaceId }).nullable().optional();
const interactionBase = {
  user: z.looseObject({ id: slackId, team_id: workspaceId.optional() }),
  // null for an org-wide install.
  team: workspaceRef,
  enterprise: workspaceRef,
  channel: z.looseObject({ id: slackId }).optional(),
};

const messageItem = z.looseObject({ type: z.string(), channel: z.string().optional(), ts: z.string().optional() }).refine((item) => item.type !== "message" || (item.channel !== undefined && item.ts !== undefined), "a message item has a channel and a ts");
/** The events manifest.yml subscribes to, as the timeline's listeners read them; any other type is checked as an envelope only. */
const SUBSCRIBED_EVENTS: Readonly<Record<string, z.ZodType>> = {
  reaction_added: z.looseObject({ user: slackId, reaction: z.string(), event_ts: z.string(), item: messageItem }),
  reaction_removed: z.looseObject({ user: slackId, reaction: z.string(), event_ts: z.string(), item: messageItem }),
  pin_added: z.looseObject({
    user: slackId,
    channel_id: slackId,
    event_ts: z.string(),
    item: z.looseObject({ type: z.string(), message: z.looseObject({ ts: z.string().optional(), user: z.string().optional(), text: z.string().optional() }).optional() }),
  }),
  pin_removed: z.looseObject({ user: slackId, channel_id: slackId, event_ts: z.string(), item: z.looseObject({ type: z.string(), message: z.looseObject({ ts: z.string().optional() }).optional() }) }),
  message: z
    .looseObject({ channel: slackId, subtype: z.string().optional(), event_ts: z.string().optional(), deleted_ts: z.string().optional(), message: record.optional() })
    .refine((event) => event.subtype !== "message_deleted" || event.deleted_ts !== undefined, { message: "a deleted message's event has deleted_ts", path: ["deleted_ts"] })
    .refine((event) => event.subtype !== "message_changed" || event.message !== undefined, { message: "a changed message's event has the message", path: ["message"] }),
};

const eventCallback = z.looseObject({
  type: z.literal("event_callback"),
  event_id: z.string().optional(),
  team_id: workspaceId.optional(),
  enterprise_id: workspaceId.nullable().optional(),
  authorizations: z.array(z.looseObject({ team_id: workspaceId.nullable().optional(), enterprise_id: workspaceId.nullable().optional() })).optional(),
  // Bolt looks for a channel in `channel` (an id or an object), `channel_id` and `item`.
  event: z.looseObject({ type: z.string().min(1), channel: z.union([z.string(), record]).optional(), item: record.optional() }),
});

const selection = z.looseObject({ value: z.string() });
const blockAction = z
  .looseObject({ action_id: z.string(), block_id: z.string().optional(), type: z.string(), value: z.string().optional(), selected_option: selection.optional() })
  .refine((action) => (action.type !== "static_select" && action.type !== "overflow") || action.selected_option !== undefined, { message: "a select or overflow action has a selected_option", path: ["selected_option"] });

const SHAPES = {
  command: z.looseObject({ command: z.string(), team_id: workspaceId.optional(), enterprise_id: workspaceId.optional() }),
  // block_suggestion and other option requests: Firebreak has no listener, Bolt reads these.
  options: z.looseObject(interactionBase),
  // Firebreak posts Block Kit only (no legacy attachments or dialogs).
  action: z.looseObject({ ...interactionBase, type: z.literal("block_actions"), trigger_id: z.string(), actions: z.array(blockAction).min(1), message: record.optional(), view: record.optional() }),
  shortcut: z.looseObject({ ...interactionBase, callback_id: z.string(), trigger_id: z.string() }),
  message_action: z.looseObject({
    ...interactionBase,
    channel: z.looseObject({ id: slackId }),
    callback_id: z.string(),
    trigger_id: z.string(),
    message: z.looseObject({ ts: z.string(), user: z.string().optional(), text: z.string().optional(), thread_ts: z.string().optional() }),
  }),
  view: z
    .looseObject({
      ...interactionBase,
      type: z.enum(["view_submission", "view_closed"]),
      view: z.looseObject({ id: z.string(), callback_id: z.string(), private_metadata: z.string().optional(), app_installed_team_id: workspaceId.optional(), state: z.looseObject({ values: z.record(z.string(), record) }).optional() }),
    })
    .refine((body) => body.type !== "view_submission" || body.view.state !== undefined, { message: "a submitted view has its state", path: ["view", "state"] }),
} as const;

/** Which of Bolt's kinds a payload is, decided as Bolt decides it (its getTypeAndConversation). */
function boltKind(body: JsonObject): keyof typeof SHAPES | "event" | undefined {
  if (body.event !== undefined) return "event";
  if (body.command !== undefined) return "command";
  if (body.name !== undefined || body.type === "block_suggestion") return "options";
  if (body.actions !== undefined || body.type === "dialog_submission") return "action";
  if (body.type === "shortcut") return "shortcut";
  if (body.type === "message_action") return "message_action";
  if (body.type === "view_submission" || body.type === "view_closed") return "view";
  return undefined;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "(payload)"}: ${issue.message}` : "unreadable";
}

/** A NUL, or half of a UTF-16 surrogate pair on its own: PostgreSQL stores neither (text or jsonb). */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const hasUnstorable = (text: string): boolean => text.search(UNSTORABLE) !== -1;
const storable = (text: string): string => text.replace(UNSTORABLE, "\ufffd");

/**
 * Replaces, in place, each NUL and unpaired surrogate in a payload's strings and keys with U+FFFD
 * (as the UTF-8 decoder does with bytes that are not UTF-8); returns how many strings and keys
 * changed. Slack sends neither, but a form field can carry %00 and JSON a \u0000 or \ud800
 * escape; text from a payload ends up in PostgreSQL (titles, timeline entries, job payloads,
 * idempotency keys), which refuses both: the payload would fail wherever it was first stored.
 * Iterative (payloads are parsed JSON, nested as deep as the body limit allows).
 */
export function replaceUnstorable(body: JsonObject): number {
  let replaced = 0;
  const stack: Array<Record<string, unknown> | unknown[]> = [body];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const container: Record<string, unknown> = node as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      let value = container[key];
      if (typeof value === "string" && hasUnstorable(value)) {
        value = storable(value);
        container[key] = value;
        replaced += 1;
      } else if (value !== null && typeof value === "object") {
        stack.push(value as Record<string, unknown> | unknown[]);
      }
      if (!Array.isArray(container) && hasUnstorable(key)) {
        delete container[key];
        // An own property whatever the key (it cannot be "__proto__": it now holds a U+FFFD).
        Object.defineProperty(container, storable(key), { value, enumerable: true, writable: true, configurable: true });
        replaced += 1;
      }
    }
  }
  return replaced;
}

/**
 * What is wrong with a signed Slack payload's shape, or undefined (also for a payload of no
 * kind Bolt knows: Bolt ignores it).
 */
export function slackPayloadProblem(body: JsonObject): string | undefined {
  const kind = boltKind(body);
  if (kind === undefined) return undefined;
  if (kind !== "event") {
    const parsed = SHAPES[kind].safeParse(body);
    return parsed.success ? undefined : firstIssue(parsed.error);
  }
  const envelope = eventCallback.safeParse(body);
  if (!envelope.success) return firstIssue(envelope.error);
  const event = envelope.data.event;
  const shape = Object.hasOwn(SUBSCRIBED_EVENTS, event.type) ? SUBSCRIBED_EVENTS[event.type] : undefined;
  const parsed = shape?.safeParse(event);
  return parsed === undefined || parsed.success ? undefined : `event.${firstIssue(parsed.error)}`;
}

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
      foreground: this.options.foreground,
    });
    if (result.body === undefined) return reply.status(result.status).send();
    if (typeof result.body === "string") return reply.status(result.status).type("text/plain; charset=utf-8").send(result.body);
    return reply.status(result.status).send(result.body);
  }
}

/** What Slack is answered: 200 with the ack's payload (or an apology), 400 for a payload of the wrong shape, or 500 for an event whose listener failed. */
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
  options: {
    retryNum: number | undefined;
    retryReason: string | undefined;
    logger: Logger;
    ackDeadlineMs: number;
    /** Marks a command or interaction in flight until it is answered (events are not: nobody waits on them). */
    foreground?: Pick<Foreground, "begin"> | undefined;
  },
): Promise<DispatchResult> {
  const replaced = replaceUnstorable(body);
  if (replaced > 0) options.logger.warn({ replaced, slack: { type: typeof body.type === "string" ? body.type : undefined } }, "a Slack payload held NUL characters or unpaired surrogates (PostgreSQL stores neither): replaced with U+FFFD");
  const problem = slackPayloadProblem(body);
  if (problem !== undefined) {
    // Signed, so Slack's (or a bug's): refused before Bolt, nothing handed to a listener.
    options.logger.warn({ problem, slack: { type: typeof body.type === "string" ? body.type : undefined } }, "refused a Slack payload of the wrong shape");
    return Promise.resolve({ status: 400, body: { ok: false, error: "invalid_payload" } });
  }
  const isCommand = typeof body.command === "string";
  const isEvent = body.type === "event_callback";
  const answered = isEvent ? undefined : options.foreground?.begin();
  let settled = false;
  let resolveResponse!: (value: DispatchResult) => void;
  const response = new Promise<DispatchResult>((resolve) => {
    resolveResponse = resolve;
  });
  const settle = (status: number, payload: unknown) => {
    if (settled) return false;
    settled = true;
    answered?.();
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
