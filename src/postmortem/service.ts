import type { Db } from "../db/client.ts";
import { PROMPT_IDS, type Audience, type PostmortemInput, type PromptId } from "./models.ts";


/** The latest hand-written answer to each prompt (events oldest first, so later ones win). */
export function answersFrom(events: ReadonlyArray<{ type: string; data: unknown }>): Partial<Record<PromptId, string>> {
  const answers: Partial<Record<PromptId, string>> = {};
  for (const event of events) {
    if (event.type !== "postmortem.section_edited") continue;
    const data = record(event.data);
    const section = text(data.section);
    if (section && (PROMPT_IDS as readonly string[]).includes(section)) answers[section as PromptId] = text(data.text) ?? "";
  }
  return answers;
}

/**
 * Loads everything the post-mortem generator needs about one incident. The
 * generator itself (generate.ts) is a pure function of this input.
 */
function record(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

export async function loadPostmortemInput(
  db: Db,
  number: number,
  options: { audience: Audience; timeZone: string; now: Date },
): Promise<PostmortemInput | null> {
  const incident = await db.incident.findUnique({
    where: { number },
    include: {
      participants: { include: { roles: { where: { endedAt: null } } } },
      events: { orderBy: [{ occurredAt: "asc" }, { id: "asc" }] },
      alertGroups: { include: { alerts: true } },
      remediations: { orderBy: { requestedAt: "asc" } },
      actionItems: { orderBy: { createdAt: "asc" } },
    },
  });
  if (!incident) return null;
  return {
    answers: answersFrom(incident.events),
    incident: {
      number: incident.number,
      title: incident.title,
      severity: incident.severity,
      status: incident.status,
      private: incident.private,
      services: incident.services,
      summary: incident.summary,
      description: incident.description,
      declaredAt: incident.declaredAt,
      startedAt: incident.startedAt,
      acknowledgedAt: incident.acknowledgedAt,
      mitigatedAt: incident.mitigatedAt,
      resolvedAt: incident.resolvedAt,
      commanderId: incident.commanderId,
      declaredById: incident.declaredById,
      channelName: incident.channelName,
    },
    participants: incident.participants.map((participant) => ({ userId: participant.slackUserId, roles: participant.roles.map((role) => role.role) })),
    events: incident.events.map((event) => ({
      id: String(event.id),
      type: event.type,
      source: event.source,
      actorId: event.actorId,
      text: event.text,
      data: event.data,
      occurredAt: event.occurredAt,
      private: event.private,
      hidden: event.hidden,
      removedAt: event.removedAt,
      editedAt: event.editedAt,
    })),
    alerts: incident.alertGroups.flatMap((group) =>
      group.alerts.map((alert) => ({
        alertname: text(record(alert.labels).alertname) ?? alert.fingerprint,
        fingerprint: alert.fingerprint,
        severity: text(record(alert.labels).severity),
        status: alert.status,
        startsAt: alert.startsAt,
        endsAt: alert.endsAt,
        summary: text(record(alert.annotations).summary),
      })),
    ),
    remediations: incident.remediations.map((execution) => ({
      // The label people pressed, with the action's id (the YAML may have changed since).
      actionKey: execution.label ? `${execution.label} (${execution.actionKey})` : execution.actionKey,
      kind: execution.kind,
      status: execution.status,
      requestedById: execution.requestedById,
      confirmedById: execution.confirmedById,
      requestedAt: execution.requestedAt,
      finishedAt: execution.finishedAt,
      resultSummary: text(record(execution.result).summary),
      error: execution.error,
    })),
    actionItems: incident.actionItems.map((item) => ({
      title: item.title,
      ownerId: item.ownerId,
      dueDate: item.dueDate,
      priority: item.priority,
      status: item.status,
      externalUrl: item.externalUrl,
    })),
    options: { audience: options.audience, timeZone: options.timeZone, now: options.now },
  };
}
