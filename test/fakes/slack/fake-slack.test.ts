import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, WebClient } from "@slack/web-api";
import { handlers, METHOD_RATE_LIMITS, startFakeSlack, TIER_LIMITS, type FakeSlack, type FakeSlackOptions } from "./index.ts";
import { loadManifest } from "../../support/manifest.ts";
import { everyBotScopeButPublic, failure, messagesOf, silentLogger } from "./test-client.ts";

const TOKEN = "xoxb-test-token";

let slack: FakeSlack;
let client: WebClient;

function makeClient(token: string | undefined, extra: ConstructorParameters<typeof WebClient>[1] = {}): WebClient {
  return new WebClient(token, {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: silentLogger,
    ...extra,
  });
}

beforeAll(async () => {
  // These tests exercise method semantics, many calls per test: Slack's rate limits are lifted
  // here and tested on their own below ("Slack's rate limits by default").
  slack = await startFakeSlack({ scopes: everyBotScopeButPublic(), rateLimits: false });
  client = makeClient(TOKEN);
});

afterAll(async () => {
  await slack.close();
});

beforeEach(() => {
  slack.reset();
});

describe("fake Slack: happy path through the real WebClient", () => {
  it("creates a channel, invites responders, posts, threads, updates, pins, reacts and bookmarks", async () => {
    expect(slack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);

    const auth = await client.auth.test();
    expect(auth).toMatchObject({ ok: true, user_id: "UBOT00001", bot_id: "BBOT00001", team_id: slack.bot.team_id });

    const created = await client.conversations.create({ name: "inc-42-db-outage" });
    const channelId = created.channel?.id ?? "";
    expect(channelId).toMatch(/^C[A-Z0-9]{8,}$/);
    expect(created.channel).toMatchObject({ name: "inc-42-db-outage", is_private: false, is_member: true });

    const invited = await client.conversations.invite({ channel: channelId, users: "U0DECLARER, U0RESPOND1" });
    expect(invited.ok).toBe(true);
    await client.conversations.setTopic({ channel: channelId, topic: "SEV1: primary DB down" });
    await client.conversations.setPurpose({ channel: channelId, purpose: "Incident #42" });

    const posted = await client.chat.postMessage({
      channel: channelId,
      text: "Incident declared",
      blocks: [
        { type: "header", text: { type: "plain_text", text: "INC-42: DB outage" } },
        { type: "section", text: { type: "mrkdwn", text: "*Severity:* SEV1" } },
      ],
    });
    const ts = posted.ts ?? "";
    expect(ts).toMatch(/^\d{10}\.\d{6}$/);
    const reply = await client.chat.postMessage({ channel: channelId, text: "Investigating", thread_ts: ts });
    expect(Number(reply.ts)).toBeGreaterThan(Number(ts));

    await client.chat.update({ channel: channelId, ts, text: "Incident declared (updated)" });
    await client.pins.add({ channel: channelId, timestamp: ts });
    await client.reactions.add({ channel: channelId, timestamp: ts, name: "rotating_light" });
    const link = await client.chat.getPermalink({ channel: channelId, message_ts: reply.ts ?? "" });
    expect(link.permalink).toBe(
      `https://firebreak-test.slack.com/archives/${channelId}/p${(reply.ts ?? "").replace(".", "")}?thread_ts=${ts}&cid=${channelId}`,
    );
    const bookmark = await client.bookmarks.add({ channel_id: channelId, title: "Runbook", type: "link", link: "https://runbooks.example.com/db" });
    expect(bookmark.bookmark?.title).toBe("Runbook");
    const eph = await client.chat.postEphemeral({ channel: channelId, user: "U0DECLARER", text: "Only you can see this" });
    expect(eph.message_ts).toBeDefined();

    // Reads reflect the writes.
    const info = await client.conversations.info({ channel: channelId, include_num_members: true });
    expect(info.channel?.topic?.value).toBe("SEV1: primary DB down");
    expect(info.channel?.num_members).toBe(3);
    const members = await client.conversations.members({ channel: channelId });
    expect(members.members).toEqual(["UBOT00001", "U0DECLARER", "U0RESPOND1"]);
    const listed = await client.conversations.list({ types: "public_channel" });
    expect(listed.channels?.map((c) => c.name)).toEqual(["general", "inc-42-db-outage"]);
    const user = await client.users.info({ user: "U0DECLARER" });
    expect(user.user?.real_name).toBe("Dana Declarer");

    // State readers.
    const ch = slack.channels.get("#inc-42-db-outage");
    expect(ch).toMatchObject({ id: channelId, is_private: false, topic: { value: "SEV1: primary DB down" }, purpose: { value: "Incident #42" } });
    expect(slack.channels.members(channelId)).toEqual(["UBOT00001", "U0DECLARER", "U0RESPOND1"]);
    const msgs = slack.messages.in(channelId);
    expect(msgs.map((m) => m.text)).toEqual(["Incident declared (updated)", "Investigating"]);
    expect(msgs[0]?.blocks).toHaveLength(2);
    expect(msgs[0]?.history.map((h) => h.text)).toEqual(["Incident declared"]);
    expect(msgs[0]?.reactions).toEqual([{ name: "rotating_light", users: ["UBOT00001"] }]);
    expect(slack.messages.thread(channelId, ts).map((m) => m.text)).toEqual(["Investigating"]);
    expect(slack.messages.topLevel(channelId)).toHaveLength(1);
    expect(slack.pins.in(channelId).map((m) => m.ts)).toEqual([ts]);
    expect(slack.bookmarks.in(channelId).map((b) => b.link)).toEqual(["https://runbooks.example.com/db"]);
    expect(slack.messages.ephemeral({ user: "U0DECLARER" })).toHaveLength(1);

    // Call log: every call, in order, with JSON-string args decoded.
    const post = slack.callsTo("chat.postMessage")[0];
    expect(post?.args["blocks"]).toEqual([
      { type: "header", text: { type: "plain_text", text: "INC-42: DB outage" } },
      { type: "section", text: { type: "mrkdwn", text: "*Severity:* SEV1" } },
    ]);
    expect(post?.token).toBe(TOKEN);
    expect(slack.calls.map((c) => c.method).slice(0, 3)).toEqual(["auth.test", "conversations.create", "conversations.invite"]);
    expect(slack.calls.every((c) => c.ok)).toBe(true);
  });

  it("creates private channels and hides private channels the bot is not in", async () => {
    const created = await client.conversations.create({ name: "inc-43-security", is_private: true });
    expect(created.channel?.id).toMatch(/^C[A-Z0-9]{8,}$/);
    expect(slack.channels.byName("inc-43-security")?.is_private).toBe(true);
    slack.channels.create({ name: "hr-private", is_private: true, botIsMember: false, members: ["U0DECLARER"] });

    const publicOnly = await client.conversations.list({});
    expect(publicOnly.channels?.map((c) => c.name)).toEqual(["general"]);
    const both = await client.conversations.list({ types: "public_channel,private_channel" });
    expect(both.channels?.map((c) => c.name)).toEqual(["general", "inc-43-security"]);
    const hidden = slack.channels.get("hr-private").id;
    expect((await failure(client.conversations.info({ channel: hidden }))).error).toBe("channel_not_found");
  });

  it("joins public channels (with Slack's already_in_channel warning on repeat)", async () => {
    const general = slack.channels.get("general");
    await client.conversations.join({ channel: general.id });
    expect(slack.channels.members("general")).toContain("UBOT00001");
    const again = await client.conversations.join({ channel: general.id });
    expect(again.warning).toBe("already_in_channel");
  });

  it("pages conversations.members with cursors", async () => {
    slack.channels.create({ name: "big", members: ["U0DECLARER", "U0RESPOND1", "U0RESPOND2", "U0COMMANDR"] });
    const first = await client.conversations.members({ channel: slack.channels.get("big").id, limit: 2 });
    expect(first.members).toEqual(["U0DECLARER", "U0RESPOND1"]);
    const cursor = first.response_metadata?.next_cursor ?? "";
    expect(cursor).not.toBe("");
    const second = await client.conversations.members({ channel: slack.channels.get("big").id, limit: 2, cursor });
    expect(second.members).toEqual(["U0RESPOND2", "U0COMMANDR"]);
    const last = await client.conversations.members({ channel: slack.channels.get("big").id, limit: 2, cursor: second.response_metadata?.next_cursor ?? "" });
    expect(last.members).toEqual(["UBOT00001"]);
    expect(last.response_metadata?.next_cursor).toBe("");
  });

  it("opens, updates and publishes views with trigger and hash semantics", async () => {
    const trigger = slack.newTriggerId("U0DECLARER");
    const modal = {
      type: "modal" as const,
      callback_id: "declare",
      title: { type: "plain_text" as const, text: "Declare incident" },
      submit: { type: "plain_text" as const, text: "Declare" },
      blocks: [
        {
          type: "input",
          block_id: "title",
          label: { type: "plain_text" as const, text: "Title" },
          element: { type: "plain_text_input", action_id: "value" },
        },
      ],
    };
    const opened = await client.views.open({ trigger_id: trigger, view: modal });
    const viewId = opened.view?.id ?? "";
    expect(viewId).toMatch(/^V[A-Z0-9]{8,}$/);
    expect(slack.views.byId(viewId)).toMatchObject({ type: "modal", user_id: "U0DECLARER", callback_id: "declare" });

    expect((await failure(client.views.open({ trigger_id: trigger, view: modal }))).error).toBe("exchanged_trigger_id");
    expect((await failure(client.views.open({ trigger_id: "not-a-trigger", view: modal }))).error).toBe("invalid_trigger_id");
    const noTitle = await failure(client.views.open({ trigger_id: slack.newTriggerId(), view: { ...modal, title: { type: "plain_text", text: "x".repeat(25) } } }));
    expect(noTitle.error).toBe("invalid_arguments");
    expect(messagesOf(noTitle).join("\n")).toContain("/view/title/text");

    const updated = await client.views.update({ view_id: viewId, hash: opened.view?.hash ?? "", view: modal });
    expect(updated.view?.hash).not.toBe(opened.view?.hash);
    expect((await failure(client.views.update({ view_id: viewId, hash: opened.view?.hash ?? "", view: modal }))).error).toBe("hash_conflict");
    expect((await failure(client.views.update({ view_id: "VNOPE00000", view: modal }))).error).toBe("not_found");

    await client.views.publish({ user_id: "U0RESPOND1", view: { type: "home", blocks: [{ type: "section", text: { type: "mrkdwn", text: "Open incidents: 1" } }] } });
    expect(slack.views.home("U0RESPOND1")?.view["blocks"]).toHaveLength(1);
  });

  it("accepts JSON bodies with a Bearer header and GET query parameters", async () => {
    const created = await fetch(`${slack.url}conversations.create`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ name: "json-channel", is_private: false }),
    });
    expect(created.status).toBe(200);
    const body: unknown = await created.json();
    expect(body).toMatchObject({ ok: true, channel: { name: "json-channel" } });

    const info = await fetch(`${slack.url}conversations.info?channel=${slack.channels.get("json-channel").id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await info.json()).toMatchObject({ ok: true, channel: { name: "json-channel" } });

    // Form-encoded token argument works; a token inside a JSON body is ignored (as Slack does).
    const formToken = await fetch(`${slack.url}auth.test`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${TOKEN}`,
    });
    expect(await formToken.json()).toMatchObject({ ok: true });
    const jsonToken = await fetch(`${slack.url}auth.test`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(await jsonToken.json()).toEqual({ ok: false, error: "not_authed" });
    const badJson = await fetch(`${slack.url}auth.test`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: "{nope",
    });
    expect(await badJson.json()).toEqual({ ok: false, error: "invalid_json" });
  });
});

