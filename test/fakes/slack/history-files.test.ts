import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebClient } from "@slack/web-api";
import { startFakeSlack, type FakeSlack } from "./index.ts";
import { failure, messagesOf, silentLogger } from "./test-client.ts";

/**
 * conversations.history / conversations.replies, the two-step file upload, and the test-only
 * mutators that play the people in a channel (postAs, editAs, deleteAs, pins.addAs, reactions.addAs).
 */

const TOKEN = "xoxb-test-token";

let slack: FakeSlack;
let client: WebClient;

function clientFor(fake: FakeSlack): WebClient {
  return new WebClient(TOKEN, { slackApiUrl: fake.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: silentLogger });
}

beforeAll(async () => {
  // Method semantics, many reads per test: Slack's rate limits (tested in fake-slack.test.ts) are lifted.
  slack = await startFakeSlack({ rateLimits: false });
  client = clientFor(slack);
});

afterAll(async () => {
  await slack.close();
});

beforeEach(() => {
  slack.reset();
});

/** An incident channel the bot created, with two responders in it. */
function incidentChannel(name = "inc-9-cache"): string {
  return slack.channels.create({ name, members: ["U0RESPOND1", "U0RESPOND2"] }).id;
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

describe("people in the channel (test-only mutators)", () => {
  it("postAs posts as a member, in threads too; deleteAs and editAs change only fake state", async () => {
    const ch = incidentChannel();
    const first = slack.messages.postAs("U0RESPOND1", ch, "cache hit ratio is dropping");
    const reply = slack.messages.postAs("U0RESPOND2", "inc-9-cache", "looking", { threadTs: first });
    expect(Number(reply)).toBeGreaterThan(Number(first));
    expect(slack.messages.get(ch, first)).toMatchObject({ user: "U0RESPOND1", text: "cache hit ratio is dropping" });
    expect(slack.messages.get(ch, first)?.client_msg_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(slack.messages.thread(ch, first).map((m) => m.text)).toEqual(["looking"]);

    const edited = slack.messages.editAs(ch, first, "cache hit ratio dropped to 40%");
    expect(edited.text).toBe("cache hit ratio dropped to 40%");
    expect(edited.edited?.user).toBe("U0RESPOND1");
    expect(edited.history.map((h) => h.text)).toEqual(["cache hit ratio is dropping"]);

    const deleted = slack.messages.deleteAs(ch, reply);
    expect(deleted.text).toBe("looking");
    expect(slack.messages.get(ch, reply)).toBeUndefined();
    expect(slack.calls).toEqual([]); // no Web API call was made

    // Test mistakes fail loudly.
    expect(() => slack.messages.postAs("U0COMMANDR", ch, "not a member")).toThrow(/not a member/);
    expect(() => slack.messages.postAs("U0DEPARTED", ch, "gone")).toThrow(/deactivated/);
    expect(() => slack.messages.postAs("U0RESPOND1", ch, "x", { threadTs: reply })).toThrow(/no message/);
    const botTs = (await client.chat.postMessage({ channel: ch, text: "from the app" })).ts ?? "";
    expect(() => slack.messages.editAs(ch, botTs, "hacked")).toThrow(/chat\.update/);
    expect(() => slack.messages.deleteAs(ch, "1.2")).toThrow(/no message/);
  });

  it("pins.addAs / removeAs and reactions.addAs / removeAs record who did it", () => {
    const ch = incidentChannel();
    const ts = slack.messages.postAs("U0RESPOND1", ch, "root cause: eviction storm");
    const pinned = slack.pins.addAs("U0RESPOND2", ch, ts);
    expect(pinned.pinned).toBe(true);
    expect(pinned.pin?.by).toBe("U0RESPOND2");
    expect(slack.pins.isPinned(ch, ts)).toBe(true);
    expect(() => slack.pins.addAs("U0RESPOND1", ch, ts)).toThrow(/already pinned/);
    const unpinned = slack.pins.removeAs("U0RESPOND1", ch, ts);
    expect(unpinned.pinned).toBe(false);
    expect(unpinned.pin?.by).toBe("U0RESPOND2"); // the removed pin
    expect(() => slack.pins.removeAs("U0RESPOND1", ch, ts)).toThrow(/not pinned/);

    slack.reactions.addAs("U0RESPOND1", ch, ts, ":eyes:");
    slack.reactions.addAs("U0RESPOND2", ch, ts, "eyes");
    slack.reactions.addAs("U0RESPOND2", ch, ts, "white_check_mark");
    expect(slack.reactions.on(ch, ts)).toEqual([
      { name: "eyes", users: ["U0RESPOND1", "U0RESPOND2"] },
      { name: "white_check_mark", users: ["U0RESPOND2"] },
    ]);
    expect(() => slack.reactions.addAs("U0RESPOND1", ch, ts, "eyes")).toThrow(/already reacted/);
    slack.reactions.removeAs("U0RESPOND2", ch, ts, "white_check_mark");
    expect(slack.reactions.on(ch, ts).map((r) => r.name)).toEqual(["eyes"]);
    expect(() => slack.reactions.removeAs("U0RESPOND2", ch, ts, "white_check_mark")).toThrow(/has no/);
  });
});

describe("conversations.history", () => {
  it("returns top-level messages newest first, from the app and from people, with thread summaries", async () => {
    const ch = incidentChannel();
    const declared = (await client.chat.postMessage({ channel: ch, text: "INC-9 declared" })).ts ?? "";
    const human = slack.messages.postAs("U0RESPOND1", ch, "on it");
    slack.messages.postAs("U0RESPOND2", ch, "same here", { threadTs: human });
    const broadcast = slack.messages.postAs("U0RESPOND1", ch, "fixed, also to channel", { threadTs: human, broadcast: true });
    slack.reactions.addAs("U0RESPOND2", ch, human, "eyes");
    slack.pins.addAs("U0RESPOND2", ch, declared);

    const res = await client.conversations.history({ channel: ch });
    expect(res.ok).toBe(true);
    expect(res.has_more).toBe(false);
    expect(res.pin_count).toBe(1);
    const messages = res.messages ?? [];
    expect(messages.map((m) => m.ts)).toEqual([broadcast, human, declared]);
    expect(messages[0]).toMatchObject({ type: "message", subtype: "thread_broadcast", thread_ts: human, user: "U0RESPOND1" });
    expect(messages[1]).toMatchObject({
      type: "message",
      user: "U0RESPOND1",
      text: "on it",
      thread_ts: human,
      reply_count: 2,
      reply_users: ["U0RESPOND2", "U0RESPOND1"],
      latest_reply: broadcast,
      reactions: [{ name: "eyes", users: ["U0RESPOND2"], count: 1 }],
    });
    expect(messages[1]).not.toHaveProperty("bot_id");
    expect(messages[2]).toMatchObject({ user: "UBOT00001", bot_id: "BBOT00001", text: "INC-9 declared", pinned_to: [ch] });
  });

  it("filters by oldest/latest (exclusive unless inclusive) and pages with cursors", async () => {
    const ch = incidentChannel();
    const ts = ["one", "two", "three", "four", "five"].map((t) => slack.messages.postAs("U0RESPOND1", ch, t));
    const [t1, t2, , t4, t5] = ts;
    const between = await client.conversations.history({ channel: ch, oldest: t2, latest: t4 });
    expect(between.messages?.map((m) => m.text)).toEqual(["three"]);
    const inclusive = await client.conversations.history({ channel: ch, oldest: t2, latest: t4, inclusive: true });
    expect(inclusive.messages?.map((m) => m.text)).toEqual(["four", "three", "two"]);
    expect((await client.conversations.history({ channel: ch, oldest: t5 })).messages).toEqual([]);
    expect((await client.conversations.history({ channel: ch, latest: t1, inclusive: true })).messages?.map((m) => m.text)).toEqual(["one"]);

    const page1 = await client.conversations.history({ channel: ch, limit: 2 });
    expect(page1.messages?.map((m) => m.text)).toEqual(["five", "four"]);
    expect(page1.has_more).toBe(true);
    const cursor = page1.response_metadata?.next_cursor ?? "";
    expect(cursor).not.toBe("");
    const page2 = await client.conversations.history({ channel: ch, limit: 2, cursor });
    expect(page2.messages?.map((m) => m.text)).toEqual(["three", "two"]);
    const page3 = await client.conversations.history({ channel: ch, limit: 2, cursor: page2.response_metadata?.next_cursor ?? "" });
    expect(page3.messages?.map((m) => m.text)).toEqual(["one"]);
    expect(page3.has_more).toBe(false);

    // A deleted message is gone from history, an edited one shows its new text and `edited`.
    slack.messages.deleteAs(ch, t5 ?? "");
    slack.messages.editAs(ch, t4 ?? "", "FOUR");
    const after = await client.conversations.history({ channel: ch, limit: 1 });
    expect(after.messages?.[0]).toMatchObject({ text: "FOUR", edited: { user: "U0RESPOND1" } });
  });

  it("enforces its contract: channel required, channel visibility, membership, timestamps, cursor", async () => {
    const missing = await failure(client.apiCall("conversations.history", {}));
    expect(missing.error).toBe("invalid_arguments");
    expect(messagesOf(missing)).toEqual(["[ERROR] missing required field: channel"]);
    expect((await failure(client.conversations.history({ channel: "CNOPE00000" }))).error).toBe("channel_not_found");
    const secret = slack.channels.create({ name: "secret", is_private: true, botIsMember: false }).id;
    expect((await failure(client.conversations.history({ channel: secret }))).error).toBe("channel_not_found");
    // A bot reads public channels only once it has joined them.
    expect((await failure(client.conversations.history({ channel: "C0GENERAL0" }))).error).toBe("not_in_channel");
    const ch = incidentChannel();
    expect((await failure(client.conversations.history({ channel: ch, latest: "yesterday" }))).error).toBe("invalid_ts_latest");
    expect((await failure(client.conversations.history({ channel: ch, oldest: "1.2.3" }))).error).toBe("invalid_ts_oldest");
    expect((await failure(client.conversations.history({ channel: ch, cursor: "bm90LWEtY3Vyc29y" }))).error).toBe("invalid_cursor");
  });

  it("needs the history scope of the conversation's type", async () => {
    const scoped = await startFakeSlack({ scopes: ["channels:history", "chat:write"] });
    try {
      const c = clientFor(scoped);
      const pub = scoped.channels.create({ name: "inc-public" }).id;
      const priv = scoped.channels.create({ name: "inc-private", is_private: true }).id;
      scoped.messages.seed(pub, { user: "U0RESPOND1", text: "hello" });
      expect((await c.conversations.history({ channel: pub })).messages).toHaveLength(1);
      const e = await failure(c.conversations.history({ channel: priv }));
      expect(e.error).toBe("missing_scope");
      expect(e.data["needed"]).toBe("groups:history");
    } finally {
      await scoped.close();
    }
    const none = await startFakeSlack({ scopes: ["chat:write"] });
    try {
      const e = await failure(clientFor(none).conversations.history({ channel: "C0GENERAL0" }));
      expect(e.error).toBe("missing_scope");
    } finally {
      await none.close();
    }
  });
});

describe("conversations.replies", () => {
  it("returns the parent then the replies, oldest first, from the parent's or a reply's ts", async () => {
    const ch = incidentChannel();
    const parent = (await client.chat.postMessage({ channel: ch, text: "Status: investigating" })).ts ?? "";
    const r1 = slack.messages.postAs("U0RESPOND1", ch, "found it", { threadTs: parent });
    const r2 = (await client.chat.postMessage({ channel: ch, text: "noted", thread_ts: parent })).ts ?? "";
    slack.messages.postAs("U0RESPOND2", ch, "unrelated top-level");

    for (const ts of [parent, r1]) {
      const res = await client.conversations.replies({ channel: ch, ts });
      expect(res.messages?.map((m) => m.ts)).toEqual([parent, r1, r2]);
      expect(res.messages?.[0]).toMatchObject({ thread_ts: parent, reply_count: 2, latest_reply: r2 });
      expect(res.messages?.[1]).toMatchObject({ thread_ts: parent, parent_user_id: "UBOT00001", user: "U0RESPOND1" });
      expect(res.has_more).toBe(false);
    }
    // A message without replies is its own one-message thread.
    const lone = slack.messages.postAs("U0RESPOND2", ch, "lonely");
    expect((await client.conversations.replies({ channel: ch, ts: lone })).messages?.map((m) => field(m, "text"))).toEqual(["lonely"]);
    // Reading one reply by its own ts, as the app does: a window of exactly that ts.
    const one = await client.conversations.replies({ channel: ch, ts: r1, oldest: r1, latest: r1, inclusive: true });
    expect(one.messages?.map((m) => m.ts)).toEqual([parent, r1]);
    // oldest filters the replies; the parent still comes first.
    expect((await client.conversations.replies({ channel: ch, ts: parent, oldest: r1 })).messages?.map((m) => m.ts)).toEqual([parent, r2]);
    const paged = await client.conversations.replies({ channel: ch, ts: parent, limit: 2 });
    expect(paged.has_more).toBe(true);
    const rest = await client.conversations.replies({ channel: ch, ts: parent, limit: 2, cursor: paged.response_metadata?.next_cursor ?? "" });
    expect(rest.messages?.map((m) => m.ts)).toEqual([r2]);
  });

  it("enforces its contract: channel and ts required, unknown thread, visibility", async () => {
    const ch = incidentChannel();
    const e = await failure(client.apiCall("conversations.replies", { channel: ch }));
    expect(e.error).toBe("invalid_arguments");
    expect(messagesOf(e)).toEqual(["[ERROR] missing required field: ts"]);
    expect((await failure(client.conversations.replies({ channel: ch, ts: "1700000999.000100" }))).error).toBe("thread_not_found");
    expect((await failure(client.conversations.replies({ channel: "CNOPE00000", ts: "1.2" }))).error).toBe("channel_not_found");
    expect((await failure(client.conversations.replies({ channel: "C0GENERAL0", ts: "1.2" }))).error).toBe("not_in_channel");
  });
});

describe("files: getUploadURLExternal, the upload URL, completeUploadExternal", () => {
  it("uploadV2 of the real WebClient shares a file in a channel, with its comment and thread", async () => {
    const ch = incidentChannel();
    const parent = (await client.chat.postMessage({ channel: ch, text: "Timeline" })).ts ?? "";
    const content = "# INC-9 timeline\n05:01 declared\n05:07 mitigated — ✅\n";
    const res = await client.filesUploadV2({
      channel_id: ch,
      thread_ts: parent,
      initial_comment: "Timeline export",
      filename: "inc-9-timeline.md",
      title: "INC-9 timeline",
      content,
    });
    expect(res.ok).toBe(true);
    const files = slack.files.in("inc-9-cache");
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ title: "INC-9 timeline", filename: "inc-9-timeline.md", content, initialComment: "Timeline export", threadTs: parent, completed: true });
    expect(files[0]?.id).toMatch(/^F[A-Z0-9]{8,}$/);
    expect(slack.files.all()).toHaveLength(1);
    // The share shows up as a message in the thread, carrying the file.
    const shared = slack.messages.thread(ch, parent);
    expect(shared).toHaveLength(1);
    expect(shared[0]).toMatchObject({ text: "Timeline export", files: [files[0]?.id] });
    const replies = await client.conversations.replies({ channel: ch, ts: parent });
    expect(replies.messages?.[1]?.files?.[0]).toMatchObject({ id: files[0]?.id, name: "inc-9-timeline.md", title: "INC-9 timeline" });
    expect(slack.callsTo("files.getUploadURLExternal")[0]?.args).toMatchObject({ filename: "inc-9-timeline.md", length: String(Buffer.byteLength(content)) });
  });

  it("accepts raw-byte uploads, keeps unshared files private, and checks the announced length", async () => {
    const got = await client.files.getUploadURLExternal({ filename: "notes.txt", length: 5 });
    const url = got.upload_url ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/upload\/v1\/F/);
    const short = await fetch(url, { method: "POST", body: "abc" });
    expect(short.status).toBe(400);
    expect(await short.text()).toMatch(/announced 5 bytes, received 3/);
    expect((await fetch(`${url}x`, { method: "POST", body: "hello" })).status).toBe(404);
    const ok = await fetch(url, { method: "POST", body: "hello" });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("OK - 5");
    const done = await client.files.completeUploadExternal({ files: [{ id: got.file_id ?? "" }] });
    expect(done.files?.[0]).toMatchObject({ id: got.file_id, title: "notes.txt" });
    expect(slack.files.byId(got.file_id ?? "")).toMatchObject({ content: "hello", completed: true });
    expect(slack.files.byId(got.file_id ?? "")).not.toHaveProperty("channel");
    expect(slack.messages.all()).toEqual([]);
    // multipart/form-data, as WebClient sends it: the file part is what counts.
    const second = await client.files.getUploadURLExternal({ filename: "b.txt", length: 4 });
    const form = new FormData();
    form.append("note", "not the file");
    form.append("file", new Blob([Buffer.from("four")]), "b.txt");
    expect((await fetch(second.upload_url ?? "", { method: "POST", body: form })).status).toBe(200);
    expect(slack.files.byId(second.file_id ?? "")?.content).toBe("four");
    const third = await client.files.getUploadURLExternal({ filename: "c.txt", length: 4 });
    const tooLong = new FormData();
    tooLong.append("file", new Blob([Buffer.from("fives")]), "c.txt");
    expect((await fetch(third.upload_url ?? "", { method: "POST", body: tooLong })).status).toBe(400);
    // Once completed, neither the URL nor the ticket can be used again.
    expect((await fetch(url, { method: "POST", body: "hello" })).status).toBe(400);
    expect((await failure(client.files.completeUploadExternal({ files: [{ id: got.file_id ?? "" }] }))).error).toBe("file_not_found");
  });

  it("enforce their contracts: required args, length, files never uploaded, channels the bot cannot post to, scope", async () => {
    const noLength = await failure(client.apiCall("files.getUploadURLExternal", { filename: "a.txt" }));
    expect(noLength.error).toBe("invalid_arguments");
    expect(messagesOf(noLength)).toEqual(["[ERROR] missing required field: length"]);
    expect((await failure(client.files.getUploadURLExternal({ filename: "a.txt", length: 0 }))).error).toBe("missing_argument");
    expect((await failure(client.apiCall("files.getUploadURLExternal", { filename: "a.txt", length: "many" }))).error).toBe("invalid_arguments");
    const noFiles = await failure(client.apiCall("files.completeUploadExternal", { channel_id: "C0GENERAL0" }));
    expect(messagesOf(noFiles)).toEqual(["[ERROR] missing required field: files"]);

    const ticket = await client.files.getUploadURLExternal({ filename: "a.txt", length: 2 });
    const id = ticket.file_id ?? "";
    // Never uploaded, or unknown: file_not_found.
    expect((await failure(client.files.completeUploadExternal({ files: [{ id }] }))).error).toBe("file_not_found");
    expect((await failure(client.files.completeUploadExternal({ files: [{ id: "FNOPE00000" }] }))).error).toBe("file_not_found");
    expect((await fetch(ticket.upload_url ?? "", { method: "POST", body: "hi" })).status).toBe(200);
    // The bot is not in #general, and cannot see a private channel it is not in.
    expect((await failure(client.files.completeUploadExternal({ files: [{ id }], channel_id: "C0GENERAL0" }))).error).toBe("not_in_channel");
    const secret = slack.channels.create({ name: "secret", is_private: true, botIsMember: false }).id;
    expect((await failure(client.files.completeUploadExternal({ files: [{ id }], channel_id: secret }))).error).toBe("channel_not_found");
    // Failed completions changed nothing: the upload can still be shared.
    const ch = incidentChannel();
    await client.files.completeUploadExternal({ files: [{ id, title: "A" }], channel_id: ch });
    expect(slack.files.in(ch).map((f) => f.title)).toEqual(["A"]);

    const scoped = await startFakeSlack({ scopes: ["chat:write"] });
    try {
      const e = await failure(clientFor(scoped).files.getUploadURLExternal({ filename: "a.txt", length: 1 }));
      expect(e.error).toBe("missing_scope");
      expect(e.data["needed"]).toBe("files:write");
    } finally {
      await scoped.close();
    }
  });
});
