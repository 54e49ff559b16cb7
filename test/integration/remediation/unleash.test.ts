// The `unleash` remediation provider against a real Unleash server (unleash-server 8.2.0 in a
// child process, test/support/unleash.ts), and against a small fake of Unleash Enterprise for the
// change-request answer the open-source server cannot give.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ExecutionContext, Outcome } from "../../../src/remediation/ports.ts";
import { unleashProvider, type UnleashAction } from "../../../src/remediation/providers/unleash.ts";
import { startFake, type RunningFake } from "../../fakes/http-kit.ts";
import { startFakeUnleashEnterprise, type FakeUnleashEnterprise } from "../../fakes/unleash-enterprise/index.ts";
import { startUnleash, type RunningUnleash } from "../../support/unleash.ts";

const TOKEN_ENV = "UNLEASH_ADMIN_TOKEN";
let unleash: RunningUnleash;
let secrets: Record<string, string>;

beforeAll(async () => {
  unleash = await startUnleash({ postgresUrl: inject("postgresUrl") });
  console.info(`[unleash] started in ${(unleash.startedInMs / 1000).toFixed(1)} s`);
  secrets = { [TOKEN_ENV]: unleash.adminToken };
}, 180_000);
afterAll(async () => unleash?.stop());

function provider(timeoutMs = 10_000, env: Record<string, string> = secrets) {
  return unleashProvider.create({ secrets: (name) => env[name], timeoutMs });
}

