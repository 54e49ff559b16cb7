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
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    // Server-side guard: no statement of ours should take seconds; a stuck one
    // must fail (and be retried or reported) rather than hang a Slack ack.
    statement_timeout: 5_000,
    query_timeout: 6_000,
    application_name: "firebreak",
  });
  pool.on("error", (error) => logger.warn({ err: error }, "idle PostgreSQL connection failed"));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const listeners = new Set<Listener>();

  return {
    kind: "postgres",
    prisma,
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
