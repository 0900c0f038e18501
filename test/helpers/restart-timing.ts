// Timing a vxtun restart under ping (test/integration/crash-safety.test.ts, restart-kube.test.ts): the replies of
// `ping -D`, the median of the outages, and the daemon's own timeline of its start from its log's timestamps.
import { loadavg } from 'node:os';
import { processCpuSeconds, type NsProcess } from '../../src/lab/index.js';

/** The times (ms since the epoch) of the replies in `ping -D` output: `[<unix seconds>] 64 bytes from …`. */
export const replyTimes = (out: string): number[] =>
  [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from /gm)].map((m) => Number(m[1]) * 1000);

/**
 * Waits until `p` (a `ping -D` running) prints a reply stamped at or after `since` (ms since the epoch); resolves
 * with its time. Only the output not yet looked at is scanned, so a long-running ping costs nothing here.
 */
export async function firstReplyAfter(p: NsProcess, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  for (;;) {
    const out = p.stdout();
    const from = out.lastIndexOf('\n', Math.min(seen, out.length) - 1) + 1; // the line cut last time, whole
    const at = replyTimes(out.slice(from)).find((x) => x >= since);
    if (at !== undefined) return at;
    seen = out.length;
    if (Date.now() > deadline)
      throw new Error(`no reply within ${timeoutMs} ms; ping output tail:\n${out.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The lower median (an element of `xs`); NaN when empty. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};

/** The start's milestones in the daemon's log (src/cli.ts stamps each line with an ISO time). */
const MILESTONES: [string, RegExp][] = [
  ['first line', /^\S+Z /],
  ['list', / info node list received /],
  ['up', / info dataplane up /],
  ['ready', / info ready /],
];

/**
 * "list +812 ms (in 270 ms), up +1190 ms, ready +1240 ms, cpu 1.62 s, load 3.1": each milestone the daemon has
 * logged, in ms after `execAt`, the CPU time it has used so far (call it at ready: the start's CPU cost, whatever
 * else the machine runs) and the machine's 1-minute load average.
 */
export function startTimeline(p: NsProcess, execAt: number): string {
  const lines = p.stderr().split('\n');
  const parts: string[] = [];
  for (const [name, re] of MILESTONES) {
    const line = lines.find((l) => re.test(l));
    const at = line === undefined ? NaN : Date.parse(line.split(' ')[0] ?? '');
    const took = / ms=(\d+)/.exec(line ?? '')?.[1];
    if (Number.isFinite(at)) parts.push(`${name} +${Math.round(at - execAt)} ms${took ? ` (in ${took} ms)` : ''}`);
  }
  if (p.running()) parts.push(`cpu ${processCpuSeconds(p.pid).toFixed(2)} s`);
  parts.push(`load ${loadavg()[0]!.toFixed(1)}`);
  return parts.join(', ');
}
