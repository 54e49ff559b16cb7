import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, rootCertificates } from "node:tls";
import { api, event } from "@pagerduty/pdjs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { extract } from "./extract-contract.ts";
import { startFakePagerDuty, verifyPagerDutySignature, type FakePagerDuty, type FakeService, type FakeUser, type WebhookForgery } from "./index.ts";

/**
 * The fake PagerDuty, driven by the real @pagerduty/pdjs client over HTTPS (trusted through the
 * run's CA, NODE_EXTRA_CA_CERTS), refuses what PagerDuty's contract refuses and answers what it
 * answers.
 */

const START = Date.parse("2026-03-02T10:00:00Z");
const HOUR = 3_600_000;

let clock = START;
let pd: FakePagerDuty;
let alice: FakeUser;
let bob: FakeUser;
let carol: FakeUser;
let checkout: FakeService;
let payments: FakeService;
const READ_ONLY = "u+readOnlyFakeKey0001";

/** pdjs's (unexported) event body type, which has no `client`/`client_url`: the tests send what they like. */
type EventPayloadV2 = Parameters<typeof event>[0]["data"];

interface EventAnswer {
  status: string;
  message: string;
  dedup_key?: string;
  errors?: string[];
}

interface RestErrorAnswer {
  error: { message: string; code: number; errors?: string[] };
}

/** pdjs's event(), with pdjs's 429 retries 5 ms apart (not its default 20 s) and no dangling 30 s timer. */
async function sendEvent(data: unknown): Promise<{ status: number; data: EventAnswer; headers: Headers }> {
  const response = await event({ server: pd.server, data: data as EventPayloadV2, retryTimeout: 5, requestTimeout: 0 });
  return { status: response.status, data: response.data as EventAnswer, headers: response.headers };
}

function trigger(overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    routing_key: checkout.integrationKey,
    event_action: "trigger",
    payload: { summary: "Checkout error rate above 5%", source: "firebreak", severity: "critical", ...payload },
    ...overrides,
  };
}

function restClient(token = pd.token) {
  return api({ server: pd.server, token, retryTimeout: 5, requestTimeout: 0 });
}

async function restGet(endpoint: string, data?: Record<string, string | string[]>, token = pd.token) {
  const response = await restClient(token).get(endpoint, data ? { data } : {});
  return { status: response.status, data: response.data as unknown, resource: response.resource as unknown, headers: response.headers };
}

async function restPost(endpoint: string, data: object, headers: Record<string, string> = {}, token = pd.token) {
  const response = await restClient(token).post(endpoint, { data, headers });
  return { status: response.status, data: response.data as unknown, headers: response.headers };
}

function errorOf(data: unknown): RestErrorAnswer["error"] {
  return (data as RestErrorAnswer).error;
}

beforeAll(async () => {
  pd = await startFakePagerDuty({ tls: inject("tls"), tokens: ["u+fakeFullAccessKey01", { token: READ_ONLY, readOnly: true }], now: () => clock });
});

afterAll(async () => {
  await pd?.close();
});

beforeEach(() => {
  clock = START;
  pd.reset({ account: true });
  pd.setEventsRateLimit({ perMinute: 120 });
  pd.setRestRateLimit({ perMinute: 960 });
  alice = pd.addUser({ name: "Alice Adams", email: "alice@example.com", timeZone: "Europe/Paris" });
  bob = pd.addUser({ name: "Bob Brown", email: "bob@example.com" });
  carol = pd.addUser({ name: "Carol Chen", email: "carol@example.com" });
  checkout = pd.addService({ name: "Checkout" });
  payments = pd.addService({ name: "Payments" });
  pd.setOnCall(checkout.escalationPolicyId, alice.id);
  pd.setOnCall(checkout.escalationPolicyId, bob.id, { level: 2 });
});

afterEach(() => {
  // Every answer the fake gave was checked against the contract's response schemas.
  expect(pd.contractViolations).toEqual([]);
});