describe("fake Slack: contract enforcement", () => {
  it("rejects missing and unknown tokens", async () => {
    expect(await failure(makeClient("xoxb-wrong").auth.test())).toMatchObject({ code: ErrorCode.PlatformError, error: "invalid_auth" });
    expect(await failure(makeClient(undefined).auth.test())).toMatchObject({ code: ErrorCode.PlatformError, error: "not_authed" });
  });

  it("answers invalid_arguments naming the missing required argument", async () => {
    const e = await failure(client.apiCall("conversations.info", {}));
    expect(e.error).toBe("invalid_arguments");
    expect(messagesOf(e)).toEqual(["[ERROR] missing required field: channel"]);

    const post = await failure(client.apiCall("chat.postMessage", { text: "hi" }));
    expect(post.error).toBe("invalid_arguments");
    expect(messagesOf(post)[0]).toContain("channel");

    // Methods with a dedicated "missing" error in the spec use it instead.
    expect((await failure(client.apiCall("conversations.invite", { channel: "C0GENERAL0" }))).error).toBe("no_user");
    const general = slack.channels.get("general").id;
    slack.channels.addMembers(general, ["UBOT00001"]);
    expect((await failure(client.apiCall("chat.postMessage", { channel: general }))).error).toBe("no_text");
  });

  it("validates channel names", async () => {
    expect((await failure(client.conversations.create({ name: "Bad Name!" }))).error).toBe("invalid_name_specials");
    expect((await failure(client.conversations.create({ name: "UPPER" }))).error).toBe("invalid_name_specials");
    expect((await failure(client.conversations.create({ name: "a".repeat(81) }))).error).toBe("invalid_name_maxlength");
    expect((await failure(client.conversations.create({ name: "" }))).error).toBe("invalid_name_required");
    await client.conversations.create({ name: "a".repeat(80) });
    await client.conversations.create({ name: "inc-1_ok" });
    expect((await failure(client.conversations.create({ name: "inc-1_ok" }))).error).toBe("name_taken");
    expect((await failure(client.conversations.create({ name: "general" }))).error).toBe("name_taken");
  });

  it("rejects unknown channels and channels the bot is not in", async () => {
    expect((await failure(client.chat.postMessage({ channel: "CNOPE00000", text: "x" }))).error).toBe("channel_not_found");
    expect((await failure(client.conversations.invite({ channel: "CNOPE00000", users: "U0DECLARER" }))).error).toBe("channel_not_found");

    const general = slack.channels.get("general").id; // the bot is not a member of #general
    expect((await failure(client.chat.postMessage({ channel: general, text: "hello" }))).error).toBe("not_in_channel");
    expect((await failure(client.conversations.setTopic({ channel: general, topic: "x" }))).error).toBe("not_in_channel");
    expect((await failure(client.conversations.invite({ channel: general, users: "U0DECLARER" }))).error).toBe("not_in_channel");
    const secret = slack.channels.create({ name: "secret", is_private: true, botIsMember: false });
    expect((await failure(client.chat.postMessage({ channel: secret.id, text: "x" }))).error).toBe("channel_not_found");
    expect(slack.messages.all()).toHaveLength(0);

    slack.channels.archive("general");
    slack.channels.addMembers("general", ["UBOT00001"]);
    expect((await failure(client.chat.postMessage({ channel: general, text: "x" }))).error).toBe("is_archived");
  });

  it("rejects invalid invites without changing membership", async () => {
    const { channel } = await client.conversations.create({ name: "inc-7" });
    const id = channel?.id ?? "";
    await client.conversations.invite({ channel: id, users: "U0DECLARER" });
    const already = await failure(client.conversations.invite({ channel: id, users: "U0RESPOND1,U0DECLARER" }));
    expect(already.error).toBe("already_in_channel");
    expect(already.data["errors"]).toEqual([{ user: "U0DECLARER", ok: false, error: "already_in_channel" }]);
    expect((await failure(client.conversations.invite({ channel: id, users: "UBOT00001" }))).error).toBe("cant_invite_self");
    expect((await failure(client.conversations.invite({ channel: id, users: "UNOBODY000" }))).error).toBe("user_not_found");
    expect(slack.channels.members(id)).toEqual(["UBOT00001", "U0DECLARER"]);
  });

  it("validates blocks and message length", async () => {
    const { channel } = await client.conversations.create({ name: "inc-blocks" });
    const id = channel?.id ?? "";
    const divider = { type: "divider" };

    const tooMany = await failure(client.chat.postMessage({ channel: id, text: "x", blocks: Array.from({ length: 51 }, () => divider) }));
    expect(tooMany.error).toBe("invalid_blocks");
    expect(tooMany.data["errors"]).toEqual(["no more than 50 items allowed [json-pointer:/blocks]"]);
    await client.chat.postMessage({ channel: id, text: "x", blocks: Array.from({ length: 50 }, () => divider) });

    const longSection = await failure(
      client.chat.postMessage({ channel: id, text: "x", blocks: [{ type: "section", text: { type: "mrkdwn", text: "y".repeat(3001) } }] }),
    );
    expect(longSection.error).toBe("invalid_blocks");
    expect(messagesOf(longSection)).toEqual(["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]);

    const notArray = await failure(client.apiCall("chat.postMessage", { channel: id, text: "x", blocks: "{not json" }));
    expect(notArray.error).toBe("invalid_blocks_format");
    expect((await failure(client.chat.postMessage({ channel: id, text: "z".repeat(40_001) }))).error).toBe("msg_too_long");
    expect(slack.messages.in(id)).toHaveLength(1);
  });

  it("enforces message, pin and reaction semantics", async () => {
    const { channel } = await client.conversations.create({ name: "inc-pins" });
    const id = channel?.id ?? "";
    const { ts } = await client.chat.postMessage({ channel: id, text: "x" });
    expect((await failure(client.chat.update({ channel: id, ts: "1600000000.000001", text: "y" }))).error).toBe("message_not_found");
    await client.pins.add({ channel: id, timestamp: ts ?? "" });
    expect((await failure(client.pins.add({ channel: id, timestamp: ts ?? "" }))).error).toBe("already_pinned");
    await client.pins.remove({ channel: id, timestamp: ts ?? "" });
    expect((await failure(client.pins.remove({ channel: id, timestamp: ts ?? "" }))).error).toBe("not_pinned");
    await client.reactions.add({ channel: id, timestamp: ts ?? "", name: "eyes" });
    expect((await failure(client.reactions.add({ channel: id, timestamp: ts ?? "", name: "eyes" }))).error).toBe("already_reacted");
    expect((await failure(client.reactions.add({ channel: id, timestamp: ts ?? "", name: ":eyes:" }))).error).toBe("invalid_name");
    const human = slack.messages.seed(id, { user: "U0DECLARER", text: "I see smoke" });
    expect((await failure(client.chat.update({ channel: id, ts: human.ts, text: "edited" }))).error).toBe("cant_update_message");
  });

  it("answers 404 unknown_method for methods Slack does not have", async () => {
    const e = await failure(client.apiCall("incidents.declare", {}));
    expect(e).toMatchObject({ code: ErrorCode.HTTPError, statusCode: 404 });
    expect(e.body).toEqual({ ok: false, error: "unknown_method" });
    expect(slack.calls.at(-1)).toMatchObject({ method: "incidents.declare", ok: false, error: "unknown_method", status: 404 });
  });

  it("failNext injects contract-valid errors only", async () => {
    slack.failNext("chat.postMessage", "fatal_error");
    const { channel } = await client.conversations.create({ name: "inc-fail" });
    const id = channel?.id ?? "";
    expect((await failure(client.chat.postMessage({ channel: id, text: "x" }))).error).toBe("fatal_error");
    await client.chat.postMessage({ channel: id, text: "x" });
    expect(() => slack.failNext("chat.postMessage", "made_up_error")).toThrow(/does not answer chat\.postMessage/);
    expect(() => slack.failNext("chat.nope", "fatal_error")).toThrow(TypeError);
  });

  it("enforces scopes when the fake is given the app's scopes", async () => {
    const scoped = await startFakeSlack({ scopes: ["chat:write", "chat:write.public", "channels:read"] });
    try {
      const c = new WebClient(TOKEN, { slackApiUrl: scoped.url, retryConfig: { retries: 0 }, logger: silentLogger });
      const e = await failure(c.conversations.create({ name: "nope" }));
      expect(e.error).toBe("missing_scope");
      expect(e.data["needed"]).toBe("channels:manage");
      // chat:write.public: the bot may post to public channels it has not joined.
      await c.chat.postMessage({ channel: "C0GENERAL0", text: "announcement" });
      expect(scoped.messages.in("general")).toHaveLength(1);
    } finally {
      await scoped.close();
    }
  });
});

describe("fake Slack: rate limits, latency and waiting", () => {
  it("answers HTTP 429 with Retry-After, surfaced as a RateLimitedError", async () => {
    const { channel } = await client.conversations.create({ name: "inc-rl" });
    const id = channel?.id ?? "";
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 7, times: 1 });

    const e = await failure(client.chat.postMessage({ channel: id, text: "x" }));
    expect(e).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 7 });
    expect(slack.calls.at(-1)).toMatchObject({ method: "chat.postMessage", ok: false, error: "ratelimited", status: 429 });
    expect(slack.calls.at(-1)?.response).toEqual({ ok: false, error: "ratelimited" });

    await client.chat.postMessage({ channel: id, text: "after the limit" });
    expect(slack.messages.in(id).map((m) => m.text)).toEqual(["after the limit"]);
  });

  it("can rate-limit a single channel, and a retrying client recovers", async () => {
    const a = (await client.conversations.create({ name: "inc-a" })).channel?.id ?? "";
    const b = (await client.conversations.create({ name: "inc-b" })).channel?.id ?? "";
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 0, times: 2, channel: "inc-a" });
    await client.chat.postMessage({ channel: b, text: "unaffected" });

    const retrying = makeClient(TOKEN, { rejectRateLimitedCalls: false, retryConfig: { retries: 3, minTimeout: 0, maxTimeout: 0 } });
    await retrying.chat.postMessage({ channel: a, text: "eventually" });
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).toEqual([200, 429, 429, 200]);
  });

  it("delays responses with setLatency", async () => {
    slack.setLatency(150, "auth.test");
    const started = Date.now();
    await client.auth.test();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const fastStart = Date.now();
    await client.users.info({ user: "U0DECLARER" });
    expect(Date.now() - fastStart).toBeLessThan(100);

    slack.setLatency(300);
    const impatient = makeClient(TOKEN, { timeout: 50 });
    expect((await failure(impatient.users.info({ user: "U0DECLARER" }))).code).toBe(ErrorCode.RequestError);
    slack.setLatency(0);
  });

  it("waitFor resolves on matching calls and explains timeouts", async () => {
    const pending = slack.waitFor({ method: "conversations.create", count: 2 });
    void client.conversations.create({ name: "inc-w1" });
    void client.conversations.create({ name: "inc-w2" });
    const created = await pending;
    expect(created.map((c) => c.args["name"])).toEqual(["inc-w1", "inc-w2"]);

    const byPredicate = await slack.waitFor((calls) => calls.length >= 2);
    expect(byPredicate).toHaveLength(2);

    await expect(slack.waitFor({ method: "chat.postMessage" }, 50)).rejects.toThrow(
      /waitFor\(1x chat\.postMessage\) timed out after 50ms\. Calls so far \(2\):\n {2}1\. conversations\.create -> ok {2}name="inc-w1"/,
    );
  });
});

