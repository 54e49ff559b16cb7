import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, type TestApp } from "../support/app.ts";

/**
 * Raw Alertmanager deliveries (about 14 KiB each, every group_interval per
 * group) are not kept forever: processed ones older than
 * ALERT_DELIVERY_RETENTION_DAYS are deleted by the job worker's periodic
 * housekeeping. Unprocessed ones are never deleted, whatever their age.
 */
let slack: FakeSlack;
let app: TestApp;

beforeAll(async () => {
  slack = await startFakeSlack();
  app = await startTestApp({ slack, env: { ALERT_DELIVERY_RETENTION_DAYS: "2" }, worker: { sweepIntervalMs: 200 } });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
});

async function delivery(groupKey: string, ageDays: number, processed: boolean): Promise<bigint> {
  const rows = await app.database.prisma.$queryRaw<Array<{ id: bigint }>>`
    INSERT INTO alert_deliveries (group_key, received_at, payload, processed_at)
    VALUES (${groupKey}, now() - (${ageDays}::float8 * interval '1 day'), '{}',
            ${processed ? new Date() : null}::timestamptz)
    RETURNING id`;
  return rows[0]!.id;
}

describe("alert delivery retention", () => {
  it("deletes processed deliveries past the retention and keeps recent and unprocessed ones", async () => {
    const oldProcessed = await delivery("old-processed", 3, true);
    const oldUnprocessed = await delivery("old-unprocessed", 30, false);
    const recentProcessed = await delivery("recent-processed", 1.5, true);

    await eventually(async () => (await app.database.prisma.alertDelivery.count({ where: { id: oldProcessed } })) === 0, 10_000, "old processed delivery purged");
    const left = await app.database.prisma.alertDelivery.findMany({ where: { id: { in: [oldProcessed, oldUnprocessed, recentProcessed] } }, select: { groupKey: true }, orderBy: { id: "asc" } });
    expect(left.map((row) => row.groupKey)).toEqual(["old-unprocessed", "recent-processed"]);
    expect(app.logs.text()).toContain('"task":"alert deliveries older than the retention","removed":1');
  });
});
