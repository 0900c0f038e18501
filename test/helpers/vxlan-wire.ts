// What a lab node's underlay carries, byte for byte: tcpdump's hex of the first 16 VXLAN datagrams over 1,000 bytes
// that node i sends (`out`) or receives (`in`) on its underlay port, each from its VXLAN header on (after Ethernet 14,
// outer IPv4 20 and UDP 8 bytes). A send is captured as its whole UDP GSO message, so only its first datagram's bytes
// show.
import type { Lab } from '../../src/lab/index.js';

/** Each datagram's first `bytes` bytes from its VXLAN header on (VXLAN 8, inner Ethernet 14, the inner packet). */
export async function vxlanWire(
  lab: Lab,
  i: number,
  dir: 'in' | 'out',
  run: () => Promise<void>,
  bytes = 8,
): Promise<number[][]> {
  const args = ['-i', 'eth0', '-n', '-tt', '-l', '-xx', '-s', String(42 + bytes), '-c', '16', '-Q', dir];
  const proc = lab.spawn(lab.nodeNs(i), 'tcpdump', [...args, 'udp port 8472 and greater 1000']);
  await proc.waitForOutput(/listening on /, 15_000);
  await run();
  await proc.stop('SIGTERM', 3_000);
  const packets: number[][] = [];
  for (const line of proc.stdout().split('\n')) {
    const hex = /^\s+0x([0-9a-f]{4}):\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (!hex) {
      // a packet's first line (-tt) starts each packet; tcpdump's own decoding of port 8472 (as OTV) adds lines
      if (/^\d+\.\d+ /.test(line)) packets.push([]);
      continue;
    }
    const hexBytes = (hex[2] ?? '').replace(/\s/g, '').match(/../g) ?? [];
    packets.at(-1)?.push(...hexBytes.map((b) => parseInt(b, 16)));
  }
  return packets.filter((p) => p.length >= 42 + bytes).map((p) => p.slice(42, 42 + bytes));
}
