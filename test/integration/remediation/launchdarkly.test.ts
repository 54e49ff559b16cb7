// The `launchdarkly` remediation provider against a fake LaunchDarkly REST API served over HTTPS
// with the run's CA (test/fakes/launchdarkly).
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import type { ExecutionContext } from "../../../src/remediation/ports.ts";
import { LAUNCHDARKLY_API_VERSION, launchDarklyProvider, type LaunchDarklyAction } from "../../../src/remediation/providers/launchdarkly.ts";
import { startFakeLaunchDarkly, type FakeLaunchDarkly } from "../../fakes/launchdarkly/index.ts";

const TOKEN_ENV = "LD_API_TOKEN";
const FLAG = "new-checkout-flow";
let ld: FakeLaunchDarkly;

beforeEach(async () => {
  ld = await startFakeLaunchDarkly({
    tls: inject("tls"),
    flags: { [FLAG]: { production: true, test: true, staging: true }, "old-search": { production: false, test: false, staging: false } },
    approvalsRequired: ["staging"],
    updateOnAllowedIn: ["production", "staging"],
  });
});
afterEach(async () => ld.close());

/** `token: null`: the variable is not set. */
function provider(timeoutMs = 10_000, token: string | null = ld.token) {
  return launchDarklyProvider.create({ secrets: (name) => (name === TOKEN_ENV ? (token ?? undefined) : undefined), timeoutMs });
}

