import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import { DatabaseUnavailableError } from "../lib/errors.ts";

/**
 * Who holds the embedded database's data directory: one Firebreak at a time (its lock), and a
 * PostgreSQL server left running by a Firebreak that is gone (an orphan). Used by
 * ./embedded-server.ts.
 */

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The command line of a process, where /proc has it (Linux); undefined elsewhere. */
async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}

/**
 * One Firebreak at a time per DATA_DIR: a pid file, taken with O_EXCL. A file left by a process
 * that is gone (kill -9, power loss) is taken over.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const lockFile = join(dir, "firebreak.pid");
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(lockFile, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        const owner = (await readFile(lockFile, "utf8").catch(() => "")).trim();
        if (owner === String(process.pid)) await rm(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DatabaseUnavailableError(
          `Another Firebreak process (pid ${pid}) is using the embedded database in ${dir}. Stop it, or set DATA_DIR to another directory.`,
        );
      }
      await rm(lockFile, { force: true }); // left by a process that is gone
    }
  }
  throw new DatabaseUnavailableError(`Cannot lock the data directory ${dir}`);
}

/**
 * A server left running by a Firebreak that was killed (its postmaster.pid names a live
 * `postgres` on this very directory): stop it, so that this process starts its own child.
 * A postmaster.pid whose process is gone is left to PostgreSQL, which removes it itself.
 */
export async function stopOrphan(pgData: string, logger: Logger): Promise<void> {
  const pidFile = join(pgData, "postmaster.pid");
  const first = (await readFile(pidFile, "utf8").catch(() => "")).split("\n")[0]?.trim();
  const pid = Number(first);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const cmdline = await commandLine(pid);
  if (cmdline !== undefined && !(cmdline.includes("postgres") && cmdline.includes(pgData))) {
    // The pid was reused by an unrelated process: the file is stale, and PostgreSQL would
    // refuse to start while that pid lives.
    logger.warn({ pid }, "the embedded database's postmaster.pid names an unrelated process: removing the stale file");
    await rm(pidFile, { force: true });
    return;
  }
  logger.warn({ pid }, "an embedded PostgreSQL server left running by a previous Firebreak holds the data directory: stopping it");
  process.kill(pid, "SIGINT"); // fast shutdown: in-flight transactions roll back, committed data stays
  const deadline = Date.now() + 30_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new DatabaseUnavailableError(`The PostgreSQL server (pid ${pid}) left on ${pgData} by a previous Firebreak does not stop; stop it by hand.`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

