import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Incident, TimelineEvent } from "../../src/generated/prisma/client.ts";
import { CREATE_FOLLOWUP_SHORTCUT, FOLLOWUP_FIELDS, POSTMORTEM_ACTIONS, POSTMORTEM_VIEWS } from "../../src/postmortem/views.ts";
import { TIMELINE_ACTIONS, TIMELINE_FIELDS, TIMELINE_VIEWS } from "../../src/timeline/views.ts";
import { startFakeSlack, type FakeSlack, type FakeView } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { sendMessageShortcut } from "../support/slack-events.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission, type StateValuesInput } from "../support/slack-payloads.ts";
import { sendCommand, type SlackResponse } from "../support/slack-requests.ts";

/**
 * Correcting the record and writing the post-mortem from Slack, end to end
 * through signed interactions to the running app: the per-entry menu of
 * `/incident timeline` (edit text, hide, show again) for the commander and
 * the scribe only, with every correction itself recorded; the "Edit the
 * post-mortem" modal whose answers survive regeneration; and the "Create
 * follow-up" message shortcut (owner, due date, priority).
 */

const TOKEN = randomBytes(16).toString("hex");
const ELSEWHERE = "C0GENERAL0";
const COMMANDER = "U0DECLARER";
const SCRIBE = "U0RESPOND2";
const RESPONDER = "U0RESPOND1";

let slack: FakeSlack;
let app: TestApp;
let incident: Incident;

beforeAll(async () => {
  slack = await startFakeSlack({
    // The incident's roles and status change within milliseconds of each other: each change is a
    // setTopic (Tier 2: 20 a minute) and posts in the channel (about one a second). Slack would
    // answer 429s the app waits out (declare.test.ts), seconds for what these tests do not test.
    rateLimits: { "conversations.setTopic": TEST_SPEED, "chat.postMessage": { perChannel: TEST_SPEED } },
  });
  app = await startTestApp({ slack, env: { API_TOKEN: TOKEN } });
  const response = await sendCommand(app.url, "declare sev2 Checkout errors", { user_id: COMMANDER, channel_id: ELSEWHERE });
  const number = Number(/\*INC-(\d+)\*/.exec(JSON.stringify(response.body))?.[1]);
  await waitForIdleJobs(app);
  incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number } });
  slack.channels.addMembers(incident.channelId!, [RESPONDER, SCRIBE]);
  await command(`role scribe <@${SCRIBE}>`, COMMANDER);
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
});

afterEach(async () => {
  await waitForIdleJobs(app);
  expect(app.logs.text()).not.toContain("xoxb-test-token");
});

// ---- helpers ----------------------------------------------------------------------------------

async function command(text: string, user: string, channel = incident.channelId!): Promise<SlackResponse> {
  const response = await sendCommand(app.url, slack.commandText(text), { user_id: user, channel_id: channel });
  expect(response.status).toBe(200);
  await waitForIdleJobs(app);
  return response;
}

async function eventsOf(type: string): Promise<TimelineEvent[]> {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type }, orderBy: { id: "asc" } });
}

async function entry(id: bigint): Promise<TimelineEvent> {
  return app.database.prisma.timelineEvent.findUniqueOrThrow({ where: { id } });
}

/** Picks an option of an entry's menu in the ephemeral /incident timeline reply. */
async function pick(user: string, value: string): Promise<{ trigger: string; response: SlackResponse }> {
  const trigger = slack.newTriggerId(user);
  const response = await sendBlockAction(app.url, {
    user,
    channel: incident.channelId!,
    messageTs: "1700000000.999999",
    ephemeral: true,
    actionId: TIMELINE_ACTIONS.entryMenu,
    overflowOption: { value, text: value.split(":")[0]! },
    triggerId: trigger,
  });
  expect(response.status).toBe(200);
  await waitForIdleJobs(app);
  return { trigger, response };
}

async function lastModal(callbackId: string, after: number): Promise<FakeView> {
  return eventually(async () => slack.views.modals().slice(after).filter((view) => view.callback_id === callbackId).at(-1), 3_000, `modal ${callbackId}`);
}

async function lastEphemeralTo(user: string, after: number): Promise<string> {
  return eventually(async () => {
    const call = slack.callsTo("chat.postEphemeral").slice(after).filter((c) => c.ok && c.args.user === user).at(-1);
    return call ? String(call.args.text) : undefined;
  }, 3_000, `an ephemeral message to ${user}`);
}

function submit(view: FakeView, user: string, values: StateValuesInput): Promise<SlackResponse> {
  return sendViewSubmission(app.url, { user, values, ...fromFakeView(view) });
}

