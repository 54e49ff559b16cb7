import { randomUUID } from "node:crypto";
import { WebClient } from "@slack/web-api";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { incidentHeader } from "../../src/incident/views.ts";
import { showsCurrent } from "../../src/reconcile/compare.ts";
import { reconcileRoundJob } from "../../src/reconcile/flows.ts";
import { startFakeSlack, type FakeSlack, type FakeSlackCall, type RateLimitOverrides } from "../fakes/slack/index.ts";
import { silentLogger } from "../fakes/slack/test-client.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, testClock, waitForIdleJobs, type TestApp, type TestAppOptions } from "../support/app.ts";
import { loadManifest } from "../support/manifest.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { sendCommand, TEST_BOT_TOKEN } from "../support/slack-requests.ts";
import { HOSTILE, incident as incidentFixture } from "../unit/incident-fixtures.ts";

/**
 * The reconciler through the real app, on PostgreSQL, against the fake Slack:
 * rounds are started through the job queue (a `reconcile.round` job, as the
 * schedule enqueues it) or by moving the app's clock to the next interval,
 * and the tests wait for the round's jobs to finish, never for time to pass.
 * Slack is changed behind Firebreak's back the way people and admins do it
 * (a deleted header, a removed bookmark, an archived or deleted channel).
 */

/** Every call the reconciler makes to repair something (its reads are conversations.info, conversations.history and bookmarks.list). */
const REPAIRS = new Set(["chat.postMessage", "chat.update", "bookmarks.add", "bookmarks.edit", "pins.add", "conversations.setTopic", "chat.getPermalink"]);

// Rounds here run back to back (in production one every 5 minutes) and each test declares its
// own incident (channel, topic, bookmark, pin): far faster than Slack's Tier 2 and 3 limits allow.
const FAST: RateLimitOverrides = Object.fromEntries(
  ["conversations.create", "conversations.setTopic", "conversations.info", "conversations.history", "bookmarks.list", "bookmarks.add", "bookmarks.edit", "pins.add", "chat.update"].map((method) => [method, TEST_SPEED]),
);

/** The app's scopes, bookmarks:read (which bookmarks.list needs) among them. */
const SCOPES = loadManifest().oauth_config.scopes.bot;

/** What a describe block below runs against: the fake Slack and apps on a database of their own. */
interface Running {
  readonly slack: FakeSlack;
  readonly apps: readonly TestApp[];
  /** Stops the apps (removing their data directories), drops the database and closes Slack. */
  stop(): Promise<void>;
}

/**
 * Starts the fake Slack with `scopes` (the declarer in it, the FAST rate limits), a database of its
 * own on the test PostgreSQL and one app on it per entry of `apps`, one after the other (the first
 * applies the migrations, the next find them applied). What started is stopped again if a start fails.
 */
