import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";

/** The machine a benchmark ran on, as every report records it. */
export interface MachineInfo {
  /** CPUs this process may use (nproc). */
  cpus: number;
  model: string;
  memoryGiB: number;
  node: string;
  platform: string;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    model: cpus()[0]?.model.trim() ?? "unknown CPU",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    kernel: release(),
  };
}

export const describeMachine = (machine: MachineInfo): string =>
  `${machine.cpus} CPUs (nproc), ${machine.model}, ${machine.memoryGiB.toFixed(1)} GiB memory; Node ${machine.node}; ${machine.platform}, kernel ${machine.kernel}`;

/** The machine's CPU time so far (ms, all CPUs), from /proc/stat; zeros where it cannot be read. */
export interface MachineTimes {
  busy: number;
  steal: number;
  total: number;
}

export function machineTimes(): MachineTimes {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    // cpu user nice system idle iowait irq softirq steal ...: in USER_HZ ticks (10 ms).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { busy: (user + nice + system + irq + softirq) * 10, steal: steal * 10, total: (user + nice + system + idle + iowait + irq + softirq + steal) * 10 };
  } catch {
    return { busy: 0, steal: 0, total: 0 };
  }
}

interface ProcessEntry {
  ppid: number;
  /** The executable's name (/proc/<pid>/comm): never the command line, which may carry secrets. */
  comm: string;
  /** utime + stime (ms): its own CPU time. */
  cpuMs: number;
  /**
   * cutime + cstime (ms): the CPU time of the children it has waited for (each with theirs).
   * Summing `cpuMs + childrenMs` over every process of a group at two moments and taking the
   * difference counts the group's CPU in between, children that exited meanwhile included.
   */
  childrenMs: number;
}

/** Every process visible in /proc, by pid; empty where /proc cannot be read. */
export function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    // After "(comm) ": state ppid ... utime(12th) stime cutime cstime.
    const fields = stat.slice(close + 2).split(" ");
    const own = Number(fields[11]) + Number(fields[12]);
    const children = Number(fields[13]) + Number(fields[14]);
    table.set(Number(entry), { ppid: Number(fields[1]), comm: stat.slice(open + 1, close), cpuMs: Number.isFinite(own) ? own * 10 : 0, childrenMs: Number.isFinite(children) ? children * 10 : 0 });
  }
  return table;
}

