// Offline "prisma migrate diff --from-migrations ... --to-schema ...".
//
// The Prisma 7 CLI cannot run migrate commands here (it downloads a native
// schema-engine binary), so this loads Prisma's WASM schema engine directly
// and gives it databases on a real PostgreSQL server through a driver adapter
// (@prisma/adapter-pg). The engine replays prisma/migrations on a throwaway
// shadow database, introspects it and diffs that against schema.prisma; every
// database created for this is dropped afterwards, failure or not.
//
// DEV TOOLING ONLY: @prisma/schema-engine-wasm is an internal Prisma package
// (its version must match the installed engines hash). Never import this file
// from src/.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import type {
  SqlDriverAdapter,
  SqlMigrationAwareDriverAdapterFactory,
  SqlQuery,
  SqlResultSet,
} from "@prisma/driver-adapter-utils";
import pg from "pg";

// ---------------------------------------------------------------------------
// The subset of the engine's JS API used here (see
// node_modules/@prisma/schema-engine-wasm/schema_engine.d.ts).

type JsResult<R, E> = { tag: "ok"; value: R } | { tag: "error"; value: E };

interface MigrationDirectory {
  /** Directory name relative to baseDir, e.g. "20250101000000_init". */
  path: string;
  migrationFile: { path: string; content: JsResult<string, string> };
}

interface MigrationList {
  baseDir: string;
  lockfile: { path: string; content: string | null };
  shadowDbInitScript: string;
  migrationDirectories: MigrationDirectory[];
}

interface SchemaFile {
  path: string;
  content: string;
}

type DiffTarget =
  | { tag: "empty" }
  | ({ tag: "migrations" } & MigrationList)
  | { tag: "schemaDatamodel"; files: SchemaFile[] };

interface DiffParams {
  from: DiffTarget;
  to: DiffTarget;
  /** true: executable SQL; false: human-readable summary. */
  script: boolean;
  /** When true, exitCode is 2 for a non-empty diff. */
  exitCode: boolean | null;
  filters: { externalTables: string[]; externalEnums: string[] };
}

interface DiffResult {
  exitCode: number;
  stdout: string | null;
}

interface SchemaEngine {
  diff(params: DiffParams): Promise<DiffResult>;
  free(): void;
}

type BoundAdapterFactory = ReturnType<typeof bindMigrationAwareSqlAdapterFactory>;

/** schema_engine_bg.js: the wasm-bindgen glue (imports of the .wasm module). */
interface SchemaEngineBindings {
  __wbg_set_wasm(exports: WasmExports): void;
  version(): string;
  SchemaEngine: {
    new: (
      options: { datamodels: [string, string][] | undefined },
      log: (message: string) => void,
      adapter: BoundAdapterFactory,
    ) => Promise<SchemaEngine>;
  };
}

type WasmExports = Record<string, unknown>;

/** The WebAssembly global, typed here because the project's tsconfig has no DOM lib. */
interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<object>;
  /** With a compiled module, resolves to the instance. */
  instantiate(module: object, imports: Record<string, object>): Promise<{ exports: WasmExports }>;
}

/** The wasm glue reports Rust panics through this global (it calls `global.PRISMA_WASM_PANIC_REGISTRY.set_message`). */
interface PanicRegistry {
  get(): string;
  set_message(message: string): void;
}

declare global {
  var PRISMA_WASM_PANIC_REGISTRY: PanicRegistry | undefined;
}

// ---------------------------------------------------------------------------
// Loading the engine

let bindingsPromise: Promise<SchemaEngineBindings> | undefined;

function installPanicRegistry(): PanicRegistry {
  if (!globalThis.PRISMA_WASM_PANIC_REGISTRY) {
    let message = "";
    globalThis.PRISMA_WASM_PANIC_REGISTRY = {
      get: () => message,
      set_message: (m: string) => {
        message = `RuntimeError: ${m}`;
      },
    };
  }
  return globalThis.PRISMA_WASM_PANIC_REGISTRY;
}

/**
 * The package's entry point does `import * as wasm from "./x.wasm"`, which
 * Node cannot import without --experimental-wasm-modules; instantiate the
 * module by hand against the glue instead (what the entry point does).
 */
