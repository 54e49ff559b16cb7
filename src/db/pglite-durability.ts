import { fdatasyncSync } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";

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
 * - NODEFS gets the missing `fsync` stream operation, which calls `fdatasync(2)` on the real
 *   file (or directory) behind the stream.
 *
 * The `fdatasync` runs in the app's thread, where PostgreSQL runs: 28 µs per call on this
 * machine's disk (strace), one per commit (once per batch for the webhook's group commit).
 */

/** PGlite's own start parameters, with fsync on and the WAL flushed through `fsync()`. */
export function durableStartParams(defaults: readonly string[] = PGlite.defaultStartParams): string[] {
  return [...defaults.filter((param) => param !== "-F"), "-c", "fsync=on", "-c", "wal_sync_method=fsync"];
}

interface EmscriptenStream {
  readonly nfd?: unknown;
}

/**
 * Gives NODEFS an `fsync` that reaches the disk. `onSync` runs after each one (a metric).
 * Throws when the module no longer has NODEFS where this expects it (a PGlite upgrade): the
 * embedded database then refuses to start rather than run without durable commits.
 */
export function installFsync(module: { readonly NODEFS?: unknown }, onSync: () => void = () => undefined): void {
  const nodefs = module.NODEFS;
  const ops = typeof nodefs === "object" && nodefs !== null ? (nodefs as { stream_ops?: unknown }).stream_ops : undefined;
  if (typeof ops !== "object" || ops === null) {
    throw new Error("PGlite's NODEFS file system has no stream operations where Firebreak expects them, so commits could not be made durable");
  }
  (ops as { fsync?: (stream: EmscriptenStream) => number }).fsync = (stream) => {
    // Every NODEFS stream has the real descriptor in `nfd` (directories too: PostgreSQL fsyncs
    // pg_wal after creating a segment). An error (EIO) propagates: PostgreSQL must not go on
    // as if the data were on disk.
    if (typeof stream.nfd === "number") {
      fdatasyncSync(stream.nfd);
      onSync();
    }
    return 0;
  };
}

/** PGlite's Node file system, with `fsync` installed before PostgreSQL starts (initdb included). */
class DurableNodeFS extends NodeFS {
  readonly #onSync: () => void;
  constructor(dataDir: string, onSync: () => void) {
    super(dataDir);
    this.#onSync = onSync;
  }
  override async init(pg: PGlite, opts: Parameters<NodeFS["init"]>[1]): ReturnType<NodeFS["init"]> {
    const { emscriptenOpts } = await super.init(pg, opts);
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), (module: { NODEFS?: unknown }) => installFsync(module, this.#onSync)] } };
  }
}

/** Options for `PGlite.create` that make every commit durable (see above). */
export function durablePGliteOptions(dataDir: string, onSync?: () => void): PGliteOptions {
  return { fs: new DurableNodeFS(dataDir, onSync ?? (() => undefined)), startParams: durableStartParams() };
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
