import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Severity } from "../../src/generated/prisma/enums.ts";
import { ACTIONS, FIELDS, VIEWS } from "../../src/incident/views.ts";
import { startFakeSlack, type FakeMessage, type FakeSlack, type FakeSlackCall, type FakeView } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, type TestApp, INCIDENT_LIFE_AT_TEST_SPEED } from "../support/app.ts";
import { sendCommand, type SlackResponse } from "../support/slack-requests.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission, type OptionInput, type StateValuesInput } from "../support/slack-payloads.ts";

/**
 * Running an incident from Slack through the real app (embedded database):
 * the declare modal, the header buttons and their modals, Slack's 429s,
 * status-update reminders and a restart in the middle of it all. Requests are
 * signed as Slack signs them; the assertions read the fake Slack's workspace
 * AND the database.
 */

const ANNOUNCE = "C0ANNOUNCE1";
const DECLARER = "U0DECLARER";
const RESPONDER = "U0RESPOND1";
const OWNER = "U0RESPOND2";
const ADMIN = "U0COMMANDR";

const CONFIG = `
incidents:
  admins: [${ADMIN}]
  announcementChannel: ${ANNOUNCE}
severities:
  SEV4:
    updateIntervalMinutes: 1
services:
  - key: checkout
    name: Checkout
    owners: [${OWNER}]
  - key: search
    name: Search
`;

let slack: FakeSlack;
let app: TestApp;
let root: string;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  slack = await startFakeSlack({
    // An incident's whole life in seconds (and a post a second per channel: Slack's pace there
    // is tested in this file's own 429 tests).
    rateLimits: {
      ...INCIDENT_LIFE_AT_TEST_SPEED,
      // Per channel, and in the workspace (300 a minute): dozens of incidents post in seconds.
      "chat.postMessage": { ...TEST_SPEED, perChannel: TEST_SPEED },
    },
  });
  slack.channels.create({ name: "incidents", id: ANNOUNCE, botIsMember: false });
  // The YAML config and the embedded database live in the test's own temp dir.
  root = await mkdtemp(join(tmpdir(), "firebreak-lifecycle-"));
  dataDir = join(root, "data");
  const configPath = join(root, "firebreak.yml");
  await writeFile(configPath, CONFIG, "utf8");
  env = { FIREBREAK_CONFIG: configPath };
  app = await startTestApp({ slack, dataDir, env });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (root) await removeDir(root);
});

/** Waits until no side-effect job is due (pending or running), so tests don't overlap. */
async function jobsIdle() {
  await eventually(async () => (await app.database.prisma.job.count({ where: { status: { in: ["PENDING", "RUNNING"] }, runAt: { lte: new Date() } } })) === 0, 15_000, "job queue idle");
}

let deadBefore = 0;

beforeEach(async () => {
  deadBefore = await app.database.prisma.job.count({ where: { status: "DEAD" } });
});

afterEach(async () => {
  await jobsIdle();
  expect(app.logs.text()).not.toContain("xoxb-test-token");
  // Every side effect of the test went through: none failed for good.
  expect(await app.database.prisma.job.count({ where: { status: "DEAD" } })).toBe(deadBefore);
});

// ---------------------------------------------------------------------------------------------
// helpers

