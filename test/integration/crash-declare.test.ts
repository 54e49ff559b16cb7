import { firingNotification } from "../support/alert-payloads.ts";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFake, type RunningFake } from "../fakes/http-kit.ts";
import type { FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir } from "../support/app.ts";
import { mainEnv, startMain, type StartedMain } from "../support/main-process.ts";
import { freePort } from "../support/net.ts";
import { startPagerDutyForApp, type PagerDutyForApp } from "../support/pagerduty.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission } from "../support/slack-payloads.ts";

/**
 * kill -9 of the real entry point (src/main.ts on its embedded PostgreSQL) at each step of
 * declaring an incident, then a restart on the same data directory: the incident must converge to
 * complete (one channel, the owner invited, one header, one announcement, one PagerDuty incident,
 * every job done) well within a minute, and a remediation interrupted mid-call is reported as of
 * unknown outcome and never called again.
 *
 * Each step is caught in the act: Slack (or the provider) holds its answer, so the process dies
 * with the call made and its answer unread; Slack still carries the call out after the death
 * (the fake answers a held request after its delay whether anyone listens or not).
 */

const AM_TOKEN = "am-bearer-crash-0123456789abcdef";
const ROUTING_KEY = "R0UTECRASH".padEnd(32, "0");
const OWNER = "U0CRASHOWN1";
const RESPONDER = "U0CRASHRSP1";
const HOLD_MS = 4_000;

let slack: FakeSlack;
let pd: FakePagerDuty;
let pagerDutyEnv: PagerDutyForApp["env"];
let provider: RunningFake;
const providerCalls: string[] = [];
let dir: string;
let dataDir: string;
let configFile: string;
let announcements: string;
let main: StartedMain | undefined;
let url = "";

beforeAll(async () => {
  const tls = inject("tls");
  ({ pd, env: pagerDutyEnv } = await startPagerDutyForApp([{ id: "PCRASHSVC", name: "Checkout", policyId: "PCRASHPOL", routingKey: ROUTING_KEY }]));
  // A deploy hook that takes the call and never answers: the process dies while waiting for it.
  provider = await startFake(
    (request) => {
      providerCalls.push(request.rawBody);
      return new Promise(() => undefined);
    },
    { tls },
  );
  slack = await startFakeSlack({ users: [{ id: OWNER, name: "owner" }, { id: RESPONDER, name: "responder" }], rateLimits: false });
  announcements = slack.channels.create({ name: "incidents" }).id;
  dir = await mkdtemp(join(tmpdir(), "firebreak-crash-"));
  dataDir = join(dir, "data");
  configFile = join(dir, "firebreak.yml");
  await writeFile(
    configFile,
    `incidents: { announcementChannel: ${announcements} }
services:
  - key: checkout
    name: Checkout
    owners: [${OWNER}]
    pagerduty: { routingKey: ${ROUTING_KEY} }
    actions:
      - { id: checkout-hook, label: Roll back via deploy bot, kind: webhook, url: "${provider.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET, allowed: [${RESPONDER}] }
alerts:
  routes:
    - { name: checkout-down, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }
`,
  );
  await start();
}, 180_000);

afterAll(async () => {
  if (main && main.child.exitCode === null) {
    main.child.kill("SIGTERM");
    await main.exit;
  }
  await slack?.close();
  await pd?.close();
  await provider?.close();
  if (dir) await removeDir(dir);
});

async function start(): Promise<void> {
  const port = await freePort();
  main = startMain({
    ...mainEnv(port, slack.url, dataDir),
    ...pagerDutyEnv,
    FIREBREAK_CONFIG: configFile,
    ALERTMANAGER_TOKEN: AM_TOKEN,
    DEPLOY_WEBHOOK_SECRET: "deploy-hook-secret-crash-0123456789",
    REMEDIATION_TIMEOUT_MS: "60000",
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? "",
  });
  url = `http://127.0.0.1:${port}`;
  const started = main;
  const exited = started.exit.then((code) => {
    throw new Error(`Firebreak exited with ${code} before it was ready: ${started.stderr()}`);
  });
  await Promise.race([exited, eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 120_000, "Firebreak ready")]);
}

async function killHard(): Promise<void> {
  main?.child.kill("SIGKILL");
  await main?.exit;
}

