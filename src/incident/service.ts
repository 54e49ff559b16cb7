import type { Db } from "../db/client.ts";
import type { IncidentSource, IncidentStatus, ParticipantRole, Severity } from "../generated/prisma/enums.ts";
import type { IncidentDetail, IncidentSummary } from "./models.ts";

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
  acknowledgedAt?: Date | null;
  declaredAt?: Date;
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
  description: true,
  services: true,
  summary: true,
  acknowledgedAt: true,
  mitigatedAt: true,
  resolvedAt: true,
  lastStatusUpdateAt: true,
} as const;

const detailSelect = {
  ...summarySelect,
  headerMessageTs: true,
  bookmarkId: true,
  announcementChannelId: true,
  announcementTs: true,
  participants: {
    select: { slackUserId: true, roles: { where: { endedAt: null, role: { in: ["SCRIBE", "COMMS"] as ParticipantRole[] } }, select: { role: true } } },
  },
} as const;

type DetailRow = Omit<IncidentDetail, "scribeId" | "commsId"> & {
  participants: Array<{ slackUserId: string; roles: Array<{ role: ParticipantRole }> }>;
};

function toDetail(row: DetailRow): IncidentDetail {
  const holder = (role: ParticipantRole) => row.participants.find((p) => p.roles.some((r) => r.role === role))?.slackUserId ?? null;
  const { participants: _participants, ...rest } = row;
  return { ...rest, scribeId: holder("SCRIBE"), commsId: holder("COMMS") };
}

/**
 * The next incident number, taken from the "incident" counter inside the caller's transaction:
 * a rollback gives it back; a concurrent declare waits for this one's commit. The row is made
 * by the migration; the upsert only matters on a database whose counters were emptied.
 */
async function nextIncidentNumber(tx: Db): Promise<number> {
  const counter = await tx.counter.upsert({
    where: { name: "incident" },
    create: { name: "incident", value: 1 },
    update: { value: { increment: 1 } },
    select: { value: true },
  });
  return counter.value;
}

export async function createIncident(tx: Db, input: NewIncident): Promise<IncidentSummary> {
  const incident = await tx.incident.create({
    data: {
      number: await nextIncidentNumber(tx),
      title: input.title,
      severity: input.severity,
      private: input.private,
      source: input.source,
      declaredById: input.declaredById,
      commanderId: input.commanderId,
      description: input.description ?? null,
      services: input.services ?? [],
      acknowledgedAt: input.acknowledgedAt ?? null,
      ...(input.declaredAt ? { declaredAt: input.declaredAt, detectedAt: input.declaredAt } : {}),
    },
    select: summarySelect,
  });
  const people = [input.declaredById, input.commanderId].filter((user): user is string => user !== null);
  const participants = await ensureParticipants(tx, incident.id, people);
  const commander = input.commanderId === null ? undefined : participants.get(input.commanderId);
  // A new incident: no one holds the role yet, nothing to end (assignRole's work for a change).
  if (commander !== undefined) await tx.participantRoleAssignment.create({ data: { participantId: commander, role: "COMMANDER", assignedById: input.declaredById } });
  return incident;
}

export async function getIncident(db: Db, id: string): Promise<IncidentSummary | null> {
  return db.incident.findUnique({ where: { id }, select: summarySelect });
}

export async function getIncidentDetail(db: Db, id: string): Promise<IncidentDetail | null> {
  const row = await db.incident.findUnique({ where: { id }, select: detailSelect });
  return row ? toDetail(row) : null;
}

export async function getIncidentByNumber(db: Db, number: number): Promise<IncidentDetail | null> {
  const row = await db.incident.findUnique({ where: { number }, select: detailSelect });
  return row ? toDetail(row) : null;
}

export async function getIncidentByChannel(db: Db, channelId: string): Promise<IncidentDetail | null> {
  const row = await db.incident.findUnique({ where: { channelId }, select: detailSelect });
  return row ? toDetail(row) : null;
}

/** Locks the incident row for the rest of the transaction (serialises concurrent changes). */
export async function lockIncident(tx: Db, id: string): Promise<IncidentDetail> {
  await tx.$queryRaw`SELECT id FROM incidents WHERE id = ${id}::uuid FOR UPDATE`;
  const row = await tx.incident.findUniqueOrThrow({ where: { id }, select: detailSelect });
  return toDetail(row);
}

/**
 * The newest `limit` incidents and how many match in all. The count is a statement of its own
 * only when the page is full: a page with room left holds every match (the usual case: a
 * handful of open incidents), so `/incident list` is one round trip.
 */
export async function listIncidents(db: Db, options: { includeResolved: boolean; limit: number }) {
  const where = options.includeResolved ? {} : { status: { not: "RESOLVED" as const } };
  const rows = await db.incident.findMany({ where, orderBy: { declaredAt: "desc" }, take: options.limit, select: summarySelect });
  const total = rows.length < options.limit ? rows.length : await db.incident.count({ where });
  return { rows, total };
}

