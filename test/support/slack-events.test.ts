import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EnvelopedEvent, MessageShortcut, types as SlackTypes } from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { silentLogger } from "../fakes/slack/test-client.ts";
import {
  eventCallback,
  messageChangedEvent,
  messageDeletedEvent,
  messageEvent,
  messageShortcutBody,
  pinAddedEvent,
  pinRemovedEvent,
  reactionAddedEvent,
  reactionRemovedEvent,
  sendEvent,
  sendMessageShortcut,
  startBoltTestApp,
  type BoltTestApp,
} from "./slack-events.ts";
import { sendToSlackEndpoint, TEST_BOT_TOKEN } from "./slack-requests.ts";

/**
 * Proves the event factories produce what Slack sends: a real Bolt App behind Bolt's own
 * HTTPReceiver (signature check, JSON parsing, event routing) receives them on app.event(type) and
 * app.shortcut(callback_id), and listeners that read the fake Slack back find the same messages.
 */

interface Seen {
  events: Array<{ type: string; subtype?: string; event: unknown; body: EnvelopedEvent }>;
  replies: Array<{ ts: string; text: string | undefined }>;
  shortcuts: MessageShortcut[];
}

let slack: FakeSlack;
let bolt: BoltTestApp;
let appUrl: string;
const seen: Seen = { events: [], replies: [], shortcuts: [] };

beforeAll(async () => {
  slack = await startFakeSlack();
  // processBeforeResponse: the HTTP answer waits for the listeners, so assertions need no polling.
  bolt = await startBoltTestApp(slack, { logger: silentLogger, processBeforeResponse: true });
  appUrl = bolt.url;
  const app = bolt.app;

  app.event("pin_added", async ({ event, body }) => {
    seen.events.push({ type: event.type, event, body });
  });
  app.event("pin_removed", async ({ event, body }) => {
    seen.events.push({ type: event.type, event, body });
  });
  app.event("reaction_added", async ({ event, body, client }) => {
    seen.events.push({ type: event.type, event, body });
    // Read the reacted-to message back from the fake, as a timeline capture would.
    const thread = await client.conversations.replies({ channel: event.item.channel, ts: event.item.ts, limit: 1 });
    const first = thread.messages?.[0];
    if (first !== undefined) seen.replies.push({ ts: first.ts ?? "", text: first.text });
  });
  app.event("reaction_removed", async ({ event, body }) => {
    seen.events.push({ type: event.type, event, body });
  });
  app.event("message", async ({ event, body }) => {
    seen.events.push({ type: event.type, ...(event.subtype !== undefined ? { subtype: event.subtype } : {}), event, body });
  });
  app.shortcut<MessageShortcut>({ type: "message_action", callback_id: "add_to_timeline" }, async ({ ack, shortcut, client }) => {
    seen.shortcuts.push(shortcut);
    await ack();
    await client.views.open({
      trigger_id: shortcut.trigger_id,
      view: { type: "modal", callback_id: "timeline_note", title: { type: "plain_text", text: "Add to timeline" }, blocks: [] },
    });
  });
});

afterAll(async () => {
  await bolt?.stop();
  await slack?.close();
});

beforeEach(() => {
  slack.reset();
  seen.events.length = 0;
  seen.replies.length = 0;
  seen.shortcuts.length = 0;
});

function incidentChannel(): string {
  return slack.channels.create({ name: "inc-3-api", members: ["U0RESPOND1", "U0RESPOND2"] }).id;
}

function lastEvent<T>(): T {
  const last = seen.events[seen.events.length - 1];
  if (last === undefined) throw new Error("no event reached the app");
  return last.event as T;
}