/** Reads the embedded database through its socket while Firebreak holds the directory. */
async function query<Row extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<Row[]> {
  const password = (await readFile(join(dataDir, "postgres.password"), "utf8")).trim();
  const client = new pg.Client({ host: join(dataDir, "postgres"), port: 5432, user: "firebreak", password, database: "firebreak" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<Row>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Alertmanager declares a SEV1 for checkout: incident, channel, owner invited, header, announcement, page. */
async function alert(instance: string): Promise<void> {
  const body = JSON.stringify(firingNotification("CheckoutDown", instance, `Checkout down on ${instance}`));
  const response = await fetch(`${url}/webhooks/alertmanager`, { method: "POST", headers: { authorization: `Bearer ${AM_TOKEN}`, "content-type": "application/json" }, body });
  await response.text();
  expect(response.status).toBe(200);
}

interface IncidentRow {
  id: string;
  number: number;
  channel_id: string | null;
  header_message_ts: string | null;
}

async function incidentFor(instance: string): Promise<IncidentRow> {
  return eventually(async () => (await query<IncidentRow>("SELECT id, number, channel_id, header_message_ts FROM incidents WHERE title LIKE $1", [`%${instance}%`]))[0], 20_000, `the incident for ${instance}`);
}

/** The Slack request for `method` about `channel` (or any, without one) once it has arrived, answered or not. */
function arrived(method: string, channel?: string): Promise<true> {
  return eventually(
    async () => slack.requests.some((request) => request.method === method && (channel === undefined || request.args["channel"] === channel || request.args["channel_id"] === channel)) || undefined,
    20_000,
    `${method} to reach Slack`,
  );
}

/** After a restart: the incident is complete, with nothing done twice, and nothing left to do. */
async function converged(instance: string): Promise<void> {
  const incident = await eventually(async () => {
    const row = (await query<IncidentRow>("SELECT id, number, channel_id, header_message_ts FROM incidents WHERE title LIKE $1", [`%${instance}%`]))[0];
    return row?.channel_id && row.header_message_ts ? row : undefined;
  }, 60_000, `the incident for ${instance} to have its channel and header`);
  const channelId = incident.channel_id!;
  await eventually(async () => {
    const pending = await query<{ kind: string }>("SELECT kind FROM jobs WHERE incident_id = $1 AND status <> 'DONE' AND run_at <= now() + interval '1 minute' AND kind NOT IN ('incident.reminder')", [incident.id]);
    return pending.length === 0 || undefined;
  }, 60_000, `the incident's jobs done (${instance})`);
  const channels = slack.channels.all().filter((channel) => channel.name.startsWith(`inc-${incident.number}-`));
  expect(channels.map((channel) => channel.id)).toEqual([channelId]);
  expect(slack.channels.members(channelId)).toContain(OWNER);
  const headers = slack.messages.topLevel(channelId).filter((message) => JSON.stringify(message.blocks ?? []).includes("incident_actions") || message.ts === incident.header_message_ts);
  expect(headers.map((message) => message.ts)).toEqual([incident.header_message_ts]);
  const announced = slack.messages.topLevel(announcements).filter((message) => message.text.startsWith(`INC-${incident.number} `));
  expect(announced).toHaveLength(1);
  const dedupKey = `firebreak-${incident.id}-checkout`;
  const triggers = pd.events.filter((event) => event.dedupKey === dedupKey && event.eventAction === "trigger" && event.incidentId !== undefined);
  expect(triggers.length).toBeGreaterThanOrEqual(1);
  expect(new Set(triggers.map((event) => event.incidentId)).size).toBe(1);
  const dead = await query<{ kind: string }>("SELECT kind FROM jobs WHERE incident_id = $1 AND status = 'DEAD'", [incident.id]);
  expect(dead).toEqual([]);
}

describe("kill -9 while declaring, then a restart", () => {
  it("after the commit and the page (conversations.create under way): the channel Slack created is adopted, not duplicated; one PagerDuty incident", async () => {
    slack.setLatency(HOLD_MS, "conversations.create");
    await alert("crash-commit");
    const incident = await incidentFor("crash-commit");
    await pd.waitForEvent({ dedupKey: `firebreak-${incident.id}-checkout`, eventAction: "trigger" });
    await arrived("conversations.create");
    await killHard();
    slack.setLatency(0);
    await start();
    await converged("crash-commit");
  }, 150_000);

  it("after the channel, with the invite and the header under way (their answers unread): the owner is in, one header, not two", async () => {
    slack.setLatency(HOLD_MS, "conversations.invite");
    slack.setLatency(HOLD_MS, "chat.postMessage");
    await alert("crash-channel");
    const incident = await eventually(async () => {
      const row = await incidentFor("crash-channel");
      return row.channel_id ? row : undefined;
    }, 20_000, "the channel");
    await arrived("conversations.invite", incident.channel_id!);
    await arrived("chat.postMessage", incident.channel_id!);
    await killHard();
    slack.setLatency(0);
    await start();
    await converged("crash-channel");
  }, 150_000);

  it("after a remediation call went out: reported as of unknown outcome, never called again", async () => {
    await alert("crash-remediation");
    const incident = await eventually(async () => {
      const row = await incidentFor("crash-remediation");
      return row.channel_id && row.header_message_ts ? row : undefined;
    }, 20_000, "the header");
    const value = JSON.stringify({ incidentId: incident.id, actionId: "checkout-hook" });
    const before = slack.views.modals().length;
    const clicked = await sendBlockAction(url, { user: RESPONDER, channel: incident.channel_id!, messageTs: incident.header_message_ts!, actionId: "remediation.open:0", value, triggerId: slack.newTriggerId(RESPONDER) });
    expect(clicked.status).toBe(200);
    const view = await eventually(async () => {
      const candidate = slack.views.modals().slice(before).find((modal) => modal.callback_id === "remediation.confirm");
      return candidate && !JSON.stringify(candidate.view).includes("Reading the current state") ? candidate : undefined;
    }, 15_000, "the confirmation");
    const callsBefore = providerCalls.length;
    const submitted = await sendViewSubmission(url, { user: RESPONDER, values: {}, ...fromFakeView(view) });
    expect(submitted.status).toBe(200);
    await eventually(async () => providerCalls.length > callsBefore || undefined, 20_000, "the deploy hook called");
    await killHard();
    await start();
    const finished = await eventually(async () => (await query<{ data: { status?: string } }>("SELECT data FROM timeline_events WHERE incident_id = $1 AND type = 'remediation.finished'", [incident.id]))[0], 60_000, "the outcome recorded");
    expect(finished.data.status).toBe("unknown");
    await eventually(async () => slack.messages.topLevel(incident.channel_id!).some((message) => JSON.stringify(message.blocks ?? []).includes("Roll back via deploy bot") && /unknown/i.test(JSON.stringify(message.blocks ?? []))) || undefined, 30_000, "the unknown outcome posted");
    await converged("crash-remediation");
    expect(providerCalls.length - callsBefore).toBe(1);
  }, 150_000);
});
