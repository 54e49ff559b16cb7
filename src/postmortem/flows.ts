import { z } from "zod";
import type { Db, PrismaClient } from "../db/client.ts";
import { NotReadyError, PermanentOutboundError } from "../lib/errors.ts";
import type { JobDefinition } from "../queue/models.ts";
import { jobType } from "../queue/service.ts";
import type { SlackApi } from "../slack/api.ts";
import { recordEvent } from "../timeline/service.ts";
import { generatePostmortem } from "./generate.ts";
import { loadPostmortemInput } from "./service.ts";
import type { PostmortemExporters } from "./export/jobs.ts";
import { postmortemSummaryMessage } from "./views.ts";

/**
 * Post-mortem side effects: the draft's summary is posted in the incident
 * channel on resolve and on `/incident postmortem`; follow-ups are recorded
 * as action items.
 */
const summaryPayload = z.object({ incidentId: z.uuid() });
export const postSummaryJob = jobType("postmortem.post_summary", summaryPayload);

export interface PostmortemFlowDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "postMessage">;
  timeZone: string;
  wakeJobs(): void;
  /** The post-mortem exporters (Confluence, GitHub; src/postmortem/export/), enqueued in the same transactions. */
  exporters?: Pick<PostmortemExporters, "draftGenerated" | "followUpAdded">;
}

export function createPostmortemFlows(deps: PostmortemFlowDeps) {
  async function requestSummary(tx: Db, incident: { id: string }, key: string): Promise<void> {
    await postSummaryJob.enqueue(tx, { incidentId: incident.id }, { incidentId: incident.id, dedupeKey: `postmortem:${incident.id}:${key}`, rateKey: `postmortem:${incident.id}` });
    await deps.exporters?.draftGenerated(tx, incident.id, key);
  }

  async function addFollowUp(incidentId: string, userId: string, title: string, idempotencyKey: string): Promise<{ created: boolean }> {
    const created = await deps.prisma.$transaction(async (tx) => {
      const fresh = await tx.idempotencyKey.createMany({ data: [{ key: idempotencyKey }], skipDuplicates: true });
      if (fresh.count === 0) return false;
      const actionItem = await tx.actionItem.create({ data: { incidentId, title, createdById: userId } });
      await deps.exporters?.followUpAdded(tx, incidentId, actionItem.id);
      await recordEvent(tx, { incidentId, type: "followup.added", source: "SLACK", actorId: userId, text: `Follow-up: ${title}`, data: { title } });
      return true;
    });
    if (created) deps.wakeJobs();
    return { created };
  }

  const postSummary: JobDefinition<z.infer<typeof summaryPayload>> = {
    kind: postSummaryJob.kind,
    payload: summaryPayload,
    async handle({ incidentId }) {
      const incident = await deps.prisma.incident.findUnique({ where: { id: incidentId }, select: { number: true, channelId: true } });
      if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${incidentId} does not exist`);
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`);
      const input = await loadPostmortemInput(deps.prisma, incident.number, { audience: "internal", timeZone: deps.timeZone, now: new Date() });
      if (!input) return;
      const message = postmortemSummaryMessage(generatePostmortem(input));
      await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks });
    },
  };

  return {
    requestSummary: async (incidentId: string, key: string) => {
      await deps.prisma.$transaction(async (tx) => requestSummary(tx, { id: incidentId }, key));
      deps.wakeJobs();
    },
    requestSummaryWithin: requestSummary,
    addFollowUp,
    jobs: [postSummary] as const,
  };
}

export type PostmortemFlows = ReturnType<typeof createPostmortemFlows>;