describe("event_callback envelope", () => {
  it("has Slack's envelope fields and fresh event ids", () => {
    const a = eventCallback({ type: "app_mention" });
    const b = eventCallback({ type: "app_mention" }, { eventId: "Ev0RETRIED1", eventTime: 1_700_000_123 });
    expect(a).toMatchObject({
      type: "event_callback",
      token: "deprecated-verification-token",
      team_id: "TFAKETEAM1",
      api_app_id: "AFAKEAPP01",
      authorizations: [{ enterprise_id: null, team_id: "TFAKETEAM1", user_id: "UBOT00001", is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    });
    expect(a.event_id).toMatch(/^Ev[A-Z0-9]{6,}$/);
    expect(a.event_id).not.toBe(eventCallback({ type: "app_mention" }).event_id);
    expect(b).toMatchObject({ event_id: "Ev0RETRIED1", event_time: 1_700_000_123 });
  });

  it("is refused by Bolt when unsigned or signed with another secret", async () => {
    const ch = incidentChannel();
    const body = messageEvent(slack.messages.get(ch, slack.messages.postAs("U0RESPOND1", ch, "hi")) ?? slack.messages.all()[0]!);
    expect((await sendEvent(appUrl, body, { unsigned: true })).status).toBe(401);
    expect((await sendEvent(appUrl, body, { secret: "0123456789abcdef0123456789abcdef" })).status).toBe(401);
    expect(seen.events).toEqual([]);
    expect((await sendEvent(appUrl, body)).status).toBe(200);
    expect(seen.events).toHaveLength(1);
  });
});

describe("event factories reach Bolt's app.event listeners", () => {
  it("pin_added / pin_removed carry the pinned message, who pinned it and when", async () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "root cause: expired cert");
    const pinned = slack.pins.addAs("U0RESPOND2", ch, ts);
    expect((await sendEvent(appUrl, pinAddedEvent(pinned))).status).toBe(200);
    const added = lastEvent<SlackTypes.PinAddedEvent>();
    expect(added).toMatchObject({
      type: "pin_added",
      user: "U0RESPOND2",
      channel_id: ch,
      item_user: "U0RESPOND1",
      pin_count: "1",
      item: {
        type: "message",
        channel: ch,
        created_by: "U0RESPOND2",
        created: pinned.pin?.at,
        message: { type: "message", user: "U0RESPOND1", text: "root cause: expired cert", ts, pinned_to: [ch] },
      },
      pinned_info: { channel: ch, pinned_by: "U0RESPOND2", pinned_ts: pinned.pin?.at },
    });
    expect(added.item.message?.permalink).toBe(`https://firebreak-test.slack.com/archives/${ch}/p${ts.replace(".", "")}`);
    expect(seen.events[0]?.body).toMatchObject({ type: "event_callback", team_id: "TFAKETEAM1", api_app_id: "AFAKEAPP01" });

    await sendEvent(appUrl, pinRemovedEvent(slack.pins.removeAs("U0RESPOND1", ch, ts)));
    expect(lastEvent<SlackTypes.PinRemovedEvent>()).toMatchObject({
      type: "pin_removed",
      user: "U0RESPOND1",
      pin_count: "0",
      has_pins: false,
      item: { created_by: "U0RESPOND2", message: { ts } },
    });
  });

  it("reaction_added / reaction_removed name the message, and the listener finds it in the fake", async () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "rolling back deploy 481");
    await sendEvent(appUrl, reactionAddedEvent(slack.reactions.addAs("U0RESPOND2", ch, ts, "eyes"), { user: "U0RESPOND2", reaction: ":eyes:" }));
    expect(lastEvent<SlackTypes.ReactionAddedEvent>()).toMatchObject({
      type: "reaction_added",
      user: "U0RESPOND2",
      reaction: "eyes",
      item_user: "U0RESPOND1",
      item: { type: "message", channel: ch, ts },
    });
    expect(seen.replies).toEqual([{ ts, text: "rolling back deploy 481" }]);

    await sendEvent(appUrl, reactionRemovedEvent(slack.reactions.removeAs("U0RESPOND2", ch, ts, "eyes"), { user: "U0RESPOND2", reaction: "eyes" }));
    expect(lastEvent<SlackTypes.ReactionRemovedEvent>()).toMatchObject({ type: "reaction_removed", user: "U0RESPOND2", reaction: "eyes", item: { channel: ch, ts } });
  });

  it("message, message_changed and message_deleted reach app.event('message') with Slack's subtypes", async () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "error rate 12%", {});
    await sendEvent(appUrl, messageEvent(slack.messages.get(ch, ts)!));
    expect(lastEvent<SlackTypes.GenericMessageEvent>()).toMatchObject({ type: "message", channel: ch, channel_type: "channel", user: "U0RESPOND1", text: "error rate 12%", ts, event_ts: ts });

    const edited = slack.messages.editAs(ch, ts, "error rate 2%");
    await sendEvent(appUrl, messageChangedEvent(edited));
    expect(seen.events[1]?.subtype).toBe("message_changed");
    const changed = lastEvent<SlackTypes.MessageChangedEvent>();
    expect(changed).toMatchObject({
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel: ch,
      ts: edited.edited?.ts,
      message: { type: "message", user: "U0RESPOND1", text: "error rate 2%", ts, edited: { user: "U0RESPOND1", ts: edited.edited?.ts } },
      previous_message: { type: "message", user: "U0RESPOND1", text: "error rate 12%", ts },
    });
    expect(changed.previous_message).not.toHaveProperty("edited");

    const deleted = slack.messages.deleteAs(ch, ts);
    await sendEvent(appUrl, messageDeletedEvent(deleted, { channel: slack.channels.get(ch) }));
    expect(seen.events[2]?.subtype).toBe("message_deleted");
    const gone = lastEvent<SlackTypes.MessageDeletedEvent>();
    expect(gone).toMatchObject({ type: "message", subtype: "message_deleted", hidden: true, channel: ch, channel_type: "channel", deleted_ts: ts, previous_message: { text: "error rate 2%", ts } });
    expect(gone.ts).not.toBe(ts);
    // The app reading history now sees the message gone, as in Slack.
    const web = new WebClient(TEST_BOT_TOKEN, { slackApiUrl: slack.url, retryConfig: { retries: 0 } });
    expect((await web.conversations.history({ channel: ch })).messages).toEqual([]);
  });

  it("derives channel_type from the channel: private channels are 'group', DMs 'im'", () => {
    const priv = slack.channels.create({ name: "inc-4-private", is_private: true, members: ["U0RESPOND1"] });
    const ts = slack.messages.postAs("U0RESPOND1", priv.id, "secret");
    const m = slack.messages.get(priv.id, ts)!;
    expect(messageEvent(m, { channel: priv }).event.channel_type).toBe("group");
    expect(messageEvent(m).event.channel_type).toBe("channel");
    expect(messageEvent({ ...m, channel: "D0SOMEDM01" }).event.channel_type).toBe("im");
    expect(() => messageChangedEvent(m)).toThrow(/never edited/);
  });
});