/** A fake on a clock the test moves by hand, closed after `body`. */
async function withFake(options: FakeSlackOptions, body: (fake: FakeSlack, clock: { now: number }, c: WebClient) => Promise<void>): Promise<void> {
  const clock = { now: Date.parse("2026-01-05T09:00:00Z") };
  const fake = await startFakeSlack({ clock: () => clock.now, ...options });
  try {
    const c = new WebClient(TOKEN, { slackApiUrl: fake.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: silentLogger });
    await body(fake, clock, c);
  } finally {
    await fake.close();
  }
}

/** A raw POST, to see the HTTP status, headers and body Slack would send. */
async function post(fake: FakeSlack, method: string, args: Record<string, string>): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
  const response = await fetch(`${fake.url}${method}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${TOKEN}` },
    body: new URLSearchParams(args).toString(),
  });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
}

describe("fake Slack: the app's scopes by default", () => {
  it("grants exactly manifest.yml's bot scopes unless told otherwise, answering missing_scope like Slack", async () => {
    const manifestScopes = loadManifest().oauth_config.scopes.bot;
    await withFake({}, async (fake, _clock, c) => {
      // reactions:write is not in the manifest: Slack names the scope needed and the ones granted.
      const e = await failure(c.reactions.add({ channel: "C0GENERAL0", name: "eyes", timestamp: "1700000000.000100" }));
      expect(e.error).toBe("missing_scope");
      expect(e.data["needed"]).toBe("reactions:write");
      expect(String(e.data["provided"]).split(",").sort()).toEqual([...manifestScopes].sort());
      // chat:write.public is in the manifest: the bot may announce in #general without joining it.
      await c.chat.postMessage({ channel: "C0GENERAL0", text: "announcement" });
      const headers = await fetch(`${fake.url}auth.test`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
      expect(headers.headers.get("x-oauth-scopes")?.split(",").sort()).toEqual([...manifestScopes].sort());
    });
  });
});

describe("fake Slack: Slack's rate limits by default", () => {
  it("knows the limit of every method it implements, and refuses overrides for others", () => {
    expect(Object.keys(METHOD_RATE_LIMITS).sort()).toEqual(Object.keys(handlers).sort());
    expect(METHOD_RATE_LIMITS["conversations.create"]?.workspace).toEqual({ perMinute: 20, burst: 2 });
    expect(METHOD_RATE_LIMITS["chat.postMessage"]?.perChannel?.perMinute).toBe(60);
    return expect(startFakeSlack({ rateLimits: { "chat.nope": false } })).rejects.toThrow(/"chat\.nope" is not a method the fake implements/);
  });

  it("answers HTTP 429, Retry-After and ratelimited past a Tier 2 method's burst, per method, until the bucket refills", async () => {
    await withFake({}, async (fake, clock, c) => {
      const tier2 = TIER_LIMITS.tier2;
      for (let i = 1; i <= tier2.burst; i += 1) expect((await post(fake, "conversations.create", { name: `inc-burst-${i}` })).status).toBe(200);
      const refused = await post(fake, "conversations.create", { name: "inc-one-too-many" });
      // One call comes back every 60/20 = 3 s.
      expect(refused).toEqual({ status: 429, retryAfter: "3", body: { ok: false, error: "ratelimited" } });
      expect(fake.channels.byName("inc-one-too-many")).toBeUndefined();
      expect(fake.calls.at(-1)).toMatchObject({ method: "conversations.create", ok: false, error: "ratelimited", status: 429 });
      // The WebClient sees Slack's 429.
      expect(await failure(c.conversations.create({ name: "inc-webclient" }))).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 3 });
      // Per method: another Tier 2 method still has its own burst.
      const channel = fake.channels.byName("inc-burst-1")!.id;
      expect((await post(fake, "conversations.setTopic", { channel, topic: "SEV1" })).status).toBe(200);

      clock.now += 2_000;
      expect((await post(fake, "conversations.create", { name: "inc-too-soon" })).retryAfter).toBe("1");
      clock.now += 1_000;
      expect((await post(fake, "conversations.create", { name: "inc-refilled" })).status).toBe(200);
      // Refused calls did not count: the next one is 3 s away again, not more.
      expect((await post(fake, "conversations.create", { name: "inc-next" })).retryAfter).toBe("3");
      // Failed calls do count, as at Slack.
      clock.now += 3_000;
      expect((await post(fake, "conversations.create", { name: "inc-burst-1" })).body).toEqual({ ok: false, error: "name_taken" });
      expect((await post(fake, "conversations.create", { name: "inc-after-failure" })).status).toBe(429);
    });
  });

  it("limits each workspace on its own, and reset() refills every bucket", async () => {
    await withFake({}, async (first) => {
      await withFake({}, async (second) => {
        for (const name of ["inc-a", "inc-b"]) expect((await post(first, "conversations.create", { name })).status).toBe(200);
        expect((await post(first, "conversations.create", { name: "inc-c" })).status).toBe(429);
        expect((await post(second, "conversations.create", { name: "inc-c" })).status).toBe(200);
        first.reset();
        expect((await post(first, "conversations.create", { name: "inc-d" })).status).toBe(200);
      });
    });
  });

  it("lets chat.postMessage post about once a second per channel, with short bursts, under a workspace limit", async () => {
    await withFake({}, async (fake, clock) => {
      const a = fake.channels.create({ name: "inc-a" }).id;
      const b = fake.channels.create({ name: "inc-b" }).id;
      const perChannel = METHOD_RATE_LIMITS["chat.postMessage"]!.perChannel!;
      for (let i = 0; i < perChannel.burst; i += 1) expect((await post(fake, "chat.postMessage", { channel: a, text: `m${i}` })).status).toBe(200);
      expect(await post(fake, "chat.postMessage", { channel: a, text: "too fast" })).toMatchObject({ status: 429, retryAfter: "1" });
      // By name or by ID, it is the same channel.
      expect((await post(fake, "chat.postMessage", { channel: "inc-a", text: "too fast" })).status).toBe(429);
      expect((await post(fake, "chat.postMessage", { channel: b, text: "other channel" })).status).toBe(200);
      clock.now += 1_000;
      expect((await post(fake, "chat.postMessage", { channel: a, text: "a second later" })).status).toBe(200);
      expect(fake.messages.in(a).map((m) => m.text)).toEqual(["m0", "m1", "m2", "a second later"]);

      // The workspace-wide limit, across channels.
      const workspace = METHOD_RATE_LIMITS["chat.postMessage"]!.workspace;
      clock.now += 60_000;
      const channels = Array.from({ length: workspace.burst }, (_, i) => fake.channels.create({ name: `inc-ws-${i}` }).id);
      for (const channel of channels) expect((await post(fake, "chat.postMessage", { channel, text: "one each" })).status).toBe(200);
      expect((await post(fake, "chat.postMessage", { channel: b, text: "over the workspace limit" })).status).toBe(429);
    });
  });

  it("takes a test's own limits, and scripted 429s use up nothing", async () => {
    await withFake({ rateLimits: { "conversations.create": { burst: 5 }, "chat.postMessage": { perChannel: false }, "pins.add": false } }, async (fake) => {
      for (let i = 0; i < 5; i += 1) expect((await post(fake, "conversations.create", { name: `inc-${i}` })).status).toBe(200);
      expect((await post(fake, "conversations.create", { name: "inc-5" })).status).toBe(429);
      const a = fake.channels.get("inc-0").id;
      for (let i = 0; i < 10; i += 1) expect((await post(fake, "chat.postMessage", { channel: a, text: `m${i}` })).status).toBe(200);
      const ts = fake.messages.in(a).map((m) => m.ts);
      for (const timestamp of ts) expect((await post(fake, "pins.add", { channel: a, timestamp })).status).toBe(200);

      fake.rateLimit("conversations.setTopic", { retryAfterSeconds: 9, times: 2 });
      expect((await post(fake, "conversations.setTopic", { channel: a, topic: "x" })).retryAfter).toBe("9");
      expect((await post(fake, "conversations.setTopic", { channel: a, topic: "x" })).retryAfter).toBe("9");
      for (let i = 0; i < TIER_LIMITS.tier2.burst; i += 1) expect((await post(fake, "conversations.setTopic", { channel: a, topic: `t${i}` })).status).toBe(200);
    });
    await withFake({ rateLimits: false }, async (fake) => {
      for (let i = 0; i < 10; i += 1) expect((await post(fake, "conversations.create", { name: `inc-${i}` })).status).toBe(200);
    });
  });

  it("shows a request while it is in flight (waitForRequest), before it is answered and recorded", async () => {
    await withFake({}, async (fake, _clock, c) => {
      fake.setLatency(5_000, "conversations.create");
      const creating = c.conversations.create({ name: "inc-slow" }).catch(() => undefined);
      const request = await fake.waitForRequest("conversations.create");
      expect(request).toMatchObject({ method: "conversations.create", args: { name: "inc-slow" }, answered: false });
      expect(fake.calls).toEqual([]);
      fake.setLatency(0);
      await expect(fake.waitForRequest("chat.postMessage", 50)).rejects.toThrow(/waitForRequest\(chat\.postMessage\) timed out after 50ms/);
      void creating;
    });
  });
});

