// The text `vxtun bench latency` (and `npm run bench:latency`) prints on stdout: a header line, the split of a
// round trip per setup and the time in each system call, medians in µs (the parts are explained in latency-run.ts).
// Pure.
import { median } from './lab-results.js';
import type { LatencyResults } from './latency-run.js';
import type { Split } from './latency-trace.js';

const us = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');

export function latencyTable(res: LatencyResults): string[] {
  const m = res.machine;
  const out = [
    `vxtun bench latency — ${res.rounds} interleaved rounds × ${res.count} pings every ${res.intervalS} s, medians in µs; ` +
      `${m.cpus} CPUs (${m.cpuModel}), Linux ${m.kernel}`,
    '',
    '| setup | round trips | RTT | dataplane wake-up → on CPU | dataplane syscalls | dataplane user | other |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const rows = Object.entries(res.splits);
  for (const [name, xs] of rows) {
    const med = (f: (x: Split) => number) => us(median(xs.map(f)));
    out.push(
      `| ${name} | ${xs.length} | ${med((x) => x.rtt)} | ${med((x) => x.wake)} | ${med((x) => x.syscalls)} | ` +
        `${med((x) => x.user)} | ${med((x) => x.rtt - x.wake - x.syscalls - x.user)} |`,
    );
  }
  const names = [...new Set(rows.flatMap(([, xs]) => xs.flatMap((x) => Object.keys(x.calls))))].sort();
  out.push('', "Time in each system call per round trip (all the dataplane's threads), median µs:", '');
  out.push(`| setup | ${names.join(' | ')} |`, `| --- | ${names.map(() => '---').join(' | ')} |`);
  for (const [name, xs] of rows)
    out.push(`| ${name} | ${names.map((n) => us(median(xs.map((x) => x.calls[n] ?? 0)))).join(' | ')} |`);
  return out;
}
