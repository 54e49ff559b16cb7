import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import type { Config } from "../config/env.ts";
import type { Logger } from "../lib/logger.ts";
import { DatabaseUnavailableError, errorMessage } from "../lib/errors.ts";
import { durablePGlite, flushingAdapter, syncTree, type WalFlusher } from "./pglite-durability.ts";
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

async function openPostgres(url: string, poolSize: number, logger: Logger): Promise<Database> {
  const target = describeTarget(url);
  // Fail fast and clearly when the server is unreachable at start.
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
  } catch (error) {
    await probe.end().catch(() => undefined);
    throw new DatabaseUnavailableError(
      `Cannot connect to PostgreSQL at ${target}: ${errorMessage(error)}. Check DATABASE_URL, or unset it to use the embedded database.`,
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
      await withTimeout(pool.query("SELECT 1"), timeoutMs, `PostgreSQL at ${target}`);
    },
    async close() {
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

/** Hex digits of a value's bytes (UTF-8 for text): the only characters an inlined value puts in the statement. */
function hexOf(value: string | Uint8Array): string {
  return (typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value.buffer, value.byteOffset, value.byteLength)).toString("hex");
}

function literalOf(value: SqlStatement["values"][number], index: number): string {
  if (value === null) return "NULL";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`SQL value $${index + 1}: ${value} is not a finite number`);
    return `(${String(value)})`;
  }
  if (typeof value === "string") return `convert_from(decode('${hexOf(value)}', 'hex'), 'UTF8')`;
  return `decode('${hexOf(value)}', 'hex')`;
}

/** Statements handed to PGlite with their values written in may not use dollar quotes. */
function refuseDollarQuotes(text: string): void {
  if (/\$(?!\d)/.test(text)) throw new TypeError("dollar-quoted text is not supported");
}

/**
 * The statement with its values written into the text, for PGlite's simple-query protocol.
 * PGlite runs every protocol message through WebAssembly in this thread: the extended
 * protocol's parse, bind, describe, execute and sync cost a one-row store about 1.6 ms, one
 * simple query about 0.9 ms. Each value becomes an expression made of hex digits only (text:
 * `convert_from(decode('…', 'hex'), 'UTF8')`), so no value can close a literal, whatever the
 * server's string settings, and the placeholder's own cast still applies.
 *
 * Placeholders are `$1`…`$n` outside single-quoted literals; dollar-quoted text is refused
 * rather than guessed at.
 */
export function inlineValues(statement: SqlStatement): string {
  const { text, values } = statement;
  refuseDollarQuotes(text);
  const used = new Set<number>();
  const inlined = text.replace(/'(?:[^']|'')*'|\$(\d+)/g, (match, digits: string | undefined) => {
    if (digits === undefined) return match; // a literal of the statement itself
    const index = Number(digits) - 1;
    if (index < 0 || index >= values.length) throw new RangeError(`inlineValues: $${digits} has no value (${values.length} given)`);
    used.add(index);
    return literalOf(values[index] as SqlStatement["values"][number], index);
  });
  if (used.size !== values.length) throw new RangeError(`inlineValues: ${values.length} values for ${used.size} placeholders`);
  return inlined;
}

