import { z } from "zod";

/** A PagerDuty v3 webhook as Firebreak reads it: the fields it uses, the rest passed through. */
const reference = z.object({ id: z.string().optional(), summary: z.string().optional() }).loose();

export const webhookSchema = z.object({
  event: z
    .object({
      id: z.string().min(1).max(200),
      event_type: z.string().min(1).max(100),
      resource_type: z.string().optional(),
      occurred_at: z.string().optional(),
      agent: reference.nullable().optional(),
      data: z
        .object({
          id: z.string().min(1).max(100),
          type: z.string().optional(),
          incident_key: z.string().max(500).nullable().optional(),
          status: z.string().optional(),
          assignees: z.array(reference).optional(),
        })
        .loose(),
    })
    .loose(),
});

export type PagerDutyWebhook = z.infer<typeof webhookSchema>;

/** What PostgreSQL cannot store in text or jsonb: NUL, and half of a UTF-16 surrogate pair on its own. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The identifier of an event that Firebreak stores or looks pages up by and that could not be
 * stored (a NUL or an unpaired surrogate, which no PagerDuty id has), or undefined.
 */
export function unstorableIdentifier({ event }: PagerDutyWebhook): "event.id" | "event.data.id" | "event.data.incident_key" | undefined {
  const unstorable = (text: string) => text.search(UNSTORABLE) !== -1;
  if (unstorable(event.id)) return "event.id";
  if (unstorable(event.data.id)) return "event.data.id";
  if (event.data.incident_key && unstorable(event.data.incident_key)) return "event.data.incident_key";
  return undefined;
}

/** Display text (a person's name) as it can be stored: a NUL or an unpaired surrogate becomes U+FFFD. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, "\ufffd");
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * `occurred_at` as a time, when it is an ISO 8601 date and time of the years 1 to 9999
 * (PostgreSQL's timestamps do not reach JavaScript's extremes, and have no year 0); otherwise
 * undefined, and the event counts as happening when it arrived.
 */
export function occurredAt(text: string | undefined): Date | undefined {
  if (text === undefined || !ISO_8601.test(text)) return undefined;
  const time = new Date(text);
  const year = time.getUTCFullYear();
  return Number.isNaN(time.getTime()) || year < 1 || year > 9999 ? undefined : time;
}
