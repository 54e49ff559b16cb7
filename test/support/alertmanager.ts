// A real Prometheus Alertmanager for end-to-end tests, one per call.
//
//   const am = await startAlertmanager({ webhookUrl: `${appUrl}/webhooks/alertmanager`, bearerToken: "t0ken" });
//   afterAll(() => am.stop());
//   await am.postAlerts([{ labels: { alertname: "HighErrorRate", service: "checkout" } }]);
//   ... wait until the app has received the webhook ...
//
// scripts/test-alertmanager.sh ensure installs Alertmanager if needed (Debian, root: apt-get; once
// per process). Each call writes an alertmanager.yml with a single receiver `firebreak` (a webhook
// to `webhookUrl`, send_resolved, no alert limit) into a fresh temporary directory, runs the
// binary on a free 127.0.0.1 port with clustering off, and waits for GET /-/ready. `stop()` kills
// the process (SIGTERM, SIGKILL after 3 s) and removes the directory (test/support/daemon.ts,
// shared with test/support/prometheus.ts).
//
// What Alertmanager 0.25 sends: see AlertmanagerWebhookPayload below. With the default timings
// (group_wait 100ms, group_interval 1s) a new alert's webhook arrives ~0.1-0.2 s after postAlerts;
// a resolve (endsAt in the past) of an already notified group waits for the next group_interval.
import path from "node:path";
import { stringify } from "yaml";
import { duration as durationOf, ensureBinary, errorMessage, httpUrl, startDaemon } from "./daemon.ts";

const REQUEST_TIMEOUT_MS = 10_000;

export interface AlertmanagerOptions {
  /** Where the `firebreak` receiver posts, e.g. http://127.0.0.1:PORT/webhooks/alertmanager. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` (http_config.authorization). */
  bearerToken?: string;
  /** Sent as `Authorization: Basic ...` (http_config.basic_auth). Not together with bearerToken. */
  basicAuth?: { username: string; password: string };
  /** route.group_by; default ["alertname", "service"]. `["..."]` groups by all labels. */
  groupBy?: string[];
  /** route.group_wait; default 100 ms. */
  groupWaitMs?: number;
  /** route.group_interval; default 1 s. */
  groupIntervalMs?: number;
  /** route.repeat_interval; default 1 h. */
  repeatIntervalMs?: number;
  /** global.resolve_timeout (for alerts posted without endsAt); Alertmanager's default is 5 min. */
  resolveTimeoutMs?: number;
}

/** One alert for POST /api/v2/alerts (Alertmanager's `postableAlert`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339; Alertmanager uses "now" when omitted. */
  startsAt?: string;
  /** RFC 3339; in the past = resolved. When omitted, the alert resolves after resolve_timeout. */
  endsAt?: string;
  generatorURL?: string;
}

export interface RunningAlertmanager {
  /** Base URL, e.g. http://127.0.0.1:40123 (also passed as --web.external-url). */
  url: string;
  port: number;
  /** The generated alertmanager.yml. */
  configPath: string;
  /** Stops the server and removes its temporary directory. Safe to call twice. */
  stop(): Promise<void>;
  /** POST /api/v2/alerts; throws unless Alertmanager answers 200. */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** Everything Alertmanager has written to stdout/stderr so far (log level debug). */
  logs(): string;
}

/** One alert in a webhook notification (version "4"), as Alertmanager 0.25 sends it. */
export interface AlertmanagerWebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339. */
  startsAt: string;
  /** RFC 3339; "0001-01-01T00:00:00Z" while firing. */
  endsAt: string;
  generatorURL: string;
  /** 16 lower-case hex digits, derived from the labels only. */
  fingerprint: string;
}

/** The JSON body of an Alertmanager 0.25 webhook notification. */
export interface AlertmanagerWebhookPayload {
  version: "4";
  /** e.g. `{}:{alertname="HighErrorRate", service="checkout"}` (route matchers, then group labels). */
  groupKey: string;
  /** Alerts left out because of max_alerts (always 0 here: max_alerts is 0 = unlimited). */
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerWebhookAlert[];
}

/** Path of the Alertmanager binary, installing it first if needed (once per process). */
export function ensureAlertmanager(): Promise<string> {
  return ensureBinary("ensure", "Alertmanager");
}

function duration(name: string, ms: number): string {
  return durationOf(name, ms, "startAlertmanager");
}

function buildConfig(options: AlertmanagerOptions): string {
  const webhook = httpUrl(options.webhookUrl, "webhookUrl", "startAlertmanager");
  if (options.bearerToken !== undefined && options.basicAuth !== undefined) {
    throw new Error("startAlertmanager: give bearerToken or basicAuth, not both (Alertmanager rejects that configuration)");
  }
  if (options.bearerToken === "") throw new Error("startAlertmanager: bearerToken is empty");

  const httpConfig: Record<string, unknown> = {};
  if (options.bearerToken !== undefined) {
    httpConfig.authorization = { type: "Bearer", credentials: options.bearerToken };
  }
  if (options.basicAuth !== undefined) {
    httpConfig.basic_auth = { username: options.basicAuth.username, password: options.basicAuth.password };
  }

  const config = {
    global: options.resolveTimeoutMs === undefined ? {} : { resolve_timeout: duration("resolveTimeoutMs", options.resolveTimeoutMs) },
    route: {
      receiver: "firebreak",
      group_by: options.groupBy ?? ["alertname", "service"],
      group_wait: duration("groupWaitMs", options.groupWaitMs ?? 100),
      group_interval: duration("groupIntervalMs", options.groupIntervalMs ?? 1_000),
      repeat_interval: duration("repeatIntervalMs", options.repeatIntervalMs ?? 3_600_000),
    },
    receivers: [
      {
        name: "firebreak",
        webhook_configs: [
          {
            url: webhook.href,
            send_resolved: true,
            max_alerts: 0,
            ...(Object.keys(httpConfig).length > 0 ? { http_config: httpConfig } : {}),
          },
        ],
      },
    ],
  };
  return `# Written by test/support/alertmanager.ts for one test run.\n${stringify(config)}`;
}

/**
 * Starts a throwaway Alertmanager that sends every notification to `options.webhookUrl`
 * (receiver `firebreak`, send_resolved, version "4" payloads) and resolves once it is ready.
 */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const config = buildConfig(options); // validate before installing anything
  const bin = await ensureAlertmanager();
  const server = await startDaemon({
    name: "Alertmanager",
    bin,
    dirPrefix: "firebreak-am-",
    files: { "alertmanager.yml": config },
    dirs: ["data"],
    args: ({ port, url, dir }) => [
      `--config.file=${path.join(dir, "alertmanager.yml")}`,
      `--storage.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${url}`,
      "--cluster.listen-address=",
      "--log.level=debug",
    ],
  });
  const { url, logs } = server;
  return {
    url,
    port: server.port,
    configPath: path.join(server.dir, "alertmanager.yml"),
    stop: () => server.stop(),
    async postAlerts(alerts: PostableAlert[]): Promise<void> {
      let response: Response;
      try {
        response = await fetch(`${url}/api/v2/alerts`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(alerts),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        throw new Error(`POST ${url}/api/v2/alerts failed: ${errorMessage(error)}\n${logs.tail(15)}`, { cause: error });
      }
      const body = await response.text();
      if (response.status !== 200) {
        throw new Error(`POST ${url}/api/v2/alerts answered ${response.status}: ${body.trim()}`);
      }
    },
    logs: () => logs.text(),
  };
}