interface Ready {
  id: string;
  number: number;
  title: string;
  channelId: string;
  headerTs: string;
  announcementTs: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Declares with the slash command and waits until channel, header, topic, bookmark and announcement are done. */
async function declare(title: string, severity: Severity = "SEV3", user = DECLARER): Promise<Ready> {
  const response = await sendCommand(app.url, `declare ${severity.toLowerCase()} ${title}`, { user_id: user });
  expect(response.status).toBe(200);
  const row = await eventually(
    async () => {
      const incident = await app.database.prisma.incident.findFirst({ where: { title } });
      return incident?.channelId && incident.headerMessageTs && incident.bookmarkId && incident.announcementTs ? incident : undefined;
    },
    10_000,
    `incident "${title}" set up`,
  );
  await jobsIdle();
  return { id: row.id, number: row.number, title, channelId: row.channelId!, headerTs: row.headerMessageTs!, announcementTs: row.announcementTs! };
}

function header(incident: Ready): FakeMessage {
  const message = slack.messages.get(incident.channelId, incident.headerTs);
  if (!message) throw new Error(`no header message in ${incident.channelId}`);
  return message;
}

/** The interactive element `actionId` of the header's actions block, if the header still has it. */
function headerElement(message: FakeMessage, actionId: string): Record<string, unknown> | undefined {
  for (const block of message.blocks ?? []) {
    if (!isRecord(block) || block["type"] !== "actions" || !Array.isArray(block["elements"])) continue;
    for (const element of block["elements"] as unknown[]) if (isRecord(element) && element["action_id"] === actionId) return element;
  }
  return undefined;
}

function hasActionsBlock(blocks: readonly unknown[] | undefined): boolean {
  return (blocks ?? []).some((block) => isRecord(block) && block["type"] === "actions");
}

/** Clicks a header button (its value is the incident id) or picks a severity in the header's menu. */
async function click(incident: Ready, user: string, actionId: string, selectedOption?: OptionInput): Promise<SlackResponse> {
  const message = header(incident);
  const element = headerElement(message, actionId);
  if (!element) throw new Error(`the header of INC-${incident.number} has no ${actionId}`);
  const value = element["value"];
  if (!selectedOption) expect(value).toBe(incident.id);
  return sendBlockAction(app.url, {
    user,
    channel: incident.channelId,
    messageTs: incident.headerTs,
    actionId,
    triggerId: slack.newTriggerId(user),
    message: { text: message.text, blocks: message.blocks ?? [] },
    ...(selectedOption ? { selectedOption } : { value: typeof value === "string" ? value : "" }),
  });
}

function severityOption(severity: Severity): OptionInput {
  return { value: severity, text: severity };
}

/** The newest modal with this callback id that the app opened in the fake Slack. */
function lastModal(callbackId: string): FakeView | undefined {
  return slack.views
    .modals()
    .filter((view) => view.callback_id === callbackId)
    .at(-1);
}

function submit(view: FakeView, user: string, values: StateValuesInput): Promise<SlackResponse> {
  return sendViewSubmission(app.url, { user, values, ...fromFakeView(view) });
}

function updateValues(status: string, message: string): StateValuesInput {
  return {
    [FIELDS.status.block]: { [FIELDS.status.action]: { type: "static_select", selected_option: { value: status, text: status } } },
    [FIELDS.message.block]: { [FIELDS.message.action]: { type: "plain_text_input", value: message } },
  };
}

function summaryValues(summary: string): StateValuesInput {
  return { [FIELDS.summary.block]: { [FIELDS.summary.action]: { type: "plain_text_input", value: summary } } };
}

/** Calls made after `mark` (a `slack.calls.length` taken earlier; the fake is never reset here). */
function callsSince(mark: number, method?: string): FakeSlackCall[] {
  return slack.calls.slice(mark).filter((call) => method === undefined || call.method === method);
}

/** The mrkdwn of a posted message's section blocks: what people read in the channel. */
function sectionText(call: FakeSlackCall | undefined): string {
  const blocks = call?.args["blocks"];
  if (!Array.isArray(blocks)) return "";
  return (blocks as unknown[])
    .map((block) => (isRecord(block) && isRecord(block["text"]) && typeof block["text"]["text"] === "string" ? block["text"]["text"] : ""))
    .join("\n");
}

/**
 * The fallback `text` Slack shows in notifications must carry the same real
 * mention, not an escaped `&lt;@U…&gt;`. Soft, so the rest of the test still
 * runs when it does not.
 */
function expectFallbackMentions(call: FakeSlackCall | undefined, userId: string): void {
  expect.soft(String(call?.args["text"]), "notification text mentions the user").toContain(`<@${userId}>`);
}

/** Waits for a call to `method` after `mark` that satisfies `where`; returns all such calls. */
async function waitSince(mark: number, method: string, where: (call: FakeSlackCall) => boolean = () => true, timeoutMs = 5_000): Promise<FakeSlackCall[]> {
  await slack.waitFor(() => callsSince(mark, method).some(where), timeoutMs);
  return callsSince(mark, method).filter(where);
}

function postsTo(channel: string, mark: number): FakeSlackCall[] {
  return callsSince(mark, "chat.postMessage").filter((call) => call.args["channel"] === channel);
}

async function events(incidentId: string, type?: string) {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId, ...(type ? { type } : {}) }, orderBy: { id: "asc" } });
}

const reminderPayload = z.looseObject({ incidentId: z.string(), basis: z.string(), intervalMinutes: z.number(), misses: z.number() });

async function pendingReminders(incidentId: string) {
  const jobs = await app.database.prisma.job.findMany({ where: { incidentId, kind: "incident.reminder", status: "PENDING" }, orderBy: { id: "asc" } });
  return jobs.map((job) => ({ job, payload: reminderPayload.parse(job.payload) }));
}

/**
 * Pretends `ms` went by: moves the incident's timestamps and its pending
 * reminders (run_at and the basis they count from) that far into the past,
 * consistently, so that what was due in `ms` is due now.
 */
async function timeTravel(incidentId: string, ms: number): Promise<void> {
  const back = (date: Date | null): Date | null => (date ? new Date(date.getTime() - ms) : null);
  await app.database.prisma.$transaction(async (tx) => {
    const incident = await tx.incident.findUniqueOrThrow({ where: { id: incidentId } });
    await tx.incident.update({
      where: { id: incidentId },
      data: {
        declaredAt: new Date(incident.declaredAt.getTime() - ms),
        detectedAt: back(incident.detectedAt),
        acknowledgedAt: back(incident.acknowledgedAt),
        lastStatusUpdateAt: back(incident.lastStatusUpdateAt),
        mitigatedAt: back(incident.mitigatedAt),
        resolvedAt: back(incident.resolvedAt),
      },
    });
    const jobs = await tx.job.findMany({ where: { incidentId, kind: "incident.reminder", status: "PENDING" } });
    for (const job of jobs) {
      const payload = reminderPayload.parse(job.payload);
      const basis = new Date(new Date(payload.basis).getTime() - ms).toISOString();
      await tx.job.update({
        where: { id: job.id },
        data: { runAt: new Date(job.runAt.getTime() - ms), payload: { ...payload, basis }, dedupeKey: job.dedupeKey?.replace(payload.basis, basis) ?? null },
      });
    }
  });
}

