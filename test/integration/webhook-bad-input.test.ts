import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signPagerDutyWebhook, startFakePagerDuty, type FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { GENERAL_CHANNEL_ID, startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { rowCounts, type RowCounts } from "../support/fuzz.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { reactionAddedEvent } from "../support/slack-events.ts";
import { blockActionPayload, interactionBody, viewSubmissionPayload } from "../support/slack-payloads.ts";
import { sendCommand, sendToSlackEndpoint } from "../support/slack-requests.ts";

/**
 * The bugs the HTTP fuzz (test/fuzz/http.test.ts) found, one request each, through the real app:
 * an Alertmanager body nested 60,000 deep with a NUL in it (the storable check's recursion
 * overflowed: 503), one with a byte order mark (accepted, then its processing failed on every
 * retry), correctly signed PagerDuty events with a NUL, a lone surrogate, an out-of-range
 * `occurred_at` or the event type "hasOwnProperty" (503), the 413 of the PagerDuty route naming
 * the server's limit in bytes, signed Slack payloads of the wrong shape reaching Bolt and the
 * listeners (500), and a NUL in a slash command failing its declare in PostgreSQL. Each answer is checked, and that a refused request stored nothing, a processed
 * one was processed, and nothing was logged at level error.
 */

const AM_TOKEN = "am-bad-input-token-0123456789ab";
const PD_SECRET = "pd-bad-input-secret-0123456789ab";
const ROUTING_KEY = `${"R0UTEBADINPUT".padEnd(31, "0")}1`;

let slack: FakeSlack;
let pd: FakePagerDuty;
let db: TestDatabase;
let app: TestApp;
let configDir: string;
/** The dedup key of the page the fixture incident sent to PagerDuty. */
let dedupKey: string;
let incidentId: string;
const logs = captureLogs("info");

const counts = (): Promise<RowCounts> => rowCounts((sql) => app.database.prisma.$queryRawUnsafe(sql));
const errorLines = () => logs.lines.filter((line) => /"level":(50|60)/.test(line));

function amPayload(alertname: string, labels: Record<string, string> = {}) {
  const all = { alertname, severity: "warning", instance: "db-1:9100", ...labels };
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
    status: "firing",
    receiver: "firebreak",
    groupLabels: { alertname },
    commonLabels: all,
    commonAnnotations: { summary: `${alertname} fired` },
    externalURL: "http://alertmanager.example.internal:9093",
    alerts: [{ status: "firing", labels: all, annotations: { summary: `${alertname} fired` }, startsAt: "2026-01-01T00:00:00Z", endsAt: "0001-01-01T00:00:00Z", generatorURL: "", fingerprint: `fp-${alertname}` }],
  };
}

