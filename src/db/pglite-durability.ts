import { closeSync, fdatasync, fdatasyncSync, openSync } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";
import type { IsolationLevel, SqlDriverAdapter, SqlDriverAdapterFactory, SqlQuery, Transaction } from "@prisma/driver-adapter-utils";

/**
 * Durable commits on the embedded database.
 *
 * PGlite starts PostgreSQL with fsync off (`-F`), and the Emscripten file system it uses on
 * Node (NODEFS) has no fsync at all: `fdatasync()` is a no-op there and `fsync()` finds no
 * handler. A commit then reaches the operating system's page cache and survives a crash of
 * Firebreak, but not a crash of the machine or a power cut, although the webhook answers 2xx
 * "once the payload is durably stored". Two changes make a commit what PostgreSQL means by it:
 *
 * - PostgreSQL runs with fsync on and `wal_sync_method=fsync`, so each commit (and each
 *   checkpoint, for the data files) calls `fsync()`;
 * - NODEFS gets the missing `fsync` stream operation (see createFileSyncs: WAL segments are
 *   synced on libuv's thread pool by the flush every caller awaits, other files at once).
 */

/** PGlite's own start parameters, with fsync on and the WAL flushed through `fsync()`. */
export function durableStartParams(defaults: readonly string[] = PGlite.defaultStartParams): string[] {
  return [...defaults.filter((param) => param !== "-F"), "-c", "fsync=on", "-c", "wal_sync_method=fsync"];
}

interface EmscriptenNode {
  readonly name: string;
}
interface EmscriptenStream {
  readonly nfd?: unknown;
  readonly node?: EmscriptenNode;
}
interface NodeFsModule {
  readonly stream_ops: Record<string, unknown>;
  realPath(node: EmscriptenNode): string;
}

const WAL_SEGMENT = /^[0-9A-F]{24}$/;
/** Descriptors of WAL segments kept open for their syncs (PostgreSQL writes one at a time). */
const MAX_SEGMENT_HANDLES = 8;

/** A WAL segment file (pg_wal/000000010000000000000001), whose sync can wait for `flush()`. */
export function isWalSegment(path: string): boolean {
  return basename(dirname(path)) === "pg_wal" && WAL_SEGMENT.test(basename(path));
}

export interface WalFlusher {
  /** Resolves once every commit written so far is on disk. */
  flush(): Promise<void>;
}

/**
 * The file syncs of one embedded database. PostgreSQL calls `fsync()` synchronously from
 * WebAssembly, in the app's thread. For a data file or a directory (checkpoints, a new WAL
 * segment: rare) the `fsync` installed here calls `fdatasync(2)` there and then. For a WAL
 * segment (every commit) it only notes the file: `flush()` syncs the noted segments on libuv's
 * thread pool, and every caller of a statement awaits it before answering anybody
 * (`createPGliteSql`, `flushingAdapter`, the migrator). A flush covers every commit written
 * before it started, whoever made it (a commit's WAL is written before its `fsync()` is
 * called), and waits for the flushes started before it. The segments are synced through
 * descriptors of this module's own, so PostgreSQL closing its descriptor (at a segment switch)
 * cannot make a sync miss. `onSync` runs after each `fdatasync` (a metric). `install` throws when
 * the module no longer has NODEFS where this expects it (a PGlite upgrade): the database then
 * refuses to start rather than run without durable commits.
 */
export function createFileSyncs(onSync: () => void = () => undefined): WalFlusher & { install(module: { readonly NODEFS?: unknown }): void; close(): Promise<void> } {
  const pending = new Set<string>();
  const handles = new Map<string, number>();
  /** Settles once every flush started so far has. */
  let tail: Promise<void> = Promise.resolve();

  /** Opens a descriptor of our own for the segment, once. */
  function keepHandle(path: string): void {
    if (!handles.has(path)) {
      handles.set(path, openSync(path, "r"));
      for (const [oldPath, oldFd] of handles) {
        if (handles.size <= MAX_SEGMENT_HANDLES) break;
        handles.delete(oldPath);
        // Closed once the flushes that may use it are done.
        void tail.then(() => closeSync(oldFd));
      }
    }
  }

  function syncSegment(path: string): Promise<void> {
    const fd = handles.get(path);
    if (fd === undefined) return Promise.reject(new Error(`no descriptor for ${path}`));
    return new Promise<void>((resolve, reject) => {
      fdatasync(fd, (error) => {
        if (error) {
          reject(error);
          return;
        }
        onSync();
        resolve();
      });
    });
  }

  return {
    install(module) {
      const nodefs = module.NODEFS as Partial<NodeFsModule> | undefined;
      if (typeof nodefs !== "object" || nodefs === null || typeof nodefs.stream_ops !== "object" || typeof nodefs.realPath !== "function") {
        throw new Error("PGlite's NODEFS file system is not what Firebreak expects (stream operations, realPath), so commits could not be made durable");
      }
      const fs = nodefs as NodeFsModule;
      fs.stream_ops.fsync = (stream: EmscriptenStream): number => {
        if (typeof stream.nfd !== "number") return 0;
        const path = stream.node ? fs.realPath(stream.node) : undefined;
        if (path !== undefined && isWalSegment(path)) {
          keepHandle(path);
          pending.add(path);
          return 0;
        }
        // An error (EIO) propagates: PostgreSQL must not go on as if the data were on disk.
        fdatasyncSync(stream.nfd);
        onSync();
        return 0;
      };
    },
    flush() {
      const paths = [...pending];
      pending.clear();
      const syncing = paths.length === 0 ? Promise.resolve() : Promise.all(paths.map(syncSegment)).then(() => undefined);
      const done = Promise.all([tail, syncing]).then(() => undefined);
      tail = done.catch(() => undefined);
      return done;
    },
    /** Closes the segments' descriptors once the flushes under way are done. */
    async close() {
      await tail;
      for (const fd of handles.values()) closeSync(fd);
      handles.clear();
    },
  };
}

