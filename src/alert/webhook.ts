import type { FastifyInstance } from "fastify";
import type { Logger } from "../lib/logger.ts";
import { isAuthorized, type WebhookAuth } from "./auth.ts";
import type { AlertFlows } from "./flows.ts";
import { IngestOverloadedError, UnstorablePayloadError } from "./ingest.ts";
import { alertmanagerWebhookSchema, describeIssues } from "./models.ts";

/**
 * POST /webhooks/alertmanager. Answers 2xx only once the delivery is stored
 * (group commit: with the other deliveries of its batch; an identical HA
 * copy answers once its original is stored, with the original's id);
 * 400 names the bad field (Alertmanager does not retry 4xx, which is right),
 * checked before anything is queued, so bad input never joins a batch;
 * 401 without valid credentials; 413 over 1 MiB (server-wide limit); 503
 * with Retry-After when the database is unavailable (its batch failed) or
 * cannot keep up (deliveries wait too long to be stored: refused at once),
 * never a 4xx for a transient fault.
 */
export interface WebhookDeps {
  auth: WebhookAuth;
  flows: Pick<AlertFlows, "ingest">;
  logger: Logger;
  /** More concurrent deliveries than this get 503 + Retry-After. */
  maxInFlight?: number;
}

export function registerAlertmanagerWebhook(server: FastifyInstance, deps: WebhookDeps): void {
  const maxInFlight = deps.maxInFlight ?? 256;
  let inFlight = 0;
  // Under overload, one warning a second (with a count), not one per refused request.
  let refused = 0;
  let lastRefusalLog = 0;
  const refusedForOverload = (groupKey: string, reason: string): void => {
    refused += 1;
    const now = Date.now();
    if (now - lastRefusalLog < 1_000) return;
    deps.logger.warn({ groupKey, reason, refused }, "Alertmanager deliveries refused (overloaded); answered 503 so they are retried");
    lastRefusalLog = now;
    refused = 0;
  };
  server.post("/webhooks/alertmanager", async (request, reply) => {
    if (!isAuthorized(deps.auth, request.headers.authorization)) {
      return reply
        .status(401)
        .header("www-authenticate", deps.auth.kind === "basic" ? 'Basic realm="firebreak"' : 'Bearer realm="firebreak"')
        .send({ ok: false, error: "unauthorized: send the credentials configured in ALERTMANAGER_TOKEN (or ALERTMANAGER_USERNAME/PASSWORD)" });
    }
    const parsed = alertmanagerWebhookSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.status(400).send({ ok: false, error: `invalid Alertmanager payload: ${describeIssues(parsed.error)}` });
    }
    if (inFlight >= maxInFlight) {
      refusedForOverload(parsed.data.groupKey, `${inFlight} deliveries in flight`);
      return reply.status(503).header("retry-after", "5").send({ ok: false, error: "overloaded; Alertmanager will retry" });
    }
    inFlight += 1;
    try {
      const stored = await deps.flows.ingest(parsed.data);
      return reply.status(200).send({ ok: true, delivery: String(stored.id), alerts: parsed.data.alerts.length, ...(stored.copy ? { copy: true } : {}) });
    } catch (error) {
      if (error instanceof UnstorablePayloadError) {
        // Refused before batching: it never makes other deliveries' batch fail.
        return reply.status(400).send({ ok: false, error: `invalid Alertmanager payload: ${error.message}` });
      }
      if (error instanceof IngestOverloadedError) {
        refusedForOverload(parsed.data.groupKey, error.message);
        return reply.status(503).header("retry-after", String(error.retryAfterS)).send({ ok: false, error: "overloaded; Alertmanager will retry" });
      }
      deps.logger.error({ err: error, groupKey: parsed.data.groupKey }, "could not store an Alertmanager delivery; answered 503 so it is retried");
      return reply.status(503).header("retry-after", "5").send({ ok: false, error: "temporarily unavailable; Alertmanager will retry" });
    } finally {
      inFlight -= 1;
    }
  });
}