describe("fake Slack: user groups", () => {
  it("serves seeded user groups through usergroups.users.list", async () => {
    const group = slack.usergroups.create({ id: "S0ADMINS01", handle: "incident-admins", users: ["U0COMMANDR", "U0RESPOND1"] });
    expect(group).toMatchObject({ id: "S0ADMINS01", handle: "incident-admins", name: "incident-admins", date_delete: 0 });
    expect(slack.usergroups.get("@incident-admins")?.id).toBe("S0ADMINS01");
    expect(slack.usergroups.users("S0ADMINS01")).toEqual(["U0COMMANDR", "U0RESPOND1"]);

    const listed = await client.usergroups.users.list({ usergroup: "S0ADMINS01" });
    expect(listed.users).toEqual(["U0COMMANDR", "U0RESPOND1"]);

    slack.usergroups.setUsers("incident-admins", ["U0RESPOND2"]);
    expect((await client.usergroups.users.list({ usergroup: "S0ADMINS01" })).users).toEqual(["U0RESPOND2"]);

    // Unknown IDs (and handles, which the method does not take) answer no_such_subteam.
    expect((await failure(client.usergroups.users.list({ usergroup: "SNOPE00000" }))).error).toBe("no_such_subteam");
    expect((await failure(client.usergroups.users.list({ usergroup: "incident-admins" }))).error).toBe("no_such_subteam");
    const missing = await failure(client.apiCall("usergroups.users.list", {}));
    expect(missing.error).toBe("invalid_arguments");
    expect(messagesOf(missing)).toEqual(["[ERROR] missing required field: usergroup"]);
  });

  it("hides disabled groups unless include_disabled is set", async () => {
    slack.usergroups.create({ id: "S0OLDTEAM1", handle: "old-team", users: ["U0DECLARER"], disabled: true });
    expect((await failure(client.usergroups.users.list({ usergroup: "S0OLDTEAM1" }))).error).toBe("no_such_subteam");
    expect((await client.usergroups.users.list({ usergroup: "S0OLDTEAM1", include_disabled: true })).users).toEqual(["U0DECLARER"]);
    slack.usergroups.enable("S0OLDTEAM1");
    expect((await client.usergroups.users.list({ usergroup: "S0OLDTEAM1" })).users).toEqual(["U0DECLARER"]);
    slack.usergroups.disable("old-team");
    expect(slack.usergroups.get("S0OLDTEAM1")?.date_delete).toBeGreaterThan(0);
  });

  it("rejects bad seeds and forgets runtime groups on reset, keeping startFakeSlack({ usergroups })", async () => {
    expect(() => slack.usergroups.create({ handle: "ghosts", users: ["U0NOBODY00"] })).toThrow(/not in the workspace: U0NOBODY00/);
    expect(() => slack.usergroups.create({ id: "G0WRONG000", handle: "wrong" })).toThrow(/not a Slack user group id/);
    const auto = slack.usergroups.create({ handle: "sre" });
    expect(auto.id).toMatch(/^S[A-Z0-9]{8,}$/);
    expect(() => slack.usergroups.create({ handle: "@sre" })).toThrow(/already exists/);
    expect(() => slack.usergroups.setUsers("nope", [])).toThrow(/no user group "nope". Known user groups: S\w+ @sre/);
    slack.reset();
    expect(slack.usergroups.all()).toEqual([]);

    const seeded = await startFakeSlack({
      usergroups: [{ id: "S0ONCALL01", handle: "oncall", users: ["U0RESPOND1"] }],
      scopes: ["chat:write"],
    });
    try {
      seeded.usergroups.create({ id: "S0EXTRA001", handle: "extra" });
      seeded.reset();
      expect(seeded.usergroups.all().map((g) => g.id)).toEqual(["S0ONCALL01"]);
      // Scopes are enforced: usergroups.users.list needs usergroups:read.
      const c = new WebClient(TOKEN, { slackApiUrl: seeded.url, retryConfig: { retries: 0 }, logger: silentLogger });
      const e = await failure(c.usergroups.users.list({ usergroup: "S0ONCALL01" }));
      expect(e.error).toBe("missing_scope");
      expect(e.data["needed"]).toBe("usergroups:read");
    } finally {
      await seeded.close();
    }
    // The default grant (every scope in the contract) includes usergroups:read.
    slack.usergroups.create({ id: "S0ADMINS01", handle: "incident-admins", users: ["U0COMMANDR"] });
    const listed = await client.usergroups.users.list({ usergroup: "S0ADMINS01" });
    expect(listed.users).toEqual(["U0COMMANDR"]);
  });

  it("supports failNext, rateLimit and latency like every other method", async () => {
    slack.usergroups.create({ id: "S0ADMINS01", handle: "incident-admins", users: ["U0COMMANDR"] });
    slack.failNext("usergroups.users.list", "plan_upgrade_required");
    expect((await failure(client.usergroups.users.list({ usergroup: "S0ADMINS01" }))).error).toBe("plan_upgrade_required");
    expect(() => slack.failNext("usergroups.users.list", "channel_not_found")).toThrow(/does not answer usergroups\.users\.list/);

    slack.rateLimit("usergroups.users.list", { retryAfterSeconds: 4 });
    expect(await failure(client.usergroups.users.list({ usergroup: "S0ADMINS01" }))).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 4 });

    slack.setLatency(120, "usergroups.users.list");
    const started = Date.now();
    expect((await client.usergroups.users.list({ usergroup: "S0ADMINS01" })).users).toEqual(["U0COMMANDR"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(slack.callsTo("usergroups.users.list").map((c) => c.status)).toEqual([200, 429, 200]);
  });
});

