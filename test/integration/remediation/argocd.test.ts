// kind: argocd against a fake Argo CD API server over HTTPS (the run's test CA, trusted through
// NODE_EXTRA_CA_CERTS as a self-hoster's corporate CA would be).
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import type { Outcome, Preview } from "../../../src/remediation/ports.ts";
import { argocdProvider, type ArgoCdAction } from "../../../src/remediation/providers/argocd.ts";
import { startFakeArgoCd, type FakeArgoCd } from "../../fakes/argocd/index.ts";
import { executionContext } from "../../support/remediation.ts";

const READ_ONLY = "fake-argocd-readonly.eyJzdWIiOiJ2aWV3ZXIifQ.c2ln";
const SHA = { a: "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", b: "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", c: "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3" };
let fake: FakeArgoCd;
const env: Record<string, string | undefined> = {};

const action = (overrides: Partial<ArgoCdAction> = {}): ArgoCdAction => ({
  id: "checkout-argo-rollback",
  label: "Roll back checkout (Argo CD)",
  kind: "argocd",
  allowed: ["S0SRE"],
  dryRun: false,
  url: fake.url,
  tokenEnv: "ARGOCD_TOKEN",
  application: "checkout",
  ...overrides,
});

const context = executionContext;

const provider = (timeoutMs = 5_000) => argocdProvider.create({ secrets: (name) => env[name], timeoutMs });
const posts = () => fake.requests.filter((request) => request.method === "POST");

function expectNoSecret(result: Outcome | Preview): void {
  const text = JSON.stringify(result);
  for (const secret of [fake.token, READ_ONLY, "eyJ"]) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  fake = await startFakeArgoCd({
    tls: inject("tls"),
    tokens: {
      "fake-argocd-jwt.eyJzdWIiOiJwcm9qOnBheW1lbnRzOmZpcmVicmVhayJ9.c2lnbmF0dXJl": { subject: "proj:payments:firebreak", policies: [{ action: "get", object: "payments/*" }, { action: "sync", object: "payments/*" }] },
      [READ_ONLY]: { subject: "viewer", policies: [{ action: "get", object: "*/*" }] },
    },
  });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  env.ARGOCD_TOKEN = fake.token;
  fake.addApp({
    name: "checkout",
    project: "payments",
    history: [
      { id: 1, revision: SHA.a, deployedAt: "2026-11-28T09:00:00Z" },
      { id: 2, revision: SHA.b, deployedAt: "2026-11-29T09:00:00Z" },
      { id: 3, revision: SHA.c, deployedAt: "2026-11-30T09:00:00Z" },
    ],
  });
});

describe("kind: argocd, YAML fields", () => {
  it("accepts the documented fields, and says what is wrong otherwise", () => {
    const ok = argocdProvider.fields.safeParse({ url: "https://argocd.example.com/", tokenEnv: "ARGOCD_TOKEN", application: "checkout", appNamespace: "team-a", project: "payments", prune: false });
    expect(ok.success && ok.data.url).toBe("https://argocd.example.com");
    expect(argocdProvider.fields.safeParse({ url: "http://argocd.example.com", tokenEnv: "T", application: "checkout" }).error?.issues[0]?.message).toMatch(/must be an https URL/);
    expect(argocdProvider.fields.safeParse({ url: "https://argocd.example.com", tokenEnv: "eyJhbGciOi.x", application: "checkout" }).error?.issues[0]?.message).toMatch(/name of an environment variable .* never the value itself/);
    expect(argocdProvider.fields.safeParse({ url: "https://argocd.example.com", tokenEnv: "T", application: "checkout", autoSync: false }).error?.issues[0]?.message).toMatch(/unknown field autoSync for kind argocd/);
    expect(argocdProvider.credentials(action())).toEqual(["ARGOCD_TOKEN"]);
  });
});

