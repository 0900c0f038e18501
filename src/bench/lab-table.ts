// The text `vxtun bench lab` (and `npm run bench:e2e`) prints on stdout: a header line, the markdown table and the
// comparison lines. Pure. Scripts and the README's Performance tables read this output: its columns, their order
// and number formats are a contract (README "Performance"), so change it only together with them.
import { PING_COUNT, PING_INTERVAL_S, PING_SETTLE_MS, type LabResults, type LabRow } from './lab-results.js';

/** x with d decimals, or '-' for NaN/∞ (a ratio without its kernel row, a CPU figure a kernel setup has not). */
const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

export const TABLE_HEADER =
  '| setup | TCP 1 stream Gbit/s | ×kernel | TCP 4 streams Gbit/s | ×kernel | UDP 64 B kpps | ×kernel | ping RTT ms | daemon CPU s/GB | machine CPU s/GB | idle | kernel ÷ cost |';

function tableRow(r: LabRow): string {
  return (
    `| ${r.setup} | ${f(r.tcp1)} | ${f(r.tcp1VsKernel)} | ${f(r.tcp4)} | ${f(r.tcp4VsKernel)} | ${f(r.udp64 / 1e3, 0)} | ${f(r.udp64VsKernel)} | ${f(r.rttMs, 3)} | ` +
    `${f(r.cpuPerGB, 2)} | ${f(r.machinePerGB, 2)} | ${f(r.idleShare * 100, 0)} % | ${f(r.costVsKernel)} |`
  );
}

/** The whole report as lines (no trailing newline on each). */
export function labTable(res: LabResults): string[] {
  const out: string[] = [];
  const { machine } = res;
  out.push(
    `vxtun bench:e2e — ${res.rounds} interleaved rounds × ${res.seconds} s, medians; ${machine.cpus} CPUs (${machine.cpuModel}), Linux ${machine.kernel}, ${res.date}`,
  );
  if (res.offloads) out.push(`vxtun offloads in use: ${JSON.stringify(res.offloads)}`);
  if (res.offloads6) out.push(`vxtun offloads in use over the IPv6 underlay: ${JSON.stringify(res.offloads6)}`);
  out.push('');
  out.push(TABLE_HEADER);
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of res.rows) out.push(tableRow(r));
  out.push('');
  out.push(
    `ping RTT: the median of ${PING_COUNT} pings ${PING_INTERVAL_S * 1000} ms apart, ${PING_SETTLE_MS / 1000} s after the UDP test. ` +
      "machine CPU s/GB: busy seconds of all CPUs together per GB, during the 1-stream TCP test (steal excluded); idle: the CPUs' idle share then. " +
      "kernel ÷ cost: kernel VXLAN's machine CPU per GB over the setup's, the throughput ratio its cost per byte allows when the CPUs are the limit (idle ≈ 0). " +
      '×kernel and kernel ÷ cost compare kernel6 and native6 (IPv6-only underlay) with kernel6, every other row with kernel.',
  );
  const row = (n: string) => res.rows.find((r) => r.setup === n);
  const v4 = row('native');
  const v6 = row('native6');
  if (v4 && v6) {
    const within = (a: number, b: number) => (Math.abs(a / b - 1) <= 0.1 ? 'within 10 %' : 'NOT within 10 %');
    out.push('');
    out.push(
      `vxtun ÷ kernel VXLAN, IPv6 underlay (native6 ÷ kernel6) beside IPv4 (native ÷ kernel): ` +
        `TCP 1 stream ${f(v6.tcp1VsKernel)} vs ${f(v4.tcp1VsKernel)} (${within(v6.tcp1VsKernel, v4.tcp1VsKernel)}), ` +
        `TCP 4 streams ${f(v6.tcp4VsKernel)} vs ${f(v4.tcp4VsKernel)} (${within(v6.tcp4VsKernel, v4.tcp4VsKernel)}), ` +
        `UDP 64 B ${f(v6.udp64VsKernel)} vs ${f(v4.udp64VsKernel)}, kernel ÷ cost ${f(v6.costVsKernel)} vs ${f(v4.costVsKernel)}`,
    );
  }
  // The floor comparisons, as one block.
  const floor = row('floor');
  const vx = row('floor-vxlan');
  const iov = row('floor-iov');
  const cmp: string[] = [];
  if (floor && v4)
    cmp.push(
      `native ÷ floor: TCP 1 stream ${f(v4.tcp1 / floor.tcp1)}, TCP 4 streams ${f(v4.tcp4 / floor.tcp4)}, UDP 64 B ${f(v4.udp64 / floor.udp64)}`,
    );
  if (floor && vx)
    cmp.push(
      `floor-vxlan ÷ floor (what valid VXLAN costs): TCP 1 stream ${f(vx.tcp1 / floor.tcp1)}, TCP 4 streams ${f(vx.tcp4 / floor.tcp4)}, CPU s/GB ${f(vx.cpuPerGB / floor.cpuPerGB)}`,
    );
  if (vx && v4)
    cmp.push(
      `native ÷ floor-vxlan: TCP 1 stream ${f(v4.tcp1 / vx.tcp1)}, TCP 4 streams ${f(v4.tcp4 / vx.tcp4)}, UDP 64 B ${f(v4.udp64 / vx.udp64)}`,
    );
  if (floor && iov)
    cmp.push(
      `floor-iov ÷ floor (the cost of gathering): TCP 1 stream ${f(iov.tcp1 / floor.tcp1)}, TCP 4 streams ${f(iov.tcp4 / floor.tcp4)}, CPU s/GB ${f(iov.cpuPerGB / floor.cpuPerGB)}`,
    );
  if (cmp.length) out.push('', ...cmp);
  return out;
}
