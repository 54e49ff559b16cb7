import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Incident, TimelineEvent } from "../../src/generated/prisma/client.ts";
import type { PostmortemDocument } from "../../src/postmortem/models.ts";
import { startFakeSlack, type FakeMessage, type FakeSlack } from "../fakes/slack/index.ts";
import { removeDir, startTestApp, TEST_SPEED, type TestApp, eventually, waitForIdleJobs } from "../support/app.ts";
import { sendCommand, sendToSlackEndpoint, slashCommandBody, type SlackResponse } from "../support/slack-requests.ts";
import { mrkdwnTexts } from "../support/blocks.ts";

/**
 * The post-mortem, end to end through the real app (embedded database) and
 * the fake Slack: the summary posted on resolve and on `/incident postmortem`,
 * follow-ups recorded with `/incident followup`, and the export API
 * (GET /api/incidents/:number/postmortem[.md|.html|.json]) with its bearer
 * token, content negotiation, audiences, time zone and blameless review.
 */

const TOKEN = randomBytes(16).toString("hex");
const TIME_ZONE = "Europe/Paris";
/** #general of the fake: not an incident channel. */
const ELSEWHERE = "C0GENERAL0";
const BLAMEFUL_NOTE = "It was Bob's fault, human error";
const MENTION_NOTE = "Paged <@U0RESPOND1> for the cart service";
const FOLLOW_UP = "Add a canary stage";
const HOSTILE_TITLE = "<script>alert(1)</script>";
const METRIC_LABELS = ["Time to detect", "Time to acknowledge", "Time to mitigate", "Time to resolve", "Total duration"];

let slack: FakeSlack;
let app: TestApp;
let dataDir: string;

beforeAll(async () => {
  slack = await startFakeSlack({
    // Incidents taken from declared to resolved within milliseconds, to have a post-mortem to
    // write: each step is a setTopic and a bookmarks.edit (Tier 2: 20 a minute) and posts in the
    // channel (about one a second). Slack would answer 429s the app waits out (declare.test.ts),
    // seconds per test for what these tests do not test.
    rateLimits: { "conversations.setTopic": TEST_SPEED, "bookmarks.edit": TEST_SPEED, "chat.postMessage": { perChannel: TEST_SPEED } },
  });
  app = await startTestApp({ slack, env: { API_TOKEN: TOKEN, TIME_ZONE } });
  dataDir = app.dataDir;
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (dataDir) await removeDir(dataDir);
});

function jobsIdle(): Promise<void> {
  return waitForIdleJobs(app);
}

afterEach(async () => {
  await jobsIdle();
  expect(app.logs.text()).not.toContain("xoxb-test-token");
  expect(app.logs.text()).not.toContain(TOKEN);
});

// ---- helpers ----------------------------------------------------------------------------------

interface Reply {
  text: string;
  /** The reply text and every mrkdwn text in its blocks. */
  all: string;
}

function ephemeralReply(response: SlackResponse): Reply {
  expect(response.status).toBe(200);
  expect(response.elapsedMs).toBeLessThan(3_000);
  const body = response.body as { response_type?: unknown; text?: unknown; blocks?: unknown } | undefined;
  expect(body?.response_type).toBe("ephemeral");
  const text = typeof body?.text === "string" ? body.text : "";
  return { text, all: [text, ...mrkdwnTexts(body?.blocks ?? [])].join("\n") };
}

/** Runs `/incident <text>` as `user` in `channel`, then waits until its side effects are done. */
async function command(text: string, options: { channel?: string; user?: string } = {}): Promise<Reply> {
  const response = await sendCommand(app.url, text, { user_id: options.user ?? "U0DECLARER", channel_id: options.channel ?? ELSEWHERE });
  const reply = ephemeralReply(response);
  await jobsIdle();
  return reply;
}

