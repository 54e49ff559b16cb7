import type { FastifyInstance } from "fastify";
import type { Logger } from "../lib/logger.ts";
import { isAuthorized, type WebhookAuth } from "./auth.ts";
import type { AlertFlows } from "./flows.ts";
import { alertmanagerWebhookSchema, describeIssues } from "./models.ts";

/**
 * POST /webhooks/alertmanager. Answers 2xx only once the delivery is stored;
 * 400 names the bad field (Alertmanager does not retry 4xx, which is right);
 * 401 without valid credentials; 413 over 1 MiB (server-wide limit); 503
 * when the database is unavailable or the service is overloaded
 * (Alertmanager retries 5xx), never a 4xx for a transient fault.
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
      return reply.status(503).header("retry-after", "5").send({ ok: false, error: "overloaded; Alertmanager will retry" });
    }
    inFlight += 1;
    try {
      const id = await deps.flows.ingest(parsed.data);
      return reply.status(200).send({ ok: true, delivery: String(id), alerts: parsed.data.alerts.length });
    } catch (error) {
      deps.logger.error({ err: error, groupKey: parsed.data.groupKey }, "could not store an Alertmanager delivery; answered 503 so it is retried");
      return reply.status(503).header("retry-after", "5").send({ ok: false, error: "temporarily unavailable; Alertmanager will retry" });
    } finally {
      inFlight -= 1;
    }
  });
}
