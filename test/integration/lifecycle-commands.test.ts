import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Incident, TimelineEvent } from "../../src/generated/prisma/client.ts";
import { startFakeSlack, type FakeMessage, type FakeSlack, type FakeSlackCall } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, type TestApp, waitForIdleJobs, INCIDENT_LIFE_AT_TEST_SPEED } from "../support/app.ts";
import { sendCommand, sendToSlackEndpoint, slashCommandBody, type SlackResponse } from "../support/slack-requests.ts";
import { mrkdwnTexts } from "../support/blocks.ts";

/**
 * Every /incident subcommand, driven through signed slash-command requests to
 * the real app (embedded database) against the fake Slack. Each step asserts
 * what Slack saw (messages, header chat.update, topic, bookmark, announcement
 * thread) and what the database recorded (fields, lifecycle timestamps,
 * participants and roles, typed timeline events with their actor).
 */

const ANNOUNCE = "C0ANNOUNCE1";
const ONCALL_GROUP = "S0ONCALL01";
const ADMIN_GROUP = "S0ADMINS01";
const GROUP_ADMIN = "U0GROUPADM";
const OUTSIDER = "U0OUTSIDER";
/** A channel that is not an incident channel (#general of the fake). */
const ELSEWHERE = "C0GENERAL0";

// SEV1 and SEV2 are announced in #incidents; SEV3 and SEV4 are not announced at all.
const CONFIG = `
incidents:
  admins: [U0COMMANDR, ${ADMIN_GROUP}]
severities:
  SEV1:
    announcementChannel: ${ANNOUNCE}
  SEV2:
    announcementChannel: ${ANNOUNCE}
    notify: [${ONCALL_GROUP}, U0COMMANDR]
    updateIntervalMinutes: 30
services:
  - key: checkout
    name: Checkout
    owners: [U0RESPOND2]
`;

let slack: FakeSlack;
let app: TestApp;
let dataDir: string;
let configDir: string;

/** Back to a clean workspace: the announcement channel and the on-call group are seeded again (reset() drops them). */
function freshWorkspace(): void {
  slack.reset();
  slack.channels.create({ name: "incidents", id: ANNOUNCE, botIsMember: false });
  slack.usergroups.create({ id: ONCALL_GROUP, handle: "checkout-oncall", users: ["U0RESPOND1"] });
}

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), "firebreak-lifecycle-config-"));
  const configPath = join(configDir, "firebreak.yml");
  await writeFile(configPath, CONFIG, "utf8");
  slack = await startFakeSlack({
    users: [
      { id: GROUP_ADMIN, name: "gale.groupadmin", real_name: "Gale Groupadmin" },
      { id: OUTSIDER, name: "olly.outsider", real_name: "Olly Outsider" },
    ],
    // Kept across reset(): the authorizer caches group members for a minute.
    usergroups: [{ id: ADMIN_GROUP, handle: "incident-admins", users: [GROUP_ADMIN] }],
    // An incident's whole life in seconds (and a post a second per channel: Slack's pace there
    // is tested in this file's own 429 tests).
    rateLimits: {
      ...INCIDENT_LIFE_AT_TEST_SPEED,
      "chat.postMessage": { perChannel: TEST_SPEED },
    },
  });
  freshWorkspace();
  app = await startTestApp({ slack, env: { FIREBREAK_CONFIG: configPath } });
  dataDir = app.dataDir;
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (dataDir) await removeDir(dataDir);
  if (configDir) await removeDir(configDir);
});

function jobsIdle(): Promise<void> {
  return waitForIdleJobs(app);
}

afterEach(async () => {
  await jobsIdle();
  expect(app.logs.text()).not.toContain("xoxb-test-token");
});

// ---- helpers ----------------------------------------------------------------------------------

interface Reply {
  text: string;
  blocks: unknown[];
  /** The reply text and every mrkdwn text in its blocks. */
  all: string;
}

function ephemeralReply(response: SlackResponse): Reply {
  expect(response.status).toBe(200);
  expect(response.elapsedMs).toBeLessThan(3_000);
  const body = response.body as { response_type?: unknown; text?: unknown; blocks?: unknown } | undefined;
  expect(body?.response_type).toBe("ephemeral");
  const text = typeof body?.text === "string" ? body.text : "";
  const blocks = Array.isArray(body?.blocks) ? (body.blocks as unknown[]) : [];
  return { text, blocks, all: [text, ...mrkdwnTexts(blocks)].join("\n") };
}

/** Every mrkdwn text object's text inside some Block Kit structure. */
/** What a person reads of a message: the first section's mrkdwn. */
function sectionText(message: FakeMessage | undefined): string {
  return mrkdwnTexts(message?.blocks ?? [])[0] ?? "";
}

function methods(calls: readonly FakeSlackCall[]): string[] {
  return calls.map((call) => call.method).sort();
}

const SYNC_CALLS = ["bookmarks.edit", "chat.getPermalink", "chat.update", "conversations.setTopic"];

function sorted(list: string[]): string[] {
  return [...list].sort();
}

async function incidentRow(number: number): Promise<Incident> {
  return app.database.prisma.incident.findUniqueOrThrow({ where: { number } });
}

async function eventsOf(incidentId: string, afterId = -1n): Promise<TimelineEvent[]> {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId, id: { gt: afterId } }, orderBy: { id: "asc" } });
}

async function lastEventId(): Promise<bigint> {
  return (await app.database.prisma.timelineEvent.findFirst({ orderBy: { id: "desc" }, select: { id: true } }))?.id ?? 0n;
}

/** Active roles as "user:ROLE", sorted. */
async function activeRoles(incidentId: string): Promise<string[]> {
  const participants = await app.database.prisma.participant.findMany({ where: { incidentId }, include: { roles: true } });
  return participants.flatMap((p) => p.roles.filter((r) => r.endedAt === null).map((r) => `${p.slackUserId}:${r.role}`)).sort();
}

async function participantIds(incidentId: string): Promise<string[]> {
  return (await app.database.prisma.participant.findMany({ where: { incidentId } })).map((p) => p.slackUserId).sort();
}

/** Everything the database holds, to prove a refused command changed nothing. */
async function databaseState() {
  const prisma = app.database.prisma;
  return {
    incidents: await prisma.incident.findMany({ orderBy: { number: "asc" } }),
    events: await prisma.timelineEvent.count(),
    jobs: await prisma.job.count(),
    participants: await prisma.participant.findMany({ orderBy: { id: "asc" } }),
    roles: await prisma.participantRoleAssignment.findMany({ orderBy: { id: "asc" } }),
    idempotencyKeys: await prisma.idempotencyKey.count(),
  };
}

interface StepResult {
  reply: Reply;
  /** Slack calls made because of the command (the command's side-effect jobs ran to the end). */
  calls: FakeSlackCall[];
  /** Messages posted because of the command (chat.update changes messages in place). */
  posted: FakeMessage[];
  /** Timeline events recorded for the incident because of the command. */
  events: TimelineEvent[];
}

/** Runs `/incident <text>` as `user` in `channel`, then waits for its side effects. */
async function command(text: string, options: { user?: string; channel?: string; incidentId?: string; trigger?: string } = {}): Promise<StepResult> {
  const callMark = slack.calls.length;
  const messageMark = slack.messages.all().length;
  const eventMark = await lastEventId();
  // Typed as a person types it; the fake Slack escapes it as manifest.yml tells Slack to.
  const response = await sendCommand(app.url, slack.commandText(text), {
    user_id: options.user ?? "U0DECLARER",
    channel_id: options.channel ?? ELSEWHERE,
    ...(options.trigger ? { trigger_id: options.trigger } : {}),
  });
  const reply = ephemeralReply(response);
  await jobsIdle();
  const events = options.incidentId ? await eventsOf(options.incidentId, eventMark) : [];
  return { reply, calls: slack.calls.slice(callMark), posted: slack.messages.all().slice(messageMark), events };
}

