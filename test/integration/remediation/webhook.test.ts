// The `webhook` remediation provider against a receiver that verifies what the docs tell
// receivers to verify (test/fakes/webhook-receiver), over HTTPS with the run's CA.
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import type { ExecutionContext } from "../../../src/remediation/ports.ts";
import { createWebhookProvider, webhookProvider, webhookSignature, type WebhookAction, type WebhookClock } from "../../../src/remediation/providers/webhook.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../../fakes/webhook-receiver/index.ts";

const SECRET_ENV = "DEPLOY_WEBHOOK_SECRET";
const SECRET = "whsec-firebreak-test-0123456789abcdef";
let receiver: WebhookReceiver;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ tls: inject("tls"), secret: SECRET });
});
afterEach(async () => receiver.close());

/** No waits between attempts unless a test gives a clock. */
function provider(options: { timeoutMs?: number; secret?: string | null; clock?: WebhookClock } = {}) {
  const secret = options.secret === undefined ? SECRET : options.secret;
  return createWebhookProvider({ secrets: (name) => (name === SECRET_ENV ? (secret ?? undefined) : undefined), timeoutMs: options.timeoutMs ?? 10_000 }, { sleep: () => Promise.resolve(), ...options.clock });
}

function action(overrides: Partial<WebhookAction> = {}): WebhookAction {
  const fields = webhookProvider.fields.parse({ url: `${receiver.url}/rollback`, secretEnv: SECRET_ENV, parameters: { service: "checkout" } });
  return { id: "checkout-deploy-hook", label: "Roll back via deploy bot", kind: "webhook", allowed: [], dryRun: false, ...fields, ...overrides };
}

function context(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  return {
    incident: { number: 42, title: "Checkout is down", severity: "SEV1", channelId: "C0INC42", channelName: "inc-42-checkout" },
    confirmedBy: { userId: "U0ALICE", name: "Alice" },
    idempotencyKey: "exec-7f3a",
    dryRun: false,
    ...overrides,
  };
}

describe("the YAML fields", () => {
  it.each([
    ["https", "https://deploy.example.com/rollback", true],
    ["http to localhost", "http://127.0.0.1:8080/hook", true],
    ["http elsewhere", "http://deploy.example.com/rollback", false],
    ["credentials in the URL", "https://user:pw@deploy.example.com/rollback", false],
  ])("%s", (_name, url, ok) => {
    expect(webhookProvider.fields.safeParse({ url, secretEnv: SECRET_ENV }).success).toBe(ok);
  });

  it("defaults and refuses unknown keys", () => {
    expect(webhookProvider.fields.parse({ url: "https://deploy.example.com/rollback", secretEnv: SECRET_ENV })).toEqual({
      url: "https://deploy.example.com/rollback",
      secretEnv: SECRET_ENV,
      parameters: {},
      deliverDryRuns: false,
    });
    expect(webhookProvider.fields.safeParse({ url: "https://deploy.example.com/rollback", secretEnv: SECRET_ENV, secret: "inline" }).success).toBe(false);
    expect(webhookProvider.flag).toBe(false);
    expect(webhookProvider.credentials(action())).toEqual([SECRET_ENV]);
  });
});

describe("delivering", () => {
  it("posts a signed JSON body the receiver verifies, and shows its message and link", async () => {
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({
      status: "succeeded",
      summary: `${receiver.url}/rollback accepted the request (HTTP 200): Rollback started`,
      link: "https://deploy.example.com/runs/1",
      details: { url: `${receiver.url}/rollback`, status: "200", idempotencyKey: "exec-7f3a", message: "Rollback started" },
    });
    expect(receiver.deliveries.map((delivery) => [delivery.outcome, delivery.idempotencyKey])).toEqual([["executed", "exec-7f3a"]]);
    const [delivery] = receiver.deliveries;
    expect(delivery?.body).toEqual({
      type: "firebreak.remediation",
      action: { id: "checkout-deploy-hook", label: "Roll back via deploy bot" },
      incident: { number: 42, title: "Checkout is down", severity: "SEV1", channel: { id: "C0INC42", name: "inc-42-checkout" } },
      confirmedBy: { userId: "U0ALICE", name: "Alice" },
      dryRun: false,
      idempotencyKey: "exec-7f3a",
      parameters: { service: "checkout" },
    });
    // The signature is over "<timestamp>.<raw body>": recomputed here from what arrived.
    expect(delivery?.signature).toBe(webhookSignature(SECRET, Number(delivery?.timestamp), delivery?.rawBody ?? ""));
    expect(Math.abs(Number(delivery?.timestamp) - Date.now() / 1_000)).toBeLessThan(60);
    expect(JSON.stringify(outcome)).not.toContain(SECRET);
  });

  it("previews the call without reading anything", async () => {
    expect(await provider().preview(action(), {})).toEqual({
      target: `Webhook POST ${receiver.url}/rollback`,
      effect: `POST a signed JSON body (action checkout-deploy-hook, the incident, who confirmed) to ${receiver.url}/rollback; the receiver does the work`,
      credentials: [SECRET_ENV],
    });
    expect(receiver.requests).toEqual([]);
  });

  it("a dry run calls nothing and names the exact call", async () => {
    const outcome = await provider().execute(action(), context({ dryRun: true }));
    expect(outcome).toMatchObject({
      status: "dry_run",
      summary: `Would POST ${receiver.url}/rollback a JSON body signed with ${SECRET_ENV} (X-Firebreak-Signature v1, Idempotency-Key exec-7f3a).`,
    });
    expect(JSON.parse((outcome as { details: Record<string, string> }).details.body ?? "{}")).toMatchObject({ dryRun: true, action: { id: "checkout-deploy-hook" } });
    expect(receiver.requests).toEqual([]);
  });

  it("with deliverDryRuns, a dry run is delivered with dryRun: true", async () => {
    const outcome = await provider().execute(action({ deliverDryRuns: true }), context({ dryRun: true }));
    expect(outcome).toEqual({ status: "dry_run", summary: `Sent a dry run to ${receiver.url}/rollback; the receiver answered (HTTP 200): Rollback started` });
    expect(receiver.deliveries.map((delivery) => delivery.body.dryRun)).toEqual([true]);
  });
});

