// A real Prometheus server for end-to-end tests, one per call: it evaluates the given alerting
// rules and sends their alerts to an Alertmanager (usually one from ./alertmanager.ts).
//
//   const am = await startAlertmanager({ webhookUrl: `${appUrl}/webhooks/alertmanager`, bearerToken: "t0ken" });
//   const prometheus = await startPrometheus({
//     alertmanagerUrl: am.url,
//     rules: [{ alert: "FirebreakSmoke", expr: "vector(1)", labels: { severity: "critical" } }],
//   });
//   afterAll(async () => { await prometheus.stop(); await am.stop(); });
//
// scripts/test-alertmanager.sh ensure-prometheus installs Prometheus if needed (Debian package
// `prometheus`, root: apt-get; once per process). Each call writes prometheus.yml and rules.yml
// into a fresh temporary directory and runs the binary on a free 127.0.0.1 port, with its TSDB in
// that directory, no scrape targets at all (rules such as `vector(1)` need no data) and only the
// given Alertmanager as a destination; it waits for GET /-/ready. `stop()` kills the process
// (SIGTERM, SIGKILL after 3 s) and removes the directory (test/support/daemon.ts).
//
// Timings: rules are evaluated every evaluationIntervalMs (default 1 s), the first time within
// two intervals of the start; a rule without `forMs` fires at its first evaluation. Prometheus'
// notifier learns of the Alertmanager through service discovery, which passes targets on at most
// every 5 s (fixed in Prometheus 2.42): alerts fired before that are dropped, so the first one
// reaches Alertmanager 5-7 s after GET /-/ready. Firing alerts are re-sent every resendDelayMs
// (default 1 s here, 1 min in Prometheus), which is what makes that first delivery quick.
import path from "node:path";
import { stringify } from "yaml";
import { duration as durationOf, ensureBinary, httpUrl, startDaemon } from "./daemon.ts";

/** One alerting rule (an entry of a rule group's `rules`). */
export interface PrometheusAlertingRule {
  /** The alert's name (its `alertname` label). */
  alert: string;
  /** PromQL; every series of the result is one firing alert, e.g. `vector(1)`. */
  expr: string;
  /** `for`: how long the expression must hold before the alert fires; default: fires at once. */
  forMs?: number;
  /** Added to the alert's labels (templates such as `{{ $value }}` are expanded by Prometheus). */
  labels?: Record<string, string>;
  /** The alert's annotations (templates are expanded by Prometheus). */
  annotations?: Record<string, string>;
}

export interface PrometheusOptions {
  /** Base URL of the Alertmanager the alerts go to, e.g. http://127.0.0.1:40123 (a path is its prefix). */
  alertmanagerUrl: string;
  /** The alerting rules, in one rule group `firebreak-test`. At least one. */
  rules: PrometheusAlertingRule[];
  /** global.evaluation_interval; default 1 s. */
  evaluationIntervalMs?: number;
  /** --rules.alert.resend-delay; default 1 s. */
  resendDelayMs?: number;
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:40124 (also --web.external-url, so the alerts' generatorURL starts with it). */
  url: string;
  port: number;
  /** Stops the server and removes its temporary directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Everything Prometheus has written to stdout/stderr so far (log level debug), the newest 2 MiB. */
  logs(): string;
}

const RULES_FILE = "rules.yml";

function duration(name: string, ms: number): string {
  return durationOf(name, ms, "startPrometheus");
}

function buildFiles(options: PrometheusOptions): Record<string, string> {
  const alertmanager = httpUrl(options.alertmanagerUrl, "alertmanagerUrl", "startPrometheus");
  if (options.rules.length === 0) throw new Error("startPrometheus: give at least one rule");

  const interval = duration("evaluationIntervalMs", options.evaluationIntervalMs ?? 1_000);
  const config = {
    global: { evaluation_interval: interval, scrape_interval: interval },
    rule_files: [RULES_FILE],
    alerting: {
      alertmanagers: [
        {
          scheme: alertmanager.protocol.slice(0, -1),
          path_prefix: alertmanager.pathname,
          timeout: "5s",
          api_version: "v2",
          static_configs: [{ targets: [alertmanager.host] }],
        },
      ],
    },
    // Nothing is scraped: the tests' rules need no series, and nothing outside loopback is contacted.
    scrape_configs: [],
  };
  const rules = {
    groups: [
      {
        name: "firebreak-test",
        rules: options.rules.map((rule) => ({
          alert: rule.alert,
          expr: rule.expr,
          ...(rule.forMs === undefined ? {} : { for: duration("forMs", rule.forMs) }),
          ...(rule.labels === undefined ? {} : { labels: rule.labels }),
          ...(rule.annotations === undefined ? {} : { annotations: rule.annotations }),
        })),
      },
    ],
  };
  const header = "# Written by test/support/prometheus.ts for one test run.\n";
  return { "prometheus.yml": header + stringify(config), [RULES_FILE]: header + stringify(rules) };
}

/**
 * Starts a throwaway Prometheus that evaluates `options.rules` and sends the alerts to
 * `options.alertmanagerUrl`, and resolves once it is ready.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const files = buildFiles(options); // validate before installing anything
  const resendDelay = duration("resendDelayMs", options.resendDelayMs ?? 1_000);
  const bin = await ensureBinary("ensure-prometheus", "Prometheus");
  const server = await startDaemon({
    name: "Prometheus",
    bin,
    dirPrefix: "firebreak-prom-",
    files,
    args: ({ port, url, dir }) => [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${url}`,
      `--rules.alert.resend-delay=${resendDelay}`,
      "--log.level=debug",
    ],
  });
  return { url: server.url, port: server.port, stop: () => server.stop(), logs: () => server.logs.text() };
}