/** Declares through the slash command and waits until channel, header, topic, bookmark and announcement exist. */
async function declare(text: string, user = "U0DECLARER"): Promise<Incident> {
  const { reply } = await command(`declare ${text}`, { user });
  const number = Number(/\*INC-(\d+)\*/.exec(reply.text)?.[1]);
  expect(number).toBeGreaterThan(0);
  const incident = await incidentRow(number);
  expect(incident.channelId).toBeTruthy();
  expect(incident.headerMessageTs).toBeTruthy();
  expect(incident.bookmarkId).toBeTruthy();
  return incident;
}

function header(incident: Incident): FakeMessage {
  const message = slack.messages.get(incident.channelId!, incident.headerMessageTs!);
  expect(message).toBeDefined();
  return message!;
}

function headerText(incident: Incident): string {
  return mrkdwnTexts(header(incident).blocks).join("\n");
}

function headerHasActions(incident: Incident): boolean {
  return (header(incident).blocks ?? []).some((block) => (block as { type?: unknown }).type === "actions");
}

function announcementThread(incident: Incident): FakeMessage[] {
  return slack.messages.thread(ANNOUNCE, incident.announcementTs!);
}

/** The usage line as Slack receives it: placeholders like <title> are escaped so Slack shows them as text. */
function usage(text: string): RegExp {
  const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return new RegExp(`Usage: \`${escaped.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\``);
}

