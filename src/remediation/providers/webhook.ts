/**
 * `kind: webhook`: an HTTPS POST of a JSON body to a tool of your own (a deploy
 * bot, Jenkins, Spinnaker, a home-grown rollback service), signed so the
 * receiver can trust it:
 *
 *   X-Firebreak-Timestamp: <Unix seconds>
 *   X-Firebreak-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>
 *   Idempotency-Key: <the same for every attempt of one execution>
 *
 * The body names the action, the incident, who confirmed and `dryRun`. A
 * network error, a timeout-free 5xx, 408 or 429 is retried while the deadline
 * allows, re-signed with a fresh timestamp and the same Idempotency-Key (the
 * receiver uses it to act once). A 2xx is `succeeded` (with the receiver's
 * `message`, and its `url` as the link); any other answer is `failed` with the
 * receiver's message.
 *
 * A dry run calls nothing: it names the call and shows the body. With
 * `deliverDryRuns: true` (for receivers that honour `"dryRun": true`), dry runs
 * are delivered too, and the receiver's answer is shown.
 */
import { createHmac } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { TransientOutboundError } from "../../lib/errors.ts";
import { createVendorClient, excerpt, record, type OutboundResponse } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome, Preview, ProviderDefinition, ProviderDeps, RemediationProvider } from "../ports.ts";
import { envNameSchema, missingSecret, scrubOutcome, thrownFailure, vendorMessage } from "./flag-common.ts";

export interface WebhookAction extends ActionBase {
  /** https:// (http:// only to this machine: localhost, 127.0.0.1, ::1). */
  url: string;
  /** The environment variable holding the signing secret. */
  secretEnv: string;
  /** Sent as `parameters` in the body, e.g. { service: checkout }. */
  parameters: Record<string, string>;
  /** Deliver dry runs too (with "dryRun": true); default false: a dry run calls nothing. */
  deliverDryRuns: boolean;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

const fields = z
  .object({
    url: z.string().refine((value) => {
      try {
        const url = new URL(value);
        const allowed = url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK.has(url.hostname));
        return allowed && url.username === "" && url.password === "" && url.hash === "";
      } catch {
        return false;
      }
    }, "must be an https:// URL without credentials (http:// only to localhost): the body carries incident details"),
    secretEnv: envNameSchema,
    parameters: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, "parameter names are letters, digits, _ . -"), z.string().max(1_000)).default({}),
    deliverDryRuns: z.boolean().default(false),
  })
  .strict();

/** The signature header's value for one attempt. */
export function webhookSignature(secret: string, timestamp: number, rawBody: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex")}`;
}