function loadBindings(): Promise<SchemaEngineBindings> {
  bindingsPromise ??= (async () => {
    installPanicRegistry();
    const require = createRequire(import.meta.url);
    const entry = require.resolve("@prisma/schema-engine-wasm");
    const wasmFile = path.join(path.dirname(entry), "schema_engine_bg.wasm");
    const glue = (await import("@prisma/schema-engine-wasm/schema_engine_bg")) as unknown as SchemaEngineBindings;
    const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
    const module = await wasm.compile(await readFile(wasmFile));
    // Every import of the .wasm module comes from the glue file.
    const instance = await wasm.instantiate(module, { "./schema_engine_bg.js": glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports["__wbindgen_start"] as () => void)();
    return glue;
  })();
  return bindingsPromise;
}

export async function schemaEngineVersion(): Promise<string> {
  return (await loadBindings()).version();
}

// ---------------------------------------------------------------------------
// PostgreSQL databases for the engine

/** Shape that @prisma/driver-adapter-utils turns into a structured database error. */
class PostgresScriptError extends Error {
  override name = "DriverAdapterError";
  constructor(
    message: string,
    override cause: {
      kind: "postgres";
      code: string;
      severity: string;
      message: string;
      detail: string | undefined;
      column: string | undefined;
      hint: string | undefined;
    },
  ) {
    super(message);
  }
}

interface PgErrorFields {
  message?: unknown;
  code?: unknown;
  severity?: unknown;
  detail?: unknown;
  column?: unknown;
  hint?: unknown;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Parses and checks a PostgreSQL URL (the message never repeats the password). */
function parsePostgresUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("schema diff: the database URL is not a valid URL");
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new Error(`schema diff: not a PostgreSQL URL (${parsed.protocol}//...)`);
  }
  return parsed;
}

/** host:port/database of a URL, for messages (no credentials; a socket directory when the URL names one). */
function describeServer(url: URL): string {
  const host = url.searchParams.get("host") ?? url.hostname;
  return `${host}:${url.port || "5432"}${url.pathname}`;
}

/** `url` with another database name; the query string (e.g. `?host=/socket/dir`) is kept. */
function withDatabase(url: URL, database: string): string {
  const copy = new URL(url.href);
  copy.pathname = `/${encodeURIComponent(database)}`;
  return copy.href;
}