// ---- the lifecycle, step by step --------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("one incident through every /incident subcommand", { shuffle: false }, () => {
  let incident: Incident;
  let ref: string;
  let channel: string;
  let firstMitigatedAt: Date;

  it("declare sev2 <title>: invites the declarer and SEV2's notify list (user group expanded), announces with a channel link", async () => {
    freshWorkspace();
    const before = Date.now();
    const { reply, calls } = await command("declare sev2 Checkout is failing");
    expect(reply.text).toMatch(/Declared \*INC-\d+\* \(SEV2\): Checkout is failing/);
    const number = Number(/\*INC-(\d+)\*/.exec(reply.text)?.[1]);
    incident = await incidentRow(number);
    ref = `INC-${number}`;
    channel = incident.channelId!;

    expect(incident).toMatchObject({ title: "Checkout is failing", severity: "SEV2", status: "INVESTIGATING", declaredById: "U0DECLARER", commanderId: "U0DECLARER", resolvedAt: null, mitigatedAt: null, summary: null });
    expect(incident.declaredAt.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(incident.acknowledgedAt?.getTime()).toBe(incident.declaredAt.getTime());

    // The notify list: the user group is expanded through usergroups.users.list; Slack never sees the group id.
    expect(calls.filter((call) => call.method === "usergroups.users.list").map((call) => call.args.usergroup)).toEqual([ONCALL_GROUP]);
    const invites = calls.filter((call) => call.method === "conversations.invite");
    expect(invites).toHaveLength(1);
    expect(invites[0]?.ok).toBe(true);
    expect(String(invites[0]?.args.users).split(",").sort()).toEqual(["U0COMMANDR", "U0DECLARER", "U0RESPOND1"]);
    expect(sorted(slack.channels.members(channel))).toEqual(["U0COMMANDR", "U0DECLARER", "U0RESPOND1", "UBOT00001"]);
    expect(await participantIds(incident.id)).toEqual(["U0COMMANDR", "U0DECLARER", "U0RESPOND1"]);
    expect(await activeRoles(incident.id)).toEqual(["U0DECLARER:COMMANDER"]);

    // Announced in the configured channel, with a link to the incident channel.
    const announcements = slack.messages.topLevel(ANNOUNCE);
    expect(announcements).toHaveLength(1);
    const announcement = announcements[0]!;
    expect(sectionText(announcement)).toBe(`:large_orange_circle: *${ref} (SEV2)*: Checkout is failing\nDeclared by <@U0DECLARER> · join <#${channel}>`);
    expect(incident.announcementChannelId).toBe(ANNOUNCE);
    expect(incident.announcementTs).toBe(announcement.ts);

    const events = await eventsOf(incident.id);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["incident.declared", "channel.created", "participant.invited", "announcement.posted"]));
    expect(events).toHaveLength(4);
    expect(events.find((e) => e.type === "incident.declared")).toMatchObject({ actorId: "U0DECLARER", source: "SLACK", data: { title: "Checkout is failing", severity: "SEV2", private: false } });
    expect(events.find((e) => e.type === "announcement.posted")?.data).toEqual({ channelId: ANNOUNCE, ts: announcement.ts });
    expect(sorted((events.find((e) => e.type === "participant.invited")?.data as { users: string[] }).users)).toEqual(["U0COMMANDR", "U0DECLARER", "U0RESPOND1"]);

    // Header pinned; topic and bookmark show the state at a glance.
    expect(slack.pins.isPinned(channel, incident.headerMessageTs!)).toBe(true);
    expect(slack.channels.topic(channel)).toBe("SEV2 | Investigating | Commander: dana.declarer | Checkout is failing");
    expect(slack.bookmarks.in(channel).map((b) => [b.id, b.title])).toEqual([[incident.bookmarkId, `${ref} · SEV2 · Investigating`]]);
  });

  it("declare inside an incident channel is refused politely and records nothing", async () => {
    const before = await databaseState();
    const inline = await command("declare Another outage", { channel });
    expect(inline.reply.text).toContain(`This is the channel of *${ref}*`);
    const modal = await command("declare", { channel, trigger: slack.newTriggerId("U0DECLARER") });
    expect(modal.reply.text).toContain(`This is the channel of *${ref}*`);
    expect([...inline.calls, ...modal.calls]).toEqual([]);
    expect(await databaseState()).toEqual(before);
  });

  it("status identified <msg>: status, header, topic, bookmark, channel notice, announcement thread, lastStatusUpdateAt", async () => {
    const before = Date.now();
    const step = await command("status identified Bad deploy of cart v42", { channel, incidentId: incident.id });
    expect(step.reply.text).toBe(`${ref} is now *Identified*.`);

    const row = await incidentRow(incident.number);
    expect(row.status).toBe("IDENTIFIED");
    expect(row.lastStatusUpdateAt!.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(row.lastStatusUpdateAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(row.mitigatedAt).toBeNull();
    expect(row.resolvedAt).toBeNull();
    expect(row.acknowledgedAt).toEqual(incident.acknowledgedAt);

    expect(step.events).toHaveLength(1);
    expect(step.events[0]).toMatchObject({ type: "status.changed", actorId: "U0DECLARER", source: "SLACK", data: { from: "INVESTIGATING", to: "IDENTIFIED", message: "Bad deploy of cart v42" } });

    expect(methods(step.calls)).toEqual(sorted([...SYNC_CALLS, "chat.postMessage", "chat.postMessage"]));
    expect(step.calls.find((c) => c.method === "chat.update")?.args).toMatchObject({ channel, ts: incident.headerMessageTs });
    expect(headerText(incident)).toContain("*Status*\nIdentified");
    expect(header(incident).history).toHaveLength(1);
    expect(slack.channels.topic(channel)).toBe("SEV2 | Identified | Commander: dana.declarer | Checkout is failing");
    expect(step.calls.find((c) => c.method === "bookmarks.edit")?.args).toMatchObject({ channel_id: channel, bookmark_id: incident.bookmarkId });
    expect(slack.bookmarks.in(channel).map((b) => b.title)).toEqual([`${ref} · SEV2 · Identified`]);

    const notice = step.posted.filter((m) => m.channel === channel);
    expect(notice.map(sectionText)).toEqual([":arrows_counterclockwise: Status is now *Identified* by <@U0DECLARER>\n>Bad deploy of cart v42"]);
    expect(notice[0]?.thread_ts).toBeUndefined();
    const thread = step.posted.filter((m) => m.channel === ANNOUNCE);
    expect(thread).toHaveLength(1);
    expect(thread[0]?.thread_ts).toBe(incident.announcementTs);
    expect(sectionText(thread[0])).toBe(`*${ref}* · :arrows_counterclockwise: Status is now *Identified* by <@U0DECLARER>\n>Bad deploy of cart v42`);
  });

  it("update <msg>: posted in the channel and under the announcement; only lastStatusUpdateAt changes", async () => {
    const previous = await incidentRow(incident.number);
    const step = await command("update Rolling back cart to v41", { channel, incidentId: incident.id });
    expect(step.reply.text).toBe("Update posted.");

    const row = await incidentRow(incident.number);
    expect(row.status).toBe("IDENTIFIED");
    expect(row.lastStatusUpdateAt!.getTime()).toBeGreaterThan(previous.lastStatusUpdateAt!.getTime());
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["update.posted", "U0DECLARER", { message: "Rolling back cart to v41", status: "IDENTIFIED" }]]);

    expect(methods(step.calls)).toEqual(["chat.postMessage", "chat.postMessage"]);
    expect(step.posted.filter((m) => m.channel === channel).map(sectionText)).toEqual([":loudspeaker: *Update* (Identified) by <@U0DECLARER>\n>Rolling back cart to v41"]);
    expect(announcementThread(incident).map(sectionText)).toEqual([
      `*${ref}* · :arrows_counterclockwise: Status is now *Identified* by <@U0DECLARER>\n>Bad deploy of cart v42`,
      `*${ref}* · :loudspeaker: *Update* (Identified) by <@U0DECLARER>\n>Rolling back cart to v41`,
    ]);
  });

  it("sev 1: severity changes everywhere (header, topic, bookmark, notice, announcement thread)", async () => {
    const step = await command("sev 1", { channel, incidentId: incident.id });
    expect(step.reply.text).toBe(`${ref} is now *SEV1*.`);
    expect((await incidentRow(incident.number)).severity).toBe("SEV1");
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["severity.changed", "U0DECLARER", { from: "SEV2", to: "SEV1" }]]);

    expect(methods(step.calls)).toEqual(sorted([...SYNC_CALLS, "chat.postMessage", "chat.postMessage"]));
    expect(headerText(incident)).toContain("*Severity*\n:red_circle: SEV1");
    expect(slack.channels.topic(channel)).toBe("SEV1 | Identified | Commander: dana.declarer | Checkout is failing");
    expect(slack.bookmarks.in(channel).map((b) => b.title)).toEqual([`${ref} · SEV1 · Identified`]);
    expect(step.posted.filter((m) => m.channel === channel).map(sectionText)).toEqual([":red_circle: Severity changed from SEV2 to *SEV1* by <@U0DECLARER>"]);
    expect(step.posted.filter((m) => m.channel === ANNOUNCE).map((m) => [m.thread_ts, sectionText(m)])).toEqual([
      [incident.announcementTs, `*${ref}* · :red_circle: Severity changed from SEV2 to *SEV1* by <@U0DECLARER>`],
    ]);

    // The same severity again changes nothing.
    const again = await command("sev 1", { channel, incidentId: incident.id });
    expect(again.reply.text).toBe("Severity is already SEV1.");
    expect(again.events).toEqual([]);
    expect(again.calls).toEqual([]);
  });

  it("commander @name: hands over command; header, topic and notice follow, no announcement", async () => {
    const step = await command("commander @riley.responder", { channel, incidentId: incident.id });
    expect(step.reply.text).toBe(`<@U0RESPOND1> is now the commander of ${ref}.`);
    expect((await incidentRow(incident.number)).commanderId).toBe("U0RESPOND1");
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["commander.assigned", "U0DECLARER", { from: "U0DECLARER", to: "U0RESPOND1" }]]);
    expect(await activeRoles(incident.id)).toEqual(["U0RESPOND1:COMMANDER"]);
    const history = await app.database.prisma.participantRoleAssignment.findMany({ where: { role: "COMMANDER", participant: { incidentId: incident.id } }, include: { participant: true }, orderBy: { assignedAt: "asc" } });
    expect(history.map((r) => [r.participant.slackUserId, r.assignedById, r.endedAt === null])).toEqual([
      ["U0DECLARER", "U0DECLARER", false],
      ["U0RESPOND1", "U0DECLARER", true],
    ]);

    expect(methods(step.calls)).toEqual(sorted([...SYNC_CALLS, "chat.postMessage", "users.info"]));
    expect(headerText(incident)).toContain("*Commander*\n<@U0RESPOND1>");
    expect(slack.channels.topic(channel)).toBe("SEV1 | Identified | Commander: riley.responder | Checkout is failing");
    expect(step.posted.map((m) => [m.channel, sectionText(m)])).toEqual([[channel, ":firefighter: <@U0RESPOND1> is now the commander by <@U0DECLARER>"]]);
  });

  it("commander me: an incident admin takes command", async () => {
    const step = await command("commander me", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(step.reply.text).toBe(`<@U0COMMANDR> is now the commander of ${ref}.`);
    expect((await incidentRow(incident.number)).commanderId).toBe("U0COMMANDR");
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["commander.assigned", "U0COMMANDR", { from: "U0RESPOND1", to: "U0COMMANDR" }]]);
    expect(await activeRoles(incident.id)).toEqual(["U0COMMANDR:COMMANDER"]);
    expect(slack.channels.topic(channel)).toBe("SEV1 | Identified | Commander: casey.commander | Checkout is failing");
    expect(step.posted.map((m) => [m.channel, sectionText(m)])).toEqual([[channel, ":firefighter: <@U0COMMANDR> is now the commander by <@U0COMMANDR>"]]);

    const again = await command("commander me", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(again.reply.text).toBe("You are already the commander.");
    expect(again.events).toEqual([]);
    expect(again.calls).toEqual([]);
  });

  it("role scribe @name / role comms @name: roles recorded with who assigned them; header shows them", async () => {
    const scribe = await command("role scribe @sam.sre", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(scribe.reply.text).toBe(`<@U0RESPOND2> is now the scribe of ${ref}.`);
    expect(scribe.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["role.assigned", "U0COMMANDR", { role: "SCRIBE", from: null, to: "U0RESPOND2" }]]);
    expect(methods(scribe.calls)).toEqual(sorted([...SYNC_CALLS, "chat.postMessage"]));
    expect(scribe.posted.map((m) => [m.channel, sectionText(m)])).toEqual([[channel, ":busts_in_silhouette: <@U0RESPOND2> is now the scribe by <@U0COMMANDR>"]]);

    const comms = await command("role comms @riley.responder", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(comms.reply.text).toBe(`<@U0RESPOND1> is now the comms lead of ${ref}.`);
    expect(comms.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["role.assigned", "U0COMMANDR", { role: "COMMS", from: null, to: "U0RESPOND1" }]]);
    expect(comms.posted.map((m) => [m.channel, sectionText(m)])).toEqual([[channel, ":busts_in_silhouette: <@U0RESPOND1> is now the comms lead by <@U0COMMANDR>"]]);

    expect(await activeRoles(incident.id)).toEqual(["U0COMMANDR:COMMANDER", "U0RESPOND1:COMMS", "U0RESPOND2:SCRIBE"]);
    const assigned = await app.database.prisma.participantRoleAssignment.findMany({ where: { role: { in: ["SCRIBE", "COMMS"] }, participant: { incidentId: incident.id } } });
    expect(assigned.map((r) => r.assignedById)).toEqual(["U0COMMANDR", "U0COMMANDR"]);
    expect(headerText(incident)).toContain("*Scribe*\n<@U0RESPOND2>");
    expect(headerText(incident)).toContain("*Comms*\n<@U0RESPOND1>");

    // Handing the scribe role on ends the previous holder's assignment.
    const handover = await command("role scribe @dana.declarer", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(handover.events.map((e) => [e.type, e.data])).toEqual([["role.assigned", { role: "SCRIBE", from: "U0RESPOND2", to: "U0DECLARER" }]]);
    expect(await activeRoles(incident.id)).toEqual(["U0COMMANDR:COMMANDER", "U0DECLARER:SCRIBE", "U0RESPOND1:COMMS"]);
    expect(headerText(incident)).toContain("*Scribe*\n<@U0DECLARER>");
  });

  it("invite @name @name: invites through conversations.invite and records the participants", async () => {
    expect(slack.channels.members(channel)).not.toContain("U0RESPOND2");
    const step = await command("invite @sam.sre @gale.groupadmin", { channel, user: "U0RESPOND1", incidentId: incident.id });
    expect(step.reply.text).toBe(`Inviting <@U0RESPOND2>, <@${GROUP_ADMIN}>…`);
    expect(methods(step.calls)).toEqual(["conversations.invite"]);
    expect(step.calls[0]).toMatchObject({ ok: true, args: { channel, users: `U0RESPOND2,${GROUP_ADMIN}` } });
    expect(slack.channels.members(channel)).toEqual(expect.arrayContaining(["U0RESPOND2", GROUP_ADMIN]));
    expect(await participantIds(incident.id)).toEqual(sorted(["U0COMMANDR", "U0DECLARER", "U0RESPOND1", "U0RESPOND2", GROUP_ADMIN]));
    expect(step.events.map((e) => [e.type, e.data])).toEqual([["participant.invited", { users: ["U0RESPOND2", GROUP_ADMIN] }]]);
  });

  it("note <text>: on the timeline only, no message anywhere", async () => {
    const step = await command("note Customer support reports 40 tickets", { channel, user: "U0RESPOND2", incidentId: incident.id });
    expect(step.reply.text).toBe(":memo: Added to the timeline.");
    expect(step.events.map((e) => [e.type, e.actorId, e.source, e.data])).toEqual([["note.added", "U0RESPOND2", "SLACK", { text: "Customer support reports 40 tickets" }]]);
    expect(step.calls).toEqual([]);
    expect(step.posted).toEqual([]);
  });

  it("status monitoring twice: mitigatedAt is recorded once, at the first", async () => {
    const first = await command("status monitoring", { channel, incidentId: incident.id });
    expect(first.reply.text).toBe(`${ref} is now *Monitoring*.`);
    const row = await incidentRow(incident.number);
    expect(row.status).toBe("MONITORING");
    expect(row.mitigatedAt).not.toBeNull();
    expect(row.mitigatedAt).toEqual(row.lastStatusUpdateAt);
    firstMitigatedAt = row.mitigatedAt!;
    expect(first.events.map((e) => [e.type, e.data])).toEqual([["status.changed", { from: "IDENTIFIED", to: "MONITORING", message: null }]]);
    expect(first.posted.filter((m) => m.channel === channel).map(sectionText)).toEqual([":arrows_counterclockwise: Status is now *Monitoring* by <@U0DECLARER>"]);
    expect(slack.channels.topic(channel)).toMatch(/^SEV1 \| Monitoring \| /);

    const second = await command("status monitoring", { channel, incidentId: incident.id });
    expect(second.reply.text).toBe("Already monitoring.");
    expect(second.events).toEqual([]);
    expect(second.calls).toEqual([]);
    expect(await incidentRow(incident.number)).toEqual(row);

    // The same status with a message is an update; mitigatedAt stays the first one.
    const withMessage = await command("status monitoring Error rate back to 0.1%", { channel, incidentId: incident.id });
    expect(withMessage.reply.text).toBe("Update posted.");
    expect(withMessage.events.map((e) => [e.type, e.data])).toEqual([["update.posted", { message: "Error rate back to 0.1%", status: "MONITORING" }]]);
    const after = await incidentRow(incident.number);
    expect(after.mitigatedAt).toEqual(firstMitigatedAt);
    expect(after.lastStatusUpdateAt!.getTime()).toBeGreaterThan(row.lastStatusUpdateAt!.getTime());
  });

  it("resolve <summary>: resolvedAt and summary set, mitigatedAt kept, header without buttons, announced in the thread", async () => {
    const before = Date.now();
    const step = await command("resolve Rolled back cart to v41; error rate normal", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(step.reply.text).toBe(`${ref} is now *Resolved*.`);
    const row = await incidentRow(incident.number);
    expect(row).toMatchObject({ status: "RESOLVED", summary: "Rolled back cart to v41; error rate normal", mitigatedAt: firstMitigatedAt });
    expect(row.resolvedAt!.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["incident.resolved", "U0COMMANDR", { summary: "Rolled back cart to v41; error rate normal" }]]);

    // Notice in the channel, reply under the announcement, and the post-mortem draft's summary.
    // ... and the draft itself as a Markdown file (files.getUploadURLExternal, upload, files.completeUploadExternal).
    expect(methods(step.calls)).toEqual(sorted([...SYNC_CALLS, "chat.postMessage", "chat.postMessage", "chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal"]));
    expect(headerHasActions(incident)).toBe(false);
    expect(headerText(incident)).toContain("*Resolution*\nRolled back cart to v41; error rate normal");
    expect(headerText(incident)).toContain("*Status*\nResolved");
    expect(slack.channels.topic(channel)).toBe("SEV1 | Resolved | Commander: casey.commander | Checkout is failing");
    expect(slack.bookmarks.in(channel).map((b) => b.title)).toEqual([`${ref} · SEV1 · Resolved`]);
    expect(step.posted.map((m) => [m.channel, m.thread_ts, sectionText(m)])).toEqual(
      expect.arrayContaining([
        [channel, undefined, ":white_check_mark: *Resolved* by <@U0COMMANDR>\n>Rolled back cart to v41; error rate normal"],
        [ANNOUNCE, incident.announcementTs, `*${ref}* · :white_check_mark: *Resolved* by <@U0COMMANDR>\n>Rolled back cart to v41; error rate normal`],
      ]),
    );
    // Three messages, and the file share Slack shows as a fourth.
    expect(step.posted).toHaveLength(4);
    const summary = step.posted.find((m) => m.text.startsWith(`Post-mortem draft for ${ref}`));
    expect(summary?.channel).toBe(channel);
    const draft = slack.files.in(channel).at(-1);
    expect(draft).toMatchObject({ filename: `${ref.toLowerCase()}-postmortem-draft.md`, title: `Post-mortem draft: ${ref}` });
    expect(draft?.content).toContain(`# ${ref}`);
    expect(draft?.content).toContain("Rolled back cart to v41; error rate normal");
    expect(mrkdwnTexts(summary!.blocks ?? []).join("\n")).toContain(`GET /api/incidents/${incident.number}/postmortem.md`);

    // No status-update reminder is scheduled after the resolution.
    const reminders = await app.database.prisma.job.findMany({ where: { incidentId: incident.id, kind: "incident.reminder", createdAt: { gte: new Date(before - 5) } } });
    expect(reminders).toEqual([]);

    const again = await command("resolve Again", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(again.reply.text).toBe("Already resolved.");
    expect(again.events).toEqual([]);
    expect(again.calls).toEqual([]);
    expect(await incidentRow(incident.number)).toEqual(row);
  });

  it("reopen: event recorded, resolvedAt cleared, status investigating, buttons back", async () => {
    const resolved = await incidentRow(incident.number);
    const step = await command("reopen", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(step.reply.text).toBe(`${ref} is open again (Investigating).`);
    const row = await incidentRow(incident.number);
    expect(row).toMatchObject({ status: "INVESTIGATING", resolvedAt: null, mitigatedAt: firstMitigatedAt });
    expect(step.events.map((e) => [e.type, e.actorId, e.data])).toEqual([["incident.reopened", "U0COMMANDR", { previousResolvedAt: resolved.resolvedAt!.toISOString() }]]);
    expect(headerHasActions(incident)).toBe(true);
    expect(headerText(incident)).toContain("*Status*\nInvestigating");
    expect(slack.channels.topic(channel)).toBe("SEV1 | Investigating | Commander: casey.commander | Checkout is failing");
    expect(step.posted.map((m) => [m.channel, m.thread_ts, sectionText(m)])).toEqual(
      expect.arrayContaining([
        [channel, undefined, ":leftwards_arrow_with_hook: *Reopened* by <@U0COMMANDR>; status is Investigating"],
        [ANNOUNCE, incident.announcementTs, `*${ref}* · :leftwards_arrow_with_hook: *Reopened* by <@U0COMMANDR>; status is Investigating`],
      ]),
    );
    expect(step.posted).toHaveLength(2);

    const again = await command("reopen", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(again.reply.text).toBe("It is not resolved.");
    expect(again.events).toEqual([]);

    // Resolving again sets a new resolvedAt; mitigatedAt is still the first one.
    await command("resolve", { channel, user: "U0COMMANDR", incidentId: incident.id });
    const final = await incidentRow(incident.number);
    expect(final.status).toBe("RESOLVED");
    expect(final.resolvedAt!.getTime()).toBeGreaterThan(resolved.resolvedAt!.getTime());
    expect(final.mitigatedAt).toEqual(firstMitigatedAt);
    expect(final.acknowledgedAt).toEqual(incident.acknowledgedAt);
  });

  it("timeline: ephemeral pages, newest last, every event in order with its actor; editors get a menu per entry", async () => {
    // The timeline's order: when each event happened.
    const events = await app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id }, orderBy: [{ occurredAt: "asc" }, { id: "asc" }] });
    const pages = Math.ceil(events.length / 20);
    expect(pages).toBeGreaterThan(0);
    const listing: string[] = [];
    // Page 1 holds the newest entries; walk from the oldest page to the newest.
    for (let page = pages; page >= 1; page -= 1) {
      // U0DECLARER is the scribe since the handover above.
      const step = await command(page === 1 ? "timeline" : `timeline ${page}`, { channel, user: "U0DECLARER" });
      expect(step.calls).toEqual([]);
      const first = Math.max(1, events.length - page * 20 + 1);
      const last = events.length - (page - 1) * 20;
      expect(step.reply.text.split("\n")[0]).toBe(`*Timeline of ${ref}*: entries ${first}–${last} of ${events.length}`);
      const sections = (step.reply.blocks ?? []).filter((block): block is { type: string; text: { text: string }; accessory?: { type: string } } => (block as { type: string }).type === "section").slice(1);
      // The scribe is an editor: one section per entry, each with its menu.
      expect(sections).toHaveLength(last - first + 1);
      for (const entrySection of sections) expect(entrySection.accessory?.type).toBe("overflow");
      listing.push(...sections.map((entrySection) => entrySection.text.text));
    }
    expect(listing).toHaveLength(events.length);
    const expectedOrder = [
      `${ref} declared as SEV2: Checkout is failing · <@U0DECLARER>`,
      "Status Investigating → Identified: Bad deploy of cart v42 · <@U0DECLARER>",
      "Update: Rolling back cart to v41 · <@U0DECLARER>",
      "Severity SEV2 → SEV1 · <@U0DECLARER>",
      "@U0RESPOND1 is now the commander · <@U0DECLARER>",
      "@U0COMMANDR is now the commander · <@U0COMMANDR>",
      "@U0RESPOND2 is now the scribe · <@U0COMMANDR>",
      "@U0RESPOND1 is now the comms lead · <@U0COMMANDR>",
      "Note: Customer support reports 40 tickets · <@U0RESPOND2>",
      "Status Identified → Monitoring · <@U0DECLARER>",
      "Update: Error rate back to 0.1% · <@U0DECLARER>",
      "Resolved: Rolled back cart to v41; error rate normal · <@U0COMMANDR>",
      "Reopened · <@U0COMMANDR>",
      "Resolved · <@U0COMMANDR>",
    ];
    let from = 0;
    for (const wanted of expectedOrder) {
      const at = listing.findIndex((line, index) => index >= from && line.endsWith(wanted));
      expect(at, `"${wanted}" after line ${from} in:\n${listing.join("\n")}`).toBeGreaterThanOrEqual(from);
      from = at + 1;
    }
    // Each line starts with a Slack date of the event.
    for (const [index, line] of listing.entries()) expect(line.startsWith(`<!date^${Math.floor(events[index]!.occurredAt.getTime() / 1000)}^`)).toBe(true);
    const beyond = await command(`timeline ${pages + 1}`, { channel, user: "U0DECLARER" });
    expect(beyond.reply.text).toContain(`There is no page ${pages + 1}; the timeline has ${pages}.`);
    // (What readers who may not edit see is covered in timeline-capture.test.ts.)
  });
});

