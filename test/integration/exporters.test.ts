import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Incident } from "../../src/generated/prisma/client.ts";
import { FIELDS, VIEWS } from "../../src/incident/views.ts";
import { pageAnchor } from "../../src/postmortem/export/jobs.ts";
import { followUpMarker } from "../../src/postmortem/export/issue.ts";
import { startFakeConfluence, storageFormatProblems, type FakeConfluence, type FakePage } from "../fakes/confluence/index.ts";
import { startFakeGitHub, type FakeGitHub } from "../fakes/github/index.ts";
import type { RecordedRequest } from "../fakes/http-kit.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { fromFakeView, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendCommand, sendToSlackEndpoint, slashCommandBody } from "../support/slack-requests.ts";

/**
 * The post-mortem exporters through the running app (embedded database), with
 * the fake Slack, the fake Confluence and the fake GitHub on loopback: the
 * draft becomes a Confluence page on resolve and a new version of the same
 * page on `/incident postmortem`; each follow-up becomes exactly one GitHub
 * issue, through Slack retries, lost answers and rate limits; a private
 * incident lets out its public draft only; with the exporters off, nothing
 * is called.
 */

const USER = "U0DECLARER";
const ELSEWHERE = "C0GENERAL0";

let slack: FakeSlack;
let confluence: FakeConfluence;
let github: FakeGitHub;
let app: TestApp;

function exporterEnv(): Record<string, string> {
  return {
    CONFLUENCE_BASE_URL: confluence.url,
    CONFLUENCE_EMAIL: confluence.email,
    CONFLUENCE_API_TOKEN: confluence.apiToken,
    CONFLUENCE_SPACE_ID: confluence.spaceId,
    CONFLUENCE_PARENT_PAGE_ID: confluence.homePageId,
    GITHUB_API_URL: github.url,
    GITHUB_TOKEN: github.token,
    GITHUB_REPOSITORY: github.repository,
    GITHUB_LABELS: "incident-followup",
    EXPORT_TIMEOUT_MS: "2000",
  };
}

beforeAll(async () => {
  slack = await startFakeSlack({
    // Incidents declared back to back (startTestApp does not pace channel creation) and taken
    // to resolved within milliseconds, to export their post-mortems: each creation and step is a
    // Tier 2 call (20 a minute: create, topic, pin, bookmark) and posts in the channel (about one a
    // second). Slack would answer 429s the app waits out (declare.test.ts), seconds per test for
    // what these tests do not test.
    rateLimits: {
      "conversations.create": TEST_SPEED,
      "conversations.setTopic": TEST_SPEED,
      "pins.add": TEST_SPEED,
      "bookmarks.add": TEST_SPEED,
      "bookmarks.edit": TEST_SPEED,
      "chat.postMessage": { perChannel: TEST_SPEED },
    },
  });
  confluence = await startFakeConfluence();
  github = await startFakeGitHub();
  app = await startTestApp({ slack, env: exporterEnv() });
});

afterAll(async () => {
  await app?.stop();
  if (app) await removeDir(app.dataDir);
  await Promise.all([slack?.close(), confluence?.close(), github?.close()]);
});

afterEach(async () => {
  await waitForIdleJobs(app);
  const logs = app.logs.text();
  for (const secret of [confluence.apiToken, github.token, Buffer.from(`${confluence.email}:${confluence.apiToken}`).toString("base64")]) expect(logs).not.toContain(secret);
});

// ---- helpers ----------------------------------------------------------------------------------

/** `/incident <text>`: the reply text, once the side effects are done. */
async function run(text: string, channel: string, user = USER, target: TestApp = app): Promise<string> {
  const response = await sendCommand(target.url, text, { user_id: user, channel_id: channel });
  expect(response.status).toBe(200);
  await waitForIdleJobs(target);
  const reply = (response.body as { text?: unknown } | undefined)?.text;
  return typeof reply === "string" ? reply : "";
}