describe("kind: argocd, preview", () => {
  it("shows the deployed and the target history entries, reading only", async () => {
    const preview = await provider().preview(action(), {});
    expect(preview).toEqual({
      target: `Argo CD application checkout (${new URL(fake.url).host})`,
      effect: "Roll back to history 2 (revision b2b2b2b, deployed 2026-11-29T09:00:00Z)",
      current: "Deployed history 3 (revision c3c3c3c, deployed 2026-11-30T09:00:00Z)",
      credentials: ["ARGOCD_TOKEN"],
    });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/v1/applications/checkout"]);
    expectNoSecret(preview);
  });

  it("names the refusal while auto-sync is on", async () => {
    fake.addApp({ name: "checkout", project: "payments", autoSync: true, history: [{ id: 1, revision: SHA.a }, { id: 2, revision: SHA.b }] });
    const preview = await provider().preview(action(), {});
    expect(preview.problem).toMatch(/has auto-sync on/);
    expect(preview.current).toMatch(/^Deployed history 2/);
  });
});

describe("kind: argocd, execute", () => {
  it("starts the rollback to the previous history id and links the application", async () => {
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({
      status: "succeeded",
      summary: "Argo CD started rolling application checkout back to history 2 (revision b2b2b2b, deployed 2026-11-29T09:00:00Z); it was at history 3 (revision c3c3c3c, deployed 2026-11-30T09:00:00Z).",
      link: `${fake.url}/applications/checkout`,
      details: { application: "checkout", fromHistoryId: "3", toHistoryId: "2", revision: SHA.b },
    });
    const [post] = posts();
    expect(post?.path).toBe("/api/v1/applications/checkout/rollback");
    expect(post?.json).toEqual({ name: "checkout", id: 2, prune: false });
    expect(post?.headers.authorization).toBe(`Bearer ${fake.token}`);
    // Read back: Argo CD is syncing revision B; when the controller finishes, B is the newest deployment.
    expect(fake.app("checkout")?.operation).toMatchObject({ sync: { revision: SHA.b } });
    fake.completeOperation("checkout");
    const history = (fake.app("checkout")?.status as { history: Array<{ id: number; revision: string }> }).history;
    expect(history.at(-1)).toMatchObject({ id: 4, revision: SHA.b });
    expectNoSecret(outcome);
  });

  it("skips history entries of the same revision, and passes appNamespace, project and prune", async () => {
    fake.addApp({ name: "checkout", namespace: "team-a", project: "payments", history: [{ id: 7, revision: SHA.a }, { id: 8, revision: SHA.b }, { id: 9, revision: SHA.b }] });
    const outcome = await provider().execute(action({ appNamespace: "team-a", project: "payments", prune: true }), context());
    expect(outcome).toMatchObject({ status: "succeeded", link: `${fake.url}/applications/team-a/checkout`, details: { toHistoryId: "7" } });
    const get = fake.requests[0];
    expect(get?.query.get("appNamespace")).toBe("team-a");
    expect(get?.query.get("project")).toBe("payments");
    expect(posts()[0]?.json).toEqual({ name: "checkout", id: 7, prune: true, appNamespace: "team-a", project: "payments" });
  });

  it("dry run reads, names the exact call, and starts nothing", async () => {
    for (const outcome of [await provider().execute(action(), context({ dryRun: true })), await provider().execute(action({ dryRun: true }), context())]) {
      expect(outcome.status).toBe("dry_run");
      expect(outcome.summary).toBe(
        'Would POST /api/v1/applications/checkout/rollback {"name":"checkout","id":2,"prune":false}: Argo CD would sync application checkout back to history 2 (revision b2b2b2b, deployed 2026-11-29T09:00:00Z); it is now at history 3 (revision c3c3c3c, deployed 2026-11-30T09:00:00Z). Nothing was changed.',
      );
    }
    expect(fake.requests.length).toBe(2);
    expect(posts()).toHaveLength(0);
    expect(fake.app("checkout")?.operation).toBeUndefined();
  });
});

