import type { PrismaClient } from "../db/client.ts";
import { jobOptions, postEventJob } from "../incident/lifecycle-jobs.ts";
import { claimIdempotencyKey, lockIncident } from "../incident/service.ts";
import type { FileConfig } from "../config/file.ts";
import type { Clock } from "../core/clock.ts";
import { PAGING_EVENTS } from "./events.ts";
import { occurredAt, storableText, type PagerDutyWebhook } from "./models.ts";

/**
 * What PagerDuty tells Firebreak about its pages (v3 webhooks): recorded on
 * the incident's timeline and said in its channel. The first acknowledgement
 * is the incident's acknowledged time (the post-mortem's time to
 * acknowledge), unless someone acknowledged in Slack before. A webhook
 * delivered twice (PagerDuty retries) is recorded once, by its event id.
 * The event's time is `occurred_at` when it is a time PostgreSQL can hold,
 * else when it arrived; names are kept with a NUL or an unpaired surrogate
 * replaced (U+FFFD). Identifiers that could not be stored never get here
 * (webhook.ts ignores such an event).
 */

const FOLLOWED = {
  "incident.acknowledged": "acknowledged",
  "incident.resolved": "resolved",
  "incident.escalated": "escalated",
  "incident.reassigned": "reassigned",
} as const;

export type WebhookOutcome = "recorded" | "duplicate" | "ignored" | "unknown_incident";

export interface PagingWebhookFlows {
  receive(webhook: PagerDutyWebhook): Promise<WebhookOutcome>;
}

export interface AcknowledgeDeps {
  prisma: PrismaClient;
  config: Pick<FileConfig, "services">;
  clock: Clock;
  wakeJobs(): void;
}

export function createPagingWebhookFlows(deps: AcknowledgeDeps): PagingWebhookFlows {
  const serviceName = (key: string) => deps.config.services.find((service) => service.key === key)?.name ?? key;

  return {
    async receive({ event }) {
      // An own key only: an event_type such as "hasOwnProperty" is not followed.
      if (!Object.hasOwn(FOLLOWED, event.event_type)) return "ignored";
      const kind = FOLLOWED[event.event_type as keyof typeof FOLLOWED];
      const data = event.data;
      const outcome = await deps.prisma.$transaction(async (tx): Promise<WebhookOutcome> => {
        const page =
          (data.incident_key ? await tx.page.findUnique({ where: { dedupKey: data.incident_key } }) : null) ??
          (await tx.page.findFirst({ where: { pagerdutyIncidentId: data.id } }));
        if (!page) return "unknown_incident";
        const claim = await claimIdempotencyKey(tx, `pagerduty-webhook:${event.id}`);
        if (!claim.fresh) return "duplicate";
        const incident = await lockIncident(tx, page.incidentId);
        const at = occurredAt(event.occurred_at) ?? deps.clock.now();
        await tx.page.update({
          where: { id: page.id },
          data: {
            pagerdutyIncidentId: page.pagerdutyIncidentId ?? data.id,
            ...(kind === "acknowledged" && !page.acknowledgedAt ? { acknowledgedAt: at } : {}),
          },
        });
        if (kind === "acknowledged" && !incident.acknowledgedAt) {
          await tx.incident.updateMany({ where: { id: incident.id, acknowledgedAt: null }, data: { acknowledgedAt: at } });
        }
        const assignees = kind === "escalated" || kind === "reassigned" ? (data.assignees ?? []).map((assignee) => storableText(assignee.summary ?? assignee.id ?? "")).filter((name) => name !== "") : [];
        const eventId = await PAGING_EVENTS["pagerduty.incident"].record(tx, {
          incidentId: incident.id,
          source: "PAGERDUTY",
          occurredAt: at,
          data: {
            event: kind,
            pagerdutyIncidentId: data.id,
            target: page.targetKind === "service" ? serviceName(page.target) : `@${page.target}`,
            agent: event.agent?.summary === undefined ? null : storableText(event.agent.summary),
            agentUserId: null,
            assignees,
          },
          private: incident.private,
        });
        await postEventJob.enqueue(tx, { incidentId: incident.id, eventId: String(eventId) }, jobOptions(incident, `chat.postMessage:${incident.channelId ?? `incident:${incident.id}`}`));
        return "recorded";
      });
      if (outcome === "recorded") deps.wakeJobs();
      return outcome;
    },
  };
}
