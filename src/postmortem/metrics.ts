import { differenceInMilliseconds, formatDuration, intervalToDuration } from "date-fns";

/**
 * The response metrics of an incident, as a pure function of its lifecycle
 * timestamps (the post-mortem's "key metrics"). A metric whose end is not
 * recorded yet is null; a negative interval (clock skew between systems) is
 * reported as zero rather than as nonsense.
 */
export interface LifecycleTimes {
  /** When impact started (first alert's startsAt when known). */
  startedAt: Date | null;
  declaredAt: Date;
  acknowledgedAt: Date | null;
  mitigatedAt: Date | null;
  resolvedAt: Date | null;
}

export interface IncidentMetrics {
  /** Impact start -> declared. */
  timeToDetectMs: number | null;
  /** Declared -> acknowledged. */
  timeToAcknowledgeMs: number | null;
  /** Impact start (or declared) -> mitigated. */
  timeToMitigateMs: number | null;
  /** Impact start (or declared) -> resolved. */
  timeToResolveMs: number | null;
  /** Impact start (or declared) -> resolved, or -> now while open. */
  durationMs: number;
}

function between(from: Date | null, to: Date | null): number | null {
  if (!from || !to) return null;
  return Math.max(0, differenceInMilliseconds(to, from));
}

export function incidentMetrics(times: LifecycleTimes, now: Date): IncidentMetrics {
  const start = times.startedAt ?? times.declaredAt;
  return {
    timeToDetectMs: between(times.startedAt, times.declaredAt),
    timeToAcknowledgeMs: between(times.declaredAt, times.acknowledgedAt),
    timeToMitigateMs: between(start, times.mitigatedAt),
    timeToResolveMs: between(start, times.resolvedAt),
    durationMs: between(start, times.resolvedAt ?? now) ?? 0,
  };
}

/** "1 hour 5 minutes", "42 seconds", "0 seconds"; "n/a" when not recorded. */
export function humanDuration(ms: number | null): string {
  if (ms === null) return "n/a";
  if (ms < 1_000) return "0 seconds";
  const duration = intervalToDuration({ start: 0, end: ms });
  const text = formatDuration(duration, { format: ["days", "hours", "minutes", "seconds"] });
  return text === "" ? "0 seconds" : text;
}
