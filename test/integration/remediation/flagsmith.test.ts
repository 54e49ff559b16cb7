// The `flagsmith` remediation provider against a fake Flagsmith Admin API served over HTTPS with
// the run's CA (test/fakes/flagsmith).
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import type { ExecutionContext } from "../../../src/remediation/ports.ts";
import { flagsmithProvider, type FlagsmithAction } from "../../../src/remediation/providers/flagsmith.ts";
import { startFakeFlagsmith, type FakeFlagsmith, type FakeFlagsmithOptions } from "../../fakes/flagsmith/index.ts";

const TOKEN_ENV = "FLAGSMITH_API_KEY";
const FEATURE = "new-checkout-flow";
const ENVIRONMENTS: FakeFlagsmithOptions["environments"] = [
  { key: "envProdKey", name: "Production", features: { [FEATURE]: true, "old-search": false } },
  { key: "envGuardedKey", name: "Production EU", approvals: 2, features: { [FEATURE]: true } },
  { key: "envVersionedKey", name: "Staging", versioned: true, features: { [FEATURE]: true } },
];
let flagsmith: FakeFlagsmith;

beforeEach(async () => {
  flagsmith = await startFakeFlagsmith({ tls: inject("tls"), environments: ENVIRONMENTS, readOnlyKey: "ser.readOnlyKey" });
});
afterEach(async () => flagsmith.close());

/** `key: null`: the variable is not set. */
function provider(timeoutMs = 10_000, key: string | null = flagsmith.apiKey) {
  return flagsmithProvider.create({ secrets: (name) => (name === TOKEN_ENV ? (key ?? undefined) : undefined), timeoutMs });
}

function action(overrides: Partial<FlagsmithAction> = {}): FlagsmithAction {
  const fields = flagsmithProvider.fields.parse({ url: flagsmith.url, tokenEnv: TOKEN_ENV, environment: "envProdKey", feature: FEATURE, state: "off" });
  return { id: "checkout-flag", label: "Disable new-checkout-flow", kind: "flagsmith", allowed: [], dryRun: false, ...fields, ...overrides };
}

function context(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  return {
    incident: { number: 42, title: "Checkout is down", severity: "SEV1", channelId: "C0INC42", channelName: "inc-42-checkout" },
    confirmedBy: { userId: "U0ALICE", name: "Alice" },
    idempotencyKey: "exec-1",
    dryRun: false,
    ...overrides,
  };
}

const writes = () => flagsmith.requests.filter((request) => request.method !== "GET");

describe("the YAML fields", () => {
  it("defaults to Flagsmith's SaaS API and dashboard, and links a self-hosted one to itself", () => {
    const base = { tokenEnv: TOKEN_ENV, environment: "envProdKey", feature: FEATURE, state: "off" };
    expect(flagsmithProvider.fields.parse(base)).toEqual({ ...base, url: "https://api.flagsmith.com", dashboardUrl: "https://app.flagsmith.com" });
    expect(flagsmithProvider.fields.parse({ ...base, url: "https://flags.example.com/api/v1/" })).toMatchObject({ url: "https://flags.example.com", dashboardUrl: "https://flags.example.com" });
    expect(flagsmithProvider.fields.safeParse({ ...base, project: "default" }).success).toBe(false);
    expect(flagsmithProvider.fields.safeParse({ ...base, state: "enabled" }).success).toBe(false);
  });
});

describe("switching a feature", () => {
  it("previews the current state with the environment's name", async () => {
    expect(await provider().preview(action(), {})).toEqual({
      target: `Flagsmith feature ${FEATURE} (environment Production, key envProdKey) at ${flagsmith.url}`,
      effect: `Turn ${FEATURE} off in Production`,
      current: "On in Production",
      credentials: [TOKEN_ENV],
    });
  });

  it("turns the feature off through its feature state, then on again", async () => {
    const off = await provider().execute(action(), context());
    expect(off).toEqual({
      status: "succeeded",
      summary: `Turned ${FEATURE} off in Production (Flagsmith).`,
      link: `${flagsmith.url}/project/7/environment/envProdKey/features?feature=100`,
      details: { feature: FEATURE, environment: "Production", from: "on", to: "off" },
    });
    expect(flagsmith.enabled("envProdKey", FEATURE)).toBe(false);
    expect(flagsmith.enabled("envGuardedKey", FEATURE)).toBe(true);
    expect(writes().map((request) => [request.method, request.path, request.headers.authorization, request.json])).toEqual([
      ["PATCH", "/api/v1/environments/envProdKey/featurestates/1100/", `Api-Key ${flagsmith.apiKey}`, { enabled: false }],
    ]);

    const on = await provider().execute(action(), context({ flagState: "on" }));
    expect(on.status).toBe("succeeded");
    expect(flagsmith.enabled("envProdKey", FEATURE)).toBe(true);
  });

  it("an environment with Feature Versioning v2 is switched through the flag update endpoint", async () => {
    const outcome = await provider().execute(action({ environment: "envVersionedKey" }), context());
    expect(outcome).toMatchObject({ status: "succeeded", summary: `Turned ${FEATURE} off in Staging (Flagsmith).` });
    expect(flagsmith.enabled("envVersionedKey", FEATURE)).toBe(false);
    expect(writes().map((request) => [request.path, request.json])).toEqual([["/api/__future__/environments/envVersionedKey/features/100/", { environment_default: { enabled: false } }]]);
  });

  it("a dry run reads, names the exact call, and writes nothing", async () => {
    const outcome = await provider().execute(action(), context({ dryRun: true }));
    const url = `${flagsmith.url}/api/v1/environments/envProdKey/featurestates/1100/`;
    expect(outcome).toEqual({
      status: "dry_run",
      summary: `Would PATCH ${url} with {"enabled":false} (${FEATURE} is on in Production now).`,
      details: { method: "PATCH", url, from: "on", to: "off" },
    });
    expect(writes()).toEqual([]);
    expect(flagsmith.enabled("envProdKey", FEATURE)).toBe(true);
  });

  it("refuses a feature already in the requested state", async () => {
    expect(await provider().execute(action({ feature: "old-search" }), context())).toEqual({ status: "refused", summary: "old-search is already off in Production: nothing was changed." });
    expect(writes()).toEqual([]);
  });

  it("sends a credential that names its scheme as it is", async () => {
    const outcome = await provider(10_000, "Token abcdef0123456789").execute(action(), context());
    expect(flagsmith.requests[0]?.headers.authorization).toBe("Token abcdef0123456789");
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
  });
});