async function startApps(scopes: readonly string[], apps: ReadonlyArray<Omit<TestAppOptions, "slack" | "databaseUrl">>): Promise<Running> {
  const slack = await startFakeSlack({ scopes: [...scopes], rateLimits: FAST, users: [{ id: "U0DECLARER", name: "declarer" }] });
  const started: TestApp[] = [];
  let database: TestDatabase | undefined;
  const stop = async () => {
    for (const app of started) {
      await app.stop();
      await removeDir(app.dataDir);
    }
    await database?.drop();
    await slack.close();
  };
  try {
    database = await createTestDatabase(inject("postgresUrl"));
    for (const options of apps) started.push(await startTestApp({ ...options, slack, databaseUrl: database.url }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { slack, apps: started, stop };
}

interface Declared {
  id: string;
  number: number;
  channelId: string;
  headerTs: string;
  bookmarkId: string;
}

/** Declares an incident with /incident and waits until its channel, header and bookmark are in place. */
async function declare(app: TestApp, title: string): Promise<Declared> {
  const response = await sendCommand(app.url, `declare ${title}`);
  const number = Number(/INC-(\d+)/.exec(JSON.stringify(response.body))?.[1]);
  expect(number).toBeGreaterThan(0);
  const row = await eventually(
    async () => {
      const incident = await app.database.prisma.incident.findUnique({ where: { number } });
      return incident?.channelId && incident.headerMessageTs && incident.bookmarkId ? incident : undefined;
    },
    15_000,
    `INC-${number} set up in Slack`,
  );
  await waitForIdleJobs(app);
  return { id: row.id, number, channelId: row.channelId!, headerTs: row.headerMessageTs!, bookmarkId: row.bookmarkId! };
}

/** The calls made for one channel since `mark` (an index into slack.calls). */
function callsFor(slack: FakeSlack, channelId: string, mark: number): FakeSlackCall[] {
  return slack.calls.slice(mark).filter((call) => (call.args.channel ?? call.args.channel_id) === channelId);
}

const writes = (calls: readonly FakeSlackCall[]) => calls.filter((call) => REPAIRS.has(call.method));

/** Starts a round through the job queue, as the schedule does; returns its id. */
async function startRound(app: TestApp): Promise<string> {
  const round = `test-${randomUUID()}`;
  await reconcileRoundJob.enqueue(app.database.prisma, { round }, { dedupeKey: `reconcile:round:${round}` });
  return round;
}

/** Starts a round and waits until it has checked every open incident. */
async function runRound(app: TestApp): Promise<void> {
  await roundFinished(app, await startRound(app));
  // What the round enqueued for others (a pin of a re-posted header) is done too.
  await waitForIdleJobs(app);
}

async function roundFinished(app: TestApp, round: string): Promise<void> {
  const prisma = app.database.prisma;
  await eventually(
    async () => {
      const job = await prisma.job.findFirst({ where: { kind: "reconcile.round", payload: { path: ["round"], equals: round } } });
      if (job?.status !== "DONE") return false;
      return (await prisma.job.count({ where: { kind: "reconcile.check", status: { in: ["PENDING", "RUNNING"] } } })) === 0;
    },
    20_000,
    `round ${round} finished`,
  );
}

async function driftEvents(app: TestApp, incidentId: string) {
  const rows = await app.database.prisma.timelineEvent.findMany({ where: { incidentId, type: "channel.drift" }, orderBy: { id: "asc" } });
  return rows.map((row) => {
    const data = row.data as { check: string; outcome: string };
    return `${data.check}:${data.outcome}`;
  });
}

/** `firebreak_reconcile_drift_total{check,outcome}` as the app's /metrics shows it. */
async function driftMetric(app: TestApp, check: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split("\n").find((entry) => entry.startsWith(`firebreak_reconcile_drift_total{check="${check}",outcome="${outcome}"}`));
  return Number(line?.split(" ").at(-1) ?? Number.NaN);
}

function warnings(app: TestApp, text: string): number {
  return app.logs.lines.filter((line) => line.includes('"level":40') && line.includes(text)).length;
}

describe("the reconciler, one app", () => {
  let running: Running | undefined;
  let slack: FakeSlack;
  let app: TestApp;
  let bot: WebClient;

  beforeAll(async () => {
    // No schedule (0): each test starts its rounds through the job queue.
    running = await startApps(SCOPES, [{ env: { RECONCILE_INTERVAL_SECONDS: "0", RECONCILE_CHECKS_PER_MINUTE: "600" } }]);
    slack = running.slack;
    app = running.apps[0]!;
    bot = new WebClient(TEST_BOT_TOKEN, { slackApiUrl: slack.url, retryConfig: { retries: 0 }, logger: silentLogger });
  }, 60_000);

  afterAll(() => running?.stop());

  it("checks a clean incident with three reads and repairs nothing", async () => {
    const incident = await declare(app, "Clean checkout");
    const mark = slack.calls.length;
    await runRound(app);
    const calls = callsFor(slack, incident.channelId, mark);
    expect(calls.map((call) => call.method).sort()).toEqual(["bookmarks.list", "conversations.history", "conversations.info"]);
    expect(calls.every((call) => call.ok)).toBe(true);
    expect(await driftEvents(app, incident.id)).toEqual([]);
  });

  it("posts a deleted header again, stores its ts, pins it and points the bookmark at it; the next round finds nothing", async () => {
    const incident = await declare(app, "Header goes missing");
    const before = await driftMetric(app, "header_missing", "repaired");
    slack.messages.deleteAs(incident.channelId, incident.headerTs);
    const mark = slack.calls.length;
    await runRound(app);

    const posts = callsFor(slack, incident.channelId, mark).filter((call) => call.method === "chat.postMessage");
    expect(posts).toHaveLength(1);
    const ts = String(posts[0]?.response.ts);
    const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(row.headerMessageTs).toBe(ts);
    expect(ts).not.toBe(incident.headerTs);
    expect(JSON.stringify(slack.messages.get(incident.channelId, ts)?.blocks)).toContain(`INC-${incident.number}: Header goes missing`);
    expect(slack.pins.isPinned(incident.channelId, ts)).toBe(true);
    expect(slack.bookmarks.byId(incident.bookmarkId)?.link).toContain(`/p${ts.replace(".", "")}`);
    expect(await driftEvents(app, incident.id)).toEqual(["header_missing:repaired", "bookmark_outdated:repaired"]);
    expect(await driftMetric(app, "header_missing", "repaired")).toBe(before + 1);

    const again = slack.calls.length;
    await runRound(app);
    expect(writes(callsFor(slack, incident.channelId, again))).toEqual([]);
    expect(await driftEvents(app, incident.id)).toHaveLength(2);
  });

  it("posts a deleted header once when the answer to the re-post is lost and the check runs again", async () => {
    const incident = await declare(app, "Header answer lost");
    slack.messages.deleteAs(incident.channelId, incident.headerTs);
    // Slack posts it, but answers after the app's 2 s timeout: the check fails and is retried.
    slack.setLatency(2_500, "chat.postMessage");
    const mark = slack.calls.length;
    const arrived = slack.requests.length;
    const round = await startRound(app);
    try {
      await eventually(async () => slack.requests.slice(arrived).some((request) => request.method === "chat.postMessage"), 10_000, "the re-post sent");
    } finally {
      slack.setLatency(0, "chat.postMessage");
    }
    await roundFinished(app, round);
    await waitForIdleJobs(app);
    expect(callsFor(slack, incident.channelId, mark).filter((call) => call.method === "chat.postMessage")).toHaveLength(1);
    const headers = slack.messages.topLevel(incident.channelId).filter((message) => JSON.stringify(message.blocks).includes(`INC-${incident.number}: Header answer lost`));
    expect(headers).toHaveLength(1);
    expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).headerMessageTs).toBe(headers[0]?.ts);
    expect(await driftEvents(app, incident.id)).toEqual(["header_missing:repaired", "bookmark_outdated:repaired"]);
  });

  it("updates a header that is out of date or was changed, to what the header view renders now", async () => {
    const incident = await declare(app, "Header drifts");
    // The title changed in the database, and the header update was lost.
    await app.database.prisma.incident.update({ where: { id: incident.id }, data: { title: "Header drifts, renamed" } });
    let mark = slack.calls.length;
    await runRound(app);
    let calls = writes(callsFor(slack, incident.channelId, mark));
    expect(calls.map((call) => call.method)).toEqual(["chat.update"]);
    expect(JSON.stringify(slack.messages.get(incident.channelId, incident.headerTs)?.blocks)).toContain(`INC-${incident.number}: Header drifts, renamed`);
    const current = slack.messages.get(incident.channelId, incident.headerTs)?.blocks;

    // Something else rewrote the header with the bot's token.
    await bot.chat.update({ channel: incident.channelId, ts: incident.headerTs, text: "tampered", blocks: [{ type: "section", text: { type: "mrkdwn", text: "tampered" } }] });
    mark = slack.calls.length;
    await runRound(app);
    calls = writes(callsFor(slack, incident.channelId, mark));
    expect(calls.map((call) => call.method)).toEqual(["chat.update"]);
    expect(slack.messages.get(incident.channelId, incident.headerTs)?.blocks).toEqual(current);
    expect(await driftEvents(app, incident.id)).toEqual(["header_outdated:repaired", "header_outdated:repaired"]);

    mark = slack.calls.length;
    await runRound(app);
    expect(writes(callsFor(slack, incident.channelId, mark))).toEqual([]);
  });

  it("adds a removed bookmark again and restores one a person renamed", async () => {
    const incident = await declare(app, "Bookmark goes missing");
    slack.bookmarks.removeAs("U0DECLARER", incident.channelId, incident.bookmarkId);
    let mark = slack.calls.length;
    await runRound(app);
    const added = callsFor(slack, incident.channelId, mark).filter((call) => call.method === "bookmarks.add");
    expect(added).toHaveLength(1);
    const bookmarkId = String((added[0]?.response.bookmark as { id?: string } | undefined)?.id);
    expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).bookmarkId).toBe(bookmarkId);
    expect(slack.bookmarks.in(incident.channelId).map((bookmark) => [bookmark.title, bookmark.link.includes(`/p${incident.headerTs.replace(".", "")}`)])).toEqual([
      [`INC-${incident.number} · SEV3 · Investigating`, true],
    ]);

    slack.bookmarks.editAs("U0DECLARER", incident.channelId, bookmarkId, { title: "my notes" });
    mark = slack.calls.length;
    await runRound(app);
    expect(writes(callsFor(slack, incident.channelId, mark)).map((call) => call.method)).toEqual(["chat.getPermalink", "bookmarks.edit"]);
    expect(slack.bookmarks.byId(bookmarkId)?.title).toBe(`INC-${incident.number} · SEV3 · Investigating`);
    expect(await driftEvents(app, incident.id)).toEqual(["bookmark_missing:repaired", "bookmark_outdated:repaired"]);
  });

  it("reports an archived channel once (timeline, warning, metric), not again next round, and again after it was unarchived and archived anew", async () => {
    const incident = await declare(app, "Channel archived");
    const before = await driftMetric(app, "channel_archived", "reported");
    const warned = warnings(app, "The incident channel is archived");
    slack.channels.archive(incident.channelId);
    let mark = slack.calls.length;
    await runRound(app);
    expect(callsFor(slack, incident.channelId, mark).map((call) => call.method)).toEqual(["conversations.info"]);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_archived:reported"]);
    const event = await app.database.prisma.timelineEvent.findFirstOrThrow({ where: { incidentId: incident.id, type: "channel.drift" } });
    expect(event.text).toBe("The incident channel is archived while the incident is open: unarchive it in Slack (a bot cannot)");
    expect(await driftMetric(app, "channel_archived", "reported")).toBe(before + 1);
    expect(warnings(app, "The incident channel is archived")).toBe(warned + 1);

    mark = slack.calls.length;
    await runRound(app);
    expect(callsFor(slack, incident.channelId, mark).map((call) => call.method)).toEqual(["conversations.info"]);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_archived:reported"]);
    expect(await driftMetric(app, "channel_archived", "reported")).toBe(before + 1);
    expect(warnings(app, "The incident channel is archived")).toBe(warned + 1);

    // A person unarchives it: cleared; archived again later: a new drift, reported again.
    slack.channels.unarchive(incident.channelId);
    await runRound(app);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_archived:reported", "channel_archived:cleared"]);
    slack.channels.archive(incident.channelId);
    await runRound(app);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_archived:reported", "channel_archived:cleared", "channel_archived:reported"]);
    expect(await driftMetric(app, "channel_archived", "reported")).toBe(before + 2);
  });

  it("reports a deleted channel once and makes one read a round for it afterwards", async () => {
    const incident = await declare(app, "Channel deleted");
    const before = await driftMetric(app, "channel_missing", "reported");
    slack.channels.delete(incident.channelId);
    await runRound(app);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_missing:reported"]);
    expect(await driftMetric(app, "channel_missing", "reported")).toBe(before + 1);

    const mark = slack.calls.length;
    await runRound(app);
    expect(callsFor(slack, incident.channelId, mark).map((call) => [call.method, call.error])).toEqual([["conversations.info", "channel_not_found"]]);
    expect(await driftEvents(app, incident.id)).toEqual(["channel_missing:reported"]);
    expect(await driftMetric(app, "channel_missing", "reported")).toBe(before + 1);
  });

  it("paces a round: one incident after the other, RECONCILE_CHECKS_PER_MINUTE apart", async () => {
    const incidents = [await declare(app, "Paced one"), await declare(app, "Paced two"), await declare(app, "Paced three")];
    const mark = slack.calls.length;
    await runRound(app);
    const channels = new Set(incidents.map((incident) => incident.channelId));
    const infos = slack.calls.slice(mark).filter((call) => call.method === "conversations.info");
    expect(infos.filter((call) => channels.has(String(call.args.channel)))).toHaveLength(3);
    // 600 a minute: a check starts at least 100 ms after the previous one finished.
    for (let i = 1; i < infos.length; i++) expect(infos[i]!.at - infos[i - 1]!.at).toBeGreaterThanOrEqual(95);
  });
});