export async function isParticipant(db: Db, incidentId: string, userId: string): Promise<boolean> {
  return (await db.participant.count({ where: { incidentId, slackUserId: userId } })) > 0;
}

/** Which of `incidentIds` the user takes part in, in one statement. */
export async function participatingIn(db: Db, incidentIds: readonly string[], userId: string): Promise<Set<string>> {
  if (incidentIds.length === 0) return new Set();
  const rows = await db.participant.findMany({ where: { incidentId: { in: [...incidentIds] }, slackUserId: userId }, select: { incidentId: true } });
  return new Set(rows.map((row) => row.incidentId));
}

export async function ensureParticipant(tx: Db, incidentId: string, userId: string): Promise<string> {
  const ids = await ensureParticipants(tx, incidentId, [userId]);
  const id = ids.get(userId);
  if (id === undefined) throw new Error(`participant ${userId} of incident ${incidentId} was not stored`);
  return id;
}

/**
 * Makes each of `userIds` a participant of the incident (those already there stay as they
 * are, `leftAt` included) in one statement, and returns every one's participant id by user.
 * One round trip whatever the number of people: the declare and the invites run it on their
 * way to the channel.
 */
export async function ensureParticipants(tx: Db, incidentId: string, userIds: readonly string[]): Promise<Map<string, string>> {
  const users = [...new Set(userIds)];
  if (users.length === 0) return new Map();
  // DO UPDATE (of nothing that changes) rather than DO NOTHING, so that RETURNING gives the
  // rows that were already there too.
  const rows = await tx.$queryRaw<Array<{ id: string; slack_user_id: string }>>`
    INSERT INTO participants (id, incident_id, slack_user_id)
    SELECT gen_random_uuid(), ${incidentId}::uuid, u FROM unnest(${users}::text[]) AS u
    ON CONFLICT (incident_id, slack_user_id) DO UPDATE SET slack_user_id = EXCLUDED.slack_user_id
    RETURNING id::text AS id, slack_user_id`;
  return new Map(rows.map((row) => [row.slack_user_id, row.id]));
}

/** Gives `role` to `userId`, ending whoever held it (roles keep their history). */
export async function assignRole(tx: Db, incidentId: string, role: ParticipantRole, userId: string, assignedById: string | null): Promise<void> {
  const participantId = await ensureParticipant(tx, incidentId, userId);
  await tx.participantRoleAssignment.updateMany({
    where: { role, endedAt: null, participant: { incidentId }, NOT: { participantId } },
    data: { endedAt: new Date() },
  });
  const current = await tx.participantRoleAssignment.findFirst({ where: { participantId, role, endedAt: null } });
  if (!current) await tx.participantRoleAssignment.create({ data: { participantId, role, assignedById } });
}

export interface IncidentChanges {
  severity?: Severity;
  status?: IncidentStatus;
  commanderId?: string | null;
  summary?: string | null;
  acknowledgedAt?: Date;
  mitigatedAt?: Date;
  resolvedAt?: Date | null;
  lastStatusUpdateAt?: Date;
}

export async function updateIncident(tx: Db, id: string, changes: IncidentChanges): Promise<void> {
  await tx.incident.update({ where: { id }, data: changes });
}

export async function setIncidentChannel(tx: Db, id: string, channel: { id: string; name: string }): Promise<void> {
  await tx.incident.update({ where: { id }, data: { channelId: channel.id, channelName: channel.name } });
}

export async function setHeaderMessage(tx: Db, id: string, ts: string): Promise<void> {
  await tx.incident.update({ where: { id }, data: { headerMessageTs: ts } });
}

export async function setBookmark(tx: Db, id: string, bookmarkId: string): Promise<void> {
  await tx.incident.update({ where: { id }, data: { bookmarkId } });
}

export async function setAnnouncement(tx: Db, id: string, channelId: string, ts: string): Promise<void> {
  await tx.incident.update({ where: { id }, data: { announcementChannelId: channelId, announcementTs: ts } });
}

/**
 * Claims an idempotency key inside the caller's transaction. Returns the
 * stored result when the key was seen before (a retry or a double click).
 */
export async function claimIdempotencyKey(tx: Db, key: string): Promise<{ fresh: true } | { fresh: false; result: unknown }> {
  // SQL rather than createMany({ skipDuplicates }), whose plan Prisma compiles again on every call.
  const inserted = await tx.$executeRaw`INSERT INTO idempotency_keys (key) VALUES (${key}) ON CONFLICT (key) DO NOTHING`;
  if (inserted === 1) return { fresh: true };
  const existing = await tx.idempotencyKey.findUnique({ where: { key } });
  return { fresh: false, result: existing?.result ?? null };
}

export async function recordIdempotentResult(tx: Db, key: string, result: object): Promise<void> {
  await tx.idempotencyKey.update({ where: { key }, data: { result } });
}