describe("change requests", () => {
  it("an environment with change requests is approval_required, and nothing is written (the classic endpoint would let it through)", async () => {
    const outcome = await provider().execute(action({ environment: "envGuardedKey" }), context());
    expect(outcome).toEqual({
      status: "approval_required",
      summary: `Turning ${FEATURE} off in Production EU needs a change request in Flagsmith: the environment requires change requests (2 approvals). Nothing was changed.`,
      link: `${flagsmith.url}/project/7/environment/envGuardedKey/change-requests`,
    });
    expect(writes()).toEqual([]);
    expect(flagsmith.enabled("envGuardedKey", FEATURE)).toBe(true);
    const preview = await provider().preview(action({ environment: "envGuardedKey" }), {});
    expect(preview.problem).toBe("Production EU requires change requests in Flagsmith: the button will not change the flag, it will point to a change request instead.");
  });
});

describe("failures in plain words", () => {
  it("a wrong key (401) names the variable, not the key", async () => {
    const wrong = "ser.wrongKey0000000000";
    const outcome = await provider(10_000, wrong).execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not read ${FEATURE} in environment envProdKey: Flagsmith rejected the credential in ${TOKEN_ENV} (HTTP 401): it is wrong, expired or revoked.`,
      detail: "Valid Master API Key not found.",
      retryable: false,
    });
    expect(JSON.stringify(outcome)).not.toContain(wrong);
  });

  it("a key that may not update feature states (403)", async () => {
    const outcome = await provider(10_000, "ser.readOnlyKey").execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not turn ${FEATURE} off in Production: Flagsmith did not allow the credential in ${TOKEN_ENV} to do that (HTTP 403).`,
      detail: "You do not have permission to perform this action.",
      retryable: false,
    });
    expect(flagsmith.enabled("envProdKey", FEATURE)).toBe(true);
  });

  it("an unknown environment key (404)", async () => {
    const outcome = await provider().execute(action({ environment: "noSuchKey" }), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: "Could not read new-checkout-flow in environment noSuchKey: Flagsmith has no environment with the key noSuchKey (HTTP 404).",
      detail: "Not found.",
      retryable: false,
    });
  });

  it("an unknown feature", async () => {
    const outcome = await provider().execute(action({ feature: "no-such-feature" }), context());
    expect(outcome).toEqual({ status: "failed", summary: "Could not read no-such-feature in environment envProdKey: Flagsmith has no feature no-such-feature in the Production environment.", retryable: false });
  });

  it("a 500 while reading is retried, then a retryable failure without the HTML page", async () => {
    flagsmith.failNext({ status: 500, times: 3 });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: "Could not read new-checkout-flow in environment envProdKey: Flagsmith failed (HTTP 500); try again.", retryable: true });
    expect(flagsmith.requests.map((request) => request.status)).toEqual([500, 500, 500]);
  });

  it("a Feature Versioning v2 environment on a Flagsmith without the flag update endpoint", async () => {
    const old = await startFakeFlagsmith({ tls: inject("tls"), environments: ENVIRONMENTS, futureEndpoint: false });
    try {
      const outcome = await flagsmithProvider
        .create({ secrets: () => old.apiKey, timeoutMs: 10_000 })
        .execute(action({ url: old.url, dashboardUrl: old.url, environment: "envVersionedKey" }), context());
      expect(outcome).toEqual({
        status: "failed",
        summary: `Could not turn ${FEATURE} off in Staging: this Flagsmith has no flag update endpoint, which environments with Feature Versioning v2 need (upgrade Flagsmith) (HTTP 404).`,
        retryable: false,
      });
    } finally {
      await old.close();
    }
  });

  it("a Flagsmith that never answers is a retryable failure after the deadline", async () => {
    flagsmith.goSilent();
    const outcome = await provider(300).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: "Could not read new-checkout-flow in environment envProdKey: Flagsmith did not answer in time. Try again." });
  });

  it("a missing key variable calls nothing", async () => {
    const outcome = await provider(10_000, null).execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not turn ${FEATURE} off in environment envProdKey: the environment variable ${TOKEN_ENV} is not set.`, retryable: false });
    expect(flagsmith.requests).toEqual([]);
  });
});
