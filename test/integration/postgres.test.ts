import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checksum } from "../../src/db/migrator.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { createTestDatabase, startThrowawayServer, type TestDatabase } from "../support/postgres.ts";
import { sendCommand } from "../support/slack-requests.ts";


/** The same slice against a real PostgreSQL server (started by test/setup/postgres.global.ts). */
let slack: FakeSlack;
let database: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  slack = await startFakeSlack();
  database = await createTestDatabase(inject("postgresUrl"));
  app = await startTestApp({ slack, databaseUrl: database.url });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
});

describe("on PostgreSQL", () => {
  it("uses the server, not the embedded database", () => {
    expect(app.database.kind).toBe("postgres");
  });

  it("records Prisma-compatible migration bookkeeping", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
        `SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        const sql = await readFile(join("prisma/migrations", row.migration_name, "migration.sql"), "utf8");
        expect(row.checksum).toBe(checksum(sql));
        expect(row.finished_at).toBeInstanceOf(Date);
        expect(row.applied_steps_count).toBe(1);
      }
    } finally {
      await client.end();
    }
  });

  it("applies nothing twice on restart", async () => {
    await app.stop();
    app = await startTestApp({ slack, databaseUrl: database.url });
    const report = await app.database.migrate("prisma/migrations");
    expect(report.applied).toEqual([]);
    expect(report.alreadyApplied).toBeGreaterThan(0);
  });

  it("runs /incident declare end to end", async () => {
    slack.reset();
    const response = await sendCommand(app.url, "declare Database latency spike");
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3_000);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    const incident = await eventually(
      async () => (await app.database.prisma.incident.findFirst({ where: { title: "Database latency spike", headerMessageTs: { not: null } } })) ?? undefined,
    );
    expect(incident.channelName).toBe(`inc-${incident.number}-database-latency-spike`);
    expect(slack.callsTo("conversations.create")).toHaveLength(1);
    // The invite job runs alongside the header's and may answer after it.
    await slack.waitFor({ method: "conversations.invite", count: 1 }, 10_000);
    await waitForIdleJobs(app);
    expect(slack.callsTo("conversations.invite")).toHaveLength(1);
    expect(slack.channels.members(incident.channelId!)).toContain("U0DECLARER");
  });

  it("refuses to delete timeline events (append-only)", async () => {
    const event = await app.database.prisma.timelineEvent.findFirstOrThrow();
    await expect(app.database.prisma.timelineEvent.delete({ where: { id: event.id } })).rejects.toThrow(/append-only/);
    expect(await app.database.prisma.timelineEvent.findUnique({ where: { id: event.id } })).not.toBeNull();
  });

  it("keeps Alertmanager payloads as text, compressed with lz4 where the server has it (the embedded build does not: pglz)", async () => {
    const rows = await app.database.prisma.$queryRaw<Array<{ type: string; compression: string }>>`
      SELECT format_type(atttypid, atttypmod) AS type, attcompression::text AS compression
      FROM pg_attribute WHERE attrelid = 'alert_deliveries'::regclass AND attname = 'payload'`;
    const [setting] = await app.database.prisma.$queryRaw<Array<{ lz4: boolean }>>`
      SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`;
    // '' is the column default (pglz); 'l' is lz4.
    expect(rows).toEqual([{ type: "text", compression: setting?.lz4 ? "l" : "" }]);
  });
});


describe("when PostgreSQL goes away during operation", () => {
  it("fails /readyz and answers Slack with a polite ephemeral error, not a timeout; resumes by itself when the server is back", async () => {
    // A dedicated server we can stop without disturbing the shared one.
    const server = await startThrowawayServer();
    const url = server.url;
    const ownSlack = await startFakeSlack();
    let ownApp: TestApp | undefined;
    try {
      ownApp = await startTestApp({ slack: ownSlack, databaseUrl: url });
      expect((await fetch(`${ownApp.url}/readyz`)).status).toBe(200);

      await server.stop();

      const ready = await fetch(`${ownApp.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: "unavailable" });
      expect((await fetch(`${ownApp.url}/healthz`)).status).toBe(200);

      ownSlack.reset();
      const response = await sendCommand(ownApp.url, "declare While the database is down");
      expect(response.status).toBe(200);
      expect(response.elapsedMs).toBeLessThan(3_000);
      expect(response.body).toMatchObject({ response_type: "ephemeral" });
      expect(JSON.stringify(response.body)).toMatch(/could not complete|slow to answer/);
      expect(ownSlack.callsTo("conversations.create")).toEqual([]);

      // The server comes back: Firebreak resumes by itself, without a restart.
      await server.restart();
      await eventually(async () => (await fetch(`${ownApp!.url}/readyz`)).status === 200, 20_000, "/readyz back to 200");
      const again = await sendCommand(ownApp.url, "declare After the database came back");
      expect(again.status).toBe(200);
      expect(JSON.stringify(again.body)).toContain("INC-1");
      await ownSlack.waitFor({ method: "conversations.create", ok: true }, 20_000);
      await waitForIdleJobs(ownApp, 20_000);
      expect(await ownApp.database.prisma.incident.count()).toBe(1);
      expect(await ownApp.database.prisma.job.count({ where: { status: "DEAD" } })).toBe(0);
    } finally {
      await ownApp?.stop();
      await ownSlack.close();
      await server.remove();
    }
  });
});
