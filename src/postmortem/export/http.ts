import { TransientOutboundError, errorMessage } from "../../lib/errors.ts";

/**
 * One outbound JSON call with a hard timeout, shared by the exporters. The
 * caller maps HTTP statuses to Firebreak's errors; this only turns network
 * failures and timeouts into TransientOutboundError (the job queue retries
 * them with backoff). Credentials travel in headers, never in URLs, so error
 * messages that name the URL leak nothing.
 */
export interface OutboundRequest {
  /** "Confluence", "GitHub": names the service in error messages. */
  service: string;
  /** "create page": names the call in error messages. */
  operation: string;
  method: "GET" | "POST" | "PUT";
  url: string;
  headers: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  body?: unknown;
  timeoutMs: number;
}

/** What every exporter client takes besides its configuration. */
export interface ClientOptions {
  timeoutMs: number;
  /** The clock, for rate-limit reset times. */
  now?: () => number;
}

/** An object's fields, or an empty record for anything else (reading JSON answers defensively). */
export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  json: unknown;
  text: string;
}

function networkError(request: OutboundRequest, error: unknown): TransientOutboundError {
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") {
    return new TransientOutboundError("outbound_timeout", `${request.service} ${request.operation} timed out after ${request.timeoutMs} ms`, { cause: error });
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === "string" ? ` (${cause.code})` : "";
  return new TransientOutboundError("outbound_unavailable", `${request.service} ${request.operation} failed: ${errorMessage(error)}${code}`, { cause: error });
}

export async function sendJson(request: OutboundRequest): Promise<OutboundResponse> {
  const signal = AbortSignal.timeout(request.timeoutMs);
  const headers: Record<string, string> = { ...request.headers };
  if (request.body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
  let response: Response;
  let text: string;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers,
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      signal,
      // A redirect means a wrong base URL (a login page, another host): report it, never follow it with our credentials.
      redirect: "manual",
    });
    text = await response.text();
  } catch (error) {
    throw networkError(request, error);
  }
  let json: unknown;
  try {
    json = text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
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