// ---- list and show ----------------------------------------------------------------------------

describe("list, list all, show", () => {
  let older: Incident;
  let newer: Incident;
  let resolved: Incident;

  beforeAll(async () => {
    freshWorkspace();
    resolved = await declare("sev4 Old flaky cron");
    await command("resolve Cron fixed", { channel: resolved.channelId!, incidentId: resolved.id });
    older = await declare("sev3 Search is slow");
    // "newer" must be declared at a later millisecond (the app stamps declaredAt with this
    // process's clock): wait for the clock to pass older's, not a fixed time.
    await eventually(async () => Date.now() > older.declaredAt.getTime(), 1_000, "the clock past the older declaration");
    newer = await declare("sev2 Payments delayed", "U0RESPOND1");
    resolved = await incidentRow(resolved.number);
  });

  function numbersIn(text: string): number[] {
    return [...text.matchAll(/\*INC-(\d+)\*/g)].map((match) => Number(match[1]));
  }

  it("list: open incidents only, newest first, with severity, status, title, channel, commander and age", async () => {
    const { reply, calls } = await command("list", { user: OUTSIDER });
    expect(calls).toEqual([]);
    const open = await app.database.prisma.incident.findMany({ where: { status: { not: "RESOLVED" } }, orderBy: { declaredAt: "desc" } });
    expect(reply.text).toContain(`*Open incidents* (newest first, ${open.length})`);
    const listed = numbersIn(reply.text);
    expect(listed).toEqual(open.map((i) => i.number));
    expect(listed).not.toContain(resolved.number);
    expect(listed.indexOf(newer.number)).toBeLessThan(listed.indexOf(older.number));
    expect(reply.text).toContain(`:large_orange_circle: *INC-${newer.number}* SEV2 · Investigating · Payments delayed <#${newer.channelId}>\n      commander <@U0RESPOND1> · `);
    expect(reply.text).toContain(`:large_yellow_circle: *INC-${older.number}* SEV3 · Investigating · Search is slow <#${older.channelId}>\n      commander <@U0DECLARER> · `);
    expect(reply.text).toMatch(new RegExp(`\\*INC-${newer.number}\\*[^\\n]*\\n {6}commander <@U0RESPOND1> · \\d+ seconds? old`));
    // The blocks carry the same lines.
    expect(mrkdwnTexts(reply.blocks).join("\n")).toContain(`*INC-${newer.number}* SEV2 · Investigating · Payments delayed`);
  });

  it("list all: includes resolved incidents", async () => {
    const { reply } = await command("list all", { user: OUTSIDER });
    const all = await app.database.prisma.incident.findMany({ orderBy: { declaredAt: "desc" } });
    expect(reply.text).toContain(`*Incidents* (newest first, ${all.length} in all)`);
    expect(numbersIn(reply.text)).toEqual(all.map((i) => i.number));
    expect(reply.text).toContain(`:white_circle: *INC-${resolved.number}* SEV4 · Resolved · Old flaky cron <#${resolved.channelId}>`);
  });

  it("show <n>: one incident's summary; resolved ones with their resolution; unknown numbers politely", async () => {
    const open = await command(`show ${newer.number}`, { user: OUTSIDER });
    expect(open.calls).toEqual([]);
    expect(open.reply.text).toContain(`:large_orange_circle: *INC-${newer.number}: Payments delayed*`);
    expect(open.reply.text).toContain(`SEV2 · Investigating · commander <@U0RESPOND1> · <#${newer.channelId}>`);
    expect(open.reply.text).toMatch(/Declared <!date\^\d+\^[^|]+\|[^>]+> \(\d+ seconds? ago\) by <@U0RESPOND1>/);
    expect(open.reply.text).not.toContain("Resolved");

    const done = await command(`show INC-${resolved.number}`, { user: OUTSIDER });
    expect(done.reply.text).toContain(`*INC-${resolved.number}: Old flaky cron*`);
    expect(done.reply.text).toContain("SEV4 · Resolved · commander <@U0DECLARER>");
    expect(done.reply.text).toMatch(new RegExp(`Resolved <!date\\^${Math.floor(resolved.resolvedAt!.getTime() / 1000)}\\^[^>]+>: Cron fixed`));

    const missing = await command("show 9999", { user: OUTSIDER });
    expect(missing.reply.text).toBe(":mag: There is no INC-9999 that you can see.");
  });
});

