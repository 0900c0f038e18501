// A packet capture for tests, without tcpdump: python3 reads every frame on every interface of a
// namespace (AF_PACKET, ETH_P_ALL) and reports each occurrence of marker tokens (`MARKER` followed
// by [A-Za-z0-9_-]*) in any frame. It also binds a UDP port and discards what arrives there, so
// test datagrams to that port cause no ICMP errors.
import type { NsProcess } from './exec.js';
import type { Lab } from './lab.js';

const CAPTURE = `
import os, re, select, signal, socket, sys
marker, port = sys.argv[1].encode(), int(sys.argv[2])
pattern = re.compile(re.escape(marker) + rb'[A-Za-z0-9_-]*')
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(('0.0.0.0', port))
sink6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sink6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
sink6.bind(('::', port))
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
print('ready', flush=True)
while True:
    for s in select.select([cap, sink, sink6], [], [])[0]:
        data, addr = s.recvfrom(65536)
        if s is cap and addr[2] != socket.PACKET_OUTGOING:
            for m in pattern.findall(data):
                print('seen ' + addr[0] + ' ' + m.decode(), flush=True)
`;

export interface PayloadCapture {
  readonly process: NsProcess;
  /** Tokens seen so far (each arrival once per interface it crossed, as `iface token`). */
  seen(): { iface: string; token: string }[];
  /** Resolves once `token` has been seen, or rejects after timeoutMs. */
  waitFor(token: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts capturing in `ns` (root); resolves once the capture socket is open. */
export async function startPayloadCapture(
  lab: Lab,
  ns: string,
  marker: string,
  sinkPort: number,
): Promise<PayloadCapture> {
  if (!/^[A-Za-z0-9_-]{4,}$/.test(marker)) throw new Error(`capture marker must be 4+ of [A-Za-z0-9_-], got ${marker}`);
  const proc = lab.spawn(ns, 'python3', ['-u', '-c', CAPTURE, marker, String(sinkPort)]);
  await proc.waitForOutput(/^ready$/m, 10_000);
  const seen = () =>
    proc
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('seen '))
      .map((l) => {
        const [, iface = '', token = ''] = l.split(' ');
        return { iface, token };
      });
  return {
    process: proc,
    seen,
    waitFor: async (token, timeoutMs = 5_000) => {
      const esc = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      await proc.waitForOutput(new RegExp(`^seen \\S+ ${esc}$`, 'm'), timeoutMs);
    },
    stop: async () => {
      await proc.stop('SIGTERM', 2_000);
    },
  };
}
