import { Worker } from "node:worker_threads";
import {
  DriverAdapterError,
  type ConnectionInfo,
  type IsolationLevel,
  type SqlDriverAdapter,
  type SqlDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
  type Transaction,
  type TransactionOptions,
} from "@prisma/driver-adapter-utils";
import { DatabaseUnavailableError } from "../lib/errors.ts";

/**
 * The embedded database (PGlite) on a thread of its own (`pglite-worker.js`): its statements
 * run in WebAssembly, synchronously, in the thread that owns it, so on the app's thread every
 * statement would hold up HTTP requests, Slack events and the job worker. Here the app's thread
 * only posts the statement and receives the rows.
 *
 * What crosses the thread boundary is plain data: SQL text and parameters, rows, and for Prisma
 * its driver adapter's own interface (queries, result sets, transaction handles), run by
 * `pglite-prisma-adapter` in the worker. Errors come back as copies: SQL errors as
 * `EmbeddedDatabaseError` with the SQLSTATE in `code`; the adapter's errors as
 * `DriverAdapterError`, which Prisma maps to its own error codes.
 */
export interface PGliteThread {
  /** Runs one or more statements with the simple-query protocol; the rows of the last one. */
  exec<Row>(sql: string): Promise<Row[]>;
  /** One statement with parameters (extended protocol). */
  query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** For `new PrismaClient({ adapter })`. */
  readonly prismaAdapter: SqlDriverAdapterFactory;
  readonly closed: boolean;
  /** Closes the database (its files are flushed) and ends the thread. */
  close(): Promise<void>;
}

/** An error PGlite raised for a statement, copied from its thread. `code` is the SQLSTATE. */
export class EmbeddedDatabaseError extends Error {
  readonly code: string | undefined;
  readonly detail: string | undefined;
  readonly constraint: string | undefined;
  constructor(message: string, fields: { code?: string; detail?: string; constraint?: string }) {
    super(message);
    this.name = "EmbeddedDatabaseError";
    this.code = fields.code;
    this.detail = fields.detail;
    this.constraint = fields.constraint;
  }
}

interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly detail?: string;
  readonly constraint?: string;
  readonly cause?: ConstructorParameters<typeof DriverAdapterError>[0];
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: PlainError };

function toError(plain: PlainError): Error {
  if (plain.name === "DriverAdapterError" && plain.cause) return new DriverAdapterError(plain.cause);
  const fields: { code?: string; detail?: string; constraint?: string } = {};
  if (typeof plain.code === "string") fields.code = plain.code;
  if (typeof plain.detail === "string") fields.detail = plain.detail;
  if (typeof plain.constraint === "string") fields.constraint = plain.constraint;
  return new EmbeddedDatabaseError(plain.message, fields);
}

const ADAPTER_NAME = "pglite-prisma-adapter";
const CLOSE_TIMEOUT_MS = 10_000;

/** Starts the thread and opens the database in `dataDir`. */
export async function startPGliteThread(dataDir: string): Promise<PGliteThread> {
  // Plain JavaScript that needs none of the process's own flags (a loader such as tsx, or
  // --input-type, which a worker refuses).
  const worker = new Worker(new URL("./pglite-worker.js", import.meta.url), { execArgv: [] });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  /** Set once the thread cannot answer any more (closed, crashed or exited). */
  let ended: Error | undefined;
  // Referenced only while a request waits for its answer: an idle database does not keep the
  // process alive, a pending statement does.
  worker.unref();

  function endWith(error: Error): void {
    if (ended) return;
    ended = error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    worker.unref();
  }

  worker.on("message", (reply: Reply) => {
    const waiting = pending.get(reply.id);
    if (!waiting) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(toError(reply.error));
  });
  worker.on("error", (error) => endWith(new DatabaseUnavailableError(`the embedded database's thread failed: ${error.message}`, { cause: error })));
  worker.on("exit", (code) => endWith(new DatabaseUnavailableError(`the embedded database's thread exited (code ${code})`)));

  function call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (ended) return Promise.reject(ended);
    const id = nextId;
    nextId += 1;
    return new Promise<T>((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ id, op, ...args });
    });
  }

  try {
    await call("open", { dataDir });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const connectionInfo = await call<ConnectionInfo>("connectionInfo");

  function queryable(tx: number | null) {
    return {
      provider: "postgres" as const,
      adapterName: ADAPTER_NAME,
      queryRaw: (query: SqlQuery) => call<SqlResultSet>("queryRaw", { tx, query }),
      executeRaw: (query: SqlQuery) => call<number>("executeRaw", { tx, query }),
    };
  }

  const adapter: SqlDriverAdapter = {
    ...queryable(null),
    executeScript: (script: string) => call<void>("executeScript", { script }),
    async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
      const started = await call<{ tx: number; options: TransactionOptions }>("startTransaction", { isolationLevel: isolationLevel ?? null });
      return {
        ...queryable(started.tx),
        options: started.options,
        commit: () => call<void>("commit", { tx: started.tx }),
        rollback: () => call<void>("rollback", { tx: started.tx }),
      };
    },
    getConnectionInfo: () => connectionInfo,
    dispose: async () => undefined,
  };

  let closing: Promise<void> | undefined;
  return {
    exec: <Row>(sql: string) => call<Row[]>("exec", { sql }),
    query: <Row>(sql: string, params: readonly unknown[] = []) => call<Row[]>("query", { sql, params: [...params] }),
    prismaAdapter: {
      provider: "postgres",
      adapterName: ADAPTER_NAME,
      connect: async () => adapter,
    },
    get closed() {
      return ended !== undefined || closing !== undefined;
    },
    close() {
      closing ??= (async () => {
        if (!ended) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
          });
          await Promise.race([call("close").catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
        }
        endWith(new DatabaseUnavailableError("the embedded database is closed"));
        await worker.terminate();
      })();
      return closing;
    },
  };
}
