import { mkdir, open, readdir, readFile, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../lib/logger.ts";
import { IngestOverloadedError, type DeliveryRow } from "./ingest.ts";

/**
 * The embedded database's delivery spool: a journal the webhook appends to instead of writing
 * to PGlite, so a burst of Alertmanager deliveries is acknowledged without PostgreSQL-in-
 * WebAssembly on the webhook's thread.
 *
 * - `append` writes a batch's records to the active segment file with one `write` and one
 *   `fdatasync`, both on libuv's thread pool, and resolves with the deliveries' ids once they
 *   are on disk: the 2xx means the delivery survives a crash or a power cut, as before.
 *   Appends run one at a time, so a torn write can only be a segment's last record.
 * - The ids come from blocks reserved from the database's sequence (`reserveIds`), so a
 *   delivery's id is final when it is acknowledged (an identical HA copy is answered with it).
 * - `moveBatch` moves the oldest spooled deliveries into the database (`move`: rows and their
 *   processing jobs, a row whose id is already there skipped, so a move is idempotent). The
 *   caller runs it when the webhook is quiet (see flows.ts). A segment whose deliveries have
 *   all moved is deleted.
 * - `openDeliverySpool` recovers what a crash left: every segment's records up to the first
 *   torn or corrupt one (the file is cut there; that write was never acknowledged) are moved
 *   into the database before the webhook starts, and the sequence is set past every id seen.
 * - The deliveries not yet moved are also held in memory for the mover; past `maxPending`
 *   deliveries or `maxPendingBytes`, appends are refused (503, Alertmanager retries).
 *
 * Segment files: `<12-digit number>.spool` in `dir`. A record is a 4-byte length and a
 * 4-byte CRC-32 of the payload (both little-endian), then the payload: id (u64), received at
 * (f64, ms since the epoch), priority (i32), body kind (u8: 0 bytes, 1 UTF-8 text), group
 * key's length (u32), group key (UTF-8), body.
 */

export interface SpooledDelivery extends DeliveryRow {
  readonly id: bigint;
  readonly receivedAt: Date;
}

export interface DeliverySpoolDeps {
  readonly dir: string;
  /** Reserves `count` consecutive ids; returns the last one (the block is last-count+1 … last). */
  reserveIds(count: number): Promise<bigint>;
  /** Inserts the deliveries whose id is not in the database yet, and their jobs; resolves with how many were new. */
  move(rows: readonly SpooledDelivery[]): Promise<number>;
  /** Sets the id sequence so that no id up to `maxId` is handed out again. */
  advanceIds(maxId: bigint): Promise<void>;
  readonly logger: Logger;
  /** Called after each fdatasync of a segment file or of the directory (a metric). */
  onSync?(): void;
  readonly now?: () => Date;
}

export interface DeliverySpoolLimits {
  /** Ids reserved from the sequence at a time. */
  readonly idBlock: number;
  /** A segment takes no more appends once it is this big (bytes). */
  readonly maxSegmentBytes: number;
  /** Appends are refused while this many deliveries wait to be moved... */
  readonly maxPending: number;
  /** ...or while their records take this many bytes. */
  readonly maxPendingBytes: number;
  /** Deliveries moved by one statement at start-up. */
  readonly recoveryBatch: number;
}

export const DEFAULT_SPOOL_LIMITS: DeliverySpoolLimits = {
  idBlock: 1_024,
  maxSegmentBytes: 32 * 1024 * 1024,
  maxPending: 50_000,
  maxPendingBytes: 128 * 1024 * 1024,
  recoveryBatch: 256,
};

export interface RecoveryReport {
  /** Segment files found. */
  readonly segments: number;
  /** Whole records read from them. */
  readonly records: number;
  /** Of those, deliveries that were not in the database yet. */
  readonly moved: number;
  /** Bytes cut off after a torn or corrupt record. */
  readonly droppedBytes: number;
}

export interface DeliverySpool {
  /** Appends the deliveries durably; resolves with their ids, in order (a `StoreBatch`). */
  append(rows: readonly DeliveryRow[]): Promise<bigint[]>;
  /** Moves up to `max` of the oldest spooled deliveries into the database; resolves with how many. */
  moveBatch(max: number): Promise<number>;
  /** Deliveries appended and not yet moved. */
  pending(): number;
  /** What start-up found and moved. */
  readonly recovered: RecoveryReport;
  /** Takes no more appends, closes the active segment. What is not moved stays on disk for the next start. */
  close(): Promise<void>;
}

export class SpoolClosedError extends Error {
  readonly code = "spool_closed";
  constructor() {
    super("the delivery spool is closed");
    this.name = "SpoolClosedError";
  }
}

const HEADER = 8;
const FIXED = 8 + 8 + 4 + 1 + 4;
const SEGMENT_NAME = /^(\d{12})\.spool$/;
const segmentName = (number: number): string => `${String(number).padStart(12, "0")}.spool`;

/** The records of a batch, as one buffer. */
export function encodeRecords(rows: readonly SpooledDelivery[]): Buffer {
  const parts = rows.map((row) => {
    const key = Buffer.from(row.groupKey, "utf8");
    const body = typeof row.body === "string" ? Buffer.from(row.body, "utf8") : row.body;
    const record = Buffer.allocUnsafe(HEADER + FIXED + key.length + body.byteLength);
    const payload = record.subarray(HEADER);
    payload.writeBigUInt64LE(row.id, 0);
    payload.writeDoubleLE(row.receivedAt.getTime(), 8);
    payload.writeInt32LE(row.priority, 16);
    payload.writeUInt8(typeof row.body === "string" ? 1 : 0, 20);
    payload.writeUInt32LE(key.length, 21);
    key.copy(payload, FIXED);
    payload.set(body, FIXED + key.length);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(crc32(payload), 4);
    return record;
  });
  return Buffer.concat(parts);
}

/** The whole records at the start of `data`, and where the first torn or corrupt one begins. */
export function decodeRecords(data: Buffer): { rows: SpooledDelivery[]; validBytes: number } {
  const rows: SpooledDelivery[] = [];
  let offset = 0;
  while (offset + HEADER <= data.length) {
    const length = data.readUInt32LE(offset);
    if (length < FIXED || offset + HEADER + length > data.length) break;
    const payload = data.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(payload) !== data.readUInt32LE(offset + 4)) break;
    const keyLength = payload.readUInt32LE(21);
    const kind = payload.readUInt8(20);
    if (FIXED + keyLength > length || kind > 1) break;
    const body = Buffer.from(payload.subarray(FIXED + keyLength));
    rows.push({
      id: payload.readBigUInt64LE(0),
      receivedAt: new Date(payload.readDoubleLE(8)),
      priority: payload.readInt32LE(16),
      groupKey: payload.toString("utf8", FIXED, FIXED + keyLength),
      body: kind === 1 ? body.toString("utf8") : body,
    });
    offset += HEADER + length;
  }
  return { rows, validBytes: offset };
}

