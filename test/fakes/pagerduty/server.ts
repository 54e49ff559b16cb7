/**
 * A fake PagerDuty: one HTTPS server on 127.0.0.1 that answers both the Events API v2
 * (`POST /v2/enqueue`, events.pagerduty.com) and the REST API (api.pagerduty.com) as PagerDuty's
 * published contract says (contract.json), keeps an account (users, escalation policies, schedules,
 * services with integration keys, on-calls, incidents), records every request, can fail or
 * rate-limit on demand, and sends signed v3 webhooks to a URL the test gives.
 *
 *   const pd = await startFakePagerDuty({ tls: inject("tls") });
 *   const alice = pd.addUser({ name: "Alice", email: "alice@example.com" });
 *   const service = pd.addService({ name: "Checkout" });       // service.integrationKey routes events
 *   pd.setOnCall(service.escalationPolicyId, alice.id);
 *   // pdjs: event({ server: pd.server, data }), api({ server: pd.server, token: pd.token })
 *
 * See README.md for what is enforced and why.
 */
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { loadPagerDutyContract, type OperationContract, type PagerDutyContract } from "./contract.ts";
import { EVENT_ANSWERS, EVENT_LIMITS, processEvent, validateEvent, type AcceptedEvent } from "./events.ts";
import { REST_HANDLERS, invalidInput, notFound, restError, type RestAnswer } from "./rest.ts";
import { AccountState, type FakeEscalationPolicy, type FakeIncident, type FakeOnCall, type FakeSchedule, type FakeService, type FakeToken, type FakeUser, type OnCallSeed, type ServiceSeed, type UserSeed } from "./state.ts";
import { applyWebhookChange, buildWebhook, deliverWebhook, type WebhookDelivery, type WebhookEventSpec, type WebhookResult, type WebhookSendOptions } from "./webhooks.ts";

export type ApiKind = "events" | "rest";

export interface FakePagerDutyRequest {
  readonly api: ApiKind;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
  /** The JSON body, when it parsed. */
  readonly json: unknown;
  /** The contract operation ("POST /enqueue", "GET /oncalls"), when the path is one the fake implements. */
  readonly operation?: string;
  /** What the fake answered (0: the connection was dropped without an answer). */
  readonly status: number;
  readonly response: unknown;
  readonly responseHeaders: Record<string, string>;
  /** Why the fake refused, in PagerDuty's words (the `errors` it answered). */
  readonly errors: readonly string[];
  /** Set when the answer was scripted by the test or came from a rate limit. */
  readonly injected?: "fail-next" | "outage" | "rate-limit";
  readonly at: number;
}

export interface RateLimit {
  /** Requests admitted per rolling 60 s window. */
  perMinute: number;
}

export type TlsMaterial = { certPem: string; keyPem: string };

export interface TokenSeed {
  token: string;
  /** `Token token=…` (an API key, the default) or `Bearer …` (an OAuth token). */
  scheme?: "token" | "bearer";
  /** A read-only API key: GETs only (writes answer 403 Access Denied). */
  readOnly?: boolean;
}

export interface FakePagerDutyOptions {
  /** The certificate served, e.g. `inject("tls")` (signed by the run's CA, trusted through NODE_EXTRA_CA_CERTS). */
  tls: TlsMaterial;
  /** REST API tokens accepted. Default: one generated full-access API key, `fake.token`. */
  tokens?: Array<string | TokenSeed>;
  /** The account's time zone (on-call times are rendered in it unless `time_zone` is given). Default "UTC". */
  accountTimeZone?: string;
  /** html_url links point at https://<subdomain>.pagerduty.com. Default "firebreak-test". */
  subdomain?: string;
  /** PagerDuty's Events v2 limit: about 120 events per minute per routing key. `false` turns it off. */
  eventsRateLimit?: RateLimit | false;
  /** PagerDuty's REST limit: 960 requests per minute per API key. `false` turns it off. */
  restRateLimit?: RateLimit | false;
  /**
   * A well-formed routing key of no service: "accept" answers 202 and records the event in
   * `unroutedEvents` (what PagerDuty does: it routes nothing); "reject" answers 400.
   */
  unknownRoutingKeys?: "accept" | "reject";
  /**
   * A query parameter the contract does not list for the operation: "reject" (400, the default,
   * stricter than PagerDuty, which ignores it) or "ignore".
   */
  unknownQueryParameters?: "reject" | "ignore";
  /** The fake's clock (on-call windows, rate-limit windows, timestamps). Default Date.now. */
  now?: () => number;
}

