import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Incident, TimelineEvent } from "../../src/generated/prisma/client.ts";
import type { CapturedMessageData } from "../../src/timeline/events.ts";
import { ADD_TO_TIMELINE_SHORTCUT } from "../../src/timeline/views.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import {
  eventCallback,
  messageChangedEvent,
  messageDeletedEvent,
  pinAddedEvent,
  pinRemovedEvent,
  reactionAddedEvent,
  reactionRemovedEvent,
  sendEvent,
  sendMessageShortcut,
} from "../support/slack-events.ts";
import { fromFakeView, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendCommand, sendToSlackEndpoint, type SlackResponse } from "../support/slack-requests.ts";
import { VIEWS } from "../../src/incident/views.ts";

/**
 * Human capture of the timeline, end to end through signed Slack events and
 * shortcuts sent to the running app (embedded database), against the fake
 * Slack with exactly the manifest's scopes: pins, the capture reaction (a
 * custom emoji from the YAML config here), the "Add to incident timeline"
 * shortcut, and what happens when the pin or reaction goes away or the
 * message is deleted. Each path is also checked in a private incident, whose
 * captured text must stay out of the public export.
 */

const TOKEN = randomBytes(16).toString("hex");
const EMOJI = "round_pushpin";
const ELSEWHERE = "C0GENERAL0";

let slack: FakeSlack;
let app: TestApp;
let configDir: string;

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), "firebreak-capture-config-"));
  const configPath = join(configDir, "firebreak.yml");
  await writeFile(configPath, `timeline:\n  captureEmoji: ":${EMOJI}:"\n`);
  slack = await startFakeSlack();
  app = await startTestApp({ slack, env: { API_TOKEN: TOKEN, FIREBREAK_CONFIG: configPath } });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

afterEach(async () => {
  await waitForIdleJobs(app);
  expect(app.logs.text()).not.toContain("xoxb-test-token");
});

// ---- helpers ----------------------------------------------------------------------------------

async function declare(text: string, user = "U0DECLARER"): Promise<Incident> {
  const response = await sendCommand(app.url, `declare ${text}`, { user_id: user, channel_id: ELSEWHERE });
  expect(response.status).toBe(200);
  const number = Number(/\*INC-(\d+)\*/.exec(JSON.stringify(response.body))?.[1]);
  expect(number).toBeGreaterThan(0);
  await waitForIdleJobs(app);
  const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number } });
  expect(incident.channelId).toBeTruthy();
  // People who will talk in the channel.
  slack.channels.addMembers(incident.channelId!, ["U0RESPOND1", "U0RESPOND2"]);
  return incident;
}

async function captured(incident: Incident): Promise<TimelineEvent[]> {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type: "message.captured" }, orderBy: { id: "asc" } });
}

function dataOf(event: TimelineEvent): CapturedMessageData {
  return event.data as CapturedMessageData;
}

/** Sends the event and expects Slack's answer only after the change is queued: 200, empty body. */
async function deliver(body: Parameters<typeof sendEvent>[1]): Promise<SlackResponse> {
  const response = await sendEvent(app.url, body);
  expect(response.status).toBe(200);
  await waitForIdleJobs(app);
  return response;
}

async function jobsOf(kind: string): Promise<number> {
  return app.database.prisma.job.count({ where: { kind } });
}

