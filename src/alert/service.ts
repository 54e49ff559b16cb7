import type { Sql } from "../db/client.ts";
import type { DeliveryRow } from "./ingest.ts";

/**
 * The webhook's statements on `alert_deliveries` (and the processing job each delivery gets),
 * outside Prisma: the hottest write path, where Prisma's query engine cost more CPU than the
 * statement itself. Each is prepared once per batch size and connection (see the Sql port);
 * every value is a parameter of its own.
 */

export interface DeliveryStoreDeps {
  readonly sql: Sql;
  /** The processing job's kind. */
  readonly jobKind: string;
}

export function createDeliveryStore(deps: DeliveryStoreDeps) {
  const { sql, jobKind } = deps;

  /**
   * One statement for a whole batch: each delivery and its processing job. Ids are drawn from
   * the sequence first (a materialized CTE, evaluated once), so each row's id is known by its
   * position in the batch.
   */
  async function store(rows: readonly DeliveryRow[]): Promise<bigint[]> {
    const values: Array<string | number> = [];
    const tuples: string[] = [];
    rows.forEach((row, index) => {
      values.push(row.groupKey, row.priority, row.body);
      tuples.push(`($${3 * index + 1}::text, $${3 * index + 2}::int, $${3 * index + 3}::text, ${index + 1})`);
    });
    const kind = `$${values.length + 1}::text`;
    values.push(jobKind);
    const stored = await sql.query<{ ord: number; id: string }>({
      name: `firebreak_store_deliveries_${rows.length}`,
      text: `
      WITH input AS MATERIALIZED (
        SELECT nextval('alert_deliveries_id_seq') AS id, v.group_key, v.priority, v.payload, v.ord
        FROM (VALUES ${tuples.join(", ")}) AS v(group_key, priority, payload, ord)),
      deliveries AS (
        INSERT INTO alert_deliveries (id, group_key, payload) SELECT id, group_key, payload FROM input),
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

  return { store };
}

export type DeliveryStore = ReturnType<typeof createDeliveryStore>;
