import { readFile, readdir, readlink, stat, writeFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedServer } from "../../src/db/embedded-server.ts";
import { openDatabase } from "../../src/db/client.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually } from "../support/app.ts";
import { freePort } from "../support/net.ts";
import { sendCommand } from "../support/slack-requests.ts";
import { mainEnv, startMain, type StartedMain } from "../support/main-process.ts";

/**
 * The embedded default (src/db/embedded-server.ts): a PostgreSQL server that Firebreak runs as
 * its child on DATA_DIR. Crashes of the real entry point (kill -9), what the server listens on,
 * and who owns its files.
 */
let slack: FakeSlack;
const dirs: string[] = [];

beforeAll(async () => {
  slack = await startFakeSlack();
});

afterAll(async () => {
  await slack?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function newDataDir(name = "fb-embedded-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  dirs.push(dir);
  return dir;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the embedded server, from the line the process logs once it runs. */
function serverPid(main: StartedMain): number | undefined {
  for (const line of main.stdout().split("\n")) {
    if (!line.includes("embedded PostgreSQL server is running")) continue;
    const parsed = JSON.parse(line) as { pid?: number };
    if (typeof parsed.pid === "number") return parsed.pid;
  }
  return undefined;
}

interface Running {
  main: StartedMain;
  url: string;
  serverPid: number;
}

async function startReady(dataDir: string): Promise<Running> {
  const port = await freePort();
  const main = startMain(mainEnv(port, slack.url, dataDir));
  const url = `http://127.0.0.1:${port}`;
  const exited = main.exit.then((code) => {
    throw new Error(`Firebreak exited with ${code} before it was ready: ${main.stderr()}`);
  });
  await Promise.race([exited, eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 60_000, "Firebreak ready")]);
  const pid = serverPid(main);
  if (pid === undefined) throw new Error(`no server pid in the logs: ${main.stdout()}`);
  return { main, url, serverPid: pid };
}

/** Jobs RUNNING right now, read through the embedded server's socket while Firebreak holds the directory. */
async function runningJobs(dataDir: string): Promise<string[]> {
  const password = (await readFile(join(dataDir, "postgres.password"), "utf8")).trim();
  const client = new pg.Client({ host: join(dataDir, "postgres"), port: 5432, user: "firebreak", password, database: "firebreak" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ kind: string }>("SELECT kind FROM jobs WHERE status = 'RUNNING'");
    return rows.map((row) => row.kind);
  } finally {
    await client.end();
  }
}

async function withDatabase<T>(dataDir: string, work: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const db = await openDatabase({ kind: "embedded", dataDir, poolSize: 2 }, captureLogs().logger);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** Declares an incident and waits until its channel exists and its jobs are done. */
async function declare(running: Running, title: string, timeoutMs = 20_000): Promise<void> {
  const response = await sendCommand(running.url, `declare ${title}`);
  expect(response.status).toBe(200);
  const slug = title.toLowerCase().replaceAll(" ", "-");
  await eventually(async () => slack.channels.all().some((channel) => channel.name.endsWith(slug)), timeoutMs, `channel for ${title}`);
}

describe("crash safety", () => {
  it("kill -9 of Firebreak mid-job leaves its server running; the next start stops that orphan, takes the job over at once and has every committed incident and job", async () => {
    const dataDir = await newDataDir();
    const first = await startReady(dataDir);
    // The bookmark call hangs, so its job is RUNNING, locked for 30 s, when the process dies.
    slack.setLatency(30_000, "bookmarks.add");
    await declare(first, "Before the crash");
    // The job that calls bookmarks.add (it hangs there): any other job running now may finish before the kill.
    await eventually(async () => (await runningJobs(dataDir)).includes("incident.sync_status"), 20_000, "the bookmark's job in flight");
    first.main.child.kill("SIGKILL");
    await first.main.exit;
    slack.setLatency(0);
    // The server outlives its parent: it is an orphan on the data directory now.
    expect(isAlive(first.serverPid)).toBe(true);

    const second = await startReady(dataDir);
    try {
      expect(second.serverPid).not.toBe(first.serverPid);
      expect(isAlive(first.serverPid)).toBe(false);
      expect(second.main.stdout()).toContain("left running by a previous Firebreak");
      // Logged as the worker starts, which can be just after /readyz first answers 200.
      await eventually(async () => second.main.stdout().includes("jobs left running by a previous process are taken over"), 10_000, "the takeover logged");
      // Well before the dead worker's 30 s lock would have expired.
      await eventually(async () => slack.bookmarks.in("inc-1-before-the-crash").length > 0, 20_000, "the interrupted bookmark");
      await declare(second, "After the crash");
      expect(slack.channels.all().filter((channel) => channel.name === "inc-1-before-the-crash")).toHaveLength(1);
    } finally {
      second.main.child.kill("SIGTERM");
      expect(await second.main.exit).toBe(0);
    }
    await withDatabase(dataDir, async (db) => {
      const incidents = await db.prisma.incident.findMany({ orderBy: { number: "asc" } });
      expect(incidents.map((incident) => [incident.number, incident.title])).toEqual([
        [1, "Before the crash"],
        [2, "After the crash"],
      ]);
      const channelJobs = await db.prisma.job.findMany({ where: { kind: "incident.create_channel" }, orderBy: { id: "asc" } });
      expect(channelJobs.map((job) => job.status)).toEqual(["DONE", "DONE"]);
    });
  }, 180_000);

  it("kill -9 of Firebreak and its server together (a stale postmaster.pid): the next start recovers", async () => {
    const dataDir = await newDataDir();
    const first = await startReady(dataDir);
    await declare(first, "Power cut");
    first.main.child.kill("SIGKILL");
    process.kill(first.serverPid, "SIGKILL");
    await first.main.exit;
    await eventually(async () => !isAlive(first.serverPid), 10_000, "server gone");
    expect((await stat(join(dataDir, "postgres", "postmaster.pid"))).isFile()).toBe(true);

    const second = await startReady(dataDir);
    try {
      expect(second.serverPid).not.toBe(first.serverPid);
      const pidFile = await readFile(join(dataDir, "postgres", "postmaster.pid"), "utf8");
      expect(pidFile.split("\n")[0]).toBe(String(second.serverPid));
    } finally {
      second.main.child.kill("SIGTERM");
      expect(await second.main.exit).toBe(0);
    }
    await withDatabase(dataDir, async (db) => {
      expect((await db.prisma.incident.findMany()).map((row) => row.title)).toEqual(["Power cut"]);
    });
  }, 180_000);

  it("kill -9 of the embedded server alone: Firebreak starts it again by itself and carries on, then stops it on SIGTERM", async () => {
    const dataDir = await newDataDir();
    const running = await startReady(dataDir);
    try {
      await declare(running, "Before the server died");
      process.kill(running.serverPid, "SIGKILL");
      await eventually(async () => running.main.stdout().includes("restarted the embedded PostgreSQL server") || undefined, 30_000, "the server restarted");
      const restarted = [...running.main.stdout().matchAll(/"pid":(\d+)[^\n]*restarted the embedded PostgreSQL server/g)].map((match) => Number(match[1]));
      expect(restarted).toHaveLength(1);
      expect(restarted[0]).not.toBe(running.serverPid);
      expect(isAlive(restarted[0]!)).toBe(true);
      await eventually(async () => (await fetch(`${running.url}/readyz`)).status === 200 || undefined, 20_000, "/readyz back to 200");
      await declare(running, "After the server died");
      running.main.child.kill("SIGTERM");
      expect(await running.main.exit).toBe(0);
      expect(isAlive(restarted[0]!)).toBe(false);
    } finally {
      if (running.main.child.exitCode === null) running.main.child.kill("SIGKILL");
    }
    await withDatabase(dataDir, async (db) => {
      expect((await db.prisma.incident.findMany({ orderBy: { number: "asc" } })).map((row) => row.title)).toEqual(["Before the server died", "After the server died"]);
    });
  }, 180_000);

  it("a postmaster.pid naming some unrelated live process is stale: removed, and the server starts", async () => {
    const dataDir = await newDataDir();
    const logs = captureLogs();
    const server = await startEmbeddedServer({ dataDir, logger: logs.logger });
    await server.stop();
    // This test's own process is alive and is no postgres.
    await writeFile(join(dataDir, "postgres", "postmaster.pid"), `${process.pid}\n${join(dataDir, "postgres")}\n`);
    const again = await startEmbeddedServer({ dataDir, logger: logs.logger });
    try {
      expect(logs.text()).toContain("names an unrelated process");
      expect(isAlive(again.pid)).toBe(true);
    } finally {
      await again.stop();
    }
    expect(isAlive(again.pid)).toBe(false);
  }, 60_000);
});

/** Listening TCP sockets of a process, from /proc: `address:port` in hex as the kernel writes it. */
async function listeningTcp(pid: number): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1]) inodes.add(match[1]);
  }
  const found: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = (await readFile(table, "utf8").catch(() => "")).split("\n").slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st ... inode (field 9)
      if (fields[3] === "0A" && fields[9] !== undefined && inodes.has(fields[9]) && fields[1]) found.push(fields[1]);
    }
  }
  return found;
}

