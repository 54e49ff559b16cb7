import type { PrismaClient } from "../db/client.ts";
import type { ViewAnswer } from "../slack/listeners.ts";
import { POSTMORTEM_EVENTS } from "./events.ts";
import type { ActionItemPriority } from "../generated/prisma/enums.ts";
import { incidentRef } from "../incident/models.ts";
import { claimIdempotencyKey, getIncidentByChannel, getIncidentDetail, lockIncident } from "../incident/service.ts";
import type { SlackApi } from "../slack/api.ts";
import { parsePrivateMetadata as metadata } from "../slack/blocks.ts";
import { notAnIncidentChannelModal } from "../timeline/views.ts";
import type { PostmortemFlows } from "./flows.ts";
import { PROMPTS } from "./prompts.ts";
import { answersFrom } from "./service.ts";
import {
  ANSWER_MAX,
  EDITABLE_PROMPTS,
  FOLLOWUP_FIELDS,
  FOLLOWUP_TITLE_MAX,
  answerBlockId,
  followUpModal,
  postmortemEditModal,
  type EditablePrompt,
} from "./views.ts";

/**
 * The post-mortem's Slack surfaces: the "Edit the post-mortem" modal (hand
 * answers to the blameless prompts, kept across regenerations and recorded
 * on the timeline) and the "Create follow-up" message shortcut (an action
 * item with owner, due date and priority).
 */
export interface PostmortemInteractionDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "openView">;
  flows: Pick<PostmortemFlows, "addFollowUp" | "requestSummaryWithin">;
  wakeJobs(): void;
}

type Values = Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null; selected_user?: string | null; selected_date?: string | null }>>;

const EDITABLE = PROMPTS.filter((prompt): prompt is (typeof PROMPTS)[number] & { id: EditablePrompt } => (EDITABLE_PROMPTS as readonly string[]).includes(prompt.id));
const PRIORITIES = new Set<ActionItemPriority>(["HIGH", "MEDIUM", "LOW"]);

/** "2026-12-01" as a date (UTC midnight), or undefined when it is not a real calendar date. */
export function parseDueDate(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const date = new Date(`${value}T00:00:00Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value ? undefined : date;
}

export function createPostmortemInteractions(deps: PostmortemInteractionDeps) {
  return {
    async openEditor(incidentId: string, triggerId: string): Promise<void> {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident) return;
      const events = await deps.prisma.timelineEvent.findMany({
        where: { incidentId, type: "postmortem.section_edited" },
        orderBy: [{ occurredAt: "asc" }, { id: "asc" }],
        select: { type: true, data: true },
      });
      await deps.slack.openView({ triggerId, view: postmortemEditModal(incidentRef(incident.number), incident.id, EDITABLE, answersFrom(events)) });
    },

    async submitEditor(values: Values, privateMetadata: string, userId: string, viewId: string): Promise<ViewAnswer> {
      const incidentId = metadata(privateMetadata).incidentId;
      const first = answerBlockId(EDITABLE_PROMPTS[0]);
      if (typeof incidentId !== "string") return { errors: { [first]: "This form is out of date; open it again from the post-mortem summary." } };
      const given = new Map<EditablePrompt, string>();
      for (const prompt of EDITABLE_PROMPTS) {
        const answer = (values[answerBlockId(prompt)]?.answer?.value ?? "").trim();
        if (answer.length > ANSWER_MAX) return { errors: { [answerBlockId(prompt)]: `Keep it to ${ANSWER_MAX} characters.` } };
        given.set(prompt, answer);
      }
      const changed = await deps.prisma.$transaction(async (tx) => {
        if (!(await claimIdempotencyKey(tx, `view:${viewId}`)).fresh) return 0;
        const incident = await lockIncident(tx, incidentId);
        const current = answersFrom(
          await tx.timelineEvent.findMany({ where: { incidentId, type: "postmortem.section_edited" }, orderBy: [{ occurredAt: "asc" }, { id: "asc" }], select: { type: true, data: true } }),
        );
        let count = 0;
        for (const [section, text] of given) {
          if ((current[section] ?? "") === text) continue;
          count += 1;
          await POSTMORTEM_EVENTS["postmortem.section_edited"].record(tx, {
            incidentId,
            source: "SLACK",
            actorId: userId,
            data: { section, text },
            private: incident.private,
          });
        }
        if (count > 0) await deps.flows.requestSummaryWithin(tx, incident, `edit:${viewId}`);
        return count;
      });
      if (changed > 0) deps.wakeJobs();
      return { close: true };
    },

    /** The "Create follow-up" message shortcut: a modal prefilled with the message. */
    async openFollowUp(input: { channelId: string; messageTs: string; triggerId: string; text: string; authorId: string | null }): Promise<void> {
      const incident = await getIncidentByChannel(deps.prisma, input.channelId);
      if (!incident) {
        await deps.slack.openView({ triggerId: input.triggerId, view: notAnIncidentChannelModal("Create follow-up") });
        return;
      }
      const firstLine = input.text.split("\n").find((line) => line.trim() !== "")?.trim() ?? "";
      await deps.slack.openView({
        triggerId: input.triggerId,
        view: followUpModal(incidentRef(incident.number), { incidentId: incident.id, messageTs: input.messageTs, permalink: null }, firstLine.slice(0, FOLLOWUP_TITLE_MAX), null),
      });
    },

    async submitFollowUp(values: Values, privateMetadata: string, userId: string, viewId: string): Promise<ViewAnswer> {
      const origin = metadata(privateMetadata);
      const titleBlock = FOLLOWUP_FIELDS.title.block;
      if (typeof origin.incidentId !== "string") return { errors: { [titleBlock]: "This form is out of date; use the shortcut again." } };
      const title = (values[titleBlock]?.[FOLLOWUP_FIELDS.title.action]?.value ?? "").trim();
      if (title === "") return { errors: { [titleBlock]: "Describe the action item." } };
      if (title.length > FOLLOWUP_TITLE_MAX) return { errors: { [titleBlock]: `Keep it to ${FOLLOWUP_TITLE_MAX} characters.` } };
      const ownerId = values[FOLLOWUP_FIELDS.owner.block]?.[FOLLOWUP_FIELDS.owner.action]?.selected_user ?? null;
      if (ownerId !== null && !/^[UW][A-Z0-9]{2,}$/.test(ownerId)) return { errors: { [FOLLOWUP_FIELDS.owner.block]: "Pick a person." } };
      const rawDue = values[FOLLOWUP_FIELDS.due.block]?.[FOLLOWUP_FIELDS.due.action]?.selected_date ?? null;
      const dueDate = rawDue ? parseDueDate(rawDue) : null;
      if (rawDue && !dueDate) return { errors: { [FOLLOWUP_FIELDS.due.block]: "Pick a date from the calendar." } };
      const priority = values[FOLLOWUP_FIELDS.priority.block]?.[FOLLOWUP_FIELDS.priority.action]?.selected_option?.value ?? "MEDIUM";
      if (!PRIORITIES.has(priority as ActionItemPriority)) return { errors: { [FOLLOWUP_FIELDS.priority.block]: "Pick high, medium or low." } };
      const incident = await getIncidentDetail(deps.prisma, origin.incidentId);
      if (!incident) return { errors: { [titleBlock]: "That incident no longer exists." } };
      await deps.flows.addFollowUp(incident.id, userId, { title, ownerId, dueDate: dueDate ?? null, priority: priority as ActionItemPriority }, `view:${viewId}`);
      return { close: true };
    },
  };
}

export type PostmortemInteractions = ReturnType<typeof createPostmortemInteractions>;
