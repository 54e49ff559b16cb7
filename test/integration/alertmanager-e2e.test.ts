import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack, type FakeSlackCall } from "../fakes/slack/index.ts";
import { startAlertmanager, type PostableAlert, type RunningAlertmanager } from "../support/alertmanager.ts";
import { eventually, removeDir, startTestApp, type TestApp } from "../support/app.ts";

/**
 * End to end through a REAL Prometheus Alertmanager 0.25: alerts posted to
 * its API are grouped by it and delivered to the app's webhook with the
 * bearer token of its http_config; the app declares one SEV1 incident, opens
 * its channel and posts the alerts there (fake Slack), stays at one incident
 * while Alertmanager keeps re-sending the group, and records the resolve.
 *
 * Timings: group_wait 100 ms, group_interval 1 s, repeat_interval 2 s (so
 * Alertmanager re-sends the unchanged group on its own within seconds).
 */
const TOKEN = "am-e2e-bearer-token-0123456789abcdef";
const OWNER = "U0RESPOND1";

let slack: FakeSlack;
let app: TestApp;
let am: RunningAlertmanager;
let dataDir: string | undefined;

const alert: PostableAlert = {
  labels: { alertname: "CheckoutErrorRate", service: "checkout", severity: "critical" },
  annotations: {
    summary: "Checkout error rate above 5%",
    description: "5xx ratio of checkout is 12% over the last 5 minutes.",
    runbook_url: "https://runbooks.example.com/checkout/error-rate",
  },
  generatorURL: "http://prometheus.example.com/graph?g0.expr=checkout_errors",
};

beforeAll(async () => {
  slack = await startFakeSlack();
  const dir = await mkdtemp(join(tmpdir(), "firebreak-am-e2e-"));
  dataDir = dir;
  const configPath = join(dir, "firebreak.yml");
  await writeFile(configPath, ["services:", "  - key: checkout", "    name: Checkout", `    owners: [${OWNER}]`, ""].join("\n"));
  app = await startTestApp({ slack, dataDir: join(dir, "db"), env: { ALERTMANAGER_TOKEN: TOKEN, FIREBREAK_CONFIG: configPath } });
  am = await startAlertmanager({
    webhookUrl: `${app.url}/webhooks/alertmanager`,
    bearerToken: TOKEN,
    groupWaitMs: 100,
    groupIntervalMs: 1_000,
    repeatIntervalMs: 2_000,
  });
});

afterAll(async () => {
  await am?.stop();
  await app?.stop();
  await slack?.close();
  if (dataDir) await removeDir(dataDir);
});

function postsIn(channel: string, text: RegExp) {
  return (call: FakeSlackCall): boolean => call.ok && call.args.channel === channel && text.test(String(call.args.text));
}

