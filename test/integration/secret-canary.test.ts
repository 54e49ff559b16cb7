import { readFile } from "node:fs/promises";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFakePagerDuty, type FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../fakes/webhook-receiver/index.ts";
import { captureLogs, eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendCommand, TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "../support/slack-requests.ts";

/**
 * The log canary: Firebreak runs the scenarios that touch every secret it
 * holds (Slack's token and signing secret, Alertmanager's token, PagerDuty's
 * token, routing key and webhook secret, a remediation provider's secret, the
 * API token, the embedded database's password), each recognisable, with
 * debug logs on; then none of them may appear in any log line, any Slack
 * call, any timeline entry or any post-mortem export.
 */

const CANARY = {
  alertmanager: "CANARY-am-token-7f3a9c1e5b",
  apiToken: "CANARY-api-token-4d8e2b6a0c",
  webhookSecret: "CANARY-pd-webhook-secret-9b1d",
  deploySecret: "CANARY-deploy-secret-2e6f0a4c8",
  routingKey: "CANARYR0UTE".padEnd(32, "7"),
};
const COMMANDER = "U0CANARY01";

let slack: FakeSlack;
let pd: FakePagerDuty;
let receiver: WebhookReceiver;
let app: TestApp;
let configDir: string;

beforeAll(async () => {
  const tls = inject("tls");
  pd = await startFakePagerDuty({ tls, tokens: ["CANARY-pd-rest-token-1a2b3c"] });
  const policy = pd.addEscalationPolicy({ id: "PCANPOL1", name: "Canary on-call" });
  pd.addService({ id: "PCANSVC1", name: "Checkout", escalationPolicyId: policy.id, integrationKey: CANARY.routingKey });
  receiver = await startWebhookReceiver({ tls, secret: CANARY.deploySecret });
  slack = await startFakeSlack({ users: [{ id: COMMANDER, name: "commander" }], rateLimits: { "chat.postMessage": TEST_SPEED, "views.open": TEST_SPEED, "views.update": TEST_SPEED } });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-canary-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    `incidents:
  admins: [${COMMANDER}]
services:
  - key: checkout
    name: Checkout
    pagerduty: { routingKey: ${CANARY.routingKey}, escalationPolicy: PCANPOL1 }
    actions:
      - { id: checkout-deploy-hook, label: Roll back via deploy bot, kind: webhook, url: "${receiver.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET }
alerts:
  routes:
    - { name: checkout-down, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }
`,
  );
  app = await startTestApp({
    slack,
    logs: captureLogs("debug"),
    env: {
      FIREBREAK_CONFIG: configFile,
      ALERTMANAGER_TOKEN: CANARY.alertmanager,
      API_TOKEN: CANARY.apiToken,
      PAGERDUTY_TOKEN: "CANARY-pd-rest-token-1a2b3c",
      PAGERDUTY_API_URL: pd.url,
      PAGERDUTY_EVENTS_URL: pd.url,
      PAGERDUTY_WEBHOOK_SECRET: CANARY.webhookSecret,
      DEPLOY_WEBHOOK_SECRET: CANARY.deploySecret,
      LOG_LEVEL: "debug",
    },
  });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await pd?.close();
  await receiver?.close();
  if (app) await removeDir(app.dataDir);
  if (configDir) await removeDir(configDir);
});

function alert(instance: string, token: string) {
  const labels = { alertname: "CheckoutDown", severity: "critical", instance };
  return fetch(`${app.url}/webhooks/alertmanager`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      version: "4",
      groupKey: `{}:{instance="${instance}"}`,
      truncatedAlerts: 0,
      status: "firing",
      receiver: "firebreak",
      groupLabels: { instance },
      commonLabels: labels,
      commonAnnotations: { summary: `Checkout down on ${instance}` },
      externalURL: "http://alertmanager.example.internal:9093",
      alerts: [{ status: "firing", labels, annotations: { summary: `Checkout down on ${instance}` }, startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: "0001-01-01T00:00:00Z", generatorURL: "http://prometheus.example.internal:9090/graph", fingerprint: instance.padEnd(16, "0").slice(0, 16) }],
    }),
  });
}

