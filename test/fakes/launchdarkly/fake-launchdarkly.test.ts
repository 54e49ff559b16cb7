import { afterEach, beforeEach, expect, it } from "vitest";
import { startFakeLaunchDarkly, type FakeLaunchDarkly } from "./index.ts";

/** The fake LaunchDarkly refuses what LaunchDarkly's API documents as invalid. */
let ld: FakeLaunchDarkly;
beforeEach(async () => {
  ld = await startFakeLaunchDarkly();
});
afterEach(async () => ld.close());

async function patch(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${ld.url}/api/v2/flags/default/new-checkout-flow`, {
    method: "PATCH",
    headers: { authorization: ld.token, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const semantic = { environmentKey: "production", instructions: [{ kind: "turnFlagOff" }], comment: "c" };

it("applies a semantic patch only with its domain-model content type", async () => {
  expect((await patch(semantic)).status).toBe(400);
  expect(ld.on("new-checkout-flow", "production")).toBe(true);
  expect((await patch(semantic, { "content-type": "application/json; domain-model=launchdarkly.semanticpatch" })).status).toBe(200);
  expect(ld.on("new-checkout-flow", "production")).toBe(false);
});

it("applies a JSON patch, bare or with a comment, and refuses other paths and values", async () => {
  expect((await patch([{ op: "replace", path: "/environments/production/on", value: false }])).status).toBe(200);
  expect((await patch({ comment: "c", patch: [{ op: "replace", path: "/environments/test/on", value: false }] })).status).toBe(200);
  expect(ld.on("new-checkout-flow", "test")).toBe(false);
  expect((await patch([{ op: "replace", path: "/environments/production/name", value: "x" }])).status).toBe(400);
  expect((await patch([{ op: "replace", path: "/environments/production/on", value: "true" }])).status).toBe(400);
  expect((await patch([{ op: "replace", path: "/environments/nope/on", value: true }])).status).toBe(400);
});

it("refuses a wrong or Bearer token and a malformed API version", async () => {
  expect((await patch(semantic, { authorization: `Bearer ${ld.token}` })).json).toEqual({ code: "unauthorized", message: "Invalid access token" });
  expect((await patch([], { "ld-api-version": "latest" })).status).toBe(400);
  expect(ld.on("new-checkout-flow", "production")).toBe(true);
});
