import { resolve } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import type { Config } from "../config/env.ts";
import type { Logger } from "../lib/logger.ts";
import { DatabaseUnavailableError, errorMessage } from "../lib/errors.ts";
import { startEmbeddedServer } from "./embedded-server.ts";
import { listen, type Listener } from "./listener.ts";
import { applyMigrations, readMigrations, type MigrationConnection, type MigrationReport } from "./migrator.ts";

export type { PrismaClient } from "../generated/prisma/client.ts";
export type { Prisma } from "../generated/prisma/client.ts";

/** Prisma client or the transaction client handed to `$transaction` callbacks. */
export type Db = Omit<PrismaClient, "$connect" | "$disconnect" | "$on" | "$transaction" | "$extends">;

/**
 * One SQL statement outside Prisma, for the webhook's store (the hottest write path: Prisma's
 * query engine costs more CPU there than the statement itself). `name` makes PostgreSQL keep
 * the statement prepared on each connection (one name per distinct text). Cast values in the
 * statement; bytes go as bytea. Runs in its own implicit transaction.
 */
export interface SqlStatement {
  readonly name?: string;
  readonly text: string;
  readonly values: readonly (string | number | Uint8Array | null)[];
}

export interface Sql {
  query<Row extends Record<string, unknown>>(statement: SqlStatement): Promise<Row[]>;
}

export interface Database {
  readonly kind: "embedded" | "postgres";
  readonly prisma: PrismaClient;
  readonly sql: Sql;
  /** Connections the pool keeps open (opened before the app answers /readyz). */
  readonly keptConnections: number;
  /** Applies pending migrations from `migrationsDir`. */
  migrate(migrationsDir: string): Promise<MigrationReport>;
  /** Resolves when the database answers a trivial query within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>;
  /** LISTEN on `channel` over a connection of its own (./listener.ts); closed with the database. */
  listen(channel: string, onNotify: () => void): Listener;
  close(): Promise<void>;
}

export const DEFAULT_MIGRATIONS_DIR = resolve("prisma/migrations");

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailableError(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
  } catch {
    return "the configured server";
  }
}

/**
 * Connections the pool keeps open however long it idles (pg's `min`), opened before Firebreak
 * says it is ready: enough for a declare's request and the job worker's four slots at once. A
 * new connection costs a server process, its authentication and its catalog caches filled on
 * its first queries; without these, the first declares after start, and the first after any
 * quiet spell longer than the idle timeout, paid that on their request and on each of their
 * jobs. Beyond these the pool opens up to its `max` on demand and closes them after
 * `idleTimeoutMillis` idle.
 */
const KEPT_CONNECTIONS = 5;

/**
 * Opens the pool's kept connections (`count`, its `min`) and opens them again when some are
 * lost (the server restarted, a connection broke): pg's pool keeps its `min` but never opens it.
 * Re-opening backs off from 1 s to 30 s while the server does not answer.
 */
