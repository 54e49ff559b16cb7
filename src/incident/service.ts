import type { Db } from "../db/client.ts";
import type { IncidentSource, Severity } from "../generated/prisma/enums.ts";
import type { IncidentSummary } from "./models.ts";

/** Data access for incidents. No Slack, no side effects beyond the rows. */
export interface NewIncident {
  title: string;
  severity: Severity;
  private: boolean;
  source: IncidentSource;
  declaredById: string | null;
  commanderId: string | null;
  description?: string | null;
  services?: string[];
}

const summarySelect = {
  id: true,
  number: true,
  title: true,
  severity: true,
  status: true,
  private: true,
  commanderId: true,
  declaredById: true,
  declaredAt: true,
  channelId: true,
  channelName: true,
} as const;

export async function createIncident(tx: Db, input: NewIncident): Promise<IncidentSummary> {
  const incident = await tx.incident.create({
    data: {
      title: input.title,
      severity: input.severity,
      private: input.private,
      source: input.source,
      declaredById: input.declaredById,
      commanderId: input.commanderId,
      description: input.description ?? null,
      services: input.services ?? [],
    },
    select: summarySelect,
  });
  if (input.declaredById) {
    await tx.participant.create({
      data: {
        incidentId: incident.id,
        slackUserId: input.declaredById,
        roles:
          input.commanderId === input.declaredById
            ? { create: [{ role: "COMMANDER", assignedById: input.declaredById }] }
            : { create: [{ role: "RESPONDER", assignedById: input.declaredById }] },
      },
    });
  }
  return incident;
}

export async function getIncident(db: Db, id: string): Promise<IncidentSummary | null> {
  return db.incident.findUnique({ where: { id }, select: summarySelect });
}

export async function getIncidentByNumber(db: Db, number: number): Promise<IncidentSummary | null> {
  return db.incident.findUnique({ where: { number }, select: summarySelect });
}

export async function setIncidentChannel(tx: Db, id: string, channel: { id: string; name: string }): Promise<void> {
  await tx.incident.update({ where: { id }, data: { channelId: channel.id, channelName: channel.name } });
}

export async function setHeaderMessage(tx: Db, id: string, ts: string): Promise<void> {
  await tx.incident.update({ where: { id }, data: { headerMessageTs: ts } });
}

export async function getHeaderMessage(db: Db, id: string): Promise<string | null> {
  const row = await db.incident.findUnique({ where: { id }, select: { headerMessageTs: true } });
  return row?.headerMessageTs ?? null;
}
