import { describe, expect, it } from "vitest";
import { replaceUnstorable, slackPayloadProblem, type JsonObject } from "../../src/slack/receiver.ts";
import type { FakeMessage } from "../fakes/slack/state.ts";
import {
  eventCallback,
  messageChangedEvent,
  messageDeletedEvent,
  messageEvent,
  messageShortcutPayload,
  pinAddedEvent,
  pinRemovedEvent,
  reactionAddedEvent,
  reactionRemovedEvent,
} from "../support/slack-events.ts";
import { blockActionPayload, viewSubmissionPayload } from "../support/slack-payloads.ts";

/**
 * The shape check every signed Slack payload passes before Bolt (src/slack/receiver.ts): what
 * Slack sends, built by the test helpers that are checked against Bolt's own types, passes; the
 * shapes the fuzz (test/fuzz) found reaching Bolt and the listeners (and answering 500) do not.
 * The HTTP side: test/integration/webhook-bad-input.test.ts.
 */

const message: FakeMessage = {
  channel: "C0INCIDENT",
  ts: "1700000000.000100",
  text: "primary is back (for real)",
  reply_broadcast: false,
  user: "U0RESPOND1",
  pinned: true,
  pin: { by: "U0RESPOND2", at: 1_700_000_100 },
  reactions: [{ name: "pushpin", users: ["U0RESPOND2"] }],
  edited: { user: "U0RESPOND1", ts: "1700000050.000100" },
  history: [{ text: "primary is back", replacedAt: 1_700_000_050_000 }],
};
const json = (value: object): JsonObject => JSON.parse(JSON.stringify(value)) as JsonObject;

const VALID: Record<string, () => JsonObject> = {
  pin_added: () => json(pinAddedEvent(message)),
  pin_removed: () => json(pinRemovedEvent(message)),
  reaction_added: () => json(reactionAddedEvent(message, { user: "U0RESPOND2", reaction: "pushpin" })),
  reaction_removed: () => json(reactionRemovedEvent(message, { user: "U0RESPOND2", reaction: "pushpin" })),
  message: () => json(messageEvent(message)),
  message_deleted: () => json(messageDeletedEvent(message)),
  message_changed: () => json(messageChangedEvent(message)),
  "another event type": () => json(eventCallback({ type: "app_mention", user: "U0RESPOND1", text: "hi", ts: message.ts, channel: message.channel, event_ts: message.ts })),
  block_actions: () => json(blockActionPayload({ user: "U0RESPOND1", channel: "C0INCIDENT", messageTs: message.ts, actionId: "incident_resolve", value: "42", triggerId: "1.2.abc" })),
  "block_actions (overflow)": () => json(blockActionPayload({ user: "U0RESPOND1", channel: "C0INCIDENT", messageTs: message.ts, actionId: "timeline_entry", overflowOption: { value: "edit:1", text: "Edit" }, triggerId: "1.2.abc" })),
  view_submission: () => json(viewSubmissionPayload({ user: "U0RESPOND1", callbackId: "incident_declare", values: { title: { value: { type: "plain_text_input", value: "DB down" } } } })),
  message_action: () => json(messageShortcutPayload({ user: "U0RESPOND1", channel: "C0INCIDENT", message, callbackId: "timeline.add_message", triggerId: "1.2.abc" })),
  "slash command": () => ({ command: "/incident", text: "help", team_id: "TFAKETEAM1", user_id: "U0RESPOND1", channel_id: "C0INCIDENT", trigger_id: "1.2.abc" }),
};

/** Changes a copy: `change` gets the payload (and its `event`, if any) to edit in place. */
function altered(name: string, change: (body: Record<string, unknown>, event: Record<string, unknown>) => void): JsonObject {
  const body = (VALID[name] as () => JsonObject)();
  change(body, (body.event ?? {}) as Record<string, unknown>);
  return body;
}