// A story: each step builds on the one before, so its steps keep their order under
// --sequence.shuffle ({ shuffle: false }); the story as a whole depends on no other describe.
describe("Alertmanager -> Firebreak (real Alertmanager, fake Slack)", { shuffle: false }, () => {
  let channelId: string;
  let incidentId: string;

  it("declares one SEV1 incident from a critical alert, opens its channel and posts the alerts", async () => {
    const started = Date.now();
    await am.postAlerts([alert]);

    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { source: "ALERT" } })) ?? undefined, 10_000, "incident declared from the alert");
    expect(incident).toMatchObject({ source: "ALERT", severity: "SEV1", title: "Checkout error rate above 5%", declaredById: null, services: ["checkout"] });
    incidentId = incident.id;

    const [create] = await slack.waitFor({ method: "conversations.create", ok: true }, 10_000);
    channelId = String((create?.response.channel as { id?: unknown } | undefined)?.id);
    const channel = slack.channels.get(channelId);
    expect(channel.name).toBe(`inc-${incident.number}-checkout-error-rate-above-5`);

    // The alerts message, with the annotations and the runbook as a button.
    const [post] = await slack.waitFor({ method: "chat.postMessage", where: postsIn(channelId, /alert\(s\) firing/) }, 10_000);
    const blocks = JSON.stringify(post?.args.blocks);
    expect(blocks).toContain("Checkout error rate above 5%");
    expect(blocks).toContain("5xx ratio of checkout is 12%");
    expect(blocks).toContain("https://runbooks.example.com/checkout/error-rate");
    expect(blocks).toContain("severity=critical");
    expect(slack.messages.in(channelId).some((message) => message.text.includes("alert(s) firing"))).toBe(true);

    // The service owner is invited; the group and its alert are recorded and linked.
    await eventually(async () => slack.channels.get(channelId).members.includes(OWNER), 10_000, "service owner invited");
    const group = await app.database.prisma.alertGroup.findFirstOrThrow({ include: { alerts: true } });
    expect(group).toMatchObject({ incidentId, status: "FIRING", severity: "SEV1", serviceKey: "checkout", disposition: "DECLARE" });
    expect(group.alerts).toHaveLength(1);
    expect(group.alerts[0]).toMatchObject({ status: "FIRING", fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown });
    const events = await app.database.prisma.timelineEvent.findMany({ where: { incidentId }, select: { type: true } });
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(["incident.declared", "alert.firing"]));
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("stays one incident, with one alerts message, while Alertmanager re-sends the group", async () => {
    // repeat_interval 2 s: Alertmanager re-sends the unchanged group by itself.
    await eventually(async () => ((await app.database.prisma.alertDelivery.count()) >= 3 ? true : undefined), 15_000, "Alertmanager re-sent the group twice");
    await eventually(
      async () => ((await app.database.prisma.alertDelivery.count({ where: { processedAt: null } })) === 0 ? true : undefined),
      10_000,
      "deliveries processed",
    );

    const deliveries = await app.database.prisma.alertDelivery.findMany({ select: { groupKey: true } });
    expect(new Set(deliveries.map((delivery) => delivery.groupKey)).size).toBe(1);
    expect(await app.database.prisma.incident.count()).toBe(1);
    expect(await app.database.prisma.alertGroup.count()).toBe(1);
    expect(await app.database.prisma.alert.count()).toBe(1);
    expect(slack.callsTo("conversations.create").filter((call) => call.ok)).toHaveLength(1);
    expect(slack.callsTo("chat.postMessage").filter(postsIn(channelId, /alert\(s\) firing/))).toHaveLength(1);
    const firing = await app.database.prisma.timelineEvent.count({ where: { incidentId, type: "alert.firing" } });
    expect(firing).toBe(1);
    // No delivery was refused: every one Alertmanager sent carried the right bearer token.
    expect(am.logs()).toContain("Notify success");
    expect(am.logs()).not.toMatch(/Notify for alerts failed|unexpected status code/i);
  });

  it("records the resolve and posts the 'all alerts resolved' message", async () => {
    await am.postAlerts([{ ...alert, startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: new Date(Date.now() - 1_000).toISOString() }]);

    // The resolved notification waits for the next group_interval (1 s).
    const [post] = await slack.waitFor({ method: "chat.postMessage", where: postsIn(channelId, /All alerts of INC-\d+ have resolved/) }, 15_000);
    expect(JSON.stringify(post?.args.blocks)).toContain("Resolve");

    const resolved = await app.database.prisma.timelineEvent.findMany({ where: { incidentId, type: "alert.resolved" } });
    expect(resolved).toHaveLength(1);
    expect(resolved[0]?.text).toBe("Resolved: CheckoutErrorRate");
    const group = await app.database.prisma.alertGroup.findFirstOrThrow({ include: { alerts: true } });
    expect(group.status).toBe("RESOLVED");
    expect(group.alerts[0]?.status).toBe("RESOLVED");
    expect(group.alerts[0]?.endsAt).not.toBeNull();

    // Without autoResolve on its route the incident stays open: people resolve it.
    const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } });
    expect(incident.status).not.toBe("RESOLVED");
    expect(await app.database.prisma.incident.count()).toBe(1);
  });

  it("refuses an Alertmanager that sends the wrong token, and stores nothing from it", async () => {
    const stored = () => app.database.prisma.alertDelivery.count();
    const before = await stored();
    const intruder = await startAlertmanager({ webhookUrl: `${app.url}/webhooks/alertmanager`, bearerToken: "not-the-configured-token-000000", groupWaitMs: 100 });
    try {
      await intruder.postAlerts([{ labels: { alertname: "Forged", service: "checkout", severity: "critical" } }]);
      await eventually(async () => /unexpected status code 401/.test(intruder.logs()), 10_000, "Alertmanager told 401");
    } finally {
      await intruder.stop();
    }
    expect(await stored()).toBe(before);
    expect(await app.database.prisma.incident.count()).toBe(1);
  });
});