describe("the reconciler, two apps on one database", () => {
  let running: Running | undefined;
  let slack: FakeSlack;
  let apps: readonly TestApp[] = [];
  const clock = testClock();
  const HOUR = 60 * 60_000;
  const slot = (at: Date) => new Date(Math.floor(at.getTime() / HOUR) * HOUR).toISOString();

  beforeAll(async () => {
    // A round an hour, asked for by both apps at every sweep (every 100 ms here).
    const app = { env: { RECONCILE_INTERVAL_SECONDS: "3600", RECONCILE_CHECKS_PER_MINUTE: "600" }, clock, worker: { sweepIntervalMs: 100 } };
    running = await startApps(SCOPES, [app, app]);
    ({ slack, apps } = running);
  }, 90_000);

  afterAll(() => running?.stop());

  it("runs each interval's round once: one header posted again, one archived channel reported", async () => {
    const [first, second] = [apps[0]!, apps[1]!];
    const header = await declare(first, "Replicas lose a header");
    const archived = await declare(second, "Replicas lose a channel");
    // The round of the current hour, asked for by both apps as they started, ran once.
    await roundFinished(first, slot(clock.now()));
    await waitForIdleJobs(first);

    slack.messages.deleteAs(header.channelId, header.headerTs);
    slack.channels.archive(archived.channelId);
    const mark = slack.calls.length;
    clock.advance(HOUR);
    const next = slot(clock.now());
    await roundFinished(first, next);
    await waitForIdleJobs(first);

    const prisma = first.database.prisma;
    expect(await prisma.job.count({ where: { kind: "reconcile.round", payload: { path: ["round"], equals: next } } })).toBe(1);
    expect(await prisma.job.count({ where: { kind: "reconcile.check", payload: { path: ["round"], equals: next }, incidentId: header.id } })).toBe(1);
    expect(callsFor(slack, header.channelId, mark).filter((call) => call.method === "chat.postMessage")).toHaveLength(1);
    expect(await driftEvents(first, header.id)).toEqual(["header_missing:repaired", "bookmark_outdated:repaired"]);
    expect(await driftEvents(first, archived.id)).toEqual(["channel_archived:reported"]);
    const total = async (check: string, outcome: string) => (await driftMetric(first, check, outcome)) + (await driftMetric(second, check, outcome));
    expect(await total("header_missing", "repaired")).toBe(1);
    expect(await total("channel_archived", "reported")).toBe(1);
  });
});

