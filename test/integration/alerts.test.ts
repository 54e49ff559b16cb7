import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { ingestTuning } from "../../src/alert/ingest-tuning.ts";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { Incident, TimelineEvent } from "../../src/generated/prisma/client.ts";
import { startFakeSlack, type FakeMessage, type FakeSlack, type FakeSlackCall, type FakeSlackOptions } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, testClock, waitForIdleJobs, type TestApp } from "../support/app.ts";
import type { Clock } from "../../src/core/clock.ts";
import { createTestDatabase, startThrowawayServer, type TestDatabase } from "../support/postgres.ts";
import { sendBlockAction } from "../support/slack-payloads.ts";
import { sendCommand } from "../support/slack-requests.ts";
import { mrkdwnTexts } from "../support/blocks.ts";

/**
 * Alertmanager -> Firebreak, through the real app: Alertmanager v4 webhook
 * payloads POSTed to /webhooks/alertmanager with the configured credentials,
 * asserting on the HTTP answer, what the database stored (deliveries, alert
 * groups, alerts, incidents, timeline events) and what the fake Slack saw.
 * Most of it runs on the embedded database; concurrency (an HA pair posting
 * the same notification at once, an alert storm) runs on real PostgreSQL.
 */


const TOKEN = "am-bearer-0123456789abcdef0123";
const BASIC_USER = "alertmanager";
const BASIC_PASSWORD = "basic-password-0123";
const TRIAGE = "C0TRIAGE01";
const CLICKER = "U0RESPOND1";
/** Alertmanager's "has not ended" marker in endsAt. */
const NOT_ENDED = "0001-01-01T00:00:00Z";
const EXTERNAL_URL = "http://alertmanager.example.internal:9093";

// ---- Alertmanager payloads ----------------------------------------------------------------------

type Labels = Record<string, string>;

interface AmAlert {
  status: "firing" | "resolved";
  labels: Labels;
  annotations: Labels;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

interface AmPayload {
  version: string;
  groupKey: string;
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Labels;
  commonLabels: Labels;
  commonAnnotations: Labels;
  externalURL: string;
  alerts: AmAlert[];
}

/** Alertmanager's fingerprint: 16 hex digits derived from the label set. */
function fingerprintOf(labels: Labels): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join("\u00ff");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

function minutesAgo(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}

/**
 * Go's RFC 3339 with nanoseconds, as Alertmanager writes it (trailing zeros
 * dropped): 2026-11-22T03:33:01.33017111Z. The first three digits are the
 * milliseconds of `date`, so `new Date(result)` equals `date`.
 */
function rfc3339Nano(date: Date, extraDigits = "17111"): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, `.$1${extraDigits}Z`);
}

function firing(labels: Labels, annotations: Labels = {}, startsAt: Date | string = minutesAgo(5), generatorURL?: string): AmAlert {
  return {
    status: "firing",
    labels,
    annotations,
    startsAt: typeof startsAt === "string" ? startsAt : startsAt.toISOString(),
    endsAt: NOT_ENDED,
    generatorURL: generatorURL ?? `http://prometheus.example.internal:9090/graph?g0.expr=${encodeURIComponent(`ALERTS{alertname="${labels.alertname ?? ""}"}`)}&g0.tab=1`,
    fingerprint: fingerprintOf(labels),
  };
}

function resolvedAt(alert: AmAlert, endsAt: Date = new Date()): AmAlert {
  return { ...alert, status: "resolved", endsAt: endsAt.toISOString() };
}

function firingAgain(alert: AmAlert, startsAt: Date): AmAlert {
  return { ...alert, status: "firing", startsAt: startsAt.toISOString(), endsAt: NOT_ENDED };
}

function common(sets: Labels[]): Labels {
  const [first, ...rest] = sets;
  const out: Labels = {};
  for (const [key, value] of Object.entries(first ?? {})) if (rest.every((set) => set[key] === value)) out[key] = value;
  return out;
}

/** A notification as Alertmanager's webhook_config sends it (version 4). */
function notification(alerts: AmAlert[], groupLabels: Labels, receiver = "firebreak"): AmPayload {
  return {
    version: "4",
    groupKey: `{}/{severity=~".+"}:{${Object.entries(groupLabels)
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
      .join(", ")}}`,
    truncatedAlerts: 0,
    status: alerts.some((alert) => alert.status === "firing") ? "firing" : "resolved",
    receiver,
    groupLabels,
    commonLabels: common(alerts.map((alert) => alert.labels)),
    commonAnnotations: common(alerts.map((alert) => alert.annotations)),
    externalURL: EXTERNAL_URL,
    alerts,
  };
}

interface WebhookAnswer {
  status: number;
  body: { ok?: unknown; error?: unknown; delivery?: unknown; alerts?: unknown; copy?: unknown };
  headers: Headers;
  elapsedMs: number;
}

