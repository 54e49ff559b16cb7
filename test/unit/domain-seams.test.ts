import { describe, expect, it } from "vitest";
import { humanDuration, incidentMetrics } from "../../src/postmortem/metrics.ts";

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