function postAlertmanager(body: string | Buffer) {
  return fetch(`${app.url}/webhooks/alertmanager`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${AM_TOKEN}` }, body, signal: AbortSignal.timeout(10_000) });
}

function pagerDutyEvent(fields: { id: string; eventType?: string; occurredAt?: string; agent?: string; incidentKey?: string }) {
  return JSON.stringify({
    event: {
      id: fields.id,
      event_type: fields.eventType ?? "incident.escalated",
      resource_type: "incident",
      occurred_at: fields.occurredAt ?? new Date().toISOString(),
      agent: { id: "PANA", summary: fields.agent ?? "Ana Oncall", type: "user_reference" },
      client: null,
      data: { id: "PBADINPUT", type: "incident", incident_key: fields.incidentKey ?? dedupKey, status: "acknowledged", assignees: [{ id: "PBEN", summary: "Ben\u0000 Backup", type: "user_reference" }] },
    },
  });
}

function postPagerDuty(body: string) {
  return fetch(`${app.url}/webhooks/pagerduty`, { method: "POST", headers: { "content-type": "application/json", "x-pagerduty-signature": signPagerDutyWebhook(body, PD_SECRET) }, body, signal: AbortSignal.timeout(10_000) });
}

const pagerDutyEvents = () => app.database.prisma.timelineEvent.findMany({ where: { incidentId, type: "pagerduty.incident" }, orderBy: { occurredAt: "asc" } });

beforeAll(async () => {
  pd = await startFakePagerDuty({ tls: inject("tls") });
  pd.addService({ id: "PBADSVC1", name: "Checkout", integrationKey: ROUTING_KEY });
  slack = await startFakeSlack({ rateLimits: { "chat.postMessage": TEST_SPEED, "conversations.create": TEST_SPEED, "conversations.invite": TEST_SPEED, "pins.add": TEST_SPEED, "bookmarks.add": TEST_SPEED } });
  db = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_bad_input" });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-bad-input-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    [
      "services:",
      `  - { key: checkout, name: Checkout, pagerduty: { routingKey: ${ROUTING_KEY} } }`,
      "alerts:",
      "  defaultAction: record",
      "  routes:",
      "    - { name: fixture, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }",
    ].join("\n"),
  );
  app = await startTestApp({
    slack,
    databaseUrl: db.url,
    logs,
    env: { FIREBREAK_CONFIG: configFile, ALERTMANAGER_TOKEN: AM_TOKEN, PAGERDUTY_WEBHOOK_SECRET: PD_SECRET, PAGERDUTY_EVENTS_URL: pd.url, RECONCILE_INTERVAL_SECONDS: "0" },
  });
  // One incident, declared by an alert and paged: PagerDuty's events have a page to be about.
  expect((await postAlertmanager(JSON.stringify(amPayload("CheckoutDown")))).status).toBe(200);
  const page = await eventually(async () => (await app.database.prisma.page.findFirst({ where: { status: "TRIGGERED" } })) ?? undefined, 20_000, "the fixture incident's page");
  dedupKey = page.dedupKey;
  incidentId = page.incidentId;
  await waitForIdleJobs(app, 30_000);
}, 90_000);

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await pd?.close();
  await db?.drop();
  if (configDir) await removeDir(configDir);
  if (app?.dataDir) await removeDir(app.dataDir);
});

describe("Alertmanager", () => {
  it("refuses a body nested 60,000 levels deep with a NUL inside: 400 naming where, nothing stored", async () => {
    const deep = `${'{"a":'.repeat(60_000)}"x\\u0000y"${"}".repeat(60_000)}`;
    const body = JSON.stringify(amPayload("DeepNul")).replace(/}$/, `,"extra":${deep}}`);
    const before = await counts();
    const answer = await postAlertmanager(body);
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: string }).error).toMatch(/^invalid Alertmanager payload: extra\.a\.a\.a(\.a)*\.… \(60001 levels deep\): contains a NUL character or an unpaired surrogate/);
    expect(await counts()).toEqual(before);
    // And the same depth without one is an ordinary delivery (nothing Firebreak reads is that deep).
    const plain = await postAlertmanager(JSON.stringify(amPayload("DeepPlain")).replace(/}$/, `,"extra":${deep.replace("\\u0000", "-")}}`));
    expect(plain.status).toBe(200);
    await waitForIdleJobs(app, 20_000);
    const delivery = await app.database.prisma.alertDelivery.findFirstOrThrow({ where: { groupKey: '{}:{alertname="DeepPlain"}' } });
    expect(delivery.error).toBeNull();
    expect(delivery.processedAt).not.toBeNull();
  });

  it("accepts a body with a byte order mark and processes it, whichever parser read it", async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    // JSON.parse alone reads the first; an escaped letter sends the second through Fastify's parser (its prototype-poisoning checks).
    const plain = JSON.stringify(amPayload("BomPlain"));
    const escaped = JSON.stringify(amPayload("BomEscaped", { note: "A" })).replace('"note":"A"', '"note":"\\u0041"');
    for (const [name, text] of [["BomPlain", plain], ["BomEscaped", escaped]] as const) {
      // Two are not JSON with a byte order mark, on either path.
      const before = await counts();
      expect((await postAlertmanager(Buffer.concat([bom, bom, Buffer.from(text)]))).status, `${name}, two marks`).toBe(400);
      expect(await counts()).toEqual(before);
      const answer = await postAlertmanager(Buffer.concat([bom, Buffer.from(text)]));
      expect(answer.status, name).toBe(200);
    }
    await waitForIdleJobs(app, 20_000);
    for (const name of ["BomPlain", "BomEscaped"]) {
      const delivery = await app.database.prisma.alertDelivery.findFirstOrThrow({ where: { groupKey: `{}:{alertname="${name}"}` } });
      expect(delivery.error, name).toBeNull();
      expect(delivery.processedAt, name).not.toBeNull();
      expect(delivery.payload.charCodeAt(0), name).toBe("{".charCodeAt(0));
      expect(await app.database.prisma.alert.count({ where: { fingerprint: `fp-${name}` } }), name).toBe(1);
    }
  });

  it("processes a delivery stored with a byte order mark before the webhook dropped it; one that is not JSON fails at once", async () => {
    const errors = errorLines().length;
    const legacy = amPayload("BomLegacy");
    await app.database.prisma.$executeRaw`
      WITH d AS (INSERT INTO alert_deliveries (group_key, payload) VALUES (${legacy.groupKey}, ${`\ufeff${JSON.stringify(legacy)}`}) RETURNING id)
      INSERT INTO jobs (kind, payload, priority, max_attempts) SELECT 'alert.process_delivery', jsonb_build_object('deliveryId', id::text), 1, 20 FROM d`;
    await eventually(async () => (await app.database.prisma.alertDelivery.count({ where: { groupKey: legacy.groupKey, processedAt: null } })) === 0, 15_000, "the legacy delivery processed");
    expect(await app.database.prisma.alert.count({ where: { fingerprint: "fp-BomLegacy" } })).toBe(1);

    await app.database.prisma.$executeRaw`
      WITH d AS (INSERT INTO alert_deliveries (group_key, payload) VALUES ('{}:{alertname="Garbled"}', '{"version":') RETURNING id)
      INSERT INTO jobs (kind, payload, priority, max_attempts) SELECT 'alert.process_delivery', jsonb_build_object('deliveryId', id::text), 1, 20 FROM d`;
    const dead = await eventually(async () => (await app.database.prisma.job.findFirst({ where: { kind: "alert.process_delivery", status: "DEAD" } })) ?? undefined, 15_000, "the garbled delivery's job given up");
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toMatch(/is not JSON/);
    // Given up on purpose (logged once as the job's failure), not a crash: the only error line is that one.
    expect(errorLines().slice(errors).filter((line) => !line.includes("is not JSON"))).toEqual([]);
  });

  it("names the limit in its 413 as people write it", async () => {
    const answer = await postAlertmanager(JSON.stringify({ padding: "x".repeat(1024 * 1024) }));
    expect(answer.status).toBe(413);
    expect(await answer.json()).toMatchObject({ error: "request body is larger than 1 MiB" });
  });
});

describe("PagerDuty (correctly signed)", () => {
  it("ignores an event whose identifier holds a NUL or a lone surrogate: 202, a warning, nothing stored", async () => {
    for (const body of [pagerDutyEvent({ id: "01BADNUL\u0000" }), pagerDutyEvent({ id: "01BADKEY", incidentKey: `${dedupKey}\ud800` })]) {
      const before = await counts();
      const answer = await postPagerDuty(body);
      expect(answer.status).toBe(202);
      expect(await answer.json()).toEqual({ outcome: "ignored" });
      expect(await counts()).toEqual(before);
    }
    expect(logs.lines.filter((line) => line.includes("ignored a PagerDuty webhook whose identifier"))).toHaveLength(2);
  });

  it("ignores the event type \"hasOwnProperty\" (not a followed type, whatever Object.prototype has)", async () => {
    const before = await counts();
    const answer = await postPagerDuty(pagerDutyEvent({ id: "01PROTOTYPE", eventType: "hasOwnProperty" }));
    expect(answer.status).toBe(202);
    expect(await answer.json()).toEqual({ outcome: "ignored" });
    expect(await counts()).toEqual(before);
  });

  it("records an event with a lone surrogate in a name, and one whose occurred_at PostgreSQL cannot store", async () => {
    const errors = errorLines().length;
    const earlier = new Set((await pagerDutyEvents()).map((event) => event.id));
    const started = Date.now();
    const surrogate = await postPagerDuty(pagerDutyEvent({ id: "01SURROGATE", agent: "Ana \ud800Oncall" }));
    expect(surrogate.status).toBe(202);
    expect(await surrogate.json()).toEqual({ outcome: "recorded" });
    for (const [id, occurredAt] of [["01FARPAST", "-271821-04-20T00:00:00.000Z"], ["01YEARZERO", "0000-01-01T00:00:00Z"], ["01FARFUTURE", "+275760-09-13T00:00:00.000Z"]] as const) {
      const answer = await postPagerDuty(pagerDutyEvent({ id, occurredAt }));
      expect(answer.status, occurredAt).toBe(202);
      expect(await answer.json(), occurredAt).toEqual({ outcome: "recorded" });
    }
    const recorded = (await pagerDutyEvents()).filter((event) => !earlier.has(event.id));
    expect(recorded).toHaveLength(4);
    expect(recorded.map((event) => event.data)).toContainEqual(expect.objectContaining({ agent: "Ana \ufffdOncall", assignees: ["Ben\ufffd Backup"] }));
    // An unusable occurred_at: the time the event arrived.
    for (const event of recorded) expect(event.occurredAt.getTime()).toBeGreaterThanOrEqual(started - 1_000);
    await waitForIdleJobs(app, 20_000);
    expect(errorLines().slice(errors)).toEqual([]);
  });

  it("names its own limit (256 KiB) in its 413", async () => {
    const answer = await postPagerDuty(JSON.stringify({ padding: "x".repeat(256 * 1024) }));
    expect(answer.status).toBe(413);
    expect(await answer.json()).toMatchObject({ error: "request body is larger than 256 KiB" });
  });
});

describe("Slack (correctly signed)", () => {
  const message = { channel: GENERAL_CHANNEL_ID, ts: "1700000000.000100", text: "hello", reply_broadcast: false, user: "U0DECLARER", pinned: false, reactions: [], history: [] };
  const reaction = () => reactionAddedEvent(message, { user: "U0DECLARER", reaction: "eyes" }) as unknown as Record<string, unknown>;
  const asJson = (value: unknown) => JSON.stringify(value);
  const action = () => blockActionPayload({ user: "U0DECLARER", channel: GENERAL_CHANNEL_ID, messageTs: message.ts, actionId: "fuzz_unknown_action", value: "1", triggerId: "1.2.abc" }) as unknown as Record<string, unknown>;
  const view = () => viewSubmissionPayload({ user: "U0DECLARER", callbackId: "fuzz_unknown_view", values: {} }) as unknown as Record<string, unknown>;

  const WRONG: Array<[string, string, string]> = [
    ["an event that is a string", asJson({ ...reaction(), event: "reaction_added" }), "application/json"],
    ["a reaction that is a number", asJson({ ...reaction(), event: { ...(reaction().event as object), reaction: -0 } }), "application/json"],
    ["a reaction event without its item", asJson({ ...reaction(), event: { ...(reaction().event as object), item: undefined } }), "application/json"],
    ["block actions that are a string", interactionBody({ ...action(), actions: "click" }), "application/x-www-form-urlencoded"],
    ["a view submission without a user", interactionBody({ ...view(), user: undefined }), "application/x-www-form-urlencoded"],
    ["a team id that is a prototype key", interactionBody({ ...view(), team: { id: "toString", domain: "x" } }), "application/x-www-form-urlencoded"],
  ];
  for (const [what, body, contentType] of WRONG) {
    it(`refuses ${what}: 400, nothing stored, nothing logged as an error`, async () => {
      const before = await counts();
      const errors = errorLines().length;
      const answer = await sendToSlackEndpoint(app.url, body, { contentType });
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ ok: false, error: "invalid_payload" });
      expect(await counts()).toEqual(before);
      expect(errorLines().slice(errors)).toEqual([]);
    });
  }

  it("declares from a command with a NUL in its title and its trigger_id (as %00), with U+FFFD in their place", async () => {
    const errors = errorLines().length;
    const from = logs.lines.length;
    const answer = await sendCommand(app.url, "declare sev4 Disk a\u0000b full", { trigger_id: "1700000000.1.nul\u0000" });
    expect(answer.status).toBe(200);
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: { startsWith: "Disk a" } } })) ?? undefined, 15_000, "the declared incident");
    expect(incident.title).toBe("Disk a\ufffdb full");
    await waitForIdleJobs(app, 20_000);
    expect(errorLines().slice(errors)).toEqual([]);
    expect(logs.lines.slice(from).some((line) => line.includes("replaced with U+FFFD"))).toBe(true);
  });

  it("still answers a well-formed event 200", async () => {
    const answer = await sendToSlackEndpoint(app.url, asJson(reaction()), { contentType: "application/json" });
    expect(answer.status).toBe(200);
  });
});