// ---- authorization ----------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("authorization: severity, resolve, reopen, commander and roles need the commander or an admin", { shuffle: false }, () => {
  let incident: Incident;
  let channel: string;
  let callMark: number;

  beforeAll(async () => {
    freshWorkspace();
    callMark = slack.calls.length;
    incident = await declare("Cache stampede");
    channel = incident.channelId!;
  });

  it.each([
    ["sev 1", "change severity"],
    ["resolve It was nothing", "resolve"],
    ["status resolved It was nothing", "resolve"],
    ["reopen", "reopen"],
    ["commander @sam.sre", "assign the commander"],
    ["commander me", "assign the commander"],
    ["role scribe @sam.sre", "assign roles"],
    ["role comms @olly.outsider", "assign roles"],
  ])("a responder who is neither commander nor admin running `%s` is refused; only action.denied is recorded", async (text, action) => {
    const before = await databaseState();
    const eventMark = await lastEventId();
    const step = await command(text, { channel, user: "U0RESPOND2" });
    const reason = `Only the commander (<@U0DECLARER>) or an incident admin can ${action} on INC-${incident.number}.`;
    expect(step.reply.text).toBe(`:no_entry: ${reason} Nothing was changed.`);

    // Nothing changed but the one timeline event; the only Slack call allowed is the admin-group lookup.
    const after = await databaseState();
    expect(after).toEqual({ ...before, events: before.events + 1 });
    const events = await eventsOf(incident.id, eventMark);
    expect(events.map((e) => ({ type: e.type, actorId: e.actorId, source: e.source, data: e.data }))).toEqual([
      { type: "action.denied", actorId: "U0RESPOND2", source: "SLACK", data: { action, reason } },
    ]);
    expect(step.calls.filter((call) => call.method !== "usergroups.users.list")).toEqual([]);
    expect(step.posted).toEqual([]);
  });

  it("changing the status is open to every responder", async () => {
    const step = await command("status identified Found it", { channel, user: "U0RESPOND2", incidentId: incident.id });
    expect(step.reply.text).toBe(`INC-${incident.number} is now *Identified*.`);
    expect(step.events.map((e) => [e.type, e.actorId])).toEqual([["status.changed", "U0RESPOND2"]]);
  });

  it("an admin listed by user id may change the severity", async () => {
    const step = await command("sev 2", { channel, user: "U0COMMANDR", incidentId: incident.id });
    expect(step.reply.text).toBe(`INC-${incident.number} is now *SEV2*.`);
    expect(step.events[0]).toMatchObject({ type: "severity.changed", actorId: "U0COMMANDR", data: { from: "SEV3", to: "SEV2" } });
    // SEV2 is announced and notifies the on-call group: the escalation does both.
    expect(step.events.map((e) => e.type).sort()).toEqual(["announcement.posted", "participant.invited", "severity.changed"]);
    expect((await incidentRow(incident.number)).severity).toBe("SEV2");
    expect(slack.channels.topic(channel)).toMatch(/^SEV2 \| Identified \| Commander: dana.declarer \| /);
  });

  it("an admin through the admin user group may assign roles, resolve and reopen", async () => {
    const role = await command("role comms @gale.groupadmin", { channel, user: GROUP_ADMIN, incidentId: incident.id });
    expect(role.reply.text).toBe(`<@${GROUP_ADMIN}> is now the comms lead of INC-${incident.number}.`);
    expect(role.events.map((e) => [e.type, e.actorId])).toEqual([["role.assigned", GROUP_ADMIN]]);
    expect(await activeRoles(incident.id)).toEqual(["U0DECLARER:COMMANDER", `${GROUP_ADMIN}:COMMS`]);

    const resolve = await command("resolve Cache warmed", { channel, user: GROUP_ADMIN, incidentId: incident.id });
    expect(resolve.reply.text).toBe(`INC-${incident.number} is now *Resolved*.`);
    expect(resolve.events.map((e) => [e.type, e.actorId])).toEqual([["incident.resolved", GROUP_ADMIN]]);
    expect(await incidentRow(incident.number)).toMatchObject({ status: "RESOLVED", summary: "Cache warmed" });

    // A plain responder still cannot reopen it...
    const denied = await command("reopen", { channel, user: "U0RESPOND2", incidentId: incident.id });
    expect(denied.reply.text).toMatch(/^:no_entry: Only the commander/);
    expect(denied.events.map((e) => [e.type, e.actorId])).toEqual([["action.denied", "U0RESPOND2"]]);
    expect((await incidentRow(incident.number)).status).toBe("RESOLVED");

    // ...but the group admin can.
    const reopen = await command("reopen", { channel, user: GROUP_ADMIN, incidentId: incident.id });
    expect(reopen.reply.text).toBe(`INC-${incident.number} is open again (Investigating).`);
    expect(reopen.events.map((e) => [e.type, e.actorId])).toEqual([["incident.reopened", GROUP_ADMIN]]);

    // Group membership was read from Slack.
    expect(slack.calls.slice(callMark).some((call) => call.method === "usergroups.users.list" && call.args.usergroup === ADMIN_GROUP && call.ok)).toBe(true);
  });
});

