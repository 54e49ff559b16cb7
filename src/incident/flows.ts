import { z } from "zod";
import type { PrismaClient } from "../db/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { IncidentSource, Severity } from "../generated/prisma/enums.ts";
import { PermanentOutboundError } from "../lib/errors.ts";
import type { JobDefinition } from "../queue/models.ts";
import { jobType } from "../queue/service.ts";
import type { SlackApi } from "../slack/api.ts";
import { recordEvent } from "../timeline/service.ts";
import { incidentChannelName } from "./channel-name.ts";
import { incidentRef, type IncidentSummary } from "./models.ts";
import { createIncident, getHeaderMessage, getIncident, setHeaderMessage, setIncidentChannel } from "./service.ts";
import { incidentHeader } from "./views.ts";

/**
 * Multi-step side effects of incidents. The state change and the jobs that
 * carry its side effects commit in one transaction; each job records its
 * result and enqueues the next step in one transaction too. A crash or a 429
 * at any point leaves a pending job, never a lost step.
 */

const incidentPayload = z.object({ incidentId: z.uuid() });
const invitePayload = z.object({ incidentId: z.uuid(), users: z.array(z.string().min(1)).min(1) });

export const createChannelJob = jobType("incident.create_channel", incidentPayload);
export const inviteJob = jobType("incident.invite", invitePayload);
export const postHeaderJob = jobType("incident.post_header", incidentPayload);

/** SEV1 work is claimed before SEV4 work when the queue is backed up. */
export function severityPriority(severity: Severity): number {
  return { SEV1: 10, SEV2: 20, SEV3: 30, SEV4: 40 }[severity];
}

export interface DeclareInput {
  title: string;
  severity: Severity;
  private: boolean;
  source: IncidentSource;
  declaredById: string | null;
  description?: string | null;
}

export interface IncidentFlowDeps {
  prisma: PrismaClient;
  slack: Pick<SlackApi, "createChannel" | "findChannelByName" | "inviteToChannel" | "postMessage">;
  metrics: Pick<Metrics, "incidentsDeclared">;
  /** Wakes the job worker after a commit that enqueued jobs. */
  wakeJobs(): void;
  /** The bot's own Slack user id (from auth.test), known once Slack is connected. */
  botUserId(): string | undefined;
  channelPrefix: string;
}

export interface IncidentFlows {
  declare(input: DeclareInput): Promise<{ incident: IncidentSummary; plannedChannel: string }>;
  readonly jobs: ReadonlyArray<JobDefinition<z.infer<typeof incidentPayload>> | JobDefinition<z.infer<typeof invitePayload>>>;
}

const MAX_NAME_ATTEMPTS = 20;