function action(overrides: Partial<LaunchDarklyAction> = {}): LaunchDarklyAction {
  const fields = launchDarklyProvider.fields.parse({ url: ld.url, tokenEnv: TOKEN_ENV, project: "default", flag: FLAG, environment: "production", state: "off" });
  return { id: "checkout-flag", label: "Disable new-checkout-flow", kind: "launchdarkly", allowed: [], dryRun: false, ...fields, ...overrides };
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

const patches = () => ld.requests.filter((request) => request.method === "PATCH");

describe("the YAML fields", () => {
  it("defaults the URL to LaunchDarkly's and refuses unknown keys", () => {
    expect(launchDarklyProvider.fields.parse({ tokenEnv: TOKEN_ENV, project: "default", flag: FLAG, environment: "production", state: "on" })).toEqual({
      url: "https://app.launchdarkly.com",
      tokenEnv: TOKEN_ENV,
      project: "default",
      flag: FLAG,
      environment: "production",
      state: "on",
    });
    expect(launchDarklyProvider.fields.safeParse({ tokenEnv: TOKEN_ENV, project: "default", flag: FLAG, environment: "production", state: "off", feature: FLAG }).success).toBe(false);
    expect(launchDarklyProvider.fields.safeParse({ url: "http://app.launchdarkly.com", tokenEnv: TOKEN_ENV, project: "default", flag: FLAG, environment: "production", state: "off" }).success).toBe(false);
    expect(launchDarklyProvider.credentials(action())).toEqual([TOKEN_ENV]);
  });
});

describe("switching a flag", () => {
  it("previews the current state", async () => {
    expect(await provider().preview(action(), {})).toEqual({
      target: `LaunchDarkly flag ${FLAG} (project default, environment production)`,
      effect: `Turn ${FLAG} targeting off in production`,
      current: "On in Production",
      credentials: [TOKEN_ENV],
    });
    expect(ld.requests.map((request) => [request.method, request.path, request.query.get("env")])).toEqual([["GET", `/api/v2/flags/default/${FLAG}`, "production"]]);
  });

  it("turns the flag off with a semantic patch (turnFlagOff) and a comment, then on again", async () => {
    const off = await provider().execute(action(), context());
    expect(off).toEqual({
      status: "succeeded",
      summary: `Turned ${FLAG} off in Production (LaunchDarkly project default).`,
      link: `${ld.url}/default/production/features/${FLAG}`,
      details: { flag: FLAG, environment: "production", from: "on", to: "off" },
    });
    expect(ld.on(FLAG, "production")).toBe(false);
    expect(ld.on(FLAG, "test")).toBe(true);
    const [patch] = patches();
    expect(patch?.headers.authorization).toBe(ld.token);
    expect(patch?.headers["ld-api-version"]).toBe(LAUNCHDARKLY_API_VERSION);
    expect(patch?.headers["content-type"]).toBe("application/json; domain-model=launchdarkly.semanticpatch");
    expect(patch?.json).toEqual({
      environmentKey: "production",
      comment: "Firebreak: turned off by Alice during incident #42 (Checkout is down)",
      instructions: [{ kind: "turnFlagOff" }],
    });

    const on = await provider().execute(action(), context({ flagState: "on", idempotencyKey: "exec-2" }));
    expect(on.status).toBe("succeeded");
    expect(ld.on(FLAG, "production")).toBe(true);
    expect(ld.comments).toEqual(["Firebreak: turned off by Alice during incident #42 (Checkout is down)", "Firebreak: turned on by Alice during incident #42 (Checkout is down)"]);
  });

  it("a dry run reads, names the exact call, and sends no change", async () => {
    const outcome = await provider().execute(action(), context({ dryRun: true }));
    expect(outcome).toEqual({
      status: "dry_run",
      summary: `Would PATCH ${ld.url}/api/v2/flags/default/${FLAG} with the semantic patch turnFlagOff in production (${FLAG} is on there now; it sets /environments/production/on).`,
      details: { method: "PATCH", url: `${ld.url}/api/v2/flags/default/${FLAG}`, path: "/environments/production/on", from: "on", to: "off" },
    });
    expect(patches()).toEqual([]);
    expect(ld.on(FLAG, "production")).toBe(true);
  });

  it("refuses a flag already in the requested state without sending a change", async () => {
    const outcome = await provider().execute(action({ flag: "old-search" }), context());
    expect(outcome).toEqual({ status: "refused", summary: "old-search is already off in production: nothing was changed." });
    expect(patches()).toEqual([]);
  });
});

describe("approvals", () => {
  it("an environment that requires approvals is approval_required with the flag's page, and nothing changes", async () => {
    const outcome = await provider().execute(action({ environment: "staging" }), context());
    expect(outcome).toEqual({
      status: "approval_required",
      summary:
        `Turning ${FLAG} off in staging needs an approval in LaunchDarkly: the staging environment requires approvals for flag changes ` +
        `("Flag configuration updates require approval: action 'updateOn' not allowed"). Request one on the flag's page.`,
      link: `${ld.url}/default/staging/features/${FLAG}`,
    });
    expect(patches().map((request) => request.status)).toEqual([405]);
    expect(ld.on(FLAG, "staging")).toBe(true);
  });
});

describe("failures in plain words", () => {
  it("a wrong token (401) names the variable, not the token", async () => {
    const wrong = "api-11111111-wrong-token";
    const outcome = await provider(10_000, wrong).execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not read ${FLAG} in production: LaunchDarkly rejected the credential in ${TOKEN_ENV} (HTTP 401): it is wrong, expired or revoked.`,
      detail: "Invalid access token",
      retryable: false,
    });
    expect(JSON.stringify(outcome)).not.toContain(wrong);
  });

  it("a custom role without updateOn in the environment (403) is a failure, not a crash", async () => {
    const outcome = await provider().execute(action({ environment: "test" }), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not turn ${FLAG} off in test: LaunchDarkly did not allow the credential in ${TOKEN_ENV} to do that (HTTP 403).`,
      detail: "Access to the requested resource was denied",
      retryable: false,
    });
    expect(ld.on(FLAG, "test")).toBe(true);
  });

  it.each([
    ["flag", { flag: "no-such-flag" }, "Unknown flag"],
    ["project", { project: "no-such-project" }, "Unknown project"],
  ])("an unknown %s (404)", async (_what, overrides, said) => {
    const wrong = action(overrides);
    const outcome = await provider().execute(wrong, context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not read ${wrong.flag} in production: LaunchDarkly has no flag ${wrong.flag} in project ${wrong.project} (HTTP 404).`,
      detail: said,
      retryable: false,
    });
  });

  it("an unknown environment", async () => {
    const outcome = await provider().execute(action({ environment: "prod" }), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not read ${FLAG} in prod: LaunchDarkly project default has no environment prod (check the environment key).`, retryable: false });
    expect(patches()).toEqual([]);
  });

  it("a 500 on the change is retried, then a retryable failure", async () => {
    ld.failNext({ status: 500, times: 3, method: "PATCH" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not turn ${FLAG} off in production: LaunchDarkly failed (HTTP 500); try again.`, detail: "fake failure (HTTP 500)", retryable: true });
    expect(patches().map((request) => request.status)).toEqual([500, 500, 500]);
    expect(ld.on(FLAG, "production")).toBe(true);
  });

  it("a 503 that passes is retried into a success", async () => {
    ld.failNext({ status: 503, times: 1, method: "PATCH" });
    const outcome = await provider().execute(action(), context());
    expect(outcome.status).toBe("succeeded");
    expect(patches().map((request) => request.status)).toEqual([503, 200]);
  });

  it("a rate limit longer than the deadline is a retryable failure saying how long to wait", async () => {
    ld.failNext({ status: 429, method: "PATCH", headers: { "retry-after": "120" } });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: `Could not turn ${FLAG} off in production: LaunchDarkly is rate-limiting Firebreak; try again in 120 s.` });
    expect(ld.on(FLAG, "production")).toBe(true);
  });

  it("a vendor message that echoes the token is scrubbed", async () => {
    ld.failNext({ status: 400, method: "PATCH", message: `Token ${ld.token} may not do that` });
    const outcome = await provider().execute(action(), context());
    expect(outcome.status).toBe("failed");
    expect(JSON.stringify(outcome)).not.toContain(ld.token);
    expect(JSON.stringify(outcome)).toContain("[redacted]");
  });

  it("a LaunchDarkly that never answers is a retryable failure after the deadline", async () => {
    ld.goSilent();
    const outcome = await provider(300).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: `Could not read ${FLAG} in production: LaunchDarkly did not answer in time. Try again.` });
    const preview = await provider(300).preview(action(), {});
    expect(preview.problem).toBe(`Could not read ${FLAG} in production: LaunchDarkly did not answer in time. Try again.`);
  });

  it("a missing token variable calls nothing", async () => {
    const outcome = await provider(10_000, null).execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not turn ${FLAG} off in production: the environment variable ${TOKEN_ENV} is not set.`, retryable: false });
    expect(ld.requests).toEqual([]);
  });
});
