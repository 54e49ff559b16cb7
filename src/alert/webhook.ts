import { hash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../lib/logger.ts";
import { createAuthorizer, type WebhookAuth } from "./auth.ts";
import type { AlertFlows } from "./flows.ts";
import { IngestOverloadedError } from "./ingest.ts";
import { hasUnicodeEscape, UnstorablePayloadError, withoutByteOrderMark } from "./ingest-storable.ts";
import { validateWebhook } from "./models.ts";

/**
 * POST /webhooks/alertmanager. Answers 2xx only once the delivery is stored
 * (group commit: with the other deliveries of its batch; an identical HA
 * copy answers once its original is stored, with the original's id). The
 * body is taken as bytes: after authentication, a copy is recognised by the
 * hash of its bytes before any parsing, and a new delivery is parsed (with
 * Fastify's own JSON parser and its prototype-poisoning checks), validated,
 * and stored as received (less a leading UTF-8 byte order mark, which is not
 * JSON: stored, the text must parse again exactly as it did here);
 * 400 names the bad field (Alertmanager does not retry 4xx, which is right),
 * checked before anything is queued, so bad input never joins a batch;
 * 401 without valid credentials; 413 over 1 MiB (server-wide limit); 503
 * with Retry-After when the database is unavailable (its batch failed) or
 * cannot keep up (deliveries wait too long to be stored: refused at once),
 * never a 4xx for a transient fault.
 */
export interface WebhookDeps {
  auth: WebhookAuth;
  flows: Pick<AlertFlows, "ingest" | "copyOf">;
  logger: Logger;
  /** More concurrent deliveries than this get 503 + Retry-After. */
  maxInFlight?: number;
}

/** U+0040-U+007F: every letter and "_", so every character of "__proto__" and "constructor". */
const escapesNameCharacter = (code: number): boolean => code >= 0x40 && code <= 0x7f;

export function registerAlertmanagerWebhook(server: FastifyInstance, deps: WebhookDeps): void {
  const maxInFlight = deps.maxInFlight ?? 256;
  const isAuthorized = createAuthorizer(deps.auth);
  let inFlight = 0;
  // Under overload, one warning a second (with a count), not one per refused request.
  let refused = 0;
  let lastRefusalLog = 0;
  const refusedForOverload = (reason: string): void => {
    refused += 1;
    const now = Date.now();
    if (now - lastRefusalLog < 1_000) return;
    deps.logger.warn({ reason, refused }, "Alertmanager deliveries refused (overloaded); answered 503 so they are retried");
    lastRefusalLog = now;
    refused = 0;
  };
  const parseJson = server.getDefaultJsonParser("error", "error");

  /**
   * Fastify's JSON parser (secure-json-parse) scans the whole text with two regexes for
   * prototype poisoning on every call. Text that contains neither "__proto__" nor
   * "constructor", spelled out or with a letter or "_" behind a \u escape, cannot poison
   * anything: it is parsed with JSON.parse alone (the byte searches cost far less than the
   * scans). Go's \u003c, \u003e and \u0026 are not letters.
   */
  function parseBody(request: FastifyRequest, raw: Buffer, text: string): { ok: true; value: unknown } | { ok: false; error: string } {
    const plain = (): { ok: true; value: unknown } | { ok: false; error: string } => {
      try {
        return { ok: true, value: JSON.parse(text) as unknown };
      } catch (error) {
        return { ok: false, error: `body is not JSON: ${error instanceof Error ? error.message : String(error)}` };
      }
    };
    if (!raw.includes("__proto__") && !raw.includes("constructor") && !hasUnicodeEscape(raw, escapesNameCharacter)) return plain();
    // Fastify's parser drops a byte order mark, as the caller did already: a second one is not JSON, whichever path reads it.
    if (text.charCodeAt(0) === 0xfeff) return plain();
    let refused = true;
    let value: unknown;
    // Fastify's JSON parser answers synchronously.
    void parseJson(request, text, (error, parsed) => {
      refused = Boolean(error);
      value = parsed;
    });
    if (!refused) return { ok: true, value };
    // Refused by the poisoning checks, or not JSON at all: say which.
    const asPlain = plain();
    return asPlain.ok ? { ok: false, error: 'body contains a "__proto__" or "constructor.prototype" key' } : asPlain;
  }

  function unavailable(reply: FastifyReply, error: unknown, groupKey: string | undefined): FastifyReply {
    if (error instanceof IngestOverloadedError) {
      refusedForOverload(error.message);
      return reply.status(503).header("retry-after", String(error.retryAfterS)).send({ ok: false, error: "overloaded; Alertmanager will retry" });
    }
    deps.logger.error({ err: error, groupKey }, "could not store an Alertmanager delivery; answered 503 so it is retried");
    return reply.status(503).header("retry-after", "5").send({ ok: false, error: "temporarily unavailable; Alertmanager will retry" });
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (!isAuthorized(request.headers.authorization)) {
      return reply
        .status(401)
        .header("www-authenticate", deps.auth.kind === "basic" ? 'Basic realm="firebreak"' : 'Bearer realm="firebreak"')
        .send({ ok: false, error: "unauthorized: send the credentials configured in ALERTMANAGER_TOKEN (or ALERTMANAGER_USERNAME/PASSWORD)" });
    }
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (inFlight >= maxInFlight) {
      refusedForOverload(`${inFlight} deliveries in flight`);
      return reply.status(503).header("retry-after", "5").send({ ok: false, error: "overloaded; Alertmanager will retry" });
    }
    inFlight += 1;
    try {
      const key = hash("sha256", raw, "base64");
      const copy = deps.flows.copyOf(key);
      if (copy) {
        try {
          const stored = await copy;
          return await reply.status(200).send({ ok: true, delivery: String(stored.id), copy: true });
        } catch (error) {
          return unavailable(reply, error, undefined);
        }
      }
      // A UTF-8 byte order mark is not part of the JSON (RFC 8259 lets a parser ignore it; Fastify's
      // parser does, JSON.parse does not): dropped here, so that what is stored parses as it did here.
      const text = withoutByteOrderMark(raw.toString("utf8"));
      const body = parseBody(request, raw, text);
      if (!body.ok) return reply.status(400).send({ ok: false, error: `invalid Alertmanager payload: ${body.error}` });
      const parsed = validateWebhook(body.value);
      if (!parsed.ok) return reply.status(400).send({ ok: false, error: `invalid Alertmanager payload: ${parsed.error}` });
      try {
        const stored = await deps.flows.ingest(parsed.value, raw, key, text);
        return await reply.status(200).send({ ok: true, delivery: String(stored.id), alerts: parsed.value.alerts.length, ...(stored.copy ? { copy: true } : {}) });
      } catch (error) {
        if (error instanceof UnstorablePayloadError) {
          // Refused before batching: it never makes other deliveries' batch fail.
          return reply.status(400).send({ ok: false, error: `invalid Alertmanager payload: ${error.message}` });
        }
        return unavailable(reply, error, parsed.value.groupKey);
      }
    } finally {
      inFlight -= 1;
    }
  }

  void server.register(async (scope) => {
    // This route reads its body as bytes (see above); the rest of the server keeps its parsers.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    scope.post("/webhooks/alertmanager", handle);
  });
}