describe("Events API v2 through pdjs", () => {
  it("serves HTTPS on 127.0.0.1 with the run's certificate: trusted through the run's CA only", async () => {
    expect(pd.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(pd.server).toBe(pd.url.replace("https://", ""));
    const port = Number(new URL(pd.url).port);
    const handshake = (ca: string | readonly string[]) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port, ca: [...(typeof ca === "string" ? [ca] : ca)] }, () => {
          socket.end();
          resolve("verified");
        });
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
    expect(await handshake(inject("tls").caPem)).toBe("verified");
    // With the public CAs alone the certificate is refused: nothing here skips verification.
    expect(await handshake(rootCertificates)).not.toBe("verified");
  });

  it("a valid trigger answers 202 with a generated dedup_key and opens an incident for the on-call user", async () => {
    const answer = await sendEvent(trigger({ links: [{ href: "https://firebreak.example/incidents/42", text: "Firebreak" }] }));
    expect(answer.status).toBe(202);
    expect(answer.data).toEqual({ status: "success", message: "Event processed", dedup_key: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown });
    const dedupKey = answer.data.dedup_key ?? "";
    expect(pd.events).toHaveLength(1);
    expect(pd.events[0]).toMatchObject({ routingKey: checkout.integrationKey, eventAction: "trigger", dedupKey, dedupKeyGenerated: true, outcome: "triggered", serviceId: checkout.id });
    expect(pd.events[0]?.links).toEqual([{ href: "https://firebreak.example/incidents/42", text: "Firebreak" }]);
    expect(pd.incident(dedupKey)).toMatchObject({ status: "triggered", serviceId: checkout.id, title: "Checkout error rate above 5%", assigneeIds: [alice.id], urgency: "high" });
    // What pdjs sent, as recorded.
    const seen = await pd.waitForRequest({ api: "events", status: 202 });
    expect(seen.headers["user-agent"]).toMatch(/^pdjs\//);
    expect(seen.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(seen.headers.authorization).toBeUndefined();
  });

  it("dedup_key: a second trigger folds into the open incident; acknowledge and resolve move it; then they are dropped", async () => {
    const dedupKey = "firebreak-incident-42";
    expect((await sendEvent(trigger({ dedup_key: dedupKey }))).data.dedup_key).toBe(dedupKey);
    expect((await sendEvent(trigger({ dedup_key: dedupKey }))).status).toBe(202);
    expect(pd.incidents).toHaveLength(1);
    expect(pd.events.map((accepted) => accepted.outcome)).toEqual(["triggered", "deduplicated"]);

    expect((await sendEvent({ routing_key: checkout.integrationKey, event_action: "acknowledge", dedup_key: dedupKey })).status).toBe(202);
    expect(pd.incident(dedupKey)?.status).toBe("acknowledged");
    expect((await sendEvent({ routing_key: checkout.integrationKey, event_action: "resolve", dedup_key: dedupKey })).status).toBe(202);
    expect(pd.incident(dedupKey)?.status).toBe("resolved");
    // Nothing open any more: PagerDuty answers 202 and drops it; a new trigger opens a new incident.
    expect((await sendEvent({ routing_key: checkout.integrationKey, event_action: "acknowledge", dedup_key: dedupKey })).status).toBe(202);
    expect(pd.events.at(-1)?.outcome).toBe("dropped");
    await sendEvent(trigger({ dedup_key: dedupKey }));
    expect(pd.incidents.map((incident) => [incident.number, incident.status])).toEqual([
      [1, "resolved"],
      [2, "triggered"],
    ]);
    // Events for a dedup_key apply only through the routing key that triggered it.
    expect((await sendEvent({ routing_key: payments.integrationKey, event_action: "resolve", dedup_key: dedupKey })).status).toBe(202);
    expect(pd.events.at(-1)?.outcome).toBe("dropped");
    expect(pd.incident(dedupKey)?.status).toBe("triggered");
  });

  const long = (n: number) => "x".repeat(n);
  it.each<[string, () => unknown, string]>([
    ["a trigger without payload", () => ({ routing_key: checkout.integrationKey, event_action: "trigger" }), "'payload' is missing or blank"],
    ["no payload.severity", () => trigger({}, { severity: undefined }), "'payload.severity' is missing or blank"],
    ["no payload.source", () => trigger({}, { source: undefined }), "'payload.source' is missing or blank"],
    ["a blank payload.summary", () => trigger({}, { summary: "   " }), "'payload.summary' is missing or blank"],
    ["a severity outside the enum", () => trigger({}, { severity: "fatal" }), "'payload.severity' must be one of: critical, warning, error, info"],
    ["a summary of 1025 characters", () => trigger({}, { summary: long(1025) }), "'payload.summary' is too long (maximum is 1024 characters"],
    ["a routing key of 31 characters", () => trigger({ routing_key: checkout.integrationKey.slice(1) }), "Length of 'routing_key' is incorrect (should be 32 characters)"],
    ["a routing key with a dash", () => trigger({ routing_key: `${checkout.integrationKey.slice(1)}-` }), "'routing_key' cannot contain non-alphanumeric characters."],
    ["no routing key", () => trigger({ routing_key: undefined }), "'routing_key' is missing or blank"],
    ["an unknown event_action", () => trigger({ event_action: "escalate" }), "'event_action' must be one of: trigger, acknowledge, resolve"],
    ["an acknowledge without dedup_key", () => ({ routing_key: checkout.integrationKey, event_action: "acknowledge" }), "'dedup_key' is missing or blank"],
    ["a resolve with a blank dedup_key", () => ({ routing_key: checkout.integrationKey, event_action: "resolve", dedup_key: "" }), "'dedup_key' is missing or blank"],
    ["a dedup_key of 256 characters", () => trigger({ dedup_key: long(256) }), "'dedup_key' is too long (maximum is 255 characters)"],
    ["a timestamp that is not a date-time", () => trigger({}, { timestamp: "yesterday" }), "'payload.timestamp' is not a valid date-time"],
    ["custom_details that is not an object", () => trigger({}, { custom_details: "free text" }), "'payload.custom_details' must be an object"],
    ["a link without href", () => trigger({ links: [{ text: "runbook" }] }), "'links[0].href' is missing or blank"],
    ["a client_url that is not a URL", () => trigger({ client_url: "firebreak" }), "'client_url' is not a valid url"],
    ["an image served over http", () => trigger({ images: [{ src: "http://example.com/graph.png" }] }), "'images[0].src' must be an https URL"],
  ])("refuses %s: 400 invalid event with the reason", async (_name, data, reason) => {
    const answer = await sendEvent(data());
    expect(answer.status).toBe(400);
    expect(answer.data).toMatchObject({ status: "invalid event", message: "Event object is invalid" });
    expect(answer.data.errors?.some((line) => line.startsWith(reason))).toBe(true);
    expect(pd.events).toEqual([]);
    expect(pd.incidents).toEqual([]);
  });

  it("the limits are the documented ones, not one less: a 1024-character summary and a 255-character dedup_key are accepted", async () => {
    const answer = await sendEvent(trigger({ dedup_key: "k".repeat(255) }, { summary: "s".repeat(1024), timestamp: "2015-07-17T08:42:58.315+0000" }));
    expect(answer.status).toBe(202);
    expect(pd.incidents).toHaveLength(1);
  });

  it("the contract's own example event is accepted (with one of our routing keys)", async () => {
    const examples = pd.contract.events.operation("POST /enqueue").requestExamples;
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const answer = await sendEvent({ ...(example as Record<string, unknown>), routing_key: checkout.integrationKey });
      expect(answer.status).toBe(202);
    }
  });

  it("a body that is not JSON, or not JSON at all, is an unrecognized object", async () => {
    const notJson = await fetch(`${pd.url}/v2/enqueue`, { method: "POST", headers: { "content-type": "application/json" }, body: "{routing_key:" });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ status: "Unrecognized object", message: "Event object format is unrecognized", errors: ["JSON parse error"] });
    const form = await fetch(`${pd.url}/v2/enqueue`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "routing_key=x" });
    expect(form.status).toBe(400);
    expect(pd.events).toEqual([]);
  });

  it("a well-formed routing key of no service: 202 as PagerDuty answers, routed nowhere, visible in unroutedEvents", async () => {
    const stranger = "0123456789abcdef0123456789abcdef";
    const answer = await sendEvent(trigger({ routing_key: stranger }));
    expect(answer.status).toBe(202);
    expect(pd.unroutedEvents.map((accepted) => accepted.routingKey)).toEqual([stranger]);
    expect(pd.incidents).toEqual([]);
  });

  it('unknownRoutingKeys: "reject" answers 400 for a key of no service instead', async () => {
    const strict = await startFakePagerDuty({ tls: inject("tls"), unknownRoutingKeys: "reject" });
    try {
      const response = await event({ server: strict.server, data: trigger({ routing_key: "0123456789abcdef0123456789abcdef" }) as unknown as EventPayloadV2, requestTimeout: 0 });
      expect(response.status).toBe(400);
      expect(strict.events).toEqual([]);
    } finally {
      await strict.close();
    }
  });

  it("POST /v2/change/enqueue is PagerDuty's but not the fake's: 501 says so", async () => {
    const response = await fetch(`${pd.url}/v2/change/enqueue`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(response.status).toBe(501);
  });
});

