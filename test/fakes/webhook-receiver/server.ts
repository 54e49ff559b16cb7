/**
 * A receiver of Firebreak's remediation webhooks, written the way docs/remediation/
 * flags-and-webhooks.md tells receivers to be: a real HTTP(S) server on 127.0.0.1 that
 *
 * - verifies `X-Firebreak-Signature: v1=<hex HMAC-SHA256("<timestamp>.<raw body>")>` with the
 *   shared secret (constant-time), and that `X-Firebreak-Timestamp` is within `toleranceSeconds`
 *   of its clock → else 401 `{"message": …}`;
 * - requires `Content-Type: application/json`, an `Idempotency-Key` (1-255 characters) and the
 *   body's `action.id`, `incident.number`, `confirmedBy.userId` and boolean `dryRun` → else 400/415/422;
 * - acts once per Idempotency-Key: a key it already answered gets the same answer again, with
 *   `Idempotent-Replayed: true`, and is not executed twice;
 * - can fail on demand: answer a status before acting, act and then drop the connection (a lost
 *   answer), or never answer.
 *
 *   const receiver = await startWebhookReceiver({ tls: inject("tls"), secret: "s3cret" });
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export interface WebhookReceiverOptions {
  tls?: { certPem: string; keyPem: string };
  secret: string;
  /** Accepted clock difference, both ways (default 300 s). */
  toleranceSeconds?: number;
  /** The receiver's clock in ms (default Date.now). */
  now?: () => number;
  /** What an accepted delivery is answered (default 200 {message: "Rollback started", url: "https://deploy.example.com/runs/1"}). */
  answer?: { status: number; body: unknown };
}

export interface Delivery {
  idempotencyKey: string;
  timestamp: string;
  signature: string;
  body: Record<string, unknown>;
  rawBody: string;
  /** What the receiver did: acted, replayed an earlier answer, refused before acting, or acted and dropped the answer. */
  outcome: "executed" | "replayed" | "refused" | "dropped";
  status: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  /** Every request, checked or not, in order. */
  readonly deliveries: readonly Delivery[];
  /** How many times the work was done for a key. */
  executions(idempotencyKey: string): number;
  /** The next `times` valid deliveries are answered `status` (with `message`) before acting. */
  failNext(failure: { status: number; times?: number; message?: string; headers?: Record<string, string> }): void;
  /** The next valid delivery is acted on, then the connection drops without an answer. */
  dropNextAnswer(): void;
  /** No request gets an answer from now on. */
  goSilent(): void;
  close(): Promise<void>;
}

const refuse = (status: number, message: string): Answer => ({ status, body: { message } });

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? Date.now;
  const answer = options.answer ?? { status: 200, body: { message: "Rollback started", url: "https://deploy.example.com/runs/1" } };
  const deliveries: Delivery[] = [];
  const answered = new Map<string, Answer>();
  const executed = new Map<string, number>();
  let failing: { status: number; times: number; message?: string; headers?: Record<string, string> } | undefined;
  let dropNext = false;
  let silent = false;

  function check(request: Omit<RecordedRequest, "status" | "response">): Answer | { key: string; timestamp: string; signature: string; body: Record<string, unknown> } {
    if (request.method !== "POST") return refuse(405, "POST only");
    if (!isJson(request.headers)) return refuse(415, "Content-Type must be application/json");
    const timestamp = String(request.headers["x-firebreak-timestamp"] ?? "");
    const signature = String(request.headers["x-firebreak-signature"] ?? "");
    if (!/^\d{1,12}$/.test(timestamp)) return refuse(401, "missing or malformed X-Firebreak-Timestamp");
    if (Math.abs(now() / 1_000 - Number(timestamp)) > tolerance) return refuse(401, "stale X-Firebreak-Timestamp: check the clocks");
    const expected = Buffer.from(`v1=${createHmac("sha256", options.secret).update(`${timestamp}.${request.rawBody}`).digest("hex")}`);
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse(401, "bad X-Firebreak-Signature");
    const key = String(request.headers["idempotency-key"] ?? "");
    if (key.length < 1 || key.length > 255) return refuse(400, "Idempotency-Key is required");
    const body = request.json;
    if (!isRecord(body) || !isRecord(body.action) || typeof body.action.id !== "string") return refuse(422, "action.id is required");
    if (!isRecord(body.incident) || typeof body.incident.number !== "number") return refuse(422, "incident.number is required");
    if (!isRecord(body.confirmedBy) || typeof body.confirmedBy.userId !== "string") return refuse(422, "confirmedBy.userId is required");
    if (typeof body.dryRun !== "boolean") return refuse(422, "dryRun must be a boolean");
    return { key, timestamp, signature, body };
  }

  const fake = await startFake((request) => {
    if (silent) return new Promise<Answer>(() => {});
    const checked = check(request);
    const record = (outcome: Delivery["outcome"], status: number, key = String(request.headers["idempotency-key"] ?? "")) =>
      deliveries.push({
        idempotencyKey: key,
        timestamp: String(request.headers["x-firebreak-timestamp"] ?? ""),
        signature: String(request.headers["x-firebreak-signature"] ?? ""),
        body: isRecord(request.json) ? request.json : {},
        rawBody: request.rawBody,
        outcome,
        status,
      });
    if ("status" in checked) {
      record("refused", checked.status);
      return checked;
    }
    const earlier = answered.get(checked.key);
    if (earlier) {
      record("replayed", earlier.status, checked.key);
      return { ...earlier, headers: { ...earlier.headers, "idempotent-replayed": "true" } };
    }
    if (failing && failing.times > 0) {
      failing.times -= 1;
      record("refused", failing.status, checked.key);
      return { status: failing.status, body: { message: failing.message ?? `deploy bot unavailable (HTTP ${failing.status})` }, ...(failing.headers ? { headers: failing.headers } : {}) };
    }
    executed.set(checked.key, (executed.get(checked.key) ?? 0) + 1);
    const given: Answer = { status: answer.status, body: answer.body };
    answered.set(checked.key, given);
    if (dropNext) {
      dropNext = false;
      record("dropped", 0, checked.key);
      return { ...given, drop: true };
    }
    record("executed", given.status, checked.key);
    return given;
  }, options.tls ? { tls: options.tls } : {});

  return {
    url: fake.url,
    requests: fake.requests,
    deliveries,
    executions: (key) => executed.get(key) ?? 0,
    failNext(failure) {
      failing = { ...failure, times: failure.times ?? 1 };
    },
    dropNextAnswer() {
      dropNext = true;
    },
    goSilent() {
      silent = true;
    },
    close: () => fake.close(),
  };
}