/** POSTs to /webhooks/alertmanager; `authorization: null` sends no Authorization header. */
async function postWebhook(appUrl: string, body: unknown, options: { authorization?: string | null } = {}): Promise<WebhookAnswer> {
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "Alertmanager/0.25.0" };
  const authorization = options.authorization === undefined ? `Bearer ${TOKEN}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  const started = performance.now();
  const response = await fetch(`${appUrl}/webhooks/alertmanager`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  const elapsedMs = performance.now() - started;
  let parsed: WebhookAnswer["body"] = {};
  try {
    const value: unknown = text ? JSON.parse(text) : {};
    if (value !== null && typeof value === "object") parsed = value;
  } catch {
    parsed = { error: text };
  }
  return { status: response.status, body: parsed, headers: response.headers, elapsedMs };
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

// ---- Slack message helpers ----------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Every mrkdwn text object's text inside some Block Kit structure. */
interface Button {
  action_id: string;
  text: string;
  url?: string;
  value?: string;
}

/** The buttons of a message's actions blocks. */
function buttonsOf(message: { blocks?: unknown[] } | undefined): Button[] {
  const out: Button[] = [];
  for (const block of message?.blocks ?? []) {
    if (!isRecord(block) || block.type !== "actions" || !Array.isArray(block.elements)) continue;
    for (const element of block.elements) {
      if (!isRecord(element) || element.type !== "button" || typeof element.action_id !== "string") continue;
      const text = isRecord(element.text) && typeof element.text.text === "string" ? element.text.text : "";
      out.push({
        action_id: element.action_id,
        text,
        ...(typeof element.url === "string" ? { url: element.url } : {}),
        ...(typeof element.value === "string" ? { value: element.value } : {}),
      });
    }
  }
  return out;
}

/** The "N alert(s) firing" messages Firebreak posts in an incident channel. */
function alertsMessages(slack: FakeSlack, channelId: string): FakeMessage[] {
  return slack.messages.in(channelId).filter((message) => /^\d+ alert\(s\) firing/.test(message.text));
}

function allResolvedMessages(slack: FakeSlack, channelId: string): FakeMessage[] {
  return slack.messages.in(channelId).filter((message) => message.text.includes("have resolved"));
}

function sinceMark(slack: FakeSlack, mark: number): FakeSlackCall[] {
  return slack.calls.slice(mark);
}

// ---- app harness --------------------------------------------------------------------------------

interface Harness {
  slack: FakeSlack;
  app: TestApp;
  stop(): Promise<void>;
}

interface HarnessOptions {
  env?: Record<string, string>;
  /** YAML for FIREBREAK_CONFIG. */
  config?: string;
  databaseUrl?: string;
  /** Seeds the fake workspace (channels) before the app starts. */
  seed?: (slack: FakeSlack) => void;
  /** Raised Slack rate limits (say why). */
  rateLimits?: FakeSlackOptions["rateLimits"];
  /** The app's clock. */
  clock?: Clock;
}

/**
 * For a harness whose tests declare, resolve and reopen incidents back to back, seconds apart
 * (the 30-incident storm within a second): startTestApp does not pace channel creation, and each
 * incident costs Tier 2 calls (20 a minute: create, topic, pin, bookmark) and posts in its
 * channel (about one a second). Slack would answer 429s that the app waits out (declare.test.ts
 * tests that), costing these tests seconds, re-sent calls and, for the storm, minutes.
 */
const BACK_TO_BACK_INCIDENTS: NonNullable<FakeSlackOptions["rateLimits"]> = {
  "conversations.create": TEST_SPEED,
  "conversations.setTopic": TEST_SPEED,
  "pins.add": TEST_SPEED,
  "bookmarks.add": TEST_SPEED,
  "bookmarks.edit": TEST_SPEED,
  "chat.postMessage": { perChannel: TEST_SPEED },
};

async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  // The fake grants exactly the manifest's scopes (its default): a call the manifest does not cover fails.
  const slack = await startFakeSlack(options.rateLimits !== undefined ? { rateLimits: options.rateLimits } : {});
  options.seed?.(slack);
  let configDir: string | undefined;
  const env: Record<string, string> = { ...options.env };
  if (options.config !== undefined) {
    configDir = await mkdtemp(join(tmpdir(), "firebreak-alerts-config-"));
    const path = join(configDir, "firebreak.yml");
    await writeFile(path, options.config, "utf8");
    env.FIREBREAK_CONFIG = path;
  }
  let app: TestApp;
  try {
    app = await startTestApp({ slack, env, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}), ...(options.clock ? { clock: options.clock } : {}) });
  } catch (error) {
    await slack.close();
    if (configDir) await removeDir(configDir);
    throw error;
  }
  return {
    slack,
    app,
    async stop() {
      await app.stop();
      await slack.close();
      if (!options.databaseUrl) await removeDir(app.dataDir);
      if (configDir) await removeDir(configDir);
    },
  };
}

/** Nothing running, due or waiting for a retry (test/support/app.ts). */
async function jobsIdle(app: TestApp, timeoutMs = 20_000): Promise<void> {
  await waitForIdleJobs(app, timeoutMs);
}

async function deliveriesProcessed(app: TestApp, timeoutMs = 15_000): Promise<void> {
  await eventually(
    async () => (await app.database.prisma.alertDelivery.count({ where: { processedAt: null } })) === 0,
    timeoutMs,
    "every delivery processed",
  );
}

/** What the webhook may have stored: a refused request must change none of it. */
async function storedCounts(app: TestApp) {
  const prisma = app.database.prisma;
  return {
    deliveries: await prisma.alertDelivery.count(),
    groups: await prisma.alertGroup.count(),
    alerts: await prisma.alert.count(),
    incidents: await prisma.incident.count(),
    events: await prisma.timelineEvent.count(),
    jobs: await prisma.job.count(),
  };
}

async function groupByKey(app: TestApp, groupKey: string) {
  return app.database.prisma.alertGroup.findUniqueOrThrow({ where: { groupKey }, include: { alerts: { orderBy: { startsAt: "asc" } } } });
}

/** Waits for the group's incident to exist with its channel. */
async function incidentOfGroup(app: TestApp, groupKey: string, timeoutMs = 15_000): Promise<Incident & { channelId: string }> {
  return eventually(
    async () => {
      const group = await app.database.prisma.alertGroup.findUnique({ where: { groupKey }, include: { incident: true } });
      const incident = group?.incident;
      return incident?.channelId ? { ...incident, channelId: incident.channelId } : undefined;
    },
    timeoutMs,
    `incident with a channel for ${groupKey}`,
  );
}

async function eventsOf(app: TestApp, incidentId: string, types?: string[]): Promise<TimelineEvent[]> {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId, ...(types ? { type: { in: types } } : {}) }, orderBy: { id: "asc" } });
}

async function deadJobs(app: TestApp): Promise<string[]> {
  const jobs = await app.database.prisma.job.findMany({ where: { status: "DEAD" }, orderBy: { id: "asc" } });
  return jobs.map((job) => `${job.kind}: ${job.lastError ?? ""}`);
}


/** Every text Slack would render as mrkdwn in what the app sent: message texts and mrkdwn blocks. */
function renderedTexts(calls: readonly FakeSlackCall[]): string[] {
  const out: string[] = [];
  for (const call of calls) {
    if (!["chat.postMessage", "chat.update", "chat.postEphemeral"].includes(call.method)) continue;
    if (typeof call.args.text === "string") out.push(call.args.text);
    mrkdwnTexts(call.args.blocks, out);
  }
  return out;
}

// =================================================================================================
// Embedded database, no routing config (no `alerts` section): critical declares, the rest records.
// =================================================================================================

describe("on the embedded database, without a routing config", () => {
  let h: Harness;

  beforeAll(async () => {
    // Incidents declared, resolved and reopened test after test.
    h = await startHarness({ env: { ALERTMANAGER_TOKEN: TOKEN }, rateLimits: BACK_TO_BACK_INCIDENTS });
  });

  afterAll(async () => {
    await h?.stop();
  });

  afterEach(async () => {
    await jobsIdle(h.app);
    expect(h.app.logs.text()).not.toContain(TOKEN);
  });

  describe("authentication", () => {
    const valid = () => notification([firing({ alertname: "AuthProbe", severity: "info" })], { alertname: "AuthProbe" });

    it.each([
      ["no Authorization header", null],
      ["a wrong token", `Bearer ${TOKEN.replace(/.$/, "x")}`],
      ["an empty bearer token", "Bearer "],
      ["the token under another scheme", `Token ${TOKEN}`],
      ["the token as basic credentials", basic("alertmanager", TOKEN)],
    ])("answers %s with 401 and stores nothing", async (_name, authorization) => {
      const before = await storedCounts(h.app);
      const mark = h.slack.calls.length;
      const answer = await postWebhook(h.app.url, valid(), { authorization });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(String(answer.body.error)).toMatch(/unauthorized/);
      expect(await storedCounts(h.app)).toEqual(before);
      expect(sinceMark(h.slack, mark)).toEqual([]);
    });

    it("accepts the configured bearer token (the scheme is case-insensitive)", async () => {
      const answer = await postWebhook(h.app.url, valid(), { authorization: `bearer ${TOKEN}` });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ ok: true, alerts: 1 });
      expect(String(answer.body.delivery)).toMatch(/^\d+$/);
    });
  });

  describe("bad input", () => {
    const good = () => notification([firing({ alertname: "BadInput", severity: "critical" })], { alertname: "BadInput" });

    it.each<[string, () => unknown, RegExp]>([
      ["invalid JSON", () => '{"version":"4","groupKey":', /JSON/],
      // Prototype poisoning, spelled out or behind \u escapes, is refused by the parser.
      ["a __proto__ key", () => JSON.stringify(good()).replace('"groupLabels":', '"__proto__":{"isAdmin":true},"groupLabels":'), /__proto__.*constructor\.prototype/],
      ["an escaped __proto__ key", () => JSON.stringify(good()).replace('"groupLabels":', '"\\u005f_proto__":{"isAdmin":true},"groupLabels":'), /__proto__.*constructor\.prototype/],
      ["a constructor.prototype key", () => JSON.stringify(good()).replace('"groupLabels":', '"constructor":{"prototype":{"isAdmin":true}},"groupLabels":'), /__proto__.*constructor\.prototype/],
      ["a wrong version", () => ({ ...good(), version: "3" }), /version/],
      [
        "a missing groupKey",
        () => {
          const { groupKey: _dropped, ...rest } = good();
          return rest;
        },
        /groupKey/,
      ],
      ["a bad alert status", () => ({ ...good(), alerts: [{ ...good().alerts[0], status: "pending" }] }), /alerts\.0\.status/],
      ["no alerts at all", () => ({ ...good(), alerts: [] }), /alerts/],
      // Valid JSON that PostgreSQL's jsonb refuses: refused before batching, so it never fails other deliveries' batch.
      ["a NUL character in a label", () => ({ ...good(), alerts: [firing({ alertname: "BadInput", severity: "critical", instance: "db\u00001" })] }), /alerts\.0\.labels\.instance/],
      ["an unpaired surrogate in an annotation", () => '{"version":"4","groupKey":"{}:{alertname=\\"BadInput\\"}","status":"firing","receiver":"firebreak","alerts":[{"status":"firing","labels":{"alertname":"BadInput"},"annotations":{"summary":"\\ud800"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"0123456789abcdef"}]}', /alerts\.0\.annotations\.summary/],
    ])("answers %s with 400 naming the field, storing nothing", async (_name, body, field) => {
      const before = await storedCounts(h.app);
      const mark = h.slack.calls.length;
      const answer = await postWebhook(h.app.url, body());
      expect(answer.status).toBe(400);
      expect(answer.body.ok).toBe(false);
      expect(String(answer.body.error)).toMatch(field);
      expect(await storedCounts(h.app)).toEqual(before);
      expect(sinceMark(h.slack, mark)).toEqual([]);
    });

    it("accepts Go's \\u escapes (Alertmanager writes <, > and & so) and stores the text as sent", async () => {
      const payload = notification([firing({ alertname: "GoEscapes", severity: "warning" }, { summary: "p99 <rising> & paging" })], { alertname: "GoEscapes" });
      const sent = JSON.stringify(payload).replaceAll("<", "\\u003c").replaceAll(">", "\\u003e").replaceAll("&", "\\u0026");
      expect(sent).toContain("\\u003crising\\u003e \\u0026 paging");
      const answer = await postWebhook(h.app.url, sent);
      expect(answer.status).toBe(200);
      await jobsIdle(h.app);
      const delivery = await h.app.database.prisma.alertDelivery.findFirstOrThrow({ where: { groupKey: payload.groupKey } });
      expect(delivery.payload).toBe(sent);
      const stored = await h.app.database.prisma.alert.findFirstOrThrow({ where: { fingerprint: payload.alerts[0]!.fingerprint } });
      expect(stored.annotations).toMatchObject({ summary: "p99 <rising> & paging" });
    });

    it("still processes a delivery stored as text before bodies were compressed", async () => {
      const payload = notification([firing({ alertname: "LegacyText", severity: "warning" })], { alertname: "LegacyText" });
      await h.app.database.prisma.$executeRaw`
        WITH d AS (INSERT INTO alert_deliveries (group_key, payload) VALUES (${payload.groupKey}, ${JSON.stringify(payload)}) RETURNING id)
        INSERT INTO jobs (kind, payload, priority, max_attempts) SELECT 'alert.process_delivery', jsonb_build_object('deliveryId', id::text), 1, 20 FROM d`;
      await eventually(async () => (await h.app.database.prisma.alertDelivery.count({ where: { groupKey: payload.groupKey, processedAt: null } })) === 0, 15_000, "legacy delivery processed");
      const group = await groupByKey(h.app, payload.groupKey);
      expect(group).toMatchObject({ status: "FIRING" });
      expect(await h.app.database.prisma.alert.count({ where: { fingerprint: payload.alerts[0]!.fingerprint } })).toBe(1);
    });

    it("answers a body over 1 MiB with 413, storing nothing", async () => {
      const before = await storedCounts(h.app);
      const huge = notification([firing({ alertname: "Huge", severity: "critical" }, { description: "x".repeat(1024 * 1024 + 16) })], { alertname: "Huge" });
      const answer = await postWebhook(h.app.url, huge);
      expect(answer.status).toBe(413);
      expect(await storedCounts(h.app)).toEqual(before);
    });
  });

  describe("a critical alert", () => {
    it("declares exactly one SEV1 incident, opens its channel and posts the alerts, escaped, with link buttons", async () => {
      const started = minutesAgo(7);
      const labels = { alertname: "CheckoutErrorRate", severity: "critical", service: "checkout", namespace: "shop", instance: "checkout-7d9f:8080" };
      const alert = firing(
        labels,
        {
          summary: "Checkout 5xx > 5% & <rising>",
          description: "Error ratio is 7.2% <b>for</b> 10m & climbing",
          runbook_url: "https://runbooks.example.com/checkout/5xx",
        },
        rfc3339Nano(started),
        "http://prometheus.example.internal:9090/graph?g0.expr=rate(http_errors%5B5m%5D)&g0.tab=1",
      );
      expect(alert.startsAt).toMatch(/\.\d{8}Z$/);
      const payload = notification([alert], { alertname: "CheckoutErrorRate" });
      const before = await h.app.database.prisma.incident.count();
      const mark = h.slack.calls.length;

      const answer = await postWebhook(h.app.url, payload);
      expect(answer.status).toBe(200);
      expect(answer.elapsedMs).toBeLessThan(2_000);
      expect(answer.body).toMatchObject({ ok: true, alerts: 1 });

      const incident = await incidentOfGroup(h.app, payload.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
      await jobsIdle(h.app);

      // The delivery is stored as received (the very text sent) and marked processed.
      const deliveries = await h.app.database.prisma.alertDelivery.findMany({ where: { groupKey: payload.groupKey } });
      expect(deliveries).toHaveLength(1);
      expect(String(deliveries[0]!.id)).toBe(answer.body.delivery);
      expect(deliveries[0]!.processedAt).toBeInstanceOf(Date);
      expect(deliveries[0]!.payload).toBe(JSON.stringify(payload));

      const group = await groupByKey(h.app, payload.groupKey);
      expect(group).toMatchObject({
        receiver: "firebreak",
        status: "FIRING",
        route: "default",
        disposition: "DECLARE",
        severity: "SEV1",
        serviceKey: "checkout",
        externalUrl: EXTERNAL_URL,
        incidentId: incident.id,
      });
      expect(group.alerts).toHaveLength(1);
      expect(group.alerts[0]).toMatchObject({ fingerprint: alert.fingerprint, status: "FIRING", endsAt: null, generatorUrl: alert.generatorURL });
      expect(group.alerts[0]!.startsAt.getTime()).toBe(started.getTime());

      // Exactly one incident, from the alert, led by nobody yet.
      expect(await h.app.database.prisma.incident.count()).toBe(before + 1);
      expect(incident).toMatchObject({
        title: "Checkout 5xx > 5% & <rising>",
        description: "Error ratio is 7.2% <b>for</b> 10m & climbing",
        severity: "SEV1",
        status: "INVESTIGATING",
        source: "ALERT",
        declaredById: null,
        commanderId: null,
        acknowledgedAt: null,
      });
      expect(incident.startedAt?.getTime()).toBe(started.getTime());

      // One channel; the header and one alerts message in it.
      const calls = sinceMark(h.slack, mark);
      expect(calls.filter((call) => call.method === "conversations.create")).toHaveLength(1);
      const messages = alertsMessages(h.slack, incident.channelId);
      expect(messages).toHaveLength(1);
      const message = messages[0]!;
      const texts = mrkdwnTexts(message.blocks);
      expect(texts[0]).toContain("1 alert firing");
      const body = texts.join("\n");
      expect(body).toContain("Checkout 5xx &gt; 5% &amp; &lt;rising&gt;");
      expect(body).toContain("Error ratio is 7.2% &lt;b&gt;for&lt;/b&gt; 10m &amp; climbing");
      expect(body).not.toMatch(/<rising>|<b>/);
      expect(body).toContain("`alertname=CheckoutErrorRate`");
      const buttons = buttonsOf(message);
      expect(buttons.map((button) => [button.text, button.url])).toEqual([
        ["Runbook", "https://runbooks.example.com/checkout/5xx"],
        ["Source", alert.generatorURL],
      ]);

      const events = await eventsOf(h.app, incident.id);
      expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(["incident.declared", "channel.created", "alert.firing"]));
      const firingEvents = events.filter((event) => event.type === "alert.firing");
      expect(firingEvents).toHaveLength(1);
      expect(firingEvents[0]).toMatchObject({
        source: "ALERTMANAGER",
        actorId: null,
        data: { fingerprint: alert.fingerprint, alertname: "CheckoutErrorRate", groupKey: payload.groupKey },
      });
      expect(events.find((event) => event.type === "incident.declared")).toMatchObject({ source: "ALERTMANAGER", actorId: null });
    });

    it("opens the channel with its header even when Slack holds the header back (429): the alerts come after it", async () => {
      await jobsIdle(h.app);
      const payload = notification([firing({ alertname: "HeaderFirst", severity: "critical", service: "checkout", instance: "hf-1" }, { summary: "Header first" }, minutesAgo(2))], {
        alertname: "HeaderFirst",
      });
      const mark = h.slack.calls.length;
      // The next chat.postMessage anywhere is refused for 3 s: the new channel's header.
      h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 3 });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 20_000, "alerts message");
      await jobsIdle(h.app);

      const refused = sinceMark(h.slack, mark).filter((call) => call.method === "chat.postMessage" && call.status === 429);
      expect(refused.map((call) => call.args.channel)).toEqual([incident.channelId]);
      const header = (await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).headerMessageTs;
      const messages = h.slack.messages.in(incident.channelId).filter((message) => message.thread_ts === undefined);
      expect(messages[0]?.ts).toBe(header);
      expect(messages.map((message) => message.ts)).toEqual([...messages.map((message) => message.ts)].sort());
      expect(alertsMessages(h.slack, incident.channelId)).toHaveLength(1);
    });

    it("does not turn a javascript: runbook (or source) into a button", async () => {
      const alert = firing(
        { alertname: "PaymentsLatency", severity: "critical" },
        { summary: "Payments p99 above 2s", runbook_url: "javascript:alert(document.cookie)" },
        minutesAgo(3),
        "javascript:fetch('https://evil.example')",
      );
      const payload = notification([alert], { alertname: "PaymentsLatency" });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      const message = await eventually(async () => alertsMessages(h.slack, incident.channelId)[0], 15_000, "alerts message");
      expect(buttonsOf(message)).toEqual([]);
      expect(JSON.stringify(message.blocks)).not.toContain("javascript:");
    });

    it("only records a non-critical alert (no triage channel configured)", async () => {
      const mark = h.slack.calls.length;
      const before = await h.app.database.prisma.incident.count();
      const payload = notification([firing({ alertname: "DiskFilling", severity: "warning" }, { summary: "Disk 80% full" })], { alertname: "DiskFilling" });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      await deliveriesProcessed(h.app);
      await jobsIdle(h.app);
      const group = await groupByKey(h.app, payload.groupKey);
      expect(group).toMatchObject({ disposition: "RECORD", severity: "SEV3", status: "FIRING", incidentId: null, route: "default" });
      expect(group.alerts).toHaveLength(1);
      expect(await h.app.database.prisma.incident.count()).toBe(before);
      expect(sinceMark(h.slack, mark).filter((call) => call.method !== "auth.test")).toEqual([]);
    });
  });

  // A story: each step builds on the one before (shuffle: false keeps their order).
  describe("duplicates and re-sends", { shuffle: false }, () => {
    const labelsA = { alertname: "QueueBacklog", severity: "critical", job: "worker", instance: "worker-1" };
    const labelsB = { alertname: "QueueBacklog", severity: "critical", job: "worker", instance: "worker-2" };
    const alertA = firing(labelsA, { summary: "Queue backlog above 10k" }, minutesAgo(4));
    const groupLabels = { alertname: "QueueBacklog" };

    it("merges the same notification posted 5 times into one incident, one channel, one alerts message", async () => {
      const payload = notification([alertA], groupLabels);
      const mark = h.slack.calls.length;
      const before = await h.app.database.prisma.incident.count();
      const answers: WebhookAnswer[] = [];
      for (let i = 0; i < 5; i += 1) {
        const answer = await postWebhook(h.app.url, payload);
        expect(answer.status).toBe(200);
        answers.push(answer);
      }
      // An identical copy arriving within 1 s of its original's commit is answered with the
      // original's row; one arriving later is stored (processing merges it, below).
      const ids = answers.map((answer) => String(answer.body.delivery));
      const storedIds = answers.filter((answer) => answer.body.copy === undefined).map((answer) => String(answer.body.delivery));
      expect(answers[0]!.body.copy).toBeUndefined();
      answers.forEach((answer, i) => {
        if (answer.body.copy === true) expect(ids.slice(0, i)).toContain(ids[i]);
        else expect(answer.body.copy).toBeUndefined();
      });
      expect(new Set(storedIds).size).toBe(storedIds.length);
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
      await deliveriesProcessed(h.app);
      await jobsIdle(h.app);

      expect((await h.app.database.prisma.alertDelivery.findMany({ where: { groupKey: payload.groupKey }, select: { id: true }, orderBy: { id: "asc" } })).map((row) => String(row.id))).toEqual(storedIds);
      for (const id of storedIds) expect(await h.app.database.prisma.job.count({ where: { kind: "alert.process_delivery", payload: { equals: { deliveryId: id } } } })).toBe(1);
      expect(await h.app.database.prisma.alertGroup.count({ where: { groupKey: payload.groupKey } })).toBe(1);
      expect(await h.app.database.prisma.incident.count()).toBe(before + 1);
      expect(sinceMark(h.slack, mark).filter((call) => call.method === "conversations.create")).toHaveLength(1);
      expect(alertsMessages(h.slack, incident.channelId)).toHaveLength(1);
      expect(await eventsOf(h.app, incident.id, ["alert.firing"])).toHaveLength(1);
    });

    it("posts one more alerts message and records alert.firing when a new alert joins the group", async () => {
      const alertB = firing(labelsB, { summary: "Queue backlog above 10k" }, minutesAgo(1));
      const payload = notification([alertA, alertB], groupLabels);
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      const mark = h.slack.calls.length;
      // Sent twice, as group_interval re-sends do: the second changes nothing.
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length === 2, 15_000, "second alerts message");
      await deliveriesProcessed(h.app);
      await jobsIdle(h.app);

      const messages = alertsMessages(h.slack, incident.channelId);
      expect(messages).toHaveLength(2);
      // The new message is about the new alert only.
      expect(mrkdwnTexts(messages[1]!.blocks).join("\n")).toContain("instance=worker-2");
      expect(mrkdwnTexts(messages[1]!.blocks).join("\n")).not.toContain("instance=worker-1");
      expect(sinceMark(h.slack, mark).filter((call) => call.method === "conversations.create")).toEqual([]);
      const firingEvents = await eventsOf(h.app, incident.id, ["alert.firing"]);
      expect(firingEvents.map((event) => (isRecord(event.data) ? event.data.fingerprint : undefined))).toEqual([alertA.fingerprint, alertB.fingerprint]);
      expect(await h.app.database.prisma.alert.count({ where: { group: { groupKey: payload.groupKey } } })).toBe(2);
      expect(await h.app.database.prisma.alertGroup.findUniqueOrThrow({ where: { groupKey: payload.groupKey } })).toMatchObject({ incidentId: incident.id });
    });
  });

  describe("resolve", () => {
    it("records alert.resolved per alert and offers a Resolve button once all have resolved", async () => {
      const one = firing({ alertname: "ApiLatency", severity: "critical", instance: "api-1" }, { summary: "API latency high" }, minutesAgo(9));
      const two = firing({ alertname: "ApiLatency", severity: "critical", instance: "api-2" }, { summary: "API latency high" }, minutesAgo(8));
      const groupLabels = { alertname: "ApiLatency" };
      const first = notification([one, two], groupLabels);
      expect((await postWebhook(h.app.url, first)).status).toBe(200);
      const incident = await incidentOfGroup(h.app, first.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
      await jobsIdle(h.app);

      // One of two resolves (with the annotations of its resolved notification): recorded, nothing offered yet.
      const oneResolved = { ...resolvedAt(one, minutesAgo(2)), annotations: { summary: "API latency back to normal" } };
      const partly = notification([oneResolved, two], groupLabels);
      const seenBefore = (await groupByKey(h.app, first.groupKey)).alerts.find((alert) => alert.fingerprint === two.fingerprint)!.lastSeenAt;
      expect((await postWebhook(h.app.url, partly)).status).toBe(200);
      await deliveriesProcessed(h.app);
      await jobsIdle(h.app);
      expect((await eventsOf(h.app, incident.id, ["alert.resolved"])).map((event) => (isRecord(event.data) ? event.data.fingerprint : undefined))).toEqual([one.fingerprint]);
      expect(allResolvedMessages(h.slack, incident.channelId)).toEqual([]);
      const partlyGroup = await groupByKey(h.app, first.groupKey);
      expect(partlyGroup.status).toBe("FIRING");
      expect(partlyGroup.alerts.map((alert) => [alert.fingerprint, alert.status, alert.annotations])).toEqual([
        [one.fingerprint, "RESOLVED", { summary: "API latency back to normal" }],
        [two.fingerprint, "FIRING", { summary: "API latency high" }],
      ]);
      // The alert that did not change was seen again too, at the delivery's time (the group's and the resolved one's).
      expect(partlyGroup.alerts.map((alert) => alert.lastSeenAt.getTime())).toEqual([partlyGroup.lastSeenAt.getTime(), partlyGroup.lastSeenAt.getTime()]);
      expect(partlyGroup.lastSeenAt.getTime()).toBeGreaterThan(seenBefore.getTime());

      // All resolved (sent twice: the re-send changes nothing).
      const all = notification([oneResolved, resolvedAt(two, minutesAgo(1))], groupLabels);
      expect(all.status).toBe("resolved");
      expect((await postWebhook(h.app.url, all)).status).toBe(200);
      expect((await postWebhook(h.app.url, all)).status).toBe(200);
      await deliveriesProcessed(h.app);
      const offer = await eventually(async () => allResolvedMessages(h.slack, incident.channelId)[0], 15_000, "all-resolved message");
      await jobsIdle(h.app);

      expect(allResolvedMessages(h.slack, incident.channelId)).toHaveLength(1);
      expect(offer.text).toContain(`All alerts of INC-${incident.number} have resolved`);
      expect(buttonsOf(offer)).toEqual([expect.objectContaining({ action_id: "incident.resolve", text: "Resolve", value: incident.id })]);
      const resolvedEvents = await eventsOf(h.app, incident.id, ["alert.resolved"]);
      expect(resolvedEvents.map((event) => (isRecord(event.data) ? event.data.fingerprint : undefined))).toEqual([one.fingerprint, two.fingerprint]);
      expect(resolvedEvents.every((event) => event.source === "ALERTMANAGER" && event.actorId === null)).toBe(true);

      const group = await groupByKey(h.app, first.groupKey);
      expect(group.status).toBe("RESOLVED");
      expect(group.resolvedAt).toBeInstanceOf(Date);
      expect(group.alerts.map((alert) => [alert.status, alert.endsAt?.toISOString()])).toEqual([
        ["RESOLVED", all.alerts[0]!.endsAt],
        ["RESOLVED", all.alerts[1]!.endsAt],
      ]);
      // Without autoResolve a person decides: the incident stays open.
      expect(await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).toMatchObject({ status: "INVESTIGATING", resolvedAt: null });
    });
  });

  it("lets no side-effect job die", async () => {
    expect(await deadJobs(h.app)).toEqual([]);
  });
});

// =================================================================================================
// Embedded database with an `alerts` routing config.
// =================================================================================================

const ROUTING_CONFIG = `
services:
  - key: checkout
    name: Checkout
  - key: search
    name: Search
