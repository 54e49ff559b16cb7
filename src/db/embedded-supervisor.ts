import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../lib/logger.ts";

/**
 * The running embedded PostgreSQL server's lifecycle: launching the postgres process (its
 * output logged), watching it, restarting it with backoff when it exits on its own, and stopping
 * it. Knows nothing of clusters, passwords or connections: ./embedded-server.ts, which does the
 * first start, gives it the command line and the test of readiness.
 */
export interface SupervisorOptions {
  /** The postgres binary and its arguments (cluster, port, settings). */
  readonly command: string;
  readonly args: readonly string[];
  /** The server's environment. */
  readonly env: NodeJS.ProcessEnv;
  /** The user the server runs as, when not Firebreak's own. */
  readonly user: { readonly uid: number; readonly gid: number } | undefined;
  /** The server's own log (its output, its exits and restarts). */
  readonly log: Logger;
  /**
   * Resolves once a launched server accepts connections; rejects when it does not (it is then
   * killed). `exited` resolves when the process exits; `output` is its last lines of output.
   */
  readonly ready: (child: ChildProcess, exited: Promise<void>, output: () => string) => Promise<void>;
}

export interface Supervisor {
  /** The server process running now (another one after a restart). */
  readonly pid: number;
  /** Resolves when the server process running now has exited, however it ended. */
  readonly exited: Promise<void>;
  /** Starts restarting the server whenever it exits on its own, until stopped. */
  supervise(): void;
  /** Immediate shutdown (SIGQUIT), for a server that never went into service. */
  abort(): Promise<void>;
  /** Fast shutdown (SIGINT: sessions end, a checkpoint is written); immediate after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

/** Launches the server, waits until it is ready, and returns what supervises it from then on. */
export async function startSupervisor(options: SupervisorOptions): Promise<Supervisor> {
  const { log } = options;
  let stopping = false;

  /** Runs the server and waits until it accepts connections. */
  async function launch(): Promise<Running> {
    const child = spawn(options.command, options.args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env,
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });
    const recent: string[] = [];
    const onOutput = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        recent.push(line);
        if (recent.length > 20) recent.shift();
        if (/^(PANIC|FATAL|ERROR|WARNING):/.test(line) && !line.includes("the database system is starting up")) log.warn({ server: line }, "embedded PostgreSQL");
        else log.debug({ server: line }, "embedded PostgreSQL");
      }
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    const exited = new Promise<void>((done) => {
      child.once("exit", (code, signal) => {
        if (!stopping) log.error({ code, signal, last: recent.slice(-5) }, "the embedded PostgreSQL server exited unexpectedly");
        done();
      });
      child.once("error", (error) => {
        log.error({ err: error }, "could not run the embedded PostgreSQL server");
        done();
      });
    });
    try {
      await options.ready(child, exited, () => recent.slice(-5).join(" | "));
    } catch (error) {
      child.kill("SIGQUIT");
      await exited;
      throw error;
    }
    return { child, exited };
  }

  let current = await launch();

  /**
   * The server is Firebreak's child: when it dies (killed by the OOM killer, a crash), it is
   * started again on the same files, after 1 s and then up to 30 s between attempts, so that
   * service resumes by itself (PostgreSQL recovers from its write-ahead log); requests get
   * 503 or the polite Slack answer meanwhile, as with any database that is away.
   */
  function supervise(running: Running): void {
    void running.exited.then(async () => {
      for (let delay = 1_000; !stopping; delay = Math.min(30_000, delay * 2)) {
        await new Promise((done) => setTimeout(done, delay));
        if (stopping) return;
        try {
          current = await launch();
          if (stopping) {
            current.child.kill("SIGINT");
            return;
          }
          log.warn({ pid: current.child.pid }, "restarted the embedded PostgreSQL server");
          supervise(current);
          return;
        } catch (error) {
          log.error({ err: error, retryInMs: Math.min(30_000, delay * 2) }, "could not restart the embedded PostgreSQL server");
        }
      }
    });
  }

  return {
    get pid() {
      return current.child.pid ?? 0;
    },
    get exited() {
      return current.exited;
    },
    supervise() {
      supervise(current);
    },
    async abort() {
      stopping = true;
      current.child.kill("SIGQUIT");
      await current.exited;
    },
    async stop(timeoutMs) {
      stopping = true;
      const { child, exited } = current;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGQUIT"), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
