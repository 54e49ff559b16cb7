import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../../src/lib/errors.ts";
import { PageTitleTakenError, PageVersionConflictError, createConfluenceApi } from "../../src/postmortem/export/confluence.ts";
import { createGitHubApi, githubError } from "../../src/postmortem/export/github.ts";
import type { OutboundResponse } from "../../src/lib/outbound.ts";
import { followUpIssue, followUpMarker } from "../../src/postmortem/export/issue.ts";
import { startFakeConfluence, type FakeConfluence } from "../fakes/confluence/index.ts";
import { startFake, type Answer, type RunningFake } from "../fakes/http-kit.ts";
import { startFakeGitHub, type FakeGitHub } from "../fakes/github/index.ts";

/**
 * The exporters' pieces on their own: the GitHub issue's content (what a
 * private incident lets out), GitHub's error rules, and both clients against
 * the fakes (shapes, error mapping, timeouts, what is retried inside a call).
 */

const ITEM = "3f1f6b1e-7a55-4d0b-9d0a-2b7f4c1d9e01";

describe("the GitHub issue of a follow-up", () => {
  const incident = { number: 42, title: "Checkout <@U0ALICE01> is failing", severity: "SEV2" as const, private: false, services: ["checkout"] };

  it("public incident: title as typed (mentions as 'a responder'), body with the incident title and a hidden marker", () => {
    const issue = followUpIssue({ actionItemId: ITEM, title: "Ask <@U0BOB0001|bob> to add a canary for #12", priority: "HIGH", dueDate: new Date("2026-12-01T00:00:00Z"), incident });
    expect(issue.title).toBe("Ask a responder to add a canary for #12");
    expect(issue.body).toContain("**INC-42: Checkout a responder is failing** (SEV2)");
    expect(issue.body).toContain("- Priority: High");
    expect(issue.body).toContain("- Due: 2026-12-01");
    expect(issue.body).toContain("- Services: checkout");
    expect(issue.body).toContain(`<!-- ${followUpMarker(ITEM)} -->`);
    expect(issue.body).not.toMatch(/U0[A-Z0-9]{6,}|bob/);
  });

  it("private incident: the follow-up's own words only; no incident title, no services, no names", () => {
    const issue = followUpIssue({ actionItemId: ITEM, title: "Rotate the leaked AKIA key", priority: "MEDIUM", dueDate: null, incident: { ...incident, title: "Credential leak at billing-export", private: true } });
    expect(issue.title).toBe("Rotate the leaked AKIA key");
    expect(issue.body).toContain("a private incident (INC-42, SEV2)");
    expect(issue.body).not.toContain("Credential leak");
    expect(issue.body).not.toContain("billing-export");
    expect(issue.body).not.toContain("checkout");
    expect(issue.body).toContain("- Due: not set");
  });

  it("neutralises @mentions and #references of the incident title in the body, and caps the title", () => {
    const issue = followUpIssue({ actionItemId: ITEM, title: `x${"y".repeat(400)}`, priority: "LOW", dueDate: null, incident: { ...incident, title: "Page @oncall-team about #7 [link](javascript:alert(1))" } });
    expect(issue.body).not.toContain("@oncall-team");
    expect(issue.body).not.toMatch(/#7\b/);
    expect(issue.body).toContain("\\[link\\]");
    expect(issue.title.length).toBeLessThanOrEqual(256);
  });
});

describe("GitHub's error rules", () => {
  const now = Date.parse("2026-11-22T10:00:00Z");
  const response = (status: number, headers: Record<string, string> = {}, json: unknown = { message: "x" }): OutboundResponse => ({ status, headers: new Headers(headers), json, text: JSON.stringify(json) });

  it("primary limit (403 or 429 with x-ratelimit-remaining 0): waits until x-ratelimit-reset", () => {
    for (const status of [403, 429]) {
      const error = githubError("create issue", "acme/x", response(status, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(now / 1000 + 120) }), now);
      expect(error).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterMs).toBe(121_000);
    }
  });

  it("secondary limit: retry-after seconds; without headers at least a minute", () => {
    expect((githubError("create issue", "acme/x", response(403, { "retry-after": "30" }), now) as RateLimitedError).retryAfterMs).toBe(30_000);
    expect((githubError("create issue", "acme/x", response(429), now) as RateLimitedError).retryAfterMs).toBe(60_000);
    const secondary = githubError("create issue", "acme/x", response(403, {}, { message: "You have exceeded a secondary rate limit" }), now);
    expect((secondary as RateLimitedError).retryAfterMs).toBe(60_000);
  });

  it.each([
    [401, "config_invalid", /GITHUB_TOKEN/],
    [403, "config_invalid", /Issues: read and write/],
    [404, "config_invalid", /GITHUB_REPOSITORY/],
    [410, "config_invalid", /disabled/],
    [422, "job_payload_invalid", /422/],
  ])("%i is permanent with a clear message", (status, code, message) => {
    const error = githubError("create issue", "acme/x", response(status, { "x-ratelimit-remaining": "4000" }), now);
    expect(error).toBeInstanceOf(PermanentOutboundError);
    expect((error as PermanentOutboundError).code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it("5xx is transient", () => {
    expect(githubError("create issue", "acme/x", response(502), now)).toBeInstanceOf(TransientOutboundError);
  });
});

describe("the Confluence client against the fake", () => {
  let confluence: FakeConfluence;
  beforeAll(async () => {
    confluence = await startFakeConfluence();
  });
  afterAll(async () => confluence?.close());
  beforeEach(() => confluence.reset());
  const api = (overrides: { apiToken?: string; parentPageId?: string } = {}) =>
    createConfluenceApi({ baseUrl: confluence.url, email: confluence.email, apiToken: overrides.apiToken ?? confluence.apiToken, spaceId: confluence.spaceId, parentPageId: overrides.parentPageId, timeoutMs: 2_000 });

  it("creates, reads, finds by title and updates a page with the documented shapes", async () => {
    const client = api({ parentPageId: confluence.homePageId });
    const page = await client.createPage({ title: "INC-1: A (post-mortem)", body: "<p>one</p>" });
    expect(page).toMatchObject({ title: "INC-1: A (post-mortem)", version: 1, spaceId: confluence.spaceId });
    expect(page.url).toBe(`${confluence.url}/wiki/spaces/ENG/pages/${page.id}/INC-1%3A%2BA%2B(post-mortem)`);
    expect(confluence.page(page.id)?.parentId).toBe(confluence.homePageId);
    const created = confluence.requests.find((r) => r.method === "POST");
    expect(created?.json).toEqual({ spaceId: confluence.spaceId, status: "current", title: "INC-1: A (post-mortem)", parentId: confluence.homePageId, body: { representation: "storage", value: "<p>one</p>" } });

    expect(await client.getPage(page.id)).toMatchObject({ id: page.id, version: 1, body: "<p>one</p>" });
    expect(await client.findPageByTitle("INC-1: A (post-mortem)")).toMatchObject({ id: page.id });
    expect(await client.findPageByTitle("INC-1: B (post-mortem)")).toBeUndefined();
    const updated = await client.updatePage({ id: page.id, title: "INC-1: A (post-mortem)", body: "<p>two</p>", version: 2, message: "Regenerated" });
    expect(updated.version).toBe(2);
    expect(confluence.page(page.id)?.versions.map((v) => [v.number, v.body, v.message])).toEqual([
      [1, "<p>one</p>", null],
      [2, "<p>two</p>", "Regenerated"],
    ]);
    expect(await client.getPage("999999")).toBeUndefined();
  });

  it("maps a taken title, a stale version, 429, 401 and 404 onto Firebreak's errors", async () => {
    const client = api();
    const page = await client.createPage({ title: "T", body: "<p>x</p>" });
    await expect(client.createPage({ title: "T", body: "<p>y</p>" })).rejects.toBeInstanceOf(PageTitleTakenError);
    await expect(client.updatePage({ id: page.id, title: "T", body: "<p>y</p>", version: 5, message: "m" })).rejects.toBeInstanceOf(PageVersionConflictError);
    confluence.rateLimit({ retryAfterSeconds: 3 });
    const limited = await client.getPage(page.id).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(3_000);
    const unauthorized = await api({ apiToken: "wrong" }).getPage(page.id).catch((error: unknown) => error);
    expect(unauthorized).toBeInstanceOf(PermanentOutboundError);
    expect((unauthorized as Error).message).toMatch(/CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN/);
    expect((unauthorized as Error).message).not.toContain(confluence.apiToken);
    const missingParent = await api({ parentPageId: "424242" }).createPage({ title: "U", body: "<p>x</p>" }).catch((error: unknown) => error);
    expect((missingParent as PermanentOutboundError).remoteCode).toBe("not_found");
    expect((missingParent as Error).message).toMatch(/CONFLUENCE_PARENT_PAGE_ID/);
  });
});

describe("the GitHub client against the fake", () => {
  let github: FakeGitHub;
  beforeAll(async () => {
    github = await startFakeGitHub();
  });
  afterAll(async () => github?.close());
  beforeEach(() => github.reset());
  const [owner = "", repo = ""] = "acme/incident-followups".split("/");
  const api = (token?: string) => createGitHubApi({ apiUrl: github.url, token: token ?? github.token, owner, repo, labels: [], timeoutMs: 2_000 });

  it("sends the documented headers and body, and finds an issue by its marker", async () => {
    const issue = await api().createIssue({ title: "Add a canary", body: "body <!-- m-1 -->", labels: ["incident-followup"] });
    expect(issue).toEqual({ number: 1, url: "https://github.example/acme/incident-followups/issues/1" });
    const request = github.requests[0]!;
    expect(request.headers).toMatchObject({ accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", authorization: `Bearer ${github.token}` });
    expect(request.headers["user-agent"]).toMatch(/^Firebreak\//);
    expect(request.json).toEqual({ title: "Add a canary", body: "body <!-- m-1 -->", labels: ["incident-followup"] });
    expect(await api().findIssueByMarker("m-1", new Date(Date.now() - 60_000))).toEqual(issue);
    expect(await api().findIssueByMarker("m-2", new Date(Date.now() - 60_000))).toBeUndefined();
  });

  it("the marker search reads past the first page of 100 recently updated issues", async () => {
    const client = api();
    const marked = await client.createIssue({ title: "the lost one", body: "<!-- m-old -->", labels: [] });
    for (let i = 0; i < 100; i += 1) await client.createIssue({ title: `newer ${i}`, body: "", labels: [] });
    const before = github.requests.length;
    expect(await client.findIssueByMarker("m-old", new Date(Date.now() - 60_000))).toEqual(marked);
    expect(github.requests.slice(before).map((request) => request.query.get("page"))).toEqual(["1", "2"]);
  });

  it("primary and secondary limits become RateLimitedError; a bad token a permanent error without the token", async () => {
    github.primaryRateLimit({ resetInSeconds: 5 });
    const primary = await api().createIssue({ title: "x", body: "", labels: [] }).catch((error: unknown) => error);
    expect(primary).toBeInstanceOf(RateLimitedError);
    expect((primary as RateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(4_000);
    expect((primary as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(7_000);
    github.secondaryRateLimit({ retryAfterSeconds: 9, status: 429 });
    expect(((await api().createIssue({ title: "x", body: "", labels: [] }).catch((error: unknown) => error)) as RateLimitedError).retryAfterMs).toBe(9_000);
    const denied = await api("ghp_wrongwrongwrongwrongwrongwrong0000").createIssue({ title: "x", body: "", labels: [] }).catch((error: unknown) => error);
    expect(denied).toBeInstanceOf(PermanentOutboundError);
    expect((denied as Error).message).not.toContain("ghp_wrong");
    expect(github.issues()).toEqual([]);
  });
});

describe("timeouts", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Accepts connections and never answers.
    server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("every call gives up after the timeout with a transient outbound_timeout", async () => {
    const started = Date.now();
    const confluence = createConfluenceApi({ baseUrl: url, email: "a@b.c", apiToken: "t", spaceId: "1", parentPageId: undefined, timeoutMs: 300 });
    const github = createGitHubApi({ apiUrl: url, token: "t", owner: "o", repo: "r", labels: [], timeoutMs: 300 });
    for (const call of [() => confluence.createPage({ title: "t", body: "" }), () => confluence.getPage("1"), () => github.createIssue({ title: "t", body: "", labels: [] }), () => github.findIssueByMarker("m", new Date())]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TransientOutboundError);
      expect((error as TransientOutboundError).code).toBe("outbound_timeout");
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("transient failures inside one call", () => {
  let fake: RunningFake;
  let answers: Answer[];
  beforeAll(async () => {
    fake = await startFake(() => answers.shift() ?? { status: 500, body: { message: "script ran out" } });
  });
  afterAll(async () => fake?.close());
  beforeEach(() => {
    fake.requests.length = 0;
  });
  const unavailable: Answer = { status: 503, body: { message: "try later" } };
  const confluence = () => createConfluenceApi({ baseUrl: fake.url, email: "a@b.c", apiToken: "t", spaceId: "1", parentPageId: undefined, timeoutMs: 2_000, backoffMs: 10 });
  const github = () => createGitHubApi({ apiUrl: fake.url, token: "t", owner: "o", repo: "r", labels: [], timeoutMs: 2_000, backoffMs: 10 });

  it("reads are retried: a 503 then the answer", async () => {
    answers = [unavailable, { status: 200, body: { id: "1", title: "T", spaceId: "1", version: { number: 3 } } }];
    expect(await confluence().getPage("1")).toMatchObject({ id: "1", version: 3 });
    answers = [unavailable, { status: 200, body: [] }];
    expect(await github().findIssueByMarker("m", new Date())).toBeUndefined();
    expect(fake.requests.map((request) => `${request.method} ${request.status}`)).toEqual(["GET 503", "GET 200", "GET 503", "GET 200"]);
  });

  it("creates are sent once: a 503 is the job's to retry", async () => {
    answers = [unavailable, { status: 200, body: { id: "1", title: "T", spaceId: "1", version: { number: 1 } } }];
    await expect(confluence().createPage({ title: "T", body: "" })).rejects.toMatchObject({ code: "outbound_unavailable", vendor: "confluence" });
    answers = [unavailable, { status: 201, body: { number: 1, html_url: "https://github.example/o/r/issues/1" } }];
    await expect(github().createIssue({ title: "t", body: "", labels: [] })).rejects.toMatchObject({ code: "outbound_unavailable", vendor: "github" });
    expect(fake.requests.map((request) => `${request.method} ${request.status}`)).toEqual(["POST 503", "POST 503"]);
  });
});
