// Offline "prisma migrate diff --from-migrations ... --to-schema ...".
//
// The Prisma 7 CLI cannot run migrate commands here (it downloads a native
// schema-engine binary), so this loads Prisma's WASM schema engine directly
// and gives it in-memory PGlite databases through a driver adapter. The engine
// replays prisma/migrations on a fresh shadow database, introspects it and
// diffs that against schema.prisma.
//
// DEV TOOLING ONLY: @prisma/schema-engine-wasm is an internal Prisma package
// (its version must match the installed engines hash). Never import this file
// from src/.

import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

import { PGlite } from "@electric-sql/pglite";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";

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
// PGlite databases for the engine

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

/**
 * In-memory PGlite databases for the engine. The engine connects to the
 * "main" database at start-up only to ask for its version (a diff from
 * migrations to a schema never touches it otherwise), so the first shadow
 * database doubles as the main one: a PGlite boot costs 2-4 s, and sharing
 * one made a diff ~40% faster. Later shadow connections get fresh databases.
 */
class PGliteShadowFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = "postgres";
  readonly adapterName = "firebreak-pglite-shadow";
  private readonly databases: PGlite[] = [];
  private readonly main = this.start();
  private firstShadow: PGlite | undefined = this.main;

  private start(): PGlite {
    const db = new PGlite();
    this.databases.push(db);
    return db;
  }

  connect(): Promise<SqlDriverAdapter> {
    return this.adapterFor(this.main);
  }

  connectToShadowDb(): Promise<SqlDriverAdapter> {
    const db = this.firstShadow ?? this.start();
    this.firstShadow = undefined;
    return this.adapterFor(db);
  }

  /** Adapters never close their database (dispose is a no-op); close() does, after the engine is done. */
  private async adapterFor(db: PGlite): Promise<SqlDriverAdapter> {
    const adapter: SqlDriverAdapter = await new PrismaPGlite(db).connect();
    // pglite-prisma-adapter 0.7.2 does not await exec() in executeScript: a
    // failing migration would be reported as applied and its error would
    // surface later as an unhandled rejection. Await it and report the
    // database error the way Prisma's adapters do.
    adapter.executeScript = async (script: string): Promise<void> => {
      try {
        await db.exec(script);
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
    return adapter;
  }

  async close(): Promise<void> {
    await Promise.all(this.databases.map(async (db) => (db.closed ? undefined : db.close())));
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
  /** prisma/schema.prisma (or a folder of .prisma files). */
  schemaPath: string;
  /** prisma/migrations. */
  migrationsDir: string;
  /** "sql" (default): the migration script; "summary": Prisma's human-readable summary. */
  format?: "sql" | "summary";
}

/**
 * Diff FROM the migrations folder (replayed on an in-memory PGlite shadow
 * database) TO the Prisma schema. Returns "" when they agree, otherwise the
 * SQL (or summary) that would bring the migrations up to the schema.
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

  const shadow = new PGliteShadowFactory();
  const adapter = bindMigrationAwareSqlAdapterFactory(shadow);
  let engine: SchemaEngine | undefined;
  try {
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
    return result.exitCode === 2 ? (result.stdout ?? "") : "";
  } catch (error) {
    throw engineError(error, adapter);
  } finally {
    engine?.free();
    await shadow.close();
  }
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
