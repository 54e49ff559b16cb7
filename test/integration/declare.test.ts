import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { sendCommand, sendToSlackEndpoint, slashCommandBody } from "../support/slack-requests.ts";
import { mrkdwnStrings, plainStrings } from "../unit/block-kit.ts";

/**
 * The vertical slice through the real app on the embedded database: signed
 * /incident declare -> incident row, channel, invite, header message, all
 * observed on a fake Slack Web API server that enforces Slack's contract.
 */
let slack: FakeSlack;
let app: TestApp;
let dataDir: string;

beforeAll(async () => {
  // The fake grants exactly the manifest's scopes (its default): a call the manifest does not
  // cover fails with missing_scope, as it would in a real workspace.
  slack = await startFakeSlack({ users: [{ id: "U0DECLARER", name: "declarer" }, { id: "U0OTHER001", name: "other" }] });
  app = await startTestApp({ slack });
  dataDir = app.dataDir;
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (dataDir) await removeDir(dataDir);
});

afterEach(() => {
  expect(app.logs.text()).not.toContain("xoxb-test-token");
  expect(app.logs.text()).not.toMatch(/hooks\.slack\.com\/(commands|actions)/);
});

/** Waits until no side-effect job is running, due or waiting for a retry, so tests don't overlap. */
async function jobsIdle() {
  await waitForIdleJobs(app);
}

/**
 * The number the next declared incident gets: one more than the highest so far (1 in a fresh
 * database). Each test declares its own incidents, so that any order of the tests passes.
 */
async function nextNumber(): Promise<number> {
  const { _max } = await app.database.prisma.incident.aggregate({ _max: { number: true } });
  return (_max.number ?? 0) + 1;
}

function nonAuthCalls() {
  return slack.calls.filter((call) => call.method !== "auth.test");
}

