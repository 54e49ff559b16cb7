import { appendFile, copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { processDeliveryJob } from "../../src/alert/flows.ts";
import { IngestOverloadedError, type DeliveryRow } from "../../src/alert/ingest.ts";
import { createDeliveryStore, type DeliveryStore } from "../../src/alert/service.ts";
import { DEFAULT_SPOOL_LIMITS, decodeRecords, encodeRecords, openDeliverySpool, SpoolClosedError, type DeliverySpool, type DeliverySpoolLimits, type SpooledDelivery } from "../../src/alert/spool.ts";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually, type LogCapture } from "../support/app.ts";
import { mainEnv, startMain } from "../support/main-process.ts";
import { freePort } from "../support/net.ts";

/**
 * The embedded database's delivery spool (src/alert/spool.ts) on real files and a real PGlite:
 * what is appended is on disk before it is acknowledged, moves into the database once (rows
 * and jobs), and what a crash leaves is recovered at the next start, up to a torn record.
 * Last, the real process killed with SIGKILL right after acknowledging deliveries.
 */

const row = (index: number, body: string | Uint8Array = Buffer.from(`body ${index}`)): DeliveryRow => ({ groupKey: `{}:{alertname="A${index}"}`, priority: 10 + index, body });

describe("records", () => {
  it("round-trip bytes and text bodies and any group key, and stop at a torn or corrupt record", () => {
    const rows: SpooledDelivery[] = [
      { id: 1n, receivedAt: new Date("2026-11-22T10:00:00.123Z"), groupKey: '{}:{alertname="Ünïcode ✓"}', priority: 5, body: Buffer.from([0, 1, 2, 255]) },
      { id: 2n ** 40n, receivedAt: new Date("2026-11-22T10:00:01Z"), groupKey: "", priority: -1, body: "text body" },
      { id: 3n, receivedAt: new Date("2026-11-22T10:00:02Z"), groupKey: "k", priority: 0, body: Buffer.alloc(0) },
    ];
    const data = encodeRecords(rows);
    const decoded = decodeRecords(data);
    expect(decoded.validBytes).toBe(data.length);
    expect(decoded.rows.map((r) => ({ ...r, body: typeof r.body === "string" ? r.body : Buffer.from(r.body).toString("hex") }))).toEqual(
      rows.map((r) => ({ ...r, body: typeof r.body === "string" ? r.body : Buffer.from(r.body).toString("hex") })),
    );

    const firstTwo = encodeRecords(rows.slice(0, 2)).length;
    // Cut inside the third record: the first two are whole.
    expect(decodeRecords(data.subarray(0, data.length - 3))).toMatchObject({ validBytes: firstTwo, rows: [{ id: 1n }, { id: 2n ** 40n }] });
    // A flipped byte inside the second record's payload: its CRC no longer matches, and nothing after it counts.
    const corrupt = Buffer.from(data);
    const at = encodeRecords(rows.slice(0, 1)).length + 20;
    corrupt.writeUInt8(corrupt.readUInt8(at) ^ 0xff, at);
    expect(decodeRecords(corrupt)).toMatchObject({ validBytes: encodeRecords(rows.slice(0, 1)).length, rows: [{ id: 1n }] });
  });
});