async function jobDone(id: bigint, what: string) {
  return eventually(async () => {
    const job = await app.database.prisma.job.findUniqueOrThrow({ where: { id } });
    return job.status === "DONE" ? job : undefined;
  }, 10_000, what);
}

// ---------------------------------------------------------------------------------------------

describe("the declare modal", () => {
  it("/incident declare without text opens the modal, offering the configured services", async () => {
    const mark = slack.calls.length;
    const before = await app.database.prisma.incident.count();
    const response = await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(DECLARER) });
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);

    const opens = callsSince(mark, "views.open");
    expect(opens.map((call) => call.ok)).toEqual([true]);
    const view = lastModal(VIEWS.declare);
    expect(view?.callback_id).toBe("incident.declare");
    const blocks = (view?.view["blocks"] ?? []) as unknown[];
    const service = blocks.find((block) => isRecord(block) && block["block_id"] === FIELDS.service.block);
    expect(service).toMatchObject({ element: { type: "static_select", options: [{ value: "checkout" }, { value: "search" }] } });
    expect(JSON.stringify(service)).toContain("Checkout");
    expect(blocks.map((block) => (isRecord(block) ? block["block_id"] : undefined))).toEqual(expect.arrayContaining(["title", "severity", "service", "description", "private"]));
    // Opening a form records nothing.
    expect(await app.database.prisma.incident.count()).toBe(before);
  });

  it("declares the incident with the submitted title, severity, service, description", async () => {
    await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(DECLARER) });
    const view = lastModal(VIEWS.declare)!;
    const response = await submit(view, DECLARER, {
      title: { title: { type: "plain_text_input", value: "  Checkout payments failing  " } },
      severity: { severity: { type: "static_select", selected_option: { value: "SEV2", text: "SEV2" } } },
      service: { service: { type: "static_select", selected_option: { value: "checkout", text: "Checkout" } } },
      description: { description: { type: "plain_text_input", value: "Card payments time out in EU" } },
      private: { private: { type: "checkboxes", selected_options: [] } },
    });
    expect(response.status).toBe(200);
    expect(response.text).toBe("");

    const incident = await eventually(
      async () => (await app.database.prisma.incident.findFirst({ where: { title: "Checkout payments failing", headerMessageTs: { not: null } } })) ?? undefined,
      10_000,
      "declared from the modal",
    );
    expect(incident).toMatchObject({ severity: "SEV2", private: false, services: ["checkout"], description: "Card payments time out in EU", declaredById: DECLARER, commanderId: DECLARER, status: "INVESTIGATING" });
    await jobsIdle();
    const channel = slack.channels.get(incident.channelId!);
    expect(channel.is_private).toBe(false);
    // The service's owner joins the declarer.
    expect(channel.members).toEqual(expect.arrayContaining([DECLARER, OWNER]));
    expect(JSON.stringify(slack.messages.get(channel.id, incident.headerMessageTs!)?.blocks)).toContain("Card payments time out in EU");
    const announced = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(slack.messages.get(ANNOUNCE, announced.announcementTs!)?.text).toContain("Checkout payments failing");
  });

  it("answers an empty title with a field error and records nothing", async () => {
    await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(DECLARER) });
    const view = lastModal(VIEWS.declare)!;
    const counts = async () => ({
      incidents: await app.database.prisma.incident.count(),
      jobs: await app.database.prisma.job.count(),
      events: await app.database.prisma.timelineEvent.count(),
      keys: await app.database.prisma.idempotencyKey.count(),
    });
    const before = await counts();
    const mark = slack.calls.length;
    const response = await submit(view, DECLARER, {
      title: { title: { type: "plain_text_input", value: "   " } },
      severity: { severity: { type: "static_select", selected_option: { value: "SEV1", text: "SEV1" } } },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ response_action: "errors", errors: { title: expect.any(String) as unknown } });
    expect(Object.keys((response.body as { errors: Record<string, string> }).errors)).toEqual(["title"]);
    expect(await counts()).toEqual(before);
    expect(callsSince(mark)).toEqual([]);
  });

  it("a private declaration gets a private channel and an announcement without title or link", async () => {
    await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(DECLARER) });
    const view = lastModal(VIEWS.declare)!;
    const mark = slack.calls.length;
    const response = await submit(view, DECLARER, {
      title: { title: { type: "plain_text_input", value: "Acquisition data leak" } },
      severity: { severity: { type: "static_select", selected_option: { value: "SEV2", text: "SEV2" } } },
      private: { private: { type: "checkboxes", selected_options: [{ value: "private", text: "Private incident" }] } },
    });
    expect(response.status).toBe(200);
    const incident = await eventually(
      async () => {
        const row = await app.database.prisma.incident.findFirst({ where: { title: "Acquisition data leak" } });
        return row?.announcementTs && row.headerMessageTs ? row : undefined;
      },
      10_000,
      "private incident set up",
    );
    await jobsIdle();
    expect(incident.private).toBe(true);
    const creates = callsSince(mark, "conversations.create");
    expect(creates.map((call) => [call.ok, String(call.args["is_private"])])).toEqual([[true, "true"]]);
    expect(slack.channels.get(incident.channelId!).is_private).toBe(true);

    const announcements = postsTo(ANNOUNCE, mark);
    expect(announcements).toHaveLength(1);
    const announcement = slack.messages.get(ANNOUNCE, incident.announcementTs!)!;
    expect(announcement.text).toBe(":large_orange_circle: A private SEV2 incident was declared.");
    const said = JSON.stringify([announcement.text, announcement.blocks]);
    expect(said).not.toContain("Acquisition");
    expect(said).not.toContain(incident.channelId!);
    expect(said).not.toContain("<#");
    expect(said).not.toContain(incident.channelName!);
  });

  it("declares once when the same view is submitted twice", async () => {
    await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(DECLARER) });
    const view = lastModal(VIEWS.declare)!;
    const mark = slack.calls.length;
    const values: StateValuesInput = {
      title: { title: { type: "plain_text_input", value: "Double submitted" } },
      severity: { severity: { type: "static_select", selected_option: { value: "SEV3", text: "SEV3" } } },
    };
    const responses = await Promise.all([submit(view, DECLARER, values), submit(view, DECLARER, values)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: "Double submitted", headerMessageTs: { not: null } } })) ?? undefined, 10_000);
    await jobsIdle();
    expect(await app.database.prisma.incident.count({ where: { title: "Double submitted" } })).toBe(1);
    expect(callsSince(mark, "conversations.create").filter((call) => call.ok)).toHaveLength(1);
    expect(await app.database.prisma.idempotencyKey.count({ where: { key: `view:${view.id}` } })).toBe(1);
  });
});

