// Per-test-file databases on the test PostgreSQL server.
//
//   const baseUrl = inject("postgresUrl");
//   const db = await createTestDatabase(baseUrl);
//   afterAll(() => db.drop());
//   ... connect with db.url ...
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { startEmbeddedServer } from "../../src/db/embedded-server.ts";
import { createLogger } from "../../src/lib/logger.ts";

export interface TestDatabase {
  /** Connection URL of the new database (the base URL with its database name replaced). */
  url: string;
  /** Drops the database, closing any connections still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** Start of the database name (letters, digits, `_`); default `fb_test`. */
  prefix?: string;
  /** Template to copy; default `template0`, which nobody connects to, so concurrent creates never collide. */
  template?: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function describeServer(url: URL): string {
  return `${url.hostname}:${url.port || "5432"}`;
}

async function withAdminClient<T>(baseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: baseUrl,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 60_000,
    application_name: "firebreak-test-admin",
  });
  // An idle client whose server goes away emits "error"; without a listener Node would crash.
  client.on("error", () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates a uniquely named, empty database on the server of `baseUrl` (which must let its
 * user create databases) and returns its URL and a `drop()` that removes it (`WITH (FORCE)`).
 */
export async function createTestDatabase(baseUrl: string, options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const prefix = options.prefix ?? "fb_test";
  const template = options.template ?? "template0";
  if (!IDENTIFIER.test(prefix) || prefix.length > 30) {
    throw new Error(`createTestDatabase: invalid prefix ${JSON.stringify(prefix)} (letters, digits, _; at most 30 characters)`);
  }
  const base = new URL(baseUrl);
  if (base.protocol !== "postgresql:" && base.protocol !== "postgres:") {
    throw new Error(`createTestDatabase: not a PostgreSQL URL: ${base.protocol}//${describeServer(base)}`);
  }
  // <= 63 characters (PostgreSQL's identifier limit), lower case so it needs no quoting in psql.
  const name = `${prefix}_${Date.now().toString(36)}_${process.pid.toString(36)}_${randomBytes(5).toString("hex")}`.toLowerCase();

  try {
    await withAdminClient(baseUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`createTestDatabase: could not create database ${name} on ${describeServer(base)}: ${message}`, { cause: error });
  }

  const url = new URL(base.href);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.href,
    drop(): Promise<void> {
      dropped ??= withAdminClient(baseUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      }).catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`createTestDatabase: could not drop database ${name} on ${describeServer(base)}: ${message}`, { cause: error });
      });
      return dropped;
    },
  };
}

/** A test database with the migrations applied, opened as the app opens it. */
export interface MigratedTestDatabase {
  readonly database: Database;
  /** Closes the connections and drops the database. */
  close(): Promise<void>;
}

/**
 * A fresh database on the server of `baseUrl` (see createTestDatabase), migrated and opened
 * with a pool of 2: for tests of data access functions against the real schema.
 */
export async function migratedTestDatabase(baseUrl: string, prefix: string): Promise<MigratedTestDatabase> {
  const created = await createTestDatabase(baseUrl, { prefix });
  const database = await openDatabase({ kind: "postgres", url: created.url, poolSize: 2 }, createLogger({ level: "warn", format: "json" }));
  const close = async (): Promise<void> => {
    await database.close();
    await created.drop();
  };
  try {
    await database.migrate("prisma/migrations");
  } catch (error) {
    await close();
    throw error;
  }
  return { database, close };
}

export interface ThrowawayServer {
  /** URL of the server's `firebreak` database. */
  readonly url: string;
  /** Stops the server (idempotent); `remove()` also deletes its files. */
  stop(): Promise<void>;
  /** Starts it again on the same files (same socket, same URL): a database restart. */
  restart(): Promise<void>;
  remove(): Promise<void>;
}

/**
 * A PostgreSQL server of its own (Firebreak's embedded server on a temporary directory), for a
 * test that stops the database under a running app without disturbing the shared one.
 */
export async function startThrowawayServer(): Promise<ThrowawayServer> {
  const dir = await mkdtemp(join(tmpdir(), "fb-pg-own-"));
  const logger = createLogger({ level: "warn", format: "json" });
  let server = await startEmbeddedServer({ dataDir: dir, logger });
  const url = server.url;
  return {
    url,
    stop: () => server.stop(),
    async restart() {
      await server.stop();
      server = await startEmbeddedServer({ dataDir: dir, logger });
      if (server.url !== url) throw new Error(`the restarted server has another URL: ${server.url} instead of ${url}`);
    },
    async remove() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