/** The URL as shown to people: without its query string (which may carry a token). */
function shown(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}${parsed.search ? "?…" : ""}`;
}

function bodyOf(action: WebhookAction, context: ExecutionContext) {
  const { incident } = context;
  return {
    type: "firebreak.remediation",
    action: { id: action.id, label: action.label },
    incident: { number: incident.number, title: incident.title, severity: incident.severity, channel: { id: incident.channelId, name: incident.channelName } },
    confirmedBy: { userId: context.confirmedBy.userId, name: context.confirmedBy.name },
    dryRun: context.dryRun,
    idempotencyKey: context.idempotencyKey,
    parameters: action.parameters,
  };
}

/** What a receiver said in its answer: `message`, and a link in `url` or `link`. */
function answerOf(response: OutboundResponse): { message?: string; link?: string } {
  const body = record(response.json);
  const message = typeof body.message === "string" && body.message.trim() !== "" ? excerpt(body.message, 200) : undefined;
  const link = [body.url, body.link].find((value): value is string => typeof value === "string" && /^https?:\/\/\S+$/.test(value));
  return { ...(message ? { message } : {}), ...(link ? { link } : {}) };
}

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export interface WebhookClock {
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number;
  /** Waits between attempts (default a timer). */
  sleep?: (ms: number) => Promise<void>;
  /** How many times an attempt may be sent again (default 2). */
  retries?: number;
}

/** The provider with an injectable clock (tests); `webhookProvider.create` uses the real one. */
export function createWebhookProvider(deps: ProviderDeps, clock: WebhookClock = {}): RemediationProvider<WebhookAction> {
  const now = clock.now ?? Date.now;
  const sleep = clock.sleep ?? ((ms: number) => delay(ms));
  const retries = clock.retries ?? 2;

  async function deliver(action: WebhookAction, context: ExecutionContext, secret: string): Promise<Outcome> {
    const where = shown(action.url);
    const doing = `run the webhook ${where}`;
    const body = bodyOf(action, context);
    // The client sends JSON.stringify(body): the same bytes as signed here.
    const raw = JSON.stringify(body);
    const deadline = now() + deps.timeoutMs;
    const headroom = Math.min(1_000, deps.timeoutMs / 4);
    let lastFailure: Outcome | undefined;

    for (let attempt = 1; attempt <= 1 + retries; attempt += 1) {
      const left = deadline - now();
      if (left <= 0) break;
      const timestamp = Math.floor(now() / 1_000);
      const client = createVendorClient("webhook", { timeoutMs: left, retries: 0 }, {});
      /** Waits before the next attempt when one is left and fits in the deadline. */
      const backOff = async (): Promise<boolean> => {
        const wait = Math.round(125 * 2 ** attempt * (0.5 + Math.random() / 2));
        if (attempt > retries || now() + wait + headroom >= deadline) return false;
        await sleep(wait);
        return true;
      };
      let response: OutboundResponse;
      try {
        response = await client.send({
          operation: "POST",
          method: "POST",
          url: action.url,
          headers: { "x-firebreak-timestamp": String(timestamp), "x-firebreak-signature": webhookSignature(secret, timestamp, raw), "idempotency-key": context.idempotencyKey },
          body,
          retryable: false,
        });
      } catch (error) {
        // A network error is sent again; a timeout used up the deadline.
        if (error instanceof TransientOutboundError && error.code === "outbound_unavailable" && (await backOff())) continue;
        if (error instanceof TransientOutboundError && error.code === "outbound_timeout") {
          return {
            status: "failed",
            summary: `Could not ${doing}: it did not answer within ${deps.timeoutMs} ms. It may still act on the request; trying again sends the same Idempotency-Key.`,
            detail: error.message,
            retryable: true,
          };
        }
        return thrownFailure("webhook", doing, error, true);
      }

      const said = answerOf(response);
      if (response.status >= 200 && response.status < 300) {
        const heard = said.message ? `: ${said.message}` : ".";
        if (context.dryRun) return { status: "dry_run", summary: `Sent a dry run to ${where}; the receiver answered (HTTP ${response.status})${heard}` };
        return {
          status: "succeeded",
          summary: `${where} accepted the request (HTTP ${response.status})${heard}`,
          ...(said.link ? { link: said.link } : {}),
          details: { url: where, status: String(response.status), idempotencyKey: context.idempotencyKey, ...(said.message ? { message: said.message } : {}) },
        };
      }
      const message = said.message ?? vendorMessage(response);
      const because = message ? `: ${message}` : "";
      if (response.status >= 300 && response.status < 400) {
        return { status: "failed", summary: `Could not ${doing}: it answered with a redirect (HTTP ${response.status}); set url to the final address.`, retryable: false };
      }
      if (response.status === 401 || response.status === 403) {
        const summary = `Could not ${doing}: the receiver refused the request (HTTP ${response.status})${because}. Check that it verifies with the secret in ${action.secretEnv}.`;
        return { status: "failed", summary, ...(message ? { detail: message } : {}), retryable: false };
      }
      const retryable = RETRY_STATUSES.has(response.status);
      lastFailure = { status: "failed", summary: `Could not ${doing}: the receiver answered HTTP ${response.status}${because}.`, ...(message ? { detail: message } : {}), retryable };
      if (retryable && (await backOff())) continue;
      return lastFailure;
    }
    return lastFailure ?? { status: "failed", summary: `Could not ${doing}: no time was left to send it (deadline ${deps.timeoutMs} ms).`, retryable: true };
  }

  return {
    kind: "webhook",

    preview(action): Promise<Preview> {
      const where = shown(action.url);
      const preview: Preview = {
        target: `Webhook POST ${where}`,
        effect: `POST a signed JSON body (action ${action.id}, the incident, who confirmed) to ${where}; the receiver does the work`,
        credentials: [action.secretEnv],
      };
      return Promise.resolve(deps.secrets(action.secretEnv) ? preview : { ...preview, problem: `The environment variable ${action.secretEnv} is not set.` });
    },

    async execute(action, context): Promise<Outcome> {
      const where = shown(action.url);
      const secret = deps.secrets(action.secretEnv);
      if (!secret) return missingSecret(`run the webhook ${where}`, action.secretEnv);
      if (context.dryRun && !action.deliverDryRuns) {
        return {
          status: "dry_run",
          summary: `Would POST ${where} a JSON body signed with ${action.secretEnv} (X-Firebreak-Signature v1, Idempotency-Key ${context.idempotencyKey}).`,
          details: { method: "POST", url: where, idempotencyKey: context.idempotencyKey, body: JSON.stringify(bodyOf(action, context)) },
        };
      }
      return scrubOutcome(await deliver(action, context, secret), [secret]);
    },
  };
}

export const webhookProvider: ProviderDefinition<WebhookAction> = {
  kind: "webhook",
  fields,
  flag: false,
  credentials: (action) => [action.secretEnv],
  create: (deps) => createWebhookProvider(deps),
};
