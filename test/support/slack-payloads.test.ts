import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BlockAction, ButtonAction, StaticSelectAction, ViewOutput, ViewSubmitAction } from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { silentLogger as silent } from "../fakes/slack/test-client.ts";
import { startBoltTestApp, type BoltTestApp } from "./slack-events.ts";
import {
  blockActionBody,
  blockActionPayload,
  fromFakeView,
  sendBlockAction,
  sendViewSubmission,
  viewSubmissionBody,
} from "./slack-payloads.ts";
import { sendToSlackEndpoint, TEST_BOT_TOKEN } from "./slack-requests.ts";

/**
 * Proves the payload factories produce what Slack sends: a real Bolt App behind Bolt's own
 * HTTPReceiver (signature verification, form parsing, routing) receives them on
 * app.action(action_id) / app.view(callback_id), and a trigger from the fake Slack flows
 * through the action into views.open.
 */

interface Seen {
  buttons: Array<{ body: BlockAction; action: ButtonAction }>;
  selects: Array<{ body: BlockAction; action: StaticSelectAction }>;
  scoped: string[];
  views: Array<{ body: ViewSubmitAction; view: ViewOutput }>;
  other: string[];
}

let slack: FakeSlack;
let bolt: BoltTestApp;
let appUrl: string;
const seen: Seen = { buttons: [], selects: [], scoped: [], views: [], other: [] };

const updateModal = {
  type: "modal" as const,
  callback_id: "incident_update",
  private_metadata: JSON.stringify({ incident: 7 }),
  title: { type: "plain_text" as const, text: "Update INC-7" },
  submit: { type: "plain_text" as const, text: "Save" },
  blocks: [
    {
      type: "input",
      block_id: "summary",
      label: { type: "plain_text" as const, text: "Summary" },
      element: { type: "plain_text_input", action_id: "value" },
    },
    {
      type: "input",
      block_id: "severity",
      label: { type: "plain_text" as const, text: "Severity" },
      element: {
        type: "static_select",
        action_id: "choice",
        options: [
          { text: { type: "plain_text" as const, text: "SEV1" }, value: "sev1" },
          { text: { type: "plain_text" as const, text: "SEV2" }, value: "sev2" },
        ],
      },
    },
    {
      type: "input",
      block_id: "responders",
      label: { type: "plain_text" as const, text: "Responders" },
      element: { type: "multi_users_select", action_id: "users" },
    },
  ],
};

beforeAll(async () => {
  slack = await startFakeSlack();
  bolt = await startBoltTestApp(slack, { logger: silent });
  appUrl = bolt.url;
  const app = bolt.app;

  app.action<BlockAction<ButtonAction>>("incident_ack", async ({ ack, body, action, client }) => {
    seen.buttons.push({ body, action });
    await ack();
    await client.views.open({ trigger_id: body.trigger_id, view: updateModal });
  });
  app.action<BlockAction<StaticSelectAction>>({ type: "block_actions", action_id: "incident_severity" }, async ({ ack, body, action }) => {
    seen.selects.push({ body, action });
    await ack();
  });
  // Routing on block_id too: only the header's ack button matches.
  app.action({ block_id: "header_controls", action_id: "incident_ack" }, async ({ ack, body }) => {
    seen.scoped.push(body.type);
    await ack();
  });
  app.view<ViewSubmitAction>("incident_update", async ({ ack, body, view }) => {
    seen.views.push({ body, view });
    const summary = view.state.values["summary"]?.["value"]?.value ?? "";
    if (summary.trim() === "") await ack({ response_action: "errors", errors: { summary: "Write a summary" } });
    else await ack();
  });
  app.view("some_other_modal", async ({ ack }) => {
    seen.other.push("some_other_modal");
    await ack();
  });
});

afterAll(async () => {
  await bolt?.stop();
  await slack?.close();
});

beforeEach(() => {
  slack.reset();
  seen.buttons.length = 0;
  seen.selects.length = 0;
  seen.scoped.length = 0;
  seen.views.length = 0;
  seen.other.length = 0;
});