/** pool.end() waits for checked-out clients; after `ms` give up waiting (the DROP ... WITH (FORCE) ends them). */
async function endPool(pool: pg.Pool, ms = 5_000): Promise<void> {
  if (pool.ended) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    pool.end().catch(() => undefined),
    new Promise<void>((done) => {
      timer = setTimeout(done, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

// PostgreSQL's one-byte "char" type (pg_constraint.contype, pg_class.relkind,
// ...), which the engine's introspection queries return, is not among the types
// adapter-pg 7.10 maps (it fails with "Column type 'char' could not be
// deserialized"). The pool below reports such columns as text to adapter-pg,
// noting their positions in the calling queryRaw's store, and queryRaw then
// gives them the column type the engine reads them as: Character.
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;
const charColumns = new AsyncLocalStorage<Set<number>>();

type PoolQuery = (...args: unknown[]) => Promise<unknown>;

function reportCharColumnsAsText(pool: pg.Pool): void {
  const query = pool.query.bind(pool) as PoolQuery;
  (pool as unknown as { query: PoolQuery }).query = async (...args: unknown[]): Promise<unknown> => {
    const result = await query(...args);
    // A multi-statement script resolves to an array of results: nothing to map.
    if (result !== null && typeof result === "object" && !Array.isArray(result)) {
      const fields = (result as { fields?: { dataTypeID: number }[] }).fields ?? [];
      const seen = charColumns.getStore();
      fields.forEach((field, index) => {
        if (field.dataTypeID !== PG_CHAR_OID) return;
        field.dataTypeID = PG_TEXT_OID;
        seen?.add(index);
      });
    }
    return result;
  };
}

/**
 * Databases for the engine on a real PostgreSQL server (`url`, whose user may
 * CREATE DATABASE), through @prisma/adapter-pg:
 *
 * - connect(): the "main" database is the URL's own. The engine connects to it
 *   only to ask for the server's version (a diff from migrations to a schema
 *   never touches it otherwise), so it is used as is and never changed.
 * - connectToShadowDb(): a fresh, uniquely named database per call (TEMPLATE
 *   template0, so nothing from the URL's database or template1 leaks in).
 *
 * close() ends every connection pool and drops every database created here
 * (WITH (FORCE), so leftover sessions cannot keep one alive), whatever the
 * engine did or did not dispose. PrismaPg's own connectToShadowDb is not used:
 * it drops the shadow database before closing the pool connected to it, so
 * the DROP fails, and it never closes the pool it issued the DROP from.
 */
class PostgresShadowFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = "postgres";
  readonly adapterName = "firebreak-postgres-shadow";
  private readonly url: URL;
  private readonly pools: pg.Pool[] = [];
  /** Every database whose CREATE was sent; dropped by close() (DROP ... IF EXISTS, so a failed CREATE is harmless). */
  private readonly created = new Set<string>();
  private closing: Promise<void> | undefined;

  constructor(url: string) {
    this.url = parsePostgresUrl(url);
  }

  connect(): Promise<SqlDriverAdapter> {
    return this.adapterFor(this.url.href);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    if (this.closing) throw new Error("schema diff: the shadow database factory is closed");
    // <= 63 characters (PostgreSQL's identifier limit), lower case.
    const name = `firebreak_shadow_${Date.now().toString(36)}_${process.pid.toString(36)}_${randomBytes(6).toString("hex")}`;
    this.created.add(name);
    try {
      await this.admin((client) => client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`));
    } catch (error) {
      throw new Error(
        `schema diff: could not create the shadow database ${name} on ${describeServer(this.url)} ` +
          `(the database user needs the CREATEDB privilege): ${errorText(error)}`,
        { cause: error },
      );
    }
    return this.adapterFor(withDatabase(this.url, name), name);
  }

  private async adapterFor(url: string, shadowName?: string): Promise<SqlDriverAdapter> {
    const factory = new PrismaPg(
      { connectionString: url, application_name: "firebreak-schema-diff", connectionTimeoutMillis: 10_000 },
      // Idle connections ended by the server (DROP ... WITH (FORCE)) must not crash the process.
      { onPoolError: () => undefined, onConnectionError: () => undefined },
    );
    const adapter = await factory.connect();
    const pool = adapter.underlyingDriver();
    this.pools.push(pool);
    reportCharColumnsAsText(pool);
    const queryRaw = adapter.queryRaw.bind(adapter);
    adapter.queryRaw = (query: SqlQuery): Promise<SqlResultSet> => {
      const seen = new Set<number>();
      return charColumns.run(seen, async () => {
        const resultSet = await queryRaw(query);
        for (const index of seen) resultSet.columnTypes[index] = ColumnTypeEnum.Character;
        return resultSet;
      });
    };
    // adapter-pg's executeScript splits the script on every ";" (breaking
    // dollar-quoted function bodies, like the timeline_events trigger) and runs
    // the pieces on whichever pooled connection is free. Send the whole script
    // as one simple query instead, as Prisma's native engine does.
    adapter.executeScript = async (script: string): Promise<void> => {
      try {
        await pool.query(script);
      } catch (error) {
        const e = (typeof error === "object" && error !== null ? error : {}) as PgErrorFields;
        const message = str(e.message) ?? String(error);
        throw new PostgresScriptError(message, {
          kind: "postgres",
          code: str(e.code) ?? "N/A",
          severity: str(e.severity) ?? "ERROR",
          message,
          detail: str(e.detail),
          column: str(e.column),
          hint: str(e.hint),
        });
      }
    };
    adapter.dispose = async (): Promise<void> => {
      await endPool(pool);
      if (shadowName !== undefined) await this.drop(shadowName);
    };
    return adapter;
  }

  /**
   * Fails early, with a plain message, when the server cannot be reached or its user may not
   * create databases (the engine would report the first as "Can't reach database server").
   */
  async check(): Promise<void> {
    let canCreate: boolean | undefined;
    try {
      canCreate = await this.admin(async (client) => {
        const { rows } = await client.query<{ ok: boolean }>(
          "SELECT (rolcreatedb OR rolsuper) AS ok FROM pg_roles WHERE rolname = current_user",
        );
        return rows[0]?.ok;
      });
    } catch (error) {
      throw new Error(`schema diff: cannot connect to ${describeServer(this.url)}: ${errorText(error)}`, { cause: error });
    }
    if (canCreate === false) {
      throw new Error(
        `schema diff: the user of ${describeServer(this.url)} may not create databases (CREATEDB), which the shadow database needs`,
      );
    }
  }

  /** A short-lived session on the URL's database, for CREATE/DROP DATABASE. */
  private async admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      connectionString: this.url.href,
      application_name: "firebreak-schema-diff",
      connectionTimeoutMillis: 10_000,
    });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async drop(name: string): Promise<void> {
    if (!this.created.has(name)) return;
    await this.admin((client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    this.created.delete(name);
  }

  /** Ends every pool and drops every database created here; rejects naming any that could not be dropped. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.pools.map((pool) => endPool(pool)));
      const failures: string[] = [];
      for (const name of [...this.created]) {
        await this.drop(name).catch((error: unknown) => failures.push(`${name} (${errorText(error)})`));
      }
      if (failures.length > 0) {
        throw new Error(`schema diff: could not drop the shadow database(s) on ${describeServer(this.url)}: ${failures.join("; ")}`);
      }
    })();
    return this.closing;
  }
}

// ---------------------------------------------------------------------------
// Migrations folder (Prisma's layout)

export const MIGRATION_LOCK_FILE = "migration_lock.toml";

/** Exactly what `prisma migrate dev` writes. */
export const MIGRATION_LOCK_CONTENT =
  "# Please do not edit this file manually\n" +
  "# It should be added in your version-control system (e.g., Git)\n" +
  'provider = "postgresql"\n';

/** Reads the migrations folder the way the Prisma CLI does (a missing folder is an empty history). */
export async function readMigrationsFolder(migrationsDir: string): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const lockContent = await readFile(path.join(baseDir, MIGRATION_LOCK_FILE), "utf8").catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => []);
  const migrationDirectories: MigrationDirectory[] = [];
  for (const entry of entries.filter((e) => e.isDirectory())) {
    const content: JsResult<string, string> = await readFile(path.join(baseDir, entry.name, "migration.sql"), "utf8")
      .then((value): JsResult<string, string> => ({ tag: "ok", value }))
      .catch((error: unknown): JsResult<string, string> => ({
        tag: "error",
        value: error instanceof Error ? error.message : String(error),
      }));
    migrationDirectories.push({ path: entry.name, migrationFile: { path: "migration.sql", content } });
  }
  migrationDirectories.sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir,
    lockfile: { path: MIGRATION_LOCK_FILE, content: lockContent },
    shadowDbInitScript: "",
    migrationDirectories,
  };
}

/** schema.prisma, or every *.prisma file under a schema folder. */
async function readSchemaFiles(schemaPath: string): Promise<SchemaFile[]> {
  const resolved = path.resolve(schemaPath);
  if (!(await stat(resolved)).isDirectory()) {
    return [{ path: resolved, content: await readFile(resolved, "utf8") }];
  }
  const names = (await readdir(resolved, { recursive: true })).filter((n) => n.endsWith(".prisma")).sort();
  return Promise.all(
    names.map(async (n) => ({ path: path.join(resolved, n), content: await readFile(path.join(resolved, n), "utf8") })),
  );
}

// ---------------------------------------------------------------------------
// Diff

export interface DiffOptions {
  /**
   * PostgreSQL server to diff on, e.g. `postgresql://user:pw@host:5432/db` (a
   * `?host=/socket/dir` query is kept). Its user must be allowed to CREATE
   * DATABASE: shadow databases are created on it and dropped afterwards. The
   * URL's own database is only asked for the server's version, never changed.
   */
  databaseUrl: string;
  /** prisma/schema.prisma (or a folder of .prisma files). */
  schemaPath: string;
  /** prisma/migrations. */
  migrationsDir: string;
  /** "sql" (default): the migration script; "summary": Prisma's human-readable summary. */
  format?: "sql" | "summary";
}

/**
 * Diff FROM the migrations folder (replayed on a throwaway shadow database on
 * the server of `opts.databaseUrl`) TO the Prisma schema. Returns "" when they
 * agree, otherwise the SQL (or summary) that would bring the migrations up to
 * the schema. The shadow database is dropped before this returns or throws.
 */
export async function diffMigrationsToSchema(opts: DiffOptions): Promise<string> {
  const glue = await loadBindings();
  const [schemaFiles, migrations] = await Promise.all([
    readSchemaFiles(opts.schemaPath),
    readMigrationsFolder(opts.migrationsDir),
  ]);
  // The engine needs the lock file to know the connector; before the first
  // migration there is none yet (writeMigration creates it).
  migrations.lockfile.content ??= MIGRATION_LOCK_CONTENT;

  const shadow = new PostgresShadowFactory(opts.databaseUrl);
  const adapter = bindMigrationAwareSqlAdapterFactory(shadow);
  let engine: SchemaEngine | undefined;
  let failure: Error | undefined;
  let sql = "";
  try {
    await shadow.check();
    engine = await glue.SchemaEngine.new(
      { datamodels: schemaFiles.map((f): [string, string] => [f.path, f.content]) },
      () => {}, // engine tracing (JSON lines); not needed
      adapter,
    );
    const result = await engine.diff({
      from: { tag: "migrations", ...migrations },
      to: { tag: "schemaDatamodel", files: schemaFiles },
      script: (opts.format ?? "sql") === "sql",
      exitCode: true,
      filters: { externalTables: [], externalEnums: [] },
    });
    // exitCode 2 = non-empty diff, 0 = empty.
    sql = result.exitCode === 2 ? (result.stdout ?? "") : "";
  } catch (error) {
    failure = engineError(error, adapter);
  } finally {
    engine?.free();
    // Always drop the shadow databases; a cleanup error must not hide the diff's own error.
    await shadow.close().catch((error: unknown) => {
      const cleanup = error instanceof Error ? error : new Error(String(error));
      failure = failure ? new Error(`${failure.message}\n${cleanup.message}`, { cause: failure }) : cleanup;
    });
  }
  if (failure) throw failure;
  return sql;
}

/** Makes the engine's errors readable: JS errors thrown by the adapter come back as "External error id#N". */
function engineError(error: unknown, adapter: BoundAdapterFactory): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (error.name === "RuntimeError") {
    const panic = globalThis.PRISMA_WASM_PANIC_REGISTRY?.get();
    return new Error(`Prisma schema engine panicked: ${panic || error.message}`, { cause: error });
  }
  const id = /External error id#(\d+)/.exec(error.message)?.[1];
  const record = id === undefined ? undefined : adapter.errorRegistry.consumeError(Number(id));
  if (record) {
    const inner = record.error instanceof Error ? record.error.message : String(record.error);
    return new Error(`${error.message}\nCaused by: ${inner}`, { cause: record.error });
  }
  return error;
}

// ---------------------------------------------------------------------------
// Writing a migration

/** UTC YYYYMMDDHHMMSS, like Prisma's migration directory names. */
export function migrationTimestamp(now: Date = new Date()): string {
  return now.toISOString().replace(/\D/g, "").slice(0, 14);
}

export interface WriteMigrationOptions {
  migrationsDir: string;
  name: string;
  sql: string;
  now?: Date;
}

/** Writes <migrationsDir>/<timestamp>_<name>/migration.sql (and migration_lock.toml if missing); returns the directory. */
export async function writeMigration(opts: WriteMigrationOptions): Promise<string> {
  const name = opts.name.trim().replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "") || "migration";
  const baseDir = path.resolve(opts.migrationsDir);
  const dir = path.join(baseDir, `${migrationTimestamp(opts.now)}_${name}`);
  if (existsSync(dir)) throw new Error(`The migration directory already exists at ${dir}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "migration.sql"), opts.sql, "utf8");
  const lockPath = path.join(baseDir, MIGRATION_LOCK_FILE);
  if (!existsSync(lockPath)) await writeFile(lockPath, MIGRATION_LOCK_CONTENT, "utf8");
  return dir;
}