// ---- refused and malformed commands ------------------------------------------------------------

describe("commands that need an incident channel, run elsewhere", () => {
  it.each([
    "status identified Found it",
    "update Still looking",
    "sev 1",
    "commander me",
    "commander @riley.responder",
    "role scribe @riley.responder",
    "invite @riley.responder",
    "note Something",
    "resolve Fixed",
    "reopen",
    "timeline",
  ])("`%s` gets a polite ephemeral and changes nothing", async (text) => {
    const before = await databaseState();
    const step = await command(text, { channel: ELSEWHERE, user: "U0COMMANDR" });
    expect(step.reply.text).toBe(":information_source: Run this inside an incident channel (the one Firebreak created for the incident). `/incident list` shows them.");
    expect(step.calls).toEqual([]);
    expect(await databaseState()).toEqual(before);
  });
});

describe("bad usage in an incident channel", () => {
  let channel: string;

  beforeAll(async () => {
    freshWorkspace();
    channel = (await declare("Disk almost full")).channelId!;
  });

  it("an app whose /incident does not escape mentions gets the fix named for `@name`, and nothing changes", async () => {
    const before = await databaseState();
    for (const typed of ["commander @riley.responder", "role scribe @riley.responder", "invite @sam.sre @riley.responder"]) {
      // As Slack sends it when the command's "Escape channels, users, and links" is off: the letters.
      const text = slack.commandText(typed, { escape: false });
      expect(text).toBe(typed);
      const reply = ephemeralReply(await sendCommand(app.url, text, { user_id: "U0DECLARER", channel_id: channel }));
      expect(reply.text).toContain("Escape channels, users, and links sent to your app");
      expect(reply.text).toContain("`@");
      expect(reply.text).toContain("manifest.yml");
    }
    expect(await databaseState()).toEqual(before);
  });

  it.each([
    ["sev 9", "/incident sev <1-4>"],
    ["sev", "/incident sev <1-4>"],
    ["role boss @riley.responder", "/incident role <scribe|comms> <@user>"],
    ["role scribe bob", "/incident role <scribe|comms> <@user>"],
    ["commander bob", "/incident commander <@user|me>"],
    ["commander", "/incident commander <@user|me>"],
    ["status fixed", "/incident status <investigating|identified|monitoring|resolved> [message]"],
    ["update", "/incident update <message>"],
    ["note", "/incident note <text>"],
    ["invite bob", "/incident invite <@user> [<@user>...]"],
    ["reopen now", "/incident reopen"],
    ["show abc", "/incident show <number>"],
    ["list everything", "/incident list [all]"],
  ])("`%s` gets usage help and changes nothing", async (text, expectedUsage) => {
    const before = await databaseState();
    const step = await command(text, { channel, user: "U0DECLARER" });
    expect(step.reply.text).toMatch(usage(expectedUsage));
    expect(step.reply.text).toContain("*Firebreak commands*");
    expect(step.calls).toEqual([]);
    expect(await databaseState()).toEqual(before);
  });
});

