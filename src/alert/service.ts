import type { Sql } from "../db/client.ts";
import type { DeliveryRow } from "./ingest.ts";
import type { SpooledDelivery } from "./spool.ts";

/**
 * The webhook's statements on `alert_deliveries` (and the processing job each delivery gets),
 * outside Prisma: the hottest write path, where Prisma's query engine cost more CPU than the
 * statement itself. Each is prepared once per batch size and connection (see the Sql port);
 * every value is a parameter of its own.
 */

/**
 * How a delivery's body is stored. "text": the JSON text as received, in `payload` (PostgreSQL
 * compresses it with lz4, in its own process). "brotli": the bytes as received, brotli-compressed
 * by the webhook, in `payload_br`.
 */
export type BodyStorage = "text" | "brotli";

/**
 * PostgreSQL runs in a process of its own: it compresses the text (lz4, ~15 µs, on another
 * core) while the webhook's thread, the bottleneck of a burst, saves brotli's ~50 µs per body.
 * The embedded PGlite runs in the webhook's thread and moves every byte through WebAssembly:
 * there a 13-times smaller body costs less than compressing it.
 */
export function bodyStorageFor(database: "postgres" | "embedded"): BodyStorage {
  return database === "postgres" ? "text" : "brotli";
}
export interface DeliveryStoreDeps
 {
  readonly sql: Sql;
  readonly bodyStorage: BodyStorage;
  /** The processing job's kind. */
  readonly jobKind: string;
}

export function createDeliveryStore(deps: DeliveryStoreDeps) {
  const { sql, bodyStorage, jobKind } = deps;
  const bodyColumn = bodyStorage === "text" ? "payload" : "payload_br";
  const bodyType = bodyStorage === "text" ? "text" : "bytea";

  /**
   * One statement for a whole batch: each delivery and its processing job. Ids are drawn from
   * the sequence first (a materialized CTE, evaluated once), so each row's id is known by its
   * position in the batch.
   */
  async function store(rows: readonly DeliveryRow[]): Promise<bigint[]> {
    const values: Array<string | number | Uint8Array> = [];
    const tuples: string[] = [];
    rows.forEach((row, index) => {
      values.push(row.groupKey, row.priority, row.body);
      tuples.push(`($${3 * index + 1}::text, $${3 * index + 2}::int, $${3 * index + 3}::${bodyType}, ${index + 1})`);
    });
    const kind = `$${values.length + 1}::text`;
    values.push(jobKind);
    const stored = await sql.query<{ ord: number; id: string }>({
      name: `firebreak_store_deliveries_${bodyStorage}_${rows.length}`,
      text: `
      WITH input AS MATERIALIZED (
        SELECT nextval('alert_deliveries_id_seq') AS id, v.group_key, v.priority, v.payload, v.ord
        FROM (VALUES ${tuples.join(", ")}) AS v(group_key, priority, payload, ord)),
      deliveries AS (
        INSERT INTO alert_deliveries (id, group_key, ${bodyColumn}) SELECT id, group_key, payload FROM input),
      jobs AS (
        INSERT INTO jobs (kind, payload, priority, max_attempts)
        SELECT ${kind}, jsonb_build_object('deliveryId', id::text), priority, 20 FROM input)
      SELECT ord, id::text AS id FROM input ORDER BY ord`,
      values,
    });
    const ids = new Array<bigint>(rows.length);
    for (const row of stored) ids[Number(row.ord) - 1] = BigInt(row.id);
    if (stored.length !== rows.length || ids.some((id) => id === undefined)) throw new Error(`stored ${stored.length} of ${rows.length} deliveries`);
    return ids;
  }

  /** Reserves `count` consecutive delivery ids; returns the last. */
  async function reserveIds(count: number): Promise<bigint> {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`reserveIds: ${count} is not a positive count`);
    const [row] = await sql.query<{ last: string }>({
      name: "firebreak_reserve_delivery_ids",
      text: "SELECT setval('alert_deliveries_id_seq', nextval('alert_deliveries_id_seq') + $1::bigint - 1)::text AS last",
      values: [count],
    });
    if (!row) throw new Error("reserveIds: the sequence answered nothing");
    return BigInt(row.last);
  }

  /** No id up to `maxId`, nor any already in the table, is handed out again. */
  async function advanceIds(maxId: bigint): Promise<void> {
    await sql.query({
      name: "firebreak_advance_delivery_ids",
      text: `SELECT setval('alert_deliveries_id_seq', GREATEST(
          (SELECT last_value FROM alert_deliveries_id_seq),
          (SELECT COALESCE(max(id), 0) FROM alert_deliveries),
          $1::text::bigint))`,
      values: [maxId.toString()],
    });
  }

  /**
   * Spooled deliveries (ids already given) into the table, with their jobs; a delivery whose id
   * is there already (a move repeated after a crash) is skipped, and gets no second job.
   * Resolves with how many were new.
   */
  async function insertSpooled(rows: readonly SpooledDelivery[]): Promise<number> {
    if (rows.length === 0) return 0;
    const values: Array<string | number | Uint8Array> = [];
    const tuples: string[] = [];
    rows.forEach((row, index) => {
      const at = 5 * index;
      values.push(row.id.toString(), row.groupKey, row.priority, row.body, row.receivedAt.toISOString());
      tuples.push(`($${at + 1}::text::bigint, $${at + 2}::text, $${at + 3}::int, $${at + 4}::${bodyType}, $${at + 5}::text::timestamptz)`);
    });
    const kind = `$${values.length + 1}::text`;
    values.push(jobKind);
    const [result] = await sql.query<{ inserted: number }>({
      name: `firebreak_insert_spooled_${bodyStorage}_${rows.length}`,
      text: `
      WITH input AS (
        SELECT * FROM (VALUES ${tuples.join(", ")}) AS v(id, group_key, priority, payload, received_at)),
      inserted AS (
        INSERT INTO alert_deliveries (id, group_key, ${bodyColumn}, received_at)
        SELECT id, group_key, payload, received_at FROM input
        ON CONFLICT (id) DO NOTHING
        RETURNING id),
      jobs AS (
        INSERT INTO jobs (kind, payload, priority, max_attempts)
        SELECT ${kind}, jsonb_build_object('deliveryId', input.id::text), input.priority, 20 FROM input JOIN inserted USING (id))
      SELECT count(*)::int AS inserted FROM inserted`,
      values,
    });
    return Number(result?.inserted ?? 0);
  }

  return { bodyStorage, store, reserveIds, advanceIds, insertSpooled };
}

export type DeliveryStore = ReturnType<typeof createDeliveryStore>;