describe("header buttons", () => {
  it("take command: a responder who is neither commander nor admin is told no, and nothing changes", async () => {
    const incident = await declare("Queue backlog growing");
    // The responder is in the channel (that is where the header is).
    slack.channels.addMembers(incident.channelId, [RESPONDER]);
    const eventsBefore = await events(incident.id);
    const mark = slack.calls.length;

    const response = await click(incident, RESPONDER, ACTIONS.takeCommand);
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);

    const [denial] = await waitSince(mark, "chat.postEphemeral", (call) => call.ok && call.args["channel"] === incident.channelId && call.args["user"] === RESPONDER);
    expect(String(denial?.args["text"])).toContain(`Only the commander (<@${DECLARER}>) or an incident admin can assign the commander on INC-${incident.number}`);
    expect(slack.messages.ephemeral({ channel: incident.channelId, user: RESPONDER })).toHaveLength(1);
    await jobsIdle();

    const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(after.commanderId).toBe(DECLARER);
    const newEvents = (await events(incident.id)).slice(eventsBefore.length);
    expect(newEvents.map((event) => [event.type, event.actorId])).toEqual([["action.denied", RESPONDER]]);
    expect(newEvents[0]?.data).toMatchObject({ action: "assign the commander" });
    expect(callsSince(mark).map((call) => call.method)).toEqual(["chat.postEphemeral"]);
    expect(header(incident).history).toEqual([]);
  });

  it("take command: an incident admin takes over; header, topic and bookmark follow", async () => {
    const incident = await declare("Search index stale");
    const mark = slack.calls.length;
    const response = await click(incident, ADMIN, ACTIONS.takeCommand);
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);

    await waitSince(mark, "bookmarks.edit", (call) => call.ok && call.args["channel_id"] === incident.channelId);
    await jobsIdle();
    const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id }, include: { participants: { include: { roles: true } } } });
    expect(after.commanderId).toBe(ADMIN);
    const commanders = after.participants.flatMap((p) => p.roles.filter((r) => r.role === "COMMANDER" && r.endedAt === null).map(() => p.slackUserId));
    expect(commanders).toEqual([ADMIN]);
    expect((await events(incident.id, "commander.assigned")).map((event) => event.data)).toEqual([{ from: DECLARER, to: ADMIN }]);

    const updates = callsSince(mark, "chat.update");
    expect(updates.map((call) => [call.ok, call.args["channel"], call.args["ts"]])).toEqual([[true, incident.channelId, incident.headerTs]]);
    expect(JSON.stringify(header(incident).blocks)).toContain(`*Commander*\\n<@${ADMIN}>`);
    expect(slack.channels.topic(incident.channelId)).toBe(`SEV3 | Investigating | Commander: casey.commander | Search index stale`);
    const notices = postsTo(incident.channelId, mark);
    expect(notices).toHaveLength(1);
    expect(sectionText(notices[0])).toContain(`<@${ADMIN}> is now the commander`);
    expectFallbackMentions(notices[0], ADMIN);
    expect(callsSince(mark, "chat.postEphemeral")).toEqual([]);
  });

  it("severity menu: the commander's choice updates header, topic and bookmark once, even on a double click", async () => {
    const incident = await declare("Login latency up");
    const mark = slack.calls.length;
    const responses = await Promise.all([
      click(incident, DECLARER, ACTIONS.setSeverity, severityOption("SEV2")),
      click(incident, DECLARER, ACTIONS.setSeverity, severityOption("SEV2")),
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    for (const response of responses) expect(response.elapsedMs).toBeLessThan(3_000);

    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).severity === "SEV2", 5_000, "severity changed");
    await waitSince(mark, "bookmarks.edit", (call) => call.ok && call.args["channel_id"] === incident.channelId);
    await jobsIdle();

    expect((await events(incident.id, "severity.changed")).map((event) => [event.actorId, event.data])).toEqual([[DECLARER, { from: "SEV3", to: "SEV2" }]]);
    expect(callsSince(mark, "chat.update").filter((call) => call.ok)).toHaveLength(1);
    const shown = JSON.stringify(header(incident).blocks);
    expect(shown).toContain("SEV2 (major");
    expect(shown).toContain('"initial_option":{"text":{"type":"plain_text","text":"SEV2: major');
    expect(slack.channels.topic(incident.channelId)).toBe(`SEV2 | Investigating | Commander: dana.declarer | Login latency up`);
    expect(slack.bookmarks.in(incident.channelId).map((bookmark) => bookmark.title)).toEqual([`INC-${incident.number} · SEV2 · Investigating`]);

    const notices = postsTo(incident.channelId, mark);
    expect(notices).toHaveLength(1);
    expect(sectionText(notices[0])).toContain(`Severity changed from SEV3 to *SEV2* by <@${DECLARER}>`);
    // Stakeholders read it under the announcement.
    const threaded = postsTo(ANNOUNCE, mark);
    expect(threaded.map((call) => call.args["thread_ts"])).toEqual([incident.announcementTs]);
    expect(callsSince(mark, "chat.postEphemeral")).toEqual([]);
  });

  it("severity menu right after the declaration: still one bookmark, showing the new severity", async () => {
    // The first sync (topic + bookmark) is still adding the bookmark when the commander changes the severity.
    slack.setLatency(800, "bookmarks.add");
    try {
      const response = await sendCommand(app.url, "declare Orders stuck in pending");
      expect(response.status).toBe(200);
      const row = await eventually(
        async () => {
          const incident = await app.database.prisma.incident.findFirst({ where: { title: "Orders stuck in pending" } });
          return incident?.channelId && incident.headerMessageTs ? incident : undefined;
        },
        10_000,
        "header posted",
      );
      const incident: Ready = { id: row.id, number: row.number, title: row.title, channelId: row.channelId!, headerTs: row.headerMessageTs!, announcementTs: "" };
      expect((await click(incident, DECLARER, ACTIONS.setSeverity, severityOption("SEV2"))).status).toBe(200);
      await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).severity === "SEV2", 5_000, "severity changed");
      await jobsIdle();

      const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
      expect(slack.channels.topic(incident.channelId)).toMatch(/^SEV2 \| Investigating \|/);
      const bookmarks = slack.bookmarks.in(incident.channelId);
      expect(bookmarks.map((bookmark) => bookmark.title)).toEqual([`INC-${incident.number} · SEV2 · Investigating`]);
      expect(after.bookmarkId).toBe(bookmarks[0]?.id);
    } finally {
      slack.setLatency(0, "bookmarks.add");
    }
  });

  it("post update: opens the modal; the submission changes the status and posts in the channel and under the announcement, once", async () => {
    const incident = await declare("Image uploads broken");
    const mark = slack.calls.length;
    const response = await click(incident, DECLARER, ACTIONS.postUpdate);
    expect(response.status).toBe(200);
    await waitSince(mark, "views.open", (call) => call.ok);
    const view = lastModal(VIEWS.postUpdate)!;
    expect(view.user_id).toBe(DECLARER);
    expect(JSON.parse(view.private_metadata ?? "{}")).toEqual({ incidentId: incident.id });

    const values = updateValues("IDENTIFIED", "Bad deploy of the resizer; rolling back");
    const submitted = await Promise.all([submit(view, DECLARER, values), submit(view, DECLARER, values)]);
    expect(submitted.map((answer) => [answer.status, answer.text])).toEqual([
      [200, ""],
      [200, ""],
    ]);
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "IDENTIFIED", 5_000, "status changed");
    await waitSince(mark, "chat.postMessage", (call) => call.ok && call.args["channel"] === ANNOUNCE && call.args["thread_ts"] === incident.announcementTs);
    await jobsIdle();

    const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(after.lastStatusUpdateAt).not.toBeNull();
    expect((await events(incident.id, "status.changed")).map((event) => event.data)).toEqual([{ from: "INVESTIGATING", to: "IDENTIFIED", message: "Bad deploy of the resizer; rolling back" }]);
    const inChannel = postsTo(incident.channelId, mark);
    expect(inChannel).toHaveLength(1);
    expect(sectionText(inChannel[0])).toBe(`:arrows_counterclockwise: Status is now *Identified* by <@${DECLARER}>\n>Bad deploy of the resizer; rolling back`);
    const threaded = postsTo(ANNOUNCE, mark);
    expect(threaded).toHaveLength(1);
    expect(threaded[0]?.args["thread_ts"]).toBe(incident.announcementTs);
    expect(sectionText(threaded[0])).toBe(`*INC-${incident.number}* · :arrows_counterclockwise: Status is now *Identified* by <@${DECLARER}>\n>Bad deploy of the resizer; rolling back`);
    expect(slack.channels.topic(incident.channelId)).toContain("SEV3 | Identified |");
    // The reminder clock restarts from the update.
    const reminders = await pendingReminders(incident.id);
    expect(reminders.map((reminder) => reminder.payload.basis)).toContain(after.lastStatusUpdateAt!.toISOString());
  });

  it("resolve: a non-commander is told no and gets no modal", async () => {
    const incident = await declare("Cron jobs skipped");
    slack.channels.addMembers(incident.channelId, [RESPONDER]);
    const mark = slack.calls.length;
    const response = await click(incident, RESPONDER, ACTIONS.resolve);
    expect(response.status).toBe(200);
    const [denial] = await waitSince(mark, "chat.postEphemeral", (call) => call.ok && call.args["channel"] === incident.channelId && call.args["user"] === RESPONDER);
    expect(String(denial?.args["text"])).toContain("can resolve on");
    await jobsIdle();
    expect(callsSince(mark, "views.open")).toEqual([]);
    expect((await events(incident.id, "action.denied")).map((event) => [event.actorId, event.data])).toEqual([[RESPONDER, expect.objectContaining({ action: "resolve" })]]);
    const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(after).toMatchObject({ status: "INVESTIGATING", resolvedAt: null, summary: null });
  });

  it("resolve: the commander's modal needs a summary, then resolves and removes the buttons", async () => {
    const incident = await declare("Webhooks delayed");
    const mark = slack.calls.length;
    const response = await click(incident, DECLARER, ACTIONS.resolve);
    expect(response.status).toBe(200);
    await waitSince(mark, "views.open", (call) => call.ok);
    const view = lastModal(VIEWS.resolve)!;
    expect(JSON.parse(view.private_metadata ?? "{}")).toEqual({ incidentId: incident.id });

    const empty = await submit(view, DECLARER, summaryValues("  "));
    expect(empty.body).toMatchObject({ response_action: "errors", errors: { summary: expect.any(String) as unknown } });
    expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status).toBe("INVESTIGATING");

    const done = await submit(view, DECLARER, summaryValues("Queue consumer restarted; backlog drained"));
    expect([done.status, done.text]).toEqual([200, ""]);
    await waitSince(mark, "chat.update", (call) => call.ok && call.args["channel"] === incident.channelId && !hasActionsBlock(call.args["blocks"] as unknown[]));
    await jobsIdle();

    const after = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(after.status).toBe("RESOLVED");
    expect(after.summary).toBe("Queue consumer restarted; backlog drained");
    expect(after.resolvedAt).not.toBeNull();
    expect(after.mitigatedAt).not.toBeNull();
    expect(after.mitigatedAt!.getTime()).toBe(after.resolvedAt!.getTime());
    expect((await events(incident.id, "incident.resolved")).map((event) => [event.actorId, event.data])).toEqual([[DECLARER, { summary: "Queue consumer restarted; backlog drained" }]]);
    expect(hasActionsBlock(header(incident).blocks)).toBe(false);
    expect(JSON.stringify(header(incident).blocks)).toContain("Queue consumer restarted; backlog drained");
    expect(callsSince(mark, "chat.update").filter((call) => call.ok)).toHaveLength(1);
    expect(slack.channels.topic(incident.channelId)).toContain("| Resolved |");
    expect(postsTo(ANNOUNCE, mark).map((call) => call.args["thread_ts"])).toEqual([incident.announcementTs]);
  });
});