// ---- retries ----------------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("Slack retries of the same command (same trigger_id)", { shuffle: false }, () => {
  let incident: Incident;
  let channel: string;

  beforeAll(async () => {
    freshWorkspace();
    incident = await declare("sev2 Login errors");
    channel = incident.channelId!;
  });

  async function deliverTwice(text: string, user = "U0DECLARER") {
    const callMark = slack.calls.length;
    const eventMark = await lastEventId();
    const body = slashCommandBody({ text, user_id: user, channel_id: channel });
    const first = ephemeralReply(await sendToSlackEndpoint(app.url, body));
    const second = ephemeralReply(await sendToSlackEndpoint(app.url, body, { retryNum: 1 }));
    await jobsIdle();
    return { first, second, calls: slack.calls.slice(callMark), events: await eventsOf(incident.id, eventMark) };
  }

  it("update: posted once in the channel and once under the announcement", async () => {
    const { first, second, calls, events } = await deliverTwice("update Rolling out the fix");
    expect(first.text).toBe("Update posted.");
    expect(second.text).toBe("That was already done.");
    expect(events.map((e) => e.type)).toEqual(["update.posted"]);
    expect(calls.filter((c) => c.method === "chat.postMessage").map((c) => c.args.channel).sort()).toEqual(sorted([ANNOUNCE, channel]));
    expect(slack.messages.in(channel).filter((m) => sectionText(m).includes("Rolling out the fix"))).toHaveLength(1);
    expect(announcementThread(incident).filter((m) => sectionText(m).includes("Rolling out the fix"))).toHaveLength(1);
  });

  it("status and note: recorded once", async () => {
    const status = await deliverTwice("status monitoring Fix deployed");
    expect(status.second.text).toBe("That was already done.");
    expect(status.events.map((e) => e.type)).toEqual(["status.changed"]);
    expect(status.calls.filter((c) => c.method === "chat.postMessage")).toHaveLength(2);

    const note = await deliverTwice("note Watching the dashboards");
    expect(note.second.text).toBe("That was already done.");
    expect(note.events.map((e) => e.type)).toEqual(["note.added"]);
    expect(note.calls).toEqual([]);
  });

  it("invite: conversations.invite is called once and one participant.invited event recorded", async () => {
    const { first, calls, events } = await deliverTwice("invite <@U0RESPOND2>");
    expect(first.text).toBe("Inviting <@U0RESPOND2>…");
    expect(slack.channels.members(channel)).toContain("U0RESPOND2");
    expect({
      invites: calls.filter((c) => c.method === "conversations.invite").map((c) => (c.ok ? "ok" : c.error)),
      events: events.map((e) => e.type),
    }).toEqual({ invites: ["ok"], events: ["participant.invited"] });
  });

  it("resolve: resolved once", async () => {
    const { first, second, calls, events } = await deliverTwice("resolve Login fixed");
    expect(first.text).toBe(`INC-${incident.number} is now *Resolved*.`);
    expect(second.text).toBe("That was already done.");
    expect(events.map((e) => e.type)).toEqual(["incident.resolved"]);
    // The resolved notice, its announcement-thread reply and one post-mortem summary: once each.
    expect(calls.filter((c) => c.method === "chat.postMessage")).toHaveLength(3);
    expect(calls.filter((c) => c.method === "chat.postMessage" && String(c.args.text).startsWith("Post-mortem draft"))).toHaveLength(1);
    expect(calls.filter((c) => c.method === "chat.update")).toHaveLength(1);
  });
});

// ---- untrusted text ---------------------------------------------------------------------------

