// kind: github-actions against a fake GitHub Actions API over HTTPS (the run's test CA), playing
// GitHub.com (dispatch answers the run) and an older GitHub Enterprise Server (204, run listed).
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import type { Outcome, Preview } from "../../../src/remediation/ports.ts";
import { githubActionsProvider, resolveInputs, type GitHubActionsAction } from "../../../src/remediation/providers/github-actions.ts";
import { startFakeGitHubActions, type FakeGitHubActions } from "../../fakes/github-actions/index.ts";
import { executionContext } from "../../support/remediation.ts";

const READ_ONLY = "github_pat_11READONLY000000000000_zyxwvutsrqponmlkjihgfedcba9876543210";
const OTHER_REPO = "github_pat_11OTHERREPO00000000000_zyxwvutsrqponmlkjihgfedcba9876543210";
let fake: FakeGitHubActions;
const env: Record<string, string | undefined> = {};

const action = (overrides: Partial<GitHubActionsAction> = {}): GitHubActionsAction => ({
  id: "checkout-gha-rollback",
  label: "Roll back checkout (workflow)",
  kind: "github-actions",
  allowed: ["S0SRE"],
  dryRun: false,
  repository: "acme/checkout",
  workflow: "rollback.yml",
  ref: "main",
  inputs: { service: "checkout", incident: "{incident.number}", reason: "{incident.severity} {incident.title}", confirmed_by: "{confirmedBy}" },
  tokenEnv: "GH_ROLLBACK_TOKEN",
  apiUrl: fake.url,
  ...overrides,
});

const context = executionContext;

const provider = (timeoutMs = 5_000) => githubActionsProvider.create({ secrets: (name) => env[name], timeoutMs });
const posts = () => fake.requests.filter((request) => request.method === "POST");

function expectNoSecret(result: Outcome | Preview): void {
  const text = JSON.stringify(result);
  for (const secret of [fake.token, READ_ONLY, OTHER_REPO, "github_pat_"]) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  fake = await startFakeGitHubActions({
    tls: inject("tls"),
    repositories: {
      "acme/checkout": {
        refs: ["main", "v1.4.2"],
        workflows: [
          {
            id: 161335,
            path: ".github/workflows/rollback.yml",
            name: "Roll back checkout",
            inputs: { service: { required: true, type: "choice", options: ["checkout", "payments"] }, incident: { required: true }, reason: {}, confirmed_by: {} },
          },
          { id: 161336, path: ".github/workflows/ci.yml", name: "CI", dispatch: false },
          { id: 161337, path: ".github/workflows/old-rollback.yml", name: "Old rollback", state: "disabled_manually" },
        ],
      },
      "acme/payments": { workflows: [] },
    },
    tokens: {
      "github_pat_11FAKEACTIONS0000000000_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ": { repositories: ["acme/checkout"], actions: "write" },
      [READ_ONLY]: { repositories: ["acme/checkout"], actions: "read" },
      [OTHER_REPO]: { repositories: ["acme/payments"], actions: "write" },
    },
  });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  env.GH_ROLLBACK_TOKEN = fake.token;
});

describe("kind: github-actions, YAML fields", () => {
  it("accepts the documented fields and reads a workflow path as its file name", () => {
    const parsed = githubActionsProvider.fields.safeParse({ repository: "acme/checkout", workflow: ".github/workflows/rollback.yml", ref: "main", inputs: { incident: "{incident.number}" }, tokenEnv: "GH_TOKEN" });
    expect(parsed.success && parsed.data.workflow).toBe("rollback.yml");
    expect(githubActionsProvider.credentials(action())).toEqual(["GH_ROLLBACK_TOKEN"]);
  });

  it("says what is wrong: numbers as inputs, unknown placeholders, owner/name, unknown keys", () => {
    const issue = (fields: Record<string, unknown>) => githubActionsProvider.fields.safeParse({ repository: "acme/checkout", workflow: "rollback.yml", ref: "main", tokenEnv: "GH_TOKEN", ...fields }).error?.issues[0]?.message;
    expect(issue({ inputs: { incident: 42 } })).toBe("must be a string (quote numbers and true/false in the YAML)");
    expect(issue({ inputs: { incident: "{incident.id}" } })).toMatch(/unknown placeholder; the known ones are \{incident\.number\}, \{incident\.title\}/);
    expect(issue({ repository: "checkout" })).toBe("must be owner/name, e.g. acme/checkout");
    expect(issue({ workflow: "Roll back" })).toMatch(/file name in \.github\/workflows/);
    expect(issue({ branch: "main" })).toMatch(/unknown field branch for kind github-actions/);
  });

  it("replaces placeholders once: an incident title cannot inject another placeholder", () => {
    const resolved = resolveInputs({ a: "{incident.title} by {confirmedBy} ({confirmedBy.userId})", b: "#{incident.number} {incident.channel} {executionId}" }, { ...context({ idempotencyKey: "exec-1" }), incident: { number: 7, title: "{confirmedBy} broke it", severity: "SEV2", channelId: null, channelName: "inc-7" } });
    expect(resolved).toEqual({ a: "{confirmedBy} broke it by alice (U0ALICE)", b: "#7 inc-7 exec-1" });
  });
});

