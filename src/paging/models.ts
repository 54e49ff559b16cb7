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