describe("untrusted text in updates, notes, statuses and summaries", () => {
  let incident: Incident;
  let channel: string;
  let callMark: number;
  const replies: Reply[] = [];
  const FORBIDDEN = ["<!channel>", "<!here>", "<!everyone>", `<@${OUTSIDER}>`, `<@${OUTSIDER}|`, "<https://evil.example"];

  beforeAll(async () => {
    freshWorkspace();
    incident = await declare("sev2 Queue backlog");
    channel = incident.channelId!;
    callMark = slack.calls.length;
    const run = async (text: string) => replies.push((await command(text, { channel, incidentId: incident.id })).reply);
    // Typed as people type (the fake escapes it as Slack does), and links with text as Slack sends them.
    await run("update @channel @olly.outsider look https://evil.example & more");
    await run(`note @here ask <@${OUTSIDER}|olly> about <https://evil.example|this>`);
    await run("status identified @everyone see <https://evil.example|the fix>");
    await run("resolve @channel fixed by @olly.outsider <https://evil.example|details>");
    await run("timeline");
  });

  function slackTexts(): Array<{ method: string; where: string; text: string }> {
    const out: Array<{ method: string; where: string; text: string }> = [];
    for (const call of slack.calls.slice(callMark)) {
      if (!["chat.postMessage", "chat.update", "chat.postEphemeral"].includes(call.method)) continue;
      if (typeof call.args.text === "string") out.push({ method: call.method, where: "text", text: call.args.text });
      for (const text of mrkdwnTexts(call.args.blocks)) out.push({ method: call.method, where: "blocks", text });
    }
    return out;
  }

  it("never reaches Slack as markup: no pings, mentions or disguised links in any recorded mrkdwn", async () => {
    const texts = slackTexts();
    expect(texts.filter((t) => t.method === "chat.postMessage").length).toBeGreaterThanOrEqual(6);
    for (const { method, where, text } of texts) {
      for (const forbidden of FORBIDDEN) expect(text, `${method} ${where}: ${text}`).not.toContain(forbidden);
    }
    for (const reply of replies) {
      for (const forbidden of FORBIDDEN) expect(reply.all, reply.all).not.toContain(forbidden);
    }
    // The text is shown as typed, escaped, in the channel and under the announcement.
    const blocks = texts.filter((t) => t.where === "blocks").map((t) => t.text);
    expect(blocks).toContain(`:loudspeaker: *Update* (Investigating) by <@U0DECLARER>\n>@channel @olly.outsider look https://evil.example &amp; more`);
    expect(blocks).toContain(`*INC-${incident.number}* · :loudspeaker: *Update* (Investigating) by <@U0DECLARER>\n>@channel @olly.outsider look https://evil.example &amp; more`);
    expect(blocks.some((text) => text.includes("*Resolution*\n@channel fixed by @olly.outsider details (https://evil.example)"))).toBe(true);
    // The note stays off Slack's channels but shows, escaped, in the timeline; a link's text never hides its address.
    expect(texts.some((t) => t.text.includes("about this"))).toBe(false);
    expect(replies.at(-1)?.all).toContain("Note: @here ask @olly about this (https://evil.example)");
    // The database keeps what was typed, readable (no wire syntax).
    const note = (await eventsOf(incident.id)).find((e) => e.type === "note.added");
    expect(note?.data).toEqual({ text: "@here ask @olly about this (https://evil.example)" });
    expect((await incidentRow(incident.number)).summary).toBe("@channel fixed by @olly.outsider details (https://evil.example)");
  });

  it("notices' notification (fallback) text escapes the typed text once and keeps the actor mention", async () => {
    const notice = slack.calls
      .slice(callMark)
      .find((call) => call.method === "chat.postMessage" && call.args.channel === channel && mrkdwnTexts(call.args.blocks)[0]?.startsWith(":loudspeaker:"));
    expect(notice).toBeDefined();
    const fallback = String(notice?.args.text);
    // What a notification shows must read like the message: the typed text (once escaped), a real mention of the actor.
    expect(fallback).toContain("@channel @olly.outsider look https://evil.example &amp; more");
    expect(fallback).not.toContain("&amp;lt;");
    expect(fallback).toContain("by <@U0DECLARER>");
  });
});

// ---- severity escalation ----------------------------------------------------------------------

describe("sev escalation of an incident that was not announced", () => {
  it("announces it, threads the change under the announcement and invites the new severity's notify list", async () => {
    freshWorkspace();
    // SEV3 has no announcement channel and no notify list: nothing is announced at declaration.
    const incident = await declare("Slow reports");
    const channel = incident.channelId!;
    expect(incident.announcementTs).toBeNull();
    expect(slack.messages.topLevel(ANNOUNCE)).toEqual([]);
    expect(sorted(slack.channels.members(channel))).toEqual(["U0DECLARER", "UBOT00001"]);

    const step = await command("sev 2", { channel, user: "U0DECLARER", incidentId: incident.id });
    expect(step.reply.text).toBe(`INC-${incident.number} is now *SEV2*.`);
    // The thread reply waited for the announcement (a retry with backoff); command() let every job finish.
    const jobs = await app.database.prisma.job.findMany({ where: { incidentId: incident.id, kind: { not: "incident.reminder" } } });
    expect(jobs.filter((job) => job.status !== "DONE")).toEqual([]);
    const row = await incidentRow(incident.number);
    const announcements = slack.messages.topLevel(ANNOUNCE);
    expect(announcements.map(sectionText)).toEqual([`:large_orange_circle: *INC-${incident.number} (SEV2)*: Slow reports\nDeclared by <@U0DECLARER> · join <#${channel}>`]);
    expect(row).toMatchObject({ severity: "SEV2", announcementChannelId: ANNOUNCE, announcementTs: announcements[0]!.ts });
    expect(slack.messages.thread(ANNOUNCE, announcements[0]!.ts).map(sectionText)).toEqual([
      `*INC-${incident.number}* · :large_orange_circle: Severity changed from SEV3 to *SEV2* by <@U0DECLARER>`,
    ]);
    expect(sorted(slack.channels.members(channel))).toEqual(["U0COMMANDR", "U0DECLARER", "U0RESPOND1", "UBOT00001"]);
    const events = await eventsOf(incident.id);
    expect(events.filter((e) => e.type === "participant.invited").at(-1)?.data).toEqual({ users: ["U0RESPOND1", "U0COMMANDR"] });
  });
});

// ---- known gaps, each exposed by its own test -------------------------------------------------

describe("invites when some of the people are already in the channel", () => {
  it("/incident invite still invites the others", async () => {
    freshWorkspace();
    // SEV2's notify list brought U0RESPOND1 (via the on-call group) into the channel already.
    const incident = await declare("sev2 Image uploads failing");
    const channel = incident.channelId!;
    expect(slack.channels.members(channel)).toContain("U0RESPOND1");
    expect(slack.channels.members(channel)).not.toContain("U0RESPOND2");
    const step = await command("invite <@U0RESPOND1> <@U0RESPOND2>", { channel, user: "U0DECLARER", incidentId: incident.id });
    expect(step.reply.text).toBe("Inviting <@U0RESPOND1>, <@U0RESPOND2>…");
    expect(slack.channels.members(channel)).toContain("U0RESPOND2");
  });

  it("escalating still invites the rest of the new severity's notify list", async () => {
    // Declared by an on-call member: escalating to SEV2 invites the on-call group (already there) and U0COMMANDR.
    const incident = await declare("Avatars not loading", "U0RESPOND1");
    const channel = incident.channelId!;
    expect(slack.channels.members(channel)).not.toContain("U0COMMANDR");
    await command("sev 2", { channel, user: "U0RESPOND1", incidentId: incident.id });
    expect(slack.channels.members(channel)).toContain("U0COMMANDR");
  });

  it("records who invited them on the timeline", async () => {
    const incident = await declare("sev3 Thumbnails missing");
    const step = await command(`invite <@${OUTSIDER}>`, { channel: incident.channelId!, user: "U0RESPOND1", incidentId: incident.id });
    expect(slack.channels.members(incident.channelId!)).toContain(OUTSIDER);
    expect(step.events.map((e) => [e.type, e.data])).toEqual([["participant.invited", { users: [OUTSIDER] }]]);
    expect(step.events[0]?.actorId).toBe("U0RESPOND1");
  });
});

describe("status on a resolved incident", () => {
  it("does not claim the incident already has that status, and changes nothing", async () => {
    const incident = await declare("sev4 Flaky export job");
    const channel = incident.channelId!;
    await command("resolve Export fixed", { channel, incidentId: incident.id });
    const resolved = await incidentRow(incident.number);
    expect(resolved.status).toBe("RESOLVED");

    const step = await command("status identified More errors", { channel, incidentId: incident.id });
    expect(step.events).toEqual([]);
    expect(step.calls).toEqual([]);
    expect(await incidentRow(incident.number)).toEqual(resolved);
    // Today the reply is "Already identified.", which is false: the incident is resolved.
    expect(step.reply.text).not.toBe("Already identified.");
    expect(step.reply.text).toMatch(/resolved/i);
    expect(step.reply.text).toContain("/incident reopen");
  });
});