/** Posts, through the fake's Web API, the incident header whose controls the user clicks. */
async function postHeader(): Promise<{ channel: string; ts: string }> {
  const channel = slack.channels.create({ name: "inc-7-db", members: ["U0DECLARER"] });
  const web = new WebClient(TEST_BOT_TOKEN, { slackApiUrl: slack.url, retryConfig: { retries: 0 } });
  const posted = await web.chat.postMessage({
    channel: channel.id,
    text: "INC-7: DB down",
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: "*INC-7* DB down" } },
      {
        type: "actions",
        block_id: "header_controls",
        elements: [
          { type: "button", action_id: "incident_ack", text: { type: "plain_text", text: "Acknowledge" }, value: "7" },
          {
            type: "static_select",
            action_id: "incident_severity",
            placeholder: { type: "plain_text", text: "Severity" },
            options: [{ text: { type: "plain_text", text: "SEV1" }, value: "sev1" }],
          },
        ],
      },
    ],
  });
  return { channel: channel.id, ts: posted.ts ?? "" };
}

describe("interaction payload factories", () => {
  it("encode as Slack does: a form body with one url-encoded `payload` field", () => {
    const body = blockActionBody({ user: "U0DECLARER", channel: "C0GENERAL0", messageTs: "1700000000.000100", actionId: "a b&c", triggerId: "1.2.3" });
    expect(body.startsWith("payload=")).toBe(true);
    const form = new URLSearchParams(body);
    expect([...form.keys()]).toEqual(["payload"]);
    const payload: unknown = JSON.parse(form.get("payload") ?? "");
    expect(payload).toMatchObject({ type: "block_actions", actions: [{ action_id: "a b&c", type: "button" }], channel: { id: "C0GENERAL0", name: "general" } });
    expect(() => blockActionPayload({ user: "U1", channel: "C1", messageTs: "1.1", actionId: "x", triggerId: "1.2.3", value: "v", selectedOption: { value: "v", text: "V" } })).toThrow(TypeError);
  });

  it("a button click reaches app.action(action_id) with Slack's fields, and its trigger opens a modal in the fake", async () => {
    const { channel, ts } = await postHeader();
    const triggerId = slack.newTriggerId("U0DECLARER");
    const response = await sendBlockAction(appUrl, {
      user: "U0DECLARER",
      channel: slack.channels.get(channel),
      messageTs: ts,
      actionId: "incident_ack",
      value: "7",
      triggerId,
      message: slack.messages.get(channel, ts),
    });
    expect(response.status).toBe(200);
    expect(seen.buttons).toHaveLength(1);
    expect(seen.scoped).toEqual(["block_actions"]);
    const { body, action } = seen.buttons[0]!;
    expect(action).toMatchObject({
      type: "button",
      action_id: "incident_ack",
      block_id: "header_controls", // found in the message's blocks
      value: "7",
      text: { type: "plain_text", text: "Acknowledge" },
    });
    expect(action.action_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(body).toMatchObject({
      type: "block_actions",
      user: { id: "U0DECLARER", username: "dana.declarer", team_id: "TFAKETEAM1" },
      team: { id: "TFAKETEAM1", domain: "firebreak-test" },
      api_app_id: "AFAKEAPP01",
      trigger_id: triggerId,
      container: { type: "message", message_ts: ts, channel_id: channel, is_ephemeral: false },
      channel: { id: channel, name: "inc-7-db" },
      message: { type: "message", ts, text: "INC-7: DB down", bot_id: "BBOT00001", user: "UBOT00001" },
    });
    expect(body.response_url).toMatch(/^https:\/\/hooks\.slack\.com\/actions\/TFAKETEAM1\//);
    expect(body.message?.["blocks"]).toHaveLength(2);

    // The listener used body.trigger_id with the fake Slack: the modal is open there.
    await slack.waitFor({ method: "views.open", ok: true });
    expect(slack.views.last()).toMatchObject({ type: "modal", callback_id: "incident_update", user_id: "U0DECLARER", trigger_id: triggerId });
  });

  it("a static_select choice reaches app.action({ action_id }) with selected_option", async () => {
    const { channel, ts } = await postHeader();
    await sendBlockAction(appUrl, {
      user: { id: "U0COMMANDR" },
      channel,
      messageTs: ts,
      actionId: "incident_severity",
      selectedOption: { value: "sev1", text: "SEV1" },
      triggerId: slack.newTriggerId("U0COMMANDR"),
      blockId: "header_controls",
    });
    expect(seen.buttons).toEqual([]);
    expect(seen.selects).toHaveLength(1);
    const { body, action } = seen.selects[0]!;
    expect(action).toMatchObject({
      type: "static_select",
      action_id: "incident_severity",
      block_id: "header_controls",
      selected_option: { value: "sev1", text: { type: "plain_text", text: "SEV1" } },
    });
    expect(action).not.toHaveProperty("value");
    expect(body.user).toMatchObject({ id: "U0COMMANDR", username: "casey.commander" });
  });

  it("submitting the modal the app opened reaches app.view(callback_id) with state values and private_metadata", async () => {
    const { channel, ts } = await postHeader();
    await sendBlockAction(appUrl, { user: "U0DECLARER", channel, messageTs: ts, actionId: "incident_ack", value: "7", triggerId: slack.newTriggerId("U0DECLARER") });
    await slack.waitFor({ method: "views.open", ok: true });
    const opened = slack.views.last();
    if (opened === undefined) throw new Error("no modal opened");

    const response = await sendViewSubmission(appUrl, {
      user: "U0DECLARER",
      ...fromFakeView(opened),
      values: {
        summary: { value: { type: "plain_text_input", value: "Primary failed over" } },
        severity: { choice: { type: "static_select", selected_option: { value: "sev2", text: "SEV2" } } },
        responders: { users: { type: "multi_users_select", selected_users: ["U0RESPOND1", "U0RESPOND2"] } },
      },
    });
    expect(response.status).toBe(200);
    expect(response.text).toBe("");
    expect(seen.other).toEqual([]);
    expect(seen.views).toHaveLength(1);
    const { body, view } = seen.views[0]!;
    expect(body).toMatchObject({ type: "view_submission", user: { id: "U0DECLARER", name: "dana.declarer" }, team: { id: "TFAKETEAM1" }, api_app_id: "AFAKEAPP01" });
    expect(view).toMatchObject({
      id: opened.id,
      hash: opened.hash,
      type: "modal",
      callback_id: "incident_update",
      private_metadata: JSON.stringify({ incident: 7 }),
      title: { type: "plain_text", text: "Update INC-7" },
      submit: { type: "plain_text", text: "Save" },
      root_view_id: opened.id,
      app_id: "AFAKEAPP01",
      bot_id: "BBOT00001",
    });
    expect(view.blocks.map((b) => b.block_id)).toEqual(["summary", "severity", "responders"]);
    expect(view.state.values).toEqual({
      summary: { value: { type: "plain_text_input", value: "Primary failed over" } },
      severity: { choice: { type: "static_select", selected_option: { value: "sev2", text: { type: "plain_text", text: "SEV2", emoji: true } } } },
      responders: { users: { type: "multi_users_select", selected_users: ["U0RESPOND1", "U0RESPOND2"] } },
    });
  });

  it("fills Slack's empty-field defaults and carries ack(response_action) back as the HTTP answer", async () => {
    const response = await sendViewSubmission(appUrl, {
      user: "U0RESPOND1",
      callbackId: "incident_update",
      privateMetadata: "raw-metadata",
      values: {
        summary: { value: { type: "plain_text_input", value: "   " } },
        severity: { choice: { type: "static_select" } },
        responders: { users: { type: "multi_users_select" } },
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response_action: "errors", errors: { summary: "Write a summary" } });
    const { view } = seen.views[0]!;
    expect(view.private_metadata).toBe("raw-metadata");
    expect(view.id).toMatch(/^V[A-Z0-9]{8,}$/);
    expect(view.state.values["severity"]?.["choice"]).toEqual({ type: "static_select", selected_option: null });
    expect(view.state.values["responders"]?.["users"]).toEqual({ type: "multi_users_select", selected_users: [] });
    // Without explicit blocks, one input block per submitted element keeps view.blocks consistent.
    expect(view.blocks.map((b) => [b.type, b.block_id])).toEqual([
      ["input", "summary"],
      ["input", "severity"],
      ["input", "responders"],
    ]);
  });

  it("are refused by Bolt when unsigned or signed with another secret", async () => {
    const body = viewSubmissionBody({ user: "U0DECLARER", callbackId: "incident_update", values: {} });
    expect((await sendToSlackEndpoint(appUrl, body, { unsigned: true })).status).toBe(401);
    expect((await sendToSlackEndpoint(appUrl, body, { secret: "0123456789abcdef0123456789abcdef" })).status).toBe(401);
    expect(seen.views).toEqual([]);
  });
});