describe("kind: argocd, refusals", () => {
  it("refuses while auto-sync is on, saying how to turn it off", async () => {
    fake.addApp({ name: "checkout", project: "payments", autoSync: true, history: [{ id: 1, revision: SHA.a }, { id: 2, revision: SHA.b }] });
    const outcome = await provider().execute(action(), context());
    expect(outcome.status).toBe("refused");
    expect(outcome.summary).toBe(
      "Argo CD application checkout has auto-sync on: Argo CD would redeploy the bad revision right after a rollback, so nothing was done. Turn auto-sync off first (argocd app set checkout --sync-policy none, or syncPolicy.automated.enabled: false where the Application is defined), then roll back.",
    );
    expect(posts()).toHaveLength(0);
  });

  it("automated with enabled: false is auto-sync off", async () => {
    fake.addApp({ name: "checkout", project: "payments", autoSync: { enabled: false, selfHeal: true }, history: [{ id: 1, revision: SHA.a }, { id: 2, revision: SHA.b }] });
    expect(await provider().execute(action(), context())).toMatchObject({ status: "succeeded", details: { toHistoryId: "1" } });
  });

  it("refuses while an operation runs, and without an earlier revision", async () => {
    fake.addApp({ name: "checkout", project: "payments", history: [{ id: 1, revision: SHA.a }, { id: 2, revision: SHA.b }], operation: { sync: { revision: SHA.b } } });
    expect(await provider().execute(action(), context())).toMatchObject({ status: "refused", summary: expect.stringContaining("has an operation running") as string });
    fake.addApp({ name: "checkout", project: "payments", history: [{ id: 1, revision: SHA.a }] });
    expect(await provider().execute(action(), context())).toMatchObject({ status: "refused", summary: expect.stringContaining("has no earlier deployment of another revision") as string });
    fake.addApp({ name: "checkout", project: "payments", history: [] });
    expect(await provider().execute(action(), context())).toMatchObject({ status: "refused", summary: expect.stringContaining("has no deployment history") as string });
    expect(posts()).toHaveLength(0);
  });
});

describe("kind: argocd, vendor errors in plain words", () => {
  it("403: the token may read but not sync", async () => {
    env.ARGOCD_TOKEN = READ_ONLY;
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({
      status: "failed",
      summary: "Argo CD refused: the token in ARGOCD_TOKEN may not sync (roll back) application checkout, or there is no such application (403 Forbidden).",
      detail: "permission denied",
      retryable: false,
    });
    expect(fake.app("checkout")?.operation).toBeUndefined();
    expectNoSecret(outcome);
  });

  it("403 without a project, 404 with one, for an application that does not exist", async () => {
    expect(await provider().execute(action({ application: "payments" }), context())).toMatchObject({ status: "failed", summary: expect.stringMatching(/may not read application payments, or there is no such application \(403 Forbidden\)/) as string });
    expect(await provider().execute(action({ application: "payments", project: "payments" }), context())).toMatchObject({ status: "failed", summary: "Argo CD has no application payments in project payments (404 Not Found)." });
  });

  it("401: a token Argo CD does not accept", async () => {
    env.ARGOCD_TOKEN = "expired.eyJleHAiOjF9.sig";
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: expect.stringMatching(/^Argo CD did not accept the token in ARGOCD_TOKEN \(401 Unauthorized\)/) as string });
    expect(JSON.stringify(outcome)).not.toContain("expired.eyJ");
  });

  it("400: Argo CD's own refusal, in its words", async () => {
    fake.failNext({ status: 400, code: 9, message: "rollback cannot be initiated when auto-sync is enabled", method: "POST" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "Argo CD refused to roll back application checkout (400 Bad Request: rollback cannot be initiated when auto-sync is enabled)." });
  });

  it("500: a read is retried; a rollback is not, and says its result is unknown", async () => {
    fake.failNext({ status: 500, code: 13, message: "etcd unavailable", method: "GET" });
    expect(await provider().execute(action({ dryRun: true }), context())).toMatchObject({ status: "dry_run" });
    fake.failNext({ status: 500, code: 13, message: "etcd unavailable", method: "POST" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, detail: "etcd unavailable" });
    expect(outcome.summary).toBe(`Argo CD failed to roll back application checkout (500 Internal Server Error). The rollback may or may not have started: check ${fake.url}/applications/checkout before trying again.`);
    expect(posts()).toHaveLength(1);
  });

  it("timeout: a server that never answers", async () => {
    fake.hang();
    const outcome = await provider(300).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: "Argo CD did not answer in time to read application checkout." });
  });

  it("the token variable unset", async () => {
    env.ARGOCD_TOKEN = undefined;
    expect(await provider().execute(action(), context())).toMatchObject({ status: "failed", summary: "ARGOCD_TOKEN is not set: it should hold the Argo CD API token for application checkout." });
    expect(fake.requests).toHaveLength(0);
  });
});