describe("the shape of signed Slack payloads", () => {
  for (const [name, build] of Object.entries(VALID)) {
    it(`lets ${name} through as Slack sends it`, () => {
      expect(slackPayloadProblem(build())).toBeUndefined();
    });
  }

  it("lets through what Bolt ignores anyway (no kind it knows)", () => {
    expect(slackPayloadProblem({ type: "app_rate_limited", minute_rate_limited: 1 })).toBeUndefined();
    expect(slackPayloadProblem({ something: "else" })).toBeUndefined();
  });

  const WRONG: Array<[string, JsonObject, RegExp]> = [
    ["an event that is not an object", altered("pin_added", (body) => (body.event = "pin_added")), /^event: /],
    ["an event without a type", altered("pin_added", (_body, event) => delete event.type), /^event\.type: /],
    ["an event whose channel is null (Bolt reads channel.id)", altered("message", (_body, event) => (event.channel = null)), /channel/],
    ["an event in an envelope of another type", altered("pin_added", (body) => (body.type = "url_verificatio")), /^type: /],
    ["authorizations with a null entry", altered("pin_added", (body) => (body.authorizations = [null])), /^authorizations\.0: /],
    ["a reaction that is not a string", altered("reaction_added", (_body, event) => (event.reaction = -0)), /^event\.reaction: /],
    ["a reaction event without its item", altered("reaction_added", (_body, event) => delete event.item), /^event\.item: /],
    ["a reaction on a message without its ts", altered("reaction_added", (_body, event) => delete (event.item as Record<string, unknown>).ts), /^event\.item: /],
    ["a pin event without its channel", altered("pin_added", (_body, event) => delete event.channel_id), /^event\.channel_id: /],
    ["a pinned message whose ts is a number", altered("pin_added", (_body, event) => (((event.item as Record<string, unknown>).message as Record<string, unknown>).ts = 1)), /^event\.item\.message\.ts: /],
    ["a deleted message's event without deleted_ts", altered("message_deleted", (_body, event) => delete event.deleted_ts), /^event\.deleted_ts: /],
    ["actions that are not a list", altered("block_actions", (body) => (body.actions = "click")), /^actions: /],
    ["an empty list of actions", altered("block_actions", (body) => (body.actions = [])), /^actions: /],
    ["an action without an action_id", altered("block_actions", (body) => delete (body.actions as Array<Record<string, unknown>>)[0]?.action_id), /^actions\.0\.action_id: /],
    ["an overflow choice without its option", altered("block_actions (overflow)", (body) => delete (body.actions as Array<Record<string, unknown>>)[0]?.selected_option), /^actions\.0\.selected_option: /],
    ["a block action without a user", altered("block_actions", (body) => delete body.user), /^user: /],
    ["a block action whose user id is not a string", altered("block_actions", (body) => ((body.user as Record<string, unknown>).id = 7)), /^user\.id: /],
    ["a block action whose channel is null", altered("block_actions", (body) => (body.channel = null)), /^channel: /],
    ["a view submission without a user", altered("view_submission", (body) => delete body.user), /^user: /],
    ["a view submission without its state", altered("view_submission", (body) => delete (body.view as Record<string, unknown>).state), /^view\.state: /],
    ["a view that is a string", altered("view_submission", (body) => (body.view = "V1")), /^view: /],
    ["a team id that is a prototype key (Bolt keys its clients by it)", altered("view_submission", (body) => ((body.team as Record<string, unknown>).id = "toString")), /^team\.id: /],
    ["an event's team id that is a prototype key", altered("pin_added", (body) => (body.authorizations = [{ team_id: "__proto__" }])), /^authorizations\.0\.team_id: /],
    ["a slash command whose team id is a prototype key", altered("slash command", (body) => (body.team_id = "constructor")), /^team_id: /],
    ["a message shortcut without its message", altered("message_action", (body) => delete body.message), /^message: /],
    ["a message shortcut without its channel", altered("message_action", (body) => delete body.channel), /^channel: /],
  ];
  for (const [what, body, problem] of WRONG) {
    it(`refuses ${what}`, () => {
      expect(slackPayloadProblem(body)).toMatch(problem);
    });
  }
});

describe("characters PostgreSQL cannot store, in a signed Slack payload", () => {
  it("are replaced with U+FFFD in strings and keys, at any depth, and counted", () => {
    const body: JsonObject = {
      command: "/incident",
      text: "declare sev4 a\u0000b",
      trigger_id: "1.2.\u0000",
      view: { state: { values: { block: { "in\ud800put": { value: "x\udc00y" } } } } },
      list: ["ok", "\u0000", ["\ud83d"]],
      fine: "😀 é",
    };
    expect(replaceUnstorable(body)).toBe(6);
    expect(body).toEqual({
      command: "/incident",
      text: "declare sev4 a\ufffdb",
      trigger_id: "1.2.\ufffd",
      view: { state: { values: { block: { "in\ufffdput": { value: "x\ufffdy" } } } } },
      list: ["ok", "\ufffd", ["\ufffd"]],
      fine: "😀 é",
    });
  });

  it("leaves a payload without them as it is, and walks one nested 100,000 deep", () => {
    const payload = (VALID.view_submission as () => JsonObject)();
    const copy = structuredClone(payload);
    expect(replaceUnstorable(payload)).toBe(0);
    expect(payload).toEqual(copy);
    const deep = JSON.parse(`{"event":${'{"a":'.repeat(100_000)}"\\\\u0000 as text, then \\u0000"${"}".repeat(100_000)}}`) as JsonObject;
    expect(replaceUnstorable(deep)).toBe(1);
  });
});