describe("the reconciler without the bookmarks:read scope", () => {
  let running: Running | undefined;
  let slack: FakeSlack;
  let app: TestApp;

  beforeAll(async () => {
    // An installation from before manifest.yml asked for bookmarks:read (not reinstalled since).
    running = await startApps(SCOPES.filter((scope) => scope !== "bookmarks:read"), [{ env: { RECONCILE_INTERVAL_SECONDS: "0" } }]);
    slack = running.slack;
    app = running.apps[0]!;
  }, 60_000);

  afterAll(() => running?.stop());

  it("still repairs the header, leaves the bookmark unchecked and says why once", async () => {
    const incident = await declare(app, "No bookmark scope");
    slack.messages.deleteAs(incident.channelId, incident.headerTs);
    slack.bookmarks.removeAs("U0DECLARER", incident.channelId, incident.bookmarkId);
    const mark = slack.calls.length;
    await runRound(app);
    await runRound(app);
    const calls = callsFor(slack, incident.channelId, mark);
    expect(calls.filter((call) => call.method === "chat.postMessage")).toHaveLength(1);
    expect(calls.filter((call) => call.method === "bookmarks.list").map((call) => call.error)).toEqual(["missing_scope", "missing_scope"]);
    expect(calls.filter((call) => call.method.startsWith("bookmarks.") && call.method !== "bookmarks.list")).toEqual([]);
    expect(await driftEvents(app, incident.id)).toEqual(["header_missing:repaired"]);
    expect(warnings(app, "bookmarks:read")).toBe(1);
  });
});