describe("on the embedded database", () => {
  let dir: string;
  let db: Database;
  let store: DeliveryStore;
  let logs: LogCapture;
  let syncs: number;
  const spools: DeliverySpool[] = [];

  const spoolDir = () => join(dir, "alert-spool");
  async function open(limits: Partial<DeliverySpoolLimits> = {}): Promise<DeliverySpool> {
    const spool = await openDeliverySpool(
      {
        dir: spoolDir(),
        reserveIds: store.reserveIds,
        advanceIds: store.advanceIds,
        move: store.insertSpooled,
        logger: logs.logger,
        onSync: () => (syncs += 1),
      },
      { ...DEFAULT_SPOOL_LIMITS, ...limits },
    );
    spools.push(spool);
    return spool;
  }
  const segments = async () => (await readdir(spoolDir())).filter((name) => name.endsWith(".spool")).sort();
  const deliveryRows = () => db.prisma.alertDelivery.findMany({ orderBy: { id: "asc" } });
  const deliveryJobs = () => db.prisma.job.findMany({ where: { kind: processDeliveryJob.kind }, orderBy: { id: "asc" } });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "firebreak-spool-"));
    logs = captureLogs("info");
    db = await openDatabase({ kind: "embedded", dataDir: dir }, logs.logger);
    await db.migrate("prisma/migrations");
    store = createDeliveryStore({ sql: db.sql, bodyStorage: "brotli", jobKind: processDeliveryJob.kind });
    syncs = 0;
  });

  afterEach(async () => {
    for (const spool of spools.splice(0)) await spool.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("acknowledges with consecutive ids only once the records are synced to disk, and moves each delivery once, with its job", async () => {
    const spool = await open({ idBlock: 4 });
    const first = await spool.append([row(1), row(2), row(3)]);
    const second = await spool.append([row(4), row(5)]); // crosses into a second block of ids
    const ids = [...first, ...second];
    expect(new Set(ids).size).toBe(5);
    expect(first).toEqual([first[0], (first[0] as bigint) + 1n, (first[0] as bigint) + 2n]);
    // One fdatasync per append, plus the directory once the segment file was created.
    expect(syncs).toBe(3);
    expect(spool.pending()).toBe(5);
    expect(await deliveryRows()).toHaveLength(0);

    // On disk, in order, as acknowledged.
    const [segment] = await segments();
    const onDisk = decodeRecords(await readFile(join(spoolDir(), segment as string)));
    expect(onDisk.rows.map((r) => r.id)).toEqual(ids);
    expect(onDisk.rows.map((r) => r.groupKey)).toEqual([1, 2, 3, 4, 5].map((index) => row(index).groupKey));

    expect(await spool.moveBatch(2)).toBe(2);
    expect(spool.pending()).toBe(3);
    expect(await segments()).toHaveLength(1); // three of its deliveries still to move
    expect(await spool.moveBatch(10)).toBe(3);
    expect(await spool.moveBatch(10)).toBe(0);
    expect(spool.pending()).toBe(0);
    expect(await segments()).toEqual([]); // everything moved: the segment is deleted

    const rows = await deliveryRows();
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => Buffer.from(r.payloadBrotli ?? []).toString())).toEqual([1, 2, 3, 4, 5].map((index) => `body ${index}`));
    expect(rows.every((r) => r.processedAt === null && r.receivedAt.getTime() > Date.now() - 60_000)).toBe(true);
    const jobs = await deliveryJobs();
    expect(jobs.map((job) => (job.payload as { deliveryId: string }).deliveryId)).toEqual(ids.map(String));
    expect(jobs.map((job) => job.priority)).toEqual([11, 12, 13, 14, 15]);

    // The next append starts a new segment.
    await spool.append([row(6)]);
    expect(await segments()).toHaveLength(1);
  });

  it("recovers what a crash left: every acknowledged delivery moved once, ids never handed out again", async () => {
    const crashed = await open();
    const acknowledged = [...(await crashed.append([row(1), row(2)])), ...(await crashed.append([row(3)]))];
    await crashed.moveBatch(1); // one moved before the crash; its segment stays (two are not)
    expect(await segments()).toHaveLength(1);

    // Even if the database lost the crashed run's reservation of ids (the sequence back at its start).
    await db.sql.query({ text: "SELECT setval('alert_deliveries_id_seq', 1, false)", values: [] });
    // A new start on the same directory, without the crashed one closing anything.
    const restarted = await open();
    expect(restarted.recovered).toEqual({ segments: 1, records: 3, moved: 2, droppedBytes: 0 });
    expect(await segments()).toEqual([]);
    expect((await deliveryRows()).map((r) => r.id)).toEqual(acknowledged);
    expect((await deliveryJobs()).map((job) => (job.payload as { deliveryId: string }).deliveryId)).toEqual(acknowledged.map(String));
    expect(logs.text()).toContain("moved the deliveries a previous run had spooled");

    // The restarted run hands out ids past every one it found.
    const [next] = await restarted.append([row(4)]);
    expect(next).toBeGreaterThan(acknowledged.at(-1) as bigint);
  });

  it("cuts a segment at a torn record and recovers the whole records before it", async () => {
    const crashed = await open();
    const whole = [...(await crashed.append([row(1)])), ...(await crashed.append([row(2), row(3)]))];
    const [segment] = await segments();
    const path = join(spoolDir(), segment as string);
    // A write the crash interrupted: half a record (never acknowledged), as the kernel left it.
    const torn = encodeRecords([{ ...row(4), id: 999n, receivedAt: new Date(), body: Buffer.alloc(100, 7) }]);
    await appendFile(path, torn.subarray(0, 60));

    const restarted = await open();
    expect(restarted.recovered).toEqual({ segments: 1, records: 3, moved: 3, droppedBytes: 60 });
    expect((await deliveryRows()).map((r) => r.id)).toEqual(whole);
    expect(logs.text()).toContain("torn or corrupt record");
  });

  it("moves nothing twice when a segment outlives its move (a crash before its deletion)", async () => {
    const spool = await open();
    const ids = await spool.append([row(1), row(2)]);
    const [segment] = await segments();
    const kept = join(dir, "kept.spool");
    await copyFile(join(spoolDir(), segment as string), kept);
    await spool.moveBatch(10);
    expect(await segments()).toEqual([]);
    await copyFile(kept, join(spoolDir(), segment as string));

    const restarted = await open();
    expect(restarted.recovered).toEqual({ segments: 1, records: 2, moved: 0, droppedBytes: 0 });
    expect((await deliveryRows()).map((r) => r.id)).toEqual(ids);
    expect(await deliveryJobs()).toHaveLength(2);
  });

  it("refuses appends past its limit with a retryable overload, writing nothing", async () => {
    const spool = await open({ maxPending: 3 });
    await spool.append([row(1), row(2)]);
    const before = syncs;
    await expect(spool.append([row(3), row(4)])).rejects.toBeInstanceOf(IngestOverloadedError);
    expect(syncs).toBe(before);
    expect(spool.pending()).toBe(2);
    const [segment] = await segments();
    expect(decodeRecords(await readFile(join(spoolDir(), segment as string))).rows).toHaveLength(2);
    // Once moved, appends are taken again.
    await spool.moveBatch(10);
    expect(await spool.append([row(3), row(4)])).toHaveLength(2);
  });

  it("takes nothing once closed, and leaves what was not moved for the next start", async () => {
    const spool = await open();
    const ids = await spool.append([row(1)]);
    await spool.close();
    await expect(spool.append([row(2)])).rejects.toBeInstanceOf(SpoolClosedError);
    await expect(spool.moveBatch(1)).rejects.toBeInstanceOf(SpoolClosedError);
    expect(await segments()).toHaveLength(1);
    const next = await open();
    expect(next.recovered.moved).toBe(1);
    expect((await deliveryRows()).map((r) => r.id)).toEqual(ids);
  });

  it("refuses to start on a spool it cannot move into the database, keeping the files", async () => {
    const spool = await open();
    await spool.append([row(1)]);
    // The database fails the move (here: it is closed): the spool does not open, and deletes nothing.
    await db.close();
    await expect(open()).rejects.toThrow();
    expect(await segments()).toHaveLength(1);
    db = await openDatabase({ kind: "embedded", dataDir: dir }, logs.logger);
    store = createDeliveryStore({ sql: db.sql, bodyStorage: "brotli", jobKind: processDeliveryJob.kind });
    const recovered = await open();
    expect(recovered.recovered.moved).toBe(1);
  });
});