describe("REST API through pdjs", () => {
  it("a wrong, missing or mis-schemed token answers 401 with error code 2006", async () => {
    const wrong = await restGet("/users/" + alice.id, undefined, "u+notAKey");
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong.data)).toMatchObject({ message: "Authentication failed", code: 2006 });

    const headers = { accept: "application/vnd.pagerduty+json;version=2" };
    const missing = await fetch(`${pd.url}/users/${alice.id}`, { headers });
    expect(missing.status).toBe(401);
    expect(errorOf(await missing.json())).toMatchObject({ code: 2006, errors: ["No Authorization header"] });
    // An API key sent as a Bearer token (the OAuth scheme) is not accepted either.
    const bearer = await fetch(`${pd.url}/users/${alice.id}`, { headers: { ...headers, authorization: `Bearer ${pd.token}` } });
    expect(bearer.status).toBe(401);
    // The right key in the documented form is.
    const right = await fetch(`${pd.url}/users/${alice.id}`, { headers: { ...headers, authorization: `Token token=${pd.token}` } });
    expect(right.status).toBe(200);
  });

  it("GET /oncalls?escalation_policy_ids[]=…&earliest=true answers the contract's shape", async () => {
    const policy = checkout.escalationPolicyId;
    const schedule = pd.addSchedule({ name: "Checkout weekly" });
    // Carol's shift through a schedule: now, and another next week (earliest=true keeps the first).
    pd.setOnCall(policy, carol.id, { level: 1, scheduleId: schedule.id, start: START - HOUR, end: START + 7 * HOUR });
    pd.setOnCall(policy, carol.id, { level: 1, scheduleId: schedule.id, start: START + 7 * 24 * HOUR, end: START + 8 * 24 * HOUR });
    // Someone on call for another policy is not listed.
    pd.setOnCall(payments.escalationPolicyId, bob.id);

    const answer = await restGet("/oncalls", { "escalation_policy_ids[]": [policy], earliest: "true", since: new Date(START).toISOString(), until: new Date(START + 30 * 24 * HOUR).toISOString() });
    expect(answer.status).toBe(200);
    const body = answer.data as { oncalls: Array<Record<string, unknown>>; limit: number; offset: number; more: boolean; total: number | null };
    expect(body).toMatchObject({ limit: 25, offset: 0, more: false, total: null });
    expect(body.oncalls.map((entry) => [(entry["user"] as { id: string }).id, entry["escalation_level"]])).toEqual([
      [alice.id, 1],
      [carol.id, 1],
      [bob.id, 2],
    ]);
    const first = body.oncalls[0];
    expect(first).toEqual({
      escalation_policy: { id: policy, type: "escalation_policy_reference", summary: "Checkout policy", self: `${pd.url}/escalation_policies/${policy}`, html_url: expect.stringContaining(`/escalation_policies/${policy}`) as unknown },
      escalation_level: 1,
      schedule: null,
      user: { id: alice.id, type: "user_reference", summary: "Alice Adams", self: `${pd.url}/users/${alice.id}`, html_url: expect.stringContaining(`/users/${alice.id}`) as unknown },
      start: null,
      end: null,
    });
    expect(body.oncalls[1]).toMatchObject({ schedule: { id: schedule.id, type: "schedule_reference" }, start: "2026-03-02T09:00:00Z", end: "2026-03-02T17:00:00Z" });
    // pdjs finds the "resource" only on hosts ending in .com: against 127.0.0.1 it is null, use `data`.
    expect(answer.resource).toBeNull();
  });

  it("GET /oncalls: without earliest both of Carol's shifts; time_zone renders offsets; include[]=users gives full users", async () => {
    const schedule = pd.addSchedule({ name: "Checkout weekly" });
    pd.setOnCall(checkout.escalationPolicyId, carol.id, { scheduleId: schedule.id, start: START - HOUR, end: START + 7 * HOUR });
    pd.setOnCall(checkout.escalationPolicyId, carol.id, { scheduleId: schedule.id, start: START + 7 * 24 * HOUR, end: START + 8 * 24 * HOUR });
    const window = { "user_ids[]": [carol.id], since: new Date(START).toISOString(), until: new Date(START + 30 * 24 * HOUR).toISOString() };
    const all = (await restGet("/oncalls", window)).data as { oncalls: Array<{ start: string }> };
    expect(all.oncalls.map((entry) => entry.start)).toEqual(["2026-03-02T09:00:00Z", "2026-03-09T10:00:00Z"]);

    const paris = (await restGet("/oncalls", { ...window, time_zone: "Europe/Paris", "include[]": ["users"] })).data as { oncalls: Array<{ start: string; user: Record<string, unknown> }> };
    expect(paris.oncalls[0]?.start).toBe("2026-03-02T10:00:00+01:00");
    expect(paris.oncalls[0]?.user).toMatchObject({ id: carol.id, type: "user", name: "Carol Chen", email: "carol@example.com" });

    // Right now (no since/until) only the shift in progress.
    const now = (await restGet("/oncalls", { "user_ids[]": [carol.id] })).data as { oncalls: unknown[] };
    expect(now.oncalls).toHaveLength(1);
  });

  it.each<[string, Record<string, string | string[]>, number, string]>([
    ["a parameter without its []", { escalation_policy_ids: ["PE00001"] }, 2001, "did you mean 'escalation_policy_ids[]'?"],
    ["an include[] outside the enum", { "include[]": ["teams"] }, 2001, "'include[]' must be one of: escalation_policies, users, schedules"],
    ["earliest that is not a boolean", { earliest: "yes" }, 2001, "'earliest' must be true or false"],
    ["a time_zone that is not a zone", { time_zone: "Mars/Olympus" }, 2001, "'time_zone' is not a valid time zone"],
    ["a since that is not a date-time", { since: "last tuesday" }, 2004, "'since' is not a valid date-time"],
    ["an until before since", { since: "2026-03-02T10:00:00Z", until: "2026-03-01T10:00:00Z" }, 2005, "The 'until' time cannot be before the 'since' time"],
    ["an until beyond 90 days", { until: "2026-08-01T00:00:00Z" }, 2005, "On-call shifts are limited to 90 days in the future"],
    ["offset + limit beyond 10000", { offset: "9990", limit: "50" }, 2001, "Offset + limit must not exceed 10000"],
  ])("GET /oncalls refuses %s with 400 and PagerDuty's error shape", async (_name, query, code, reason) => {
    const answer = await restGet("/oncalls", query);
    expect(answer.status).toBe(400);
    expect(errorOf(answer.data).code).toBe(code);
    expect(errorOf(answer.data).errors?.some((line) => line.includes(reason))).toBe(true);
  });

  it("GET /users/{id} answers { user } with the contract's fields; an unknown id is 404 code 2100", async () => {
    const answer = await restGet(`/users/${alice.id}`);
    expect(answer.status).toBe(200);
    expect((answer.data as { user: unknown }).user).toMatchObject({
      id: alice.id,
      type: "user",
      name: "Alice Adams",
      email: "alice@example.com",
      time_zone: "Europe/Paris",
      summary: "Alice Adams",
      self: `${pd.url}/users/${alice.id}`,
      html_url: expect.stringMatching(/^https:\/\/.+\/users\/PU/) as unknown,
    });
    const missing = await restGet("/users/PNOBODY");
    expect(missing.status).toBe(404);
    expect(missing.data).toEqual({ error: { message: "Not Found", code: 2100 } });
  });

  it("GET /users?query=<email> finds a Slack user's PagerDuty identity; no match is an empty list", async () => {
    const found = (await restGet("/users", { query: "bob@example.com" })).data as { users: Array<{ id: string; email: string }>; more: boolean };
    expect(found.users.map((user) => [user.id, user.email])).toEqual([[bob.id, "bob@example.com"]]);
    expect(found.more).toBe(false);
    const none = (await restGet("/users", { query: "mallory@example.com" })).data as { users: unknown[] };
    expect(none.users).toEqual([]);
    // Pagination as documented: `limit` pages, `more` says there is another page, `total` only on request.
    const paged = (await restGet("/users", { limit: "2", total: "true" })).data as { users: unknown[]; more: boolean; total: number };
    expect(paged).toMatchObject({ more: true, total: 3 });
    expect(paged.users).toHaveLength(2);
  });

  it("POST /incidents with From: 201 with the incident, assigned to the named user", async () => {
    const answer = await restPost(
      "/incidents",
      { incident: { type: "incident", title: "Page Carol about checkout", service: { id: checkout.id, type: "service_reference" }, assignments: [{ assignee: { id: carol.id, type: "user_reference" } }], incident_key: "firebreak-42-carol", urgency: "high", body: { type: "incident_body", details: "Joining INC-42" } } },
      { From: alice.email },
    );
    expect(answer.status).toBe(201);
    const incident = (answer.data as { incident: Record<string, unknown> }).incident;
    expect(incident).toMatchObject({ type: "incident", title: "Page Carol about checkout", status: "triggered", incident_key: "firebreak-42-carol", urgency: "high", assigned_via: "direct_assignment", service: { id: checkout.id, type: "service_reference" } });
    expect((incident["assignments"] as Array<{ assignee: { id: string } }>).map((assignment) => assignment.assignee.id)).toEqual([carol.id]);
    expect(pd.incident("firebreak-42-carol")).toMatchObject({ requesterId: alice.id, createdVia: "rest_api", body: "Joining INC-42" });

    // An open incident with the same key on the same service refuses a second one.
    const again = await restPost("/incidents", { incident: { type: "incident", title: "again", service: { id: checkout.id, type: "service_reference" }, incident_key: "firebreak-42-carol" } }, { From: alice.email });
    expect(again.status).toBe(400);
    expect(errorOf(again.data).errors).toContain("Open incident with matching dedup key already exists on this service");
  });

  const incident = (overrides: Record<string, unknown> = {}) => ({ incident: { type: "incident", title: "Page someone", service: { id: checkout.id, type: "service_reference" }, ...overrides } });
  it.each<[string, () => { body: object; headers: Record<string, string>; token?: string }, number, string]>([
    ["no From header", () => ({ body: incident(), headers: {} }), 400, "You must specify a user's email address in the \"From\" header"],
    ["a From that is no user's", () => ({ body: incident(), headers: { From: "mallory@example.com" } }), 400, "Requester User Not Found"],
    ["a From that is not an email", () => ({ body: incident(), headers: { From: "alice" } }), 400, "Malformed \"From\" header"],
    ["no title", () => ({ body: incident({ title: undefined }), headers: { From: "alice@example.com" } }), 400, "'incident.title' is required"],
    ["type other than incident", () => ({ body: incident({ type: "page" }), headers: { From: "alice@example.com" } }), 400, "'incident.type' must be one of: incident"],
    ["a service given as an id string", () => ({ body: incident({ service: checkout.id }), headers: { From: "alice@example.com" } }), 400, "'incident.service' must be an object"],
    ["a service reference of the wrong type", () => ({ body: incident({ service: { id: checkout.id, type: "service" } }), headers: { From: "alice@example.com" } }), 400, "'incident.service.type' must be one of: service_reference"],
    ["an urgency outside the enum", () => ({ body: incident({ urgency: "urgent" }), headers: { From: "alice@example.com" } }), 400, "'incident.urgency' must be one of: high, low"],
    ["an unknown service", () => ({ body: incident({ service: { id: "PNOSUCH", type: "service_reference" } }), headers: { From: "alice@example.com" } }), 400, "Service Not Found"],
    ["an assignee who is no user", () => ({ body: incident({ assignments: [{ assignee: { id: "PNOBODY", type: "user_reference" } }] }), headers: { From: "alice@example.com" } }), 400, "Assigned To User Not Found"],
    ["assignments and an escalation policy", () => ({ body: incident({ assignments: [{ assignee: { id: bob.id, type: "user_reference" } }], escalation_policy: { id: checkout.escalationPolicyId, type: "escalation_policy_reference" } }), headers: { From: "alice@example.com" } }), 400, "Assignments cannot be specified if an escalation policy is given"],
    ["a read-only API key", () => ({ body: incident(), headers: { From: "alice@example.com" }, token: READ_ONLY }), 403, "read-only"],
  ])("POST /incidents refuses %s", async (_name, make, status, reason) => {
    const { body, headers, token } = make();
    const answer = await restPost("/incidents", body, headers, token);
    expect(answer.status).toBe(status);
    const error = errorOf(answer.data);
    expect([error.message, ...(error.errors ?? [])].some((line) => line.includes(reason))).toBe(true);
    expect(pd.incidents).toEqual([]);
  });

  it("the Accept header is required as the contract says: pdjs with version 1 is refused", async () => {
    const response = await api({ server: pd.server, token: pd.token, version: 1, requestTimeout: 0 }).get(`/users/${alice.id}`);
    expect(response.status).toBe(400);
    expect(errorOf(response.data).errors?.[0]).toContain("The Accept header must be 'application/vnd.pagerduty+json;version=2'");
  });

  it("an endpoint PagerDuty has but the fake does not is 501; one PagerDuty does not have is 404", async () => {
    expect((await restGet("/services")).status).toBe(501);
    expect((await restGet("/no-such-thing")).status).toBe(404);
  });
});