/** One invocation delivered twice (Slack's retry carries the same trigger_id). */
async function runTwice(text: string, channel: string): Promise<void> {
  const body = slashCommandBody({ text, user_id: USER, channel_id: channel });
  expect((await sendToSlackEndpoint(app.url, body)).status).toBe(200);
  expect((await sendToSlackEndpoint(app.url, body, { retryNum: 1 })).status).toBe(200);
  await waitForIdleJobs(app);
}

async function opened(number: number, target: TestApp = app): Promise<Incident> {
  return eventually(
    async () => {
      const row = await target.database.prisma.incident.findUnique({ where: { number } });
      return row?.channelId && row.headerMessageTs ? row : undefined;
    },
    10_000,
    `INC-${number} set up`,
  );
}

async function declare(title: string, target: TestApp = app): Promise<Incident> {
  const reply = await run(`declare sev2 ${title}`, ELSEWHERE, USER, target);
  const number = Number(/\*INC-(\d+)\*/.exec(reply)?.[1]);
  expect(number).toBeGreaterThan(0);
  return opened(number, target);
}

function pageTitled(title: string): FakePage | undefined {
  return confluence.pages().find((page) => confluence.latest(page).title === title);
}

function pageOf(incident: Incident): FakePage | undefined {
  return pageTitled(`INC-${incident.number}: ${incident.title} (post-mortem)`);
}

const latestBody = (page: FakePage | undefined): string => (page ? confluence.latest(page).body : "");
const confluenceCalls = (method: string, since = 0): RecordedRequest[] => confluence.requests.slice(since).filter((request) => request.method === method);

async function exportJobs(kind: string) {
  return app.database.prisma.job.findMany({ where: { kind }, orderBy: { id: "asc" } });
}