describe("fake Slack: topics, bookmarks, updates, pins and posting rules", () => {
  it("enforces the 250-character topic limit and records the topic history", async () => {
    const id = (await client.conversations.create({ name: "inc-topic" })).channel?.id ?? "";
    expect(slack.channels.topic(id)).toBe("");
    expect(slack.channels.topicHistory(id)).toEqual([]);
    await client.conversations.setTopic({ channel: id, topic: "SEV2: investigating" });
    await client.conversations.setTopic({ channel: id, topic: "t".repeat(250) });
    const tooLong = await failure(client.conversations.setTopic({ channel: id, topic: "t".repeat(251) }));
    expect(tooLong.error).toBe("too_long");
    expect(slack.channels.topic("inc-topic")).toBe("t".repeat(250));
    expect(slack.channels.topicHistory("inc-topic").map((t) => t.value)).toEqual(["SEV2: investigating", "t".repeat(250)]);
    expect(slack.channels.topicHistory("inc-topic")[0]).toMatchObject({ creator: "UBOT00001" });
    expect((await client.conversations.info({ channel: id })).channel?.topic?.value).toBe("t".repeat(250));

    await client.conversations.setPurpose({ channel: id, purpose: "Incident 7" });
    expect(slack.channels.purpose(id)).toBe("Incident 7");
    expect(slack.channels.purposeHistory(id).map((p) => p.value)).toEqual(["Incident 7"]);
    const seeded = slack.channels.create({ name: "seeded", topic: "Seeded topic" });
    expect(slack.channels.topicHistory(seeded.id).map((t) => t.value)).toEqual(["Seeded topic"]);
    expect(slack.channels.topicHistory("general")).toEqual([]);
  });

  it("keeps bookmarks per channel with ids, titles, links and emoji", async () => {
    const a = (await client.conversations.create({ name: "inc-bm-a" })).channel?.id ?? "";
    const b = (await client.conversations.create({ name: "inc-bm-b" })).channel?.id ?? "";
    const doc = await client.bookmarks.add({ channel_id: a, title: "Post-mortem doc", type: "link", link: "https://docs.example.com/pm", emoji: ":memo:" });
    await client.bookmarks.add({ channel_id: a, title: "Dashboard", type: "link", link: "https://grafana.example.com/d/1" });
    await client.bookmarks.add({ channel_id: b, title: "Runbook", type: "link", link: "https://runbooks.example.com/b" });
    const docId = doc.bookmark?.id ?? "";
    expect(docId).toMatch(/^Bk[A-Z0-9]+$/);
    expect(doc.bookmark).toMatchObject({ channel_id: a, title: "Post-mortem doc", link: "https://docs.example.com/pm", emoji: ":memo:", type: "link" });

    await client.bookmarks.edit({ channel_id: a, bookmark_id: docId, title: "Post-mortem (draft)", emoji: ":pencil:" });
    expect(slack.bookmarks.in("inc-bm-a").map((bm) => [bm.title, bm.link, bm.emoji])).toEqual([
      ["Post-mortem (draft)", "https://docs.example.com/pm", ":pencil:"],
      ["Dashboard", "https://grafana.example.com/d/1", null],
    ]);
    expect(slack.bookmarks.in(b).map((bm) => bm.title)).toEqual(["Runbook"]);
    expect(slack.bookmarks.byId(docId)?.title).toBe("Post-mortem (draft)");
    expect((await client.bookmarks.list({ channel_id: a })).bookmarks?.map((bm) => bm.id)).toEqual(slack.bookmarks.in(a).map((bm) => bm.id));

    // A bookmark is only found in its own channel; bad links and emoji are refused.
    expect((await failure(client.bookmarks.edit({ channel_id: b, bookmark_id: docId, title: "x" }))).error).toBe("not_found");
    expect((await failure(client.bookmarks.add({ channel_id: a, title: "x", type: "link", link: "ftp://nope" }))).error).toBe("invalid_link");
    expect((await failure(client.bookmarks.add({ channel_id: a, title: "x", type: "link", link: "https://ok.example.com", emoji: "memo" }))).error).toBe("invalid_emoji");
    expect(slack.bookmarks.all()).toHaveLength(3);
  });

  it("lets people archive, unarchive and delete channels, and remove or edit bookmarks, as the Web API then shows", async () => {
    const id = (await client.conversations.create({ name: "inc-drift" })).channel?.id ?? "";
    const { ts } = await client.chat.postMessage({ channel: id, text: "header" });
    const mark = (await client.bookmarks.add({ channel_id: id, title: "INC-1 · SEV3 · Investigating", type: "link", link: "https://firebreak-test.slack.com/archives/x" })).bookmark?.id ?? "";
    const other = (await client.bookmarks.add({ channel_id: id, title: "Runbook", type: "link", link: "https://runbooks.example.com/a" })).bookmark?.id ?? "";
    slack.channels.addMembers(id, ["U0RESPOND1"]);

    // Archived: still described (is_archived), readable, but nobody posts; only a person unarchives it.
    slack.channels.archive(id);
    expect((await client.conversations.info({ channel: id })).channel).toMatchObject({ id, is_archived: true });
    expect((await failure(client.chat.postMessage({ channel: id, text: "hello" }))).error).toBe("is_archived");
    expect((await client.conversations.history({ channel: id })).messages?.map((m) => m.ts)).toEqual([ts]);
    slack.channels.unarchive(id);
    expect((await client.conversations.info({ channel: id })).channel?.is_archived).toBe(false);
    expect(() => slack.channels.unarchive(id)).toThrow(/not archived/);

    // A person edits, then removes, a bookmark: bookmarks.list shows it, bookmarks.edit no longer finds it.
    expect(slack.bookmarks.editAs("U0RESPOND1", id, mark, { title: "renamed" })).toMatchObject({ title: "renamed", last_updated_by_user_id: "U0RESPOND1" });
    expect((await client.bookmarks.list({ channel_id: id })).bookmarks?.map((bm) => bm.title)).toEqual(["renamed", "Runbook"]);
    expect(slack.bookmarks.removeAs("U0RESPOND1", id, mark).id).toBe(mark);
    expect((await client.bookmarks.list({ channel_id: id })).bookmarks?.map((bm) => bm.id)).toEqual([other]);
    expect((await failure(client.bookmarks.edit({ channel_id: id, bookmark_id: mark, title: "back" }))).error).toBe("not_found");
    expect(() => slack.bookmarks.removeAs("U0RESPOND2", id, other)).toThrow(/not a member/);
    expect(() => slack.bookmarks.removeAs("U0RESPOND1", id, mark)).toThrow(/no bookmark/);
    expect(() => slack.bookmarks.editAs("U0RESPOND1", id, other, { link: "ftp://nope" })).toThrow(/not a link/);

    // Deleted by an admin: gone with its messages and bookmarks; every method answers channel_not_found.
    expect(slack.channels.delete(id).id).toBe(id);
    expect(slack.channels.byId(id)).toBeUndefined();
    expect(slack.messages.all().filter((m) => m.channel === id)).toEqual([]);
    expect(slack.bookmarks.all().filter((bm) => bm.channel_id === id)).toEqual([]);
    for (const call of [
      client.conversations.info({ channel: id }),
      client.conversations.history({ channel: id }),
      client.bookmarks.list({ channel_id: id }),
      client.chat.update({ channel: id, ts: ts ?? "", text: "x" }),
      client.chat.postMessage({ channel: id, text: "x" }),
    ]) {
      expect((await failure(call)).error).toBe("channel_not_found");
    }
    // Its name is free again; its id is never handed out again.
    expect((await client.conversations.create({ name: "inc-drift" })).channel?.id).not.toBe(id);
    expect(() => slack.channels.delete("general")).toThrow(/cannot be deleted/);
  });

  it("keeps every chat.update revision and refuses to update others' messages", async () => {
    const id = (await client.conversations.create({ name: "inc-rev" })).channel?.id ?? "";
    const section = (text: string) => [{ type: "section", text: { type: "mrkdwn", text } }];
    const { ts } = await client.chat.postMessage({ channel: id, text: "Status: investigating", blocks: section("*investigating*") });
    await client.chat.update({ channel: id, ts: ts ?? "", text: "Status: identified", blocks: section("*identified*") });
    const last = await client.chat.update({ channel: id, ts: ts ?? "", text: "Status: resolved" });
    expect(last.message?.edited).toBeDefined();

    const message = slack.messages.get(id, ts ?? "");
    expect(message?.text).toBe("Status: resolved");
    expect(message?.blocks).toEqual(section("*identified*")); // chat.update without blocks keeps them
    expect(message?.history.map((h) => [h.text, h.blocks])).toEqual([
      ["Status: investigating", section("*investigating*")],
      ["Status: identified", section("*identified*")],
    ]);

    const human = slack.messages.seed(id, { user: "U0DECLARER", text: "ours, not the bot's" });
    expect((await failure(client.chat.update({ channel: id, ts: human.ts, text: "hijacked" }))).error).toBe("cant_update_message");
    expect(slack.messages.get(id, human.ts)?.history).toEqual([]);
  });

  it("pins.add needs the bot in the channel, refuses repeats and caps pins at 100", async () => {
    const human = slack.messages.seed("general", { user: "U0DECLARER", text: "Pin me" });
    const general = slack.channels.get("general").id;
    expect((await failure(client.pins.add({ channel: general, timestamp: human.ts }))).error).toBe("not_in_channel");
    expect(slack.pins.isPinned(general, human.ts)).toBe(false);
    await client.conversations.join({ channel: general });
    await client.pins.add({ channel: general, timestamp: human.ts });
    expect(slack.pins.in("general").map((m) => m.ts)).toEqual([human.ts]);
    expect((await failure(client.pins.add({ channel: general, timestamp: human.ts }))).error).toBe("already_pinned");

    const id = (await client.conversations.create({ name: "inc-many-pins" })).channel?.id ?? "";
    for (let i = 0; i < 100; i++) slack.messages.seed(id, { user: "U0DECLARER", text: `m${i}` }).pinned = true;
    const extra = slack.messages.seed(id, { user: "U0DECLARER", text: "one too many" });
    expect((await failure(client.pins.add({ channel: id, timestamp: extra.ts }))).error).toBe("too_many_pins");

    slack.failNext("pins.add", "restricted_action");
    expect((await failure(client.pins.add({ channel: general, timestamp: human.ts }))).error).toBe("restricted_action");
  });

  it("posts to public channels it has not joined only with chat:write.public; unknown thread_ts is accepted", async () => {
    expect((await failure(client.chat.postMessage({ channel: "C0GENERAL0", text: "hello" }))).error).toBe("not_in_channel");
    const id = (await client.conversations.create({ name: "inc-threads" })).channel?.id ?? "";
    // Slack accepts a reply to a ts that names no message (it lands in an orphan thread).
    const orphan = await client.chat.postMessage({ channel: id, text: "reply", thread_ts: "1600000000.000100" });
    expect(slack.messages.get(id, orphan.ts ?? "")?.thread_ts).toBe("1600000000.000100");
    expect(slack.messages.topLevel(id)).toEqual([]);
  });
});

