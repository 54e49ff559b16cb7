import { z } from "zod";
import type { EventCatalogue } from "../events/catalogue.ts";
import type { Clock } from "../core/clock.ts";
import { POSTMORTEM_EVENTS } from "./events.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import { NotReadyError, PermanentOutboundError } from "../lib/errors.ts";

import { jobType } from "../queue/service.ts";
import { onceFor, type SlackApi } from "../slack/api.ts";
import { generatePostmortem } from "./generate.ts";
import { loadPostmortemInput } from "./service.ts";
import type { ActionItemPriority } from "../generated/prisma/enums.ts";
import { renderMarkdown } from "./render.ts";
import type { PostmortemExporters } from "./export/jobs.ts";
import { postmortemSummaryMessage } from "./views.ts";

export interface FollowUpInput {
  title: string;
  description?: string | null;
  ownerId?: string | null;
  dueDate?: Date | null;
  priority?: ActionItemPriority | null;
}

/**
 * Post-mortem side effects: the draft's summary is posted in the incident
 * channel on resolve and on `/incident postmortem`; follow-ups are recorded
 * as action items.
 */
const summaryPayload = z.object({ incidentId: z.uuid() });
export const postSummaryJob = jobType("postmortem.post_summary", summaryPayload);
export const uploadDraftJob = jobType("postmortem.upload_draft", summaryPayload);

export interface PostmortemFlowDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "postMessage" | "uploadFile">;
  timeZone: string;
  wakeJobs(): void;
  clock: Clock;
  /** Every event type's kind (read when handling). */
  events: () => EventCatalogue;
  /** The post-mortem exporters (Confluence, GitHub; src/postmortem/export/), enqueued in the same transactions. */
  exporters?: Pick<PostmortemExporters, "draftGenerated" | "followUpAdded">;
}

export function createPostmortemFlows(deps: PostmortemFlowDeps) {
  async function requestSummary(tx: Db, incident: { id: string }, key: string): Promise<void> {
    await postSummaryJob.enqueue(tx, { incidentId: incident.id }, { incidentId: incident.id, dedupeKey: `postmortem:${incident.id}:${key}`, rateKey: `postmortem:${incident.id}` });
    await deps.exporters?.draftGenerated(tx, incident.id, key);
  }

  async function addFollowUp(incidentId: string, userId: string, item: FollowUpInput | string, idempotencyKey: string): Promise<{ created: boolean }> {
    const details: FollowUpInput = typeof item === "string" ? { title: item } : item;
    const created = await deps.prisma.$transaction(async (tx) => {
      const fresh = await tx.idempotencyKey.createMany({ data: [{ key: idempotencyKey }], skipDuplicates: true });
      if (fresh.count === 0) return false;
      const incident = await tx.incident.findUniqueOrThrow({ where: { id: incidentId }, select: { private: true } });
      const actionItem = await tx.actionItem.create({
        data: {
          incidentId,
          title: details.title,
          createdById: userId,
          ...(details.description ? { description: details.description } : {}),
          ...(details.ownerId ? { ownerId: details.ownerId } : {}),
          ...(details.dueDate ? { dueDate: details.dueDate } : {}),
          ...(details.priority ? { priority: details.priority } : {}),
        },
      });
      await deps.exporters?.followUpAdded(tx, incidentId, actionItem.id);
      await POSTMORTEM_EVENTS["followup.added"].record(tx, {
        incidentId,
        source: "SLACK",
        actorId: userId,
        data: { title: details.title, ownerId: details.ownerId ?? null, dueDate: details.dueDate?.toISOString().slice(0, 10) ?? null, priority: details.priority ?? null },
        private: incident.private,
      });
      return true;
    });
    if (created) deps.wakeJobs();
    return { created };
  }

  const postSummary = postSummaryJob.handler({
    async handle({ incidentId }, context) {
      const incident = await deps.prisma.incident.findUnique({ where: { id: incidentId }, select: { number: true, channelId: true } });
      if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${incidentId} does not exist`);
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`);
      const input = await loadPostmortemInput(deps.prisma, incident.number, { audience: "internal", timeZone: deps.timeZone, now: deps.clock.now() });
      if (!input) return;
      const doc = generatePostmortem(input, deps.events());
      const message = postmortemSummaryMessage(doc, incidentId);
      await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks, once: onceFor(context) });
      // The file is its own job: a failed upload is retried without posting the summary twice.
      await context.complete(async (tx) => {
        await uploadDraftJob.enqueue(tx, { incidentId }, { incidentId, dedupeKey: `postmortem-file:${context.id}`, rateKey: `postmortem:${incidentId}` });
      });
      deps.wakeJobs();
    },
  });

  const uploadDraft = uploadDraftJob.handler({
    async handle({ incidentId }) {
      const incident = await deps.prisma.incident.findUnique({ where: { id: incidentId }, select: { number: true, channelId: true } });
      if (!incident?.channelId) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${incidentId} has no channel`);
      const input = await loadPostmortemInput(deps.prisma, incident.number, { audience: "internal", timeZone: deps.timeZone, now: deps.clock.now() });
      if (!input) return;
      const doc = generatePostmortem(input, deps.events());
      await deps.slack.uploadFile({
        channel: incident.channelId,
        filename: `${doc.header.ref.toLowerCase()}-postmortem-draft.md`,
        title: `Post-mortem draft: ${doc.header.ref}`,
        content: renderMarkdown(doc),
      });
    },
  });

  return {
    requestSummary: async (incidentId: string, key: string) => {
      await deps.prisma.$transaction(async (tx) => requestSummary(tx, { id: incidentId }, key));
      deps.wakeJobs();
    },
    requestSummaryWithin: requestSummary,
    addFollowUp,
    jobs: [postSummary, uploadDraft] as const,
  };
}

export type PostmortemFlows = ReturnType<typeof createPostmortemFlows>;