// ---- Confluence -------------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("Confluence exporter", { shuffle: false }, () => {
  let incident: Incident;
  let channel: string;
  /** Pages the other describes left in the space, in whatever order they ran. */
  let pagesBefore: number;

  beforeAll(async () => {
    await waitForIdleJobs(app);
    pagesBefore = confluence.pages().length;
    incident = await declare("Checkout latency spike");
    channel = incident.channelId!;
    await run("note Cart p99 above 4 s since the 10:02 deploy", channel);
  });

  it("resolve creates one page in the space, under the parent, in well-formed storage format", async () => {
    const before = confluence.requests.length;
    await run("resolve Rolled back cart to v41", channel);
    const page = await eventually(async () => pageOf(incident), 10_000, "Confluence page");
    await waitForIdleJobs(app);

    expect(confluence.pages()).toHaveLength(pagesBefore + 1);
    expect(page).toMatchObject({ spaceId: confluence.spaceId, parentId: confluence.homePageId, status: "current" });
    expect(page.versions.map((version) => version.number)).toEqual([1]);
    const body = latestBody(page);
    expect(storageFormatProblems(body)).toEqual([]);
    expect(body).toContain("Cart p99 above 4 s since the 10:02 deploy");
    expect(body).toContain("Rolled back cart to v41");
    expect(body).toContain('<ac:structured-macro ac:name="code">');
    expect(body).toContain(pageAnchor(incident.id));

    // The documented request: basic auth, JSON, exactly these fields.
    const [create] = confluenceCalls("POST", before);
    expect(create?.path).toBe("/wiki/api/v2/pages");
    expect(create?.headers.authorization).toBe(`Basic ${Buffer.from(`${confluence.email}:${confluence.apiToken}`).toString("base64")}`);
    expect(create?.headers["content-type"]).toMatch(/^application\/json/);
    expect(Object.keys(create?.json as object).sort()).toEqual(["body", "parentId", "spaceId", "status", "title"]);
    expect(create?.json).toMatchObject({ spaceId: confluence.spaceId, status: "current", parentId: confluence.homePageId, body: { representation: "storage" } });

    // Remembered as the export job's result.
    const jobs = (await exportJobs("postmortem.export_confluence")).filter((job) => job.incidentId === incident.id);
    expect(jobs.map((job) => [job.status, (job.result as { pageId?: string } | null)?.pageId])).toEqual([["DONE", page.id]]);
  });

  it("/incident postmortem writes version 2 of the same page (GET, then PUT version 2 with a message), not a second page", async () => {
    const before = confluence.requests.length;
    await run("postmortem", channel);
    const page = pageOf(incident)!;
    await eventually(async () => page.versions.length === 2, 10_000, "version 2");
    expect(confluence.pages()).toHaveLength(pagesBefore + 1);
    const calls = confluence.requests.slice(before);
    expect(calls.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([`GET /wiki/api/v2/pages/${page.id} 200`, `PUT /wiki/api/v2/pages/${page.id} 200`]);
    expect(calls[1]?.json).toMatchObject({ id: page.id, status: "current", title: `INC-${incident.number}: Checkout latency spike (post-mortem)`, version: { number: 2 } });
    expect((calls[1]?.json as { version: { message: string } }).version.message).toMatch(/^Regenerated by Firebreak/);
  });

  it("a /incident postmortem delivered twice (Slack's retry) writes one more version, not two", async () => {
    const page = pageOf(incident)!;
    const versions = page.versions.length;
    await runTwice("postmortem", channel);
    expect(page.versions).toHaveLength(versions + 1);
    expect(confluence.pages()).toHaveLength(pagesBefore + 1);
  });

  it("someone saving the page in between (409) is read again and written as the next version", async () => {
    const page = pageOf(incident)!;
    const versions = page.versions.length;
    const before = confluence.requests.length;
    confluence.raceNextUpdates(1);
    await run("postmortem", channel);
    await eventually(async () => page.versions.length === versions + 2, 10_000, "written after the conflict");
    const calls = confluence.requests.slice(before).map((call) => `${call.method} ${call.status}`);
    expect(calls).toEqual(["GET 200", "PUT 409", "GET 200", "PUT 200"]);
    expect(confluence.latest(page).body).toContain(pageAnchor(incident.id));
  });

  it("429 with Retry-After: the export waits that long, uses no attempt, then succeeds", async () => {
    const page = pageOf(incident)!;
    const versions = page.versions.length;
    const before = confluence.requests.length;
    confluence.rateLimit({ times: 1, retryAfterSeconds: 1 });
    await run("postmortem", channel);
    await eventually(async () => page.versions.length === versions + 1, 15_000, "written after the 429");
    const calls = confluence.requests.slice(before);
    expect(calls.map((call) => call.status)).toEqual([429, 200, 200]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    const jobs = (await exportJobs("postmortem.export_confluence")).filter((job) => job.incidentId === incident.id);
    expect(jobs.at(-1)).toMatchObject({ status: "DONE", attempts: 1 });
  });

  it("an answer lost after the page was created: the retry recognises the page by title and anchor, and updates it", async () => {
    const second = await declare("Search results are stale");
    confluence.loseNextCreateAnswer();
    await run("resolve Reindexed", second.channelId!);
    const page = await eventually(async () => {
      const found = pageOf(second);
      return found && found.versions.length === 2 ? found : undefined;
    }, 15_000, "adopted page at version 2");
    await waitForIdleJobs(app);
    expect(confluence.pages().filter((p) => confluence.latest(p).title.startsWith(`INC-${second.number}:`))).toEqual([page]);
    const calls = confluence.requests.filter((call) => call.method !== "GET" || call.path.endsWith("/pages")).slice(-4);
    expect(calls.map((call) => `${call.method} ${call.status}`)).toEqual(["POST 0", "POST 400", "GET 200", "PUT 200"]);
  });

  it("a page with the same title that Firebreak did not create is left alone; the export fails for good with a clear reason", async () => {
    const third = await declare("Login loops");
    const theirs = confluence.addPage({ title: `INC-${third.number}: Login loops (post-mortem)`, body: "<p>Written by hand</p>" });
    await run("resolve Cookie domain fixed", third.channelId!);
    const job = await eventually(async () => (await exportJobs("postmortem.export_confluence")).find((j) => j.incidentId === third.id && j.status === "DEAD"), 10_000, "dead export job");
    expect(job.lastError).toMatch(/already has a page titled "INC-\d+: Login loops \(post-mortem\)" that Firebreak did not create/);
    expect(theirs.versions).toHaveLength(1);
    expect(confluence.latest(theirs).body).toBe("<p>Written by hand</p>");
  });
});

