import { z } from "zod";

/**
 * Prometheus Alertmanager's webhook payload, version 4 (webhook_config):
 * https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 * Validated at the edge; zod's issue paths name the offending field.
 */
const labelSet = z.record(z.string(), z.string());

export const alertmanagerAlertSchema = z.object({
  status: z.enum(["firing", "resolved"]),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: z.iso.datetime({ offset: true }),
  // Alertmanager sends "0001-01-01T00:00:00Z" for alerts that have not ended.
  endsAt: z.iso.datetime({ offset: true }).optional(),
  generatorURL: z.string().default(""),
  fingerprint: z.string().min(1),
});

export const alertmanagerWebhookSchema = z.object({
  version: z.literal("4"),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(["firing", "resolved"]),
  receiver: z.string(),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().default(""),
  alerts: z.array(alertmanagerAlertSchema).min(1),
});

export type AlertmanagerWebhook = z.infer<typeof alertmanagerWebhookSchema>;
export type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;

/** Alertmanager's "not ended" marker. */
export function endsAtOrNull(alert: Pick<AlertmanagerAlert, "endsAt">): Date | null {
  if (!alert.endsAt) return null;
  const date = new Date(alert.endsAt);
  return date.getUTCFullYear() <= 1 ? null : date;
}

/** "alerts.3.labels.severity: expected string" style messages for a 400 answer. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
    .join("; ");
}