export function createIncidentFlows(deps: IncidentFlowDeps): IncidentFlows {
  async function declare(input: DeclareInput) {
    const incident = await deps.prisma.$transaction(async (tx) => {
      const created = await createIncident(tx, {
        title: input.title,
        severity: input.severity,
        private: input.private,
        source: input.source,
        declaredById: input.declaredById,
        // Whoever declares leads until someone takes command.
        commanderId: input.declaredById,
        description: input.description ?? null,
      });
      await recordEvent(tx, {
        incidentId: created.id,
        type: "incident.declared",
        source: input.source === "ALERT" ? "ALERTMANAGER" : "SLACK",
        actorId: input.declaredById,
        text: `${incidentRef(created.number)} declared as ${created.severity}: ${created.title}`,
        data: { title: created.title, severity: created.severity, private: created.private },
      });
      await createChannelJob.enqueue(tx, { incidentId: created.id }, {
        dedupeKey: `create_channel:${created.id}`,
        rateKey: "conversations.create",
        priority: severityPriority(created.severity),
        incidentId: created.id,
      });
      return created;
    });
    deps.metrics.incidentsDeclared.inc({ severity: incident.severity, source: input.source });
    deps.wakeJobs();
    return { incident, plannedChannel: incidentChannelName(incident.number, incident.title, 1, deps.channelPrefix) };
  }

  async function requireIncident(id: string): Promise<IncidentSummary> {
    const incident = await getIncident(deps.prisma, id);
    if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${id} does not exist`);
    return incident;
  }

  /**
   * Creates `inc-<n>-<slug>`; on name_taken tries `-2`, `-3`... A name taken by
   * a channel this bot created for this incident (a previous attempt that
   * crashed before recording it) is adopted rather than duplicated.
   */
  const createChannel: JobDefinition<z.infer<typeof incidentPayload>> = {
    kind: createChannelJob.kind,
    payload: incidentPayload,
    async handle({ incidentId }, context) {
      const incident = await requireIncident(incidentId);
      if (incident.channelId) return;
      let channel: { id: string; name: string } | undefined;
      for (let attempt = 1; attempt <= MAX_NAME_ATTEMPTS && !channel; attempt += 1) {
        const name = incidentChannelName(incident.number, incident.title, attempt, deps.channelPrefix);
        try {
          channel = await deps.slack.createChannel({ name, isPrivate: incident.private });
        } catch (error) {
          if (!(error instanceof PermanentOutboundError && error.remoteCode === "name_taken")) throw error;
          if (context.attempt > 1) {
            const existing = await deps.slack.findChannelByName(name);
            const ours = existing && existing.creator !== undefined && existing.creator === deps.botUserId();
            const recent = existing?.created !== undefined && existing.created * 1000 >= incident.declaredAt.getTime() - 60_000;
            if (existing && ours && recent) {
              context.logger.info({ channel: existing.id }, "adopting the channel created by an earlier attempt");
              channel = { id: existing.id, name: existing.name };
            }
          }
        }
      }
      if (!channel) {
        throw new PermanentOutboundError("slack_api_error", "name_taken", `no free channel name after ${MAX_NAME_ATTEMPTS} attempts`);
      }
      const created = channel;
      const priority = severityPriority(incident.severity);
      await context.complete(async (tx) => {
        await setIncidentChannel(tx, incident.id, created);
        await recordEvent(tx, {
          incidentId: incident.id,
          type: "channel.created",
          source: "SYSTEM",
          text: `Channel #${created.name} created`,
          data: { channelId: created.id, channelName: created.name },
        });
        const bot = deps.botUserId();
        const users = [incident.declaredById].filter((user): user is string => user !== null && user !== bot);
        if (users.length > 0) {
          await inviteJob.enqueue(tx, { incidentId: incident.id, users }, {
            dedupeKey: `invite:${incident.id}:declared`,
            rateKey: `conversations.invite:${created.id}`,
            priority,
            incidentId: incident.id,
          });
        }
        await postHeaderJob.enqueue(tx, { incidentId: incident.id }, {
          dedupeKey: `post_header:${incident.id}`,
          rateKey: `chat.postMessage:${created.id}`,
          priority,
          incidentId: incident.id,
        });
      });
      deps.wakeJobs();
    },
  };

  const invite: JobDefinition<z.infer<typeof invitePayload>> = {
    kind: inviteJob.kind,
    payload: invitePayload,
    async handle({ incidentId, users }, context) {
      const incident = await requireIncident(incidentId);
      if (!incident.channelId) throw new Error(`incident ${incidentId} has no channel yet`);
      await deps.slack.inviteToChannel({ channel: incident.channelId, users });
      await context.complete(async (tx) => {
        for (const user of users) {
          await tx.participant.upsert({
            where: { incidentId_slackUserId: { incidentId, slackUserId: user } },
            create: { incidentId, slackUserId: user, roles: { create: [{ role: "RESPONDER" }] } },
            update: {},
          });
        }
        await recordEvent(tx, {
          incidentId,
          type: "participant.invited",
          source: "SYSTEM",
          text: `Invited ${users.map((user) => `<@${user}>`).join(", ")}`,
          data: { users },
        });
      });
    },
  };

  const postHeader: JobDefinition<z.infer<typeof incidentPayload>> = {
    kind: postHeaderJob.kind,
    payload: incidentPayload,
    async handle({ incidentId }, context) {
      const incident = await requireIncident(incidentId);
      if (!incident.channelId) throw new Error(`incident ${incidentId} has no channel yet`);
      if (await getHeaderMessage(deps.prisma, incidentId)) return;
      const message = incidentHeader(incident);
      const posted = await deps.slack.postMessage({ channel: incident.channelId, text: message.text, blocks: message.blocks });
      await context.complete(async (tx) => setHeaderMessage(tx, incidentId, posted.ts));
    },
  };

  return { declare, jobs: [createChannel, invite, postHeader] };
}
