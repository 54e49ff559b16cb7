/**
 * A fake Slack Web API: a real HTTP server on 127.0.0.1 that enforces the contract in
 * contract.json (auth, required arguments, error codes, scopes) and keeps workspace state.
 *
 *   const slack = await startFakeSlack();
 *   const client = new WebClient("xoxb-test-token", { slackApiUrl: slack.url });
 */
import { escapeCommandText, manifestEscapes } from "./command-text.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { loadManifest } from "../../support/manifest.ts";
import { allowedErrors, loadSlackContract, type MethodContract, type SlackContract } from "./contract.ts";
import { handlers, SlackError, type Args } from "./handlers.ts";
import { effectiveLimits, RateLimiter, type RateLimitOverrides } from "./rate-limits.ts";
import { APP_TOKEN_METHODS, createSocketModeServer, withSocketMode, type FakeSocketMode } from "./socket-mode.ts";
import {
  bookmarksReader,
  channelsReader,
  DEFAULT_BOT,
  DEFAULT_TEAM_ID,
  DEFAULT_USERS,
  filesReader,
  messagesReader,
  pinsReader,
  reactionsApi,
  usergroupsApi,
  usersApi,
  viewsReader,
  WorkspaceState,
  type BookmarksReader,
  type BotIdentity,
  type ChannelsReader,
  type FilesReader,
  type MessagesReader,
  type PinsReader,
  type ReactionsApi,
  type UsergroupSeed,
  type UsergroupsApi,
  type UserSeed,
  type UsersApi,
  type ViewsReader,
} from "./state.ts";

export interface FakeSlackOptions {
  /** Bot tokens the fake accepts (default ["xoxb-test-token"]). */
  tokens?: string[];
  /** Extra workspace users, added to (or replacing by id) the default seeded users. */
  users?: UserSeed[];
  /** User groups present in the workspace (kept across reset(); members must be workspace users). */
  usergroups?: UsergroupSeed[];
  teamId?: string;
  teamName?: string;
  /** Workspace subdomain used in auth.test `url` and permalinks (default "firebreak-test"). */
  teamDomain?: string;
  /** Override the bot identity (user_id "UBOT00001", bot_id "BBOT00001", app_id, name). */
  bot?: Partial<Pick<BotIdentity, "user_id" | "bot_id" | "app_id" | "name">>;
  /**
   * Scopes granted to the tokens. Calls needing a scope the app lacks answer `missing_scope`
   * (with `needed`/`provided`), and `chat:write.public` lets the bot post to public channels it
   * is not in. Default: the bot scopes of manifest.yml, what a workspace installing the app grants.
   */
  scopes?: string[];
  /**
   * Slack's per-method rate limits (rate-limits.ts) are enforced by default. A test that drives
   * the app faster than Slack allows, on purpose, raises or lifts some of them here (say why next
   * to it); `false` lifts them all (the fake's own tests of method semantics).
   */
  rateLimits?: false | RateLimitOverrides;
  /** Clock of the rate-limit buckets (epoch ms; default Date.now). */
  clock?: () => number;
  /** Lifetime of trigger IDs issued by newTriggerId() (Slack: 3 s). Default 3000. */
  triggerTtlMs?: number;
  /** Port to listen on (default: a random free port). */
  port?: number;
  /** App-level tokens (`xapp-…`) apps.connections.open accepts (default ["xapp-1-test-token"]). */
  appTokens?: string[];
  /** Socket Mode is on in the app's settings (default true); off, apps.connections.open refuses. */
  socketMode?: boolean;
  /** How long a Socket Mode envelope waits for its ack before `ack` rejects (Slack: 3 s). Default 3000. */
  ackDeadlineMs?: number;
}

export interface FakeSlackCall {
  method: string;
  /** Arguments from query string and body; JSON-carrying args (blocks, view...) are decoded; token removed. */
  args: Record<string, unknown>;
  /** Epoch ms when the request arrived. */
  at: number;
  ok: boolean;
  error?: string;
  /** HTTP status the fake answered with (200, 404, 429, ...). */
  status: number;
  /** The JSON body the fake answered with. */
  response: Record<string, unknown>;
  /** The token the call authenticated with, if any. */
  token?: string;
  http: { method: string; contentType?: string };
}