describe("Slack rate limits (429)", () => {
  it("postpones the header update by Retry-After while other work goes on", async () => {
    const limitedIncident = await declare("Cache hit rate low");
    const other = await declare("Unrelated DNS blip");
    const mark = slack.calls.length;

    slack.rateLimit("chat.update", { retryAfterSeconds: 1, times: 1 });
    const response = await click(limitedIncident, DECLARER, ACTIONS.setSeverity, severityOption("SEV1"));
    const ackedAt = Date.now();
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);
    const [limited] = await waitSince(mark, "chat.update", (call) => call.status === 429 && call.args["channel"] === limitedIncident.channelId);

    // Meanwhile, an update in another incident's channel goes straight out.
    const sentAt = Date.now();
    const command = await sendCommand(app.url, "update DNS answers are back to normal", { channel_id: other.channelId, user_id: DECLARER });
    expect(command.status).toBe(200);
    expect(command.elapsedMs).toBeLessThan(3_000);
    const [otherPost] = await waitSince(mark, "chat.postMessage", (call) => call.ok && call.args["channel"] === other.channelId);

    const [headerUpdate] = await waitSince(mark, "chat.update", (call) => call.ok && call.args["channel"] === limitedIncident.channelId);
    await jobsIdle();

    // Acked at once: the click did not wait for the postponed header update.
    expect(ackedAt).toBeLessThan(headerUpdate!.at);
    expect(headerUpdate!.at - limited!.at).toBeGreaterThanOrEqual(950);
    expect(otherPost!.at).toBeGreaterThanOrEqual(sentAt);
    expect(otherPost!.at).toBeLessThan(headerUpdate!.at);
    expect(otherPost!.at).toBeLessThan(limited!.at + 1_000);
    // The severity notice in the same channel has another rate key: not held either.
    const [notice] = postsTo(limitedIncident.channelId, mark);
    expect(notice!.at).toBeLessThan(headerUpdate!.at);

    expect(callsSince(mark, "chat.update").map((call) => call.status)).toEqual([429, 200]);
    expect(JSON.stringify(header(limitedIncident).blocks)).toContain("SEV1 (critical");
    expect(slack.channels.topic(limitedIncident.channelId)).toMatch(/^SEV1 \| Investigating \|/);
    expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: limitedIncident.id } })).severity).toBe("SEV1");
  });
});

