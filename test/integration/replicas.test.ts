import { firingNotification } from "../support/alert-payloads.ts";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../fakes/webhook-receiver/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { startPagerDutyForApp } from "../support/pagerduty.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendToSlackEndpoint, slashCommandBody } from "../support/slack-requests.ts";

/**
 * Two Firebreak processes' worth of app (two composition roots, two job
 * workers, two HTTP servers) on one PostgreSQL database, behind an imagined
 * load balancer that sends each copy of a request to a different replica:
 * Alertmanager's HA pair, Slack's retries, a double submit and PagerDuty's
 * redelivered webhook must each take effect once, whichever replica gets
 * which copy. Nothing that guards against doubles may live in one process.
 */

const AM_TOKEN = "am-bearer-0123456789abcdef0123";
const WEBHOOK_SECRET = "pd-webhook-secret-replicas-0123456789";
const DEPLOY_SECRET = "deploy-hook-secret-replicas-0123456789";
const ROUTING_KEY = "R0UTEREPLICAS".padEnd(32, "0");
const COMMANDER = "U0REPLICA1";

let slack: FakeSlack;
let pd: FakePagerDuty;
let receiver: WebhookReceiver;
let database: TestDatabase;
let configDir: string;
const apps: TestApp[] = [];

beforeAll(async () => {
  const pagerDuty = await startPagerDutyForApp([{ id: "PREPSVC1", name: "Checkout", policyId: "PREPPOL1", routingKey: ROUTING_KEY }]);
  pd = pagerDuty.pd;
  receiver = await startWebhookReceiver({ tls: inject("tls"), secret: DEPLOY_SECRET });
  slack = await startFakeSlack({
    users: [{ id: COMMANDER, name: "commander" }],
    rateLimits: { "chat.postMessage": TEST_SPEED, "conversations.setTopic": TEST_SPEED, "bookmarks.edit": TEST_SPEED, "chat.update": TEST_SPEED, "views.open": TEST_SPEED, "views.update": TEST_SPEED },
  });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-replicas-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    `services:
  - key: checkout
    name: Checkout
    pagerduty: { routingKey: ${ROUTING_KEY} }
    actions:
      - { id: checkout-deploy-hook, label: Roll back via deploy bot, kind: webhook, url: "${receiver.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET }
alerts:
  routes:
    - { name: checkout-down, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }
`,
  );
  database = await createTestDatabase(inject("postgresUrl"));
  const env = {
    ...pagerDuty.env,
    FIREBREAK_CONFIG: configFile,
    ALERTMANAGER_TOKEN: AM_TOKEN,
    PAGERDUTY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DEPLOY_WEBHOOK_SECRET: DEPLOY_SECRET,
  };
  // One after the other: the first applies the migrations, the second finds them applied.
  for (let i = 0; i < 2; i++) apps.push(await startTestApp({ slack, databaseUrl: database.url, env }));
}, 90_000);

afterAll(async () => {
  for (const app of apps) {
    await app.stop();
    await removeDir(app.dataDir);
  }
  await database?.drop();
  await slack?.close();
  await pd?.close();
  await receiver?.close();
  if (configDir) await removeDir(configDir);
});

afterEach(async () => {
  for (const app of apps) await waitForIdleJobs(app, 30_000);
});

const [first, second] = [() => apps[0]!, () => apps[1]!];
const prisma = () => first().database.prisma;

/** CheckoutDown firing on `instance`, as Alertmanager sends it. */
function checkoutDown(instance: string): string {
  return JSON.stringify(firingNotification("CheckoutDown", instance, `Checkout down on ${instance}`));
}

async function deliver(app: TestApp, body: string): Promise<number> {
  const response = await fetch(`${app.url}/webhooks/alertmanager`, { method: "POST", headers: { authorization: `Bearer ${AM_TOKEN}`, "content-type": "application/json" }, body });
  await response.text();
  return response.status;
}

