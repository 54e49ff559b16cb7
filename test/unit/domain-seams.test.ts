import { describe, expect, it } from "vitest";
import { alertmanagerWebhookSchema, describeIssues, endsAtOrNull } from "../../src/alert/models.ts";
import { humanDuration, incidentMetrics } from "../../src/postmortem/metrics.ts";

const webhook = {
  version: "4",
  groupKey: '{}:{alertname="HighErrorRate"}',
  truncatedAlerts: 0,
  status: "firing",
  receiver: "firebreak",
  groupLabels: { alertname: "HighErrorRate" },
  commonLabels: { alertname: "HighErrorRate", severity: "critical", service: "checkout" },
  commonAnnotations: { summary: "5xx above 5%" },
  externalURL: "http://alertmanager:9093",
  alerts: [
    {
      status: "firing",
      labels: { alertname: "HighErrorRate", severity: "critical", service: "checkout", instance: "a" },
      annotations: { summary: "5xx above 5%", runbook_url: "https://runbooks/checkout" },
      startsAt: "2026-11-22T10:00:00.000Z",
      endsAt: "0001-01-01T00:00:00Z",
      generatorURL: "http://prometheus:9090/graph?g0.expr=...",
      fingerprint: "c8f2a6d3e1b0a9f7",
    },
  ],
};

describe("Alertmanager webhook v4 schema", () => {
  it("accepts Alertmanager's payload and reads the zero endsAt as not ended", () => {
    const parsed = alertmanagerWebhookSchema.parse(webhook);
    expect(parsed.alerts[0]?.fingerprint).toBe("c8f2a6d3e1b0a9f7");
    expect(endsAtOrNull(parsed.alerts[0]!)).toBeNull();
    expect(endsAtOrNull({ endsAt: "2026-11-22T11:00:00Z" })).toEqual(new Date("2026-11-22T11:00:00Z"));
  });

  it("names the offending field when the payload is wrong", () => {
    const bad = { ...webhook, version: "3", alerts: [{ ...webhook.alerts[0], status: "pending", labels: { severity: 5 } }] };
    const result = alertmanagerWebhookSchema.safeParse(bad);
    expect(result.success).toBe(false);
    const message = describeIssues(result.error!);
    expect(message).toMatch(/version/);
    expect(message).toMatch(/alerts\.0\.status/);
    expect(message).toMatch(/alerts\.0\.labels\.severity/);
  });

  it("refuses an empty alert list", () => {
    expect(alertmanagerWebhookSchema.safeParse({ ...webhook, alerts: [] }).success).toBe(false);
  });
});

describe("incident metrics", () => {
  const t = (minutes: number) => new Date(Date.UTC(2026, 10, 22, 10, minutes));

  it("measures detect, acknowledge, mitigate and resolve from the right starting points", () => {
    const metrics = incidentMetrics({ startedAt: t(0), declaredAt: t(5), acknowledgedAt: t(7), mitigatedAt: t(30), resolvedAt: t(65) }, t(120));
    expect(metrics).toEqual({
      timeToDetectMs: 5 * 60_000,
      timeToAcknowledgeMs: 2 * 60_000,
      timeToMitigateMs: 30 * 60_000,
      timeToResolveMs: 65 * 60_000,
      durationMs: 65 * 60_000,
    });
    expect(humanDuration(metrics.timeToResolveMs)).toBe("1 hour 5 minutes");
  });

  it("leaves what is not recorded as null and counts an open incident up to now", () => {
    const metrics = incidentMetrics({ startedAt: null, declaredAt: t(10), acknowledgedAt: null, mitigatedAt: null, resolvedAt: null }, t(40));
    expect(metrics.timeToDetectMs).toBeNull();
    expect(metrics.timeToAcknowledgeMs).toBeNull();
    expect(metrics.durationMs).toBe(30 * 60_000);
    expect(humanDuration(metrics.timeToAcknowledgeMs)).toBe("n/a");
  });

  it("never reports negative durations from skewed clocks", () => {
    const metrics = incidentMetrics({ startedAt: t(10), declaredAt: t(5), acknowledgedAt: t(4), mitigatedAt: null, resolvedAt: null }, t(20));
    expect(metrics.timeToDetectMs).toBe(0);
    expect(metrics.timeToAcknowledgeMs).toBe(0);
    expect(humanDuration(400)).toBe("0 seconds");
  });
});
