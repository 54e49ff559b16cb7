import { Ajv } from "ajv";
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

/**
 * The same schema compiled by ajv (generated from the zod schema above, which stays the one
 * definition): a payload that passes is accepted as is, with the defaults filled in place.
 * zod interprets its schema on every call (about 100 µs for a 20-alert payload, the largest
 * cost of the webhook after JSON.parse); ajv compiles it to plain JavaScript once (about 5 µs).
 * Dates are checked by the pattern zod emits, so the format keyword itself is not needed.
 * test/unit/alert-validation.test.ts checks that both accept and refuse the same payloads.
 */
const compiledWebhookCheck = new Ajv({ useDefaults: true, strict: false, allErrors: false, formats: { "date-time": true } }).compile<AlertmanagerWebhook>(
  z.toJSONSchema(alertmanagerWebhookSchema, { io: "input", target: "draft-7" }),
);

/** Whether the compiled check alone accepts `value` (fills defaults in place, like the webhook). */
export function passesCompiledWebhookCheck(value: unknown): boolean {
  return compiledWebhookCheck(value);
}

export type WebhookValidation = { ok: true; value: AlertmanagerWebhook } | { ok: false; error: string };

/**
 * Validates a parsed webhook body. A valid payload takes the compiled check only; an invalid
 * one is explained by zod ("alerts.3.labels.severity: expected string"), whose verdict is final.
 */
export function validateWebhook(value: unknown): WebhookValidation {
  if (compiledWebhookCheck(value)) return { ok: true, value };
  const parsed = alertmanagerWebhookSchema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: describeIssues(parsed.error) };
}
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
