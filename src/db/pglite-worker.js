// @ts-check
/**
 * The embedded database's own thread. PGlite runs PostgreSQL compiled to WebAssembly, and every
 * statement runs synchronously in the thread that owns the instance; on the webhook's thread it
 * took about 35-40 % of the CPU in an ingest burst. This worker owns the PGlite instance and the
 * Prisma driver adapter over it; the app's thread talks to it through `pglite-thread.ts`, whose
 * messages are the adapter's own plain-data interface (queries, result sets, transactions).
 *
 * Plain JavaScript on purpose: a worker thread is started from a file Node can load as it is,
 * from the sources (tests, `npm run dev`) as from dist/ (tsc copies it there).
 *
 * Protocol: the app sends `{ id, op, ...arguments }`; the worker answers every request with
 * `{ id, ok: true, value }` or `{ id, ok: false, error }`, where `error` is a plain copy of the
 * error (name, message, SQLSTATE fields, the driver adapter's `cause`).
 */
/** @import { SqlDriverAdapter, Transaction, SqlQuery } from "@prisma/driver-adapter-utils" */
import { parentPort } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";

if (!parentPort) throw new Error("pglite-worker.js runs as a worker thread");
const port = parentPort;

/** @type {PGlite | undefined} */
let pglite;
/** @type {SqlDriverAdapter | undefined} */
let adapter;
/** @type {Map<number, Transaction>} */
const transactions = new Map();
let nextTransaction = 1;

/** @param {unknown} error */
function plainError(error) {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  /** @type {Record<string, unknown>} */
  const copy = { name: error.name, message: error.message, stack: error.stack };
  for (const field of ["code", "severity", "detail", "hint", "column", "table", "constraint", "schema", "position"]) {
    const value = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (error))[field];
    if (typeof value === "string" || typeof value === "number") copy[field] = value;
  }
  // The driver adapter's errors carry their meaning for Prisma in `cause` (plain data).
  if (error.name === "DriverAdapterError" && typeof error.cause === "object" && error.cause !== null) copy.cause = { ...error.cause };
  return copy;
}

function open() {
  if (!pglite || !adapter) throw new Error("the embedded database is not open");
  return { pglite, adapter };
}

/** @param {unknown} id */
function transaction(id) {
  const tx = typeof id === "number" ? transactions.get(id) : undefined;
  if (!tx) throw new Error(`transaction ${String(id)} is not open`);
  return tx;
}

/** @param {Record<string, unknown>} message */
async function handle(message) {
  switch (message.op) {
    case "open": {
      pglite = await PGlite.create(String(message.dataDir));
      adapter = await new PrismaPGlite(pglite).connect();
      return null;
    }
    case "connectionInfo":
      return open().adapter.getConnectionInfo?.() ?? { supportsRelationJoins: false };
    case "exec": {
      const results = await open().pglite.exec(String(message.sql));
      /** @type {unknown[]} */
      const rows = results.at(-1)?.rows ?? [];
      return rows;
    }
    case "query": {
      const params = Array.isArray(message.params) ? message.params : [];
      /** @type {unknown[]} */
      const rows = (await open().pglite.query(String(message.sql), params)).rows;
      return rows;
    }
    case "queryRaw":
    case "executeRaw": {
      const target = message.tx === null ? open().adapter : transaction(message.tx);
      const query = /** @type {SqlQuery} */ (message.query);
      return message.op === "queryRaw" ? target.queryRaw(query) : target.executeRaw(query);
    }
    case "executeScript":
      return open().adapter.executeScript(String(message.script));
    case "startTransaction": {
      const level = /** @type {Parameters<SqlDriverAdapter["startTransaction"]>[0]} */ (message.isolationLevel ?? undefined);
      const tx = await open().adapter.startTransaction(level);
      const id = nextTransaction;
      nextTransaction += 1;
      transactions.set(id, tx);
      return { tx: id, options: tx.options };
    }
    case "commit":
    case "rollback": {
      const tx = transaction(message.tx);
      transactions.delete(/** @type {number} */ (message.tx));
      return message.op === "commit" ? tx.commit() : tx.rollback();
    }
    case "close": {
      const instance = pglite;
      pglite = undefined;
      adapter = undefined;
      if (instance && !instance.closed) await instance.close();
      return null;
    }
    default:
      throw new Error(`unknown operation ${String(message.op)}`);
  }
}

port.on("message", (/** @type {Record<string, unknown>} */ message) => {
  handle(message).then(
    (value) => port.postMessage({ id: message.id, ok: true, value: value ?? null }),
    (/** @type {unknown} */ error) => port.postMessage({ id: message.id, ok: false, error: plainError(error) }),
  );
});
