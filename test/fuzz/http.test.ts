import { createHmac } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFakePagerDuty, type FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { GENERAL_CHANNEL_ID, startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import {
  applyByteMutation,
  applyMutation,
  byteMutation,
  decodeJson,
  describeRequest,
  escapeMode,
  hasPoisonKey,
  headerValue,
  hostileString,
  isRecord,
  isUnstorable,
  judge,
  mutation,
  rowCounts,
  runPool,
  send,
  serialize,
  setOwn,
  someKeyOrString,
  transport,
  type ByteMutation,
  type EscapeMode,
  type Expectation,
  type FuzzCase,
  type JsonLike,
  type Mutation,
  type Outcome,
  type RequestSpec,
  type RowCounts,
} from "../support/fuzz.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { TEST_SIGNING_SECRET } from "../support/slack-requests.ts";

/**
 * Hostile input (issue 16): every HTTP endpoint of the real app (started through its
 * composition root against the fake Slack and a fake PagerDuty, on its own database) gets
 * generated requests from fast-check with a fixed seed: mutated valid bodies (deleted fields,
 * swapped types, huge strings, deep nesting, "__proto__"/"constructor" keys, \u escapes, NUL and
 * lone surrogates), invalid UTF-8, wrong or missing content types, bodies over the limits, bad,
 * missing, stale, future and replayed Slack signatures and timestamps, bad PagerDuty signatures
 * (and correctly signed malformed events), bad bearer tokens, odd paths, query strings, methods
 * and raw protocol violations. Valid requests are a minority.
 *
 * For every case: the answer is of the right class (2xx only for a valid and authorized request,
 * 4xx for bad input or credentials, never a 5xx: the documented 503 + Retry-After for overload or
 * an unavailable database must not happen here), within a deadline; /healthz answers after each
 * batch; requests that must be refused are sent as a batch of their own and every table's row
 * count is the same after it; after the accepted ones the job queue drains with no job failed or
 * left retrying, every Alertmanager delivery processed without error and every incident complete;
 * nothing is logged at level error. The raw-protocol batch runs with 32 connections left
 * half-open (slow clients must not hold anyone up); at the end /healthz and /readyz answer and
 * /metrics has a bounded number of request series (hostile paths are not labels).
 *
 * Part of `npm test` (about a minute on two cores); `npm run test:fuzz` runs it alone. Replay: the
 * seed is printed with every failure (`FUZZ_SEED=<seed>` regenerates the same cases;
 * `FUZZ_ONLY=<endpoint>:<index>[,...]` sends only those). `FUZZ_SCALE=0.1` runs a tenth of the
 * cases while working on the test, `FUZZ_SCALE=10` ten times as many (with longer timeouts).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 160_016);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const ONLY = new Set((process.env.FUZZ_ONLY ?? "").split(",").filter((entry) => entry !== ""));
const CONCURRENCY = 8;
/** Each endpoint's run: about 30 s at scale 1 on a busy two-core machine, so twice that and more. */
const TIMEOUT_MS = 120_000 * Math.max(1, SCALE);
const DEADLINE_MS = 10_000;

/** Cases per endpoint: 10,100 in all. */
const RUNS = {
  slack: 3_000,
  alertmanager: 2_600,
  pagerduty: 2_000,
  api: 1_500,
  ops: 600,
  protocol: 400,
} as const;
type Endpoint = keyof typeof RUNS;
const runsOf = (endpoint: Endpoint) => Math.max(1, Math.round(RUNS[endpoint] * SCALE));
const seedOf = (endpoint: Endpoint) => SEED + Object.keys(RUNS).indexOf(endpoint);

const BODY_LIMIT = 1024 * 1024;
const PAGERDUTY_BODY_LIMIT = 256 * 1024;
const AM_TOKEN = "am-fuzz-token-0123456789abcdef";
const API_TOKEN = "api-fuzz-token-0123456789abcdef";
const PD_SECRET = "pd-fuzz-webhook-secret-0123456789";
/** An Events API v2 integration key: 32 characters. */
const ROUTING_KEY = `${"R0UTEFUZZCHECKOUT".padEnd(31, "0")}1`;
const FIXTURE_ALERT = "FuzzFixtureDown";

let slack: FakeSlack;
let pd: FakePagerDuty;
let db: TestDatabase;
let app: TestApp;
let configDir: string;
let agent: Agent;
/** The page the fixture incident sent: correctly signed PagerDuty events about it are recorded. */
let fixtureDedupKey: string;
const logs = captureLogs("info");
const sent: Record<string, number> = {};

// ---- running cases ------------------------------------------------------------------------------

interface Failure {
  readonly fuzzCase: FuzzCase;
  readonly outcome: Outcome;
  readonly problem: string;
}

async function health(): Promise<void> {
  const response = await fetch(`${app.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
  expect(response.status, "/healthz after a batch").toBe(200);
}

async function counts(): Promise<RowCounts> {
  return rowCounts((sql) => app.database.prisma.$queryRawUnsafe(sql));
}

/** Sends the cases 8 at a time; returns the wrong answers. */
async function sendAll(cases: readonly FuzzCase[]): Promise<Failure[]> {
  const failures: Failure[] = [];
  await runPool(cases, CONCURRENCY, async (fuzzCase) => {
    const outcome = await send(app.url, fuzzCase.build(Date.now()), agent, DEADLINE_MS);
    sent[fuzzCase.endpoint] = (sent[fuzzCase.endpoint] ?? 0) + 1;
    const problem = judge(fuzzCase.expect, outcome, DEADLINE_MS);
    if (problem) failures.push({ fuzzCase, outcome, problem });
  });
  return failures;
}

/** Errors the app logged (level error or fatal) since `from`: with a failure, the stack. */
function errorLogs(from: number): string[] {
  return logs.lines.slice(from).filter((line) => /"level":(50|60)/.test(line));
}

/** The errors logged since `from`, one example per message and first stack frame, with counts. */
function describeErrorLogs(from: number): string[] {
  const groups = new Map<string, { count: number; example: string }>();
  for (const line of errorLogs(from)) {
    let key = line.slice(0, 200);
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { message?: string; stack?: string } };
      key = `${entry.msg ?? ""}: ${entry.err?.message ?? ""} ${entry.err?.stack?.split("\n")[1]?.trim() ?? ""}`;
    } catch {
      // not JSON: keyed by its start
    }
    const group = groups.get(key);
    if (group) group.count += 1;
    else groups.set(key, { count: 1, example: line.trim().slice(0, 2_500) });
  }
  return [...groups.values()].map(({ count, example }) => `  ${count} × ${example}`);
}

function report(endpoint: Endpoint, failures: readonly Failure[]): string {
  const groups = new Map<string, Failure[]>();
  for (const failure of failures) {
    const key = `${failure.problem.replace(/\d+ ms/g, "N ms")} | ${failure.fuzzCase.label.split(";")[0] ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), failure]);
  }
  const lines = [`${failures.length} wrong answer(s) from ${endpoint} (seed ${seedOf(endpoint)}; replay: FUZZ_SEED=${SEED} FUZZ_ONLY=${endpoint}:<index>)`];
  for (const [key, members] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
    lines.push(`\n== ${members.length} × ${key}`);
    for (const failure of members.slice(0, 2)) {
      lines.push(`  case ${endpoint}:${failure.fuzzCase.index}: ${failure.fuzzCase.label}`);
      lines.push(`    ${describeRequest(failure.outcome.request)}`);
      lines.push(`    answer: ${failure.outcome.status ?? "none"} ${JSON.stringify(failure.outcome.bodyExcerpt)}`);
    }
    for (const failure of members.slice(2, 30)) lines.push(`  case ${endpoint}:${failure.fuzzCase.index}: ${failure.fuzzCase.label.slice(0, 200)} -> ${failure.outcome.status ?? "none"}`);
    if (members.length > 30) lines.push(`  … and ${members.length - 30} more`);
  }
  return lines.join("\n");
}

/** What was already there before a batch: a batch answers only for what it adds. */
interface Baseline {
  readonly lastJob: bigint;
  readonly deadJobs: ReadonlySet<bigint>;
  readonly channelless: ReadonlySet<number>;
  readonly lastDelivery: bigint;
}

async function baseline(): Promise<Baseline> {
  const dead = await app.database.prisma.job.findMany({ where: { status: "DEAD" }, select: { id: true } });
  const channelless = await app.database.prisma.incident.findMany({ where: { channelId: null }, select: { number: true } });
  const lastDelivery = await app.database.prisma.alertDelivery.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
  const lastJob = await app.database.prisma.job.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
  return { lastJob: lastJob?.id ?? 0n, deadJobs: new Set(dead.map((job) => job.id)), channelless: new Set(channelless.map((incident) => incident.number)), lastDelivery: lastDelivery?.id ?? 0n };
}

/** Jobs enqueued after `afterJob` still running, due, or waiting to be retried. */
function busyJobs(afterJob: bigint) {
  return app.database.prisma.job.findMany({
    where: { id: { gt: afterJob }, OR: [{ status: "RUNNING" }, { status: "PENDING", runAt: { lte: new Date() } }, { status: "PENDING", lastError: { not: null } }] },
    take: 5,
  });
}

/**
 * Waits until the jobs enqueued after `afterJob` are done (those scheduled for later, such as
 * reminders, do not count); returns why they were not. Waits as long as jobs keep finishing (a
 * batch's hundreds of deliveries take longer on a machine busy with other test files), and gives
 * up when none has finished for `stallMs`. Older stuck jobs were reported already.
 */
