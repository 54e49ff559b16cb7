import { setTimeout as delay } from "node:timers/promises";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError, VENDORS, errorMessage, type Vendor } from "./errors.ts";

/**
 * The one outbound HTTP client, for every vendor (Confluence, GitHub, the
 * paging and rollback providers to come). JSON in and out; credentials travel
 * in headers, never in URLs, so messages that name a call leak nothing;
 * redirects are returned, never followed (with our credentials, to who knows
 * where).
 *
 * One deadline (`timeoutMs`) covers a whole call: every attempt and every wait
 * between them. A call that may be sent again (`retryable`: by default GET,
 * PUT and DELETE, never POST or PATCH unless the caller says so) is retried on
 * 408, 429, 500, 502, 503 and 504, network errors and attempt timeouts, with
 * exponential backoff and jitter, or after the answer's `Retry-After`, as long
 * as the wait fits in what is left of the deadline.
 *
 * `send` resolves with the last answer whatever its status (mapping statuses
 * onto errors is the vendor's client's job, it knows what to tell the user),
 * except:
 * - a 429 with a `Retry-After` it does not wait out (the call may not be
 *   retried, retries are used up, or the wait does not fit) throws
 *   RateLimitedError naming the vendor, so the durable job queue postpones the
 *   job instead of holding it in memory;
 * - network failures and timeouts throw TransientOutboundError naming the
 *   vendor: `outbound_timeout` or `outbound_unavailable`;
 * - a URL that does not parse or carries credentials throws a permanent
 *   `config_invalid` error.
 */

export type OutboundMethod = "GET" | "PUT" | "DELETE" | "POST" | "PATCH";

const IDEMPOTENT: ReadonlySet<OutboundMethod> = new Set(["GET", "PUT", "DELETE"]);
const RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface OutboundRequest {
  /** "create page": names the call in error messages. */
  operation: string;
  method: OutboundMethod;
  url: string;
  /** On top of the client's headers. */
  headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  body?: unknown;
  /** May the call be sent again? Default: GET, PUT and DELETE yes; POST and PATCH no (a POST that creates something would create it twice). */
  retryable?: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  json: unknown;
  text: string;
}

/** One attempt on the wire: `fetch` by default; a vendor's SDK can be the transport (PagerDuty's pdjs), under the same deadline and retry policy. */
export type Transport = (request: { url: string; method: OutboundMethod; headers: Headers; body: string | undefined; signal: AbortSignal }) => Promise<{ status: number; headers: Headers; text: string }>;

export const fetchTransport: Transport = async ({ url, method, headers, body, signal }) => {
  const response = await fetch(url, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal,
    // A redirect means a wrong base URL (a login page, another host): report it, never follow it with our credentials.
    redirect: "manual",
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
};

export interface OutboundClientOptions {
  vendor: Vendor;
  /** How an attempt goes on the wire (default `fetch`, redirects not followed). */
  transport?: Transport;
  /** The deadline of one call: all its attempts and the waits between them. */
  timeoutMs: number;
  /** The most one attempt may take, leaving time for a retry (default: all the time left). */
  attemptTimeoutMs?: number;
  /** Sent on every call: credentials, Accept, User-Agent. */
  headers?: Readonly<Record<string, string>>;
  /** How many times a retryable call may be sent again (default 2). */
  retries?: number;
  /** The first backoff, doubled at each retry, then jittered down by up to half (default 250 ms). */
  backoffMs?: number;
  /** The clock (default Date.now): deadlines and Retry-After dates. */
  now?: () => number;
  /** A number in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
  /** Waits between attempts (default: a timer); rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Hears of every call once it ends (metrics): its outcome and how long it took, all attempts included. */
  observe?: OutboundObserver;
}

/** What a finished call tells its observer. */
export interface ObservedCall {
  vendor: Vendor;
  operation: string;
  /** ok (2xx, 3xx), http_4xx, http_5xx, rate_limited, timeout, unavailable, or error (anything else thrown). */
  outcome: string;
  seconds: number;
}

export type OutboundObserver = (call: ObservedCall) => void;

/** A call's outcome, from its answer or what it threw. */
export function outcomeOf(result: { status: number } | { error: unknown }): string {
  if ("status" in result) return result.status < 400 ? "ok" : result.status === 429 ? "rate_limited" : result.status < 500 ? "http_4xx" : "http_5xx";
  const { error } = result;
  if (error instanceof RateLimitedError) return "rate_limited";
  if (error instanceof TransientOutboundError) return error.code === "outbound_timeout" ? "timeout" : "unavailable";
  return "error";
}

/** What a vendor's client takes besides its own configuration: everything but the vendor and the headers. */
export type VendorClientOptions = Omit<OutboundClientOptions, "vendor" | "headers">;

/** A vendor's client from its settings (which may carry more, e.g. credentials, that stay out of the client). */
export function createVendorClient(vendor: Vendor, options: VendorClientOptions, headers: Readonly<Record<string, string>>): OutboundClient {
  const { timeoutMs, attemptTimeoutMs, retries, backoffMs, now, random, sleep, transport, observe } = options;
  return createOutboundClient({ vendor, timeoutMs, attemptTimeoutMs, retries, backoffMs, now, random, sleep, transport, observe, headers });
}

export interface OutboundClient {
  readonly vendor: Vendor;
  send(request: OutboundRequest): Promise<OutboundResponse>;
}

/** An object's fields, or an empty record for anything else (reading JSON answers defensively). */
export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** At least one second, at most a day: a hold outside that range is a bug or a hostile header. */
export function clampDelay(ms: number): number {
  return Math.min(24 * 60 * 60_000, Math.max(1_000, Math.ceil(ms)));
}

/** A short, single-line excerpt of an error body for messages (never the request). */
export function excerpt(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

const sleepWithTimer = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal });

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