/** PGlite's Node file system, with the `fsync` installed before PostgreSQL starts (initdb included). */
class DurableNodeFS extends NodeFS {
  readonly #install: (module: { readonly NODEFS?: unknown }) => void;
  constructor(dataDir: string, install: (module: { readonly NODEFS?: unknown }) => void) {
    super(dataDir);
    this.#install = install;
  }
  override async init(pg: PGlite, opts: Parameters<NodeFS["init"]>[1]): ReturnType<NodeFS["init"]> {
    const { emscriptenOpts } = await super.init(pg, opts);
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), (module: { NODEFS?: unknown }) => this.#install(module)] } };
  }
}

/** Options for `PGlite.create`, and the flusher every caller awaits before answering. */
export function durablePGlite(dataDir: string, onSync?: () => void): { options: PGliteOptions; wal: WalFlusher & { close(): Promise<void> } } {
  const syncs = createFileSyncs(onSync);
  return { options: { fs: new DurableNodeFS(dataDir, (module) => syncs.install(module)), startParams: durableStartParams() }, wal: syncs };
}

/** One turn of the event loop: I/O callbacks (HTTP requests) run before the promise settles. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Prisma's driver adapter, each statement and commit followed by `wal.flush()`, and each
 * statement inside a transaction by one turn of the event loop. PGlite runs a statement
 * synchronously in this thread, and the statements of a transaction follow one another through
 * promise callbacks, which never let the event loop poll: without the turn, an HTTP request
 * (a webhook delivery, a Slack command) would wait for a whole processing transaction, tens of
 * milliseconds on PGlite, rather than for one statement.
 */
export function flushingAdapter(factory: SqlDriverAdapterFactory, wal: WalFlusher): SqlDriverAdapterFactory {
  const after = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    await wal.flush();
    return value;
  };
  const yielding = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    await nextTurn();
    return value;
  };
  const transaction = (tx: Transaction): Transaction => ({
    provider: tx.provider,
    adapterName: tx.adapterName,
    options: tx.options,
    queryRaw: (query: SqlQuery) => yielding(tx.queryRaw(query)),
    executeRaw: (query: SqlQuery) => yielding(tx.executeRaw(query)),
    commit: () => after(tx.commit()),
    rollback: () => tx.rollback(),
  });
  const adapter = (inner: SqlDriverAdapter): SqlDriverAdapter => ({
    provider: inner.provider,
    adapterName: inner.adapterName,
    queryRaw: (query: SqlQuery) => after(inner.queryRaw(query)),
    executeRaw: (query: SqlQuery) => after(inner.executeRaw(query)),
    executeScript: (script: string) => after(inner.executeScript(script)),
    startTransaction: async (isolationLevel?: IsolationLevel) => transaction(await inner.startTransaction(isolationLevel)),
    ...(inner.getConnectionInfo ? { getConnectionInfo: inner.getConnectionInfo.bind(inner) } : {}),
    dispose: () => inner.dispose(),
  });
  return { provider: factory.provider, adapterName: factory.adapterName, connect: async () => adapter(await factory.connect()) };
}

/**
 * Syncs every file and directory under `dir` (`fdatasync`), calling `onSync` after each. For a
 * data directory PGlite has just created: its initdb writes the files without syncing them,
 * so until then a crash of the machine could leave a database that does not start.
 */
export async function syncTree(dir: string, onSync: () => void = () => undefined): Promise<number> {
  let synced = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) if (entry.isDirectory()) synced += await syncTree(join(dir, entry.name), onSync);
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(dir, entry.name));
  // A few at a time, on libuv's thread pool (a directory of PGlite's has hundreds of files).
  for (let index = 0; index < files.length; index += SYNC_CONCURRENCY) {
    const counts = await Promise.all(files.slice(index, index + SYNC_CONCURRENCY).map((path) => syncPath(path, onSync)));
    synced += counts.length;
  }
  // The directory last: its entries name files that are on disk by now.
  return synced + (await syncPath(dir, onSync));
}

const SYNC_CONCURRENCY = 16;

async function syncPath(path: string, onSync: () => void): Promise<number> {
  const handle = await open(path, "r");
  try {
    await handle.datasync();
    onSync();
    return 1;
  } finally {
    await handle.close();
  }
}