async function drain(afterJob: bigint, stallMs = 20_000): Promise<string | undefined> {
  let finished = -1;
  let progressAt = Date.now();
  for (;;) {
    const busy = await busyJobs(afterJob);
    if (busy.length === 0) return undefined;
    const now = await app.database.prisma.job.count({ where: { id: { gt: afterJob }, OR: [{ status: "DONE" }, { status: "DEAD" }] } });
    if (now !== finished) {
      finished = now;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > stallMs) {
      return `the job queue did not drain: no job finished for ${stallMs} ms, and these wait: ${JSON.stringify(busy.map((job) => ({ kind: job.kind, status: job.status, attempts: job.attempts, payload: job.payload, lastError: job.lastError?.slice(0, 800) })), null, 1)}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let previousBaseline: Baseline | undefined;

/** What the batch left broken: dead jobs, deliveries not processed cleanly, incidents without a channel. */
async function integrityProblems(base: Baseline): Promise<string[]> {
  const problems: string[] = [];
  const dead = (await app.database.prisma.job.findMany({ where: { status: "DEAD" } })).filter((job) => !base.deadJobs.has(job.id));
  if (dead.length > 0) problems.push(`${dead.length} job(s) died: ${JSON.stringify(dead.slice(0, 3).map((job) => ({ kind: job.kind, payload: job.payload, attempts: job.attempts, lastError: job.lastError?.slice(0, 800) })), null, 1)}`);
  const deliveries = await app.database.prisma.alertDelivery.findMany({ where: { id: { gt: base.lastDelivery }, OR: [{ processedAt: null }, { error: { not: null } }] }, select: { id: true, groupKey: true, error: true }, take: 5 });
  if (deliveries.length > 0) problems.push(`Alertmanager deliveries not processed, or processed with an error: ${JSON.stringify(deliveries.map((delivery) => ({ ...delivery, id: String(delivery.id) })))}`);
  const channelless = (await app.database.prisma.incident.findMany({ where: { channelId: null }, select: { number: true, title: true, declaredById: true, commanderId: true } })).filter((incident) => !base.channelless.has(incident.number));
  if (channelless.length > 0) problems.push(`incident(s) left without a channel (a partial declare): ${JSON.stringify(channelless.slice(0, 5))}`);
  return problems;
}

function countChanges(before: RowCounts, after: RowCounts): string | undefined {
  const changed = (Object.keys(before) as Array<keyof RowCounts>).filter((table) => before[table] !== after[table]);
  return changed.length === 0 ? undefined : changed.map((table) => `${table} ${before[table]} -> ${after[table]}`).join(", ");
}

/**
 * One endpoint's run: the cases that must be refused first, as a batch whose row counts are
 * compared; then the others (valid, or either answer right), after which the queue must drain
 * and leave nothing broken. Every problem is reported at once.
 */
async function fuzz(endpoint: Endpoint, cases: readonly FuzzCase[], options: { readOnly?: boolean } = {}): Promise<void> {
  const chosen = ONLY.size === 0 ? cases : cases.filter((fuzzCase) => ONLY.has(`${endpoint}:${fuzzCase.index}`));
  // A read-only endpoint stores nothing, whatever the answer: all its cases go in the compared batch.
  const refused = options.readOnly ? chosen : chosen.filter((fuzzCase) => fuzzCase.expect.class === "4xx");
  const others = options.readOnly ? [] : chosen.filter((fuzzCase) => fuzzCase.expect.class !== "4xx");

  // The previous batch's work first (its problems were its own report's).
  if (previousBaseline) await drain(previousBaseline.lastJob, 10_000);
  const base = await baseline();
  previousBaseline = base;
  const fromLine = logs.lines.length;
  const before = await counts();
  const refusedFailures = await sendAll(refused);
  const after = await counts();
  await health();
  const otherFailures = await sendAll(others);
  await health();

  const problems: string[] = [];
  const failures = [...refusedFailures, ...otherFailures];
  if (failures.length > 0) problems.push(report(endpoint, failures));
  const stored = countChanges(before, after);
  if (stored) {
    // Which jobs, if any (a job of an earlier batch that enqueued another one would show here too).
    const jobs = after.jobs === before.jobs ? [] : await app.database.prisma.job.findMany({ where: { id: { gt: base.lastJob } }, orderBy: { id: "asc" }, take: 5, select: { kind: true, payload: true, runAt: true, createdAt: true } });
    problems.push(`${refused.length} refused ${endpoint} requests stored rows: ${stored}${jobs.length > 0 ? `; jobs since the batch began: ${JSON.stringify(jobs)}` : ""}`);
  }
  const drained = await drain(base.lastJob);
  if (drained) problems.push(`after the ${endpoint} requests, ${drained}`);
  problems.push(...(await integrityProblems(base)).map((problem) => `after the ${endpoint} requests, ${problem}`));
  const errors = describeErrorLogs(fromLine);
  if (errors.length > 0) problems.push(`the app logged errors (grouped):\n${errors.join("\n")}`);
  console.info(`${endpoint}: ${chosen.length} requests (${refused.length} ${options.readOnly ? "read-only" : "to refuse"}, ${others.length} valid or either), ${failures.length} wrong answer(s)`);
  expect(problems.join("\n\n")).toBe("");
}

function sample<T>(endpoint: Endpoint, arbitrary: fc.Arbitrary<T>): T[] {
  return fc.sample(arbitrary, { seed: seedOf(endpoint), numRuns: runsOf(endpoint) });
}

const hmacHex = (secret: string, ...parts: Array<string | Buffer>) => {
  const hmac = createHmac("sha256", secret);
  for (const part of parts) hmac.update(part);
  return hmac.digest("hex");
};

const json = (value: JsonLike, mode: EscapeMode = "none") => Buffer.from(serialize(value, mode), "utf8");

/** Pads a JSON object body past `limit` with an extra field (the body stays valid JSON). */
function oversize(body: Buffer, limit: number): Buffer {
  // A huge string can have made it large enough already.
  if (body.length > limit) return body;
  const text = body.toString("utf8");
  const padding = `"padding":"${"x".repeat(limit + 1_024 - body.length)}"`;
  return Buffer.from(text.startsWith("{") && text.length > 2 ? `{${padding},${text.slice(1)}` : `{${padding}}`, "utf8");
}

const either = (why: string): Expectation => ({ class: "2xx|4xx", why });
const refuse = (why: string, status?: number): Expectation => ({ class: "4xx", why, ...(status === undefined ? {} : { status }) });
const accept = (why: string): Expectation => ({ class: "2xx", why });

// ---- fixture ------------------------------------------------------------------------------------

function alertmanagerPayload(alertname: string, index: number, severity: string, extraLabels: Record<string, string> = {}): Record<string, JsonLike> {
  const labels: Record<string, JsonLike> = { alertname, severity, instance: `fuzz-${index}.example.internal:9100`, ...extraLabels };
  const startsAt = new Date(Date.UTC(2026, 0, 1, 0, index % 60, index % 60, index % 1000)).toISOString();
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}", instance="fuzz-${index}"}`,
    truncatedAlerts: 0,
    status: "firing",
    receiver: "firebreak",
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: { summary: `fuzz alert ${index}` },
    externalURL: "http://alertmanager.example.internal:9093",
    alerts: [
      {
        status: "firing",
        labels,
        annotations: { summary: `fuzz alert ${index}`, runbook_url: "https://runbooks.example.internal/fuzz?a=1&b=<2>" },
        startsAt,
        endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "http://prometheus.example.internal:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
        fingerprint: (index * 2654435761).toString(16).padStart(16, "0").slice(-16),
      },
    ],
  };
}

beforeAll(async () => {
  pd = await startFakePagerDuty({ tls: inject("tls") });
  pd.addService({ id: "PFUZZSV1", name: "Checkout", integrationKey: ROUTING_KEY });
  // Signed Slack commands and recorded PagerDuty events post far faster than people would.
  slack = await startFakeSlack({
    rateLimits: {
      "chat.postMessage": { perMinute: 6_000, burst: 600, perChannel: { perMinute: 600, burst: 60 } },
      "chat.postEphemeral": TEST_SPEED,
      "conversations.create": TEST_SPEED,
      "conversations.setTopic": TEST_SPEED,
      "conversations.invite": TEST_SPEED,
      "pins.add": TEST_SPEED,
      "bookmarks.add": TEST_SPEED,
      "bookmarks.edit": TEST_SPEED,
      "chat.update": TEST_SPEED,
      "views.open": TEST_SPEED,
      "users.info": TEST_SPEED,
    },
  });
  db = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_fuzz" });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-fuzz-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    [
      "services:",
      `  - { key: checkout, name: Checkout, pagerduty: { routingKey: ${ROUTING_KEY} } }`,
      "alerts:",
      // Fuzzed alerts are recorded, whatever their severity label: only the fixture declares.
      "  defaultAction: record",
      "  routes:",
      `    - { name: fixture, match: { alertname: ${FIXTURE_ALERT} }, service: checkout, severity: SEV1, action: declare }`,
    ].join("\n"),
  );
  app = await startTestApp({
    slack,
    databaseUrl: db.url,
    logs,
    env: {
      FIREBREAK_CONFIG: configFile,
      ALERTMANAGER_TOKEN: AM_TOKEN,
      API_TOKEN: API_TOKEN,
      PAGERDUTY_WEBHOOK_SECRET: PD_SECRET,
      PAGERDUTY_EVENTS_URL: pd.url,
      PAGERDUTY_TIMEOUT_MS: "3000",
      // The reconciler's rounds enqueue jobs on their own schedule: a refused batch's row counts would see them.
      RECONCILE_INTERVAL_SECONDS: "0",
    },
  });
  agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  // One incident (INC-1, declared by an alert, paged): the post-mortem API has something to
  // serve and signed PagerDuty events something to be about.
  const fixture = await fetch(`${app.url}/webhooks/alertmanager`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${AM_TOKEN}` },
    body: JSON.stringify(alertmanagerPayload(FIXTURE_ALERT, 0, "critical")),
  });
  expect(fixture.status).toBe(200);
  const page = await eventually(async () => (await app.database.prisma.page.findFirst({ where: { status: "TRIGGERED" } })) ?? undefined, 20_000, "the fixture incident's page");
  fixtureDedupKey = page.dedupKey;
  await waitForIdleJobs(app, 30_000);
}, 90_000);

afterAll(async () => {
  agent?.destroy();
  await app?.stop();
  await slack?.close();
  await pd?.close();
  await db?.drop();
  if (configDir) await removeDir(configDir);
  if (app?.dataDir) await removeDir(app.dataDir);
});

// ---- POST /slack/events -------------------------------------------------------------------------

type SlackBase = "help" | "list" | "show" | "text" | "declare" | "url_verification" | "ssl_check" | "event" | "block_actions" | "view_submission";

type SlackSignature =
  | { readonly kind: "valid"; readonly offset: number }
  | { readonly kind: "missing" | "missing-signature" | "missing-timestamp" | "wrong-secret" | "other-body" | "v1" | "truncated" | "empty" | "duplicated" }
  | { readonly kind: "garbage"; readonly value: string }
  | { readonly kind: "stale"; readonly offset: number }
  | { readonly kind: "future"; readonly offset: number }
  | { readonly kind: "timestamp-text"; readonly value: string };

interface SlackSpec {
  readonly base: SlackBase;
  readonly text: string;
  readonly eventType: "reaction_added" | "message" | "pin_added";
  readonly signature: SlackSignature;
  /** "natural": what Slack sends for this kind of body; null: no Content-Type. */
  readonly contentType: string | null;
  readonly mutations: readonly Mutation[];
  readonly bytes: ByteMutation | null;
  readonly escape: EscapeMode;
  readonly oversized: boolean;
  readonly retry: boolean;
}

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
/** Slack's retired "verification token" field. */
const SLACK_TOKEN_FIELD = "fuzz-verification-token";

const slackSignature: fc.Arbitrary<SlackSignature> = fc.oneof(
  { weight: 16, arbitrary: fc.integer({ min: -120, max: 60 }).map((offset) => ({ kind: "valid" as const, offset })) },
  {
    weight: 9,
    arbitrary: fc
      .constantFrom("missing" as const, "missing-signature" as const, "missing-timestamp" as const, "wrong-secret" as const, "other-body" as const, "v1" as const, "truncated" as const, "empty" as const, "duplicated" as const)
      .map((kind) => ({ kind })),
  },
  { weight: 2, arbitrary: hostileString.map((value) => ({ kind: "garbage" as const, value })) },
  // A replay: a request signed more than five minutes ago (its signature is right for its timestamp).
  { weight: 4, arbitrary: fc.integer({ min: 310, max: 100_000_000 }).map((age) => ({ kind: "stale" as const, offset: -age })) },
  { weight: 3, arbitrary: fc.integer({ min: 400, max: 100_000_000 }).map((ahead) => ({ kind: "future" as const, offset: ahead })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom("", " ", "NaN", "Infinity", "-Infinity", "1e309", "0x10", "abc", "-1", "0", "1.5"), hostileString)
      .map((value) => ({ kind: "timestamp-text" as const, value })),
  },
);

const slackSpec: fc.Arbitrary<SlackSpec> = fc.record({
  base: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<SlackBase>("help", "list", "show") },
    { weight: 4, arbitrary: fc.constant<SlackBase>("text") },
    { weight: 1, arbitrary: fc.constant<SlackBase>("url_verification") },
    { weight: 1, arbitrary: fc.constant<SlackBase>("ssl_check") },
    { weight: 4, arbitrary: fc.constant<SlackBase>("event") },
    { weight: 3, arbitrary: fc.constant<SlackBase>("block_actions") },
    { weight: 2, arbitrary: fc.constant<SlackBase>("view_submission") },
  ),
  text: hostileString,
  eventType: fc.constantFrom("reaction_added" as const, "message" as const, "pin_added" as const),
  signature: slackSignature,
  contentType: fc.oneof(
    { weight: 20, arbitrary: fc.constant("natural") },
    { weight: 1, arbitrary: fc.constantFrom<string | null>(FORM, JSON_TYPE, "application/json; charset=utf-8", "text/plain", null, "multipart/form-data; boundary=x", "APPLICATION/JSON", "application/x-www-form-urlencoded; charset=utf-16") },
    { weight: 1, arbitrary: hostileString.map(headerValue) },
  ),
  mutations: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  bytes: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: byteMutation }),
  escape: escapeMode,
  oversized: fc.oneof({ weight: 600, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  retry: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** Slash-command fields as Slack sends them (form-encoded); trigger ids are unique per case. */
function commandFields(index: number, text: string): Record<string, JsonLike> {
  return {
    token: SLACK_TOKEN_FIELD,
    team_id: "TFAKETEAM1",
    team_domain: "fake-workspace",
    channel_id: GENERAL_CHANNEL_ID,
    channel_name: "general",
    user_id: "U0DECLARER",
    user_name: "declarer",
    command: "/incident",
    text,
    api_app_id: "AFAKEAPP01",
    is_enterprise_install: "false",
    response_url: `https://hooks.slack.com/commands/TFAKETEAM1/${index}/fuzz`,
    trigger_id: `${1_700_000_000 + index}.${index}.fuzz${index.toString(16)}`,
  };
}

function slackEvent(index: number, type: SlackSpec["eventType"], text: string): Record<string, JsonLike> {
  const ts = `${1_700_000_000 + index}.000100`;
  const event: Record<string, JsonLike> =
    type === "reaction_added"
      ? { type, user: "U0DECLARER", reaction: "pushpin", item: { type: "message", channel: GENERAL_CHANNEL_ID, ts }, item_user: "U0DECLARER", event_ts: ts }
      : type === "message"
        ? { type, channel: GENERAL_CHANNEL_ID, channel_type: "channel", user: "U0DECLARER", text, ts, event_ts: ts }
        : { type, user: "U0DECLARER", channel_id: GENERAL_CHANNEL_ID, item: { type: "message", channel: GENERAL_CHANNEL_ID, created: 1_700_000_000, created_by: "U0DECLARER", message: { type: "message", user: "U0DECLARER", text, ts } }, event_ts: ts };
  return {
    token: SLACK_TOKEN_FIELD,
    team_id: "TFAKETEAM1",
    context_team_id: "TFAKETEAM1",
    api_app_id: "AFAKEAPP01",
    event,
    type: "event_callback",
    event_id: `Ev0FUZZ${index.toString(36).toUpperCase()}`,
    event_time: 1_700_000_000 + index,
    authorizations: [{ enterprise_id: null, team_id: "TFAKETEAM1", user_id: "UBOT00001", is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  };
}

function interaction(index: number, type: "block_actions" | "view_submission", text: string): Record<string, JsonLike> {
  const common: Record<string, JsonLike> = {
    user: { id: "U0DECLARER", username: "declarer", name: "declarer", team_id: "TFAKETEAM1" },
    api_app_id: "AFAKEAPP01",
    token: SLACK_TOKEN_FIELD,
    trigger_id: `${1_700_000_000 + index}.${index}.fuzz${index.toString(16)}`,
    team: { id: "TFAKETEAM1", domain: "fake-workspace" },
    is_enterprise_install: false,
    enterprise: null,
  };
  if (type === "block_actions") {
    return {
      type,
      ...common,
      container: { type: "message", message_ts: "1700000000.000100", channel_id: GENERAL_CHANNEL_ID, is_ephemeral: false },
      channel: { id: GENERAL_CHANNEL_ID, name: "general" },
      response_url: `https://hooks.slack.com/actions/TFAKETEAM1/${index}/fuzz`,
      actions: [{ type: "button", action_id: "fuzz_unknown_action", block_id: "fuzz", value: text, action_ts: "1700000000.000200", text: { type: "plain_text", text: "Fuzz" } }],
    };
  }
  return {
    type,
    ...common,
    view: {
      id: `V0FUZZ${index}`,
      type: "modal",
      callback_id: "fuzz_unknown_view",
      private_metadata: text,
      state: { values: { block: { input: { type: "plain_text_input", value: text } } } },
      hash: "1.fuzz",
      title: { type: "plain_text", text: "Fuzz" },
      blocks: [],
    },
    response_urls: [],
  };
}

const formEncode = (fields: JsonLike, mode: EscapeMode): string =>
  isRecord(fields)
    ? new URLSearchParams(Object.keys(fields).map((key) => {
        const value = (fields as Record<string, JsonLike>)[key] as JsonLike;
        return [key, typeof value === "string" ? value : serialize(value, mode)] as [string, string];
      })).toString()
    : serialize(fields, mode);

/** A signed Slack body's expected answer, from what Slack documents it sends. */
function signedSlackVerdict(body: Buffer, contentType: string | null, pristine: boolean): Expectation {
  const decoded = decodeJson(body);
  if (!decoded.wellFormedUtf8) return either("signed body that is not UTF-8 (Slack never sends one)");
  const text = body.toString("utf8");
  if (contentType === JSON_TYPE || contentType === "application/json; charset=utf-8") {
    if (!decoded.ok || !isRecord(decoded.value)) return refuse("signed JSON body that is not a JSON object");
  } else if (contentType === FORM) {
    const payload = new URLSearchParams(text).get("payload");
    if (payload !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload);
      } catch {
        return refuse("signed interaction whose payload is not JSON");
      }
      if (parsed === null || typeof parsed !== "object") return refuse("signed interaction whose payload is not a JSON object");
    }
  } else {
    return either("signed body with a content type Slack does not send");
  }
  return pristine ? accept("signed, as Slack sends it") : either("signed but altered payload: ignored or refused, never an error");
}

function slackCase(spec: SlackSpec, index: number): FuzzCase {
  const labels: string[] = [];
  let base: SlackBase = spec.base;
  let text = spec.text;
  if (base === "text" && /^\s*(declare|new|open)\b/i.test(text)) text = `x ${text}`;
  // About one free-text command in seven declares an incident with a hostile title.
  if (base === "text" && index % 31 === 0) base = "declare";
  let kind: "form" | "payload" | "json";
  let value: JsonLike;
  if (base === "help" || base === "list" || base === "show" || base === "text" || base === "declare") {
    const commandText = base === "help" ? "help" : base === "list" ? "list all" : base === "show" ? "show 424242" : base === "declare" ? `declare sev4 Fuzz ${index} ${text}` : text;
    kind = "form";
    value = commandFields(index, commandText);
  } else if (base === "ssl_check") {
    kind = "form";
    value = { ssl_check: "1", token: SLACK_TOKEN_FIELD };
  } else if (base === "url_verification") {
    kind = "json";
    value = { token: SLACK_TOKEN_FIELD, challenge: text, type: "url_verification" };
  } else if (base === "event") {
    kind = "json";
    value = slackEvent(index, spec.eventType, text);
  } else {
    kind = "payload";
    value = interaction(index, base, text);
  }
  labels.push(`signature ${spec.signature.kind}`, `body ${base}${base === "event" ? ` ${spec.eventType}` : ""}`);
  for (const change of spec.mutations) {
    const applied = applyMutation(value, change);
    value = applied.value;
    labels.push(applied.label);
  }
  if (spec.escape !== "none") labels.push(`escapes: ${spec.escape}`);
  let body: Buffer = Buffer.from(kind === "json" ? serialize(value, spec.escape) : kind === "payload" ? new URLSearchParams({ payload: serialize(value, spec.escape) }).toString() : formEncode(value, spec.escape), "utf8");
  if (spec.bytes) {
    const applied = applyByteMutation(body, spec.bytes);
    body = applied.body;
    labels.push(applied.label);
  }
  if (spec.oversized) {
    body = oversize(body, BODY_LIMIT);
    labels.push(`oversized (${body.length} bytes)`);
  }
  const natural = kind === "json" ? JSON_TYPE : FORM;
  const contentType = spec.contentType === "natural" ? natural : spec.contentType;
  if (spec.contentType !== "natural") labels.push(`content-type ${JSON.stringify(contentType)}`);
  const pristine = spec.mutations.length === 0 && spec.bytes === null && spec.contentType === "natural" && !spec.oversized;

  const signature = spec.signature;
  // Fastify refuses a malformed Content-Type (415) before the route: exact statuses only with Slack's own.
  const exact = (status: number) => (contentType === natural ? status : undefined);
  let expectation: Expectation;
  if (body.length > BODY_LIMIT) expectation = refuse("body over 1 MiB", exact(413));
  else if (signature.kind === "valid") expectation = signedSlackVerdict(body, contentType, pristine);
  else if (signature.kind === "duplicated") expectation = either("the right signature, twice");
  else if (signature.kind === "future") expectation = refuse("timestamp more than five minutes ahead (Slack: reject if it differs from local time by more than five minutes)", exact(401));
  else if (signature.kind === "stale") expectation = refuse("replayed: signed more than five minutes ago", exact(401));
  else expectation = refuse(`bad signature (${signature.kind})`, exact(401));

  const build = (nowMs: number): RequestSpec => {
    const now = Math.floor(nowMs / 1000);
    const timestamp = signature.kind === "timestamp-text" ? signature.value : String(now + ("offset" in signature ? signature.offset : 0));
    const sign = (secret: string, signedBody: Buffer) => `v0=${hmacHex(secret, `v0:${timestamp}:`, signedBody)}`;
    const right = sign(TEST_SIGNING_SECRET, body);
    const headers: Array<[string, string]> = [];
    if (contentType !== null) headers.push(["content-type", contentType]);
    if (signature.kind !== "missing" && signature.kind !== "missing-timestamp") headers.push(["x-slack-request-timestamp", headerValue(timestamp)]);
    if (signature.kind !== "missing" && signature.kind !== "missing-signature") {
      const value =
        signature.kind === "wrong-secret" ? sign("0123456789abcdef0123456789abcdef", body)
        : signature.kind === "other-body" ? sign(TEST_SIGNING_SECRET, Buffer.concat([body, Buffer.from("&")]))
        : signature.kind === "v1" ? right.replace(/^v0=/, "v1=")
        : signature.kind === "truncated" ? right.slice(0, -1)
        : signature.kind === "empty" ? "v0="
        : signature.kind === "garbage" ? headerValue(signature.value)
        : right;
      headers.push(["x-slack-signature", value]);
      if (signature.kind === "duplicated") headers.push(["x-slack-signature", value]);
    }
    if (spec.retry) headers.push(["x-slack-retry-num", "1"], ["x-slack-retry-reason", "http_timeout"]);
    return { kind: "http", method: "POST", path: "/slack/events", headers, body };
  };
  return { endpoint: "slack", index, label: labels.join("; "), build, expect: expectation };
}

// ---- POST /webhooks/alertmanager ----------------------------------------------------------------

type AmAuth =
  | { readonly kind: "valid" | "valid-lowercase-scheme" | "valid-spaces" | "missing" | "wrong-token" | "basic" | "no-scheme" | "prefix" | "suffix" | "scheme-only" | "huge" }
  | { readonly kind: "garbage"; readonly value: string };

interface AmSpec {
  readonly auth: AmAuth;
  readonly contentType: string | null;
  readonly severity: string;
  readonly extraLabel: readonly [string, string] | null;
  readonly mutations: readonly Mutation[];
  readonly escape: EscapeMode;
  readonly bytes: ByteMutation | null;
  readonly oversized: boolean;
}

const amSpec: fc.Arbitrary<AmSpec> = fc.record({
  auth: fc.oneof(
    { weight: 14, arbitrary: fc.constant({ kind: "valid" as const }) },
    { weight: 2, arbitrary: fc.constantFrom("valid-lowercase-scheme" as const, "valid-spaces" as const).map((kind) => ({ kind })) },
    {
      weight: 14,
      arbitrary: fc.constantFrom("missing" as const, "wrong-token" as const, "basic" as const, "no-scheme" as const, "prefix" as const, "suffix" as const, "scheme-only" as const).map((kind) => ({ kind })),
    },
    { weight: 3, arbitrary: hostileString.map((value) => ({ kind: "garbage" as const, value })) },
    { weight: 1, arbitrary: fc.constant({ kind: "huge" as const }) },
  ),
  contentType: fc.oneof(
    { weight: 24, arbitrary: fc.constant<string | null>(JSON_TYPE) },
    { weight: 2, arbitrary: fc.constant<string | null>("application/json; charset=utf-8") },
    { weight: 3, arbitrary: fc.constantFrom<string | null>("text/plain", FORM, null, "application/jsonx", "multipart/form-data; boundary=x", "APPLICATION/JSON", "application/json; charset=latin1") },
    { weight: 1, arbitrary: hostileString.map(headerValue) },
  ),
  // Never "critical" (which would declare without the record default): hostile ones hit the severity map.
  severity: fc.constantFrom("warning", "info", "error", "none", "__proto__", "constructor", "toString", "hasOwnProperty", "", "WARNING"),
  extraLabel: fc.option(fc.tuple(hostileString, hostileString), { freq: 4 }),
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  escape: escapeMode,
  bytes: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: byteMutation }),
  oversized: fc.oneof({ weight: 500, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const isStringMap = (value: unknown): boolean => isRecord(value) && Object.values(value).every((inner) => typeof inner === "string");
const optional = (record: Record<string, unknown>, key: string, check: (value: unknown) => boolean): boolean => !Object.hasOwn(record, key) || check(record[key]);

/**
 * What is wrong with an Alertmanager v4 notification (prometheus.io webhook_config docs), or
 * undefined; "either" for what Alertmanager could send but JavaScript cannot hold exactly.
 */
function alertmanagerProblem(value: unknown): { readonly wrong: string } | "either" | undefined {
  if (!isRecord(value)) return { wrong: "not a JSON object" };
  if (value.version !== "4") return { wrong: "version is not \"4\"" };
  if (typeof value.groupKey !== "string" || value.groupKey === "") return { wrong: "no groupKey" };
  if (Object.hasOwn(value, "truncatedAlerts")) {
    const truncated = value.truncatedAlerts;
    if (typeof truncated !== "number" || !Number.isInteger(truncated) || truncated < 0) return { wrong: "truncatedAlerts is not a whole number" };
    if (!Number.isSafeInteger(truncated)) return "either";
  }
  if (value.status !== "firing" && value.status !== "resolved") return { wrong: "bad status" };
  if (typeof value.receiver !== "string") return { wrong: "no receiver" };
  for (const key of ["groupLabels", "commonLabels", "commonAnnotations"]) if (!optional(value, key, isStringMap)) return { wrong: `${key} is not a map of strings` };
  if (!optional(value, "externalURL", (inner) => typeof inner === "string")) return { wrong: "externalURL is not a string" };
  if (!Array.isArray(value.alerts) || value.alerts.length === 0) return { wrong: "no alerts" };
  for (const alert of value.alerts as unknown[]) {
    if (!isRecord(alert)) return { wrong: "an alert is not an object" };
    if (alert.status !== "firing" && alert.status !== "resolved") return { wrong: "an alert's status" };
    if (!isStringMap(alert.labels)) return { wrong: "an alert's labels" };
    if (!optional(alert, "annotations", isStringMap)) return { wrong: "an alert's annotations" };
    if (typeof alert.startsAt !== "string" || !RFC3339.test(alert.startsAt)) return { wrong: "an alert's startsAt" };
    if (!optional(alert, "endsAt", (inner) => typeof inner === "string" && RFC3339.test(inner))) return { wrong: "an alert's endsAt" };
    if (!optional(alert, "generatorURL", (inner) => typeof inner === "string")) return { wrong: "an alert's generatorURL" };
    if (typeof alert.fingerprint !== "string" || alert.fingerprint === "") return { wrong: "an alert's fingerprint" };
  }
  return undefined;
}

const AM_FIELDS = new Set(["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"]);
const AM_ALERT_FIELDS = new Set(["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"]);

/**
 * A body that starts with a UTF-8 byte order mark: RFC 8259 lets a parser ignore it or refuse it.
 * Firebreak's webhooks ignore one (and only one: a second is not JSON), so the verdict is the
 * rest's; an accepted one must then be processed like any other (the integrity checks).
 */
const startsWithBom = (body: Buffer) => body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;

/** The answer an authorized Alertmanager body deserves. */
function alertmanagerVerdict(body: Buffer): Expectation {
  if (!startsWithBom(body)) return alertmanagerBodyVerdict(body);
  const verdict = alertmanagerBodyVerdict(body.subarray(3));
  return { ...verdict, why: `a byte order mark (ignored), then ${verdict.why}` };
}

function alertmanagerBodyVerdict(body: Buffer): Expectation {
  const decoded = decodeJson(body);
  if (!decoded.ok) return refuse("body is not JSON", 400);
  if (hasPoisonKey(decoded.value)) return refuse("__proto__ or constructor.prototype key (prototype poisoning)", 400);
  const problem = alertmanagerProblem(decoded.value);
  if (problem !== undefined && problem !== "either") return refuse(`not an Alertmanager notification: ${problem.wrong}`, 400);
  // NUL and lone surrogates cannot be stored: refused in what Firebreak keeps; elsewhere either is right.
  let unstorableKnown = false;
  let unstorableAnywhere = false;
  someKeyOrString(decoded.value, (text, path, depth) => {
    if (!isUnstorable(text)) return false;
    unstorableAnywhere = true;
    const known = AM_FIELDS.has(String(path[0])) && (path[0] !== "alerts" || depth <= 2 || AM_ALERT_FIELDS.has(String(path[2])));
    if (known) unstorableKnown = true;
    return known;
  });
  if (unstorableKnown) return refuse("NUL or lone surrogate in a field Firebreak stores", 400);
  if (problem === "either") return either("integer beyond 2^53");
  if (!decoded.wellFormedUtf8) return either("invalid UTF-8 inside strings (read as U+FFFD)");
  if (unstorableAnywhere) return either("NUL or lone surrogate in an unknown field");
  return accept("a valid, authorized Alertmanager notification");
}

function alertmanagerCase(spec: AmSpec, index: number): FuzzCase {
  const labels: string[] = [`auth ${spec.auth.kind}`];
  const payload = alertmanagerPayload(`FuzzAlert${index % 50}`, index, spec.severity);
  if (spec.extraLabel) {
    const [name, text] = spec.extraLabel;
    const key = name === "alertname" || name === "severity" ? `x_${name}` : name;
    const alert = (payload.alerts as JsonLike[])[0] as Record<string, JsonLike>;
    setOwn(alert.labels as Record<string, JsonLike>, key, text);
    labels.push(`hostile label ${JSON.stringify(key.slice(0, 20))}=${JSON.stringify(text.slice(0, 20))}`);
  }
  let value: JsonLike = payload;
  for (const change of spec.mutations) {
    const applied = applyMutation(value, change);
    value = applied.value;
    labels.push(applied.label);
  }
  if (spec.escape !== "none") labels.push(`escapes: ${spec.escape}`);
  let body: Buffer = json(value, spec.escape);
  if (spec.bytes) {
    const applied = applyByteMutation(body, spec.bytes);
    body = applied.body;
    labels.push(applied.label);
  }
  if (spec.oversized) {
    body = oversize(body, BODY_LIMIT);
    labels.push(`oversized (${body.length} bytes)`);
  }
  if (spec.contentType !== JSON_TYPE) labels.push(`content-type ${JSON.stringify(spec.contentType)}`);
  labels.push(`severity ${JSON.stringify(spec.severity)}`);

  const jsonType = spec.contentType === JSON_TYPE || spec.contentType === "application/json; charset=utf-8";
  const authorized = spec.auth.kind === "valid" || spec.auth.kind === "valid-lowercase-scheme" || spec.auth.kind === "valid-spaces";
  let expectation: Expectation;
  if (spec.auth.kind === "huge") expectation = refuse("a 20 KiB Authorization header (over Node's header limit)");
  else if (body.length > BODY_LIMIT) expectation = refuse("body over 1 MiB", jsonType ? 413 : undefined);
  else if (!authorized) expectation = refuse(`bad credentials (${spec.auth.kind})`, jsonType ? 401 : undefined);
  else if (spec.contentType === "APPLICATION/JSON" || spec.contentType === "application/json; charset=latin1") {
    const verdict = alertmanagerVerdict(body);
    expectation = verdict.class === "4xx" ? refuse(verdict.why) : either(`content type ${spec.contentType}`);
  } else if (!jsonType) expectation = refuse(`content type ${JSON.stringify(spec.contentType)} is not JSON`);
  else expectation = alertmanagerVerdict(body);

  const authorization =
    spec.auth.kind === "valid" ? `Bearer ${AM_TOKEN}`
    : spec.auth.kind === "valid-lowercase-scheme" ? `bearer ${AM_TOKEN}`
    : spec.auth.kind === "valid-spaces" ? `Bearer   ${AM_TOKEN}  `
    : spec.auth.kind === "wrong-token" ? "Bearer am-fuzz-token-0123456789abcdeX"
    : spec.auth.kind === "basic" ? `Basic ${Buffer.from(`alertmanager:${AM_TOKEN}`).toString("base64")}`
    : spec.auth.kind === "no-scheme" ? AM_TOKEN
    : spec.auth.kind === "prefix" ? `Bearer ${AM_TOKEN.slice(0, -1)}`
    : spec.auth.kind === "suffix" ? `Bearer ${AM_TOKEN}0`
    : spec.auth.kind === "scheme-only" ? "Bearer"
    : spec.auth.kind === "huge" ? `Bearer ${"A".repeat(20_000)}`
    : spec.auth.kind === "garbage" ? headerValue(spec.auth.value)
    : undefined;
  const headers: Array<[string, string]> = [["user-agent", "Alertmanager/0.28.1"]];
  if (spec.contentType !== null) headers.push(["content-type", spec.contentType]);
  if (authorization !== undefined) headers.push(["authorization", authorization]);
  const request: RequestSpec = { kind: "http", method: "POST", path: "/webhooks/alertmanager", headers, body };
  return { endpoint: "alertmanager", index, label: labels.join("; "), build: () => request, expect: expectation };
}

// ---- POST /webhooks/pagerduty -------------------------------------------------------------------

type PdSignature =
  | { readonly kind: "valid" | "valid-uppercase" | "valid-among-others" | "valid-spaced" | "valid-twice" }
  | { readonly kind: "missing" | "empty" | "wrong-secret" | "other-body" | "v0" | "short" | "non-hex" | "all-wrong" }
  | { readonly kind: "garbage"; readonly value: string };

interface PdSpec {
  readonly signature: PdSignature;
  readonly contentType: string | null;
  readonly eventType: string;
  readonly incidentKey: { readonly kind: "fixture" | "random" | "null" | "absent" } | { readonly kind: "hostile"; readonly value: string };
  readonly occurredAt: string;
  readonly agent: string;
  readonly duplicate: boolean;
  readonly mutations: readonly Mutation[];
  readonly escape: EscapeMode;
  readonly bytes: ByteMutation | null;
  readonly oversized: "no" | "route" | "server";
}

const FOLLOWED_EVENTS = ["incident.acknowledged", "incident.resolved", "incident.escalated", "incident.reassigned"];

const pdSpec: fc.Arbitrary<PdSpec> = fc.record({
  signature: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ kind: "valid" as const }) },
    { weight: 2, arbitrary: fc.constantFrom("valid-uppercase" as const, "valid-among-others" as const, "valid-spaced" as const, "valid-twice" as const).map((kind) => ({ kind })) },
    {
      weight: 14,
      arbitrary: fc.constantFrom("missing" as const, "empty" as const, "wrong-secret" as const, "other-body" as const, "v0" as const, "short" as const, "non-hex" as const, "all-wrong" as const).map((kind) => ({ kind })),
    },
    { weight: 2, arbitrary: hostileString.map((value) => ({ kind: "garbage" as const, value })) },
  ),
  contentType: fc.oneof(
    { weight: 24, arbitrary: fc.constant<string | null>(JSON_TYPE) },
    { weight: 1, arbitrary: fc.constant<string | null>("application/json; charset=utf-8") },
    { weight: 3, arbitrary: fc.constantFrom<string | null>("text/plain", FORM, null, "application/xml", "multipart/form-data; boundary=x") },
    { weight: 1, arbitrary: hostileString.map(headerValue) },
  ),
  eventType: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...FOLLOWED_EVENTS) },
    { weight: 3, arbitrary: fc.constantFrom("incident.triggered", "incident.annotated", "incident.priority_updated", "pagey.ping", "service.updated") },
    { weight: 1, arbitrary: hostileString },
  ),
  incidentKey: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: "fixture" as const }) },
    { weight: 10, arbitrary: fc.constantFrom("random" as const, "null" as const, "absent" as const).map((kind) => ({ kind })) },
    { weight: 3, arbitrary: hostileString.map((value) => ({ kind: "hostile" as const, value })) },
  ),
  occurredAt: fc.oneof(
    { weight: 8, arbitrary: fc.constant("2026-01-01T00:00:00.000Z") },
    { weight: 1, arbitrary: fc.constantFrom("-271821-04-20T00:00:00.000Z", "+275760-09-13T00:00:00.000Z", "0000-01-01T00:00:00Z", "2026-02-30T25:61:00Z", "1", "not a date", "") },
    { weight: 1, arbitrary: hostileString },
  ),
  agent: fc.oneof({ weight: 4, arbitrary: fc.constant("Ana Oncall") }, { weight: 1, arbitrary: hostileString }),
  duplicate: fc.oneof({ weight: 19, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  escape: escapeMode,
  bytes: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: byteMutation }),
  oversized: fc.oneof({ weight: 400, arbitrary: fc.constant("no" as const) }, { weight: 1, arbitrary: fc.constantFrom("route" as const, "server" as const) }),
});