describe("fake Slack: views.open triggers and modal validation", () => {
  const modal = {
    type: "modal" as const,
    callback_id: "declare",
    title: { type: "plain_text" as const, text: "Declare incident" },
    submit: { type: "plain_text" as const, text: "Declare" },
    blocks: [
      {
        type: "input",
        block_id: "title",
        label: { type: "plain_text" as const, text: "Title" },
        element: { type: "plain_text_input", action_id: "value" },
      },
    ],
  };

  it("accepts only trigger IDs the fake issued, once, before they expire", async () => {
    // Well-formed but never issued (e.g. the "1.2.3" default of slashCommandBody): refused.
    expect((await failure(client.views.open({ trigger_id: "1.2.3", view: modal }))).error).toBe("invalid_trigger_id");
    expect((await failure(client.views.open({ trigger_id: "1700000001.41.9e3779b1", view: modal }))).error).toBe("invalid_trigger_id");
    const trigger = slack.newTriggerId("U0DECLARER");
    await client.views.open({ trigger_id: trigger, view: modal });
    expect((await failure(client.views.open({ trigger_id: trigger, view: modal }))).error).toBe("exchanged_trigger_id");

    const quick = await startFakeSlack({ triggerTtlMs: 30 });
    try {
      const c = new WebClient(TOKEN, { slackApiUrl: quick.url, retryConfig: { retries: 0 }, logger: silentLogger });
      const stale = quick.newTriggerId();
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect((await failure(c.views.open({ trigger_id: stale, view: modal }))).error).toBe("expired_trigger_id");
      expect(quick.views.all()).toEqual([]);
    } finally {
      await quick.close();
    }
  });

  it("validates modals: title length, block count, submit with inputs", async () => {
    const tooMany = await failure(
      client.views.open({ trigger_id: slack.newTriggerId(), view: { ...modal, blocks: Array.from({ length: 101 }, () => ({ type: "divider" })) } }),
    );
    expect(tooMany.error).toBe("invalid_arguments");
    expect(messagesOf(tooMany)).toEqual(["[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"]);

    const { submit: _submit, ...withoutSubmit } = modal;
    const noSubmit = await failure(client.views.open({ trigger_id: slack.newTriggerId(), view: withoutSubmit }));
    expect(messagesOf(noSubmit)).toEqual(["[ERROR] must provide submit when the view contains input blocks [json-pointer:/view/submit]"]);

    const longCallback = await failure(client.views.open({ trigger_id: slack.newTriggerId(), view: { ...modal, callback_id: "c".repeat(256) } }));
    expect(messagesOf(longCallback)).toEqual(["[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]"]);

    const opened = await client.views.open({
      trigger_id: slack.newTriggerId(),
      view: { ...modal, title: { type: "plain_text", text: "t".repeat(24) }, blocks: Array.from({ length: 100 }, (_, i) => ({ type: "section", text: { type: "mrkdwn", text: `b${i}` } })) },
    });
    expect(opened.view?.callback_id).toBe("declare");

    slack.failNext("views.open", "expired_trigger_id");
    expect((await failure(client.views.open({ trigger_id: slack.newTriggerId(), view: modal }))).error).toBe("expired_trigger_id");
  });
});