describe("status-update reminders (SEV4: every minute)", () => {
  it("nudges the commander when an update is overdue, escalates on the second miss and schedules the next", async () => {
    const incident = await declare("Disk filling on batch host", "SEV4");
    const [first] = await pendingReminders(incident.id);
    const declared = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(first?.payload).toMatchObject({ incidentId: incident.id, basis: declared.declaredAt.toISOString(), intervalMinutes: 1, misses: 0 });
    expect(first!.job.runAt.getTime() - declared.declaredAt.getTime()).toBe(60_000);

    // A minute goes by without an update.
    let mark = slack.calls.length;
    await timeTravel(incident.id, 60_000);
    await jobDone(first!.job.id, "first reminder");
    const [nudge] = await waitSince(mark, "chat.postMessage", (call) => call.ok && call.args["channel"] === incident.channelId);
    await jobsIdle();
    expect(sectionText(nudge)).toContain(`<@${DECLARER}>, it's time for a status update on INC-${incident.number}`);
    expect(sectionText(nudge)).not.toContain("escalated");
    expectFallbackMentions(nudge, DECLARER);
    expect(postsTo(ANNOUNCE, mark)).toEqual([]);
    expect((await events(incident.id, "reminder.sent")).map((event) => event.data)).toEqual([{ misses: 1, escalated: false }]);

    const rewound = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    const [second] = await pendingReminders(incident.id);
    expect(second?.payload).toMatchObject({ incidentId: incident.id, basis: rewound.declaredAt.toISOString(), intervalMinutes: 1, misses: 1 });
    expect(second!.job.runAt.getTime() - rewound.declaredAt.getTime()).toBe(2 * 60_000);
    expect(second!.job.runAt.getTime()).toBeGreaterThan(Date.now());

    // Another minute: the second miss is escalated under the announcement.
    mark = slack.calls.length;
    await timeTravel(incident.id, 60_000);
    await jobDone(second!.job.id, "second reminder");
    await waitSince(mark, "chat.postMessage", (call) => call.ok && call.args["channel"] === ANNOUNCE && call.args["thread_ts"] === incident.announcementTs);
    await jobsIdle();
    const channelNudges = postsTo(incident.channelId, mark);
    expect(channelNudges).toHaveLength(1);
    expect(sectionText(channelNudges[0])).toContain(`<@${DECLARER}>, it's time for a status update on INC-${incident.number} (reminder 2; escalated`);
    expectFallbackMentions(channelNudges[0], DECLARER);
    const escalations = postsTo(ANNOUNCE, mark);
    expect(escalations).toHaveLength(1);
    expect(sectionText(escalations[0])).toContain(`*INC-${incident.number}* · :warning: No status update from <@${DECLARER}> for a while (2 reminders)`);
    expect((await events(incident.id, "reminder.sent")).map((event) => event.data)).toEqual([
      { misses: 1, escalated: false },
      { misses: 2, escalated: true },
    ]);
    const [third] = await pendingReminders(incident.id);
    expect(third?.payload.misses).toBe(2);

    // Stop the chain so the real clock cannot fire it during later tests.
    await sendCommand(app.url, "resolve Cleaned up old logs", { channel_id: incident.channelId, user_id: DECLARER });
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "RESOLVED", 5_000, "resolved");
  });

  it("a severity change restarts the clock: one nudge, even after changing back to the first severity", async () => {
    const incident = await declare("Report exports slow", "SEV4");
    for (const severity of ["SEV3", "SEV4"] as const) {
      expect((await click(incident, DECLARER, ACTIONS.setSeverity, severityOption(severity))).status).toBe(200);
      await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).severity === severity, 5_000, `severity ${severity}`);
      await jobsIdle();
    }
    expect((await events(incident.id, "severity.changed")).map((event) => event.data)).toEqual([
      { from: "SEV4", to: "SEV3" },
      { from: "SEV3", to: "SEV4" },
    ]);

    // A minute without a status update since the last change (and since the declaration).
    const mark = slack.calls.length;
    await timeTravel(incident.id, 60_000);
    await eventually(async () => (await events(incident.id, "reminder.sent")).length > 0, 10_000, "a reminder fired");
    await jobsIdle();
    expect((await events(incident.id, "reminder.sent")).map((event) => event.data)).toEqual([{ misses: 1, escalated: false }]);
    const nudges = postsTo(incident.channelId, mark).filter((call) => sectionText(call).includes("time for a status update"));
    expect(nudges).toHaveLength(1);

    await sendCommand(app.url, "resolve Export workers scaled", { channel_id: incident.channelId, user_id: DECLARER });
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "RESOLVED", 5_000, "resolved");
  });

  it("a status update makes the pending reminder stale: it posts nothing, the new one counts from the update", async () => {
    const incident = await declare("Backups slow", "SEV4");
    const [old] = await pendingReminders(incident.id);

    await click(incident, DECLARER, ACTIONS.postUpdate);
    await eventually(async () => lastModal(VIEWS.postUpdate)?.private_metadata?.includes(incident.id), 5_000, "update modal");
    const view = lastModal(VIEWS.postUpdate)!;
    expect((await submit(view, DECLARER, updateValues("INVESTIGATING", "Throttling the backup job"))).text).toBe("");
    await eventually(async () => (await events(incident.id, "update.posted")).length === 1, 5_000, "update recorded");
    await jobsIdle();
    const updated = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });

    // The old reminder's time comes.
    const mark = slack.calls.length;
    const eventsBefore = (await events(incident.id)).length;
    await app.database.prisma.job.update({ where: { id: old!.job.id }, data: { runAt: new Date(Date.now() - 1_000) } });
    await jobDone(old!.job.id, "stale reminder ran");
    await jobsIdle();
    expect(callsSince(mark)).toEqual([]);
    expect((await events(incident.id)).length).toBe(eventsBefore);

    const pending = await pendingReminders(incident.id);
    expect(pending.map((reminder) => reminder.payload)).toMatchObject([{ incidentId: incident.id, basis: updated.lastStatusUpdateAt!.toISOString(), intervalMinutes: 1, misses: 0 }]);
    expect(pending[0]!.job.runAt.getTime() - updated.lastStatusUpdateAt!.getTime()).toBe(60_000);

    await sendCommand(app.url, "resolve Throttled", { channel_id: incident.channelId, user_id: DECLARER });
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "RESOLVED", 5_000, "resolved");
  });

  it("after resolving, a due reminder posts nothing", async () => {
    const incident = await declare("Metrics gap", "SEV4");
    await click(incident, DECLARER, ACTIONS.resolve);
    await eventually(async () => lastModal(VIEWS.resolve)?.private_metadata?.includes(incident.id), 5_000, "resolve modal");
    expect((await submit(lastModal(VIEWS.resolve)!, DECLARER, summaryValues("Scraper restarted"))).text).toBe("");
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "RESOLVED", 5_000, "resolved");
    await jobsIdle();

    const reminders = await pendingReminders(incident.id);
    const mark = slack.calls.length;
    await timeTravel(incident.id, 61_000);
    for (const reminder of reminders) await jobDone(reminder.job.id, "reminder after resolution");
    await jobsIdle();
    expect(callsSince(mark)).toEqual([]);
    expect(await events(incident.id, "reminder.sent")).toEqual([]);
    expect(await pendingReminders(incident.id)).toEqual([]);
  });
});