/** A v3 webhook event as PagerDuty sends it (developer.pagerduty.com, "V3 Webhook Event"). */
function pagerdutyEvent(index: number, spec: PdSpec, incidentKey: JsonLike | undefined): Record<string, JsonLike> {
  const data: Record<string, JsonLike> = {
    id: `PFUZZ${index}`,
    type: "incident",
    self: `https://api.pagerduty.com/incidents/PFUZZ${index}`,
    html_url: `https://fuzz.pagerduty.com/incidents/PFUZZ${index}`,
    number: index,
    status: "acknowledged",
    title: "Fuzz",
    service: { html_url: "https://fuzz.pagerduty.com/services/PFUZZSV1", id: "PFUZZSV1", self: "https://api.pagerduty.com/services/PFUZZSV1", summary: "Checkout", type: "service_reference" },
    assignees: [{ html_url: "https://fuzz.pagerduty.com/users/PANA", id: "PANA", self: "https://api.pagerduty.com/users/PANA", summary: spec.agent, type: "user_reference" }],
    escalation_policy: { id: "PPOL", summary: "Checkout", type: "escalation_policy_reference" },
    teams: [],
    priority: null,
    urgency: "high",
    conference_bridge: null,
    resolve_reason: null,
  };
  if (incidentKey !== undefined) data.incident_key = incidentKey;
  return {
    event: {
      id: spec.duplicate ? "01FUZZDUPLICATEEVENT" : `01FUZZ${index.toString(36).toUpperCase().padStart(8, "0")}`,
      event_type: spec.eventType,
      resource_type: "incident",
      occurred_at: spec.occurredAt,
      agent: { html_url: "https://fuzz.pagerduty.com/users/PANA", id: "PANA", self: "https://api.pagerduty.com/users/PANA", summary: spec.agent, type: "user_reference" },
      client: null,
      data,
    },
  };
}

