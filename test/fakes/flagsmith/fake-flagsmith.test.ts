import { afterEach, beforeEach, expect, it } from "vitest";
import { startFakeFlagsmith, type FakeFlagsmith } from "./index.ts";

/** The fake Flagsmith refuses what Flagsmith's Admin API refuses. */
let flagsmith: FakeFlagsmith;
beforeEach(async () => {
  flagsmith = await startFakeFlagsmith({ environments: [{ key: "envKey", name: "Production", features: { flag: true } }] });
});
afterEach(async () => flagsmith.close());

async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${flagsmith.url}${path}`, {
    method,
    headers: { authorization: `Api-Key ${flagsmith.apiKey}`, "content-type": "application/json", ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: response.status, text: await response.text() };
}

it("wants Api-Key authentication", async () => {
  expect((await call("GET", "/api/v1/environments/envKey/", { headers: { authorization: `Bearer ${flagsmith.apiKey}` } })).status).toBe(401);
  expect((await call("GET", "/api/v1/environments/envKey/")).status).toBe(200);
});

it("wants Django's trailing slash, JSON bodies and a boolean enabled", async () => {
  expect((await call("GET", "/api/v1/environments/envKey")).status).toBe(404);
  const state = "/api/v1/environments/envKey/featurestates/1100/";
  expect((await call("PATCH", state, { body: "enabled=false", headers: { "content-type": "text/plain" } })).status).toBe(415);
  expect((await call("PATCH", state, { body: JSON.stringify({ enabled: "no" }) })).status).toBe(400);
  expect(flagsmith.enabled("envKey", "flag")).toBe(true);
  expect((await call("PATCH", state, { body: JSON.stringify({ enabled: false }) })).status).toBe(200);
  expect(flagsmith.enabled("envKey", "flag")).toBe(false);
});