const STATEMENT_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A named statement on PGlite: prepared once per session (`PREPARE name AS text`, the
 * placeholders' casts give the parameter types), then run as `EXECUTE name(values…)` with the
 * values written as in `inlineValues`. Parsing and planning the store's statement is about a
 * third of its cost on PGlite; the simple protocol keeps it one call into WebAssembly.
 */
export function createPGliteSql(pglite: Pick<PGlite, "exec">, wal: WalFlusher): Sql {
  /** Per name, the PREPARE (shared by concurrent first calls; forgotten if it failed). */
  const prepared = new Map<string, Promise<void>>();
  function prepare(name: string, text: string): Promise<void> {
    let done = prepared.get(name);
    if (!done) {
      if (!STATEMENT_NAME.test(name)) throw new TypeError(`statement name ${JSON.stringify(name)}: lower-case letters, digits and _ only`);
      refuseDollarQuotes(text);
      done = pglite.exec(`PREPARE ${name} AS ${text}`).then(() => undefined);
      prepared.set(name, done);
      done.catch(() => prepared.delete(name));
    }
    return done;
  }
  return {
    async query<Row extends Record<string, unknown>>(statement: SqlStatement) {
      let text: string;
      if (statement.name === undefined) {
        text = inlineValues(statement);
      } else {
        await prepare(statement.name, statement.text);
        const args = statement.values.map((value, index) => literalOf(value, index));
        text = args.length === 0 ? `EXECUTE ${statement.name}` : `EXECUTE ${statement.name}(${args.join(", ")})`;
      }
      const results = await pglite.exec(text);
      await wal.flush(); // answered only once its commit is on disk
      return (results.at(-1)?.rows ?? []) as Row[];
    },
  };
}

/**
 * PGlite stores its files in DATA_DIR and must have one process at a time:
 * a pid file refuses a second Firebreak on the same directory.
 */
async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const lockFile = join(dir, "firebreak.pid");
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lockFile, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await rm(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DatabaseUnavailableError(
          `Another Firebreak process (pid ${pid}) is using the embedded database in ${dir}. Stop it, or set DATA_DIR to another directory.`,
        );
      }
      await rm(lockFile, { force: true }); // stale lock from a crashed process
    }
  }
  throw new DatabaseUnavailableError(`Cannot lock the data directory ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function openEmbedded(dataDir: string, logger: Logger, options: OpenOptions): Promise<Database> {
  const dir = resolve(dataDir);
  const pgDir = join(dir, "pglite");
  try {
    await mkdir(pgDir, { recursive: true });
  } catch (error) {
    throw new DatabaseUnavailableError(`Cannot create the data directory ${dir}: ${errorMessage(error)}. Set DATA_DIR to a writable directory.`, { cause: error });
  }
  const unlock = await lockDataDir(dir);
  const durable = durablePGlite(pgDir, options.onFileSync);
  const { wal } = durable;
  let pglite: PGlite | undefined;
  try {
    const fresh = !(await stat(join(pgDir, "PG_VERSION")).then(
      () => true,
      () => false,
    ));
    pglite = await PGlite.create(durable.options);
    if (fresh) {
      const files = await syncTree(pgDir, options.onFileSync);
      logger.info({ dataDir: pgDir, files }, "created the embedded database and synced its files to disk");
    }
  } catch (error) {
    await pglite?.close().catch(() => undefined);
    await wal.close().catch(() => undefined);
    await unlock();
    throw new DatabaseUnavailableError(`Cannot open the embedded database in ${pgDir}: ${errorMessage(error)}`, { cause: error });
  }
  const prisma = new PrismaClient({ adapter: flushingAdapter(new PrismaPGlite(pglite), wal) });
  const migrationConnection: MigrationConnection = {
    exec: async (sql) => {
      await pglite.exec(sql);
      await wal.flush();
    },
    query: async <Row>(sql: string, params: readonly unknown[] = []) => {
      const { rows } = await pglite.query<Row>(sql, [...params]);
      await wal.flush();
      return rows;
    },
  };
  let closed = false;
  return {
    kind: "embedded",
    prisma,
    sql: createPGliteSql(pglite, wal),
    async migrate(migrationsDir) {
      return applyMigrations(migrationConnection, await readMigrations(migrationsDir), logger);
    },
    async ping(timeoutMs = 1_000) {
      if (closed || pglite.closed) throw new DatabaseUnavailableError("the embedded database is closed");
      await withTimeout(pglite.query("SELECT 1"), timeoutMs, "the embedded database");
    },
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect().catch(() => undefined);
      await pglite.close().catch(() => undefined);
      await wal.close().catch(() => undefined);
      await unlock();
    },
  };
}

export interface OpenOptions {
  /** The embedded database: called after each fdatasync of one of its files (a metric). */
  readonly onFileSync?: () => void;
}

export async function openDatabase(config: Config["database"], logger: Logger, options: OpenOptions = {}): Promise<Database> {
  return config.kind === "postgres" ? openPostgres(config.url, config.poolSize, logger) : openEmbedded(config.dataDir, logger, options);
}