const optionalString = (record: Record<string, unknown>, key: string) => optional(record, key, (inner) => typeof inner === "string");
const isReference = (value: unknown) => isRecord(value) && optionalString(value, "id") && optionalString(value, "summary");
/** A string the schema requires non-empty; over Firebreak's own length cap, either answer is right. */
const boundedString = (value: unknown, max: number): "ok" | "bad" | "long" => (typeof value !== "string" || value === "" ? "bad" : value.length > max ? "long" : "ok");

/** The answer a correctly signed PagerDuty body deserves. */
function pagerdutyVerdict(body: Buffer): Expectation {
  if (!startsWithBom(body)) return pagerdutyBodyVerdict(body);
  const verdict = pagerdutyBodyVerdict(body.subarray(3));
  return { ...verdict, why: `a byte order mark (ignored), then ${verdict.why}` };
}

function pagerdutyBodyVerdict(body: Buffer): Expectation {
  const decoded = decodeJson(body);
  if (!decoded.ok) return refuse("signed, but not JSON", 400);
  const value = decoded.value;
  if (!isRecord(value) || !isRecord(value.event)) return refuse("signed, but no event object", 400);
  const event = value.event;
  const data = event.data;
  const checks = [boundedString(event.id, 200), boundedString(event.event_type, 100), isRecord(data) ? boundedString(data.id, 100) : "bad"];
  if (checks.includes("bad")) return refuse("signed, but event.id, event.event_type or event.data.id missing", 400);
  if (!optionalString(event, "resource_type") || !optionalString(event, "occurred_at")) return refuse("signed, but resource_type or occurred_at not a string", 400);
  if (!optional(event, "agent", (agent) => agent === null || isReference(agent))) return refuse("signed, but agent is not a reference", 400);
  const record = data as Record<string, unknown>;
  if (!optionalString(record, "type") || !optionalString(record, "status")) return refuse("signed, but data.type or data.status not a string", 400);
  if (!optional(record, "incident_key", (key) => key === null || typeof key === "string")) return refuse("signed, but incident_key not a string", 400);
  if (typeof record.incident_key === "string" && record.incident_key.length > 500) checks.push("long");
  if (!optional(record, "assignees", (list) => Array.isArray(list) && list.every(isReference))) return refuse("signed, but assignees not a list of references", 400);
  if (checks.includes("long")) return either("a string over Firebreak's length cap");
  if (!decoded.wellFormedUtf8) return either("invalid UTF-8 inside strings");
  if (someKeyOrString(value, (text, _path, _depth, isKey) => isKey && text === "__proto__")) return either("a __proto__ key (plain JSON.parse: no pollution)");
  return accept("a correctly signed v3 event (recorded, duplicate, ignored or about no page: 202 all)");
}