// ---- pins -------------------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("pinning a message", { shuffle: false }, () => {
  let incident: Incident;
  let ts: string;

  beforeAll(async () => {
    incident = await declare("sev2 Database failover");
    ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Primary <!channel> is down, promoting the replica");
  });

  it("adds the message to the timeline with its author, original time, text and permalink", async () => {
    const event = pinAddedEvent(slack.pins.addAs("U0RESPOND2", incident.channelId!, ts));
    await deliver(event);
    const [entry, ...rest] = await captured(incident);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({ actorId: "U0RESPOND2", source: "SLACK", private: false, removedAt: null, sourceRef: `msg:${incident.channelId}:${ts}` });
    expect(entry!.occurredAt.getTime()).toBe(Math.floor(Number(ts) * 1_000));
    expect(dataOf(entry!)).toMatchObject({ authorId: "U0RESPOND1", text: "Primary <!channel> is down, promoting the replica", via: ["pin"], ts, channelId: incident.channelId });
    // The permalink is Slack's own (chat.getPermalink), not one made up.
    const permalinkCall = slack.callsTo("chat.getPermalink").filter((call) => call.args.message_ts === ts).at(-1);
    expect(permalinkCall?.ok).toBe(true);
    expect(dataOf(entry!).permalink).toBe((permalinkCall!.response as { permalink: string }).permalink);
    // The person who pinned is now a participant.
    expect(await app.database.prisma.participant.count({ where: { incidentId: incident.id, slackUserId: "U0RESPOND2" } })).toBe(1);

    // Slack redelivers the same event (same event_id): nothing changes twice.
    const jobs = await jobsOf("timeline.capture");
    await deliver(event);
    expect(await jobsOf("timeline.capture")).toBe(jobs);
    expect(await captured(incident)).toHaveLength(1);
  });

  it("shows it in /incident timeline with the author and a link, mentions in the text defused", async () => {
    const response = await sendCommand(app.url, "timeline", { user_id: "U0RESPOND2", channel_id: incident.channelId! });
    const all = JSON.stringify(response.body);
    expect(all).toContain("<@U0RESPOND1>: Primary &lt;!channel&gt; is down, promoting the replica");
    expect(all).toContain("|view message>");
    expect(all).not.toContain("<!channel>");
    // A reader who is neither commander, scribe nor admin gets no edit menu.
    expect(all).not.toContain("overflow");
  });

  it("ignores Firebreak's own pins (the incident header is not a capture)", async () => {
    const header = slack.messages.get(incident.channelId!, incident.headerMessageTs!);
    expect(header).toBeDefined();
    await deliver(pinAddedEvent(header!, { user: slack.bot.user_id }));
    expect(await captured(incident)).toHaveLength(1);
  });

  it("unpinning marks the entry removed (never deleted), re-pinning brings it back", async () => {
    await deliver(pinRemovedEvent(slack.pins.removeAs("U0RESPOND2", incident.channelId!, ts)));
    let [entry] = await captured(incident);
    expect(entry!.removedAt).not.toBeNull();
    expect(dataOf(entry!)).toMatchObject({ via: [], removedReason: "unpinned", removedById: "U0RESPOND2" });
    const response = await sendCommand(app.url, "timeline", { user_id: "U0RESPOND2", channel_id: incident.channelId! });
    expect(JSON.stringify(response.body)).toContain("_(removed: unpinned)_");

    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", incident.channelId!, ts)));
    [entry] = await captured(incident);
    expect(entry!.removedAt).toBeNull();
    expect(dataOf(entry!)).toMatchObject({ via: ["pin"], removedReason: null });
    expect(await captured(incident)).toHaveLength(1);
  });
});

// ---- reactions ----------------------------------------------------------------------------------