/** A scripted answer for the next matching request(s). */
export type FailureSpec = {
  /** Only requests to this API / path (exact, or a RegExp on the path) / method. Default: any. */
  api?: ApiKind;
  path?: string | RegExp;
  method?: string;
} & (
  | {
      status: 429 | 500 | 502 | 503 | 504;
      /** Seconds, sent as Retry-After. */
      retryAfter?: number;
      /** The body; default PagerDuty's error shape for the API (a string is sent as text/html). */
      body?: unknown;
    }
  | {
      /** "before": drop the connection without doing anything; "after": do the work, then drop the connection (a lost answer). */
      drop: "before" | "after";
    }
);

export interface WaitOptions {
  timeoutMs?: number;
  /** Said in the timeout error. */
  description?: string;
}

export interface RequestMatcher {
  api?: ApiKind;
  method?: string;
  path?: string | RegExp;
  operation?: string;
  status?: number;
}

export interface FakePagerDuty {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** "127.0.0.1:<port>": pdjs's `server` option, for both `api()` and `event()`. */
  readonly server: string;
  /** The default REST API key (full access). */
  readonly token: string;
  readonly contract: PagerDutyContract;

  // ---- account set-up ----
  addUser(seed: UserSeed): FakeUser;
  addEscalationPolicy(seed: { id?: string; name: string }): FakeEscalationPolicy;
  addSchedule(seed: { id?: string; name: string; timeZone?: string }): FakeSchedule;
  /** A service with an Events API v2 integration (its `integrationKey` is the routing key). */
  addService(seed: ServiceSeed): FakeService;
  /** `userId` is on call for `policyId` at `level` (1 by default), permanently or from `start` to `end` through a schedule. */
  setOnCall(policyId: string, userId: string, seed?: OnCallSeed): FakeOnCall;
  clearOnCalls(filter?: { escalationPolicyId?: string; userId?: string }): void;
  addToken(seed: string | TokenSeed): FakeToken;
  readonly users: ReadonlyMap<string, FakeUser>;
  readonly services: ReadonlyMap<string, FakeService>;
  readonly escalationPolicies: ReadonlyMap<string, FakeEscalationPolicy>;
  readonly onCalls: readonly FakeOnCall[];

  // ---- what happened ----
  readonly requests: readonly FakePagerDutyRequest[];
  /** Every accepted (202) event with its outcome, routed or not. */
  readonly events: readonly AcceptedEvent[];
  /** Accepted events whose routing key belongs to no service (PagerDuty routes them nowhere). */
  readonly unroutedEvents: readonly AcceptedEvent[];
  readonly incidents: readonly FakeIncident[];
  /** By id, incident key (dedup key; the newest with that key) or number. */
  incident(ref: string | number): FakeIncident | undefined;
  readonly webhooks: readonly WebhookDelivery[];
  /** Answers the fake would have given that break the contract (each was replaced by a 500): a bug in the fake. */
  readonly contractViolations: ReadonlyArray<{ operation: string; status: number; errors: string[] }>;

  // ---- waiting on state ----
  /** Resolves with the predicate's first truthy value, re-checked on every change (no polling); rejects after timeoutMs (default 5000). */
  waitFor<T>(predicate: (fake: FakePagerDuty) => T | undefined | null | false, options?: WaitOptions): Promise<T>;
  waitForEvent(match?: { dedupKey?: string; eventAction?: AcceptedEvent["eventAction"]; routingKey?: string; outcome?: AcceptedEvent["outcome"] }, options?: WaitOptions): Promise<AcceptedEvent>;
  waitForRequest(match?: RequestMatcher, options?: WaitOptions): Promise<FakePagerDutyRequest>;