describe("/incident declare", () => {
  afterEach(jobsIdle);
  it("acks within Slack's 3 s and creates exactly one channel, one invite and one header", async () => {
    await jobsIdle();
    slack.reset();
    const n = await nextNumber();
    const response = await sendCommand(app.url, "declare Checkout is failing");
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);
    expect(response.body).toMatchObject({ response_type: "ephemeral" });
    expect(JSON.stringify(response.body)).toContain(`INC-${n}`);

    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    await eventually(async () => (await app.database.prisma.incident.findUnique({ where: { number: n } }))?.headerMessageTs ?? undefined, 5_000, "header ts recorded");

    const creates = slack.callsTo("conversations.create");
    expect(creates).toHaveLength(1);
    expect(creates[0]?.args).toMatchObject({ name: `inc-${n}-checkout-is-failing` });
    const channel = slack.channels.byName(`inc-${n}-checkout-is-failing`);
    expect(channel).toBeDefined();

    const invites = slack.callsTo("conversations.invite");
    expect(invites).toHaveLength(1);
    expect(invites[0]?.ok).toBe(true);
    expect(channel?.members).toContain("U0DECLARER");

    const posts = slack.callsTo("chat.postMessage");
    expect(posts).toHaveLength(1);
    expect(posts[0]?.args.channel).toBe(channel?.id);
    const messages = slack.messages.in(channel!.id);
    expect(messages).toHaveLength(1);
    expect(JSON.stringify(messages[0]?.blocks)).toContain(`INC-${n}: Checkout is failing`);

    // The invite job records its event after Slack answered it: wait for that commit (the
    // header job runs alongside and may finish first).
    await eventually(
      async () => (await app.database.prisma.timelineEvent.count({ where: { type: "participant.invited", incident: { number: n } } })) > 0,
      5_000,
      "the invite recorded",
    );
    const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: n }, include: { participants: { include: { roles: true } }, events: true } });
    expect(incident).toMatchObject({ title: "Checkout is failing", severity: "SEV3", status: "INVESTIGATING", channelId: channel?.id, channelName: `inc-${n}-checkout-is-failing`, declaredById: "U0DECLARER", commanderId: "U0DECLARER" });
    expect(incident.headerMessageTs).toBe(messages[0]?.ts);
    expect(incident.participants.map((p) => p.slackUserId)).toEqual(["U0DECLARER"]);
    expect(incident.participants[0]?.roles.map((r) => r.role)).toEqual(["COMMANDER"]);
    expect(incident.events.map((e) => e.type).sort()).toEqual(["channel.created", "incident.declared", "participant.invited"]);

    // Pinned header, topic and bookmark show the state at a glance.
    await slack.waitFor({ method: "bookmarks.add", count: 1, ok: true }, 10_000);
    expect(slack.pins.isPinned(channel!.id, messages[0]!.ts)).toBe(true);
    expect(slack.channels.get(channel!.id).topic.value).toBe("SEV3 | Investigating | Commander: declarer | Checkout is failing");
    expect(slack.bookmarks.in(channel!.id).map((bookmark) => bookmark.title)).toEqual([`INC-${n} · SEV3 · Investigating`]);
    expect(slack.callsTo("chat.update")).toEqual([]);

    // Every side effect done; the only job left is the status-update reminder, due after SEV3's 60 minutes.
    await jobsIdle();
    const jobs = await app.database.prisma.job.findMany({ where: { incidentId: incident.id }, orderBy: { id: "asc" } });
    expect(jobs.filter((job) => job.status !== "DONE").map((job) => [job.kind, job.status])).toEqual([["incident.reminder", "PENDING"]]);
    const reminder = jobs.find((job) => job.kind === "incident.reminder")!;
    expect(reminder.runAt.getTime() - incident.declaredAt.getTime()).toBe(60 * 60_000);
    expect(incident.acknowledgedAt?.getTime()).toBe(incident.declaredAt.getTime());

    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it("picks the next free name when the channel name is taken", async () => {
    await jobsIdle();
    slack.reset();
    const n = await nextNumber();
    slack.channels.create({ name: `inc-${n}-payments-down` });
    await sendCommand(app.url, "declare sev1 Payments down");
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    const creates = slack.callsTo("conversations.create");
    expect(creates.map((call) => [call.args.name, call.ok ? "ok" : call.error])).toEqual([
      [`inc-${n}-payments-down`, "name_taken"],
      [`inc-${n}-payments-down-2`, "ok"],
    ]);
    const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: n } });
    expect(incident.title).toBe("Payments down");
    expect(incident.severity).toBe("SEV1");
    expect(incident.channelName).toBe(`inc-${n}-payments-down-2`);
  });

  it("honours Retry-After on 429 and still acks the command at once", async () => {
    await jobsIdle();
    slack.reset();
    const n = await nextNumber();
    slack.rateLimit("conversations.create", { retryAfterSeconds: 1, times: 1 });
    const started = Date.now();
    const response = await sendCommand(app.url, "declare Search is slow");
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    const creates = slack.callsTo("conversations.create");
    expect(creates.map((call) => call.status)).toEqual([429, 200]);
    expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: n } });
    expect(incident.title).toBe("Search is slow");
    expect(incident.channelName).toBe(`inc-${n}-search-is-slow`);
  });

  it("acks fast even when Slack itself is slow", async () => {
    await jobsIdle();
    slack.reset();
    slack.setLatency(1_500, "conversations.create");
    const response = await sendCommand(app.url, "declare Slow Slack day");
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(1_000);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    slack.setLatency(0);
  });

  it("shows a hostile title as typed, in plain text and mrkdwn alike, and it notifies no one", async () => {
    await jobsIdle();
    slack.reset();
    slack.usergroups.create({ id: "S0SRETEAM1", handle: "sre", users: ["U0RESPOND1"] });
    const typed = "Payments @channel @here @sre @riley.responder down, see https://evil.example #general";
    // What Slack sends for it (the manifest escapes /incident): wire syntax for everything it recognises.
    const wire = slack.commandText(`declare ${typed}`);
    expect(wire).toBe("declare Payments <!channel> <!here> <!subteam^S0SRETEAM1|@sre> <@U0RESPOND1|riley.responder> down, see <https://evil.example> <#C0GENERAL0|general>");
    const response = await sendCommand(app.url, wire);
    const n = Number(/\*INC-(\d+)\*/.exec(JSON.stringify(response.body))?.[1]);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: n } });
    expect(incident.title).toBe(typed);
    expect(incident.channelName).toBe(`inc-${n}-payments-channel-here-sre-riley-responder-down-see-https-evil-example-general`.slice(0, 80).replace(/-+$/, ""));

    const header = slack.callsTo("chat.postMessage")[0]!;
    // Plain-text surfaces (the header block) read as typed.
    expect(plainStrings(header.args.blocks).join("\n")).toContain(typed);
    // mrkdwn surfaces and fallback texts never carry the wire syntax that notifies.
    const surfaces = [JSON.stringify(response.body), String(header.args.text), ...mrkdwnStrings(header.args.blocks)].join("\n");
    for (const ping of ["<!channel>", "<!here>", "<!subteam^", "<@U0RESPOND1", "<https://evil.example"]) expect(surfaces).not.toContain(ping);
    expect(surfaces).toContain("@channel");
  });
});