describe("reacting with the capture emoji", () => {
  let incident: Incident;

  beforeAll(async () => {
    incident = await declare("sev3 Search is slow");
  });

  it("captures the message it names, read back with conversations.history; other emoji do nothing", async () => {
    // What the other tests of this incident captured, in whatever order they ran.
    const before = await captured(incident);
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "p99 latency is 4s on search-api");
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", incident.channelId!, ts, "eyes"), { user: "U0RESPOND2", reaction: "eyes" }));
    expect(await captured(incident)).toEqual(before);

    const historyCalls = slack.callsTo("conversations.history").length;
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", incident.channelId!, ts, EMOJI), { user: "U0RESPOND2", reaction: EMOJI }));
    expect(slack.callsTo("conversations.history").length).toBe(historyCalls + 1);
    const [entry, ...more] = (await captured(incident)).slice(before.length);
    expect(more).toEqual([]);
    expect(dataOf(entry!)).toMatchObject({ authorId: "U0RESPOND1", text: "p99 latency is 4s on search-api", via: ["reaction"] });
    expect(entry!.actorId).toBe("U0RESPOND2");
  });

  it("finds a thread reply through conversations.replies", async () => {
    const parent = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Looking at the index");
    const reply = slack.messages.postAs("U0RESPOND2", incident.channelId!, "Shard 3 is rebuilding", { threadTs: parent });
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND1", incident.channelId!, reply, EMOJI), { user: "U0RESPOND1", reaction: EMOJI }));
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === reply);
    expect(entry).toBeDefined();
    expect(dataOf(entry!)).toMatchObject({ authorId: "U0RESPOND2", text: "Shard 3 is rebuilding", threadTs: parent });
  });

  it("a message both pinned and reacted to is one entry; it is removed only when neither holds it", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Rebuild finished");
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", incident.channelId!, ts, EMOJI), { user: "U0RESPOND2", reaction: EMOJI }));
    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", incident.channelId!, ts)));
    const entryOf = async () => (await captured(incident)).filter((event) => dataOf(event).ts === ts);
    expect((await entryOf()).map((event) => dataOf(event).via)).toEqual([["reaction", "pin"]]);

    await deliver(pinRemovedEvent(slack.pins.removeAs("U0RESPOND1", incident.channelId!, ts)));
    expect((await entryOf()).map((event) => [dataOf(event).via, event.removedAt])).toEqual([[["reaction"], null]]);

    await deliver(reactionRemovedEvent(slack.reactions.removeAs("U0RESPOND2", incident.channelId!, ts, EMOJI), { user: "U0RESPOND2", reaction: EMOJI }));
    const [entry] = await entryOf();
    expect(entry!.removedAt).not.toBeNull();
    expect(dataOf(entry!)).toMatchObject({ via: [], removedReason: "unreacted", removedById: "U0RESPOND2" });
  });

  it("a reaction added then removed before the capture ran still ends removed (changes apply in order)", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Flapping alert, ignore");
    // conversations.history fails once: the capture is retried after the removal was queued.
    slack.failNext("conversations.history", "internal_error");
    const added = reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", incident.channelId!, ts, EMOJI), { user: "U0RESPOND2", reaction: EMOJI });
    const removed = reactionRemovedEvent(slack.reactions.removeAs("U0RESPOND2", incident.channelId!, ts, EMOJI), { user: "U0RESPOND2", reaction: EMOJI });
    expect((await sendEvent(app.url, added)).status).toBe(200);
    expect((await sendEvent(app.url, removed)).status).toBe(200);
    await waitForIdleJobs(app, 30_000);
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === ts);
    expect(entry?.removedAt).not.toBeNull();
    expect(dataOf(entry!)).toMatchObject({ via: [], removedReason: "unreacted" });
  });
});

// ---- deletion, the shortcut, other channels ---------------------------------------------------------

