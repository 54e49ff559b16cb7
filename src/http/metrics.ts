import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly jobOutcomes: Counter<"kind" | "outcome">;
  readonly incidentsDeclared: Counter<"severity" | "source">;
  readonly slackCalls: Counter<"method" | "outcome">;
  readonly slackCallDuration: Histogram<"method">;
  readonly slackSocketReconnects: Counter;
  /** Calls to PagerDuty, the remediation providers and the exporters, by vendor, operation and outcome. */
  readonly outboundCalls: Counter<"vendor" | "operation" | "outcome">;
  readonly outboundCallDuration: Histogram<"vendor" | "operation">;
}

/** Records one finished outbound call (the outbound client's and the remediation providers' observer). */
export function outboundObserver(metrics: Pick<Metrics, "outboundCalls" | "outboundCallDuration">) {
  return (call: { vendor: string; operation: string; outcome: string; seconds: number }): void => {
    metrics.outboundCalls.inc({ vendor: call.vendor, operation: call.operation, outcome: call.outcome });
    metrics.outboundCallDuration.observe({ vendor: call.vendor, operation: call.operation }, call.seconds);
  };
}

/** One registry per app instance (tests run several apps in one process). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "firebreak_" });
  return {
    registry,
    httpRequests: new Counter({
      name: "firebreak_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "firebreak_http_request_duration_seconds",
      help: "HTTP request duration",
      labelNames: ["method", "route"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    jobOutcomes: new Counter({
      name: "firebreak_jobs_total",
      help: "Side-effect jobs by kind and outcome (done, retry, rate_limited, dead)",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    incidentsDeclared: new Counter({
      name: "firebreak_incidents_declared_total",
      help: "Incidents declared",
      labelNames: ["severity", "source"],
      registers: [registry],
    }),
    slackCalls: new Counter({
      name: "firebreak_slack_api_calls_total",
      help: "Slack Web API calls made by the job worker",
      labelNames: ["method", "outcome"],
      registers: [registry],
    }),
    slackCallDuration: new Histogram({
      name: "firebreak_slack_api_call_duration_seconds",
      help: "Slack Web API call duration (all attempts of one call), by method",
      labelNames: ["method"],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    slackSocketReconnects: new Counter({
      name: "firebreak_slack_socket_reconnects_total",
      help: "Socket Mode reconnections (dropped sockets, Slack's disconnect messages, failed connection attempts)",
      registers: [registry],
    }),
    outboundCalls: new Counter({
      name: "firebreak_outbound_calls_total",
      help: "Calls to PagerDuty, remediation providers and exporters by vendor, operation and outcome (ok, http_4xx, http_5xx, rate_limited, timeout, unavailable, error)",
      labelNames: ["vendor", "operation", "outcome"],
      registers: [registry],
    }),
    outboundCallDuration: new Histogram({
      name: "firebreak_outbound_call_duration_seconds",
      help: "Duration of calls to PagerDuty, remediation providers and exporters (all attempts of one call), by vendor and operation",
      labelNames: ["vendor", "operation"],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
