// CPU time accounting for benchmarks: the whole machine's (/proc/stat) and one process's (/proc/PID/stat).
// Benchmarks divide these by the bytes moved: on a machine whose CPUs are saturated, throughput is
// (CPUs ÷ machine CPU seconds per byte), so the cost per byte explains a throughput ratio.
// Parsing is pure (test/unit/cpu-time.test.ts); the readers are thin.
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of every time in /proc/stat and /proc/PID/stat on Linux. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The machine's CPU time so far, in ticks, summed over all CPUs. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq: work done by this machine (guest time is inside user). */
  busy: number;
  /** idle + iowait. */
  idle: number;
  /** Time the hypervisor ran something else while this machine wanted to run. */
  steal: number;
}

/**
 * The aggregate "cpu" line of /proc/stat. Kernels before 2.6.11 have no steal column: 0 then.
 * Returns undefined when the line is missing or has fewer than the 7 columns every 2.6 kernel has.
 */
export function parseMachineCpu(text: string): MachineCpu | undefined {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return undefined;
  const cols = line.trim().split(/\s+/).slice(1);
  if (cols.length < 7 || cols.some((c) => !/^\d+$/.test(c))) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = cols.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number?,
  ];
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

/** CPU seconds a process has used (utime + stime) from its /proc/PID/stat text; the name may hold ") " and spaces. */
export function parseProcessCpuSeconds(text: string): number | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const utime = fields[11],
    stime = fields[12];
  if (utime === undefined || stime === undefined || !/^\d+$/.test(utime) || !/^\d+$/.test(stime)) return undefined;
  return (Number(utime) + Number(stime)) / CLOCK_TICKS_PER_SECOND;
}

export function readMachineCpu(): MachineCpu {
  const m = parseMachineCpu(readFileSync('/proc/stat', 'utf8'));
  if (!m) throw new Error('/proc/stat has no aggregate cpu line');
  return m;
}

/** CPU seconds used so far by a live process. */
export function processCpuSeconds(pid: number): number {
  const s = parseProcessCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (s === undefined) throw new Error(`/proc/${pid}/stat: unexpected layout`);
  return s;
}

/** What the machine did between two readings. */
export interface MachineCpuDelta {
  /** Busy CPU seconds, all CPUs together. */
  busySeconds: number;
  /** Share of the time this machine could run (busy + idle) that it spent idle: ≈ 0 means CPU-bound. */
  idleShare: number;
  /** Share of all time the hypervisor gave to others. */
  stealShare: number;
}

export function machineCpuDelta(a: MachineCpu, b: MachineCpu): MachineCpuDelta {
  const busy = b.busy - a.busy,
    idle = b.idle - a.idle,
    steal = b.steal - a.steal;
  return {
    busySeconds: busy / CLOCK_TICKS_PER_SECOND,
    idleShare: busy + idle > 0 ? idle / (busy + idle) : 0,
    stealShare: busy + idle + steal > 0 ? steal / (busy + idle + steal) : 0,
  };
}
