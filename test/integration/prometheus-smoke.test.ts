import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack, type FakeSlackCall } from "../fakes/slack/index.ts";
import { startAlertmanager, type RunningAlertmanager } from "../support/alertmanager.ts";
import { eventually, removeDir, startTestApp, type TestApp } from "../support/app.ts";
import { errorMessage } from "../support/daemon.ts";
import { startPrometheus, type RunningPrometheus } from "../support/prometheus.ts";

/**
 * Smoke test through REAL Prometheus 2.42 and Alertmanager 0.25 (Debian packages): Prometheus
 * evaluates an always-firing rule (`vector(1)`) every second and sends the alert to Alertmanager,
 * which delivers it (group_wait 100 ms, bearer token) to the app's webhook; the app declares an
 * incident, opens its channel and posts the alert there (fake Slack).
 *
 * Prometheus learns of its Alertmanager through service discovery, which passes targets on at
 * most every 5 s: the first alert reaches Alertmanager 5-7 s after Prometheus is ready (alerts
 * sent before are dropped and re-sent a second later, resend delay 1 s), and the incident is
 * declared about a second after that.
 */
const TOKEN = "prometheus-smoke-bearer-token-0123456789";
const SUMMARY = "Firebreak smoke test alert";

let dataDir: string | undefined;
let slack: FakeSlack;
let app: TestApp;
let am: RunningAlertmanager;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  slack = await startFakeSlack();
  dataDir = await mkdtemp(join(tmpdir(), "firebreak-prom-smoke-"));
  app = await startTestApp({ slack, dataDir: join(dataDir, "db"), env: { ALERTMANAGER_TOKEN: TOKEN } });
  am = await startAlertmanager({ webhookUrl: `${app.url}/webhooks/alertmanager`, bearerToken: TOKEN, groupWaitMs: 100 });
  prometheus = await startPrometheus({
    alertmanagerUrl: am.url,
    rules: [
      {
        alert: "FirebreakSmoke",
        expr: "vector(1)",
        labels: { severity: "critical", service: "smoke" },
        annotations: {
          summary: SUMMARY,
          // Expanded by Prometheus when it evaluates the rule.
          description: "vector(1) evaluated to {{ $value }}.",
          runbook_url: "https://runbooks.example.com/firebreak/smoke",
        },
      },
    ],
  });
});

afterAll(async () => {
  await prometheus?.stop();
  await am?.stop();
  await app?.stop();
  await slack?.close();
  if (dataDir) await removeDir(dataDir);
});

describe("Prometheus -> Alertmanager -> Firebreak (all real, fake Slack)", () => {
  it("declares an incident for an always-firing alerting rule", async () => {
    const diagnostics = (): string => `\n--- Prometheus:\n${prometheus.logs().slice(-3000)}\n--- Alertmanager:\n${am.logs().slice(-3000)}`;
    const incident = await eventually(
      async () => (await app.database.prisma.incident.findFirst({ where: { source: "ALERT" } })) ?? undefined,
      20_000,
      "incident declared from the Prometheus alert",
    ).catch((error: unknown) => {
      throw new Error(`${errorMessage(error)}${diagnostics()}`);
    });
    expect(incident).toMatchObject({ source: "ALERT", severity: "SEV1", title: SUMMARY });

    // Its channel exists in the fake Slack, and the alerts message there shows the alert.
    const [create] = await slack.waitFor({ method: "conversations.create", ok: true }, 10_000);
    const channelId = String((create?.response.channel as { id?: unknown } | undefined)?.id);
    expect(slack.channels.get(channelId).name).toMatch(new RegExp(`^inc-${incident.number}-`));
    const inChannel = (call: FakeSlackCall): boolean => call.ok && call.args.channel === channelId && /alert\(s\) firing/.test(String(call.args.text));
    const [post] = await slack.waitFor({ method: "chat.postMessage", where: inChannel }, 10_000);
    const blocks = JSON.stringify(post?.args.blocks);
    expect(blocks).toContain(SUMMARY);
    expect(blocks).toContain("vector(1) evaluated to 1.");
    expect(blocks).toContain("https://runbooks.example.com/firebreak/smoke");

    // The stored alert carries exactly the rule's labels, and Prometheus as its generator.
    const group = await app.database.prisma.alertGroup.findFirstOrThrow({ where: { incidentId: incident.id }, include: { alerts: true } });
    expect(group.alerts).toHaveLength(1);
    const [alert] = group.alerts;
    expect(alert?.labels).toEqual({ alertname: "FirebreakSmoke", severity: "critical", service: "smoke" });
    expect(alert?.annotations).toMatchObject({ summary: SUMMARY, runbook_url: "https://runbooks.example.com/firebreak/smoke" });
    expect(alert?.status).toBe("FIRING");
    expect(alert?.generatorUrl).toMatch(new RegExp(`^${prometheus.url}/graph\\?`));
  }, 45_000); // above the sum of the bounded waits, so that a timeout names what it waited for
});
