// Checks test/support/alertmanager.ts against the real Alertmanager: alerts posted to it reach a
// local webhook receiver with the configured credentials, and resolves are sent too.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAlertmanager, type AlertmanagerWebhookPayload, type RunningAlertmanager } from "./alertmanager.ts";

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  payload: AlertmanagerWebhookPayload;
  receivedAt: number;
}

interface WebhookReceiver {
  url: string;
  requests: RecordedRequest[];
  /** Resolves with the first recorded request (old or new) that matches, or rejects after timeoutMs. */
  waitFor(match: (request: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        payload: JSON.parse(Buffer.concat(chunks).toString("utf8")) as AlertmanagerWebhookPayload,
        receivedAt: Date.now(),
      });
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/alertmanager`,
    requests,
    waitFor(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = requests.find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching webhook within ${timeoutMs} ms; received: ${JSON.stringify(requests.map((r) => r.payload))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

const isAlert = (alertname: string) => (request: RecordedRequest) => request.payload.alerts.some((alert) => alert.labels.alertname === alertname);

describe("startAlertmanager (real Alertmanager)", () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  describe("with a bearer token", () => {
    let am: RunningAlertmanager;
    beforeAll(async () => {
      const started = Date.now();
      am = await startAlertmanager({ webhookUrl: receiver.url, bearerToken: "s3cret-token" });
      console.info(`[alertmanager.test] Alertmanager ready in ${Date.now() - started} ms on ${am.url}`);
    });
    afterAll(async () => {
      await am?.stop();
    });

    it("writes the receiver configuration", async () => {
      const config = await readFile(am.configPath, "utf8");
      expect(config).toContain("name: firebreak");
      expect(config).toContain(`url: ${receiver.url}`);
      expect(config).toContain("send_resolved: true");
      expect(config).toContain("max_alerts: 0");
      expect(config).toContain("type: Bearer");
      expect(config).toContain("group_wait: 100ms");
      expect(config).toContain("group_interval: 1s");
      expect(config).toContain("repeat_interval: 1h");
    });

    it("delivers a firing alert and then its resolve to the webhook", async () => {
      const startsAt = new Date(Date.now() - 60_000).toISOString();
      const alert = {
        labels: { alertname: "FirebreakHarnessBearer", service: "checkout", severity: "critical" },
        annotations: { summary: "Checkout error rate above 5%", runbook_url: "https://runbooks.example/checkout" },
        startsAt,
        generatorURL: "http://prometheus.example/graph?g0.expr=up",
      };

      const posted = Date.now();
      await am.postAlerts([alert]);
      const firing = await receiver.waitFor((r) => isAlert("FirebreakHarnessBearer")(r) && r.payload.status === "firing");
      console.info(`[alertmanager.test] postAlerts -> firing webhook: ${firing.receivedAt - posted} ms`);

      expect(firing.method).toBe("POST");
      expect(firing.path).toBe("/webhooks/alertmanager");
      expect(firing.headers.authorization).toBe("Bearer s3cret-token");
      expect(firing.headers["content-type"]).toBe("application/json");
      expect(firing.headers["user-agent"]).toMatch(/^Alertmanager\//);
      const payload = firing.payload;
      expect(Object.keys(payload).sort()).toEqual(
        ["alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels", "receiver", "status", "truncatedAlerts", "version"].sort(),
      );
      expect(payload).toMatchObject({
        version: "4",
        status: "firing",
        receiver: "firebreak",
        truncatedAlerts: 0,
        groupLabels: { alertname: "FirebreakHarnessBearer", service: "checkout" },
        commonLabels: alert.labels,
        commonAnnotations: alert.annotations,
        externalURL: am.url,
      });
      expect(payload.groupKey).toBe('{}:{alertname="FirebreakHarnessBearer", service="checkout"}');
      expect(payload.alerts).toHaveLength(1);
      const firingAlert = payload.alerts[0]!;
      expect(Object.keys(firingAlert).sort()).toEqual(["annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt", "status"]);
      expect(firingAlert).toMatchObject({
        status: "firing",
        labels: alert.labels,
        annotations: alert.annotations,
        generatorURL: alert.generatorURL,
        endsAt: "0001-01-01T00:00:00Z",
      });
      expect(new Date(firingAlert.startsAt).toISOString()).toBe(startsAt);
      expect(firingAlert.fingerprint).toMatch(/^[0-9a-f]{16}$/);

      const endsAt = new Date(Date.now() - 1_000).toISOString();
      const resolvePosted = Date.now();
      await am.postAlerts([{ ...alert, endsAt }]);
      const resolved = await receiver.waitFor((r) => isAlert("FirebreakHarnessBearer")(r) && r.payload.status === "resolved");
      console.info(`[alertmanager.test] postAlerts(endsAt in the past) -> resolved webhook: ${resolved.receivedAt - resolvePosted} ms`);

      expect(resolved.headers.authorization).toBe("Bearer s3cret-token");
      expect(resolved.payload).toMatchObject({ version: "4", status: "resolved", groupKey: payload.groupKey, truncatedAlerts: 0 });
      expect(resolved.payload.alerts).toHaveLength(1);
      const resolvedAlert = resolved.payload.alerts[0]!;
      expect(resolvedAlert).toMatchObject({ status: "resolved", labels: alert.labels, fingerprint: firingAlert.fingerprint });
      expect(new Date(resolvedAlert.endsAt).toISOString()).toBe(endsAt);
      expect(new Date(resolvedAlert.startsAt).toISOString()).toBe(startsAt);

      expect(am.logs()).toContain("level=debug");
    });
  });

  describe("with basic auth", () => {
    it("sends the credentials, and stop() kills the server and removes its files", async () => {
      const am = await startAlertmanager({
        webhookUrl: receiver.url,
        basicAuth: { username: "alertmanager", password: "p@ss:word" },
        groupBy: ["alertname"],
      });
      try {
        const posted = Date.now();
        await am.postAlerts([{ labels: { alertname: "FirebreakHarnessBasic", service: "search" } }]);
        const firing = await receiver.waitFor(isAlert("FirebreakHarnessBasic"));
        console.info(`[alertmanager.test] basic auth: postAlerts -> firing webhook: ${firing.receivedAt - posted} ms`);
        const expected = `Basic ${Buffer.from("alertmanager:p@ss:word").toString("base64")}`;
        expect(firing.headers.authorization).toBe(expected);
        expect(firing.payload.groupLabels).toEqual({ alertname: "FirebreakHarnessBasic" });
        expect(firing.payload.groupKey).toBe('{}:{alertname="FirebreakHarnessBasic"}');
        expect(firing.payload.alerts[0]?.generatorURL).toBe("");
        expect(firing.payload.commonAnnotations).toEqual({});
      } finally {
        await am.stop();
      }
      expect(existsSync(am.configPath)).toBe(false);
      await expect(fetch(`${am.url}/-/ready`)).rejects.toThrow();
    });
  });

  it("rejects a configuration with both bearer token and basic auth", async () => {
    await expect(
      startAlertmanager({ webhookUrl: receiver.url, bearerToken: "t", basicAuth: { username: "u", password: "p" } }),
    ).rejects.toThrow(/not both/);
  });
});