describe("a header in Slack compared with the header view (showsCurrent)", () => {
  const rendered = incidentHeader(incidentFixture({ title: HOSTILE, description: "Cart & payments <down>", scribeId: "U0SCRIBE1" }));

  /** What Slack may hand back for a message it was sent: a block_id on every block, emoji on plain text, verbatim on mrkdwn, a bare & < > escaped. */
  function asSlackReturnsIt(message: { text: string; blocks: readonly unknown[] }) {
    let n = 0;
    const escape = (text: string) => text.replace(/&(?!amp;|lt;|gt;)/g, "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
    const walk = (value: unknown): unknown => {
      if (typeof value === "string") return escape(value);
      if (Array.isArray(value)) return value.map(walk);
      if (value === null || typeof value !== "object") return value;
      const object = Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, walk(inner)])) as Record<string, unknown>;
      if (object.type === "plain_text" && object.emoji === undefined) object.emoji = true;
      if (object.type === "mrkdwn") object.verbatim = false;
      return object;
    };
    const blocks = (walk(message.blocks) as Array<Record<string, unknown>>).map((block) => ({ block_id: `b${++n}`, ...block }));
    return { ts: "1700000000.000100", text: escape(message.text), blocks };
  }

  it("finds the header current through Slack's additions and escaping", () => {
    expect(showsCurrent(rendered, asSlackReturnsIt(rendered))).toBe(true);
  });

  it("finds it out of date when a block, a field or a word differs", () => {
    const slack = asSlackReturnsIt(rendered);
    expect(showsCurrent(rendered, { ...slack, blocks: slack.blocks.slice(1) })).toBe(false);
    expect(showsCurrent(rendered, { ...slack, blocks: [...slack.blocks, { type: "divider" }] })).toBe(false);
    expect(showsCurrent(rendered, { ...slack, text: `${slack.text}!` })).toBe(false);
    const edited = JSON.parse(JSON.stringify(slack).replace("Investigating", "Monitoring")) as typeof slack;
    expect(showsCurrent(rendered, edited)).toBe(false);
    const withoutButtons = JSON.parse(JSON.stringify(slack).replace('"action_id":"incident.resolve"', '"action_id":"other"')) as typeof slack;
    expect(showsCurrent(rendered, withoutButtons)).toBe(false);
  });
});