  // ---- failures on demand ----
  /** The next `times` matching requests get this answer instead of the real one. */
  failNext(times: number, spec: FailureSpec): void;
  /** Every request (of `api`, or both) answers `status` until restore(). */
  outage(spec?: { status?: 500 | 502 | 503 | 504; api?: ApiKind; retryAfter?: number; body?: unknown }): void;
  /** Ends an outage and forgets scripted failures. */
  restore(): void;
  setEventsRateLimit(limit: RateLimit | false): void;
  setRestRateLimit(limit: RateLimit | false): void;

  // ---- webhooks ----
  /** Sends a signed v3 webhook about an incident to `url` (applying the change it describes first); answers with the receiver's status and body. */
  sendWebhook(url: string, spec: WebhookEventSpec, options: WebhookSendOptions): Promise<WebhookResult>;
  /** The subscription id sent in X-Webhook-Subscription by default. */
  readonly webhookSubscriptionId: string;

  /** Forgets requests, events, incidents, webhooks and failures; keeps (default) or clears the account. */
  reset(options?: { account?: boolean }): void;
  close(): Promise<void>;
}

const ACCEPT = "application/vnd.pagerduty+json;version=2";
const WINDOW_MS = 60_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

function pathMatches(path: string, pattern: string | RegExp | undefined): boolean {
  return pattern === undefined || (typeof pattern === "string" ? pattern === path : pattern.test(path));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A rolling-window limiter: at most `perMinute` admissions per key in any 60 s. */
class Limiter {
  private readonly admitted = new Map<string, number[]>();
  constructor(public limit: RateLimit | false) {}

  /** Admits (and counts) the request, or answers how many seconds until a slot frees. */
  admit(key: string, now: number): { ok: true; remaining: number; resetSeconds: number; limit: number } | { ok: false; retryAfterSeconds: number; limit: number } {
    if (this.limit === false) return { ok: true, remaining: Infinity, resetSeconds: 0, limit: Infinity };
    const times = (this.admitted.get(key) ?? []).filter((at) => at > now - WINDOW_MS);
    this.admitted.set(key, times);
    const oldest = times[0] ?? now;
    const resetSeconds = Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
    if (times.length >= this.limit.perMinute) return { ok: false, retryAfterSeconds: resetSeconds, limit: this.limit.perMinute };
    times.push(now);
    return { ok: true, remaining: this.limit.perMinute - times.length, resetSeconds, limit: this.limit.perMinute };
  }

  clear(): void {
    this.admitted.clear();
  }
}

interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  errors?: string[];
  injected?: FakePagerDutyRequest["injected"];
  operation?: string;
  drop?: boolean;
}