/** Delivers one invocation twice (same trigger_id), the second as Slack's retry. */
async function deliverTwice(text: string, channel: string, user = "U0DECLARER"): Promise<{ first: Reply; second: Reply }> {
  const body = slashCommandBody({ text, user_id: user, channel_id: channel });
  const first = ephemeralReply(await sendToSlackEndpoint(app.url, body));
  const second = ephemeralReply(await sendToSlackEndpoint(app.url, body, { retryNum: 1 }));
  await jobsIdle();
  return { first, second };
}

async function declare(title: string): Promise<Incident> {
  const reply = await command(`declare ${title}`);
  const number = Number(/\*INC-(\d+)\*/.exec(reply.text)?.[1]);
  expect(number).toBeGreaterThan(0);
  const incident = await eventually(
    async () => {
      const row = await app.database.prisma.incident.findUnique({ where: { number } });
      return row?.channelId && row.headerMessageTs ? row : undefined;
    },
    10_000,
    "incident channel and header",
  );
  return incident;
}

function summaryMessages(channel: string, number: number): FakeMessage[] {
  return slack.messages.in(channel).filter((message) => message.text.startsWith(`Post-mortem draft for INC-${number}`));
}

async function eventsOf(incidentId: string): Promise<TimelineEvent[]> {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId }, orderBy: { id: "asc" } });
}

/** What a refused or repeated command must leave unchanged. */
async function recorded() {
  const prisma = app.database.prisma;
  return {
    actionItems: await prisma.actionItem.findMany({ orderBy: { createdAt: "asc" } }),
    events: await prisma.timelineEvent.count(),
    jobs: await prisma.job.count(),
    idempotencyKeys: await prisma.idempotencyKey.count(),
    messages: slack.messages.all().length,
  };
}

/** The usage line as Slack receives it (placeholders escaped). */
function usage(text: string): RegExp {
  const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return new RegExp(`Usage: \`${escaped.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\``);
}

interface ApiResponse {
  status: number;
  type: string;
  headers: Headers;
  body: string;
}