async function draftMarkdown(): Promise<string> {
  const response = await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.md`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.status).toBe(200);
  return response.text();
}

// ---- the timeline's entry menu ------------------------------------------------------------------

describe("editing and hiding timeline entries", () => {
  let note: TimelineEvent;

  beforeAll(async () => {
    await command("note Customer support reports failed payments @here", RESPONDER);
    const notes = await eventsOf("note.added");
    expect(notes).toHaveLength(1);
    note = notes[0]!;
  });

  it("a responder who is neither commander nor scribe is refused, told why, and the refusal recorded", async () => {
    const ephemerals = slack.callsTo("chat.postEphemeral").length;
    await pick(RESPONDER, `hide:${note.id}`);
    expect(await lastEphemeralTo(RESPONDER, ephemerals)).toMatch(/^:no_entry: Only the commander \(<@U0DECLARER>\), the scribe or an incident admin can hide timeline entries/);
    expect((await entry(note.id)).hidden).toBe(false);
    const denied = (await eventsOf("action.denied")).at(-1);
    expect(denied).toMatchObject({ actorId: RESPONDER, data: { action: "hide timeline entries" } });
  });

  it("the commander edits a note's text in a modal; the entry changes and the edit is recorded with before and after", async () => {
    const views = slack.views.all().length;
    await pick(COMMANDER, `edit:${note.id}`);
    const view = await lastModal(TIMELINE_VIEWS.editEntry, views);
    expect(JSON.stringify(view.view)).toContain("Customer support reports failed payments");

    const empty = await submit(view, COMMANDER, { [TIMELINE_FIELDS.text.block]: { [TIMELINE_FIELDS.text.action]: { type: "plain_text_input", value: "   " } } });
    expect(empty.body).toMatchObject({ response_action: "errors" });
    expect((await entry(note.id)).editedAt).toBeNull();

    const saved = await submit(view, COMMANDER, { [TIMELINE_FIELDS.text.block]: { [TIMELINE_FIELDS.text.action]: { type: "plain_text_input", value: "Support reports failed card payments (EU)" } } });
    expect(saved.status).toBe(200);
    expect(saved.body).toBeUndefined();
    const edited = await entry(note.id);
    expect(edited.text).toBe("Note: Support reports failed card payments (EU)");
    expect(edited.data).toEqual({ text: "Support reports failed card payments (EU)" });
    expect(edited.editedAt).not.toBeNull();
    const [audit] = await eventsOf("timeline.entry_edited");
    expect(audit).toMatchObject({
      actorId: COMMANDER,
      private: true,
      data: { eventId: String(note.id), before: "Customer support reports failed payments @here", after: "Support reports failed card payments (EU)" },
    });
    const timeline = JSON.stringify((await command("timeline", RESPONDER)).body);
    expect(timeline).toContain("Support reports failed card payments (EU)");
    expect(timeline).toContain("_(edited)_");
    // The old wording stays out of the draft; the new one is in it.
    const draft = await draftMarkdown();
    expect(draft).toContain("Support reports failed card payments (EU)");
    expect(draft).not.toContain("Customer support reports failed payments");
  });

  it("what the system recorded cannot be rewritten, only hidden", async () => {
    const [declared] = await eventsOf("incident.declared");
    const ephemerals = slack.callsTo("chat.postEphemeral").length;
    const views = slack.views.all().length;
    await pick(COMMANDER, `edit:${declared!.id}`);
    expect(await lastEphemeralTo(COMMANDER, ephemerals)).toContain("can be edited; hide other entries instead");
    expect(slack.views.all().length).toBe(views);
  });

  it("the scribe hides an entry: readers no longer see it, nor does the draft; showing it again brings it back", async () => {
    await command("note Paged the wrong team by mistake", RESPONDER);
    const hiddenNote = (await eventsOf("note.added")).at(-1)!;
    // The menu is acknowledged first and handled after: the scribe's confirmation says when it is done.
    let ephemerals = slack.callsTo("chat.postEphemeral").length;
    await pick(SCRIBE, `hide:${hiddenNote.id}`);
    expect(await lastEphemeralTo(SCRIBE, ephemerals)).toContain("Entry hidden from the timeline and the post-mortem");
    expect((await entry(hiddenNote.id)).hidden).toBe(true);
    expect((await eventsOf("timeline.entry_hidden")).at(-1)).toMatchObject({ actorId: SCRIBE, data: { eventId: String(hiddenNote.id), hidden: true } });

    expect(JSON.stringify((await command("timeline", RESPONDER)).body)).not.toContain("Paged the wrong team");
    const editorView = JSON.stringify((await command("timeline", SCRIBE)).body);
    expect(editorView).toContain("Paged the wrong team by mistake");
    expect(editorView).toContain("_(hidden)_");
    expect(editorView).toContain(`show:${hiddenNote.id}`);
    expect(await draftMarkdown()).not.toContain("Paged the wrong team");

    ephemerals = slack.callsTo("chat.postEphemeral").length;
    await pick(SCRIBE, `show:${hiddenNote.id}`);
    expect(await lastEphemeralTo(SCRIBE, ephemerals)).toContain("Entry shown again");
    expect((await entry(hiddenNote.id)).hidden).toBe(false);
    expect(JSON.stringify((await command("timeline", RESPONDER)).body)).toContain("Paged the wrong team");
  });

  it("an entry of another incident cannot be changed from this channel", async () => {
    const other = await sendCommand(app.url, "declare sev4 Other thing", { user_id: COMMANDER, channel_id: ELSEWHERE });
    const number = Number(/\*INC-(\d+)\*/.exec(JSON.stringify(other.body))?.[1]);
    await waitForIdleJobs(app);
    const otherIncident = await app.database.prisma.incident.findUniqueOrThrow({ where: { number } });
    const foreign = await app.database.prisma.timelineEvent.findFirstOrThrow({ where: { incidentId: otherIncident.id, type: "incident.declared" } });
    const ephemerals = slack.callsTo("chat.postEphemeral").length;
    await pick(COMMANDER, `hide:${foreign.id}`);
    expect(await lastEphemeralTo(COMMANDER, ephemerals)).toBe("That entry belongs to another incident.");
    expect((await entry(foreign.id)).hidden).toBe(false);
  });
});

// ---- follow-ups from a message ---------------------------------------------------------------

describe("the Create follow-up message shortcut", () => {
  it("opens a modal prefilled with the message and records owner, due date and priority once", async () => {
    const ts = slack.messages.postAs(RESPONDER, incident.channelId!, "We need a canary stage for payment deploys\nsee thread");
    const views = slack.views.all().length;
    const response = await sendMessageShortcut(app.url, {
      user: SCRIBE,
      channel: incident.channelId!,
      message: slack.messages.get(incident.channelId!, ts)!,
      callbackId: CREATE_FOLLOWUP_SHORTCUT,
      triggerId: slack.newTriggerId(SCRIBE),
    });
    expect(response.status).toBe(200);
    const view = await lastModal(POSTMORTEM_VIEWS.followUp, views);
    expect(JSON.stringify(view.view)).toContain('"initial_value":"We need a canary stage for payment deploys"');

    const values = (due: string): StateValuesInput => ({
      [FOLLOWUP_FIELDS.title.block]: { [FOLLOWUP_FIELDS.title.action]: { type: "plain_text_input", value: "Add a canary stage for payment deploys" } },
      [FOLLOWUP_FIELDS.owner.block]: { [FOLLOWUP_FIELDS.owner.action]: { type: "users_select", selected_user: RESPONDER } },
      [FOLLOWUP_FIELDS.due.block]: { [FOLLOWUP_FIELDS.due.action]: { type: "datepicker", selected_date: due } },
      [FOLLOWUP_FIELDS.priority.block]: { [FOLLOWUP_FIELDS.priority.action]: { type: "static_select", selected_option: { value: "HIGH", text: "High" } } },
    });
    const bad = await submit(view, SCRIBE, values("2026-02-30"));
    expect(bad.body).toMatchObject({ response_action: "errors", errors: { [FOLLOWUP_FIELDS.due.block]: "Pick a date from the calendar." } });
    expect(await app.database.prisma.actionItem.count({ where: { incidentId: incident.id } })).toBe(0);

    expect((await submit(view, SCRIBE, values("2026-12-15"))).status).toBe(200);
    // Slack retries the submission: still one action item.
    expect((await submit(view, SCRIBE, values("2026-12-15"))).status).toBe(200);
    await waitForIdleJobs(app);
    const items = await app.database.prisma.actionItem.findMany({ where: { incidentId: incident.id } });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ title: "Add a canary stage for payment deploys", ownerId: RESPONDER, priority: "HIGH", createdById: SCRIBE });
    expect(items[0]!.dueDate?.toISOString().slice(0, 10)).toBe("2026-12-15");
    expect((await eventsOf("followup.added")).at(-1)).toMatchObject({ actorId: SCRIBE, text: `Follow-up: Add a canary stage for payment deploys (owner @${RESPONDER}, due 2026-12-15, high priority)` });
    const draft = await draftMarkdown();
    expect(draft).toContain("Add a canary stage for payment deploys");
    expect(draft).toContain("2026-12-15");
  });

  it("outside an incident channel it explains itself in a modal", async () => {
    slack.channels.addMembers(ELSEWHERE, [RESPONDER]);
    const ts = slack.messages.postAs(RESPONDER, ELSEWHERE, "random idea");
    const views = slack.views.all().length;
    await sendMessageShortcut(app.url, { user: RESPONDER, channel: ELSEWHERE, message: slack.messages.get(ELSEWHERE, ts)!, callbackId: CREATE_FOLLOWUP_SHORTCUT, triggerId: slack.newTriggerId(RESPONDER) });
    const view = await lastModal(TIMELINE_VIEWS.info, views);
    expect(JSON.stringify(view.view)).toContain("not in an incident channel");
  });
});

// ---- the post-mortem editor --------------------------------------------------------------------

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("editing the post-mortem draft", { shuffle: false }, () => {
  const WHAT_HAPPENED = "A config push disabled the payment retry path for 40 minutes.";
  const FACTORS = "The config linter did not cover the retry flags; it was human error by the on-call.";

  it("resolve posts the summary with an editor button and the draft as a Markdown file", async () => {
    await command("resolve Retry path re-enabled", COMMANDER);
    const summary = slack.messages.in(incident.channelId!).filter((message) => message.text.startsWith(`Post-mortem draft for INC-${incident.number}`)).at(-1);
    expect(JSON.stringify(summary?.blocks)).toContain(POSTMORTEM_ACTIONS.edit);
    expect(slack.files.in(incident.channelId!).map((file) => file.filename)).toEqual([`inc-${incident.number}-postmortem-draft.md`]);
  });

  it("answers written in the modal are recorded, regenerate the draft, and survive /incident postmortem", async () => {
    const summary = slack.messages.in(incident.channelId!).filter((message) => message.text.startsWith("Post-mortem draft")).at(-1)!;
    const views = slack.views.all().length;
    await sendBlockAction(app.url, {
      user: RESPONDER,
      channel: incident.channelId!,
      messageTs: summary.ts,
      message: summary,
      actionId: POSTMORTEM_ACTIONS.edit,
      value: incident.id,
      triggerId: slack.newTriggerId(RESPONDER),
    });
    const view = await lastModal(POSTMORTEM_VIEWS.edit, views);
    const answers = (whatHappened: string): StateValuesInput => ({
      "answer_what-happened": { answer: { type: "plain_text_input", value: whatHappened } },
      "answer_contributing-factors": { answer: { type: "plain_text_input", value: FACTORS } },
      "answer_went-well": { answer: { type: "plain_text_input", value: "" } },
    });
    const files = slack.files.in(incident.channelId!).length;
    expect((await submit(view, RESPONDER, answers(WHAT_HAPPENED))).status).toBe(200);
    await waitForIdleJobs(app);
    const edits = await eventsOf("postmortem.section_edited");
    expect(edits.map((event) => [event.actorId, (event.data as { section: string }).section])).toEqual([
      [RESPONDER, "what-happened"],
      [RESPONDER, "contributing-factors"],
    ]);
    // Regenerated: a new file carries the answers, and the blameless review flags the blameful one.
    const regenerated = slack.files.in(incident.channelId!).slice(files);
    expect(regenerated).toHaveLength(1);
    expect(regenerated[0]!.content).toContain(WHAT_HAPPENED);
    expect(regenerated[0]!.content).toContain("The config linter did not cover the retry flags");
    expect(regenerated[0]!.content.toLowerCase()).toContain("human error");
    const summaryAfter = slack.messages.in(incident.channelId!).filter((message) => message.text.startsWith("Post-mortem draft")).at(-1)!;
    expect(JSON.stringify(summaryAfter.blocks)).toMatch(/blameless review flagged [1-9]/);

    // Regenerating on demand keeps the hand-written answers.
    await command("postmortem", COMMANDER);
    const latest = slack.files.in(incident.channelId!).at(-1)!;
    expect(latest.content).toContain(WHAT_HAPPENED);

    // Reopening the editor shows the saved answers; saving them unchanged records nothing and regenerates nothing.
    const again = slack.views.all().length;
    await sendBlockAction(app.url, { user: COMMANDER, channel: incident.channelId!, messageTs: summaryAfter.ts, message: summaryAfter, actionId: POSTMORTEM_ACTIONS.edit, value: incident.id, triggerId: slack.newTriggerId(COMMANDER) });
    const reopened = await lastModal(POSTMORTEM_VIEWS.edit, again);
    expect(JSON.stringify(reopened.view)).toContain(WHAT_HAPPENED);
    const filesBefore = slack.files.in(incident.channelId!).length;
    expect((await submit(reopened, COMMANDER, answers(WHAT_HAPPENED))).status).toBe(200);
    await waitForIdleJobs(app);
    expect(await eventsOf("postmortem.section_edited")).toHaveLength(2);
    expect(slack.files.in(incident.channelId!).length).toBe(filesBefore);
  });

  it("the document's own edits stay out of the draft's timeline", async () => {
    const draft = await draftMarkdown();
    expect(draft).not.toContain("edited the post-mortem section");
    expect(draft).not.toContain("edited timeline entry");
  });
});