function pagerdutyCase(spec: PdSpec, index: number): FuzzCase {
  const labels: string[] = [`signature ${spec.signature.kind}`, `event ${JSON.stringify(spec.eventType.slice(0, 30))}`, `incident_key ${spec.incidentKey.kind}`];
  const key = spec.incidentKey;
  const incidentKey = key.kind === "hostile" ? key.value : key.kind === "fixture" ? fixtureDedupKey : key.kind === "random" ? `fuzz-${index}` : key.kind === "null" ? null : undefined;
  let value: JsonLike = pagerdutyEvent(index, spec, incidentKey);
  if (spec.occurredAt !== "2026-01-01T00:00:00.000Z") labels.push(`occurred_at ${JSON.stringify(spec.occurredAt.slice(0, 30))}`);
  if (spec.agent !== "Ana Oncall") labels.push(`agent ${JSON.stringify(spec.agent.slice(0, 20))}`);
  if (spec.duplicate) labels.push("a repeated event id");
  for (const change of spec.mutations) {
    const applied = applyMutation(value, change);
    value = applied.value;
    labels.push(applied.label);
  }
  if (spec.escape !== "none") labels.push(`escapes: ${spec.escape}`);
  let body: Buffer = json(value, spec.escape);
  if (spec.bytes) {
    const applied = applyByteMutation(body, spec.bytes);
    body = applied.body;
    labels.push(applied.label);
  }
  if (spec.oversized !== "no") {
    body = oversize(body, spec.oversized === "route" ? PAGERDUTY_BODY_LIMIT : BODY_LIMIT);
    labels.push(`oversized (${body.length} bytes)`);
  }
  if (spec.contentType !== JSON_TYPE) labels.push(`content-type ${JSON.stringify(spec.contentType)}`);

  const jsonType = spec.contentType === JSON_TYPE || spec.contentType === "application/json; charset=utf-8";
  const signed = spec.signature.kind.startsWith("valid");
  let expectation: Expectation;
  if (jsonType && body.length > PAGERDUTY_BODY_LIMIT) expectation = refuse("body over 256 KiB (this route's limit)", 413);
  else if (body.length > BODY_LIMIT) expectation = refuse("body over 1 MiB (the server's limit)");
  else if (!signed) expectation = refuse(`bad signature (${spec.signature.kind})`, jsonType ? 401 : undefined);
  else if (!jsonType) expectation = refuse(`content type ${JSON.stringify(spec.contentType)} is not JSON`);
  else expectation = pagerdutyVerdict(body);

  const right = `v1=${hmacHex(PD_SECRET, body)}`;
  const signature =
    spec.signature.kind === "valid" ? right
    : spec.signature.kind === "valid-uppercase" ? `v1=${right.slice(3).toUpperCase()}`
    : spec.signature.kind === "valid-among-others" ? `v1=${hmacHex("an-old-rotated-secret-0123456789", body)},${right}`
    : spec.signature.kind === "valid-spaced" ? ` ${right} `
    : spec.signature.kind === "valid-twice" ? right
    : spec.signature.kind === "missing" ? undefined
    : spec.signature.kind === "empty" ? ""
    : spec.signature.kind === "wrong-secret" ? `v1=${hmacHex("not-the-pagerduty-secret-0123456", body)}`
    : spec.signature.kind === "other-body" ? `v1=${hmacHex(PD_SECRET, Buffer.concat([body, Buffer.from(" ")]))}`
    : spec.signature.kind === "v0" ? right.replace(/^v1=/, "v0=")
    : spec.signature.kind === "short" ? right.slice(0, -2)
    : spec.signature.kind === "non-hex" ? `v1=${"z".repeat(64)}`
    : spec.signature.kind === "all-wrong" ? `v1=${"0".repeat(64)},v1=${"f".repeat(64)}`
    : headerValue("value" in spec.signature ? spec.signature.value : "");
  const headers: Array<[string, string]> = [["user-agent", "PagerDuty-Webhook/V3.0"], ["x-webhook-id", `PFUZZWH${index}`]];
  if (spec.contentType !== null) headers.push(["content-type", spec.contentType]);
  if (signature !== undefined) headers.push(["x-pagerduty-signature", signature]);
  if (spec.signature.kind === "valid-twice" && signature !== undefined) headers.push(["x-pagerduty-signature", signature]);
  const request: RequestSpec = { kind: "http", method: "POST", path: "/webhooks/pagerduty", headers, body };
  return { endpoint: "pagerduty", index, label: labels.join("; "), build: () => request, expect: expectation };
}