/** GET on the app; `token: null` sends no Authorization header, a string sends it as is. */
async function get(path: string, options: { token?: string | null; authorization?: string; accept?: string; url?: string } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
  if (options.accept !== undefined) headers.accept = options.accept;
  const response = await fetch(`${options.url ?? app.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, type: response.headers.get("content-type") ?? "", headers: response.headers, body: await response.text() };
}

async function getJson(path: string): Promise<PostmortemDocument> {
  const response = await get(path);
  expect(response.status, response.body).toBe(200);
  expect(response.type).toMatch(/^application\/json/);
  const parsed: unknown = JSON.parse(response.body);
  expect(parsed).toMatchObject({ schemaVersion: 1 });
  return parsed as PostmortemDocument;
}

/** "2026-11-22 04:20 UTC (05:20 CET)", computed independently of the app with Intl. */
function expectedStamp(date: Date): { display: string; zone: string } {
  const iso = date.toISOString();
  const utcDay = iso.slice(0, 10);
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  const localDay = new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  const zone = part("timeZoneName");
  const local = `${localDay === utcDay ? "" : `${localDay} `}${part("hour")}:${part("minute")} ${zone}`;
  return { display: `${utcDay} ${iso.slice(11, 16)} UTC (${local})`, zone };
}

// ---- one incident, from declaration to export ---------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("post-mortem of one incident: Slack side", { shuffle: false }, () => {
  let incident: Incident;
  let channel: string;
  let ref: string;

  beforeAll(async () => {
    slack.reset();
    incident = await declare("sev2 Checkout latency spike");
    channel = incident.channelId!;
    ref = `INC-${incident.number}`;
  });

  it("records updates, notes, a follow-up and status changes on the timeline", async () => {
    expect((await command("status identified Bad deploy of cart v42", { channel })).text).toBe(`${ref} is now *Identified*.`);
    expect((await command("update Rolling back cart to v41", { channel })).text).toBe("Update posted.");
    expect((await command(`note ${BLAMEFUL_NOTE}`, { channel, user: "U0RESPOND1" })).text).toBe(":memo: Added to the timeline.");
    expect((await command(`note ${MENTION_NOTE}`, { channel })).text).toBe(":memo: Added to the timeline.");

    const followUp = await command(`followup ${FOLLOW_UP}`, { channel, user: "U0RESPOND2" });
    expect(followUp.text).toBe(":white_check_mark: Follow-up recorded for the post-mortem.");
    const items = await app.database.prisma.actionItem.findMany({ where: { incidentId: incident.id } });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ title: FOLLOW_UP, createdById: "U0RESPOND2", status: "OPEN", priority: "MEDIUM", ownerId: null });
    const added = (await eventsOf(incident.id)).filter((event) => event.type === "followup.added");
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ actorId: "U0RESPOND2", source: "SLACK", data: { title: FOLLOW_UP } });
    expect(added[0]?.text).toContain(FOLLOW_UP);

    expect((await command("status monitoring", { channel })).text).toBe(`${ref} is now *Monitoring*.`);
    // Nothing of the post-mortem is posted before the resolution.
    expect(summaryMessages(channel, incident.number)).toEqual([]);
  });

  it("resolve <summary>, delivered twice with the same trigger_id, posts the draft's summary in the incident channel once", async () => {
    const { first, second } = await deliverTwice("resolve Rolled back cart to v41; error rate normal", channel);
    expect(first.text).toBe(`${ref} is now *Resolved*.`);
    expect(second.text).toBe("That was already done.");
    // The summary job may still be settling when the queue looks idle for a moment: wait for the message itself.
    await eventually(async () => summaryMessages(channel, incident.number).length > 0, 10_000, "post-mortem summary message");
    await jobsIdle();

    const summaries = summaryMessages(channel, incident.number);
    expect(summaries).toHaveLength(1);
    const message = summaries[0]!;
    expect(message.thread_ts).toBeUndefined();
    expect(message.text.startsWith(`Post-mortem draft for ${ref}`)).toBe(true);
    const text = mrkdwnTexts(message.blocks ?? []).join("\n");
    for (const label of METRIC_LABELS) expect(text).toContain(label);
    expect(text).toContain(`GET /api/incidents/${incident.number}/postmortem.md`);
    // The blameful note is flagged in the summary too.
    expect(text).toMatch(/blameless review flagged \d+ passages?/);
    // No other channel got it.
    expect(slack.messages.all().filter((m) => m.text.startsWith("Post-mortem draft")).map((m) => m.channel)).toEqual([channel]);
    const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: incident.number } });
    expect(row).toMatchObject({ status: "RESOLVED", summary: "Rolled back cart to v41; error rate normal" });
  });

  it("/incident postmortem posts the summary again, once per invocation (a retry of one invocation posts once)", async () => {
    const before = summaryMessages(channel, incident.number).length;
    const reply = await command("postmortem", { channel });
    expect(reply.text).toBe(`:memo: Generating the post-mortem draft of ${ref}; its summary will be posted here.`);
    await eventually(async () => summaryMessages(channel, incident.number).length === before + 1, 10_000, "second summary");

    await command("postmortem", { channel, user: "U0RESPOND1" });
    await eventually(async () => summaryMessages(channel, incident.number).length === before + 2, 10_000, "third summary");

    const { first, second } = await deliverTwice("postmortem", channel);
    expect(first.text).toContain(`post-mortem draft of ${ref}`);
    expect(second.text).toContain(`post-mortem draft of ${ref}`);
    await eventually(async () => summaryMessages(channel, incident.number).length >= before + 3, 10_000, "fourth summary");
    await jobsIdle();
    expect(summaryMessages(channel, incident.number)).toHaveLength(before + 3);
    for (const message of summaryMessages(channel, incident.number)) {
      expect(mrkdwnTexts(message.blocks ?? []).join("\n")).toContain(`GET /api/incidents/${incident.number}/postmortem.md`);
    }
  });

  it("/incident postmortem outside an incident channel is refused politely and posts nothing", async () => {
    const before = await recorded();
    const reply = await command("postmortem", { channel: ELSEWHERE });
    expect(reply.text).toBe(":information_source: Run this inside an incident channel (the one Firebreak created for the incident). `/incident list` shows them.");
    expect(await recorded()).toEqual(before);
    expect(slack.messages.all().filter((m) => m.text.startsWith("Post-mortem draft") && m.channel !== channel)).toEqual([]);
  });

  it("/incident followup delivered twice with the same trigger_id records one action item and one event", async () => {
    const itemsBefore = await app.database.prisma.actionItem.count({ where: { incidentId: incident.id } });
    const eventsBefore = (await eventsOf(incident.id)).filter((e) => e.type === "followup.added").length;
    const { first, second } = await deliverTwice("followup Alert on cart error budget burn", channel, "U0RESPOND1");
    expect(first.text).toBe(":white_check_mark: Follow-up recorded for the post-mortem.");
    expect(second.text).toBe("That follow-up was already recorded.");
    const items = await app.database.prisma.actionItem.findMany({ where: { incidentId: incident.id, title: "Alert on cart error budget burn" } });
    expect(items).toHaveLength(1);
    expect(items[0]?.createdById).toBe("U0RESPOND1");
    expect(await app.database.prisma.actionItem.count({ where: { incidentId: incident.id } })).toBe(itemsBefore + 1);
    expect((await eventsOf(incident.id)).filter((e) => e.type === "followup.added")).toHaveLength(eventsBefore + 1);
  });

  it("/incident followup without text gets usage help and records nothing", async () => {
    const before = await recorded();
    for (const text of ["followup", "followup    "]) {
      const reply = await command(text, { channel });
      expect(reply.all).toMatch(usage("/incident followup <text>"));
      expect(reply.text).toContain("*Firebreak commands*");
    }
    expect(await recorded()).toEqual(before);
  });

  it("/incident followup outside an incident channel is refused and records nothing", async () => {
    const before = await recorded();
    const reply = await command(`followup ${FOLLOW_UP}`, { channel: ELSEWHERE });
    expect(reply.text).toContain("Run this inside an incident channel");
    expect(await recorded()).toEqual(before);
  });
});

// ---- the export API -----------------------------------------------------------------------------

describe("post-mortem export API", () => {
  let incident: Incident;
  let hostile: Incident;
  let path: string;

  beforeAll(async () => {
    slack.reset();
    incident = await declare("sev2 Search results are stale");
    const channel = incident.channelId!;
    await command("status identified Indexer stuck on a poisoned message", { channel });
    await command(`note ${BLAMEFUL_NOTE}`, { channel, user: "U0RESPOND1" });
    await command(`note ${MENTION_NOTE}`, { channel });
    await command(`followup ${FOLLOW_UP}`, { channel, user: "U0RESPOND2" });
    await command("status monitoring Indexer restarted", { channel });
    await command("resolve Skipped the poisoned message; index rebuilt", { channel });
    incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    path = `/api/incidents/${incident.number}/postmortem`;
    hostile = await declare(HOSTILE_TITLE);
  });

  describe("authentication", () => {
    it.each([
      ["no Authorization header", { token: null }],
      ["a wrong token", { token: "0".repeat(32) }],
      ["the token with one character more", { token: `${TOKEN}0` }],
      ["the right token under another scheme", { authorization: `Basic ${TOKEN}` }],
      ["the bare token", { authorization: TOKEN }],
    ] as const)("%s: 401 with WWW-Authenticate, and no content", async (_name, options) => {
      for (const suffix of ["", ".md", ".html", ".json"]) {
        const response = await get(`${path}${suffix}`, options);
        expect(response.status).toBe(401);
        expect(response.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
        expect(response.body).not.toContain("Search results");
      }
    });

    it("checks the token before telling whether an incident exists", async () => {
      expect((await get("/api/incidents/999999/postmortem.md", { token: null })).status).toBe(401);
      expect((await get("/api/incidents/abc/postmortem.md", { token: "wrong-token-wrong-token" })).status).toBe(401);
    });

    it("accepts the scheme in any case", async () => {
      expect((await get(`${path}.md`, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
    });
  });

  describe("addressing", () => {
    it("an unknown incident is 404", async () => {
      const response = await get("/api/incidents/999999/postmortem.md");
      expect(response.status).toBe(404);
      expect(response.body).toContain("INC-999999");
    });

    it.each(["abc", "-1", "1.5", "1e3", "1234567890", "%20"])("a bad number (%s) is 400", async (number) => {
      const response = await get(`/api/incidents/${number}/postmortem.md`);
      expect(response.status).toBe(400);
      expect(response.body).toContain("positive whole number");
    });

    it("other files under an incident are 404", async () => {
      expect((await get(`/api/incidents/${incident.number}/postmortems.md`)).status).toBe(404);
      expect((await get(`/api/incidents/${incident.number}/timeline.json`)).status).toBe(404);
    });
  });

  describe("formats", () => {
    it(".md: Markdown with the title, the phases, the follow-up under the action items and times in UTC and Paris time", async () => {
      const response = await get(`${path}.md`);
      expect(response.status).toBe(200);
      expect(response.type).toMatch(/^text\/markdown/);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const md = response.body;
      expect(md.startsWith(`# INC-${incident.number}: Search results are stale\n`)).toBe(true);
      for (const phase of ["Detect", "Respond", "Mitigate", "Resolve"]) expect(md).toContain(`### ${phase}`);
      expect(md).toContain("## Key metrics");
      for (const label of METRIC_LABELS) expect(md).toContain(label);

      // The follow-up is a row of the action items table, inside the action items section.
      const section = md.indexOf("## Follow-up action items");
      const next = md.indexOf("\n## ", section + 1);
      expect(section).toBeGreaterThan(0);
      const actionItems = md.slice(section, next === -1 ? undefined : next);
      expect(actionItems).toContain("| Action item | Owner | Due | Priority | Status |");
      expect(actionItems).toMatch(new RegExp(`^\\| ${FOLLOW_UP} \\| unassigned \\| no due date \\| Medium \\| Open \\|$`, "m"));

      // Times: UTC first, Paris time in parentheses, as computed independently.
      expect(md).toContain("UTC (");
      expect(md).toMatch(/ CES?T\)/);
      expect(md).toContain(`Times are in UTC, with local time in ${TIME_ZONE} in parentheses.`);
      const declared = expectedStamp(incident.declaredAt);
      expect(declared.zone).toMatch(/^CES?T$/);
      expect(md).toContain(`| Declared | ${declared.display} |`);
      expect(md).toContain(`| Resolved | ${expectedStamp(incident.resolvedAt!).display} |`);

      // The blameful note is kept as written in the timeline, and flagged by the review.
      expect(md).toContain(`**Note**: ${BLAMEFUL_NOTE}`);
      expect(md).toContain("## Blameless-language review");
      expect(md.slice(md.indexOf("## Blameless-language review"))).toContain("Bob's fault");
    });

    it(".html: a standalone HTML page; a hostile title is escaped", async () => {
      const response = await get(`${path}.html`);
      expect(response.status).toBe(200);
      expect(response.type).toMatch(/^text\/html/);
      expect(response.body).toMatch(/^<!DOCTYPE html>/);
      expect(response.body).toContain(`<h1>INC-${incident.number}: Search results are stale</h1>`);
      expect(response.body).toContain(FOLLOW_UP);

      const page = await get(`/api/incidents/${hostile.number}/postmortem.html`);
      expect(page.status).toBe(200);
      expect(page.type).toMatch(/^text\/html/);
      expect(page.body).toContain(`<h1>INC-${hostile.number}: &lt;script&gt;alert(1)&lt;/script&gt;</h1>`);
      expect(page.body).toContain(`<title>INC-${hostile.number}: &lt;script&gt;alert(1)&lt;/script&gt; (post-mortem draft)</title>`);
      expect(page.body).not.toMatch(/<script/i);
      expect(page.body).not.toMatch(/<\/script/i);

      // Markdown escapes it too; JSON carries the title as data.
      const md = await get(`/api/incidents/${hostile.number}/postmortem.md`);
      expect(md.body).not.toContain("<script>");
      const doc = await getJson(`/api/incidents/${hostile.number}/postmortem.json`);
      expect(doc.header.title).toBe(HOSTILE_TITLE);
    });

    it(".json: valid JSON, schemaVersion 1, the metrics, the header, the phases and the action items", async () => {
      const doc = await getJson(`${path}.json`);
      expect(doc.schemaVersion).toBe(1);
      expect(doc.audience).toBe("internal");
      expect(doc.timeZone).toBe(TIME_ZONE);
      expect(doc.header).toMatchObject({ number: incident.number, ref: `INC-${incident.number}`, title: "Search results are stale", severity: "SEV2", status: "RESOLVED" });
      expect(Array.isArray(doc.metrics)).toBe(true);
      expect(doc.metrics.map((m) => m.key)).toEqual(["timeToDetect", "timeToAcknowledge", "timeToMitigate", "timeToResolve", "duration"]);
      expect(doc.metrics.map((m) => m.label)).toEqual(METRIC_LABELS);
      const resolve = doc.metrics.find((m) => m.key === "timeToResolve")!;
      expect(resolve.ms).toBe(incident.resolvedAt!.getTime() - incident.declaredAt.getTime());
      expect(doc.timeline.phases.map((p) => p.phase)).toEqual(["detect", "respond", "mitigate", "resolve"]);
      // Each event in its phase: declared (detect), identified and the notes (respond), monitoring (mitigate), resolved (resolve).
      const types = Object.fromEntries(doc.timeline.phases.map((p) => [p.phase, p.entries.map((e) => e.type)]));
      expect(types.detect).toContain("incident.declared");
      expect(types.respond).toEqual(expect.arrayContaining(["status.changed", "note.added", "followup.added"]));
      expect(types.mitigate).toEqual(["status.changed"]);
      expect(types.resolve).toEqual(["incident.resolved"]);
      expect(doc.timeline.entryCount).toBe(doc.timeline.phases.reduce((sum, p) => sum + p.entries.length, 0));
      expect(doc.actionItems).toEqual([expect.objectContaining({ title: FOLLOW_UP, status: "OPEN", priority: "MEDIUM" })]);
      expect(doc.summary.resolveSummary).toBe("Skipped the poisoned message; index rebuilt");
      const declared = doc.header.dates.find((d) => d.key === "declared");
      expect(declared?.at).toMatchObject({ iso: incident.declaredAt.toISOString(), display: expectedStamp(incident.declaredAt).display });
    });

    it("without an extension, the Accept header chooses the format (Markdown by default)", async () => {
      const html = await get(path, { accept: "text/html" });
      expect(html.status).toBe(200);
      expect(html.type).toMatch(/^text\/html/);
      expect(html.body).toMatch(/^<!DOCTYPE html>/);

      const browser = await get(path, { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" });
      expect(browser.type).toMatch(/^text\/html/);

      const json = await get(path, { accept: "application/json" });
      expect(json.type).toMatch(/^application\/json/);
      expect((JSON.parse(json.body) as { schemaVersion?: unknown }).schemaVersion).toBe(1);

      const plain = await get(path);
      expect(plain.type).toMatch(/^text\/markdown/);
      expect(plain.body.startsWith(`# INC-${incident.number}:`)).toBe(true);
    });

    it("an unsupported extension is 406", async () => {
      for (const extension of ["pdf", "txt", "htm"]) {
        const response = await get(`${path}.${extension}`);
        expect(response.status, extension).toBe(406);
        expect(response.body).toContain(".md, .html, .json");
      }
    });

    it("an extension named like an Object.prototype member is 406 too, not served", async () => {
      const extensions = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"];
      const statuses: Array<[string, number]> = [];
      for (const extension of extensions) statuses.push([extension, (await get(`${path}.${extension}`)).status]);
      expect(statuses).toEqual(extensions.map((extension) => [extension, 406]));
    });
  });

  describe("audiences", () => {
    const USER_ID = /U0[A-Z0-9]+/;

    it("internal (the default) names people by their ids", async () => {
      const internal = await get(`${path}.json?audience=internal`);
      expect(internal.status).toBe(200);
      expect(internal.body).toMatch(USER_ID);
      expect(internal.body).toContain("U0DECLARER");
      expect((await get(`${path}.json`)).body).toContain("U0DECLARER");
    });

    it("?audience=public leaves out every Slack user id, in every format", async () => {
      for (const extension of ["md", "html", "json"]) {
        const response = await get(`${path}.${extension}?audience=public`);
        expect(response.status, extension).toBe(200);
        const match = USER_ID.exec(response.body);
        expect(match, `${extension}: ${match ? response.body.slice(Math.max(0, match.index - 80), match.index + 40) : ""}`).toBeNull();
      }
      const doc = await getJson(`${path}.json?audience=public`);
      expect(doc.audience).toBe("public");
      expect(doc.header).toMatchObject({ commander: null, declaredBy: null, participants: [], namesWithheld: true });
      // A public incident's text stays; the mention inside it is replaced by a role.
      const details = doc.timeline.phases.flatMap((p) => p.entries).map((e) => e.detail);
      expect(details).toContain("Paged a responder for the cart service");
      expect(doc.actionItems.map((item) => item.title)).toEqual([FOLLOW_UP]);
    });

    it.each(["bogus", "PUBLIC", ""])("?audience=%s is 400", async (audience) => {
      const response = await get(`${path}.json?audience=${audience}`);
      expect(response.status).toBe(400);
      expect(response.body).toContain("audience must be internal or public");
    });
  });

  describe("blameless review", () => {
    it("flags the blameful note in review.findings and leaves the note unchanged in the timeline", async () => {
      const doc = await getJson(`${path}.json`);
      const note = doc.timeline.phases.flatMap((p) => p.entries).find((e) => e.type === "note.added" && e.detail?.includes("Bob"));
      expect(note?.detail).toBe(BLAMEFUL_NOTE);
      expect(note?.actor).toBe("U0RESPOND1");

      const onNote = doc.review.findings.filter((f) => f.where.includes("Note"));
      expect(onNote.map((f) => [f.ruleId, f.match])).toEqual(
        expect.arrayContaining([
          ["possessive-fault", "Bob's fault"],
          ["human-error", "human error"],
        ]),
      );
      for (const finding of onNote) {
        expect(finding.excerpt).toContain(finding.match);
        expect(finding.suggestion.length).toBeGreaterThan(0);
      }
      // Only the blameful text is flagged: not the title, the updates, the follow-up or the other note.
      expect(doc.review.findings.every((f) => f.excerpt.includes("Bob's fault") || f.excerpt.includes("human error"))).toBe(true);

      // The database keeps what was typed.
      const events = await eventsOf(incident.id);
      expect(events.filter((e) => e.type === "note.added").map((e) => e.data)).toContainEqual({ text: BLAMEFUL_NOTE });
    });
  });
});

// ---- without API_TOKEN --------------------------------------------------------------------------

describe("with API_TOKEN unset", () => {
  let bare: TestApp | undefined;

  afterAll(async () => {
    await bare?.stop();
    if (bare) await removeDir(bare.dataDir);
  });

  it("the post-mortem route does not exist (404), with or without a token", async () => {
    bare = await startTestApp({ slack, env: { TIME_ZONE } });
    for (const suffix of ["", ".md", ".html", ".json"]) {
      for (const token of [null, TOKEN] as const) {
        const response = await get(`/api/incidents/1/postmortem${suffix}`, { token, url: bare.url });
        expect(response.status).toBe(404);
        expect(response.headers.get("www-authenticate")).toBeNull();
      }
    }
    // The app itself is up.
    expect((await fetch(`${bare.url}/readyz`)).status).toBe(200);
  });
});
