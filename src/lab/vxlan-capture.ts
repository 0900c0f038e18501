// Which underlay family carried which inner packets: tcpdump in the lab's underlay namespace, on every bridge port,
// incoming only (so each frame once, as it leaves its sender), decoding UDP to the VXLAN port as VXLAN. Each record
// is one VXLAN datagram: its outer family and addresses and its inner packet's. A test checks with it that inner
// IPv4 rode the IPv4 underlay and inner IPv6 the IPv6 one (or whatever the endpoint choice says). parseVxlanDump
// and tallyVxlan are pure.
import type { NsProcess } from './exec.js';
import type { Lab } from './lab.js';
import type { Family } from './lab-options.js';

export interface VxlanRecord {
  /** The bridge port the datagram came in by (`n<i>` for node i). */
  port: string;
  outer: Family;
  outerSrc: string;
  outerDst: string;
  /** The inner packet's family; undefined when it is not IP (nothing of the sort is expected in the lab). */
  inner: Family | undefined;
  innerSrc: string;
  innerDst: string;
}

// tcpdump -i any -n -t -T vxlan prints a datagram as two lines:
//   n1    P   IP6 fd99::1.54494 > fd99::2.8472: VXLAN, flags [I] (0x08), vni 1
//   IP6 fd10:244:0:1::2 > fd10:244:0:2::2: ICMP6, echo request, id 25734, seq 1, length 64
const OUTER = /^(\S+)\s+\S+\s+(IP6?) (\S+)\.\d+ > (\S+)\.\d+: VXLAN\b/;
const INNER = /^(IP6?) (\S+) > (\S+?):? /;

/** An inner endpoint without its port: a.b.c.d[.port] or v6addr[.port]. */
function host(family: Family, text: string): string {
  return family === 4 ? text.split('.').slice(0, 4).join('.') : text.replace(/\.\d+$/, '');
}

/** tcpdump's output (see above) → one record per VXLAN datagram. Lines of anything else are skipped. */
export function parseVxlanDump(text: string): VxlanRecord[] {
  const out: VxlanRecord[] = [];
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const o = OUTER.exec(lines[k] ?? '');
    if (!o) continue;
    const outer: Family = o[2] === 'IP6' ? 6 : 4;
    const rec: VxlanRecord = {
      port: o[1]!,
      outer,
      outerSrc: o[3]!,
      outerDst: o[4]!,
      inner: undefined,
      innerSrc: '',
      innerDst: '',
    };
    const i = INNER.exec(lines[k + 1] ?? '');
    if (i) {
      const inner: Family = i[1] === 'IP6' ? 6 : 4;
      Object.assign(rec, { inner, innerSrc: host(inner, i[2]!), innerDst: host(inner, i[3]!) });
      k++;
    }
    out.push(rec);
  }
  return out;
}

/** How the datagrams of one inner flow (inner family, source, destination) travelled: `outer src > dst` → count. */
export function tallyVxlan(
  records: readonly VxlanRecord[],
  inner: Family,
  src: string,
  dst: string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    if (r.inner !== inner || r.innerSrc !== src || r.innerDst !== dst) continue;
    const k = `IPv${r.outer} ${r.outerSrc} > ${r.outerDst}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

export interface VxlanCapture {
  readonly process: NsProcess;
  records(): VxlanRecord[];
  /** Stops tcpdump (SIGTERM) and returns every record it printed. */
  stop(): Promise<VxlanRecord[]>;
}

/**
 * Starts tcpdump in the lab's underlay namespace (all ports, incoming, UDP port `port` decoded as VXLAN, headers
 * only); resolves once it listens. Meant for light traffic (pings): every datagram is a line of output. Stopped by
 * stop() or lab.destroy().
 */
export async function startVxlanCapture(lab: Lab, port = 8472): Promise<VxlanCapture> {
  const args = ['-i', 'any', '-Q', 'in', '-n', '-t', '-l', '--immediate-mode', '-s', '256', '-T', 'vxlan'];
  const proc = lab.spawn(lab.underlayNs, 'tcpdump', [...args, `udp dst port ${port}`]);
  await proc.waitForOutput(/listening on /, 15_000);
  const records = (): VxlanRecord[] => parseVxlanDump(proc.stdout());
  return {
    process: proc,
    records,
    stop: async () => {
      await proc.stop('SIGTERM', 3_000);
      return records();
    },
  };
}