describe("the secret canary", () => {
  it("no secret reaches a log line, a Slack call, the timeline or a post-mortem, across every scenario", async () => {
    const databasePassword = (await readFile(join(app.dataDir, "postgres.password"), "utf8")).trim();
    expect(databasePassword.length).toBeGreaterThan(8);

    // Alertmanager: refused with a wrong token, then accepted; the alert declares and pages.
    expect((await alert("canary-1", "wrong-token-0123456789abcdef")).status).toBe(401);
    expect((await alert("canary-1", CANARY.alertmanager)).status).toBeLessThan(300);
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: { contains: "canary-1" }, headerMessageTs: { not: null } } })) ?? undefined, 20_000, "the incident");
    const dedupKey = `firebreak-${incident.id}-checkout`;
    await pd.waitForEvent({ dedupKey, eventAction: "trigger" });

    // Slack: a forged request, and real commands.
    expect((await sendCommand(app.url, "list", {}, { forgedSignature: "v0=deadbeef" })).status).toBe(401);
    await sendCommand(app.url, "note Checking the canary", { channel_id: incident.channelId!, user_id: COMMANDER });

    // PagerDuty: a forged webhook, then a real one.
    expect((await pd.sendWebhook(`${app.url}/webhooks/pagerduty`, { event_type: "incident.acknowledged", incident: dedupKey }, { secret: "not-the-secret-0123456789", forge: "bad-signature" })).status).toBe(401);
    expect((await pd.sendWebhook(`${app.url}/webhooks/pagerduty`, { event_type: "incident.acknowledged", incident: dedupKey }, { secret: CANARY.webhookSecret })).status).toBe(202);

    // A remediation through the signed webhook, failing once (the provider's error is shown), then run.
    receiver.failNext({ status: 500, times: 3, message: "deploy bot is down" });
    for (let run = 0; run < 2; run++) {
      const before = slack.views.modals().length;
      await sendBlockAction(app.url, { user: COMMANDER, channel: incident.channelId!, messageTs: incident.headerMessageTs!, actionId: "remediation.open:0", value: JSON.stringify({ incidentId: incident.id, actionId: "checkout-deploy-hook" }), triggerId: slack.newTriggerId(COMMANDER) });
      const view = await eventually(async () => {
        const candidate = slack.views.modals().slice(before).find((modal) => modal.callback_id === "remediation.confirm");
        return candidate && !JSON.stringify(candidate.view).includes("Reading the current state") ? candidate : undefined;
      }, 15_000, "the confirmation");
      await sendViewSubmission(app.url, { user: COMMANDER, values: {}, ...fromFakeView(view) });
      await eventually(async () => (await app.database.prisma.timelineEvent.count({ where: { incidentId: incident.id, type: "remediation.finished" } })) === run + 1, 20_000, "the outcome");
    }
    await sendCommand(app.url, "resolve Canary done", { channel_id: incident.channelId!, user_id: COMMANDER });
    await waitForIdleJobs(app, 30_000);

    // The API: a wrong token, then the exports.
    expect((await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.md`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const exports = await Promise.all(
      ["md", "html", "json"].map(async (format) => (await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.${format}`, { headers: { authorization: `Bearer ${CANARY.apiToken}` } })).text()),
    );
    expect(exports[0]).toContain("Roll back via deploy bot");

    const secrets = [...Object.values(CANARY), "CANARY-pd-rest-token-1a2b3c", databasePassword, TEST_BOT_TOKEN, TEST_SIGNING_SECRET];
    const places = {
      logs: app.logs.text(),
      slack: JSON.stringify(slack.calls.map((call) => call.args)),
      timeline: JSON.stringify(await app.database.prisma.timelineEvent.findMany(), (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value)),
      executions: JSON.stringify(await app.database.prisma.remediationExecution.findMany()),
      exports: exports.join("\n"),
    };
    // The debug logs really did cover the scenarios (a canary in an empty log proves nothing).
    expect(places.logs.length).toBeGreaterThan(10_000);
    expect(places.logs).toContain("PagerDuty");
    expect(slack.callsTo("chat.postMessage").filter((call) => call.ok && String(call.args["text"]).includes("Could not bring in the on-call engineer"))).toHaveLength(1);
    for (const [where, text] of Object.entries(places)) {
      for (const secret of secrets) expect(text.includes(secret), `${secret.slice(0, 12)}… in ${where}`).toBe(false);
    }
  }, 120_000);
});