describe("failures on demand", () => {
  it("failNext(2, 429) on events: pdjs retries and gets its 202 on the third try", async () => {
    pd.failNext(2, { status: 429, api: "events" });
    const answer = await sendEvent(trigger());
    expect(answer.status).toBe(202);
    expect(pd.requests.map((seen) => seen.status)).toEqual([429, 429, 202]);
    expect(pd.incidents).toHaveLength(1);
  });

  it("failNext(4, 429): pdjs gives up after its 3 retries and hands the 429 over; nothing was ingested", async () => {
    pd.failNext(4, { status: 429, api: "events" });
    const answer = await sendEvent(trigger());
    expect(answer.status).toBe(429);
    expect(answer.data.status).toBe("throttle event");
    expect(pd.requests).toHaveLength(4);
    expect(pd.events).toEqual([]);
  });

  it("failNext(1, 503, retryAfter) on one path: pdjs does not retry a 503; other paths are untouched", async () => {
    pd.failNext(1, { status: 503, path: "/oncalls", retryAfter: 7 });
    const users = await restGet(`/users/${alice.id}`);
    expect(users.status).toBe(200);
    const failed = await restGet("/oncalls");
    expect(failed.status).toBe(503);
    expect(failed.headers.get("retry-after")).toBe("7");
    expect(errorOf(failed.data).code).toBe(2000);
    expect((await restGet("/oncalls")).status).toBe(200);
    expect(pd.requests.map((seen) => [seen.path, seen.status, seen.injected ?? null])).toEqual([
      [`/users/${alice.id}`, 200, null],
      ["/oncalls", 503, "fail-next"],
      ["/oncalls", 200, null],
    ]);
  });

  it("outage(503) answers every request until restore()", async () => {
    pd.outage({ status: 503 });
    expect((await sendEvent(trigger())).status).toBe(503);
    expect((await restGet("/oncalls")).status).toBe(503);
    pd.restore();
    expect((await sendEvent(trigger())).status).toBe(202);
    expect((await restGet("/oncalls")).status).toBe(200);
  });

  it("a 503 that is not JSON (a load balancer's page): pdjs's event() and api() reject instead of answering", async () => {
    pd.failNext(2, { status: 503, body: "<html><body>503 Service Unavailable</body></html>" });
    await expect(sendEvent(trigger())).rejects.toThrow();
    await expect(restClient().get("/oncalls")).rejects.toMatchObject({ status: 503 });
    expect(pd.requests.map((seen) => [seen.status, seen.responseHeaders["content-type"]])).toEqual([
      [503, "text/html; charset=utf-8"],
      [503, "text/html; charset=utf-8"],
    ]);
  });

  it("a lost answer: the event is processed, pdjs gets no response", async () => {
    pd.failNext(1, { drop: "after", api: "events" });
    await expect(sendEvent(trigger({ dedup_key: "lost-answer" }))).rejects.toThrow();
    expect(pd.incident("lost-answer")?.status).toBe("triggered");
    expect(pd.requests[0]?.status).toBe(0);
  });
});

