// Which source addresses reach a pod: tcpdump inside the pod's namespace, on its eth0, incoming only, for the
// packets that open an exchange — ICMP/ICMPv6 echo requests and TCP SYNs (IPv4 and IPv6) — so a test can tell
// whether the receiving pod saw the sending pod's own address or a translated one. parseArrival is pure.
import type { NsProcess } from './exec.js';
import type { Lab } from './lab.js';

export interface Arrival {
  kind: 'echo' | 'syn';
  family: 4 | 6;
  /** Source address as it arrived (no port). */
  src: string;
  dst: string;
}

// ICMPv6 type at the first byte after a bare 40-byte IPv6 header; TCP flags at byte 13 of the TCP header.
const FILTER =
  '(icmp and icmp[icmptype] == icmp-echo) or (tcp and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or ' +
  '(ip6 and ip6[6] == 58 and ip6[40] == 128) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02)';

/** One line of `tcpdump -n -t` output → an Arrival, or null for anything else. */
export function parseArrival(line: string): Arrival | null {
  const m = /^(IP6?) (\S+) > (\S+): (.*)$/.exec(line.trim());
  if (!m) return null;
  const family = m[1] === 'IP6' ? 6 : 4;
  const rest = m[4] ?? '';
  const kind = /echo request/.test(rest) ? 'echo' : /^Flags \[S\]/.test(rest) ? 'syn' : null;
  if (!kind) return null;
  // TCP endpoints carry ".port" (IPv4 10.244.1.2.40000, IPv6 fd10::2.40000).
  const host = (s: string): string => (kind === 'syn' ? s.replace(/\.\d+$/, '') : s);
  return { kind, family, src: host(m[2] ?? ''), dst: host((m[3] ?? '').replace(/:$/, '')) };
}

export interface ArrivalCapture {
  readonly process: NsProcess;
  /** Everything parsed so far. */
  arrivals(): Arrival[];
  /** Stops tcpdump (SIGTERM) and returns every arrival it printed. */
  stop(): Promise<Arrival[]>;
}

/** Starts tcpdump on `dev` (default eth0) in namespace `ns`; resolves once it listens. Stopped by stop() or lab.destroy(). */
export async function startArrivalCapture(lab: Lab, ns: string, dev = 'eth0'): Promise<ArrivalCapture> {
  const proc = lab.spawn(ns, 'tcpdump', ['-i', dev, '-Q', 'in', '-n', '-t', '-l', '--immediate-mode', FILTER]);
  await proc.waitForOutput(/listening on /, 15_000);
  const arrivals = (): Arrival[] =>
    proc
      .stdout()
      .split('\n')
      .map(parseArrival)
      .filter((a): a is Arrival => a !== null);
  return {
    process: proc,
    arrivals,
    stop: async () => {
      await proc.stop('SIGTERM', 3_000);
      return arrivals();
    },
  };
}