alerts:
  triageChannel: ${TRIAGE}
  reopenWindowMinutes: 60
  severityMap:
    warning: SEV3
    page: SEV2
  routes:
    - name: payments
      match: { team: payments }
      service: checkout
      severity: SEV2
      action: declare
      autoResolve: true
    - name: search
      matchRe: { service: "search-.*" }
      service: search
      action: declare
    - name: batch
      match: { team: batch }
      action: record
    - name: storage
      match: { team: storage }
      action: triage
`;

// A story: the alert groups the routing tests create are what triage, auto-resolve and
// /incident alerts work on, so its steps keep their order under --sequence.shuffle
// ({ shuffle: false }); the story as a whole depends on no other describe.
describe("on the embedded database, with a routing config", { shuffle: false }, () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      env: { ALERTMANAGER_TOKEN: TOKEN },
      config: ROUTING_CONFIG,
      // Incidents declared, resolved and reopened test after test.
      rateLimits: BACK_TO_BACK_INCIDENTS,
      // The bot is not in the triage channel: it posts there with chat:write.public.
      seed: (slack) => slack.channels.create({ name: "alerts-triage", id: TRIAGE, botIsMember: false, members: [CLICKER] }),
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  afterEach(async () => {
    await jobsIdle(h.app);
  });

  describe("routing", () => {
    it("routes on label equality (match) to the route's service and severity", async () => {
      const payload = notification([firing({ alertname: "CardDeclines", severity: "critical", team: "payments" }, { summary: "Card declines spiking" })], {
        alertname: "CardDeclines",
        team: "payments",
      });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      expect(incident).toMatchObject({ severity: "SEV2", source: "ALERT", services: ["checkout"], title: "Card declines spiking" });
      expect(await groupByKey(h.app, payload.groupKey)).toMatchObject({ route: "payments", serviceKey: "checkout", severity: "SEV2", disposition: "DECLARE" });
    });

    it("routes on an anchored label regex (matchRe); severityMap maps warning to SEV3 and page to SEV2", async () => {
      const warning = notification([firing({ alertname: "SearchSlow", severity: "warning", service: "search-api" }, { summary: "Search is slow" })], { alertname: "SearchSlow" });
      const page = notification([firing({ alertname: "SearchDown", severity: "page", service: "search-indexer" }, { summary: "Search indexer down" })], { alertname: "SearchDown" });
      expect((await postWebhook(h.app.url, warning)).status).toBe(200);
      expect((await postWebhook(h.app.url, page)).status).toBe(200);
      const warningIncident = await incidentOfGroup(h.app, warning.groupKey);
      const pageIncident = await incidentOfGroup(h.app, page.groupKey);
      expect(warningIncident).toMatchObject({ severity: "SEV3", services: ["search"] });
      expect(pageIncident).toMatchObject({ severity: "SEV2", services: ["search"] });
      expect(await groupByKey(h.app, warning.groupKey)).toMatchObject({ route: "search", serviceKey: "search", severity: "SEV3", disposition: "DECLARE" });
      expect(await groupByKey(h.app, page.groupKey)).toMatchObject({ route: "search", severity: "SEV2" });

      // The regex is anchored: "xsearch-api" is not "search-.*"; a warning with no route goes to triage.
      const unanchored = notification([firing({ alertname: "XSearchSlow", severity: "warning", service: "xsearch-api" })], { alertname: "XSearchSlow" });
      expect((await postWebhook(h.app.url, unanchored)).status).toBe(200);
      await deliveriesProcessed(h.app);
      expect(await groupByKey(h.app, unanchored.groupKey)).toMatchObject({ route: "default", disposition: "TRIAGE", incidentId: null, severity: "SEV3" });
    });

    it("stores a `record` route's alerts and posts nothing", async () => {
      const mark = h.slack.calls.length;
      const before = await h.app.database.prisma.incident.count();
      const payload = notification([firing({ alertname: "NightlyExportFailed", severity: "critical", team: "batch" }, { summary: "Nightly export failed" })], {
        alertname: "NightlyExportFailed",
      });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      await deliveriesProcessed(h.app);
      await jobsIdle(h.app);
      const group = await groupByKey(h.app, payload.groupKey);
      expect(group).toMatchObject({ route: "batch", disposition: "RECORD", incidentId: null, status: "FIRING" });
      expect(group.alerts).toHaveLength(1);
      expect(await h.app.database.prisma.incident.count()).toBe(before);
      expect(sinceMark(h.slack, mark)).toEqual([]);
    });
  });

  describe("triage", () => {
    const payload = notification(
      [firing({ alertname: "VolumeDegraded", severity: "warning", team: "storage", instance: "ceph-3" }, { summary: "Ceph volume degraded", runbook_url: "https://runbooks.example.com/ceph" }, minutesAgo(6))],
      { alertname: "VolumeDegraded" },
    );
    let triageMessage: FakeMessage;

    it("posts a `triage` route's alerts to the triage channel with a Declare incident button, declaring nothing", async () => {
      const before = await h.app.database.prisma.incident.count();
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      triageMessage = await eventually(async () => h.slack.messages.in(TRIAGE).find((message) => message.text.includes("VolumeDegraded")), 15_000, "triage message");
      await jobsIdle(h.app);
      const group = await groupByKey(h.app, payload.groupKey);
      expect(group).toMatchObject({ route: "storage", disposition: "TRIAGE", severity: "SEV3", incidentId: null });
      expect(await h.app.database.prisma.incident.count()).toBe(before);
      expect(mrkdwnTexts(triageMessage.blocks).join("\n")).toContain("Ceph volume degraded");
      const declare = buttonsOf(triageMessage).find((button) => button.action_id === "alert.declare_incident");
      expect(declare).toMatchObject({ text: "Declare incident", value: group.id });
      expect(h.slack.messages.in(TRIAGE).filter((message) => message.text.includes("VolumeDegraded"))).toHaveLength(1);
    });

    it("declares one incident linked to the group when Declare incident is clicked, even on a double click", async () => {
      const group = await groupByKey(h.app, payload.groupKey);
      const before = await h.app.database.prisma.incident.count();
      const click = () =>
        sendBlockAction(h.app.url, {
          user: CLICKER,
          channel: TRIAGE,
          messageTs: triageMessage.ts,
          actionId: "alert.declare_incident",
          value: group.id,
          triggerId: h.slack.newTriggerId(CLICKER),
          message: { text: triageMessage.text, blocks: triageMessage.blocks ?? [] },
        });
      const answers = await Promise.all([click(), click()]);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.elapsedMs).toBeLessThan(3_000);
      }
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message in the new channel");
      await jobsIdle(h.app);
      expect(await h.app.database.prisma.incident.count()).toBe(before + 1);
      expect(incident).toMatchObject({ source: "ALERT", severity: "SEV3", declaredById: CLICKER, commanderId: CLICKER, title: "Ceph volume degraded" });
      expect(incident.startedAt?.getTime()).toBe(new Date(payload.alerts[0]!.startsAt).getTime());
      expect(h.slack.callsTo("conversations.create").filter((call) => String(call.args.name).startsWith(`inc-${incident.number}-`))).toHaveLength(1);
      expect(alertsMessages(h.slack, incident.channelId)).toHaveLength(1);
    });

    it("tells the triage channel, under the triage message, who declared which incident (once)", async () => {
      // The bot is not a member of the triage channel (it posts there with chat:write.public), so
      // Slack refuses it ephemeral messages there: the answer is a reply in the triage thread.
      const incident = await incidentOfGroup(h.app, payload.groupKey);
      const replies = await eventually(
        async () => {
          const found = h.slack.messages.thread(TRIAGE, triageMessage.ts).filter((message) => message.text.includes(`INC-${incident.number}`));
          return found.length > 0 ? found : undefined;
        },
        5_000,
        "threaded confirmation under the triage message",
      );
      await jobsIdle(h.app);
      expect(h.slack.messages.thread(TRIAGE, triageMessage.ts).filter((message) => message.text.includes(`INC-${incident.number}`))).toHaveLength(1);
      expect(replies[0]?.text).toContain(`<@${CLICKER}>`);
    });

    it("sends a non-critical alert that matches no route to the triage channel", async () => {
      const unrouted = notification([firing({ alertname: "CertExpiresSoon", severity: "warning" }, { summary: "TLS certificate expires in 10 days" })], { alertname: "CertExpiresSoon" });
      expect((await postWebhook(h.app.url, unrouted)).status).toBe(200);
      const message = await eventually(async () => h.slack.messages.in(TRIAGE).find((m) => m.text.includes("CertExpiresSoon")), 15_000, "triage message");
      const group = await groupByKey(h.app, unrouted.groupKey);
      expect(group).toMatchObject({ route: "default", disposition: "TRIAGE", incidentId: null });
      expect(buttonsOf(message).find((button) => button.action_id === "alert.declare_incident")?.value).toBe(group.id);
    });
  });

  describe("auto-resolve and re-fire", () => {
    const labels = { alertname: "GatewayErrors", severity: "critical", team: "payments", instance: "gw-1" };
    const groupLabels = { alertname: "GatewayErrors", team: "payments" };
    const original = firing(labels, { summary: "Payment gateway errors" }, minutesAgo(20));
    let incidentId: string;

    it("resolves the incident by itself when all alerts of an autoResolve route resolve", async () => {
      expect((await postWebhook(h.app.url, notification([original], groupLabels))).status).toBe(200);
      const incident = await incidentOfGroup(h.app, notification([original], groupLabels).groupKey);
      incidentId = incident.id;
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
      await jobsIdle(h.app);

      expect((await postWebhook(h.app.url, notification([resolvedAt(original, minutesAgo(16))], groupLabels))).status).toBe(200);
      const resolved = await eventually(
        async () => {
          const row = await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } });
          return row.status === "RESOLVED" ? row : undefined;
        },
        15_000,
        "incident resolved",
      );
      await jobsIdle(h.app);
      expect(resolved.resolvedAt).toBeInstanceOf(Date);
      const events = await eventsOf(h.app, incidentId, ["alert.resolved", "incident.resolved"]);
      expect(events.map((event) => event.type)).toEqual(["alert.resolved", "incident.resolved"]);
      for (const event of events) expect(event).toMatchObject({ source: "ALERTMANAGER", actorId: null });
      // Nobody is asked to resolve what already resolved itself.
      expect(allResolvedMessages(h.slack, incident.channelId)).toEqual([]);
    });

    it("reopens the resolved incident when the alert fires again within the reopen window", async () => {
      const before = await h.app.database.prisma.incident.count();
      const payload = notification([firingAgain(original, minutesAgo(12))], groupLabels);
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      const reopened = await eventually(
        async () => {
          const row = await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } });
          return row.status === "INVESTIGATING" ? row : undefined;
        },
        15_000,
        "incident reopened",
      );
      await jobsIdle(h.app);
      expect(reopened.resolvedAt).toBeNull();
      expect(await h.app.database.prisma.incident.count()).toBe(before);
      expect((await groupByKey(h.app, payload.groupKey)).incidentId).toBe(incidentId);
      const reopenedEvents = await eventsOf(h.app, incidentId, ["incident.reopened"]);
      expect(reopenedEvents).toHaveLength(1);
      expect(reopenedEvents[0]).toMatchObject({ source: "ALERTMANAGER", actorId: null });
      const firingEvents = await eventsOf(h.app, incidentId, ["alert.firing"]);
      expect(firingEvents).toHaveLength(2);
      expect(firingEvents[1]!.text).toMatch(/Firing again/);
      expect(alertsMessages(h.slack, reopened.channelId!)).toHaveLength(2);
    });

    it("declares a new incident when the alert fires again after the reopen window", async () => {
      // Resolve again (autoResolve), then pretend that happened two hours ago.
      expect((await postWebhook(h.app.url, notification([resolvedAt(firingAgain(original, minutesAgo(12)), minutesAgo(8))], groupLabels))).status).toBe(200);
      await eventually(async () => (await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } })).status === "RESOLVED", 15_000, "resolved again");
      await jobsIdle(h.app);
      await h.app.database.prisma.incident.update({ where: { id: incidentId }, data: { resolvedAt: minutesAgo(120) } });

      const before = await h.app.database.prisma.incident.count();
      const startsAt = minutesAgo(4);
      const payload = notification([firingAgain(original, startsAt)], groupLabels);
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);
      const fresh = await eventually(
        async () => {
          const group = await h.app.database.prisma.alertGroup.findUniqueOrThrow({ where: { groupKey: payload.groupKey }, include: { incident: true } });
          return group.incident && group.incident.id !== incidentId && group.incident.channelId ? group.incident : undefined;
        },
        15_000,
        "a new incident for the group",
      );
      await jobsIdle(h.app);
      expect(await h.app.database.prisma.incident.count()).toBe(before + 1);
      expect(fresh).toMatchObject({ source: "ALERT", severity: "SEV2", status: "INVESTIGATING", declaredById: null });
      expect(fresh.startedAt?.getTime()).toBe(startsAt.getTime());
      expect(await h.app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } })).toMatchObject({ status: "RESOLVED" });
      expect(await eventsOf(h.app, incidentId, ["incident.reopened"])).toHaveLength(1);
      expect(await eventsOf(h.app, fresh.id, ["alert.firing"])).toHaveLength(1);
    });
  });

  describe("/incident alerts", () => {
    it("lists recent alert groups with their state, route and linked incident", async () => {
      const payments = await incidentOfGroup(h.app, notification([firing({ alertname: "CardDeclines" })], { alertname: "CardDeclines", team: "payments" }).groupKey);
      const response = await sendCommand(h.app.url, "alerts");
      expect(response.status).toBe(200);
      expect(response.elapsedMs).toBeLessThan(3_000);
      const body = isRecord(response.body) ? response.body : {};
      expect(body.response_type).toBe("ephemeral");
      const text = [typeof body.text === "string" ? body.text : "", ...mrkdwnTexts(body.blocks)].join("\n");
      const line = (name: string) => text.split("\n").find((candidate) => candidate.includes(`*${name}*`)) ?? "";
      expect(line("CardDeclines")).toMatch(/:fire:.*1\/1 firing · SEV2 · route `payments` \(declare\) · INC-\d+/);
      expect(line("CardDeclines")).toContain(`INC-${payments.number}`);
      expect(line("NightlyExportFailed")).toMatch(/route `batch` \(record\)/);
      expect(line("NightlyExportFailed")).not.toMatch(/INC-/);
      expect(line("CertExpiresSoon")).toMatch(/route `default` \(triage\)/);
      expect(line("GatewayErrors")).toMatch(/route `payments`.*INC-\d+/);
    });
  });

  describe("untrusted alert text", () => {
    it("never lets <!channel> or a mention from a summary or label reach Slack unescaped", async () => {
      const mark = h.slack.calls.length;
      const hostile = {
        summary: "<!channel> disk full <!here> <https://evil.example|click me> <@U0RESPOND2>",
        description: "<!everyone> please look & <!subteam^S0ONCALL01>",
        message: "<!channel>",
      };
      const triaged = notification(
        [firing({ alertname: "<!channel>Hostile", severity: "warning", team: "storage", instance: "<!channel>", namespace: "<@U0RESPOND2>" }, hostile)],
        { alertname: "<!channel>Hostile" },
      );
      const declared = notification(
        [firing({ alertname: "HostileDeclared", severity: "critical", team: "payments", instance: "<!here>", job: "<!channel>" }, hostile)],
        { alertname: "HostileDeclared", team: "payments" },
      );
      expect((await postWebhook(h.app.url, triaged)).status).toBe(200);
      expect((await postWebhook(h.app.url, declared)).status).toBe(200);
      await eventually(async () => h.slack.messages.in(TRIAGE).some((message) => message.text.includes("Hostile")), 15_000, "triage message");
      const incident = await incidentOfGroup(h.app, declared.groupKey);
      await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
      await jobsIdle(h.app);
      const command = await sendCommand(h.app.url, "alerts");

      const texts = renderedTexts(sinceMark(h.slack, mark));
      expect(texts.length).toBeGreaterThan(3);
      const all = [...texts, JSON.stringify(command.body)].join("\n");
      // It reached Slack as text...
      expect(all).toContain("&lt;!channel&gt;");
      // ...and never as markup.
      for (const text of texts) {
        expect(text).not.toMatch(/<!(channel|here|everyone|subteam)/);
        expect(text).not.toMatch(/<@U0RESPOND2>/);
        expect(text).not.toMatch(/<https:\/\/evil/);
      }
      expect(JSON.stringify(command.body)).not.toMatch(/<!(channel|here|everyone)/);
    });
  });

  it("lets no side-effect job die", async () => {
    expect(await deadJobs(h.app)).toEqual([]);
  });
});

// =================================================================================================
// Other authentication settings (each its own app).
// =================================================================================================

describe("with basic auth (ALERTMANAGER_USERNAME/PASSWORD)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env: { ALERTMANAGER_USERNAME: BASIC_USER, ALERTMANAGER_PASSWORD: BASIC_PASSWORD } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it("accepts the configured credentials and refuses anything else with 401", async () => {
    const payload = notification([firing({ alertname: "BasicAuthProbe", severity: "info" })], { alertname: "BasicAuthProbe" });
    for (const authorization of [null, basic(BASIC_USER, "wrong-password-0000"), basic("someone", BASIC_PASSWORD), `Bearer ${BASIC_PASSWORD}`, "Basic !!!not-base64"]) {
      const answer = await postWebhook(h.app.url, payload, { authorization });
      expect(answer.status, String(authorization)).toBe(401);
      expect(answer.headers.get("www-authenticate")).toMatch(/^Basic /);
    }
    expect(await h.app.database.prisma.alertDelivery.count()).toBe(0);

    const answer = await postWebhook(h.app.url, payload, { authorization: basic(BASIC_USER, BASIC_PASSWORD) });
    expect(answer.status).toBe(200);
    await deliveriesProcessed(h.app);
    expect(await groupByKey(h.app, payload.groupKey)).toMatchObject({ disposition: "RECORD", status: "FIRING" });
    expect(h.app.logs.text()).not.toContain(BASIC_PASSWORD);
  });
});

describe("with no Alertmanager credentials configured", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  it("starts without the webhook: the endpoint is absent (404) and nothing is stored", async () => {
    expect((await fetch(`${h.app.url}/readyz`)).status).toBe(200);
    const answer = await postWebhook(h.app.url, notification([firing({ alertname: "NoAuth", severity: "critical" })], { alertname: "NoAuth" }));
    expect(answer.status).toBe(404);
    expect(await h.app.database.prisma.alertDelivery.count()).toBe(0);
    expect(h.app.logs.text()).toContain("the Alertmanager webhook is off");
  });
});

// =================================================================================================
// Database unavailable: 503 (Alertmanager retries 5xx), never a 4xx.
// =================================================================================================

describe("when the database is unavailable", () => {
  it("answers 503 with Retry-After, never 4xx; accepts again once the server is back", async () => {
    const server = await startThrowawayServer();
    const url = server.url;
    let h: Harness | undefined;
    try {
      h = await startHarness({ env: { ALERTMANAGER_TOKEN: TOKEN }, databaseUrl: url });
      const payload = notification([firing({ alertname: "DbDownProbe", severity: "info" })], { alertname: "DbDownProbe" });
      expect((await postWebhook(h.app.url, payload)).status).toBe(200);

      await server.stop();

      for (let i = 0; i < 3; i += 1) {
        // New notifications (an identical copy of the stored one would be answered from it).
        const answer = await postWebhook(h.app.url, notification([firing({ alertname: "DbDownProbe", severity: "info", instance: `down-${i}` })], { alertname: "DbDownProbe" }));
        expect(answer.status).toBe(503);
        expect(answer.headers.get("retry-after")).toBe("5");
        expect(answer.body.ok).toBe(false);
        expect(answer.elapsedMs).toBeLessThan(10_000);
      }
      expect(h.app.logs.text()).toContain("could not store an Alertmanager delivery");

      // Back: Alertmanager's retry is accepted and processed, without restarting Firebreak.
      await server.restart();
      const retried = notification([firing({ alertname: "DbDownProbe", severity: "info", instance: "down-0" })], { alertname: "DbDownProbe" });
      await eventually(async () => (await postWebhook(h!.app.url, retried)).status === 200 || undefined, 20_000, "the webhook accepting again");
      await eventually(async () => (await h!.app.database.prisma.alert.count({ where: { labels: { path: ["instance"], equals: "down-0" } } })) === 1 || undefined, 20_000, "the retried alert stored");
    } finally {
      await h?.stop();
      await server.remove();
    }
  }, 60_000);
});

// =================================================================================================
// Real PostgreSQL: concurrent deliveries.
// =================================================================================================

const STORM_CONFIG = `
alerts:
  routes:
    - name: warnings
      match: { severity: warning }
      severity: SEV3
      action: declare