function action(overrides: Partial<UnleashAction> = {}): UnleashAction {
  const fields = unleashProvider.fields.parse({
    url: unleash.url,
    tokenEnv: TOKEN_ENV,
    feature: "new-checkout-flow",
    environment: "production",
    state: "off",
  });
  return { id: "checkout-flag", label: "Disable new-checkout-flow", kind: "unleash", allowed: [], dryRun: false, ...fields, ...overrides };
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

function expectNoSecret(value: unknown, secret: string): void {
  expect(JSON.stringify(value)).not.toContain(secret);
  expect(JSON.stringify(value)).not.toContain(secret.slice(-20));
}

let flagCount = 0;
/** A fresh flag in project default, on or off in production. */
async function flag(enabledInProduction: boolean): Promise<string> {
  flagCount += 1;
  const name = `checkout-flow-${flagCount}`;
  await unleash.createFlag("default", name);
  if (enabledInProduction) await unleash.setEnabled("default", name, "production", true);
  return name;
}

describe("the YAML fields", () => {
  it("takes the documented fields, defaults the project and reads off/on", () => {
    const parsed = unleashProvider.fields.parse({ url: "http://unleash:4242/", tokenEnv: "UNLEASH_ADMIN_TOKEN", feature: "f", environment: "production", state: false });
    expect(parsed).toEqual({ url: "http://unleash:4242", tokenEnv: "UNLEASH_ADMIN_TOKEN", project: "default", feature: "f", environment: "production", state: "off" });
    expect(unleashProvider.flag).toBe(true);
    expect(unleashProvider.credentials(action())).toEqual([TOKEN_ENV]);
  });

  it.each([
    ["an unknown key", { extra: 1 }, "extra"],
    ["a state that is neither off nor on", { state: "disabled" }, "state"],
    ["a token in the URL", { url: "http://user:pw@unleash:4242" }, "url"],
    ["a tokenEnv that is not a variable name", { tokenEnv: "unleash-token" }, "tokenEnv"],
  ])("refuses %s", (_name, overrides, path) => {
    const result = unleashProvider.fields.safeParse({ url: "http://unleash:4242", tokenEnv: TOKEN_ENV, feature: "f", environment: "production", state: "off", ...overrides });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(path);
  });
});

describe("against a real Unleash", () => {
  it("previews the flag's current state and what the button does", async () => {
    const name = await flag(true);
    const preview = await provider().preview(action({ feature: name }), {});
    expect(preview).toEqual({
      target: `Unleash flag ${name} (project default, environment production) at ${unleash.url}`,
      effect: `Turn ${name} off in production`,
      current: "On in production (1 strategy)",
      credentials: [TOKEN_ENV],
    });
    const opposite = await provider().preview(action({ feature: name }), { flagState: "on" });
    expect(opposite.effect).toBe(`Turn ${name} on in production`);
    expect(opposite.problem).toBe(`${name} is already on in production: this changes nothing.`);
  });

  it("turns the flag off, then on again (the opposite change), as Unleash reads it back", async () => {
    const name = await flag(true);
    await unleash.setEnabled("default", name, "development", true);
    const off = await provider().execute(action({ feature: name }), context());
    expect(off).toEqual({
      status: "succeeded",
      summary: `Turned ${name} off in production (Unleash project default).`,
      link: `${unleash.url}/projects/default/features/${name}`,
      details: { feature: name, environment: "production", from: "on", to: "off" },
    });
    expect(await unleash.isEnabled("default", name, "production")).toBe(false);
    // Only production changed.
    expect(await unleash.isEnabled("default", name, "development")).toBe(true);

    const on = await provider().execute(action({ feature: name }), context({ flagState: "on", idempotencyKey: "exec-2" }));
    expect(on.status).toBe("succeeded");
    expect(on.summary).toBe(`Turned ${name} on in production (Unleash project default).`);
    expect(await unleash.isEnabled("default", name, "production")).toBe(true);
    expectNoSecret([off, on], unleash.adminToken);
  });

  it("a dry run reads the flag, names the exact call and changes nothing", async () => {
    const name = await flag(true);
    const outcome = await provider().execute(action({ feature: name }), context({ dryRun: true }));
    const url = `${unleash.url}/api/admin/projects/default/features/${name}/environments/production/off`;
    expect(outcome).toEqual({ status: "dry_run", summary: `Would POST ${url} (${name} is on in production now).`, details: { method: "POST", url, from: "on", to: "off" } });
    expect(await unleash.isEnabled("default", name, "production")).toBe(true);
  });

  it("refuses a flag already in the requested state, and changes nothing", async () => {
    const name = await flag(false);
    const outcome = await provider().execute(action({ feature: name }), context());
    expect(outcome).toEqual({ status: "refused", summary: `${name} is already off in production: nothing was changed.` });
    expect(await unleash.isEnabled("default", name, "production")).toBe(false);
    const dry = await provider().execute(action({ feature: name }), context({ dryRun: true }));
    expect(dry).toEqual({ status: "dry_run", summary: `Would call nothing: ${name} is already off in production (a real run is refused).` });
  });

  it("a wrong token is a plain-word failure naming the variable, not the token (401)", async () => {
    const name = await flag(true);
    const wrong = `*:*.${"0".repeat(48)}`;
    const outcome = await provider(10_000, { [TOKEN_ENV]: wrong }).execute(action({ feature: name }), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: `Could not read ${name} in production: Unleash rejected the credential in ${TOKEN_ENV} (HTTP 401): it is wrong, expired or revoked.`,
      detail: "You must log in to use Unleash.",
      retryable: false,
    });
    const preview = await provider(10_000, { [TOKEN_ENV]: wrong }).preview(action({ feature: name }), {});
    expect(preview.current).toBeUndefined();
    expect(preview.problem).toContain("HTTP 401");
    expectNoSecret([outcome, preview], wrong);
    expect(await unleash.isEnabled("default", name, "production")).toBe(true);
  });

  it("a token of the wrong kind is refused in plain words (403)", async () => {
    const created = await unleash.api("POST", "/api/admin/api-tokens", { tokenName: "sdk", type: "backend", environment: "production", projects: ["*"] });
    expect(created.status).toBe(201);
    const backend = (created.json as { secret: string }).secret;
    const name = await flag(true);
    const outcome = await provider(10_000, { [TOKEN_ENV]: backend }).execute(action({ feature: name }), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, detail: "invalid token: expected a different token type for this endpoint" });
    expect(outcome.summary).toContain(`did not allow the credential in ${TOKEN_ENV} to do that (HTTP 403)`);
    expectNoSecret(outcome, backend);
  });

  it.each([
    ["flag", { feature: "no-such-flag" }, `There's no feature named "no-such-flag" in project "default".`],
    ["project", { project: "no-such-project" }, `There's no feature named "FLAG" in project "no-such-project"`],
    ["environment", { environment: "staging" }, "Could not find FLAG in staging"],
  ])("an unknown %s is a plain-word failure (404)", async (_what, overrides, said) => {
    const name = await flag(true);
    const wrong = action({ feature: name, ...overrides });
    const outcome = await provider().execute(wrong, context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
    expect(outcome.summary).toBe(
      `Could not read ${wrong.feature} in ${wrong.environment}: Unleash has no flag ${wrong.feature} with an environment ${wrong.environment} in project ${wrong.project} (HTTP 404).`,
    );
    expect((outcome as Extract<Outcome, { status: "failed" }>).detail).toContain(said.replace("FLAG", name));
    expect(await unleash.isEnabled("default", name, "production")).toBe(true);
  });

  it("a missing token variable is a failure that calls nothing", async () => {
    const outcome = await provider(10_000, {}).execute(action(), context());
    expect(outcome).toEqual({ status: "failed", summary: `Could not turn new-checkout-flow off in production: the environment variable ${TOKEN_ENV} is not set.`, retryable: false });
    expect((await provider(10_000, {}).preview(action(), {})).problem).toBe(`The environment variable ${TOKEN_ENV} is not set.`);
  });
});