export function createOutboundClient(options: OutboundClientOptions): OutboundClient {
  const name = VENDORS[options.vendor];
  const transport = options.transport ?? fetchTransport;
  const vendor = options.vendor;
  const retries = Math.max(0, options.retries ?? 2);
  const backoffMs = options.backoffMs ?? 250;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? sleepWithTimer;
  // A wait fits when it leaves the next attempt a quarter of the call's time (at most a second).
  const headroomMs = Math.min(1_000, options.timeoutMs / 4);

  function target(request: OutboundRequest): string {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch (error) {
      throw new PermanentOutboundError("config_invalid", "invalid_url", `${name} ${request.operation}: the URL does not parse`, { cause: error, vendor });
    }
    if (url.username !== "" || url.password !== "") {
      throw new PermanentOutboundError("config_invalid", "credentials_in_url", `${name} ${request.operation}: the URL carries credentials; they belong in headers`, { vendor });
    }
    return url.href;
  }

  function headersOf(request: OutboundRequest): Headers {
    const headers = new Headers({ accept: "application/json" });
    for (const [key, value] of Object.entries({ ...options.headers, ...request.headers })) headers.set(key, value);
    // JSON unless the request names its own JSON flavour (LaunchDarkly's semantic patch).
    if (request.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json; charset=utf-8");
    return headers;
  }

  async function attempt(url: string, request: OutboundRequest, signal: AbortSignal): Promise<OutboundResponse> {
    const body = request.body !== undefined ? JSON.stringify(request.body) : undefined;
    // The transport may not watch the signal for the whole exchange (pdjs hands it to the request only): the deadline wins the race.
    const response = await raceAbort(transport({ url, method: request.method, headers: headersOf(request), body, signal }), signal);
    const text = response.text;
    let json: unknown;
    try {
      json = text === "" ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  function failure(request: OutboundRequest, error: unknown, deadline: AbortSignal, attempts: number): TransientOutboundError {
    const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
    if (isAbort(error)) {
      const after = deadline.aborted || options.attemptTimeoutMs === undefined ? options.timeoutMs : options.attemptTimeoutMs;
      return new TransientOutboundError("outbound_timeout", `${name} ${request.operation} timed out after ${after} ms${tries}`, { cause: error, vendor });
    }
    const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
    const code = typeof cause?.code === "string" ? ` (${cause.code})` : "";
    return new TransientOutboundError("outbound_unavailable", `${name} ${request.operation} failed${tries}: ${errorMessage(error)}${code}`, { cause: error, vendor });
  }

  async function observed(request: OutboundRequest): Promise<OutboundResponse> {
    if (!options.observe) return send(request);
    const started = performance.now();
    let outcome = "error";
    try {
      const response = await send(request);
      outcome = outcomeOf(response);
      return response;
    } catch (error) {
      outcome = outcomeOf({ error });
      throw error;
    } finally {
      options.observe({ vendor, operation: request.operation, outcome, seconds: (performance.now() - started) / 1_000 });
    }
  }

  return { vendor, send: observed };

  async function send(request: OutboundRequest): Promise<OutboundResponse> {
    const url = target(request);
    const deadlineAt = now() + options.timeoutMs;
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const attempts = 1 + ((request.retryable ?? IDEMPOTENT.has(request.method)) ? retries : 0);
    const fits = (wait: number) => now() + wait + headroomMs <= deadlineAt;
    const backoff = (retry: number) => {
      const full = backoffMs * 2 ** (retry - 1);
      return Math.round(full / 2 + (random() * full) / 2);
    };
    const pause = async (ms: number, tried: number) => {
      try {
        await sleep(ms, deadline);
      } catch (error) {
        throw failure(request, error, deadline, tried);
      }
    };

    for (let tried = 1; ; tried += 1) {
      const left = deadlineAt - now();
      const signal = options.attemptTimeoutMs !== undefined && options.attemptTimeoutMs < left ? AbortSignal.any([deadline, AbortSignal.timeout(options.attemptTimeoutMs)]) : deadline;
      let response: OutboundResponse;
      try {
        response = await attempt(url, request, signal);
      } catch (error) {
        const wait = backoff(tried);
        if (deadline.aborted || tried >= attempts || !fits(wait)) throw failure(request, error, deadline, tried);
        await pause(wait, tried);
        continue;
      }
      if (!RETRY_STATUSES.has(response.status)) return response;
      const asked = retryAfterMs(response.headers, now());
      const wait = asked ?? backoff(tried);
      if (tried < attempts && fits(wait)) {
        await pause(wait, tried);
        continue;
      }
      if (response.status === 429 && asked !== undefined) {
        throw new RateLimitedError(`${name} rate-limited ${request.operation} (Retry-After ${Math.ceil(asked / 1_000)} s)`, clampDelay(asked), vendor);
      }
      return response;
    }
  }
}
