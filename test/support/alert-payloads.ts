import { createHash } from "node:crypto";

/** Alertmanager's fingerprint stand-in: stable for the same labels. */
export function fingerprintOf(labels: Record<string, string>): string {
  return createHash("sha256").update(JSON.stringify(Object.entries(labels).sort())).digest("hex").slice(0, 16);
}

/**
 * An Alertmanager v4 webhook notification of one critical alert firing on `instance`, grouped by
 * alertname and instance, as Alertmanager would send it; `summary` defaults to "<alertname> on <instance>".
 */
export function firingNotification(alertname: string, instance: string, summary = `${alertname} on ${instance}`) {
  const labels = { alertname, severity: "critical", instance };
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}", instance="${instance}"}`,
    truncatedAlerts: 0,
    status: "firing",
    receiver: "firebreak",
    groupLabels: { alertname, instance },
    commonLabels: labels,
    commonAnnotations: { summary },
    externalURL: "http://alertmanager.example.internal:9093",
    alerts: [
      {
        status: "firing",
        labels,
        annotations: { summary },
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "http://prometheus.example.internal:9090/graph",
        fingerprint: fingerprintOf(labels),
      },
    ],
  };
}