describe("deleting a captured message, the message shortcut, and channels that are not incidents", () => {
  let incident: Incident;

  beforeAll(async () => {
    incident = await declare("sev3 Queue backlog");
  });

  it("deleting the source message marks its entry removed, keeping what it said", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Consumer group lag 2M");
    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", incident.channelId!, ts)));
    await deliver(messageDeletedEvent(slack.messages.deleteAs(incident.channelId!, ts)));
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === ts);
    expect(entry?.removedAt).not.toBeNull();
    expect(entry?.text).toBe("Consumer group lag 2M");
    expect(dataOf(entry!)).toMatchObject({ via: [], removedReason: "deleted" });
    const response = await sendCommand(app.url, "timeline", { user_id: "U0RESPOND1", channel_id: incident.channelId! });
    expect(JSON.stringify(response.body)).toContain("~Consumer group lag 2M~ _(removed: message deleted)_");
  });

  it("an edit in Slack of a captured message updates its entry and is recorded; edits of other messages cost nothing", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "Lag at 2M, growing");
    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", incident.channelId!, ts)));
    await deliver(messageChangedEvent(slack.messages.editAs(incident.channelId!, ts, "Lag at 2M, shrinking since 10:42")));
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === ts);
    expect(entry?.text).toBe("Lag at 2M, shrinking since 10:42");
    expect(entry?.editedAt).not.toBeNull();
    expect(dataOf(entry!)).toMatchObject({ text: "Lag at 2M, shrinking since 10:42", via: ["pin"] });
    const audit = await app.database.prisma.timelineEvent.findFirst({ where: { incidentId: incident.id, type: "timeline.entry_edited" }, orderBy: { id: "desc" } });
    expect(audit).toMatchObject({ actorId: "U0RESPOND1", private: true, data: { eventId: String(entry!.id), before: "Lag at 2M, growing", after: "Lag at 2M, shrinking since 10:42" } });

    const other = slack.messages.postAs("U0RESPOND2", incident.channelId!, "coffee?");
    const jobs = await app.database.prisma.job.count();
    await deliver(messageChangedEvent(slack.messages.editAs(incident.channelId!, other, "tea?")));
    expect(await app.database.prisma.job.count()).toBe(jobs);
  });

  it("the shortcut adds the message and confirms to the person privately", async () => {
    const ts = slack.messages.postAs("U0RESPOND2", incident.channelId!, "Scaled consumers to 12");
    const ephemerals = slack.callsTo("chat.postEphemeral").length;
    const response = await sendMessageShortcut(app.url, {
      user: "U0RESPOND1",
      channel: incident.channelId!,
      message: slack.messages.get(incident.channelId!, ts)!,
      callbackId: ADD_TO_TIMELINE_SHORTCUT,
      triggerId: slack.newTriggerId("U0RESPOND1"),
    });
    expect(response.status).toBe(200);
    await waitForIdleJobs(app);
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === ts);
    expect(dataOf(entry!)).toMatchObject({ authorId: "U0RESPOND2", text: "Scaled consumers to 12", via: ["shortcut"] });
    expect(entry!.actorId).toBe("U0RESPOND1");
    const confirmation = slack.callsTo("chat.postEphemeral").slice(ephemerals).find((call) => call.ok);
    expect(confirmation?.args).toMatchObject({ channel: incident.channelId, user: "U0RESPOND1" });
    expect(String(confirmation?.args.text)).toContain(`Added to the timeline of INC-${incident.number}`);
  });

  it("outside an incident channel the shortcut explains itself in a modal and records nothing", async () => {
    slack.channels.addMembers(ELSEWHERE, ["U0RESPOND1"]);
    const ts = slack.messages.postAs("U0RESPOND1", ELSEWHERE, "lunch?");
    const before = await app.database.prisma.timelineEvent.count();
    const views = slack.views.all().length;
    const response = await sendMessageShortcut(app.url, {
      user: "U0RESPOND1",
      channel: ELSEWHERE,
      message: slack.messages.get(ELSEWHERE, ts)!,
      callbackId: ADD_TO_TIMELINE_SHORTCUT,
      triggerId: slack.newTriggerId("U0RESPOND1"),
    });
    expect(response.status).toBe(200);
    // The modal opens after the ack, within the trigger's 3 s.
    const opened = await eventually(async () => {
      const now = slack.views.all().slice(views);
      return now.length > 0 ? now : undefined;
    }, 3_000, "the modal");
    await waitForIdleJobs(app);
    expect(await app.database.prisma.timelineEvent.count()).toBe(before);
    expect(opened).toHaveLength(1);
    expect(JSON.stringify(opened[0]!.view)).toContain("not in an incident channel");
  });

  it("pins, reactions and deletions elsewhere are acknowledged and ignored", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", ELSEWHERE, "weekly sync notes");
    const before = await app.database.prisma.job.count();
    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", ELSEWHERE, ts)));
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND1", ELSEWHERE, ts, EMOJI), { user: "U0RESPOND1", reaction: EMOJI }));
    await deliver(messageDeletedEvent(slack.messages.deleteAs(ELSEWHERE, ts)));
    expect(await app.database.prisma.job.count()).toBe(before);
  });

  it("an event with a bad signature is refused and changes nothing", async () => {
    const ts = slack.messages.postAs("U0RESPOND1", incident.channelId!, "forged?");
    const body = JSON.stringify(eventCallback({ type: "reaction_added", user: "U0RESPOND1", reaction: EMOJI, item_user: "U0RESPOND1", item: { type: "message", channel: incident.channelId!, ts }, event_ts: ts }));
    const before = await app.database.prisma.job.count();
    const response = await sendToSlackEndpoint(app.url, body, { secret: "not-the-secret", contentType: "application/json" });
    expect(response.status).toBe(401);
    expect(await app.database.prisma.job.count()).toBe(before);
  });
});