describe("the real process, killed right after acknowledging", () => {
  let slack: FakeSlack;
  let dataDir: string;

  beforeAll(async () => {
    slack = await startFakeSlack();
    dataDir = await mkdtemp(join(tmpdir(), "firebreak-spool-crash-"));
  });
  afterAll(async () => {
    await slack?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const start = (port: number) =>
    startMain({ ...mainEnv(port, slack.url, dataDir), ALERTMANAGER_TOKEN: "spool-crash-token" });

  const delivery = (index: number) =>
    JSON.stringify({
      version: "4",
      groupKey: `{}:{alertname="Crash${index % 5}"}`,
      truncatedAlerts: 0,
      status: "firing",
      receiver: "firebreak",
      groupLabels: { alertname: `Crash${index % 5}` },
      commonLabels: { alertname: `Crash${index % 5}`, severity: "warning" },
      commonAnnotations: {},
      externalURL: "http://alertmanager.test",
      alerts: [
        {
          status: "firing",
          labels: { alertname: `Crash${index % 5}`, severity: "warning", instance: `i${index}` },
          annotations: { summary: `delivery ${index}` },
          startsAt: new Date(Date.UTC(2026, 10, 22, 10, 0, index)).toISOString(),
          endsAt: "0001-01-01T00:00:00Z",
          generatorURL: "http://prometheus.test/graph",
          fingerprint: `f${index.toString(16).padStart(15, "0")}`,
        },
      ],
    });

  it("moves every acknowledged delivery into the database at the next start", async () => {
    const port = await freePort();
    const first = start(port);
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/healthz`)).ok, 60_000, "first process up");

    // A steady stream (never quiet for long, so the mover has not run) of distinct deliveries.
    const acknowledged: string[] = [];
    for (let index = 0; index < 40; index += 1) {
      const answer = await fetch(`${url}/webhooks/alertmanager`, {
        method: "POST",
        headers: { authorization: "Bearer spool-crash-token", "content-type": "application/json" },
        body: delivery(index),
      });
      expect(answer.status).toBe(200);
      acknowledged.push(((await answer.json()) as { delivery: string }).delivery);
    }
    first.child.kill("SIGKILL");
    await first.exit;
    expect(new Set(acknowledged).size).toBe(40);
    const spooled = (await readdir(join(dataDir, "alert-spool"))).filter((name) => name.endsWith(".spool"));
    expect(spooled.length).toBeGreaterThan(0); // the kill left deliveries in the spool

    const second = start(port);
    await eventually(async () => (await fetch(`${url}/healthz`)).ok, 60_000, "second process up");
    expect(second.stdout() + second.stderr()).toContain("moved the deliveries a previous run had spooled");
    second.child.kill("SIGTERM");
    await second.exit;

    const db = await openDatabase({ kind: "embedded", dataDir }, captureLogs().logger);
    try {
      const rows = await db.prisma.alertDelivery.findMany({ select: { id: true } });
      expect(rows.map((r) => String(r.id)).sort()).toEqual([...acknowledged].sort());
      const jobs = await db.prisma.job.findMany({ where: { kind: processDeliveryJob.kind } });
      expect(jobs.map((job) => (job.payload as { deliveryId: string }).deliveryId).sort()).toEqual([...acknowledged].sort());
    } finally {
      await db.close();
    }
    expect((await readdir(join(dataDir, "alert-spool"))).filter((name) => name.endsWith(".spool"))).toEqual([]);
  }, 120_000);
});
