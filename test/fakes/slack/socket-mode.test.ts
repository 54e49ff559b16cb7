import { afterEach, describe, expect, it, vi } from "vitest";
import { SocketModeClient } from "@slack/socket-mode";
import { WebClient } from "@slack/web-api";
import { APPS_CONNECTIONS_OPEN_CONTRACT, loadSlackContract, startFakeSlack, type FakeSlack, type FakeSlackOptions } from "./index.ts";
import { failure, silentLogger } from "./test-client.ts";

const APP_TOKEN = "xapp-1-test-token";
const BOT_TOKEN = "xoxb-test-token";

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fake(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const slack = await startFakeSlack(options);
  cleanups.push(() => slack.close());
  return slack;
}

/** The real SocketModeClient (what Bolt's SocketModeReceiver runs), its WebClient pointed at the fake. */
function socketClient(slack: FakeSlack, appToken = APP_TOKEN, autoReconnectEnabled = true): SocketModeClient {
  const client = new SocketModeClient({
    appToken,
    logger: silentLogger,
    autoReconnectEnabled,
    // Reconnects wait clientPingTimeout (x consecutive failures): keep them short. The client pings
    // every clientPingTimeout/3 and gives up without pongs, so this also checks the fake answers pings.
    clientPingTimeout: 300,
    clientOptions: { slackApiUrl: slack.url, retryConfig: { retries: 0 } },
  });
  cleanups.push(async () => {
    await client.disconnect();
  });
  return client;
}

/** Resolves on the client's next `connected` (it got a hello): the state to wait on before using or stopping it. */
function nextConnected(client: SocketModeClient): Promise<void> {
  return new Promise((resolve) => client.once("connected", () => resolve()));
}

interface ReceivedEvent {
  envelope_id: string;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
  accepts_response_payload?: boolean;
  ack: (response?: Record<string, unknown>) => Promise<void>;
}

/** Every slack_event the client emits, in order, with a way to wait for the next one. */
function collect(client: SocketModeClient): { events: ReceivedEvent[]; next: (count: number) => Promise<ReceivedEvent> } {
  const events: ReceivedEvent[] = [];
  const waiting: Array<{ count: number; resolve: (e: ReceivedEvent) => void }> = [];
  client.on("slack_event", (event: ReceivedEvent) => {
    events.push(event);
    for (const w of waiting.splice(0)) {
      const e = events[w.count - 1];
      if (e !== undefined) w.resolve(e);
      else waiting.push(w);
    }
  });
  return {
    events,
    next: (count) =>
      new Promise((resolve) => {
        const e = events[count - 1];
        if (e !== undefined) resolve(e);
        else waiting.push({ count, resolve });
      }),
  };
}

const SLASH_COMMAND = {
  token: "verification-token",
  team_id: "T0FIREBRK",
  team_domain: "firebreak-test",
  channel_id: "C0GENERAL1",
  channel_name: "general",
  user_id: "U0DECLARER",
  user_name: "declarer",
  command: "/incident",
  text: "declare db is down",
  api_app_id: "A0FIREBRK1",
  response_url: "https://hooks.slack.com/commands/T0FIREBRK/1/abc",
  trigger_id: "1.2.abc",
};