// ---- GET /api/incidents/:number/postmortem[.md|.html|.json] -------------------------------------

interface Option {
  readonly text: string;
  /** "ok": fine; "bad": the request must be refused; "either": either answer is right. */
  readonly verdict: "ok" | "bad" | "either";
}
const ok = (text: string): Option => ({ text, verdict: "ok" });
const bad = (text: string): Option => ({ text, verdict: "bad" });
const eitherOption = (text: string): Option => ({ text, verdict: "either" });

interface ApiSpec {
  readonly method: string;
  readonly prefix: Option;
  readonly auth: Option | null;
  readonly number: string;
  readonly file: Option;
  readonly accept: Option | null;
  readonly audience: Option | null;
  readonly extraQuery: Option | null;
}

/** Percent-encoded (lone surrogates, which encodeURIComponent refuses, become U+FFFD). */
const hostileEncoded = hostileString.map((value) => encodeURIComponent(value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")));

const apiSpec: fc.Arbitrary<ApiSpec> = fc.record({
  method: fc.oneof({ weight: 14, arbitrary: fc.constant("GET") }, { weight: 2, arbitrary: fc.constant("HEAD") }, { weight: 4, arbitrary: fc.constantFrom("POST", "PUT", "DELETE", "PATCH", "OPTIONS") }),
  prefix: fc.oneof({ weight: 20, arbitrary: fc.constant(ok("/api/incidents/")) }, { weight: 1, arbitrary: fc.constantFrom(bad("/api/incidents//"), bad("/API/incidents/"), bad("/api/incident/"), bad("/api/incidents/%2e%2e/"), bad("/api//incidents/")) }),
  auth: fc.oneof(
    { weight: 10, arbitrary: fc.constant<Option | null>(ok(`Bearer ${API_TOKEN}`)) },
    { weight: 2, arbitrary: fc.constantFrom<Option | null>(ok(`bearer ${API_TOKEN}`), ok(`Bearer   ${API_TOKEN}  `)) },
    {
      weight: 8,
      arbitrary: fc.constantFrom<Option | null>(null, bad(""), bad("Bearer"), bad(`Bearer ${API_TOKEN}x`), bad(`Bearer ${API_TOKEN.slice(1)}`), bad(API_TOKEN), bad(`Basic ${Buffer.from(`api:${API_TOKEN}`).toString("base64")}`), bad(`Bearer ${AM_TOKEN}`), bad(`Token ${API_TOKEN}`)),
    },
    { weight: 2, arbitrary: hostileString.map((value) => bad(headerValue(value))) },
  ),
  number: fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom("1", "01", "000000001", "2", "3") },
    { weight: 5, arbitrary: fc.constantFrom("0", "999999999", "1000000000", "-1", "1.0", "1e3", "%201", "abc", "%00", "%D9%A1", "9".repeat(5_000), "%zz", "", "0x1", "1%2F..", "%E2%80%AE1") },
    { weight: 2, arbitrary: hostileEncoded },
  ),
  file: fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(ok("postmortem"), ok("postmortem.md"), ok("postmortem.html"), ok("postmortem.json")) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(bad("postmortem.pdf"), bad("postmortem.MD"), bad("postmortem."), bad("Postmortem.md"), bad("postmortem.md.exe"), bad("postmortem%00.md"), bad("postmortem.__proto__"), bad("postmortem.constructor"), bad("postmortem.toString"), bad("postmortem.json%20"), bad("postmortem/"), ok("post%6Dortem.md")),
    },
    { weight: 1, arbitrary: hostileEncoded.map((value) => bad(`postmortem.${value}x`)) },
  ),
  accept: fc.oneof(
    { weight: 6, arbitrary: fc.constant<Option | null>(null) },
    { weight: 4, arbitrary: fc.constantFrom<Option | null>(ok("text/markdown"), ok("text/html"), ok("application/json"), ok("*/*"), ok("text/*"), ok("application/json;q=0.5, text/html;q=0.9"), ok("text/html, application/json;q=0.1")) },
    { weight: 2, arbitrary: fc.constantFrom<Option | null>(bad("image/png"), bad("text/html;q=0"), bad("application/xml"), bad("text/html;q=abc"), bad("application/json;q=-1")) },
    { weight: 1, arbitrary: hostileString.map((value) => eitherOption(headerValue(value))) },
  ),
  audience: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Option | null>(null) },
    { weight: 4, arbitrary: fc.constantFrom<Option | null>(ok("audience=internal"), ok("audience=public"), ok("audience=%70ublic")) },
    { weight: 2, arbitrary: fc.constantFrom<Option | null>(bad("audience=PUBLIC"), bad("audience="), bad("audience"), bad("audience=secret"), bad("audience=public&audience=internal"), bad("audience=__proto__"), ok("audience[]=public")) },
    { weight: 1, arbitrary: hostileEncoded.map((value) => bad(`audience=x${value}`)) },
  ),
  extraQuery: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Option | null>(null) },
    { weight: 2, arbitrary: fc.constantFrom<Option | null>(ok("x=1"), ok("__proto__[polluted]=1"), ok("constructor[prototype][polluted]=1"), ok("toString=1"), ok("&&&"), ok(`${"a=1&".repeat(500)}b=2`), eitherOption("a=%zz"), eitherOption("a=%")) },
    { weight: 1, arbitrary: hostileEncoded.map((value) => ok(`x=${value}`)) },
  ),
});

