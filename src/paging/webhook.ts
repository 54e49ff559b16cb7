import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../lib/logger.ts";
import type { PagingWebhookFlows, WebhookOutcome } from "./acknowledge.ts";
import { unstorableIdentifier, webhookSchema } from "./models.ts";

/**
 * POST /webhooks/pagerduty: PagerDuty v3 webhooks (a "Generic Webhook (v3)"
 * subscription on the services Firebreak pages). The body is read as bytes
 * and its `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the body>`, several
 * during a secret rotation) checked against PAGERDUTY_WEBHOOK_SECRET before
 * anything is parsed: 401 otherwise, and nothing stored. Then 400 for a body
 * that is not a v3 event (not JSON, or a field Firebreak reads missing or of
 * the wrong type); 202 for an event that is recorded, and for one that
 * concerns no page of Firebreak's or a type it does not follow (PagerDuty
 * must not retry those), and for one whose identifiers could not be stored
 * (a NUL or an unpaired surrogate, which no PagerDuty id has: ignored with a
 * warning, since retrying cannot help; a name with one is stored with U+FFFD,
 * an unusable `occurred_at` replaced by the time of arrival, see
 * acknowledge.ts); 413 over 256 KiB; 503 with Retry-After when the database
 * cannot take it (PagerDuty retries).
 */

/** PagerDuty's v3 events are a few KiB. */
export const PAGERDUTY_BODY_LIMIT_BYTES = 256 * 1024;

/** Signature header values look like "v1=<64 hex>"; compare in constant time with each one given. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return header.split(",").some((part) => {
    const match = /^\s*v1=([0-9a-f]{64})\s*$/i.exec(part);
    if (!match?.[1]) return false;
    const given = Buffer.from(match[1], "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}



export interface PagerDutyWebhookDeps {
  secret: string;
  flows: PagingWebhookFlows;
  logger: Logger;
}

export function registerPagerDutyWebhook(server: FastifyInstance, deps: PagerDutyWebhookDeps): void {
  async function handle(request: FastifyRequest, reply: FastifyReply) {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const signature = request.headers["x-pagerduty-signature"];
    if (!verifySignature(deps.secret, body, Array.isArray(signature) ? signature.join(",") : signature)) {
      return reply.code(401).send({ error: "invalid_signature", message: "X-PagerDuty-Signature does not match PAGERDUTY_WEBHOOK_SECRET" });
    }
    let json: unknown;
    try {
      // A byte order mark is not JSON, but RFC 8259 lets a parser ignore it (as Fastify's does).
      const text = body.toString("utf8");
      json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      return reply.code(400).send({ error: "invalid_json", message: "the body is not JSON" });
    }
    const parsed = webhookSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return reply.code(400).send({ error: "invalid_event", message: `not a PagerDuty v3 event: ${issue ? `${issue.path.join(".")} ${issue.message}` : "unreadable"}` });
    }
    const unstorable = unstorableIdentifier(parsed.data);
    if (unstorable) {
      // Correctly signed, yet no retry can make it storable: answered like an event Firebreak does not follow.
      deps.logger.warn({ field: unstorable, eventType: parsed.data.event.event_type }, "ignored a PagerDuty webhook whose identifier contains a NUL character or an unpaired surrogate (cannot be stored); answered 202 so that PagerDuty does not retry it");
      return reply.code(202).send({ outcome: "ignored" satisfies WebhookOutcome });
    }
    try {
      const outcome = await deps.flows.receive(parsed.data);
      return reply.code(202).send({ outcome });
    } catch (error) {
      deps.logger.warn({ err: error, event: parsed.data.event.id }, "a PagerDuty webhook could not be stored; answered 503 so PagerDuty retries");
      return reply.code(503).header("retry-after", "5").send({ error: "unavailable", message: "try again shortly" });
    }
  }

  void server.register(async (scope) => {
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    // The route's own limit (whatever the content type), so that its 413 names it.
    scope.post("/webhooks/pagerduty", { bodyLimit: PAGERDUTY_BODY_LIMIT_BYTES }, handle);
  });
}