export interface RateLimitOptions {
  retryAfterSeconds: number;
  /** How many upcoming calls get a 429 (default 1). */
  times?: number;
  /** Only calls for this channel (ID or name; matches `channel` or `channel_id`). */
  channel?: string;
}

/** A request as it arrived, before any latency and before it was answered. */
export interface FakeSlackRequest {
  method: string;
  args: Record<string, unknown>;
  /** Epoch ms when the request arrived. */
  at: number;
  /** True once the fake has answered it (it is then in `calls` too). */
  answered: boolean;
}

export interface WaitForSpec {
  method: string;
  /** Resolve once at least this many matching calls happened (default 1). */
  count?: number;
  /** Only count successful (true) or failed (false) calls. */
  ok?: boolean;
  where?: (call: FakeSlackCall) => boolean;
}

export type WaitForCondition = ((calls: readonly FakeSlackCall[]) => boolean) | WaitForSpec;

export interface FakeSlack {
  /** Base URL for WebClient's `slackApiUrl`, e.g. "http://127.0.0.1:PORT/api/". */
  readonly url: string;
  readonly port: number;
  readonly bot: BotIdentity;
  readonly tokens: readonly string[];
  readonly appTokens: readonly string[];
  readonly contract: SlackContract;
  /** Socket Mode: the WebSocket apps.connections.open hands out (socket-mode.ts). */
  readonly socket: FakeSocketMode;
  /** Every call in completion order (cleared in place by reset()). */
  readonly calls: readonly FakeSlackCall[];
  /** Calls to one method, successful and failed. */
  callsTo(method: string): FakeSlackCall[];
  /** Web API requests in arrival order, answered or still in flight (cleared by reset()). */
  readonly requests: readonly FakeSlackRequest[];
  readonly channels: ChannelsReader;
  /** Messages; postAs / editAs / deleteAs simulate people (test-only, no event is sent). */
  readonly messages: MessagesReader;
  /** Pinned messages; addAs / removeAs simulate people pinning. */
  readonly pins: PinsReader;
  /** Reactions on messages; addAs / removeAs simulate people reacting. */
  readonly reactions: ReactionsApi;
  /** Files uploaded with files.getUploadURLExternal + the upload URL + files.completeUploadExternal. */
  readonly files: FilesReader;
  readonly users: UsersApi;
  readonly views: ViewsReader;
  readonly bookmarks: BookmarksReader;
  /** User groups: seed with create(), read with get()/users(); served by usergroups.users.list. */
  readonly usergroups: UsergroupsApi;
  /** A fresh trigger_id as Slack would send with an interaction (valid once, expires after triggerTtlMs). */
  newTriggerId(userId?: string): string;
  /**
   * The slash command `text` Slack sends for what a person typed, escaped as manifest.yml's
   * `should_escape` says (or as `escape` overrides, for an app configured otherwise).
   */
  commandText(typed: string, options?: { escape?: boolean }): string;
  /**
   * The next `times` calls to `method` answer HTTP 429 + Retry-After with {"ok":false,"error":"ratelimited"},
   * whatever the method's rate limit (scripted calls do not count against it).
   */
  rateLimit(method: string, options: RateLimitOptions): void;
  /** The next `times` (default 1) calls to `method` answer {"ok":false,"error":error}. The error must be one the contract allows. */
  failNext(method: string, error: string, times?: number): void;
  /**
   * Delays responses by `ms` for one method, or by default for all methods when `method` is omitted
   * (per-method delays take precedence). `setLatency(0, method)` removes that method's delay;
   * `setLatency(0)` removes every delay.
   */
  setLatency(ms: number, method?: string): void;
  /** Resolves when the calls satisfy the condition; rejects after timeoutMs (default 3000) listing the calls so far. */
  waitFor(condition: WaitForCondition, timeoutMs?: number): Promise<FakeSlackCall[]>;
  /** Resolves with the first request to `method` once it has arrived, answered or not (e.g. held by setLatency). */
  waitForRequest(method: string, timeoutMs?: number): Promise<FakeSlackRequest>;
  /**
   * Clears calls, workspace state (back to the seeded users, user groups and #general), injected
   * faults/latency, and the rate-limit buckets (a test starts with every method's full burst).
   */
  reset(): void;
  close(): Promise<void>;
}

