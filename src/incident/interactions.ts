import type { FileConfig } from "../config/file.ts";
import type { PrismaClient } from "../db/client.ts";
import type { IncidentStatus, Severity } from "../generated/prisma/enums.ts";
import type { SlackApi } from "../slack/api.ts";
import { parsePrivateMetadata as metadata } from "../slack/blocks.ts";
import type { Clicker, ViewAnswer } from "../slack/listeners.ts";
import { userActor } from "../events/lifecycle.ts";
import type { Authorizer } from "./authz.ts";
import { MAX_TITLE_LENGTH } from "./commands.ts";
import type { IncidentFlows } from "./flows.ts";
import type { IncidentLifecycle, Outcome } from "./lifecycle.ts";
import { SEVERITIES, incidentRef } from "./models.ts";
import { getIncidentByChannel, getIncidentDetail } from "./service.ts";
import { FIELDS, resolveModal, updateModal } from "./views.ts";

/**
 * Buttons on the incident header and modal submissions. The Slack listeners
 * extract plain values from the payloads and call these; answers for the
 * clicker go out as ephemeral messages through the job queue.
 */

/** A view submission's state, as Slack sends it: values[blockId][actionId]. */
export type ViewValues = Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null; selected_options?: Array<{ value: string }> }>>;

/** What a view submission answers: close the modal, or show errors by block id. */

export interface InteractionDeps {
  prisma: PrismaClient;
  flows: Pick<IncidentFlows, "declare">;
  lifecycle: IncidentLifecycle;
  slack: Pick<SlackApi, "openView">;
  authorizer: Authorizer;
  config: Pick<FileConfig, "services">;
}

function text(values: ViewValues, field: { block: string; action: string }): string {
  return (values[field.block]?.[field.action]?.value ?? "").trim();
}

function selected(values: ViewValues, field: { block: string; action: string }): string | undefined {
  return values[field.block]?.[field.action]?.selected_option?.value ?? undefined;
}

export function createIncidentInteractions(deps: InteractionDeps) {
  async function tell(clicker: Clicker, outcome: Outcome, always = false): Promise<void> {
    if (!clicker.channelId || (outcome.ok && !always)) return;
    await deps.lifecycle.tellUser(undefined, clicker.channelId, clicker.userId, outcome.message);
  }

  return {
    /** The incident whose channel this is (the severity menu carries no incident id). */
    async incidentInChannel(channelId: string): Promise<string | undefined> {
      return (await getIncidentByChannel(deps.prisma, channelId))?.id;
    },

    async takeCommand(incidentId: string, clicker: Clicker): Promise<void> {
      await tell(clicker, await deps.lifecycle.takeCommand(incidentId, clicker.userId));
    },

    async setSeverity(incidentId: string, value: string, clicker: Clicker): Promise<void> {
      if (!SEVERITIES.includes(value as Severity)) return;
      await tell(clicker, await deps.lifecycle.setSeverity(incidentId, userActor(clicker.userId), value as Severity));
    },

    async openUpdate(incidentId: string, clicker: Clicker): Promise<void> {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident || incident.status === "RESOLVED") {
        await tell(clicker, { ok: false, message: "This incident is resolved; reopen it first." });
        return;
      }
      await deps.slack.openView({ triggerId: clicker.triggerId, view: updateModal(incident) });
    },

    async openResolve(incidentId: string, clicker: Clicker): Promise<void> {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident || incident.status === "RESOLVED") {
        await tell(clicker, { ok: false, message: "Already resolved." });
        return;
      }
      if (!(await deps.authorizer.canManage(clicker.userId, incident))) {
        // The lifecycle records the denial and explains it.
        await tell(clicker, await deps.lifecycle.resolve(incidentId, userActor(clicker.userId), undefined));
        return;
      }
      await deps.slack.openView({ triggerId: clicker.triggerId, view: resolveModal(incident) });
    },

    async submitDeclare(values: ViewValues, privateMetadata: string, userId: string, viewId: string): Promise<ViewAnswer> {
      const title = text(values, FIELDS.title);
      if (title === "") return { errors: { [FIELDS.title.block]: "Give the incident a title." } };
      if (title.length > MAX_TITLE_LENGTH) return { errors: { [FIELDS.title.block]: `Keep the title to ${MAX_TITLE_LENGTH} characters.` } };
      const severity = selected(values, FIELDS.severity) ?? "SEV3";
      if (!SEVERITIES.includes(severity as Severity)) return { errors: { [FIELDS.severity.block]: "Pick a severity." } };
      const service = selected(values, FIELDS.service);
      if (service && !deps.config.services.some((entry) => entry.key === service)) return { errors: { [FIELDS.service.block]: "That service is no longer configured." } };
      const origin = metadata(privateMetadata);
      if (typeof origin.channelId === "string") {
        const inside = await getIncidentByChannel(deps.prisma, origin.channelId);
        if (inside) return { errors: { [FIELDS.title.block]: `You are in the channel of ${incidentRef(inside.number)}; declare from another channel.` } };
      }
      const description = text(values, FIELDS.description);
      await deps.flows.declare({
        title,
        severity: severity as Severity,
        private: (values[FIELDS.private.block]?.[FIELDS.private.action]?.selected_options ?? []).some((entry) => entry.value === "private"),
        source: "SLACK",
        declaredById: userId,
        description: description === "" ? null : description,
        services: service ? [service] : [],
        idempotencyKey: `view:${viewId}`,
      });
      return { close: true };
    },

    async submitUpdate(values: ViewValues, privateMetadata: string, userId: string, viewId: string): Promise<ViewAnswer> {
      const incidentId = metadata(privateMetadata).incidentId;
      if (typeof incidentId !== "string") return { errors: { [FIELDS.message.block]: "This form is out of date; open it again from the incident header." } };
      const message = text(values, FIELDS.message);
      if (message === "") return { errors: { [FIELDS.message.block]: "Write the update." } };
      const status = (selected(values, FIELDS.status) ?? "INVESTIGATING") as IncidentStatus;
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      if (!incident) return { errors: { [FIELDS.message.block]: "That incident no longer exists." } };
      const actor = userActor(userId);
      const outcome =
        incident.status === status
          ? await deps.lifecycle.postUpdate(incidentId, actor, message, `view:${viewId}`)
          : await deps.lifecycle.setStatus(incidentId, actor, status, message, `view:${viewId}`);
      return outcome.ok ? { close: true } : { errors: { [FIELDS.message.block]: outcome.message.slice(0, 150) } };
    },

    async submitResolve(values: ViewValues, privateMetadata: string, userId: string, viewId: string): Promise<ViewAnswer> {
      const incidentId = metadata(privateMetadata).incidentId;
      if (typeof incidentId !== "string") return { errors: { [FIELDS.summary.block]: "This form is out of date; open it again from the incident header." } };
      const summary = text(values, FIELDS.summary);
      if (summary === "") return { errors: { [FIELDS.summary.block]: "Summarise the resolution for the post-mortem." } };
      const outcome = await deps.lifecycle.resolve(incidentId, userActor(userId), summary, `view:${viewId}`);
      return outcome.ok ? { close: true } : { errors: { [FIELDS.summary.block]: outcome.message.slice(0, 150) } };
    },
  };
}

export type IncidentInteractions = ReturnType<typeof createIncidentInteractions>;