// ---- GitHub -----------------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("GitHub exporter", { shuffle: false }, () => {
  let incident: Incident;
  let channel: string;

  beforeAll(async () => {
    incident = await declare("Payments timing out");
    channel = incident.channelId!;
  });

  it("a follow-up delivered twice (Slack's retry) opens exactly one issue, with the documented request", async () => {
    const before = github.requests.length;
    await runTwice("followup Add a canary stage to cart deploys", channel);
    const issues = github.issues().filter((issue) => issue.title === "Add a canary stage to cart deploys");
    expect(issues).toHaveLength(1);
    const [issue] = issues;
    expect(issue?.labels).toEqual(["incident-followup"]);
    expect(issue?.body).toContain(`INC-${incident.number}: Payments timing out`);
    const item = await app.database.prisma.actionItem.findFirstOrThrow({ where: { incidentId: incident.id, title: "Add a canary stage to cart deploys" } });
    expect(issue?.body).toContain(followUpMarker(item.id));
    expect(item.externalUrl).toBe(issue?.htmlUrl);

    const [create] = github.requests.slice(before).filter((request) => request.method === "POST");
    expect(create?.path).toBe(`/repos/${github.repository}/issues`);
    expect(create?.headers).toMatchObject({ authorization: `Bearer ${github.token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" });
    expect(create?.headers["user-agent"]).toMatch(/^Firebreak\//);
    expect(Object.keys(create?.json as object).sort()).toEqual(["body", "labels", "title"]);
    expect((await exportJobs("postmortem.export_github_issue")).filter((job) => job.incidentId === incident.id)).toHaveLength(1);
  });

  it("an answer lost after the issue was created: the retry finds the issue by its marker instead of opening a second", async () => {
    github.loseNextCreateAnswer();
    await run("followup Alert on error budget burn", channel);
    const item = await eventually(
      async () => (await app.database.prisma.actionItem.findFirst({ where: { incidentId: incident.id, title: "Alert on error budget burn", externalUrl: { not: null } } })) ?? undefined,
      15_000,
      "issue recorded after the retry",
    );
    await waitForIdleJobs(app);
    const issues = github.issues().filter((issue) => issue.title === "Alert on error budget burn");
    expect(issues).toHaveLength(1);
    expect(item.externalUrl).toBe(issues[0]?.htmlUrl);
    const job = (await exportJobs("postmortem.export_github_issue")).at(-1);
    expect(job).toMatchObject({ status: "DONE", attempts: 2, result: { adopted: true, issueNumber: issues[0]?.number } });
  });

  it.each([
    ["primary (403, x-ratelimit-remaining 0, reset)", () => github.primaryRateLimit({ resetInSeconds: 1 }), "Document the rollback runbook"],
    ["secondary (429, retry-after)", () => github.secondaryRateLimit({ retryAfterSeconds: 1, status: 429 }), "Load-test the payment gateway"],
  ])("%s rate limit: the issue is opened after the wait, once, without using an attempt", async (_name, limit, title) => {
    const before = github.requests.length;
    limit();
    await run(`followup ${title}`, channel);
    await eventually(async () => github.issues().some((issue) => issue.title === title), 15_000, "issue after the rate limit");
    await waitForIdleJobs(app);
    const calls = github.requests.slice(before);
    expect(calls.map((call) => call.status)).toEqual([calls[0]!.status === 429 ? 429 : 403, 201]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(900);
    expect(github.issues().filter((issue) => issue.title === title)).toHaveLength(1);
    expect((await exportJobs("postmortem.export_github_issue")).at(-1)).toMatchObject({ status: "DONE", attempts: 1 });
  });

  it("the issue's address is in the next version of the Confluence page", async () => {
    await run("resolve Gateway timeout raised", channel);
    const page = await eventually(async () => pageOf(incident), 10_000, "page");
    const issue = github.issues().find((i) => i.title === "Add a canary stage to cart deploys");
    expect(latestBody(page)).toContain(issue?.htmlUrl);
  });
});

// ---- a private incident -----------------------------------------------------------------------

describe("a private incident", () => {
  const SECRETS = ["Acquisition data leak", "SECRET-NOTE-7f3", "SECRET-SUMMARY-9d4", "inc-"];

  it("exports only its public draft to Confluence, and a GitHub issue without its private text", async () => {
    await sendCommand(app.url, "declare", { user_id: USER, channel_id: ELSEWHERE, trigger_id: slack.newTriggerId(USER) });
    const view = await eventually(async () => slack.views.modals().filter((v) => v.callback_id === VIEWS.declare).at(-1), 5_000, "declare modal");
    const submitted = await sendViewSubmission(app.url, {
      user: USER,
      ...fromFakeView(view),
      values: {
        [FIELDS.title.block]: { [FIELDS.title.action]: { type: "plain_text_input", value: "Acquisition data leak" } },
        [FIELDS.severity.block]: { [FIELDS.severity.action]: { type: "static_select", selected_option: { value: "SEV2", text: "SEV2" } } },
        [FIELDS.private.block]: { [FIELDS.private.action]: { type: "checkboxes", selected_options: [{ value: "private", text: "Private incident" }] } },
      },
    });
    expect(submitted.status).toBe(200);
    const declared = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: "Acquisition data leak" } })) ?? undefined, 10_000, "private incident");
    const incident = await opened(declared.number);
    expect(incident.private).toBe(true);
    const channel = incident.channelId!;
    await run("note SECRET-NOTE-7f3 found in the export bucket", channel);
    await run("followup Rotate the exposed credentials", channel);
    await run("resolve SECRET-SUMMARY-9d4 bucket locked down", channel);

    const page = await eventually(async () => pageTitled(`INC-${incident.number}: Private incident (post-mortem)`), 10_000, "public page of the private incident");
    const body = latestBody(page);
    expect(storageFormatProblems(body)).toEqual([]);
    expect(body).toContain("Public version of a private incident");
    for (const secret of SECRETS) expect(body, `page leaks "${secret}"`).not.toContain(secret);
    expect(body).not.toMatch(/\bU0[A-Z0-9]{6,}\b/);
    expect(confluence.pages().some((p) => confluence.latest(p).title.includes("Acquisition"))).toBe(false);

    const issue = github.issues().find((i) => i.title === "Rotate the exposed credentials");
    expect(issue).toBeDefined();
    expect(issue?.body).toContain(`a private incident (INC-${incident.number}, SEV2)`);
    for (const secret of SECRETS) expect(issue?.body, `issue leaks "${secret}"`).not.toContain(secret);
  });
});

// ---- exporters off ----------------------------------------------------------------------------

describe("with the exporters off", () => {
  let bare: TestApp | undefined;

  afterAll(async () => {
    await bare?.stop();
    if (bare) await removeDir(bare.dataDir);
  });

  it("resolve, /incident postmortem and follow-ups call neither Confluence nor GitHub, and enqueue no export job", async () => {
    bare = await startTestApp({ slack, env: {} });
    const [confluenceBefore, githubBefore] = [confluence.requests.length, github.requests.length];
    const incident = await declare("Exporters off", bare);
    const channel = incident.channelId!;
    await run("followup Nothing leaves Firebreak", channel, USER, bare);
    await run("resolve Done", channel, USER, bare);
    await run("postmortem", channel, USER, bare);
    await waitForIdleJobs(bare);
    expect(confluence.requests.length - confluenceBefore).toBe(0);
    expect(github.requests.length - githubBefore).toBe(0);
    expect(await bare.database.prisma.job.count({ where: { kind: { startsWith: "postmortem.export_" } } })).toBe(0);
    // The draft itself still works: the summary was posted in the channel.
    expect(slack.messages.in(channel).some((message) => message.text.startsWith(`Post-mortem draft for INC-${incident.number}`))).toBe(true);
  });
});