describe("rate limits", () => {
  async function burst(count: number, routingKey: string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const response = await fetch(`${pd.url}/v2/enqueue`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(trigger({ routing_key: routingKey, dedup_key: `burst-${i}` })) });
      statuses.push(response.status);
    }
    return statuses;
  }

  it("Events v2: about 120 events a minute per routing key; the 121st is 429 (pdjs retries, then sees it); other keys are not affected", async () => {
    expect(new Set(await burst(120, checkout.integrationKey))).toEqual(new Set([202]));
    const limited = await sendEvent(trigger());
    expect(limited.status).toBe(429);
    expect(limited.data).toMatchObject({ status: "throttle event" });
    expect(pd.requests.slice(120).map((seen) => [seen.status, seen.injected])).toEqual([
      [429, "rate-limit"],
      [429, "rate-limit"],
      [429, "rate-limit"],
      [429, "rate-limit"],
    ]);
    expect((await sendEvent(trigger({ routing_key: payments.integrationKey }))).status).toBe(202);
    // The window rolls: a minute later the key is admitted again.
    clock += 60_001;
    expect((await sendEvent(trigger())).status).toBe(202);
  });

  it("the same burst with the limit off is all 202 (so the 429 above is the limit's doing)", async () => {
    pd.setEventsRateLimit(false);
    expect(new Set(await burst(125, checkout.integrationKey))).toEqual(new Set([202]));
  });

  it("a tightened limit: 3 a minute, the 4th is 429", async () => {
    pd.setEventsRateLimit({ perMinute: 3 });
    expect(await burst(4, checkout.integrationKey)).toEqual([202, 202, 202, 429]);
  });

  it("REST: per token, with ratelimit-* headers; past the limit 429 code 2020", async () => {
    pd.setRestRateLimit({ perMinute: 3 });
    const first = await restGet("/oncalls");
    expect(first.headers.get("ratelimit-limit")).toBe("3");
    expect(first.headers.get("ratelimit-remaining")).toBe("2");
    await restGet("/oncalls");
    await restGet("/oncalls");
    const limited = await fetch(`${pd.url}/oncalls`, { headers: { accept: "application/vnd.pagerduty+json;version=2", authorization: `Token token=${pd.token}` } });
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: { message: "Rate Limit Exceeded", code: 2020 } });
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
    // Another token has its own budget.
    expect((await restGet("/oncalls", undefined, READ_ONLY)).status).toBe(200);
  });
});