function apiCase(spec: ApiSpec, index: number, existing: ReadonlySet<number>): FuzzCase {
  const query = [spec.audience?.text, spec.extraQuery?.text].filter((part) => part !== undefined).join("&");
  const path = `${spec.prefix.text}${spec.number}/${spec.file.text}${query === "" ? "" : `?${query}`}`;
  let decodedNumber: string | undefined;
  try {
    decodedNumber = decodeURIComponent(spec.number);
  } catch {
    decodedNumber = undefined;
  }
  const exists = decodedNumber !== undefined && /^[0-9]+$/.test(decodedNumber) && existing.has(Number(decodedNumber));
  const hasExtension = spec.file.text.includes(".");
  const parts: Array<[string, "ok" | "bad" | "either"]> = [
    ["method", spec.method === "GET" || spec.method === "HEAD" ? "ok" : "bad"],
    ["path", spec.prefix.verdict],
    ["credentials", spec.auth?.verdict ?? "bad"],
    ["incident", exists ? "ok" : "bad"],
    ["file", spec.file.verdict],
    ["accept", hasExtension || spec.accept === null ? "ok" : spec.accept.verdict],
    ["audience", spec.audience?.verdict ?? "ok"],
    ["query", spec.extraQuery?.verdict ?? "ok"],
  ];
  const wrong = parts.filter(([, verdict]) => verdict === "bad").map(([name]) => name);
  const unsure = parts.filter(([, verdict]) => verdict === "either").map(([name]) => name);
  const expectation = wrong.length > 0 ? refuse(`wrong ${wrong.join(", ")}`) : unsure.length > 0 ? either(`odd ${unsure.join(", ")}`) : accept("an authorized request for an existing incident's post-mortem");
  const headers: Array<[string, string]> = [];
  if (spec.auth !== null) headers.push(["authorization", spec.auth.text]);
  if (spec.accept !== null) headers.push(["accept", spec.accept.text]);
  const body = spec.method === "POST" || spec.method === "PUT" || spec.method === "PATCH" ? Buffer.from('{"status":"resolved"}') : undefined;
  if (body) headers.push(["content-type", JSON_TYPE]);
  const label = `${spec.method} ${path.length > 80 ? `${path.slice(0, 80)}…` : path}; auth ${JSON.stringify((spec.auth?.text ?? "(none)").replace(API_TOKEN, "<token>").slice(0, 40))}; accept ${JSON.stringify(spec.accept?.text ?? "(none)")}`;
  const request: RequestSpec = { kind: "http", method: spec.method, path, headers, ...(body ? { body } : {}) };
  return { endpoint: "api", index, label, build: () => request, expect: expectation };
}

// ---- /healthz, /readyz, /metrics ----------------------------------------------------------------

interface OpsSpec {
  readonly path: "/healthz" | "/readyz" | "/metrics";
  readonly method: string;
  readonly query: Option | null;
  readonly header: readonly [string, string] | null;
  readonly body: boolean;
}