describe("network exposure", () => {
  it("listens on a Unix socket inside the data directory and on no TCP port", async () => {
    const dataDir = await newDataDir();
    const server = await startEmbeddedServer({ dataDir, logger: captureLogs().logger });
    try {
      expect(server.listening).toBe(join(dataDir, "postgres"));
      expect(new URL(server.url).searchParams.get("host")).toBe(join(dataDir, "postgres"));
      expect(await listeningTcp(server.pid)).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it("where the socket path would be too long, listens on 127.0.0.1 only", async () => {
    const dataDir = await newDataDir(`fb-embedded-${"x".repeat(90)}-`);
    const server = await startEmbeddedServer({ dataDir, logger: captureLogs().logger });
    try {
      expect(server.listening).toMatch(/^127\.0\.0\.1:\d+$/);
      const sockets = await listeningTcp(server.pid);
      expect(sockets.length).toBeGreaterThan(0);
      // 0100007F is 127.0.0.1 in the kernel's byte order; nothing on 0.0.0.0 or another address.
      for (const socket of sockets) expect(socket.split(":")[0]).toBe("0100007F");
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe("files and users", () => {
  it("keeps the password in a 0600 file and the cluster in a 0700 directory, never owned by root", async () => {
    const dataDir = await newDataDir();
    const logs = captureLogs();
    const server = await startEmbeddedServer({ dataDir, logger: logs.logger });
    try {
      const password = await stat(join(dataDir, "postgres.password"));
      expect(password.mode & 0o777).toBe(0o600);
      const cluster = await stat(join(dataDir, "postgres"));
      expect(cluster.mode & 0o777).toBe(0o700);
      if (userInfo().uid === 0) {
        // As root (CI here), the server runs as the unprivileged firebreak-pg user.
        expect(cluster.uid).not.toBe(0);
        const status = await readFile(`/proc/${server.pid}/status`, "utf8");
        const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
        expect(uid).toBe(String(cluster.uid));
        expect(logs.text()).toContain('"user":"firebreak-pg"');
      } else {
        expect(cluster.uid).toBe(userInfo().uid);
      }
      expect(new URL(server.url).password).toBe(encodeURIComponent((await readFile(join(dataDir, "postgres.password"), "utf8")).trim()));
    } finally {
      await server.stop();
    }
  }, 60_000);
});