/** `root` and all its descendants in `table`. */
export function treeOf(table: ReadonlyMap<number, ProcessEntry>, root: number): Set<number> {
  const tree = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, entry] of table) {
      if (!tree.has(pid) && tree.has(entry.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * CPU time (ms) used so far by `root` and its descendants, with the children they waited for:
 * the difference of two readings is the tree's CPU in between.
 */
export function treeCpuMs(root: number, table: ReadonlyMap<number, ProcessEntry> = processTable()): number {
  let total = 0;
  for (const pid of treeOf(table, root)) {
    const entry = table.get(pid);
    total += entry ? entry.cpuMs + entry.childrenMs : 0;
  }
  return total;
}

/**
 * What the machine's CPUs did over a window, split between this benchmark (the process tree
 * of `root`: the benchmark, the app, its PostgreSQL...) and everything else: the other
 * processes visible here, by executable name, and CPU time no visible process accounts for
 * (processes of other containers on the same kernel, or that started and ended in between).
 */
export interface CpuWindow {
  seconds: number;
  /** All CPUs, % of the machine (100 % = every CPU busy). */
  busyPercent: number;
  /** Time the hypervisor gave this virtual machine's CPUs to other guests, % of the machine. */
  stealPercent: number;
  /** This benchmark's process tree, % of the machine. */
  oursPercent: number;
  /** Everything else that was busy, % of the machine. */
  othersPercent: number;
  /**
   * The busiest other visible process trees, % of the machine: each named by its topmost
   * ancestor below a shell (e.g. `npm exec vitest`), with its busiest executables. Processes that
   * exited in between are not seen here (they are in othersPercent).
   */
  topOthers: Array<{ comm: string; members: string; percent: number }>;
  /** 1-minute load average at the end. */
  load1: number;
}

export interface CpuWatch {
  stop(): CpuWindow;
}

/** Starts watching the machine's CPU time; `stop()` returns the split since. */
export function watchCpu(root: number = process.pid): CpuWatch {
  const started = performance.now();
  const machineBefore = machineTimes();
  const tableBefore = processTable();
  return {
    stop(): CpuWindow {
      const machineAfter = machineTimes();
      const tableAfter = processTable();
      const elapsed = machineAfter.total - machineBefore.total;
      const percent = (ms: number): number => (elapsed > 0 ? Math.max(0, (ms / elapsed) * 100) : Number.NaN);
      // This run's CPU: its processes' totals (children waited for included) after, minus before.
      const total = (entry: ProcessEntry): number => entry.cpuMs + entry.childrenMs;
      let oursMs = 0;
      const oursAfter = treeOf(tableAfter, root);
      for (const pid of oursAfter) oursMs += total(tableAfter.get(pid) ?? { ppid: 0, comm: "", cpuMs: 0, childrenMs: 0 });
      for (const pid of treeOf(tableBefore, root)) oursMs -= total(tableBefore.get(pid) ?? { ppid: 0, comm: "", cpuMs: 0, childrenMs: 0 });
      // Other processes: each one's own CPU in between (a process that exited meanwhile is not
      // seen; its parent's children time is not used, as it may belong to a child of another group).
      const others = new Map<string, { ms: number; members: Map<string, number> }>();
      for (const [pid, entry] of tableAfter) {
        if (oursAfter.has(pid)) continue;
        const delta = entry.cpuMs - (tableBefore.get(pid)?.cpuMs ?? 0);
        if (delta <= 0) continue;
        const group = groupOf(tableAfter, pid);
        const slot = others.get(group) ?? { ms: 0, members: new Map<string, number>() };
        slot.ms += delta;
        const name = executableName(entry.comm);
        slot.members.set(name, (slot.members.get(name) ?? 0) + delta);
        others.set(group, slot);
      }
      const busy = machineAfter.busy - machineBefore.busy;
      return {
        seconds: (performance.now() - started) / 1_000,
        busyPercent: percent(busy),
        stealPercent: percent(machineAfter.steal - machineBefore.steal),
        oursPercent: percent(oursMs),
        othersPercent: percent(Math.max(0, busy - oursMs)),
        topOthers: [...others.entries()]
          .map(([comm, slot]) => ({
            comm,
            members: [...slot.members.entries()]
              .filter(([, ms]) => ms > 0)
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([name]) => name)
              .join(", "),
            percent: percent(slot.ms),
          }))
          .filter((other) => other.percent > 0)
          .sort((a, b) => b.percent - a.percent)
          .slice(0, 6),
        load1: loadavg()[0] ?? Number.NaN,
      };
    },
  };
}

/** Node names its main thread, and so the process's comm, "MainThread". */
const executableName = (comm: string): string => (comm === "MainThread" ? "node" : comm);

const SHELLS = new Set(["bash", "sh", "dash", "zsh", "process_api", "init", "systemd", "tini", "su", "sudo", "runuser", "timeout"]);

/** The name of the topmost ancestor of `pid` below a shell or init (what started it, e.g. `npm exec vitest`). */
function groupOf(table: ReadonlyMap<number, ProcessEntry>, pid: number): string {
  let current = pid;
  for (let depth = 0; depth < 64; depth += 1) {
    const parent = table.get(current)?.ppid;
    const parentEntry = parent === undefined ? undefined : table.get(parent);
    if (parent === undefined || parent <= 1 || !parentEntry || SHELLS.has(parentEntry.comm)) break;
    current = parent;
  }
  const name = table.get(current)?.comm ?? "?";
  return name === "kthreadd" ? "the kernel's threads" : executableName(name);
}

/** The busiest other process trees, e.g. `npm exec vitest (node, postgres) 40 %`. */
export function describeOthers(window: CpuWindow, minimumPercent = 1): string {
  const visible = window.topOthers.filter((other) => other.percent >= minimumPercent);
  return visible.length === 0 ? "none visible" : visible.map((other) => `${other.comm}${other.members && other.members !== other.comm ? ` (${other.members})` : ""} ${other.percent.toFixed(0)} %`).join("; ");
}

/** One line: busy, ours, others (with the visible ones), steal, load. */
export function describeCpu(window: CpuWindow): string {
  const named = window.topOthers.some((other) => other.percent >= 1) ? ` (visible: ${describeOthers(window)})` : "";
  return `${window.seconds.toFixed(0)} s; CPUs ${window.busyPercent.toFixed(0)} % busy, of which this benchmark ${window.oursPercent.toFixed(0)} % and everything else ${window.othersPercent.toFixed(0)} %${named}; steal ${window.stealPercent.toFixed(1)} %; load average ${window.load1.toFixed(2)} at the end (100 % = all ${availableParallelism()} CPUs)`;
}
