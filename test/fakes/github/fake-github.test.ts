import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { API_VERSION, startFakeGitHub, type FakeGitHub } from "./index.ts";

/** The fake GitHub refuses what GitHub's REST API documents as invalid. */

const TOKEN = "ghp_fakeGitHubTestToken00000000000000000";
let github: FakeGitHub;

beforeAll(async () => {
  github = await startFakeGitHub({ token: TOKEN, repositories: ["acme/incident-followups", "acme/no-issues"], issuesDisabled: ["acme/no-issues"] });
});
afterAll(async () => github?.close());
beforeEach(() => github.reset());

function headers(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const all: Record<string, string | undefined> = {
    authorization: `Bearer ${github.token}`,
    accept: "application/vnd.github+json",
    "x-github-api-version": API_VERSION,
    "user-agent": "fake-github-test",
    "content-type": "application/json",
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

async function create(body: unknown, overrides: Record<string, string | undefined> = {}, repository = github.repository) {
  const response = await fetch(`${github.url}/repos/${repository}/issues`, { method: "POST", headers: headers(overrides), body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // GitHub's User-Agent refusal is plain text.
  }
  return { status: response.status, headers: response.headers, json: json as Record<string, unknown> };
}

describe("required headers", () => {
  it("refuses a request without a User-Agent (403, plain text)", async () => {
    // fetch sends its own User-Agent when none is given: an empty one is how a client "forgets" it here.
    const response = await create({ title: "x" }, { "user-agent": "" });
    expect(response.status).toBe(403);
    expect(response.json).toEqual(expect.stringContaining("User-Agent"));
    expect(github.issues()).toEqual([]);
  });

  it.each([
    ["no Authorization", { authorization: undefined }, 401],
    ["a wrong token", { authorization: "Bearer ghp_wrong" }, 401],
    ["Basic instead of a token", { authorization: `Basic ${TOKEN}` }, 401],
    ["no Accept: application/vnd.github+json", { accept: "application/json" }, 415],
    ["no X-GitHub-Api-Version", { "x-github-api-version": undefined }, 400],
    ["another API version", { "x-github-api-version": "2021-01-01" }, 400],
    ["a body that is not JSON", { "content-type": "text/plain" }, 415],
  ])("refuses %s", async (_name, overrides, status) => {
    const response = await create({ title: "x" }, overrides);
    expect(response.status).toBe(status);
    expect(github.issues()).toEqual([]);
  });

  it("accepts the older `token` scheme as GitHub does", async () => {
    expect((await create({ title: "x" }, { authorization: `token ${github.token}` })).status).toBe(201);
  });
});

describe("POST /repos/{owner}/{repo}/issues", () => {
  it("creates issue #1, #2... with title, body and labels; 201 with number and html_url", async () => {
    const first = await create({ title: "Add a canary stage", body: "Details", labels: ["incident-followup", { name: "sev2" }] });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ number: 1, title: "Add a canary stage", body: "Details", state: "open", html_url: expect.stringContaining("/issues/1") as unknown });
    expect(first.headers.get("location")).toMatch(/\/issues\/1$/);
    expect(first.headers.get("x-ratelimit-remaining")).toBe("4999");
    expect((await create({ title: "Second" })).json.number).toBe(2);
    expect(github.issues().map((issue) => [issue.number, issue.title, issue.labels])).toEqual([
      [1, "Add a canary stage", ["incident-followup", "sev2"]],
      [2, "Second", []],
    ]);
  });

  it.each([
    ["no title", {}, "title", "missing_field"],
    ["an empty title", { title: "" }, "title", "missing_field"],
    ["a title that is an object", { title: { text: "x" } }, "title", "invalid"],
    ["a body that is a number", { title: "x", body: 5 }, "body", "invalid"],
    ["labels that are not a list", { title: "x", labels: "bug" }, "labels", "invalid"],
    ["labels with a number", { title: "x", labels: [1] }, "labels", "invalid"],
  ])("answers 422 Validation Failed for %s", async (_name, body, field, code) => {
    const response = await create(body);
    expect(response.status).toBe(422);
    expect(response.json).toMatchObject({ message: "Validation Failed", errors: [{ resource: "Issue", field, code }] });
    expect(github.issues()).toEqual([]);
  });

  it("an unknown repository is 404; one with issues disabled is 410", async () => {
    expect((await create({ title: "x" }, {}, "acme/unknown")).status).toBe(404);
    expect((await create({ title: "x" }, {}, "acme/no-issues")).status).toBe(410);
  });
});

describe("rate limits and lost answers", () => {
  it("primary: 403 with x-ratelimit-remaining 0 and a reset time, then normal service", async () => {
    github.primaryRateLimit({ resetInSeconds: 30 });
    const limited = await create({ title: "x" });
    expect(limited.status).toBe(403);
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("x-ratelimit-reset"))).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 29);
    expect((await create({ title: "x" })).status).toBe(201);
  });

  it("secondary: 429 (or 403) with retry-after", async () => {
    github.secondaryRateLimit({ retryAfterSeconds: 42, status: 429 });
    const limited = await create({ title: "x" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("42");
    expect(limited.json.message).toMatch(/secondary rate limit/);
    expect(github.issues()).toEqual([]);
  });

  it("loseNextCreateAnswer: the issue exists, the caller gets no answer, and the list shows it", async () => {
    github.loseNextCreateAnswer();
    await expect(create({ title: "Lost", body: "marker-123" })).rejects.toThrow();
    expect(github.issues()).toHaveLength(1);
    const list = await fetch(`${github.url}/repos/${github.repository}/issues?state=all&since=${new Date(Date.now() - 60_000).toISOString()}&per_page=100`, { headers: headers() });
    expect(list.status).toBe(200);
    expect(((await list.json()) as Array<{ body: string }>).map((issue) => issue.body)).toEqual(["marker-123"]);
  });

  it("GET pages with per_page and page, newest first", async () => {
    for (const title of ["one", "two", "three"]) expect((await create({ title })).status).toBe(201);
    const page = async (n: number) => {
      const list = await fetch(`${github.url}/repos/${github.repository}/issues?state=all&per_page=2&page=${n}`, { headers: headers() });
      return ((await list.json()) as Array<{ title: string }>).map((issue) => issue.title);
    };
    expect(await page(1)).toEqual(["three", "two"]);
    expect(await page(2)).toEqual(["one"]);
  });

  it("GET refuses a bad state, per_page, page or since with 422", async () => {
    for (const query of ["state=everything", "per_page=500", "page=0", "since=yesterday"]) {
      const list = await fetch(`${github.url}/repos/${github.repository}/issues?${query}`, { headers: headers() });
      expect(list.status, query).toBe(422);
    }
  });
});