export async function startFakePagerDuty(options: FakePagerDutyOptions): Promise<FakePagerDuty> {
  const contract = loadPagerDutyContract();
  const now = options.now ?? (() => Date.now());
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const changed = (): void => {
    emitter.emit("change");
  };

  let baseUrl = "";
  const state = new AccountState(() => baseUrl, `https://${options.subdomain ?? "firebreak-test"}.pagerduty.com`, options.accountTimeZone ?? "UTC");
  const requests: FakePagerDutyRequest[] = [];
  const events: AcceptedEvent[] = [];
  const webhooks: WebhookDelivery[] = [];
  const violations: Array<{ operation: string; status: number; errors: string[] }> = [];
  const eventsLimiter = new Limiter(options.eventsRateLimit ?? { perMinute: 120 });
  const restLimiter = new Limiter(options.restRateLimit ?? { perMinute: 960 });
  let scripted: Array<{ remaining: number; spec: FailureSpec }> = [];
  let currentOutage: { status: number; api?: ApiKind; retryAfter?: number; body?: unknown } | undefined;
  const webhookSubscriptionId = state.nextId("W");

  const addToken = (seed: string | TokenSeed): FakeToken => {
    const token: FakeToken = typeof seed === "string" ? { token: seed, scheme: "token", readOnly: false } : { token: seed.token, scheme: seed.scheme ?? "token", readOnly: seed.readOnly ?? false };
    state.tokens.set(token.token, token);
    return token;
  };
  const initialTokens = options.tokens ?? [`u+fake${Math.random().toString(36).slice(2, 12)}Token`];
  for (const seed of initialTokens) addToken(seed);
  const defaultToken = [...state.tokens.keys()][0] ?? "";

  // ---- answers -----------------------------------------------------------------------------------

  const failureBody = (api: ApiKind, status: number): unknown => {
    if (api === "events") return status === 429 ? EVENT_ANSWERS.throttled() : EVENT_ANSWERS.serverError(status);
    if (status === 429) return { error: { message: "Rate Limit Exceeded", code: 2020 } };
    return { error: { message: status === 503 ? "Service Unavailable" : "An internal error has occurred. PagerDuty team has been notified.", code: 2000 } };
  };

  /** Checks the answer against the operation's documented responses; a violation becomes a 500 (the fake has a bug). */
  const checked = (operation: OperationContract, answer: Outcome, extra: { contractView?: unknown; included?: RestAnswer["included"] } = {}): Outcome => {
    const errors = operation.validateResponse(answer.status, extra.contractView ?? answer.body);
    for (const item of extra.included ?? []) errors.push(...contract.validateSchema(operation.api, item.schema, item.value).map((line) => `included ${item.schema}: ${line}`));
    if (errors.length === 0) return answer;
    violations.push({ operation: operation.key, status: answer.status, errors });
    return {
      status: 500,
      body: { error: { message: `fake PagerDuty broke the contract of ${operation.key} (a bug in test/fakes/pagerduty)`, code: 2000, errors } },
      errors,
      operation: operation.key,
    };
  };

  const handleEvents = (request: { method: string; path: string; headers: IncomingHttpHeaders; raw: Buffer; json: unknown; parsed: boolean }): Outcome => {
    const match = contract.events.match(request.method, request.path);
    if (!match) {
      if (contract.events.isKnown(request.method, request.path)) {
        return { status: 501, body: { status: "not implemented", message: `The fake PagerDuty does not implement ${request.method} ${request.path} (add it in test/fakes/pagerduty)` } };
      }
      return { status: 404, body: { status: "Not Found", message: `No such Events API endpoint: ${request.method} ${request.path}` } };
    }
    const operation = match.operation;
    const done = (answer: Outcome): Outcome => checked(operation, { ...answer, operation: operation.key });
    const invalid = (errors: string[]): Outcome => done({ status: 400, body: EVENT_ANSWERS.invalid(errors), errors });
    if (request.raw.length > EVENT_LIMITS.maxBodyBytes) return invalid([`Event object is too large: ${request.raw.length} bytes (Events API payloads are limited to 512 KB)`]);
    if (mediaType(request.headers["content-type"]) !== "application/json") {
      return done({ status: 400, body: EVENT_ANSWERS.unrecognized([`Content-Type must be application/json (got '${request.headers["content-type"] ?? ""}')`]), errors: ["Content-Type must be application/json"] });
    }
    if (!request.parsed) return done({ status: 400, body: EVENT_ANSWERS.unrecognized(["JSON parse error"]), errors: ["JSON parse error"] });
    if (!isRecord(request.json)) return done({ status: 400, body: EVENT_ANSWERS.unrecognized(["Event object must be a JSON object"]), errors: ["Event object must be a JSON object"] });
    const body = request.json;
    const errors = validateEvent(operation, body);
    if (errors.length > 0) return invalid(errors);
    const routingKey = String(body["routing_key"]);
    if (options.unknownRoutingKeys === "reject" && !state.serviceByRoutingKey(routingKey)) {
      return invalid([`No service of the fake's account has the integration key '${routingKey}' (unknownRoutingKeys: "reject")`]);
    }
    const slot = eventsLimiter.admit(routingKey, now());
    if (!slot.ok) return done({ status: 429, body: EVENT_ANSWERS.throttled(), errors: ["rate limited"], injected: "rate-limit" });
    const accepted = processEvent(state, body, { now: now() });
    events.push(accepted);
    return done({ status: 202, body: EVENT_ANSWERS.accepted(accepted.dedupKey) });
  };

  const handleRest = (request: { method: string; path: string; query: URLSearchParams; headers: IncomingHttpHeaders; raw: Buffer; json: unknown; parsed: boolean }): Outcome => {
    const match = contract.rest.match(request.method, request.path);
    if (!match) {
      if (contract.rest.isKnown(request.method, request.path)) {
        return { status: 501, body: { error: { message: `The fake PagerDuty does not implement ${request.method} ${request.path} (add it in test/fakes/pagerduty/rest.ts)`, code: 2100 } } };
      }
      return { ...notFound(), errors: [`No such REST endpoint: ${request.method} ${request.path}`] };
    }
    const { operation, params } = match;
    const rest = (answer: RestAnswer, more: Partial<Outcome> = {}): Outcome => {
      const errors = isRecord(answer.body) && isRecord(answer.body["error"]) && Array.isArray(answer.body["error"]["errors"]) ? (answer.body["error"]["errors"] as string[]) : [];
      return checked(operation, { status: answer.status, body: answer.body, ...(answer.headers ? { headers: answer.headers } : {}), errors, operation: operation.key, ...more }, { contractView: answer.contractView, included: answer.included });
    };

    // Authentication: `Authorization: Token token=<key>` (API keys) or `Bearer <token>` (OAuth).
    const authorization = request.headers.authorization ?? "";
    const presented = /^Token token=(.+)$/.exec(authorization)?.[1] ?? /^Bearer (.+)$/.exec(authorization)?.[1];
    const token = presented === undefined ? undefined : state.tokens.get(presented);
    const scheme = authorization.startsWith("Bearer ") ? "bearer" : "token";
    if (!token || token.scheme !== scheme) {
      const why = authorization === "" ? "No Authorization header" : presented === undefined ? "The Authorization header must be 'Token token=<API key>' (or 'Bearer <OAuth token>')" : "Unknown or revoked token";
      return rest(restError(401, "Authentication failed", 2006, [why]));
    }

    // PagerDuty's REST limit, per token, with its ratelimit-* headers.
    const slot = restLimiter.admit(token.token, now());
    if (!slot.ok) {
      return rest(restError(429, "Rate Limit Exceeded", 2020), {
        headers: { "ratelimit-limit": String(slot.limit), "ratelimit-remaining": "0", "ratelimit-reset": String(slot.retryAfterSeconds) },
        injected: "rate-limit",
      });
    }
    const limitHeaders = Number.isFinite(slot.limit) ? { "ratelimit-limit": String(slot.limit), "ratelimit-remaining": String(slot.remaining), "ratelimit-reset": String(slot.resetSeconds) } : undefined;
    const withLimits = (answer: Outcome): Outcome => (limitHeaders ? { ...answer, headers: { ...limitHeaders, ...answer.headers } } : answer);

    // Headers the contract requires.
    const headerErrors: string[] = [];
    const accepts = (request.headers.accept ?? "").split(",").map((entry) => entry.replace(/\s+/g, "").toLowerCase());
    if (!accepts.includes(ACCEPT)) headerErrors.push(`The Accept header must be '${ACCEPT}' (got '${request.headers.accept ?? ""}')`);
    if (operation.hasBody && mediaType(request.headers["content-type"]) !== "application/json") {
      headerErrors.push(`The Content-Type header must be 'application/json' (got '${request.headers["content-type"] ?? ""}')`);
    }
    for (const parameter of operation.parameters) {
      if (parameter.in !== "header" || ["accept", "content-type", "from"].includes(parameter.name.toLowerCase())) continue;
      const value = request.headers[parameter.name.toLowerCase()];
      if (parameter.required && value === undefined) headerErrors.push(`The ${parameter.name} header is required`);
    }
    if (headerErrors.length > 0) return withLimits(rest(invalidInput(headerErrors)));

    // Query parameters: known to the contract for this operation, well-typed, enum values.
    const queryErrors: string[] = [];
    const queryParameters = operation.parameters.filter((parameter) => parameter.in === "query");
    for (const name of new Set(request.query.keys())) {
      const parameter = queryParameters.find((candidate) => candidate.name === name);
      const values = request.query.getAll(name);
      if (!parameter) {
        if (options.unknownQueryParameters === "ignore") continue;
        const hint = queryParameters.find((candidate) => candidate.name === `${name}[]` || `${candidate.name}[]` === name);
        queryErrors.push(`'${name}' is not a query parameter of ${operation.key}${hint ? ` (did you mean '${hint.name}'?)` : ""}; it takes: ${queryParameters.map((candidate) => candidate.name).join(", ")}`);
        continue;
      }
      if (!parameter.repeated && values.length > 1) queryErrors.push(`'${name}' is given ${values.length} times`);
      if (name === "since" || name === "until") continue; // checked by the operation (error 2004)
      for (const value of values) queryErrors.push(...operation.checkParameter(parameter, value));
    }
    for (const parameter of queryParameters) if (parameter.required && !request.query.has(parameter.name)) queryErrors.push(`'${parameter.name}' is required`);
    if (queryErrors.length > 0) return withLimits(rest(invalidInput(queryErrors)));

    // The body: JSON, and what the schema says.
    if (operation.hasBody) {
      if (!request.parsed) return withLimits(rest(invalidInput(["The request body is not valid JSON"])));
      const bodyErrors = operation.validateBody(request.json);
      if (bodyErrors.length > 0) return withLimits(rest(invalidInput(bodyErrors)));
    }

    const handler = REST_HANDLERS[operation.key];
    if (!handler) return { status: 501, body: { error: { message: `No handler for ${operation.key}`, code: 2100 } } };
    return withLimits(rest(handler(state, { operation, params, query: request.query, headers: request.headers, json: request.json, token, now: now() })));
  };

  const scriptedFor = (api: ApiKind, method: string, path: string): FailureSpec | undefined => {
    const entry = scripted.find(({ remaining, spec }) => remaining > 0 && (spec.api === undefined || spec.api === api) && (spec.method === undefined || spec.method.toUpperCase() === method) && pathMatches(path, spec.path));
    if (!entry) return undefined;
    entry.remaining -= 1;
    scripted = scripted.filter((candidate) => candidate.remaining > 0);
    return entry.spec;
  };

  const answer = (request: { method: string; path: string; query: URLSearchParams; headers: IncomingHttpHeaders; raw: Buffer; json: unknown; parsed: boolean }): Outcome => {
    const api: ApiKind = request.path.startsWith("/v2/") ? "events" : "rest";
    if (currentOutage && (currentOutage.api === undefined || currentOutage.api === api)) {
      return {
        status: currentOutage.status,
        body: currentOutage.body ?? failureBody(api, currentOutage.status),
        ...(currentOutage.retryAfter !== undefined ? { headers: { "retry-after": String(currentOutage.retryAfter) } } : {}),
        injected: "outage",
      };
    }
    const failure = scriptedFor(api, request.method, request.path);
    if (failure && "status" in failure) {
      return { status: failure.status, body: failure.body ?? failureBody(api, failure.status), ...(failure.retryAfter !== undefined ? { headers: { "retry-after": String(failure.retryAfter) } } : {}), injected: "fail-next" };
    }
    if (failure && failure.drop === "before") return { status: 0, body: undefined, drop: true, injected: "fail-next" };
    const outcome = api === "events" ? handleEvents(request) : handleRest(request);
    if (failure && failure.drop === "after") return { ...outcome, status: 0, drop: true, injected: "fail-next" };
    return outcome;
  };

  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const raw = await readBody(request);
      const url = new URL(request.url ?? "/", "https://fake.invalid");
      const text = raw.toString("utf8");
      let json: unknown;
      let parsed = false;
      try {
        json = text === "" ? undefined : (JSON.parse(text) as unknown);
        parsed = text !== "";
      } catch {
        json = undefined;
      }
      const method = (request.method ?? "GET").toUpperCase();
      let outcome: Outcome;
      try {
        outcome = answer({ method, path: url.pathname, query: url.searchParams, headers: request.headers, raw, json, parsed });
      } catch (error) {
        outcome = { status: 500, body: { error: { message: `fake PagerDuty failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`, code: 2000 } } };
      }
      const api: ApiKind = url.pathname.startsWith("/v2/") ? "events" : "rest";
      const isText = typeof outcome.body === "string";
      const headers: Record<string, string> = { "content-type": isText ? "text/html; charset=utf-8" : "application/json; charset=utf-8", ...outcome.headers };
      requests.push({
        api,
        method,
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        rawBody: text,
        json,
        ...(outcome.operation ? { operation: outcome.operation } : {}),
        status: outcome.drop ? 0 : outcome.status,
        response: outcome.body,
        responseHeaders: headers,
        errors: outcome.errors ?? [],
        ...(outcome.injected ? { injected: outcome.injected } : {}),
        at: now(),
      });
      if (outcome.drop) {
        request.socket.destroy();
      } else {
        response.writeHead(outcome.status, headers);
        response.end(isText ? (outcome.body as string) : JSON.stringify(outcome.body));
      }
      changed();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  baseUrl = `https://127.0.0.1:${port}`;

  const fake: FakePagerDuty = {
    url: baseUrl,
    server: `127.0.0.1:${port}`,
    token: defaultToken,
    contract,
    webhookSubscriptionId,

    addUser: (seed) => {
      const user = state.addUser(seed);
      changed();
      return user;
    },
    addEscalationPolicy: (seed) => state.addEscalationPolicy(seed),
    addSchedule: (seed) => state.addSchedule(seed),
    addService: (seed) => state.addService(seed),
    setOnCall: (policyId, userId, seed) => {
      const onCall = state.setOnCall(policyId, userId, seed);
      changed();
      return onCall;
    },
    clearOnCalls: (filter) => {
      state.clearOnCalls(filter);
      changed();
    },
    addToken,
    users: state.users,
    services: state.services,
    escalationPolicies: state.policies,
    onCalls: state.onCalls,

    requests,
    events,
    get unroutedEvents() {
      return events.filter((event) => event.outcome === "unrouted");
    },
    incidents: state.incidents,
    incident: (ref) => state.findIncident(ref),
    webhooks,
    contractViolations: violations,

    waitFor<T>(predicate: (fake: FakePagerDuty) => T | undefined | null | false, waitOptions: WaitOptions = {}): Promise<T> {
      const timeoutMs = waitOptions.timeoutMs ?? 5_000;
      return new Promise<T>((resolve, reject) => {
        const check = (): boolean => {
          const value = predicate(fake);
          if (value === undefined || value === null || value === false) return false;
          cleanup();
          resolve(value);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          const recent = requests
            .slice(-10)
            .map((seen) => `  ${seen.method} ${seen.path} → ${seen.status}${seen.errors.length > 0 ? ` (${seen.errors.join("; ")})` : ""}`)
            .join("\n");
          reject(new Error(`fake PagerDuty: timed out after ${timeoutMs} ms waiting for ${waitOptions.description ?? "a condition"}; last requests:\n${recent || "  (none)"}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          emitter.off("change", listener);
        };
        const listener = (): void => {
          check();
        };
        emitter.on("change", listener);
        check();
      });
    },
    waitForEvent(match = {}, waitOptions = {}) {
      return fake.waitFor(
        () =>
          events.find(
            (event) =>
              (match.dedupKey === undefined || event.dedupKey === match.dedupKey) &&
              (match.eventAction === undefined || event.eventAction === match.eventAction) &&
              (match.routingKey === undefined || event.routingKey === match.routingKey) &&
              (match.outcome === undefined || event.outcome === match.outcome),
          ),
        { description: `an accepted event matching ${JSON.stringify(match)}`, ...waitOptions },
      );
    },
    waitForRequest(match = {}, waitOptions = {}) {
      return fake.waitFor(
        () =>
          requests.find(
            (seen) =>
              (match.api === undefined || seen.api === match.api) &&
              (match.method === undefined || seen.method === match.method.toUpperCase()) &&
              pathMatches(seen.path, match.path) &&
              (match.operation === undefined || seen.operation === match.operation) &&
              (match.status === undefined || seen.status === match.status),
          ),
        { description: `a request matching ${JSON.stringify({ ...match, path: match.path?.toString() })}`, ...waitOptions },
      );
    },

    failNext(times, spec) {
      if (!Number.isInteger(times) || times < 1) throw new Error("fake PagerDuty: failNext(times) needs a positive integer");
      scripted.push({ remaining: times, spec });
    },
    outage(spec = {}) {
      currentOutage = { status: spec.status ?? 503, ...(spec.api ? { api: spec.api } : {}), ...(spec.retryAfter !== undefined ? { retryAfter: spec.retryAfter } : {}), ...(spec.body !== undefined ? { body: spec.body } : {}) };
    },
    restore() {
      currentOutage = undefined;
      scripted = [];
    },
    setEventsRateLimit(limit) {
      eventsLimiter.limit = limit;
      eventsLimiter.clear();
    },
    setRestRateLimit(limit) {
      restLimiter.limit = limit;
      restLimiter.clear();
    },

    async sendWebhook(url, spec, sendOptions) {
      const incident = state.findIncident(spec.incident);
      if (!incident) throw new Error(`fake PagerDuty: sendWebhook: no incident ${typeof spec.incident === "object" ? spec.incident.id : String(spec.incident)}`);
      const at = spec.occurredAt?.getTime() ?? now();
      if (sendOptions.applyChange !== false && sendOptions.forge === undefined) applyWebhookChange(state, incident, spec, at);
      const subscriptionId = sendOptions.subscriptionId ?? webhookSubscriptionId;
      const webhookId = sendOptions.webhookId ?? crypto.randomUUID();
      const built = buildWebhook(state, incident, spec, { ...sendOptions, subscriptionId, webhookId, occurredAt: at, url });
      const delivery: WebhookDelivery = {
        url,
        webhookId,
        subscriptionId,
        eventId: built.eventId,
        eventType: spec.event_type,
        ...(sendOptions.forge ? { forge: sendOptions.forge } : {}),
        headers: built.headers,
        rawBody: built.rawBody,
        payload: built.payload,
        sentAt: now(),
        status: 0,
        responseBody: "",
      };
      webhooks.push(delivery);
      changed();
      const received = await deliverWebhook(url, built, sendOptions.timeoutMs ?? 5_000);
      delivery.status = received.status;
      delivery.responseBody = received.body;
      changed();
      let json: unknown;
      try {
        json = received.body === "" ? undefined : (JSON.parse(received.body) as unknown);
      } catch {
        json = undefined;
      }
      return { status: received.status, ok: received.status >= 200 && received.status < 300, body: received.body, json, headers: received.headers, delivery };
    },

    reset(resetOptions = {}) {
      requests.length = 0;
      events.length = 0;
      webhooks.length = 0;
      violations.length = 0;
      state.incidents.length = 0;
      scripted = [];
      currentOutage = undefined;
      eventsLimiter.clear();
      restLimiter.clear();
      if (resetOptions.account) state.reset();
      changed();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