describe("retries", () => {
  it("a 503 is retried with a fresh timestamp and signature and the same Idempotency-Key", async () => {
    let clock = Date.parse("2026-12-02T10:00:00Z");
    const receiverNow = () => clock;
    await receiver.close();
    receiver = await startWebhookReceiver({ tls: inject("tls"), secret: SECRET, now: receiverNow });
    receiver.failNext({ status: 503, times: 1 });
    // Each attempt is signed a few seconds after the one before.
    const outcome = await provider({ clock: { now: () => clock, sleep: (ms) => Promise.resolve(void (clock += 2_000 + ms)) } }).execute(action(), context());

    expect(outcome.status).toBe("succeeded");
    const [first, second] = receiver.deliveries;
    expect(receiver.deliveries.map((delivery) => [delivery.outcome, delivery.status])).toEqual([
      ["refused", 503],
      ["executed", 200],
    ]);
    expect(second?.idempotencyKey).toBe(first?.idempotencyKey);
    expect(second?.idempotencyKey).toBe("exec-7f3a");
    expect(Number(second?.timestamp)).toBeGreaterThan(Number(first?.timestamp));
    expect(second?.signature).not.toBe(first?.signature);
    expect(second?.rawBody).toBe(first?.rawBody);
    expect(receiver.executions("exec-7f3a")).toBe(1);
  });

  it("a lost answer is retried and the receiver, keyed on Idempotency-Key, acts once", async () => {
    receiver.dropNextAnswer();
    const outcome = await provider().execute(action(), context());
    expect(outcome.status).toBe("succeeded");
    expect(receiver.deliveries.map((delivery) => delivery.outcome)).toEqual(["dropped", "replayed"]);
    expect(receiver.executions("exec-7f3a")).toBe(1);
  });

  it("a 500 that lasts is a retryable failure with the receiver's message, after three attempts", async () => {
    receiver.failNext({ status: 500, times: 5, message: "deploy bot crashed" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not run the webhook ${receiver.url}/rollback: the receiver answered HTTP 500: deploy bot crashed.`, detail: "deploy bot crashed", retryable: true });
    expect(receiver.deliveries.map((delivery) => delivery.status)).toEqual([500, 500, 500]);
    expect(receiver.executions("exec-7f3a")).toBe(0);
  });
});

describe("failures in plain words", () => {
  it("a 4xx is a failure with the receiver's message, not retried", async () => {
    receiver.failNext({ status: 409, message: "a rollback of checkout is already running" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not run the webhook ${receiver.url}/rollback: the receiver answered HTTP 409: a rollback of checkout is already running.`,
      detail: "a rollback of checkout is already running",
      retryable: false,
    });
    expect(receiver.deliveries).toHaveLength(1);
  });

  it("a wrong secret is refused by the receiver (401), and the outcome names the variable", async () => {
    const wrong = "whsec-not-the-right-one-0000000";
    const outcome = await provider({ secret: wrong }).execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not run the webhook ${receiver.url}/rollback: the receiver refused the request (HTTP 401): bad X-Firebreak-Signature. Check that it verifies with the secret in ${SECRET_ENV}.`,
      detail: "bad X-Firebreak-Signature",
      retryable: false,
    });
    expect(JSON.stringify(outcome)).not.toContain(wrong);
  });

  it("a stale timestamp is refused by the receiver", async () => {
    const tenMinutesAgo = Date.now() - 10 * 60_000;
    const outcome = await provider({ clock: { now: () => tenMinutesAgo } }).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", detail: "stale X-Firebreak-Timestamp: check the clocks", retryable: false });
  });

  it("a receiver that echoes the secret does not get it into the outcome", async () => {
    receiver.failNext({ status: 400, message: `expected secret ${SECRET}` });
    const outcome = await provider().execute(action(), context());
    expect(outcome.status).toBe("failed");
    expect(JSON.stringify(outcome)).not.toContain(SECRET);
    expect(JSON.stringify(outcome)).toContain("[redacted]");
  });

  it("a receiver that never answers is a retryable failure that says the request may have arrived", async () => {
    receiver.goSilent();
    const outcome = await provider({ timeoutMs: 300 }).execute(action(), context());
    expect(outcome).toMatchObject({
      status: "failed",
      retryable: true,
      summary: `Could not run the webhook ${receiver.url}/rollback: it did not answer within 300 ms. It may still act on the request; trying again sends the same Idempotency-Key.`,
    });
  });

  it("a missing secret variable sends nothing", async () => {
    const outcome = await provider({ secret: null }).execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not run the webhook ${receiver.url}/rollback: the environment variable ${SECRET_ENV} is not set.`, retryable: false });
    expect((await provider({ secret: null }).preview(action(), {})).problem).toBe(`The environment variable ${SECRET_ENV} is not set.`);
    expect(receiver.requests).toEqual([]);
  });
});