describe("bad input changes nothing", () => {
  // The incidents declared above still have set-up jobs (pins, topic) running: they would change
  // the counts, or reach the fake Slack after its reset, while a test below watches.
  beforeEach(async () => {
    await waitForIdleJobs(app);
  });

  async function counts() {
    return {
      incidents: await app.database.prisma.incident.count(),
      events: await app.database.prisma.timelineEvent.count(),
      jobs: await app.database.prisma.job.count(),
    };
  }

  it.each([
    ["unsigned", { unsigned: true }],
    ["badly signed", { forgedSignature: "v0=0000000000000000000000000000000000000000000000000000000000000000" }],
    ["signed with another secret", { secret: "0123456789abcdef0123456789abcdef" }],
    ["stale (6 minutes old)", { timestamp: Math.floor(Date.now() / 1000) - 360 }],
  ])("rejects %s requests with 401", async (_name, options) => {
    slack.reset();
    const before = await counts();
    const response = await sendToSlackEndpoint(app.url, slashCommandBody({ text: "declare Should not exist" }), options);
    expect(response.status).toBe(401);
    expect(await counts()).toEqual(before);
    expect(nonAuthCalls()).toEqual([]);
  });

  it.each([
    ["an unknown subcommand", "frobnicate now", /don't know the command/],
    ["declare with a severity but no title", "declare sev1", /needs a title/],
    ["nothing at all", "", /Firebreak commands/],
  ])("answers %s with ephemeral help", async (_name, text, expected) => {
    slack.reset();
    const before = await counts();
    const response = await sendCommand(app.url, text);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ response_type: "ephemeral" });
    expect(JSON.stringify(response.body)).toMatch(expected);
    expect(JSON.stringify(response.body)).toContain("/incident declare");
    expect(await counts()).toEqual(before);
    expect(nonAuthCalls()).toEqual([]);
  });

  it("refuses bodies over 1 MiB with 413 before parsing", async () => {
    const before = await counts();
    const response = await sendToSlackEndpoint(app.url, `text=${"a".repeat(1024 * 1024 + 10)}`);
    expect(response.status).toBe(413);
    expect(await counts()).toEqual(before);
  });
});

describe("operations endpoints", () => {
  it("serves /healthz, /readyz and Prometheus /metrics", async () => {
    // A declaration of its own, for the counters below to count.
    await jobsIdle();
    slack.reset();
    await sendCommand(app.url, "declare Metrics are counted");
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    await jobsIdle();
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
    const metrics = await fetch(`${app.url}/metrics`);
    expect(metrics.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/firebreak_incidents_declared_total\{severity="SEV3",source="SLACK"\} \d+/);
    expect(text).toMatch(/firebreak_jobs_total\{kind="incident.create_channel",outcome="done"\} \d+/);
    expect(text).toContain("firebreak_process_cpu_seconds_total");
  });
});

describe("restart", () => {
  it("keeps incidents in the embedded data directory and numbers on", async () => {
    await jobsIdle();
    slack.reset();
    const n = await nextNumber();
    await sendCommand(app.url, "declare Before restart");
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    await jobsIdle();
    const before = await app.database.prisma.incident.count();
    expect(before).toBeGreaterThan(0);
    await app.stop();
    app = await startTestApp({ slack, dataDir });
    expect(await app.database.prisma.incident.count()).toBe(before);
    const kept = await app.database.prisma.incident.findUniqueOrThrow({ where: { number: n } });
    expect(kept.title).toBe("Before restart");
    slack.reset();
    await sendCommand(app.url, "declare After restart");
    const next = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: "After restart" } })) ?? undefined);
    expect(next.number).toBe(n + 1);
    await jobsIdle();
  });
});