interface RateLimitRule {
  method: string;
  retryAfterSeconds: number;
  remaining: number;
  channel?: string;
}

interface FailRule {
  method: string;
  error: string;
  remaining: number;
}

interface Waiter {
  check: () => unknown;
  resolve: (value: never) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const UPLOAD_PATH = "/upload/v1/";

/** The file part of a multipart/form-data body: the first part with a filename, else the first part. */
function multipartFile(body: Buffer, boundary: string): Buffer | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ headers: string; content: Buffer }> = [];
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(start + delimiter.length, next);
    const headerEnd = part.indexOf("\r\n\r\n");
    if (headerEnd !== -1) {
      const content = part.subarray(headerEnd + 4);
      // The CRLF before the next delimiter belongs to the framing, not the content.
      const trimmed = content.length >= 2 && content[content.length - 2] === 13 && content[content.length - 1] === 10 ? content.subarray(0, content.length - 2) : content;
      parts.push({ headers: part.subarray(0, headerEnd).toString("utf8"), content: trimmed });
    }
    start = next;
  }
  return (parts.find((p) => /filename=/i.test(p.headers)) ?? parts[0])?.content;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isMissing(value: unknown): boolean {
  return value === undefined || value === null;
}

function summarizeArgs(args: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    let s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
    if (s.length > 60) s = `${s.slice(0, 57)}...`;
    parts.push(`${k}=${s}`);
  }
  return parts.join(" ");
}

/** The bot scopes manifest.yml asks for: what a workspace that installed the app granted. */
function manifestBotScopes(): string[] {
  return loadManifest(fileURLToPath(new URL("../../../manifest.yml", import.meta.url))).oauth_config.scopes.bot;
}

