import { afterEach, beforeEach, expect, it } from "vitest";
import { webhookSignature } from "../../../src/remediation/providers/webhook.ts";
import { startWebhookReceiver, type WebhookReceiver } from "./index.ts";

/** The receiver acts only on fresh, correctly signed deliveries with an Idempotency-Key. */
const SECRET = "receiver-test-secret";
let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: SECRET });
});
afterEach(async () => receiver.close());

const body = JSON.stringify({ action: { id: "a" }, incident: { number: 1 }, confirmedBy: { userId: "U1" }, dryRun: false });

async function post(headers: Record<string, string>, raw = body) {
  const response = await fetch(receiver.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: raw });
  return { status: response.status, json: (await response.json()) as { message?: string } };
}

function signed(timestamp = Math.floor(Date.now() / 1000), raw = body, secret = SECRET): Record<string, string> {
  return { "x-firebreak-timestamp": String(timestamp), "x-firebreak-signature": webhookSignature(secret, timestamp, raw), "idempotency-key": "k1" };
}

it("refuses a wrong secret, a stale timestamp, a changed body and a missing key", async () => {
  expect((await post(signed(undefined, body, "other"))).json.message).toBe("bad X-Firebreak-Signature");
  expect((await post(signed(Math.floor(Date.now() / 1000) - 600))).json.message).toBe("stale X-Firebreak-Timestamp: check the clocks");
  expect((await post(signed(), body.replace('"a"', '"b"'))).status).toBe(401);
  const { "idempotency-key": _key, ...unkeyed } = signed();
  expect((await post(unkeyed)).status).toBe(400);
  expect(receiver.executions("k1")).toBe(0);
});

it("acts once per Idempotency-Key", async () => {
  expect((await post(signed())).status).toBe(200);
  expect((await post(signed())).status).toBe(200);
  expect(receiver.deliveries.map((delivery) => delivery.outcome)).toEqual(["executed", "replayed"]);
  expect(receiver.executions("k1")).toBe(1);
});