describe("against a fake Unleash Enterprise (HTTPS, the run's CA)", () => {
  let enterprise: FakeUnleashEnterprise;
  beforeAll(async () => {
    enterprise = await startFakeUnleashEnterprise({
      tls: inject("tls"),
      flags: { "new-checkout-flow": { development: true, production: true } },
      changeRequestEnvironments: ["production"],
    });
  });
  afterAll(async () => enterprise?.close());

  const enterpriseAction = (overrides: Partial<UnleashAction> = {}) => action({ url: enterprise.url, ...overrides });
  const enterpriseProvider = (timeoutMs = 10_000) => unleashProvider.create({ secrets: (name) => (name === TOKEN_ENV ? enterprise.token : undefined), timeoutMs });

  it("an environment with change requests is approval_required with a link, and nothing changes", async () => {
    const outcome = await enterpriseProvider().execute(enterpriseAction(), context());
    expect(outcome).toEqual({
      status: "approval_required",
      summary:
        "Turning new-checkout-flow off in production needs a change request in Unleash: the production environment of project default requires change requests, " +
        `and the token in ${TOKEN_ENV} may not skip them.`,
      link: `${enterprise.url}/projects/default/change-requests`,
    });
    const posted = enterprise.requests.filter((request) => request.method === "POST");
    expect(posted.map((request) => [request.path, request.headers.authorization, request.status])).toEqual([
      ["/api/admin/projects/default/features/new-checkout-flow/environments/production/off", enterprise.token, 403],
    ]);
    expect(enterprise.enabled("new-checkout-flow", "production")).toBe(true);
    expectNoSecret(outcome, enterprise.token);
  });

  it("an environment without change requests is switched over HTTPS", async () => {
    const outcome = await enterpriseProvider().execute(enterpriseAction({ environment: "development" }), context());
    expect(outcome.status).toBe("succeeded");
    expect(enterprise.enabled("new-checkout-flow", "development")).toBe(false);
  });

  it("a 500 is a retryable plain-word failure with Unleash's message", async () => {
    enterprise.failNext(500, 3);
    const outcome = await enterpriseProvider().execute(enterpriseAction(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: "Could not read new-checkout-flow in production: Unleash failed (HTTP 500); try again.",
      detail: "fake failure (HTTP 500)",
      retryable: true,
    });
  });
});

describe("an Unleash that never answers", () => {
  let silent: RunningFake;
  beforeAll(async () => {
    silent = await startFake(() => new Promise(() => {}), { tls: inject("tls") });
  });
  afterAll(async () => silent?.close());

  it("is a retryable failure after the deadline, in plain words", async () => {
    const started = Date.now();
    const outcome = await provider(300).execute(action({ url: silent.url }), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: "Could not read new-checkout-flow in production: Unleash did not answer in time. Try again." });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