describe("v3 webhooks", () => {
  const SECRET = "whsec-firebreak-test-0001";
  interface Received {
    headers: IncomingHttpHeaders;
    rawBody: string;
  }
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];

  beforeAll(async () => {
    // A reference receiver that does what PagerDuty documents: verify, then read a v3 event.
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const rawBody = Buffer.concat(chunks).toString("utf8");
        received.push({ headers: request.headers, rawBody });
        const signature = request.headers["x-pagerduty-signature"];
        if (typeof signature !== "string") return void response.writeHead(400).end('{"error":"no signature"}');
        if (!verifyPagerDutySignature(rawBody, signature, SECRET)) return void response.writeHead(401).end('{"error":"bad signature"}');
        const body = JSON.parse(rawBody) as { event?: { event_type?: string } };
        if (typeof body.event?.event_type !== "string") return void response.writeHead(400).end('{"error":"not a v3 event"}');
        response.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ accepted: body.event.event_type }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/pagerduty`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });
  beforeEach(() => {
    received.length = 0;
  });

  async function openIncident(dedupKey = "firebreak-incident-7"): Promise<string> {
    expect((await sendEvent(trigger({ dedup_key: dedupKey }))).status).toBe(202);
    return dedupKey;
  }

  it("incident.acknowledged: signed v1=HMAC-SHA256(secret, raw body), PagerDuty's headers and payload; the receiver accepts it", async () => {
    const dedupKey = await openIncident();
    const result = await pd.sendWebhook(receiverUrl, { event_type: "incident.acknowledged", incident: dedupKey, agent: alice }, { secret: SECRET });
    expect(result.status).toBe(202);
    expect(result.json).toEqual({ accepted: "incident.acknowledged" });

    const delivery = received[0];
    expect(received).toHaveLength(1);
    // Computed here, independently of the fake's helper.
    const expected = `v1=${createHmac("sha256", SECRET).update(delivery?.rawBody ?? "").digest("hex")}`;
    expect(delivery?.headers["x-pagerduty-signature"]).toBe(expected);
    expect(delivery?.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "PagerDuty-Webhook/V3.0",
      "x-webhook-id": result.delivery.webhookId,
      "x-webhook-subscription": pd.webhookSubscriptionId,
    });
    const body = JSON.parse(delivery?.rawBody ?? "{}") as { event: Record<string, unknown> };
    const incident = pd.incident(dedupKey);
    expect(body.event).toMatchObject({
      event_type: "incident.acknowledged",
      resource_type: "incident",
      occurred_at: new Date(START).toISOString(),
      agent: { id: alice.id, type: "user_reference", summary: "Alice Adams", self: `${pd.url}/users/${alice.id}`, html_url: expect.any(String) as unknown },
      client: null,
      data: {
        id: incident?.id,
        type: "incident",
        number: 1,
        status: "acknowledged",
        incident_key: dedupKey,
        title: "Checkout error rate above 5%",
        service: { id: checkout.id, type: "service_reference", summary: "Checkout" },
        assignees: [{ id: alice.id, type: "user_reference" }],
        escalation_policy: { id: checkout.escalationPolicyId, type: "escalation_policy_reference" },
        urgency: "high",
      },
    });
    expect(body.event["id"]).toMatch(/^[0-9A-Z]{26}$/);
    // The fake's incident moved as the webhook says.
    expect(incident?.status).toBe("acknowledged");
  });

  it.each<[WebhookForgery, number]>([
    ["bad-signature", 401],
    ["tampered", 401],
    ["unknown-version", 401],
    ["unprefixed", 401],
    ["no-signature", 400],
  ])("a forged delivery (%s) does not verify; the receiver refuses it and the incident is unchanged", async (forge, status) => {
    const dedupKey = await openIncident();
    const result = await pd.sendWebhook(receiverUrl, { event_type: "incident.resolved", incident: dedupKey, agent: bob }, { secret: SECRET, forge });
    expect(result.status).toBe(status);
    const delivery = received[0];
    expect(verifyPagerDutySignature(delivery?.rawBody ?? "", delivery?.headers["x-pagerduty-signature"] as string | undefined, SECRET)).toBe(false);
    expect(pd.incident(dedupKey)?.status).toBe("triggered");
  });

  it("old-format: a V2 webhook (messages[], PagerDuty-Webhook/V2.0) whose signature verifies; only its shape gives it away", async () => {
    const dedupKey = await openIncident();
    const result = await pd.sendWebhook(receiverUrl, { event_type: "incident.acknowledged", incident: dedupKey }, { secret: SECRET, forge: "old-format" });
    expect(result.status).toBe(400);
    expect(result.json).toEqual({ error: "not a v3 event" });
    const delivery = received[0];
    expect(delivery?.headers["user-agent"]).toBe("PagerDuty-Webhook/V2.0");
    expect(delivery?.headers["x-webhook-subscription"]).toBeUndefined();
    expect(verifyPagerDutySignature(delivery?.rawBody ?? "", delivery?.headers["x-pagerduty-signature"] as string, SECRET)).toBe(true);
    expect((JSON.parse(delivery?.rawBody ?? "{}") as { messages: Array<{ event: string }> }).messages[0]?.event).toBe("incident.acknowledge");
  });

  it("secret rotation: one v1= signature per secret, comma-separated; either secret verifies, a third does not", async () => {
    const dedupKey = await openIncident();
    const result = await pd.sendWebhook(receiverUrl, { event_type: "incident.resolved", incident: dedupKey }, { secret: ["whsec-old-secret", SECRET] });
    expect(result.status).toBe(202);
    const header = received[0]?.headers["x-pagerduty-signature"] as string;
    expect(header.split(",")).toHaveLength(2);
    expect(header).toMatch(/^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const raw = received[0]?.rawBody ?? "";
    expect(verifyPagerDutySignature(raw, header, "whsec-old-secret")).toBe(true);
    expect(verifyPagerDutySignature(raw, header, SECRET)).toBe(true);
    expect(verifyPagerDutySignature(raw, header, "whsec-someone-else")).toBe(false);
    expect(pd.incident(dedupKey)?.status).toBe("resolved");
  });

  it("incident.escalated assigns the next level's on-call user; incident.reassigned the named ones; resolved has no assignees", async () => {
    const dedupKey = await openIncident();
    const escalated = await pd.sendWebhook(receiverUrl, { event_type: "incident.escalated", incident: dedupKey }, { secret: SECRET });
    expect(escalated.status).toBe(202);
    const dataOf = (index: number) => (JSON.parse(received[index]?.rawBody ?? "{}") as { event: { agent: unknown; data: { assignees: Array<{ id: string }>; status: string } } }).event;
    expect(dataOf(0).agent).toBeNull();
    expect(dataOf(0).data.assignees.map((user) => user.id)).toEqual([bob.id]);

    await pd.sendWebhook(receiverUrl, { event_type: "incident.reassigned", incident: dedupKey, agent: bob, assignees: [carol.id] }, { secret: SECRET });
    expect(dataOf(1).data.assignees.map((user) => user.id)).toEqual([carol.id]);
    expect(pd.incident(dedupKey)?.assigneeIds).toEqual([carol.id]);

    await pd.sendWebhook(receiverUrl, { event_type: "incident.resolved", incident: dedupKey, agent: carol }, { secret: SECRET });
    expect(dataOf(2).data).toMatchObject({ status: "resolved", assignees: [] });
    expect(pd.webhooks.map((delivery) => [delivery.eventType, delivery.status])).toEqual([
      ["incident.escalated", 202],
      ["incident.reassigned", 202],
      ["incident.resolved", 202],
    ]);
  });

  it("a webhook that cannot happen (acknowledging a resolved incident) is refused by the fake, not sent", async () => {
    const dedupKey = await openIncident();
    await sendEvent({ routing_key: checkout.integrationKey, event_action: "resolve", dedup_key: dedupKey });
    await expect(pd.sendWebhook(receiverUrl, { event_type: "incident.acknowledged", incident: dedupKey }, { secret: SECRET })).rejects.toThrow(/resolved incident cannot be acknowledged/);
    expect(received).toEqual([]);
  });
});

describe("the contract", () => {
  it("the contract's own response examples pass the fake's response checks (the reading rules hold)", () => {
    const checked: string[] = [];
    for (const api of [pd.contract.rest, pd.contract.events]) {
      for (const key of ["GET /oncalls", "GET /users/{id}", "GET /users", "POST /incidents", "POST /enqueue"]) {
        if (api.name === "events" && key !== "POST /enqueue") continue;
        if (api.name === "rest" && key === "POST /enqueue") continue;
        const operation = api.operation(key);
        for (const example of operation.responseExamples) {
          expect(operation.validateResponse(example.status, example.value), `${key} ${example.status}`).toEqual([]);
          checked.push(`${key} ${example.status}`);
        }
        for (const example of operation.requestExamples) expect(operation.validateBody(example), key).toEqual([]);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(["GET /oncalls 200", "GET /users/{id} 200", "GET /users 200", "POST /incidents 201", "POST /enqueue 202"]));
    // And the checks bite: an on-call whose user is a full user object is not the contract's shape.
    const oncalls = pd.contract.rest.operation("GET /oncalls");
    expect(oncalls.validateResponse(200, { oncalls: [{ user: { id: "PU1", type: "user" }, escalation_level: 1 }] })).toContain("'oncalls[0].user.type' must be one of: user_reference");
  });

  it("every change to PagerDuty's published text is listed with its reason", () => {
    expect(pd.contract.patches.map((patch) => patch.pointer)).toEqual(["/components/schemas/IncidentBody", "/components/schemas/Oncall", "/components/schemas/Incident"]);
    for (const patch of pd.contract.patches) expect(patch.reason.length).toBeGreaterThan(40);
  });

  const restSpec = process.env["PAGERDUTY_REST_OPENAPI_SPEC"] ?? "/work/shared/contracts/pagerduty-rest.openapi-v3.json";
  const eventsSpec = process.env["PAGERDUTY_EVENTS_OPENAPI_SPEC"] ?? "/work/shared/contracts/pagerduty-events-v2.openapi-v3.json";
  it.skipIf(!existsSync(restSpec) || !existsSync(eventsSpec))("contract.json is what extract-contract.ts makes from the published specs", () => {
    type Spec = Parameters<typeof extract>[0];
    const fresh = extract(JSON.parse(readFileSync(restSpec, "utf8")) as Spec, JSON.parse(readFileSync(eventsSpec, "utf8")) as Spec, {
      rest: "pagerduty-rest.openapi-v3.json",
      events: "pagerduty-events-v2.openapi-v3.json",
    });
    expect(JSON.parse(readFileSync(new URL("./contract.json", import.meta.url), "utf8"))).toEqual(fresh);
  });
});

describe("waiting on state", () => {
  it("waitFor resolves when the state changes (no polling) and times out with the last requests", async () => {
    const waiting = pd.waitForEvent({ dedupKey: "awaited" });
    await sendEvent(trigger({ dedup_key: "awaited" }));
    expect((await waiting).outcome).toBe("triggered");
    await expect(pd.waitFor((fake) => fake.incidents.length > 5, { timeoutMs: 50, description: "six incidents" })).rejects.toThrow(/six incidents[\s\S]*POST \/v2\/enqueue → 202/);
  });
});