// ---- private incidents ------------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("a private incident", { shuffle: false }, () => {
  let incident: Incident;
  const SECRET = "customer ACME-4471 card data exposure";

  beforeAll(async () => {
    // Private incidents are declared with the modal's checkbox.
    await sendCommand(app.url, "declare", { user_id: "U0DECLARER", channel_id: ELSEWHERE, trigger_id: slack.newTriggerId("U0DECLARER") });
    const view = await eventually(async () => slack.views.modals().filter((modal) => modal.callback_id === VIEWS.declare).at(-1), 3_000, "declare modal");
    const response = await sendViewSubmission(app.url, {
      user: "U0DECLARER",
      ...fromFakeView(view),
      values: {
        title: { title: { type: "plain_text_input", value: "Payment data exposure" } },
        severity: { severity: { type: "static_select", selected_option: { value: "SEV1", text: "SEV1" } } },
        private: { private: { type: "checkboxes", selected_options: [{ value: "private", text: "Private incident" }] } },
      },
    });
    expect(response.status).toBe(200);
    incident = await eventually(async () => {
      const row = await app.database.prisma.incident.findFirst({ where: { title: "Payment data exposure" } });
      return row?.headerMessageTs ? row : undefined;
    }, 10_000, "private incident set up");
    await waitForIdleJobs(app);
    expect(incident.private).toBe(true);
    slack.channels.addMembers(incident.channelId!, ["U0RESPOND1"]);
  });

  it("captures pins, reactions and shortcuts as private entries, kept out of the public export", async () => {
    const pinned = slack.messages.postAs("U0RESPOND1", incident.channelId!, `Pinned: ${SECRET}`);
    const reacted = slack.messages.postAs("U0RESPOND1", incident.channelId!, `Reacted: ${SECRET}`);
    const shortcut = slack.messages.postAs("U0RESPOND1", incident.channelId!, `Shortcut: ${SECRET}`);
    await deliver(pinAddedEvent(slack.pins.addAs("U0RESPOND1", incident.channelId!, pinned)));
    await deliver(reactionAddedEvent(slack.reactions.addAs("U0RESPOND1", incident.channelId!, reacted, EMOJI), { user: "U0RESPOND1", reaction: EMOJI }));
    await sendMessageShortcut(app.url, { user: "U0RESPOND1", channel: incident.channelId!, message: slack.messages.get(incident.channelId!, shortcut)!, callbackId: ADD_TO_TIMELINE_SHORTCUT, triggerId: slack.newTriggerId("U0RESPOND1") });
    await waitForIdleJobs(app);
    const entries = await captured(incident);
    expect(entries.map((entry) => [dataOf(entry).via, entry.private])).toEqual([
      [["pin"], true],
      [["reaction"], true],
      [["shortcut"], true],
    ]);

    const internal = await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.md`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(internal.status).toBe(200);
    expect(await internal.text()).toContain(SECRET);
    const shared = await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.md?audience=public`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(shared.status).toBe(200);
    const text = await shared.text();
    expect(text).not.toContain("ACME-4471");
    expect(text).not.toContain("U0RESPOND1");
  });

  it("deleting a private captured message marks it removed too", async () => {
    const ts = (await captured(incident)).map(dataOf)[0]!.ts;
    await deliver(messageDeletedEvent(slack.messages.deleteAs(incident.channelId!, ts)));
    const entry = (await captured(incident)).find((event) => dataOf(event).ts === ts);
    await eventually(async () => entry?.removedAt ?? undefined, 1_000, "removed");
    expect(dataOf(entry!).removedReason).toBe("deleted");
  });
});