describe("restart with side effects pending", () => {
  it("finishes a rate-limited channel set-up after the app restarts", async () => {
    const mark = slack.calls.length;
    slack.rateLimit("conversations.create", { retryAfterSeconds: 2 });
    const response = await sendCommand(app.url, "declare sev2 Payments partner outage");
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);
    const [limited] = await waitSince(mark, "conversations.create", (call) => call.status === 429 && String(call.args["name"]).endsWith("-payments-partner-outage"));
    const before = await app.database.prisma.incident.findFirstOrThrow({ where: { title: "Payments partner outage" } });
    expect(before.channelId).toBeNull();
    // Postponed by Retry-After, not failed: pending, with its attempt given back.
    const pending = await eventually(async () => {
      const job = await app.database.prisma.job.findFirstOrThrow({ where: { incidentId: before.id, kind: "incident.create_channel" } });
      return job.status === "PENDING" ? job : undefined;
    }, 5_000, "create_channel postponed");
    expect(pending.attempts).toBe(0);
    expect(pending.runAt.getTime()).toBeGreaterThanOrEqual(limited!.at + 1_500);

    await app.stop();
    app = await startTestApp({ slack, dataDir, env });

    const after = await eventually(
      async () => {
        const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: before.id } });
        return row.headerMessageTs && row.announcementTs && row.bookmarkId ? row : undefined;
      },
      10_000,
      "channel set up after the restart",
    );
    await jobsIdle();
    const creates = callsSince(mark, "conversations.create");
    expect(creates.map((call) => call.status)).toEqual([429, 200]);
    expect(creates[1]!.at - limited!.at).toBeGreaterThanOrEqual(1_950);
    const channel = slack.channels.get(after.channelId!);
    expect(channel.name).toBe(after.channelName);
    expect(channel.members).toContain(DECLARER);
    expect(slack.messages.get(channel.id, after.headerMessageTs!)?.text).toContain("Payments partner outage");
    expect(postsTo(channel.id, mark)).toHaveLength(1);
    expect(postsTo(ANNOUNCE, mark)).toHaveLength(1);
  });

  it("a reminder that fell due while the app was down fires after the restart", async () => {
    const incident = await declare("Certificate expiring", "SEV4");
    const [reminder] = await pendingReminders(incident.id);
    // Due in 1.5 s: after the app has stopped, before it is back.
    await timeTravel(incident.id, 58_500);
    expect((await app.database.prisma.job.findUniqueOrThrow({ where: { id: reminder!.job.id } })).status).toBe("PENDING");
    await app.stop();
    const dueAt = reminder!.job.runAt.getTime() - 58_500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now() + 200)));

    const mark = slack.calls.length;
    app = await startTestApp({ slack, dataDir, env });
    await jobDone(reminder!.job.id, "reminder after restart");
    const [nudge] = await waitSince(mark, "chat.postMessage", (call) => call.ok && call.args["channel"] === incident.channelId);
    await jobsIdle();
    expect(sectionText(nudge)).toContain(`<@${DECLARER}>, it's time for a status update on INC-${incident.number}`);
    expect(postsTo(incident.channelId, mark)).toHaveLength(1);
    expect((await events(incident.id, "reminder.sent")).map((event) => event.data)).toEqual([{ misses: 1, escalated: false }]);
    expect((await pendingReminders(incident.id)).map((next) => next.payload.misses)).toEqual([1]);

    await sendCommand(app.url, "resolve Renewed", { channel_id: incident.channelId, user_id: DECLARER });
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).status === "RESOLVED", 5_000, "resolved");
  });
});