function keepConnections(pool: pg.Pool, count: number, logger: Logger): { fill(): Promise<void>; stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  async function fill(): Promise<void> {
    const missing = count - pool.totalCount;
    if (stopped || missing <= 0) return;
    // The pool hands out its idle connections first: hold those and open the missing ones.
    const held = await Promise.allSettled(Array.from({ length: missing + pool.idleCount }, () => pool.connect()));
    for (const result of held) if (result.status === "fulfilled") result.value.release();
    const failed = held.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }

  function refillSoon(): void {
    if (stopped || timer || pool.totalCount >= count) return;
    const delay = Math.min(30_000, 1_000 * 2 ** Math.min(failures, 5));
    timer = setTimeout(() => {
      timer = undefined;
      fill().then(
        () => {
          failures = 0;
        },
        (error: unknown) => {
          failures += 1;
          logger.warn({ err: error }, "could not re-open the pool's kept connections; trying again");
          refillSoon();
        },
      );
    }, delay);
    timer.unref();
  }

  pool.on("remove", refillSoon);
  return {
    fill,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

async function openPostgres(url: string, poolSize: number, logger: Logger, name?: string): Promise<Database> {
  const target = name ?? `PostgreSQL at ${describeTarget(url)}`;
  // Fail fast and clearly when the server is unreachable at start.
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
  } catch (error) {
    await probe.end().catch(() => undefined);
    throw new DatabaseUnavailableError(
      name === undefined
        ? `Cannot connect to ${target}: ${errorMessage(error)}. Check DATABASE_URL, or unset it to use the embedded database.`
        : `Cannot connect to ${target}: ${errorMessage(error)}`,
      { cause: error },
    );
  }

  await probe.end().catch(() => undefined);

  /** Migrations get a session of their own: the advisory lock is per connection. */
  async function withMigrationConnection<T>(work: (connection: MigrationConnection) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: "firebreak-migrate" });
    client.on("error", (error) => logger.warn({ err: error }, "migration connection failed"));
    await client.connect();
    try {
      return await work({
        exec: async (sql) => {
          await client.query(sql);
        },
        query: async <Row>(sql: string, params: readonly unknown[] = []) => (await client.query(sql, [...params])).rows as Row[],
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    min: Math.min(poolSize, KEPT_CONNECTIONS),
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    // The kept connections may idle for hours: keepalive finds a dead peer (a NAT's timeout).
    keepAlive: true,
    // Server-side guard: no statement of ours should take seconds; a stuck one
    // must fail (and be retried or reported) rather than hang a Slack ack.
    statement_timeout: 5_000,
    query_timeout: 6_000,
    application_name: "firebreak",
  });
  pool.on("error", (error) => logger.warn({ err: error }, "idle PostgreSQL connection failed"));
  const kept = keepConnections(pool, Math.min(poolSize, KEPT_CONNECTIONS), logger);
  try {
    await kept.fill();
  } catch (error) {
    kept.stop();
    await pool.end().catch(() => undefined);
    throw new DatabaseUnavailableError(`Cannot open connections to ${target}: ${errorMessage(error)}`, { cause: error });
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const listeners = new Set<Listener>();

  return {
    kind: "postgres",
    prisma,
    keptConnections: Math.min(poolSize, KEPT_CONNECTIONS),
    sql: {
      async query<Row extends Record<string, unknown>>(statement: SqlStatement) {
        const result = await pool.query<Row>({ name: statement.name, text: statement.text, values: [...statement.values] });
        return result.rows;
      },
    },
    async migrate(dir) {
      const migrations = await readMigrations(dir);
      return withMigrationConnection(async (connection) => applyMigrations(connection, migrations, logger));
    },
    async ping(timeoutMs = 1_000) {
      await withTimeout(pool.query("SELECT 1"), timeoutMs, target);
    },
    listen(channel, onNotify) {
      const listener = listen({ url, channel, onNotify, logger });
      listeners.add(listener);
      return listener;
    },
    async close() {
      kept.stop();
      await Promise.all([...listeners].map((listener) => listener.close()));
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

/**
 * The embedded default: Firebreak's own PostgreSQL server on DATA_DIR (./embedded-server.ts),
 * reached through the same pool, Prisma adapter and migrator as an external server. Closing
 * the database stops the server.
 */
async function openEmbedded(dataDir: string, poolSize: number, logger: Logger): Promise<Database> {
  const server = await startEmbeddedServer({ dataDir, logger });
  try {
    const database = await openPostgres(server.url, poolSize, logger, "the embedded database");
    let closed: Promise<void> | undefined;
    return {
      ...database,
      kind: "embedded",
      close() {
        closed ??= database.close().finally(() => server.stop());
        return closed;
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export async function openDatabase(config: Config["database"], logger: Logger): Promise<Database> {
  return config.kind === "postgres" ? openPostgres(config.url, config.poolSize, logger) : openEmbedded(config.dataDir, config.poolSize, logger);
}