export function formatCalls(calls: readonly FakeSlackCall[]): string {
  if (calls.length === 0) return "  (no calls)";
  return calls
    .map((c, i) => `  ${i + 1}. ${c.method} -> ${c.ok ? "ok" : `${c.status} ${c.error ?? "error"}`}  ${summarizeArgs(c.args)}`)
    .join("\n");
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const contract = withSocketMode(loadSlackContract());
  const tokens = [...(options.tokens ?? ["xoxb-test-token"])];
  const appTokens = [...(options.appTokens ?? ["xapp-1-test-token"])];
  const teamId = options.teamId ?? DEFAULT_TEAM_ID;
  const domain = options.teamDomain ?? "firebreak-test";
  const bot: BotIdentity = {
    user_id: options.bot?.user_id ?? DEFAULT_BOT.user_id,
    bot_id: options.bot?.bot_id ?? DEFAULT_BOT.bot_id,
    app_id: options.bot?.app_id ?? DEFAULT_BOT.app_id,
    name: options.bot?.name ?? DEFAULT_BOT.name,
    team_id: teamId,
    team: options.teamName ?? "Firebreak Test",
    url: `https://${domain}.slack.com/`,
  };
  const seedUsers = new Map<string, UserSeed>();
  for (const u of [...DEFAULT_USERS, ...(options.users ?? [])]) seedUsers.set(u.id, u);
  const state = new WorkspaceState(bot, [...seedUsers.values()], [...(options.usergroups ?? [])]);

  const granted: ReadonlySet<string> = new Set(options.scopes ?? manifestBotScopes());
  const triggerTtlMs = options.triggerTtlMs ?? 3000;
  const escapesCommands = manifestEscapes();
  const limiter = options.rateLimits === false ? undefined : new RateLimiter(effectiveLimits(options.rateLimits), options.clock ?? Date.now);

  const calls: FakeSlackCall[] = [];
  const requests: FakeSlackRequest[] = [];
  let rateLimits: RateLimitRule[] = [];
  let failures: FailRule[] = [];
  let globalLatency = 0;
  const methodLatency = new Map<string, number>();
  const waiters = new Set<Waiter>();
  const lifetime = new AbortController();

  const channels = channelsReader(state);
  const messages = messagesReader(state, channels);
  let port = 0;
  const socketMode = createSocketModeServer({
    appId: bot.app_id,
    enabled: options.socketMode ?? true,
    ackDeadlineMs: options.ackDeadlineMs ?? 3000,
    host: () => `127.0.0.1:${port}`,
  });

  // ---- request processing -------------------------------------------------------------------

  function slackError(code: string, extra: Record<string, unknown> = {}): Reply {
    return { status: 200, body: { ok: false, error: code, ...extra } };
  }

  function ratelimited(retryAfterSeconds: number): Reply {
    return { status: 429, body: { ok: false, error: "ratelimited" }, headers: { "retry-after": String(retryAfterSeconds) } };
  }

  /** The conversation a call is about, for per-channel limits: its ID when known (a name or a user ID otherwise). */
  function channelKey(args: Args): string | undefined {
    const ref = args["channel"] ?? args["channel_id"];
    if (typeof ref !== "string" || ref === "") return undefined;
    return state.channelByIdOrName(ref)?.id ?? ref;
  }

  function channelMatches(rule: RateLimitRule, args: Args): boolean {
    if (rule.channel === undefined) return true;
    const ref = args["channel"] ?? args["channel_id"];
    if (typeof ref !== "string") return false;
    const wanted = state.channelByIdOrName(rule.channel);
    const actual = state.channelByIdOrName(ref);
    return ref === rule.channel || (wanted !== undefined && wanted === actual);
  }

  function missingArgument(spec: MethodContract, args: Args): Reply | undefined {
    const missing = spec.required.filter((name) => isMissing(args[name]));
    for (const name of missing) {
      const dedicated = spec.missingArgErrors[name];
      if (dedicated !== undefined) return slackError(dedicated);
    }
    if (missing.length > 0) {
      return slackError("invalid_arguments", {
        response_metadata: { messages: missing.map((name) => `[ERROR] missing required field: ${name}`) },
      });
    }
    for (const group of spec.requireOneOf) {
      if (group.args.every((name) => isMissing(args[name]) || args[name] === "")) {
        if (group.error === "invalid_arguments") {
          return slackError("invalid_arguments", {
            response_metadata: { messages: [`[ERROR] one of these fields is required: ${group.args.join(", ")}`] },
          });
        }
        return slackError(group.error);
      }
    }
    return undefined;
  }

  function scopeCheck(method: string, spec: MethodContract): Reply | undefined {
    const accepted = [...spec.botScopes, ...spec.scopes];
    if (accepted.length === 0 || accepted.some((s) => granted.has(s))) return undefined;
    return slackError("missing_scope", {
      needed: spec.botScopes[0] ?? spec.scopes[0] ?? method,
      provided: [...granted].join(","),
    });
  }

  function dispatch(method: string, args: Args, token: string | undefined): Reply {
    const spec = contract.methods[method];
    const handler = handlers[method];
    if (spec === undefined || handler === undefined) {
      if (contract.knownMethods.includes(method)) {
        return {
          status: 501,
          body: {
            ok: false,
            error: "fake_not_implemented",
            detail: `${method} is a real Slack method but the fake does not implement it (test/fakes/slack/handlers.ts)`,
          },
        };
      }
      return { status: 404, body: { ok: false, error: "unknown_method" } };
    }

    if (token === undefined || token === "") return slackError("not_authed");
    const isAppToken = appTokens.includes(token);
    if (!isAppToken && !tokens.includes(token)) return slackError("invalid_auth");
    // An app-level token calls apps.connections.open and nothing else; a bot token cannot call it.
    if (isAppToken !== APP_TOKEN_METHODS.has(method)) return slackError("not_allowed_token_type");

    const limit = rateLimits.find((r) => r.method === method && r.remaining > 0 && channelMatches(r, args));
    if (limit !== undefined) {
      limit.remaining--;
      rateLimits = rateLimits.filter((r) => r.remaining > 0);
      return ratelimited(limit.retryAfterSeconds);
    }
    const retryAfter = limiter?.take(method, channelKey(args));
    if (retryAfter !== undefined) return ratelimited(retryAfter);

    const fail = failures.find((f) => f.method === method && f.remaining > 0);
    if (fail !== undefined) {
      fail.remaining--;
      failures = failures.filter((f) => f.remaining > 0);
      return slackError(fail.error);
    }

    const invalid = missingArgument(spec, args) ?? scopeCheck(method, spec);
    if (invalid !== undefined) return invalid;

    try {
      const result = handler({ state, args, scopes: granted, uploadBase: `http://127.0.0.1:${port}${UPLOAD_PATH}`, socketMode });
      return { status: 200, body: { ok: true, ...result } };
    } catch (err) {
      if (!(err instanceof SlackError)) throw err;
      if (!allowedErrors(contract, method).has(err.code)) {
        return {
          status: 500,
          body: {
            ok: false,
            error: "fake_contract_violation",
            detail: `the fake tried to answer ${method} with "${err.code}", which the contract does not list for it`,
          },
        };
      }
      return slackError(err.code, err.extra);
    }
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks);
  }

  type Parsed = { args: Args; bodyToken?: string; error?: Reply };

  function parseRequest(req: IncomingMessage, url: URL, body: Buffer, spec: MethodContract | undefined): Parsed {
    const args: Args = {};
    for (const [k, v] of url.searchParams) args[k] = v;
    // Slack no longer accepts tokens in query strings; a query token is dropped (-> not_authed).
    delete args["token"];
    let bodyToken: string | undefined;

    if (body.length > 0) {
      const contentType = req.headers["content-type"];
      if (contentType === undefined) return { args, error: slackError("missing_post_type") };
      const [mime = "", ...params] = contentType.split(";").map((p) => p.trim().toLowerCase());
      const charset = params.find((p) => p.startsWith("charset="))?.slice("charset=".length);
      if (charset !== undefined && !["utf-8", "utf8", "iso-8859-1"].includes(charset.replace(/"/g, ""))) {
        return { args, error: slackError("invalid_charset") };
      }
      const text = body.toString("utf8");
      if (mime === "application/x-www-form-urlencoded") {
        for (const [k, v] of new URLSearchParams(text)) args[k] = v;
        const t = args["token"];
        if (typeof t === "string") bodyToken = t;
        delete args["token"];
      } else if (mime === "application/json") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return { args, error: slackError("invalid_json") };
        }
        if (!isRecord(parsed)) return { args, error: slackError("json_not_object") };
        // With JSON bodies Slack only reads the token from the Authorization header.
        for (const [k, v] of Object.entries(parsed)) if (k !== "token") args[k] = v;
      } else if (mime === "multipart/form-data") {
        return {
          args,
          error: {
            status: 501,
            body: { ok: false, error: "fake_not_implemented", detail: "multipart/form-data bodies are not supported by the fake" },
          },
        };
      } else {
        return { args, error: slackError("invalid_post_type") };
      }
    }

    // Complex arguments arrive as JSON strings in form/query encoding: decode them.
    for (const name of spec?.jsonArgs ?? []) {
      const v = args[name];
      if (typeof v !== "string" || v === "") continue;
      try {
        args[name] = JSON.parse(v) as unknown;
      } catch {
        // left as a string: the handler answers with the method's format error
      }
    }
    return { args, ...(bodyToken !== undefined ? { bodyToken } : {}) };
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (ms <= 0) {
        resolve();
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new Error("fake slack closed"));
      };
      const timer = setTimeout(() => {
        lifetime.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      lifetime.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  function record(call: FakeSlackCall): void {
    calls.push(call);
    notifyWaiters();
  }

  function notifyWaiters(): void {
    for (const w of waiters) {
      const result = w.check();
      if (result !== undefined) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(result as never);
      }
    }
  }

  /**
   * The upload URL files.getUploadURLExternal hands out (Slack's files.slack.com/upload/v1/…):
   * POST the file as raw bytes or multipart/form-data; the byte count must equal the announced
   * `length`. Answers 200 "OK - <length>" like Slack, 404 for an unknown URL, 400 otherwise.
   */
  function onUpload(req: IncomingMessage, url: URL, body: Buffer): { status: number; text: string } {
    const [fileId = "", secret = ""] = url.pathname.slice(UPLOAD_PATH.length).split("/");
    const file = state.files.get(fileId);
    if (file === undefined || file.uploadSecret !== secret) return { status: 404, text: "upload URL not found" };
    if (req.method !== "POST") return { status: 405, text: "upload with POST" };
    if (file.completed) return { status: 400, text: "upload already completed" };
    const contentType = req.headers["content-type"] ?? "";
    const boundary = /^multipart\/form-data\s*;.*boundary="?([^";]+)"?/i.exec(contentType)?.[1];
    let bytes: Buffer | undefined = body;
    if (/^multipart\/form-data/i.test(contentType)) {
      bytes = boundary === undefined ? undefined : multipartFile(body, boundary);
      if (bytes === undefined) return { status: 400, text: "malformed multipart/form-data body" };
    }
    if (bytes.length !== file.length) {
      return { status: 400, text: `length mismatch: files.getUploadURLExternal announced ${file.length} bytes, received ${bytes.length}` };
    }
    file.content = Buffer.from(bytes);
    return { status: 200, text: `OK - ${bytes.length}` };
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = await readBody(req);
    if (url.pathname.startsWith(UPLOAD_PATH)) {
      const answer = onUpload(req, url, body);
      res.writeHead(answer.status, { "content-type": "text/plain; charset=utf-8" });
      res.end(answer.text);
      return;
    }
    if (!url.pathname.startsWith("/api/")) {
      res.writeHead(404, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ ok: false, error: "unknown_method" }));
      return;
    }
    const method = decodeURIComponent(url.pathname.slice("/api/".length));
    const spec = contract.methods[method];
    const parsed = parseRequest(req, url, body, spec);

    const auth = req.headers["authorization"];
    const headerToken = typeof auth === "string" && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, "").trim() : undefined;
    const token = headerToken ?? parsed.bodyToken;

    const request: FakeSlackRequest = { method, args: parsed.args, at, answered: false };
    requests.push(request);
    notifyWaiters();
    await sleep(methodLatency.get(method) ?? globalLatency);

    let reply: Reply;
    try {
      reply = parsed.error ?? dispatch(method, parsed.args, token);
    } catch (err) {
      reply = {
        status: 500,
        body: { ok: false, error: "fake_internal_error", detail: err instanceof Error ? err.stack ?? err.message : String(err) },
      };
    }

    const headers: Record<string, string> = {
      "content-type": "application/json; charset=utf-8",
      "x-oauth-scopes": [...granted].join(","),
      ...(spec !== undefined ? { "x-accepted-oauth-scopes": spec.botScopes.join(",") } : {}),
      ...reply.headers,
    };
    const ok = reply.body["ok"] === true;
    const error = reply.body["error"];
    request.answered = true;
    record({
      method,
      args: parsed.args,
      at,
      ok,
      ...(!ok && typeof error === "string" ? { error } : {}),
      status: reply.status,
      response: reply.body,
      ...(token !== undefined ? { token } : {}),
      http: {
        method: req.method ?? "GET",
        ...(req.headers["content-type"] !== undefined ? { contentType: req.headers["content-type"] } : {}),
      },
    });
    res.writeHead(reply.status, headers);
    res.end(JSON.stringify(reply.body));
  }

  const server: Server = createServer((req, res) => {
    onRequest(req, res).catch(() => {
      // closed while a delayed request was pending: drop the connection
      res.destroy();
    });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => socketMode.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  // ---- control API --------------------------------------------------------------------------

  function checkMethod(method: string, what: string): void {
    if (contract.methods[method] === undefined) {
      throw new TypeError(
        `Fake Slack ${what}: "${method}" is not a method the fake implements (${Object.keys(contract.methods).join(", ")})`,
      );
    }
  }

  /** Resolves once `check` returns a value (checked now and after every request and call), else rejects after timeoutMs. */
  function waitUntil<T>(check: () => T | undefined, describe: () => string, timeoutMs: number): Promise<T> {
    const immediate = check();
    if (immediate !== undefined) return Promise.resolve(immediate);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`Fake Slack ${describe()} timed out after ${timeoutMs}ms. Calls so far (${calls.length}):\n${formatCalls(calls)}`));
        }, timeoutMs),
      };
      waiters.add(waiter);
    });
  }

  const fake: FakeSlack = {
    url: `http://127.0.0.1:${port}/api/`,
    port,
    bot,
    tokens,
    appTokens,
    contract,
    socket: socketMode.api,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    requests,
    channels,
    messages,
    pins: pinsReader(state, channels),
    reactions: reactionsApi(state, channels),
    files: filesReader(state, channels),
    users: usersApi(state),
    views: viewsReader(state),
    bookmarks: bookmarksReader(state, channels),
    usergroups: usergroupsApi(state),

    commandText(typed, options = {}) {
      return escapeCommandText(typed, options.escape ?? escapesCommands, { users: usersApi(state), channels, usergroups: usergroupsApi(state) });
    },

    newTriggerId(userId) {
      const id = state.nextTriggerId();
      const now = Date.now();
      state.triggers.set(id, {
        issuedAt: now,
        expiresAt: now + triggerTtlMs,
        used: false,
        ...(userId !== undefined ? { userId } : {}),
      });
      return id;
    },

    rateLimit(method, { retryAfterSeconds, times = 1, channel }) {
      checkMethod(method, "rateLimit");
      if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
        throw new TypeError("Fake Slack rateLimit: retryAfterSeconds must be a non-negative integer (Slack sends whole seconds)");
      }
      rateLimits.push({ method, retryAfterSeconds, remaining: times, ...(channel !== undefined ? { channel } : {}) });
    },

    failNext(method, error, times = 1) {
      checkMethod(method, "failNext");
      if (!allowedErrors(contract, method).has(error)) {
        const own = contract.methods[method]?.errors ?? [];
        throw new TypeError(
          `Fake Slack failNext: Slack does not answer ${method} with "${error}". ` +
            `Method errors: ${own.join(", ")}. Common errors: ${contract.commonErrors.join(", ")}. ` +
            `(Use rateLimit() for 429s.)`,
        );
      }
      failures.push({ method, error, remaining: times });
    },

    setLatency(ms, method) {
      if (method === undefined) {
        globalLatency = Math.max(0, ms);
        if (ms <= 0) methodLatency.clear();
      } else if (ms <= 0) methodLatency.delete(method);
      else methodLatency.set(method, ms);
    },

    waitFor(condition, timeoutMs = 3000) {
      const check =
        typeof condition === "function"
          ? (): FakeSlackCall[] | undefined => (condition(calls) ? [...calls] : undefined)
          : (): FakeSlackCall[] | undefined => {
              const matching = calls.filter(
                (c) =>
                  c.method === condition.method &&
                  (condition.ok === undefined || c.ok === condition.ok) &&
                  (condition.where === undefined || condition.where(c)),
              );
              return matching.length >= (condition.count ?? 1) ? matching : undefined;
            };
      const describe =
        typeof condition === "function"
          ? `predicate ${condition.name || "(anonymous)"}`
          : `${condition.count ?? 1}x ${condition.method}${condition.ok === undefined ? "" : condition.ok ? " (ok)" : " (failed)"}${condition.where === undefined ? "" : " matching where()"}`;
      return waitUntil(check, () => `waitFor(${describe})`, timeoutMs);
    },

    waitForRequest(method, timeoutMs = 3000) {
      return waitUntil(
        () => requests.find((r) => r.method === method),
        () => `waitForRequest(${method})`,
        timeoutMs,
      );
    },

    reset() {
      state.reset();
      calls.length = 0;
      requests.length = 0;
      limiter?.reset();
      rateLimits = [];
      failures = [];
      globalLatency = 0;
      methodLatency.clear();
      socketMode.reset();
    },

    async close() {
      lifetime.abort();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(new Error("Fake Slack closed before waitFor() was satisfied"));
      }
      waiters.clear();
      socketMode.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return fake;
}