describe("kind: github-actions, preview", () => {
  it("reads the workflow: its name, path and state", async () => {
    const preview = await provider().preview(action(), {});
    expect(preview).toEqual({
      target: "GitHub Actions workflow rollback.yml in acme/checkout",
      effect: "Run workflow rollback.yml on main with inputs service=checkout, incident={incident.number}, reason={incident.severity} {incident.title}, confirmed_by={confirmedBy}",
      current: 'Workflow "Roll back checkout" (.github/workflows/rollback.yml) is active',
      credentials: ["GH_ROLLBACK_TOKEN"],
    });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /repos/acme/checkout/actions/workflows/rollback.yml"]);
    expectNoSecret(preview);
  });

  it("says when the workflow is disabled", async () => {
    const preview = await provider().preview(action({ workflow: "old-rollback.yml", inputs: {} }), {});
    expect(preview.problem).toBe("The workflow is disabled_manually: enable it in the repository's Actions tab first.");
  });
});

describe("kind: github-actions, execute", () => {
  it("dispatches with the resolved inputs and links the run GitHub started", async () => {
    const outcome = await provider().execute(action(), context());
    const [run] = fake.runs();
    expect(fake.runs()).toHaveLength(1);
    expect(run?.inputs).toEqual({ service: "checkout", incident: "42", reason: "SEV1 Checkout errors", confirmed_by: "alice" });
    expect(outcome).toEqual({
      status: "succeeded",
      summary: `GitHub started workflow rollback.yml on main in acme/checkout: run ${run?.id}.`,
      link: run?.htmlUrl,
      details: { repository: "acme/checkout", workflow: "rollback.yml", ref: "main", runId: String(run?.id) },
    });
    const [post] = posts();
    expect(post?.path).toBe("/repos/acme/checkout/actions/workflows/rollback.yml/dispatches");
    expect(post?.json).toMatchObject({ ref: "main", return_run_details: true });
    expect(post?.headers).toMatchObject({ authorization: `Bearer ${fake.token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" });
    expect(post?.headers["user-agent"]).toMatch(/^Firebreak/);
    expectNoSecret(outcome);
  });

  it("on a server without return_run_details: dispatches once without it and finds the run in the list", async () => {
    fake.setRunDetails(false);
    const outcome = await provider().execute(action({ ref: "v1.4.2" }), context());
    const [run] = fake.runs();
    expect(fake.runs()).toHaveLength(1);
    expect(outcome).toMatchObject({ status: "succeeded", link: run?.htmlUrl, details: { runId: String(run?.id) } });
    expect(outcome.summary).toContain("its newest run is");
    expect(posts().map((p) => p.status)).toEqual([422, 204]);
    expect(posts()[1]?.json).toEqual({ ref: "v1.4.2", inputs: expect.any(Object) as object });
    const list = fake.requests.find((r) => r.path.endsWith("/runs"));
    expect(list?.query.get("event")).toBe("workflow_dispatch");
    expect(list?.query.get("created")).toMatch(/^>=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it("dry run reads the workflow, names the exact call, and dispatches nothing", async () => {
    for (const outcome of [await provider().execute(action(), context({ dryRun: true })), await provider().execute(action({ dryRun: true }), context())]) {
      expect(outcome).toMatchObject({ status: "dry_run" });
      expect(outcome.summary).toBe(
        'Would POST /repos/acme/checkout/actions/workflows/rollback.yml/dispatches {"ref":"main","inputs":{"service":"checkout","incident":"42","reason":"SEV1 Checkout errors","confirmed_by":"alice"}}: GitHub would run workflow "Roll back checkout" (.github/workflows/rollback.yml, active) on main. Nothing was dispatched.',
      );
    }
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "GET"]);
    expect(fake.runs()).toHaveLength(0);
  });
});

describe("kind: github-actions, vendor errors in plain words", () => {
  it("404: a repository the token cannot see", async () => {
    env.GH_ROLLBACK_TOKEN = OTHER_REPO;
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "GitHub found no workflow rollback.yml in acme/checkout, or the token in GH_ROLLBACK_TOKEN cannot see that repository (404 Not Found).", detail: "Not Found" });
    expectNoSecret(outcome);
  });

  it("403: a token without Actions: write", async () => {
    env.GH_ROLLBACK_TOKEN = READ_ONLY;
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({
      status: "failed",
      retryable: false,
      summary: "GitHub refused: the token in GH_ROLLBACK_TOKEN may not run workflows in acme/checkout (403 Forbidden); it needs Actions: write on that repository.",
      detail: "Resource not accessible by personal access token",
    });
    expect(fake.runs()).toHaveLength(0);
  });

  it("422: no workflow_dispatch trigger, unexpected inputs, an unknown ref", async () => {
    expect(await provider().execute(action({ workflow: "ci.yml", inputs: {} }), context())).toMatchObject({
      status: "failed",
      retryable: false,
      summary: `GitHub refused to run ci.yml on main in acme/checkout (422 Unprocessable Entity: Workflow does not have 'workflow_dispatch' trigger). The workflow needs an "on: workflow_dispatch" trigger on main.`,
    });
    const unexpected = await provider().execute(action({ inputs: { service: "checkout", incident: "1", version: "1.4.2" } }), context());
    expect(unexpected.summary).toMatch(/\(422 Unprocessable Entity: Unexpected inputs provided: \["version"\]\)\. The action's inputs must match the workflow's workflow_dispatch inputs\.$/);
    const ref = await provider().execute(action({ ref: "release" }), context());
    expect(ref.summary).toMatch(/No ref found for: release\)\. Check the action's ref/);
    expect(fake.runs()).toHaveLength(0);
  });

  it("401: a token GitHub does not accept", async () => {
    env.GH_ROLLBACK_TOKEN = "github_pat_revoked";
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "GitHub did not accept the token in GH_ROLLBACK_TOKEN (401 Unauthorized): it may have expired or been revoked." });
    expectNoSecret(outcome);
  });

  it("rate limits: primary (403, remaining 0) and secondary (429, Retry-After) are worth a retry later", async () => {
    fake.primaryRateLimit({ resetInSeconds: 120 });
    const primary = await provider().execute(action(), context());
    expect(primary).toMatchObject({ status: "failed", retryable: true });
    expect(primary.summary).toMatch(/^GitHub is rate-limiting the token in GH_ROLLBACK_TOKEN and did not run rollback\.yml on main in acme\/checkout: try again in 1[12]\d s\.$/);
    fake.secondaryRateLimit({ retryAfterSeconds: 30, status: 429 });
    const secondary = await provider().execute(action(), context());
    expect(secondary).toMatchObject({ status: "failed", retryable: true, summary: "GitHub is rate-limiting Firebreak and did not dispatch rollback.yml on main in acme/checkout: try again in 30 s." });
    expect(fake.runs()).toHaveLength(0);
  });

  it("500 on the dispatch: not retried, and says the result is unknown", async () => {
    fake.failNext({ status: 500, message: "Server Error", method: "POST" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, detail: "Server Error" });
    expect(outcome.summary).toBe(`GitHub failed to run rollback.yml on main in acme/checkout (500 Internal Server Error). It may or may not have started a run: check ${fake.url}/acme/checkout/actions/workflows/rollback.yml before trying again.`);
    expect(posts()).toHaveLength(1);
  });

  it("timeout: a server that never answers", async () => {
    fake.hang();
    const outcome = await provider(300).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
    expect(outcome.summary).toMatch(/^GitHub did not answer in time to dispatch rollback\.yml on main in acme\/checkout\. It may or may not have been done: look at https:\/\/127\.0\.0\.1:\d+\/acme\/checkout\/actions\/workflows\/rollback\.yml before trying again\.$/);
  });

  it("the token variable unset", async () => {
    env.GH_ROLLBACK_TOKEN = undefined;
    expect(await provider().execute(action(), context())).toMatchObject({ status: "failed", summary: "GH_ROLLBACK_TOKEN is not set: it should hold a GitHub token with Actions: write on acme/checkout." });
    expect(fake.requests).toHaveLength(0);
  });
});
