import { firingNotification } from "../support/alert-payloads.ts";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { startPagerDutyForApp } from "../support/pagerduty.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { sendToSlackEndpoint, slashCommandBody } from "../support/slack-requests.ts";

/**
 * Slack unreachable, then answering 429: slash commands are still acknowledged, the page for an
 * alert-declared incident goes out while Slack is down, and once Slack answers again the queued
 * work drains in the order it was queued (channel creation most urgent first, then in declaration
 * order), with nothing lost or dead.
 */

const AM_TOKEN = "am-bearer-outage-0123456789abcdef";
const ROUTING_KEY = "R0UTEOUTAGE".padEnd(32, "0");
const DECLARER = "U0OUTAGE01";

let slack: FakeSlack;
let pd: FakePagerDuty;
let database: TestDatabase;
let app: TestApp;
let configDir: string;

beforeAll(async () => {
  const pagerDuty = await startPagerDutyForApp([{ id: "POUTSVC1", name: "Checkout", policyId: "POUTPOL1", routingKey: ROUTING_KEY }]);
  pd = pagerDuty.pd;
  slack = await startFakeSlack({ users: [{ id: DECLARER, name: "declarer" }], rateLimits: false });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-outage-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    `services:
  - key: checkout
    name: Checkout
    pagerduty: { routingKey: ${ROUTING_KEY} }
alerts:
  routes:
    - { name: checkout-down, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }
`,
  );
  database = await createTestDatabase(inject("postgresUrl"));
  app = await startTestApp({
    slack,
    databaseUrl: database.url,
    env: { ...pagerDuty.env, FIREBREAK_CONFIG: configFile, ALERTMANAGER_TOKEN: AM_TOKEN },
  });
}, 90_000);

afterAll(async () => {
  await app?.stop();
  if (app) await removeDir(app.dataDir);
  await database?.drop();
  await slack?.close();
  await pd?.close();
  if (configDir) await removeDir(configDir);
});

describe("Slack down, then rate limiting", () => {
  it("acknowledges commands, pages without waiting for Slack, and drains the queued work in order once Slack answers", async () => {
    const port = slack.port;
    await slack.close();

    // Slack is unreachable: two declares and an alert are accepted all the same.
    for (const title of ["Outage first", "Outage second"]) {
      const answer = await sendToSlackEndpoint(app.url, slashCommandBody({ text: `declare sev2 ${title}`, user_id: DECLARER }));
      expect(answer.status).toBe(200);
      expect(answer.text).toContain("INC-");
    }
    const delivered = await fetch(`${app.url}/webhooks/alertmanager`, { method: "POST", headers: { authorization: `Bearer ${AM_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(firingNotification("CheckoutDown", "outage-third", "Checkout down on outage-third")) });
    await delivered.text();
    expect(delivered.status).toBe(200);
    const prisma = app.database.prisma;
    const paged = await eventually(async () => (await prisma.incident.findFirst({ where: { title: { contains: "outage-third" } } })) ?? undefined, 20_000, "the alert's incident");
    // The page does not queue behind Slack's backlog.
    await pd.waitForEvent({ dedupKey: `firebreak-${paged.id}-checkout`, eventAction: "trigger" }, { timeoutMs: 20_000 });
    // Slack was tried and failed, more than once, and the work is still queued.
    await eventually(async () => (await prisma.job.findFirst({ where: { kind: "incident.create_channel", status: "PENDING", attempts: { gte: 2 } } })) ?? undefined, 20_000, "channel creation retried while Slack is down");
    expect(await prisma.job.count({ where: { status: "DEAD" } })).toBe(0);
    expect(await prisma.incident.count({ where: { channelId: { not: null } } })).toBe(0);

    // Slack answers again, with 429s on what Firebreak needs first.
    slack = await startFakeSlack({ port, users: [{ id: DECLARER, name: "declarer" }], rateLimits: false });
    slack.rateLimit("conversations.create", { retryAfterSeconds: 1, times: 1 });
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 2 });

    const incidents = await eventually(async () => {
      const rows = await prisma.incident.findMany({ orderBy: { number: "asc" } });
      return rows.length === 3 && rows.every((row) => row.channelId && row.headerMessageTs) ? rows : undefined;
    }, 60_000, "every channel and header once Slack is back");
    await waitForIdleJobs(app, 30_000);

    expect(slack.callsTo("conversations.create").some((call) => call.status === 429)).toBe(true);
    expect(slack.callsTo("chat.postMessage").some((call) => call.status === 429)).toBe(true);
    // One channel each: the SEV1 first (most urgent first), then the SEV2s in the order declared.
    const created = slack.callsTo("conversations.create").filter((call) => call.ok).map((call) => String(call.args["name"]));
    expect(created.map((name) => name.split("-")[1])).toEqual(["3", "1", "2"]);
    expect([...created].sort()).toEqual(incidents.map((incident) => incident.channelName).sort());
    // In each channel the header, once; the declarer invited.
    for (const incident of incidents) {
      const headers = slack.messages.topLevel(incident.channelId!).filter((message) => JSON.stringify(message.blocks ?? []).includes("incident_actions"));
      expect(headers.map((message) => message.ts)).toEqual([incident.headerMessageTs]);
      if (incident.declaredById) expect(slack.channels.members(incident.channelId!)).toContain(incident.declaredById);
    }
    expect(await prisma.job.count({ where: { status: "DEAD" } })).toBe(0);
  }, 120_000);
});