describe("two replicas on one database", () => {
  it("Alertmanager's HA pair delivering to both: one incident, one channel, one header, one page", async () => {
    const body = checkoutDown("replica-ha");
    const statuses = await Promise.all([deliver(first(), body), deliver(second(), body), deliver(first(), body), deliver(second(), body)]);
    expect(statuses.every((status) => status >= 200 && status < 300)).toBe(true);
    const incident = await eventually(async () => (await prisma().incident.findFirst({ where: { title: { contains: "replica-ha" }, headerMessageTs: { not: null } } })) ?? undefined, 20_000, "the incident with its header");
    const dedupKey = `firebreak-${incident.id}-checkout`;
    await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    for (const app of apps) await waitForIdleJobs(app, 30_000);

    expect(await prisma().incident.count({ where: { title: { contains: "replica-ha" } } })).toBe(1);
    expect(slack.callsTo("conversations.create").filter((call) => call.ok && String(call.args["name"]).includes(`inc-${incident.number}-`))).toHaveLength(1);
    const headers = slack.callsTo("chat.postMessage").filter((call) => call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"] ?? "").includes("incident_actions"));
    expect(headers).toHaveLength(1);
    expect(pd.events.filter((event) => event.dedupKey === dedupKey && event.eventAction === "trigger")).toHaveLength(1);
  }, 60_000);

  it("a slash command and Slack's retry of it on the other replica: one incident", async () => {
    const title = "Replicas retried declare";
    const body = slashCommandBody({ text: `declare sev3 ${title}`, user_id: COMMANDER, trigger_id: slack.newTriggerId(COMMANDER) });
    const answers = await Promise.all([sendToSlackEndpoint(first().url, body), sendToSlackEndpoint(second().url, body, { retryNum: 1 })]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    await eventually(async () => (await prisma().incident.findFirst({ where: { title, headerMessageTs: { not: null } } })) ?? undefined, 20_000, "declared");
    for (const app of apps) await waitForIdleJobs(app, 30_000);
    expect(await prisma().incident.count({ where: { title } })).toBe(1);
  }, 60_000);

  it("a confirmation submitted to both replicas (double submit): one execution, one call, one message", async () => {
    const title = "Replicas double submit";
    await sendToSlackEndpoint(first().url, slashCommandBody({ text: `declare sev2 ${title}`, user_id: COMMANDER, trigger_id: slack.newTriggerId(COMMANDER) }));
    const incident = await eventually(async () => (await prisma().incident.findFirst({ where: { title, headerMessageTs: { not: null } } })) ?? undefined, 20_000, "declared");
    await prisma().incident.update({ where: { id: incident.id }, data: { services: ["checkout"] } });
    const value = JSON.stringify({ incidentId: incident.id, actionId: "checkout-deploy-hook" });
    const before = slack.views.modals().length;
    const clicked = await sendBlockAction(second().url, { user: COMMANDER, channel: incident.channelId!, messageTs: incident.headerMessageTs!, actionId: "remediation.open:0", value, triggerId: slack.newTriggerId(COMMANDER) });
    expect(clicked.status).toBe(200);
    const view = await eventually(async () => {
      const candidate = slack.views.modals().slice(before).find((modal) => modal.callback_id === "remediation.confirm");
      return candidate && !JSON.stringify(candidate.view).includes("Reading the current state") ? candidate : undefined;
    }, 15_000, "the confirmation");
    const deliveriesBefore = receiver.deliveries.length;
    const submissions = await Promise.all([first(), second(), first(), second()].map((app) => sendViewSubmission(app.url, { user: COMMANDER, values: {}, ...fromFakeView(view) })));
    expect(submissions.every((response) => response.status === 200)).toBe(true);
    await eventually(async () => (await prisma().timelineEvent.count({ where: { incidentId: incident.id, type: "remediation.finished" } })) === 1, 20_000, "the outcome");
    for (const app of apps) await waitForIdleJobs(app, 30_000);
    expect(await prisma().remediationExecution.count({ where: { incidentId: incident.id } })).toBe(1);
    expect(receiver.deliveries.length - deliveriesBefore).toBe(1);
    const results = slack.callsTo("chat.postMessage").filter((call) => call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"] ?? "").includes("Roll back via deploy bot") && JSON.stringify(call.args["blocks"] ?? "").includes("succeeded"));
    expect(results).toHaveLength(1);
  }, 60_000);

  it("PagerDuty's webhook redelivered to the other replica: recorded once", async () => {
    const body = checkoutDown("replica-webhook");
    expect(await deliver(second(), body)).toBeLessThan(300);
    const incident = await eventually(async () => (await prisma().incident.findFirst({ where: { title: { contains: "replica-webhook" }, channelId: { not: null } } })) ?? undefined, 20_000, "the incident");
    const dedupKey = `firebreak-${incident.id}-checkout`;
    await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    const sent = await pd.sendWebhook(`${first().url}/webhooks/pagerduty`, { event_type: "incident.acknowledged", incident: dedupKey }, { secret: WEBHOOK_SECRET });
    expect(sent.status).toBe(202);
    const again = await fetch(`${second().url}/webhooks/pagerduty`, { method: "POST", headers: sent.delivery.headers, body: sent.delivery.rawBody });
    expect(again.status).toBe(202);
    for (const app of apps) await waitForIdleJobs(app, 30_000);
    expect(await prisma().timelineEvent.count({ where: { incidentId: incident.id, type: "pagerduty.incident" } })).toBe(1);
    const notices = slack.callsTo("chat.postMessage").filter((call) => call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"] ?? "").includes("acknowledged the PagerDuty page"));
    expect(notices).toHaveLength(1);
  }, 60_000);
});