describe("fake Slack Socket Mode: apps.connections.open", () => {
  it("hands an app-level token a single-use ws:// URL and records the call", async () => {
    const slack = await fake();
    const web = new WebClient(APP_TOKEN, { slackApiUrl: slack.url, logger: silentLogger, retryConfig: { retries: 0 } });
    const opened = await web.apps.connections.open();
    expect(opened.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${slack.port}/link/\\?ticket=[0-9a-f]{32}&app_id=${slack.bot.app_id}$`));
    expect(slack.callsTo("apps.connections.open")).toMatchObject([{ ok: true, token: APP_TOKEN, status: 200 }]);

    // Node's own WebSocket client: the first message is Slack's hello.
    const url = opened.url ?? "";
    const first = new WebSocket(url);
    const hello = await new Promise<unknown>((resolve, reject) => {
      first.addEventListener("message", (e) => resolve(JSON.parse(String(e.data))), { once: true });
      first.addEventListener("error", () => reject(new Error("connection failed")), { once: true });
    });
    expect(hello).toEqual({
      type: "hello",
      num_connections: 1,
      debug_info: { host: expect.any(String) as string, build_number: expect.any(Number) as number, approximate_connection_time: 18060 },
      connection_info: { app_id: slack.bot.app_id },
    });
    expect(slack.socket.connections()).toBe(1);

    // The same ticket again is refused.
    const second = new WebSocket(url);
    await new Promise<void>((resolve) => second.addEventListener("error", () => resolve(), { once: true }));
    expect(slack.socket.connections()).toBe(1);

    first.close(1000);
    const closed = await new Promise<CloseEvent>((resolve) => first.addEventListener("close", (e) => resolve(e), { once: true }));
    expect({ code: closed.code, wasClean: closed.wasClean }).toEqual({ code: 1000, wasClean: true }); // the fake answered the close frame
    expect(slack.socket.history[0]?.closedBy).toBe("client");
    expect(slack.socket.connections()).toBe(0);
  });

  it("refuses a bot token (not_allowed_token_type), an unknown one (invalid_auth), and an app token elsewhere", async () => {
    const slack = await fake();
    const bot = socketClient(slack, BOT_TOKEN, false);
    await expect(bot.start()).rejects.toMatchObject({ data: { ok: false, error: "not_allowed_token_type" } });
    const unknown = socketClient(slack, "xapp-1-unknown", false);
    await expect(unknown.start()).rejects.toMatchObject({ data: { ok: false, error: "invalid_auth" } });
    expect(slack.socket.connections()).toBe(0);

    const app = new WebClient(APP_TOKEN, { slackApiUrl: slack.url, logger: silentLogger, retryConfig: { retries: 0 } });
    expect((await failure(app.auth.test())).error).toBe("not_allowed_token_type");
    expect(slack.callsTo("apps.connections.open").map((c) => c.error)).toEqual(["not_allowed_token_type", "invalid_auth"]);
  });

  it("refuses when Socket Mode is off in the app's settings", async () => {
    const slack = await fake({ socketMode: false });
    const client = socketClient(slack, APP_TOKEN, false);
    await expect(client.start()).rejects.toMatchObject({ data: { error: "socket_mode_not_enabled" } });
  });

  it("follows contract.json, where the method is hand-written from Slack's docs (the 2021 spec lacks it)", async () => {
    const contract = loadSlackContract();
    expect(contract.knownMethods).toContain("apps.connections.open");
    expect(contract.methods["apps.connections.open"]).toMatchObject({ source: "hand-written", required: [], optional: [], botScopes: [] });
    expect(contract.methods["apps.connections.open"]?.errors).toEqual(expect.arrayContaining(["invalid_auth", "missing_args", "socket_mode_not_enabled"]));
    expect(APPS_CONNECTIONS_OPEN_CONTRACT).toBe(contract.methods["apps.connections.open"]);

    // The fake answers only what the contract allows: an error Slack lists for the method, or a common one.
    const slack = await fake();
    expect(() => slack.failNext("apps.connections.open", "channel_not_found")).toThrow(/does not answer apps.connections.open with "channel_not_found"/);
    slack.failNext("apps.connections.open", "internal_error");
    const web = new WebClient(APP_TOKEN, { slackApiUrl: slack.url, logger: silentLogger, retryConfig: { retries: 0 } });
    expect((await failure(web.apps.connections.open())).error).toBe("internal_error");
    expect((await web.apps.connections.open()).ok).toBe(true);
  });

  it("is Tier 1: a few reconnects in a burst, then HTTP 429", async () => {
    const slack = await fake();
    const web = new WebClient(APP_TOKEN, { slackApiUrl: slack.url, logger: silentLogger, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
    for (let i = 0; i < 3; i++) await web.apps.connections.open();
    const refused = await failure(web.apps.connections.open());
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
    expect(slack.callsTo("apps.connections.open").at(-1)).toMatchObject({ status: 429, error: "ratelimited" });
  });
});

describe("fake Slack Socket Mode: envelopes and acks through the real SocketModeClient", () => {
  it("connects (hello), delivers a slash command to the listener and records its ack with the response payload", async () => {
    const slack = await fake();
    const client = socketClient(slack);
    client.on("slash_commands", ({ ack, body }: { ack: (r: Record<string, unknown>) => Promise<void>; body: { text: string } }) => {
      void ack({ response_type: "ephemeral", text: `got: ${body.text}` });
    });
    await client.start();
    expect(slack.socket.connections()).toBe(1);

    const delivery = await slack.socket.send("slash_commands", SLASH_COMMAND);
    const ack = await delivery.ack;
    expect(ack).toMatchObject({
      envelopeId: delivery.envelopeId,
      payload: { response_type: "ephemeral", text: "got: declare db is down" },
      retryAttempt: 0,
      late: false,
    });
    expect(slack.socket.acks).toEqual([ack]);
    expect(slack.socket.envelopes).toEqual([
      {
        envelope_id: delivery.envelopeId,
        type: "slash_commands",
        payload: SLASH_COMMAND,
        accepts_response_payload: true,
        retry_attempt: 0,
        retry_reason: "",
      },
    ]);
  });

  it("delivers interactive and events_api envelopes as the client expects them", async () => {
    const slack = await fake();
    const client = socketClient(slack);
    const received = collect(client);
    const reactions: unknown[] = [];
    client.on("reaction_added", ({ event }: { event: unknown }) => reactions.push(event));
    await client.start();

    const action = { type: "block_actions", user: { id: "U0RESPOND1" }, actions: [{ action_id: "ack_incident", type: "button" }] };
    const clicked = await slack.socket.send("interactive", action);
    const event = { type: "event_callback", event: { type: "reaction_added", user: "U0RESPOND1", reaction: "eyes" }, event_id: "Ev1" };
    const reacted = await slack.socket.send("events_api", event);

    const [first, second] = [await received.next(1), await received.next(2)];
    expect(first).toMatchObject({ type: "interactive", body: action, accepts_response_payload: true, envelope_id: clicked.envelopeId });
    expect(second).toMatchObject({ type: "events_api", body: event, accepts_response_payload: false, retry_num: 0, retry_reason: "" });
    expect(reactions).toEqual([event.event]);
    await first.ack();
    await second.ack();
    expect((await clicked.ack).payload).toEqual({});
    expect((await reacted.ack).envelopeId).toBe(reacted.envelopeId);
  });

  it("rejects the ack of an unacked envelope after the deadline; a redelivery carries retry_attempt 1, reason timeout", async () => {
    const slack = await fake({ ackDeadlineMs: 200 });
    const client = socketClient(slack);
    const received = collect(client);
    await client.start();

    const delivery = await slack.socket.send("events_api", { type: "event_callback", event: { type: "app_mention", text: "hi" } });
    await expect(delivery.ack).rejects.toThrow(/no ack for events_api envelope .* within 200ms/);
    expect(slack.socket.acks).toEqual([]);

    const again = await slack.socket.redeliver(delivery.envelopeId);
    expect(again.envelopeId).toBe(delivery.envelopeId);
    const retried = await received.next(2);
    expect(retried).toMatchObject({ envelope_id: delivery.envelopeId, retry_num: 1, retry_reason: "timeout" });
    await retried.ack();
    expect(await again.ack).toMatchObject({ envelopeId: delivery.envelopeId, retryAttempt: 1, late: false });
  });

  it("an ack answers the delivery made on its own connection, even after a redelivery went to another one", async () => {
    const slack = await fake();
    const a = socketClient(slack);
    const b = socketClient(slack);
    const receivedA = collect(a);
    const receivedB = collect(b);
    await a.start();
    await b.start();
    const [idA, idB] = slack.socket.connectionIds();

    const first = await slack.socket.send("events_api", { type: "event_callback", event: { type: "app_mention" } }, { connection: idA });
    const again = await slack.socket.redeliver(first.envelopeId, { connection: idB });
    expect([first.connection, again.connection]).toEqual([idA, idB]);
    // The first delivery's ack was superseded by the redelivery (Slack gave up on it).
    await expect(first.ack).rejects.toThrow(/redelivered before it was acked/);
    await (await receivedB.next(1)).ack();
    await (await receivedA.next(1)).ack();
    expect(await again.ack).toMatchObject({ connection: idB, retryAttempt: 1, late: false });
    await vi.waitFor(() => expect(slack.socket.acks).toHaveLength(2));
    expect(slack.socket.acks.map((ack) => [ack.connection, ack.retryAttempt, ack.late])).toEqual([
      [idB, 1, false],
      [idA, 0, true],
    ]);
  });

  it("spreads envelopes round-robin over open connections; hello counts them", async () => {
    const slack = await fake();
    const a = socketClient(slack);
    const b = socketClient(slack);
    for (const c of [a, b]) c.on("slash_commands", ({ ack }: { ack: () => Promise<void> }) => void ack());
    await a.start();
    await b.start();
    expect(slack.socket.connections()).toBe(2);
    const hellos = slack.socket.history.map((h) => h.id);
    expect(hellos).toHaveLength(2);

    const one = await slack.socket.send("slash_commands", SLASH_COMMAND);
    const two = await slack.socket.send("slash_commands", SLASH_COMMAND);
    const connections = [(await one.ack).connection, (await two.ack).connection];
    expect(connections).toEqual([one.connection, two.connection]);
    expect([...connections].sort()).toEqual(slack.socket.connectionIds().sort());
  });
});

describe("fake Slack Socket Mode: disconnects", () => {
  it("answers the client's pings, so the connection stays up", async () => {
    const slack = await fake();
    const client = socketClient(slack);
    await client.start();
    // The client pings every clientPingTimeout/3 and reconnects after 4 unanswered pings.
    await vi.waitFor(() => expect(slack.socket.history[0]?.pings).toBeGreaterThanOrEqual(6), { timeout: 5000, interval: 20 });
    expect(slack.socket.history).toHaveLength(1);
    expect(slack.socket.history[0]?.closedAt).toBeUndefined();
    expect(slack.callsTo("apps.connections.open")).toHaveLength(1);
  });

  it("disconnect (refresh_requested): the client closes, calls apps.connections.open again and reconnects", async () => {
    const slack = await fake();
    const client = socketClient(slack);
    await client.start();
    const [firstId] = slack.socket.connectionIds();
    const reconnected = nextConnected(client);

    await slack.socket.disconnect();
    expect(slack.socket.history.find((h) => h.id === firstId)?.closedBy).toBe("client");

    await slack.waitFor({ method: "apps.connections.open", ok: true, count: 2 });
    await slack.socket.waitForConnections(1);
    await reconnected;
    expect(slack.socket.connectionIds()).not.toContain(firstId);

    // The new connection works.
    client.on("slash_commands", ({ ack }: { ack: () => Promise<void> }) => void ack());
    const delivery = await slack.socket.send("slash_commands", SLASH_COMMAND);
    expect((await delivery.ack).connection).not.toBe(firstId);
  });

  it("drop (TCP connection gone, no close frame): the client reconnects", async () => {
    const slack = await fake();
    const client = socketClient(slack);
    await client.start();
    const [firstId] = slack.socket.connectionIds();
    const reconnected = nextConnected(client);

    slack.socket.drop();
    expect(slack.socket.connections()).toBe(0);
    expect(slack.socket.history.find((h) => h.id === firstId)?.closedBy).toBe("dropped");

    await slack.waitFor({ method: "apps.connections.open", ok: true, count: 2 });
    await slack.socket.waitForConnections(1);
    await reconnected;
    expect(slack.socket.connectionIds()).not.toContain(firstId);
  });

  it("refuseConnections: handshakes answer 503 (recorded, the ticket spent) until turned off; open connections stay", async () => {
    const slack = await fake({ rateLimits: false });
    const open = socketClient(slack);
    await open.start();
    const [kept] = slack.socket.connectionIds();

    slack.socket.refuseConnections(true);
    const refused = socketClient(slack, APP_TOKEN, false);
    await expect(refused.start()).rejects.toBeUndefined(); // the client rejects with no reason when the socket fails
    expect(slack.socket.refusals).toEqual([{ at: expect.any(Number) as number, status: 503 }]);
    expect(slack.socket.connectionIds()).toEqual([kept]);

    // Node's own WebSocket client sees the handshake fail.
    const web = new WebClient(APP_TOKEN, { slackApiUrl: slack.url, logger: silentLogger, retryConfig: { retries: 0 } });
    const url = (await web.apps.connections.open()).url ?? "";
    slack.socket.refuseConnections(true, 500);
    const ws = new WebSocket(url);
    await new Promise<void>((resolve) => ws.addEventListener("error", () => resolve(), { once: true }));
    expect(slack.socket.refusals.map((r) => r.status)).toEqual([503, 500]);
    expect(() => slack.socket.refuseConnections(true, 200)).toThrow(/not an HTTP error status/);

    slack.socket.refuseConnections(false);
    const later = socketClient(slack, APP_TOKEN, false);
    await later.start();
    expect(slack.socket.connections()).toBe(2);
    // The refused handshake's ticket cannot be used again.
    const reused = new WebSocket(url);
    await new Promise<void>((resolve) => reused.addEventListener("error", () => resolve(), { once: true }));
    expect(slack.socket.connections()).toBe(2);
    expect(slack.socket.refusals).toHaveLength(2);
  });

  it("send() with no open connection rejects at once", async () => {
    const slack = await fake();
    await expect(slack.socket.send("slash_commands", SLASH_COMMAND)).rejects.toThrow(/no open connection/);
    await expect(slack.socket.waitForConnections(1, 50)).rejects.toThrow(/timed out after 50ms/);
  });
});