/** One at a time, in call order. */
function serial(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>) => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
}

interface Segment {
  readonly path: string;
  handle: FileHandle | undefined;
  size: number;
  /** Its deliveries not yet moved. */
  unmoved: number;
}

interface Entry {
  readonly row: SpooledDelivery;
  readonly segment: Segment;
  readonly bytes: number;
}

export async function openDeliverySpool(deps: DeliverySpoolDeps, limits: DeliverySpoolLimits = DEFAULT_SPOOL_LIMITS): Promise<DeliverySpool> {
  const now = deps.now ?? (() => new Date());
  await mkdir(deps.dir, { recursive: true });

  async function syncDir(): Promise<void> {
    const handle = await open(deps.dir, "r");
    try {
      await handle.sync();
      deps.onSync?.();
    } finally {
      await handle.close();
    }
  }

  const segments: Segment[] = [];
  let nextNumber = 1;
  let active: Segment | undefined;
  const entries: Entry[] = [];
  let head = 0;
  let pendingBytes = 0;
  let appending = false;
  let closed = false;
  let nextId = 0n;
  let lastId = -1n;
  const appendTurn = serial();
  const moveTurn = serial();
  const recovered = await recover();

  async function recover(): Promise<RecoveryReport> {
    const names = (await readdir(deps.dir)).filter((name) => SEGMENT_NAME.test(name)).sort();
    let records = 0;
    let moved = 0;
    let droppedBytes = 0;
    let maxId = 0n;
    for (const name of names) {
      const path = join(deps.dir, name);
      const data = await readFile(path);
      const { rows, validBytes } = decodeRecords(data);
      if (validBytes < data.length) {
        droppedBytes += data.length - validBytes;
        deps.logger.warn({ segment: path, validBytes, droppedBytes: data.length - validBytes }, "the delivery spool ends with a torn or corrupt record (a write a crash interrupted, never acknowledged); cut there");
        const handle = await open(path, "r+");
        try {
          await handle.truncate(validBytes);
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
      records += rows.length;
      for (const row of rows) if (row.id > maxId) maxId = row.id;
      for (let start = 0; start < rows.length; start += limits.recoveryBatch) moved += await deps.move(rows.slice(start, start + limits.recoveryBatch));
    }
    if (maxId > 0n) await deps.advanceIds(maxId);
    for (const name of names) await unlink(join(deps.dir, name));
    if (names.length > 0) {
      await syncDir();
      deps.logger.info({ segments: names.length, records, moved, droppedBytes }, "moved the deliveries a previous run had spooled into the database");
    }
    return { segments: names.length, records, moved, droppedBytes };
  }

  async function takeIds(count: number): Promise<bigint[]> {
    if (lastId - nextId + 1n < BigInt(count)) {
      const block = Math.max(count, limits.idBlock);
      lastId = await deps.reserveIds(block);
      nextId = lastId - BigInt(block) + 1n;
    }
    const ids: bigint[] = [];
    for (let index = 0; index < count; index += 1) ids.push(nextId + BigInt(index));
    nextId += BigInt(count);
    return ids;
  }

  async function activeSegment(): Promise<Segment> {
    if (active && active.size < limits.maxSegmentBytes) return active;
    if (active) await closeHandle(active);
    const segment: Segment = { path: join(deps.dir, segmentName(nextNumber)), handle: undefined, size: 0, unmoved: 0 };
    nextNumber += 1;
    segment.handle = await open(segment.path, "wx");
    await syncDir(); // the new file's name is on disk before anything in it is acknowledged
    segments.push(segment);
    active = segment;
    return segment;
  }

  async function closeHandle(segment: Segment): Promise<void> {
    const { handle } = segment;
    segment.handle = undefined;
    await handle?.close();
  }

  async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; ) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  }

  /**
   * A segment whose write or sync failed may end with a record that is not whole, or not on
   * disk: it takes no more appends (the next go to a new segment, so a later acknowledged
   * record never follows a torn one), and is cut back to its last synced byte if possible.
   */
  async function abandon(segment: Segment): Promise<void> {
    if (active === segment) active = undefined;
    const { handle } = segment;
    segment.handle = undefined;
    if (!handle) return;
    try {
      await handle.truncate(segment.size);
      await handle.datasync();
    } catch (error) {
      deps.logger.warn({ err: error, segment: segment.path }, "could not cut a spool segment back after a failed append; start-up recovery will stop at its torn record");
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  function append(rows: readonly DeliveryRow[]): Promise<bigint[]> {
    if (closed) return Promise.reject(new SpoolClosedError());
    const waiting = entries.length - head;
    if (waiting + rows.length > limits.maxPending || pendingBytes > limits.maxPendingBytes) {
      return Promise.reject(new IngestOverloadedError(`overloaded: ${waiting} spooled deliveries (${Math.round(pendingBytes / 1024)} KiB) are not in the database yet`, 5));
    }
    return appendTurn(async () => {
      if (closed) throw new SpoolClosedError();
      appending = true;
      try {
        const ids = await takeIds(rows.length);
        const receivedAt = now();
        const spooled = rows.map((row, index): SpooledDelivery => ({ ...row, id: ids[index] as bigint, receivedAt }));
        const data = encodeRecords(spooled);
        const segment = await activeSegment();
        const handle = segment.handle;
        if (!handle) throw new Error(`spool segment ${segment.path} has no open file`);
        try {
          await writeAll(handle, data);
          await handle.datasync();
          deps.onSync?.();
        } catch (error) {
          await abandon(segment);
          throw error;
        }
        segment.size += data.length;
        segment.unmoved += spooled.length;
        const perRow = data.length / spooled.length;
        for (const row of spooled) entries.push({ row, segment, bytes: perRow });
        pendingBytes += data.length;
        return ids;
      } finally {
        appending = false;
      }
    });
  }

  /** Deletes the segments whose deliveries have all moved (the active one only between appends). */
  async function retire(): Promise<void> {
    const done = segments.filter((segment) => segment.unmoved === 0 && (segment !== active || !appending));
    if (done.length === 0) return;
    for (const segment of done) {
      if (segment === active) active = undefined;
      segments.splice(segments.indexOf(segment), 1);
    }
    for (const segment of done) {
      await closeHandle(segment);
      await unlink(segment.path);
    }
    await syncDir();
  }

  function moveBatch(max: number): Promise<number> {
    return moveTurn(async () => {
      if (closed) throw new SpoolClosedError();
      const batch = entries.slice(head, head + max);
      if (batch.length === 0) return 0;
      await deps.move(batch.map((entry) => entry.row));
      head += batch.length;
      for (const entry of batch) {
        entry.segment.unmoved -= 1;
        pendingBytes -= entry.bytes;
      }
      if (head > 4_096 && head * 2 > entries.length) {
        entries.splice(0, head);
        head = 0;
      }
      if (head === entries.length) pendingBytes = 0;
      await retire();
      return batch.length;
    });
  }

  return {
    append,
    moveBatch,
    pending: () => entries.length - head,
    recovered,
    async close() {
      if (closed) return;
      closed = true;
      await appendTurn(async () => {
        await moveTurn(retire);
        for (const segment of segments) await closeHandle(segment);
        active = undefined;
      });
    },
  };
}
