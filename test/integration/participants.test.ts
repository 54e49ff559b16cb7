import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Database } from "../../src/db/client.ts";
import { createIncident, ensureParticipant, ensureParticipants } from "../../src/incident/service.ts";
import { migratedTestDatabase, type MigratedTestDatabase } from "../support/postgres.ts";

/**
 * Participants stored in one statement (src/incident/service.ts `ensureParticipants`), on the
 * test PostgreSQL: new people are added, people already there keep their row as it is.
 */
let migrated: MigratedTestDatabase;
let database: Database;

beforeAll(async () => {
  migrated = await migratedTestDatabase(inject("postgresUrl"), "fb_participants");
  database = migrated.database;
});

afterAll(async () => {
  await migrated?.close();
});

async function newIncident(declaredById: string | null): Promise<string> {
  const incident = await database.prisma.$transaction((tx) =>
    createIncident(tx, { title: "Participants", severity: "SEV3", private: false, source: "SLACK", declaredById, commanderId: declaredById }),
  );
  return incident.id;
}

describe("ensureParticipants", () => {
  it("adds the new people, leaves those already there as they were (left_at included) and gives everyone's id", async () => {
    const incidentId = await newIncident("U0DECLARER");
    const declarer = await database.prisma.participant.findUniqueOrThrow({ where: { incidentId_slackUserId: { incidentId, slackUserId: "U0DECLARER" } } });
    const leftAt = new Date("2026-12-01T10:00:00.000Z");
    await database.prisma.participant.update({ where: { id: declarer.id }, data: { leftAt } });

    const ids = await database.prisma.$transaction((tx) => ensureParticipants(tx, incidentId, ["U0NEW1", "U0DECLARER", "U0NEW2", "U0NEW1"]));

    const rows = await database.prisma.participant.findMany({ where: { incidentId }, orderBy: { slackUserId: "asc" } });
    expect(rows.map((row) => row.slackUserId)).toEqual(["U0DECLARER", "U0NEW1", "U0NEW2"]);
    expect(Object.fromEntries(ids)).toEqual(Object.fromEntries(rows.map((row) => [row.slackUserId, row.id])));
    expect(rows.find((row) => row.slackUserId === "U0DECLARER")).toMatchObject({ id: declarer.id, joinedAt: declarer.joinedAt, leftAt });
    expect(await ensureParticipant(database.prisma, incidentId, "U0NEW2")).toBe(ids.get("U0NEW2"));
  });

  it("makes the declarer of a new incident its only participant and commander", async () => {
    const incidentId = await newIncident("U0LEAD");
    const participants = await database.prisma.participant.findMany({ where: { incidentId }, include: { roles: true } });
    expect(participants).toHaveLength(1);
    expect(participants[0]?.slackUserId).toBe("U0LEAD");
    expect(participants[0]?.roles.map((role) => [role.role, role.assignedById, role.endedAt])).toEqual([["COMMANDER", "U0LEAD", null]]);
  });

  it("stores nobody for an incident declared by no one, and nothing for an empty list", async () => {
    const incidentId = await newIncident(null);
    expect(await database.prisma.$transaction((tx) => ensureParticipants(tx, incidentId, []))).toEqual(new Map());
    expect(await database.prisma.participant.count({ where: { incidentId } })).toBe(0);
  });
});