const opsSpec: fc.Arbitrary<OpsSpec> = fc.record({
  path: fc.constantFrom("/healthz" as const, "/readyz" as const, "/metrics" as const),
  method: fc.oneof({ weight: 12, arbitrary: fc.constant("GET") }, { weight: 3, arbitrary: fc.constant("HEAD") }, { weight: 5, arbitrary: fc.constantFrom("POST", "PUT", "DELETE", "PATCH", "OPTIONS") }),
  query: fc.oneof(
    { weight: 4, arbitrary: fc.constant<Option | null>(null) },
    { weight: 3, arbitrary: fc.constantFrom<Option | null>(ok(""), ok("x=1"), ok("__proto__[x]=1"), ok("name[]=a&name[]=b"), ok(`${"a=1&".repeat(1_000)}b`), eitherOption("a=%zz"), ok("format=openmetrics")) },
    { weight: 1, arbitrary: hostileEncoded.map((value) => ok(`q=${value}`)) },
  ),
  header: fc.option(fc.tuple(fc.constantFrom("accept", "x-forwarded-for", "x-request-id", "cookie", "accept-encoding", "x-fuzz"), hostileString.map(headerValue)), { freq: 3 }),
  body: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

function opsCase(spec: OpsSpec, index: number): FuzzCase {
  const path = `${spec.path}${spec.query === null ? "" : `?${spec.query.text}`}`;
  const readOnly = spec.method === "GET" || spec.method === "HEAD";
  const expectation =
    !readOnly ? refuse(`${spec.method} on a read-only endpoint`)
    : spec.body ? either(`${spec.method} with a body`)
    : spec.query?.verdict === "either" ? either("odd query string")
    : accept(`${spec.method} ${spec.path}`);
  const headers: Array<[string, string]> = [];
  if (spec.header) headers.push([spec.header[0], spec.header[1]]);
  if (spec.body) headers.push(["content-type", JSON_TYPE]);
  const request: RequestSpec = { kind: "http", method: spec.method, path, headers, ...(spec.body ? { body: Buffer.from('{"status":"down"}') } : {}) };
  return { endpoint: "ops", index, label: `${spec.method} ${path.slice(0, 80)}${spec.header ? `; ${spec.header[0]}: ${JSON.stringify(spec.header[1].slice(0, 30))}` : ""}${spec.body ? "; with a body" : ""}`, build: () => request, expect: expectation };
}

// ---- the protocol itself (raw bytes) ------------------------------------------------------------

interface RawTemplate {
  readonly name: string;
  readonly bytes: (variant: string, index: number) => string | Buffer;
  readonly variants: readonly string[];
  readonly expect: Expectation;
}

const CRLF = "\r\n";
const get = (target: string, extra = "") => `GET ${target} HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}${extra}Connection: close${CRLF}${CRLF}`;
const amPost = (headers: string, body: string) => `POST /webhooks/alertmanager HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Authorization: Bearer ${AM_TOKEN}${CRLF}Content-Type: application/json${CRLF}Connection: close${CRLF}${headers}${CRLF}${body}`;
const SMALL_AM_BODY = '{"version":"4"}';

const RAW_TEMPLATES: readonly RawTemplate[] = [
  { name: "a plain GET (control)", variants: ["/healthz", "/readyz", "/metrics"], bytes: (target) => get(target), expect: accept("a well-formed request") },
  { name: "unknown method", variants: ["FOO", "get", "GETT", "BREW", "G\u0000ET", "POST\tX", "\u00c9T"], bytes: (method) => Buffer.from(`${method} /healthz HTTP/1.1${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}`, "latin1"), expect: refuse("a method that does not exist") },
  { name: "bad HTTP version", variants: ["HTTP/1", "HTTPS/1.1", "HTTP/1.1.1", "http/1.1", "HTTP/1.x", ""], bytes: (version) => `GET /healthz ${version}${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}`, expect: refuse("a malformed request line") },
  // Node's parser answers these as HTTP/1.1 (its choice, not Firebreak's): either answer is right.
  { name: "other HTTP version", variants: ["HTTP/2.0", "HTTP/0.9", "HTTP/1.0", "HTTP/1.2", "HTTP/9.9"], bytes: (version) => `GET /healthz ${version}${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}`, expect: either("a version Node may serve as HTTP/1.1") },
  {
    name: "bad header syntax",
    variants: ["Bad Header: x", "NoColon", "X-A: a\u0000b", "X-A: a\rb", "X-A: a\r\n b", ": empty-name", "X-\u00e9: v"],
    bytes: (header) => Buffer.from(`GET /healthz HTTP/1.1${CRLF}${header}${CRLF}Connection: close${CRLF}${CRLF}`, "latin1"),
    expect: refuse("a malformed header"),
  },
  { name: "bare LF line ends", variants: ["/healthz"], bytes: (target) => `GET ${target} HTTP/1.1\nHost: x\nConnection: close\n\n`, expect: refuse("LF without CR") },
  {
    name: "request smuggling",
    variants: [
      `Content-Length: 15${CRLF}Transfer-Encoding: chunked${CRLF}`,
      `Content-Length: 15${CRLF}Content-Length: 16${CRLF}`,
      `Transfer-Encoding: chunked, identity${CRLF}`,
      `Transfer-Encoding: xchunked${CRLF}`,
      `Transfer-Encoding: chunked${CRLF}Transfer-Encoding: chunked${CRLF}`,
      `Content-Length: -1${CRLF}`,
      `Content-Length: 1e3${CRLF}`,
      `Content-Length: abc${CRLF}`,
      `Content-Length: 15 15${CRLF}`,
    ],
    bytes: (headers) => amPost(headers, SMALL_AM_BODY),
    expect: refuse("ambiguous message framing"),
  },
  {
    name: "bad chunked body",
    variants: ["zz\r\nabc\r\n0\r\n\r\n", "ffffffffffffffffff\r\n", "3\r\nabcdef\r\n0\r\n\r\n", "-1\r\n\r\n", "3;\u0000=x\r\nabc\r\n0\r\n\r\n"],
    bytes: (body) => Buffer.from(amPost(`Transfer-Encoding: chunked${CRLF}`, body), "latin1"),
    expect: refuse("a malformed chunked body"),
  },
  { name: "huge header", variants: ["17000", "40000", "100000"], bytes: (size) => get("/healthz", `X-Big: ${"a".repeat(Number(size))}${CRLF}`), expect: refuse("headers over Node's 16 KiB limit", 431) },
  { name: "too many headers", variants: ["3000"], bytes: (count) => get("/healthz", Array.from({ length: Number(count) }, (_, n) => `X-H${n}: v${CRLF}`).join("")), expect: refuse("headers over Node's 16 KiB limit", 431) },
  { name: "odd target", variants: ["*", "/healthz/../metrics", "/%zz", "/health z", "/he\u00e9lthz", "/webhooks/alertmanager/..%2f..%2fhealthz", `/${"x/".repeat(4_000)}`, "/\u0000"], bytes: (target) => Buffer.from(get(target), "latin1"), expect: refuse("no such resource") },
  // RFC 9112 says 400 for two Host headers; Node's parser lets it through (either is right here).
  { name: "two Host headers", variants: ["b", "127.0.0.1"], bytes: (host) => get("/healthz", `Host: ${host}${CRLF}`), expect: either("Node does not refuse a second Host") },
  { name: "ambiguous target", variants: ["http://evil.example/healthz", "//healthz", "/healthz#frag", "/healthz?\u00ff", "/./healthz", "/HEALTHZ", "/healthz/"], bytes: (target) => Buffer.from(get(target), "latin1"), expect: either("a target some servers normalise") },
  { name: "upgrade request", variants: ["websocket", "h2c", "\u00ff"], bytes: (protocol) => Buffer.from(get("/healthz", `Connection: Upgrade${CRLF}Upgrade: ${protocol}${CRLF}`).replace(`Connection: close${CRLF}`, ""), "latin1"), expect: either("an upgrade nobody offered") },
];

interface ProtocolSpec {
  readonly template: number;
  readonly variant: number;
}

const protocolSpec: fc.Arbitrary<ProtocolSpec> = fc.record({ template: fc.nat({ max: RAW_TEMPLATES.length - 1 }), variant: fc.nat() });

function protocolCase(spec: ProtocolSpec, index: number): FuzzCase {
  const template = RAW_TEMPLATES[spec.template] as RawTemplate;
  const variant = template.variants[spec.variant % template.variants.length] as string;
  const bytes = template.bytes(variant, index);
  const request: RequestSpec = { kind: "raw", bytes: typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes };
  return { endpoint: "protocol", index, label: `${template.name}: ${JSON.stringify(variant.slice(0, 60))}`, build: () => request, expect: template.expect };
}

// ---- the run ------------------------------------------------------------------------------------

describe("hostile input on every HTTP endpoint (fast-check, fixed seed)", () => {
  it(`POST /slack/events: ${runsOf("slack")} generated requests`, async () => {
    await fuzz("slack", sample("slack", slackSpec).map(slackCase));
  }, TIMEOUT_MS);

  it(`POST /webhooks/alertmanager: ${runsOf("alertmanager")} generated requests`, async () => {
    await fuzz("alertmanager", sample("alertmanager", amSpec).map(alertmanagerCase));
  }, TIMEOUT_MS);

  it(`POST /webhooks/pagerduty: ${runsOf("pagerduty")} generated requests`, async () => {
    await fuzz("pagerduty", sample("pagerduty", pdSpec).map(pagerdutyCase));
  }, TIMEOUT_MS);

  it(`GET /api/incidents/:number/postmortem[.md|.html|.json]: ${runsOf("api")} generated requests`, async () => {
    const existing = new Set((await app.database.prisma.incident.findMany({ select: { number: true } })).map((incident) => incident.number));
    expect(existing.has(1)).toBe(true);
    await fuzz("api", sample("api", apiSpec).map((spec, index) => apiCase(spec, index, existing)), { readOnly: true });
  }, TIMEOUT_MS);

  it(`/healthz, /readyz, /metrics: ${runsOf("ops")} generated requests`, async () => {
    await fuzz("ops", sample("ops", opsSpec).map(opsCase), { readOnly: true });
  }, TIMEOUT_MS);

  it(`raw HTTP/1.1 protocol violations: ${runsOf("protocol")} generated requests, with 32 connections left half-open meanwhile`, async () => {
    // Slow clients that never finish their headers must not hold up anyone else.
    const url = new URL(app.url);
    const idle = await Promise.all(
      Array.from({ length: 32 }, () => new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: url.hostname, port: Number(url.port) }, () => {
          socket.write(`GET /healthz HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}X-Slow: `);
          resolve(socket);
        });
        socket.on("error", reject);
      })),
    );
    try {
      await fuzz("protocol", sample("protocol", protocolSpec).map(protocolCase), { readOnly: true });
    } finally {
      for (const socket of idle) socket.destroy();
    }
  }, TIMEOUT_MS);

  it("sent at least 10,000 requests in all; the app still answers, and its metrics stayed bounded", async () => {
    const total = Object.values(sent).reduce((sum, count) => sum + count, 0);
    console.info(`http fuzz: ${total} requests (${Object.entries(sent).map(([endpoint, count]) => `${endpoint} ${count}`).join(", ")}), seed ${SEED}; ${transport.resent} sent again on a fresh connection`);
    if (SCALE >= 1 && ONLY.size === 0) expect(total).toBeGreaterThanOrEqual(10_000);
    await health();
    const ready = await fetch(`${app.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    // Hostile paths and methods must not mint a time series each: routes are labelled by pattern.
    const series = metrics.split("\n").filter((line) => line.startsWith("firebreak_http_requests_total{"));
    expect(series.length).toBeGreaterThan(0);
    expect(series.length, series.join("\n")).toBeLessThan(200);
  });
});

// ---- the fuzz's own judgement can fail ----------------------------------------------------------

describe("the fuzz's judge and oracles (so that a pass means something)", () => {
  const outcome = (status: number | undefined, extra: Partial<Outcome> = {}): Outcome => ({
    status,
    headers: {},
    bodyExcerpt: "",
    ms: 5,
    request: { kind: "http", method: "GET", path: "/", headers: [] },
    ...extra,
  });

  it("flags no answer, a late answer, any 5xx (503 + Retry-After too), the wrong class and the wrong exact status", () => {
    const valid = accept("valid");
    expect(judge(valid, outcome(200), DEADLINE_MS)).toBeUndefined();
    expect(judge(valid, outcome(undefined, { error: "socket hang up" }), DEADLINE_MS)).toMatch(/no answer/);
    expect(judge(valid, outcome(200, { ms: DEADLINE_MS + 1 }), DEADLINE_MS)).toMatch(/deadline/);
    expect(judge(valid, outcome(500), DEADLINE_MS)).toMatch(/server error/);
    expect(judge(valid, outcome(503, { headers: { "retry-after": "5" } }), DEADLINE_MS)).toMatch(/must not happen/);
    expect(judge(valid, outcome(401), DEADLINE_MS)).toMatch(/expected 2xx/);
    expect(judge(refuse("bad signature", 401), outcome(200), DEADLINE_MS)).toMatch(/expected 4xx/);
    expect(judge(refuse("bad signature", 401), outcome(400), DEADLINE_MS)).toMatch(/exactly 401/);
    expect(judge(either("odd"), outcome(204), DEADLINE_MS)).toBeUndefined();
    expect(judge(either("odd"), outcome(302), DEADLINE_MS)).toMatch(/expected 2xx\|4xx/);
  });

  it("tells valid Alertmanager and PagerDuty bodies from broken ones", () => {
    const valid = alertmanagerPayload("Judge", 1, "warning");
    expect(alertmanagerVerdict(json(valid)).class).toBe("2xx");
    expect(alertmanagerVerdict(json(applyMutation(valid, { op: "add", at: 0, key: "__proto__", value: { polluted: true }, what: "" }).value)).class).toBe("4xx");
    // "\u005f_proto__" is "__proto__" once parsed.
    expect(alertmanagerVerdict(Buffer.from(json(valid).toString("utf8").replace('{"version"', '{"\\u005f_proto__":{},"version"'))).class).toBe("4xx");
    expect(alertmanagerVerdict(json({ ...valid, version: 4 })).class).toBe("4xx");
    expect(alertmanagerVerdict(json({ ...valid, groupKey: "a\u0000b" })).class).toBe("4xx");
    expect(alertmanagerVerdict(json({ ...valid, somethingNew: "a\u0000b" })).class).toBe("2xx|4xx");
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(alertmanagerVerdict(Buffer.concat([bom, json(valid)])).class).toBe("2xx");
    expect(alertmanagerVerdict(Buffer.concat([bom, bom, json(valid)])).class).toBe("4xx");
    expect(alertmanagerVerdict(json(valid).subarray(0, 100)).class).toBe("4xx");
    const event = pagerdutyEvent(1, { eventType: "incident.acknowledged", occurredAt: "2026-01-01T00:00:00.000Z", agent: "Ana", duplicate: false } as PdSpec, "key");
    expect(pagerdutyVerdict(json(event)).class).toBe("2xx");
    expect(pagerdutyVerdict(Buffer.concat([bom, json(event)])).class).toBe("2xx");
    expect(pagerdutyVerdict(Buffer.concat([bom, bom, json(event)])).class).toBe("4xx");
    expect(pagerdutyVerdict(json({ event: { ...(event.event as Record<string, JsonLike>), id: 7 } })).class).toBe("4xx");
    expect(pagerdutyVerdict(json({ event: { ...(event.event as Record<string, JsonLike>), data: null } })).class).toBe("4xx");
  });

  it("counts rows in every watched table (a stored row would show)", async () => {
    const before = await counts();
    expect(Object.values(before).every((count) => Number.isInteger(count))).toBe(true);
    expect(before.incidents).toBeGreaterThanOrEqual(1);
    expect(countChanges(before, { ...before, timeline_events: before.timeline_events + 1 })).toBe(`timeline_events ${before.timeline_events} -> ${before.timeline_events + 1}`);
  });
});