describe("message shortcut", () => {
  it("reaches app.shortcut(callback_id) with the message, and its trigger opens a modal in the fake", async () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "mitigated by failover");
    const triggerId = slack.newTriggerId("U0RESPOND2");
    const response = await sendMessageShortcut(appUrl, {
      user: "U0RESPOND2",
      channel: slack.channels.get(ch),
      message: slack.messages.get(ch, ts)!,
      callbackId: "add_to_timeline",
      triggerId,
    });
    expect(response.status).toBe(200);
    expect(seen.shortcuts).toHaveLength(1);
    expect(seen.shortcuts[0]).toMatchObject({
      type: "message_action",
      callback_id: "add_to_timeline",
      trigger_id: triggerId,
      message_ts: ts,
      team: { id: "TFAKETEAM1", domain: "firebreak-test" },
      user: { id: "U0RESPOND2", name: "sam.sre", username: "sam.sre", team_id: "TFAKETEAM1" },
      channel: { id: ch, name: "inc-3-api" },
      message: { type: "message", user: "U0RESPOND1", text: "mitigated by failover", ts },
    });
    expect(seen.shortcuts[0]?.response_url).toMatch(/^https:\/\/hooks\.slack\.com\/app\/TFAKETEAM1\//);
    expect(seen.shortcuts[0]?.action_ts).toMatch(/^\d{10}\.\d{6}$/);
    await slack.waitFor({ method: "views.open", ok: true });
    expect(slack.views.last()).toMatchObject({ callback_id: "timeline_note", user_id: "U0RESPOND2", trigger_id: triggerId });
  });

  it("is form-encoded like every interaction, and refused unsigned", async () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "x");
    const body = messageShortcutBody({ user: "U0RESPOND1", channel: ch, message: slack.messages.get(ch, ts)!, callbackId: "add_to_timeline", triggerId: "1.2.3" });
    expect([...new URLSearchParams(body).keys()]).toEqual(["payload"]);
    expect((await sendToSlackEndpoint(appUrl, body, { unsigned: true })).status).toBe(401);
    expect(seen.shortcuts).toEqual([]);
  });
});
