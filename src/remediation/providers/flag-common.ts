/**
 * What the feature-flag and webhook providers share: YAML field schemas, the
 * state an execution sets, and turning vendor answers and outbound errors into
 * plain-word Outcomes that never carry a secret.
 */
import { z } from "zod";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError, VENDORS, errorMessage, type Vendor } from "../../lib/errors.ts";
import { excerpt, record, type OutboundResponse } from "../../lib/outbound.ts";
import type { ExecutionContext, Outcome } from "../ports.ts";

export type FlagState = "on" | "off";

/** `off` | `on` (YAML 1.1 habits `false` / `true` are read the same way). */
export const flagStateSchema = z
  .union([z.enum(["on", "off"]), z.boolean()], { error: "must be off or on (what the button sets)" })
  .transform((value): FlagState => (typeof value === "boolean" ? (value ? "on" : "off") : value));

export const envNameSchema = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be the name of an environment variable, such as UNLEASH_ADMIN_TOKEN");

/** A key or name the vendor uses in its URLs (project, flag, environment). */
export const identifierSchema = z
  .string()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((value) => value.trim() === value && !/[\s/?#]/.test(value), "must not contain spaces, /, ? or #");

/** An http(s) base URL without credentials, query or fragment; the trailing / is dropped. */
export function baseUrlSchema(options: { httpsOnly?: boolean } = {}) {
  return z
    .string()
    .refine((value) => {
      try {
        const url = new URL(value);
        if (url.protocol !== "https:" && (options.httpsOnly || url.protocol !== "http:")) return false;
        return url.username === "" && url.password === "" && url.search === "" && url.hash === "";
      } catch {
        return false;
      }
    }, options.httpsOnly ? "must be an https:// URL without credentials, query or fragment" : "must be an http(s):// URL without credentials, query or fragment")
    .transform((value) => value.replace(/\/+$/, ""));
}

/** The state this execution sets: the opposite change offered afterwards names its own. */
export function wantedState(action: { state: FlagState }, context: Pick<ExecutionContext, "flagState">): FlagState {
  return context.flagState ?? action.state;
}

export function onOff(enabled: boolean): FlagState {
  return enabled ? "on" : "off";
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Removes every secret from a text (a vendor may echo a token back in an error). */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** The same Outcome with every secret removed from its texts. */
export function scrubOutcome(outcome: Outcome, secrets: ReadonlyArray<string | undefined>): Outcome {
  const clean = (text: string) => scrub(text, secrets);
  const details = "details" in outcome && outcome.details ? Object.fromEntries(Object.entries(outcome.details).map(([key, value]) => [key, clean(value)])) : undefined;
  const next: Outcome = { ...outcome, summary: clean(outcome.summary) };
  if (next.status === "failed" && next.detail !== undefined) next.detail = clean(next.detail);
  if (details && (next.status === "succeeded" || next.status === "dry_run")) next.details = details;
  return next;
}

/** The vendor's own words for an error answer: `message`, `detail`, `error`, or a short excerpt of the body. */
export function vendorMessage(response: Pick<OutboundResponse, "json" | "text">): string | undefined {
  const body = record(response.json);
  for (const key of ["message", "detail", "error", "error_description"]) {
    const value = body[key];
    if (typeof value === "string" && value.trim() !== "") return excerpt(value, 300);
  }
  if (Array.isArray(response.json) && typeof response.json[0] === "string") return excerpt(response.json.join(" "), 300);
  if (response.json !== undefined) {
    // Django REST framework's field errors: {"enabled": ["Must be a valid boolean."]}.
    const fields = Object.entries(body)
      .filter((entry): entry is [string, unknown[]] => Array.isArray(entry[1]))
      .map(([key, value]) => `${key}: ${value.filter((item) => typeof item === "string").join(" ")}`);
    if (fields.length > 0) return excerpt(fields.join("; "), 300);
  }
  const text = response.text.trim();
  if (text === "" || /^\s*</.test(text)) return undefined; // an HTML error page says nothing useful
  return excerpt(text, 300);
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export interface FailureWords {
  vendor: Vendor;
  /** What was being done, e.g. "turn new-checkout-flow off in production". */
  doing: string;
  /** The env variable holding the credential, named in 401/403 words. */
  credentialEnv: string;
  /** What a 404 means here, e.g. "Unleash has no flag new-checkout-flow in project default". */
  notFound: string;
}

/** A vendor's non-2xx answer in plain words. */
export function answerFailure(words: FailureWords, response: Pick<OutboundResponse, "status" | "json" | "text" | "headers">): Extract<Outcome, { status: "failed" }> {
  const name = VENDORS[words.vendor];
  const said = vendorMessage(response);
  const status = response.status;
  let why: string;
  if (status >= 300 && status < 400) {
    const location = response.headers.get("location");
    why = `${name} answered with a redirect (HTTP ${status}${location ? ` to ${excerpt(location, 120)}` : ""}): check the url, it should be the API's own address`;
  } else if (status === 401) why = `${name} rejected the credential in ${words.credentialEnv} (HTTP 401): it is wrong, expired or revoked`;
  else if (status === 403) why = `${name} did not allow the credential in ${words.credentialEnv} to do that (HTTP 403)`;
  else if (status === 404) why = `${words.notFound} (HTTP 404)`;
  else if (status === 409) why = `${name} reported a conflicting change (HTTP 409); try again`;
  else if (status === 429) why = `${name} is rate-limiting Firebreak (HTTP 429); try again in a minute`;
  else if (status >= 500) why = `${name} failed (HTTP ${status}); try again`;
  else why = `${name} refused the request (HTTP ${status})`;
  return { status: "failed", summary: `Could not ${words.doing}: ${why}.`, ...(said ? { detail: said } : {}), retryable: isRetryableStatus(status) };
}

/** An error thrown by the outbound client (timeout, network, rate limit, bad URL) in plain words. */
export function thrownFailure(vendor: Vendor, doing: string, error: unknown, mayHaveHappened: boolean): Extract<Outcome, { status: "failed" }> {
  const name = VENDORS[vendor];
  if (error instanceof RateLimitedError) {
    return { status: "failed", summary: `Could not ${doing}: ${name} is rate-limiting Firebreak; try again in ${Math.ceil(error.retryAfterMs / 1_000)} s.`, detail: error.message, retryable: true };
  }
  if (error instanceof TransientOutboundError) {
    const timedOut = error.code === "outbound_timeout";
    const what = timedOut ? `${name} did not answer in time` : `${name} could not be reached`;
    const unsure = mayHaveHappened && timedOut ? ` The change may or may not have been made: check ${name} before trying again.` : " Try again.";
    return { status: "failed", summary: `Could not ${doing}: ${what}.${unsure}`, detail: error.message, retryable: true };
  }
  if (error instanceof PermanentOutboundError) {
    return { status: "failed", summary: `Could not ${doing}: ${error.message}.`, retryable: false };
  }
  return { status: "failed", summary: `Could not ${doing}: ${errorMessage(error)}.`, retryable: false };
}

export function missingSecret(doing: string, env: string): Extract<Outcome, { status: "failed" }> {
  return { status: "failed", summary: `Could not ${doing}: the environment variable ${env} is not set.`, retryable: false };
}

/** A path segment for a vendor URL. */
export const seg = encodeURIComponent;