`;

describe("on PostgreSQL, concurrently", () => {
  let database: TestDatabase;
  let h: Harness;
  /** Moved forward where a test is about time passing (the ingest queue's shedding). */
  const clock = testClock();

  beforeAll(async () => {
    database = await createTestDatabase(inject("postgresUrl"));
    h = await startHarness({
      clock,
      env: { ALERTMANAGER_TOKEN: TOKEN },
      config: STORM_CONFIG,
      databaseUrl: database.url,
      // The storm: 30 incidents within a second, 30 channels created back to back. Pacing is
      // channel-pacing.test.ts's subject, surviving the storm this one's.
      rateLimits: BACK_TO_BACK_INCIDENTS,
    });
  });

  afterAll(async () => {
    await h?.stop();
    await database?.drop();
  });

  afterEach(async () => {
    await jobsIdle(h.app, 40_000);
  });

  it("uses the server, not the embedded database", () => {
    expect(h.app.database.kind).toBe("postgres");
  });

  it("processes a delivery only once no other transaction holds its group, reading the group's alerts after that", async () => {
    const alert = firing({ alertname: "GroupHeld", severity: "warning", instance: "held-1" }, { summary: "Held group" }, minutesAgo(5));
    const groupLabels = { alertname: "GroupHeld" };
    const declared = notification([alert], groupLabels);
    expect((await postWebhook(h.app.url, declared)).status).toBe(200);
    const incident = await incidentOfGroup(h.app, declared.groupKey);
    await jobsIdle(h.app, 40_000);

    // Another session (a second replica, say) holds the group's row...
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      const { rows } = await holder.query<{ id: string }>("SELECT id FROM alert_groups WHERE group_key = $1 FOR UPDATE", [declared.groupKey]);
      const resolved = resolvedAt(alert, minutesAgo(1));
      expect((await postWebhook(h.app.url, notification([resolved], groupLabels))).status).toBe(200);
      // ...so the delivery's processing waits for it,
      await eventually(
        async () => (await holder.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'firebreak' AND wait_event_type = 'Lock' AND datname = current_database()")).rows[0]!.n > 0,
        15_000,
        "the processing waiting for the group",
      );
      // ...during which the holder records the resolve itself.
      await holder.query("UPDATE alerts SET status = 'RESOLVED', ends_at = $2 WHERE group_id = $1", [rows[0]!.id, resolved.endsAt]);
      await holder.query("COMMIT");
    } finally {
      await holder.end();
    }
    await deliveriesProcessed(h.app, 20_000);

    // Read after the wait, the alert was resolved already: no transition of its own, and the group settled as resolved.
    expect(await eventsOf(h.app, incident.id, ["alert.resolved"])).toEqual([]);
    expect(await groupByKey(h.app, declared.groupKey)).toMatchObject({ status: "RESOLVED", resolvedAt: expect.any(Date) as unknown });
  });

  it("keeps the body as the text received, in `payload` (PostgreSQL compresses it), and processes it", async () => {
    const payload = notification([firing({ alertname: "TextBody", severity: "warning" }, { summary: "disk <full> & ünïcødé 🚨" })], { alertname: "TextBody" });
    const sent = JSON.stringify(payload).replaceAll("<", "\\u003c").replaceAll(">", "\\u003e");
    const answer = await postWebhook(h.app.url, sent);
    expect(answer.status).toBe(200);
    const delivery = await h.app.database.prisma.alertDelivery.findUniqueOrThrow({ where: { id: BigInt(String(answer.body.delivery)) } });
    expect(delivery.payload).toBe(sent);
    expect(delivery.payload).toBe(sent);
    await deliveriesProcessed(h.app, 20_000);
    const stored = await h.app.database.prisma.alert.findFirstOrThrow({ where: { fingerprint: payload.alerts[0]!.fingerprint } });
    expect(stored.annotations).toMatchObject({ summary: "disk <full> & ünïcødé 🚨" });
  });

  it("merges concurrent deliveries of one notification from 10 Alertmanager instances into one incident, one channel, one alerts message", async () => {
    const alert = firing({ alertname: "HaDuplicate", severity: "critical", instance: "db-1" }, { summary: "Primary database unreachable" }, rfc3339Nano(minutesAgo(2), "330171"));
    const payload = notification([alert], { alertname: "HaDuplicate" });
    // Each instance has its own external URL: the copies are not byte-identical, so each
    // is stored and processing merges them, concurrently, under the group's lock.
    const fromInstances = Array.from({ length: 10 }, (_, i) => ({ ...payload, externalURL: `http://alertmanager-${i}.example.internal:9093` }));
    const mark = h.slack.calls.length;
    const answers = await Promise.all(fromInstances.map((body) => postWebhook(h.app.url, body)));
    expect(answers.map((answer) => answer.status)).toEqual(Array<number>(10).fill(200));
    expect(new Set(answers.map((answer) => answer.body.delivery)).size).toBe(10);

    const incident = await incidentOfGroup(h.app, payload.groupKey);
    await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
    await deliveriesProcessed(h.app);
    await jobsIdle(h.app);

    expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: payload.groupKey } })).toBe(10);
    expect(await h.app.database.prisma.alertGroup.count({ where: { groupKey: payload.groupKey } })).toBe(1);
    expect(await h.app.database.prisma.alert.count({ where: { fingerprint: alert.fingerprint } })).toBe(1);
    expect(await h.app.database.prisma.incident.count({ where: { title: "Primary database unreachable" } })).toBe(1);
    expect(sinceMark(h.slack, mark).filter((call) => call.method === "conversations.create")).toHaveLength(1);
    expect(alertsMessages(h.slack, incident.channelId)).toHaveLength(1);
    expect(await eventsOf(h.app, incident.id, ["alert.firing"])).toHaveLength(1);
    expect(incident.startedAt?.getTime()).toBe(new Date(alert.startsAt).getTime());
  });

  it("stores an HA pair's identical concurrent copies once: every copy is answered 2xx with the original's row", async () => {
    const alert = firing({ alertname: "HaIdentical", severity: "critical", instance: "db-2" }, { summary: "Replica lag above 30 s" });
    const payload = notification([alert], { alertname: "HaIdentical" });
    const mark = h.slack.calls.length;
    const answers = await Promise.all(Array.from({ length: 10 }, () => postWebhook(h.app.url, payload)));
    expect(answers.map((answer) => answer.status)).toEqual(Array<number>(10).fill(200));
    const [id, ...others] = new Set(answers.map((answer) => answer.body.delivery));
    expect(others).toEqual([]);
    expect(answers.filter((answer) => answer.body.copy === true)).toHaveLength(9);

    const incident = await incidentOfGroup(h.app, payload.groupKey);
    await eventually(async () => alertsMessages(h.slack, incident.channelId).length > 0, 15_000, "alerts message");
    await deliveriesProcessed(h.app);
    await jobsIdle(h.app);
    expect(await h.app.database.prisma.alertDelivery.findMany({ where: { groupKey: payload.groupKey }, select: { id: true } })).toEqual([{ id: BigInt(String(id)) }]);
    expect(await h.app.database.prisma.job.count({ where: { kind: "alert.process_delivery", payload: { equals: { deliveryId: String(id) } } } })).toBe(1);
    expect(await h.app.database.prisma.incident.count({ where: { title: "Replica lag above 30 s" } })).toBe(1);
    expect(sinceMark(h.slack, mark).filter((call) => call.method === "conversations.create")).toHaveLength(1);
    expect(alertsMessages(h.slack, incident.channelId)).toHaveLength(1);
    expect(await eventsOf(h.app, incident.id, ["alert.firing"])).toHaveLength(1);
  });

  it("stores 100 concurrent deliveries each exactly once, with one processing job each, and answers each only once it is committed", async () => {
    const payloads = Array.from({ length: 100 }, (_, i) => notification([firing({ alertname: `Concurrent${i}`, severity: "info", instance: `node-${i}` })], { alertname: `Concurrent${i}` }));
    const seenAtAnswer: boolean[] = [];
    const answers = await Promise.all(
      payloads.map(async (payload) => {
        const answer = await postWebhook(h.app.url, payload);
        // Committed before the answer: visible to another connection as soon as it arrives.
        if (answer.status === 200) seenAtAnswer.push((await h.app.database.prisma.alertDelivery.count({ where: { id: BigInt(String(answer.body.delivery)), groupKey: payload.groupKey } })) === 1);
        return answer;
      }),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array<number>(100).fill(200));
    expect(seenAtAnswer).toEqual(Array<boolean>(100).fill(true));
    const ids = answers.map((answer) => String(answer.body.delivery));
    expect(new Set(ids).size).toBe(100);
    expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: { in: payloads.map((payload) => payload.groupKey) } } })).toBe(100);
    const jobs = await h.app.database.prisma.job.findMany({ where: { kind: "alert.process_delivery" }, select: { payload: true } });
    const jobsPerDelivery = new Map<string, number>();
    for (const job of jobs) {
      const deliveryId = isRecord(job.payload) && typeof job.payload.deliveryId === "string" ? job.payload.deliveryId : "";
      jobsPerDelivery.set(deliveryId, (jobsPerDelivery.get(deliveryId) ?? 0) + 1);
    }
    expect(ids.map((deliveryId) => jobsPerDelivery.get(deliveryId))).toEqual(Array<number>(100).fill(1));
    await deliveriesProcessed(h.app, 40_000);
    expect(await h.app.database.prisma.alertGroup.count({ where: { groupKey: { in: payloads.map((payload) => payload.groupKey) } } })).toBe(100);
  }, 60_000);

  describe("when the insert is slow or fails", () => {
    let admin: pg.Client;

    beforeAll(async () => {
      admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      // Test-side triggers: a delivery of a "BatchBlocker" group holds its statement for 3 s;
      // one of a "BatchPoison" group makes its statement fail.
      await admin.query(`
        CREATE FUNCTION fb_test_insert_hook() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.group_key LIKE '%BatchBlocker%' THEN PERFORM pg_sleep(3); END IF;
          IF NEW.group_key LIKE '%BatchPoison%' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER fb_test_insert_hook BEFORE INSERT ON alert_deliveries FOR EACH ROW EXECUTE FUNCTION fb_test_insert_hook();`);
    });

    afterAll(async () => {
      await admin?.query("DROP TRIGGER IF EXISTS fb_test_insert_hook ON alert_deliveries; DROP FUNCTION IF EXISTS fb_test_insert_hook()");
      await admin?.end();
    });

    const info = (name: string, instance = "n1") => notification([firing({ alertname: name, severity: "info", instance })], { alertname: name });

    /** Occupies every statement slot of the webhook on PostgreSQL with slow inserts. */
    const SLOTS = ingestTuning().maxFlushes;
    async function blockAllSlots(tag: string): Promise<Array<Promise<WebhookAnswer>>> {
      const blockers: Array<Promise<WebhookAnswer>> = [];
      for (let i = 0; i < SLOTS; i += 1) {
        blockers.push(postWebhook(h.app.url, info(`BatchBlocker${tag}${i}`)));
        await eventually(
          async () => Number((await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%alert_deliveries%'")).rows[0]?.n) === i + 1,
          10_000,
          `blocker ${i + 1} in its statement`,
        );
      }
      return blockers;
    }

    it("answers 503 to every delivery of a batch whose statement fails, storing none of them, and bad luck does not stick", async () => {
      const processingJobs = () => h.app.database.prisma.job.count({ where: { kind: "alert.process_delivery" } });
      const before = await storedCounts(h.app);
      const processingBefore = await processingJobs();
      const blockers = await blockAllSlots("A");
      // These wait together for a statement slot, so they share the next batch with the poison.
      const members = Array.from({ length: 10 }, (_, i) => info(`BatchMember${i}`));
      const answers = await Promise.all([postWebhook(h.app.url, info("BatchPoison")), ...members.map((payload) => postWebhook(h.app.url, payload))]);
      expect((await Promise.all(blockers)).map((answer) => answer.status)).toEqual(Array<number>(SLOTS).fill(200));

      expect(answers.map((answer) => answer.status)).toEqual(Array<number>(11).fill(503));
      expect(answers.every((answer) => answer.headers.get("retry-after") === "5" && answer.body.ok === false)).toBe(true);
      const after = await storedCounts(h.app);
      expect(after.deliveries).toBe(before.deliveries + SLOTS); // the blockers only
      expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: { in: members.map((payload) => payload.groupKey) } } })).toBe(0);
      expect(await processingJobs()).toBe(processingBefore + SLOTS); // the blockers' only

      // Alertmanager retries the members: stored now, each once (a failed original is not remembered as stored).
      const retried = await Promise.all(members.map((payload) => postWebhook(h.app.url, payload)));
      expect(retried.map((answer): unknown[] => [answer.status, answer.body.copy])).toEqual(Array.from({ length: 10 }, () => [200, undefined]));
      expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: { in: members.map((payload) => payload.groupKey) } } })).toBe(10);
    }, 30_000);

    it("refuses deliveries at once with 503 and Retry-After when they would wait too long to be stored", async () => {
      const blockers = await blockAllSlots("B");
      const waiting = postWebhook(h.app.url, info("ShedWaiting"));
      // The database has not taken a delivery for over a second: new ones are refused, not queued.
      await eventually(async () => /^firebreak_alert_deliveries_waiting 1$/m.test(await (await fetch(`${h.app.url}/metrics`)).text()), 5_000, "the delivery waits");
      clock.advance(1_300);
      const refused = await postWebhook(h.app.url, info("ShedRefused"));
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(refused.body.ok).toBe(false);
      expect(String(refused.body.error)).toMatch(/overloaded/);

      expect((await waiting).status).toBe(200);
      expect((await Promise.all(blockers)).map((answer) => answer.status)).toEqual(Array<number>(SLOTS).fill(200));
      expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: info("ShedRefused").groupKey } })).toBe(0);
      // Caught up: the retry is stored.
      expect((await postWebhook(h.app.url, info("ShedRefused"))).status).toBe(200);
      expect(await h.app.database.prisma.alertDelivery.count({ where: { groupKey: info("ShedRefused").groupKey } })).toBe(1);
      expect(h.app.logs.text()).toContain("Alertmanager deliveries refused (overloaded)");
    }, 30_000);
  });

  it("survives a storm of 30 groups: quick 2xx, 30 incidents and channels, sequential channel creation, SEV1 first", async () => {
    const CREATE_LATENCY_MS = 150;
    // Creates are slow until every storm incident is queued, so that a backlog of creates is
    // left to be ordered by severity however slowly this machine commits the incidents (on a
    // loaded machine, 150 ms creates could otherwise all but finish before the last incident
    // is queued, and the order check below would have nothing to look at).
    const CREATE_LATENCY_UNTIL_QUEUED_MS = 1_500;
    h.slack.setLatency(CREATE_LATENCY_UNTIL_QUEUED_MS, "conversations.create");
    try {
      const mark = h.slack.calls.length;
      const payloads = Array.from({ length: 30 }, (_, i) => {
        const severity = i % 3 === 2 ? "warning" : "critical";
        return notification([firing({ alertname: `StormAlert${i}`, severity, instance: `node-${i}` }, { summary: `Storm alert ${i} ${severity}` })], {
          alertname: `StormAlert${i}`,
        });
      });
      const answers = await Promise.all(payloads.map((payload) => postWebhook(h.app.url, payload)));
      expect(answers.map((answer) => answer.status)).toEqual(Array<number>(30).fill(200));
      expect(Math.max(...answers.map((answer) => answer.elapsedMs))).toBeLessThan(2_000);

      // When has every storm incident (and so its create_channel job) been committed?
      const stormIncidents = () => h.app.database.prisma.incident.findMany({ where: { title: { startsWith: "Storm alert " } } });
      await eventually(async () => (await stormIncidents()).length === 30, 20_000, "30 storm incidents");
      const allQueuedAt = Date.now();
      h.slack.setLatency(CREATE_LATENCY_MS, "conversations.create");

      const incidents = await eventually(
        async () => {
          const rows = await stormIncidents();
          return rows.every((row) => row.channelId) ? rows : undefined;
        },
        40_000,
        "30 storm channels",
      );
      expect(incidents).toHaveLength(30);
      expect(incidents.filter((incident) => incident.severity === "SEV1")).toHaveLength(20);
      expect(incidents.filter((incident) => incident.severity === "SEV3")).toHaveLength(10);
      expect(new Set(incidents.map((incident) => incident.channelId)).size).toBe(30);

      const severityByNumber = new Map(incidents.map((incident) => [incident.number, incident.severity]));
      const creates = sinceMark(h.slack, mark)
        .filter((call) => call.method === "conversations.create" && call.ok)
        .sort((a, b) => a.at - b.at);
      expect(creates).toHaveLength(30);

      // Sequential: each create arrives only after the previous one was answered.
      for (let i = 1; i < creates.length; i += 1) {
        expect(creates[i]!.at - creates[i - 1]!.at, `create ${i} overlaps the previous one`).toBeGreaterThanOrEqual(CREATE_LATENCY_MS - 2);
      }

      // Most severe first: a create claimed after every storm incident was queued picks the
      // most severe remaining one, so from there on no SEV1 comes after a SEV3.
      const severities = creates.map((call) => {
        const number = Number(/^inc-(\d+)-/.exec(String(call.args.name))?.[1]);
        return severityByNumber.get(number);
      });
      expect(severities.every((severity) => severity !== undefined)).toBe(true);
      const firstAfterQueued = creates.findIndex((_call, i) => i > 0 && creates[i - 1]!.at >= allQueuedAt);
      expect(firstAfterQueued).toBeGreaterThan(0);
      const tail = severities.slice(firstAfterQueued);
      expect(tail).toContain("SEV1");
      expect(tail).toContain("SEV3");
      expect(tail, `order of creates: ${severities.join(",")}`).toEqual([...tail].sort());

      // Every storm incident eventually shows its alerts.
      await eventually(async () => incidents.every((incident) => alertsMessages(h.slack, incident.channelId!).length === 1), 40_000, "alerts message in every storm channel");
    } finally {
      h.slack.setLatency(0);
    }
  }, 110_000);

  it("lets no side-effect job die", async () => {
    expect(await deadJobs(h.app)).toEqual([]);
  });
});
