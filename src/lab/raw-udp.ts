// Crafted UDP datagrams for the testbed: IPv4/UDP and IPv6/UDP packets built byte by byte (any source address,
// checksums computed here, or a zero UDP checksum on request), and senders that put them on the wire from inside a
// lab namespace through a raw socket (IPPROTO_RAW, which implies IP_HDRINCL on IPv4 and IPV6_HDRINCL on IPv6), so
// the outer source can be spoofed. Root only; the sending is done by a few lines of python3 (node has no raw
// sockets).
import { internetChecksum } from '../dataplane/codec.js';
import { formatIP, parseIP } from '../net/ip.js';
import type { Lab } from './lab.js';

function v4(addr: string): Uint8Array {
  const ip = parseIP(addr);
  if (!ip || ip.family !== 4) throw new Error(`expected an IPv4 address, got ${addr}`);
  return ip.bytes;
}

function v6(addr: string): Uint8Array {
  const ip = parseIP(addr);
  if (!ip || ip.family !== 6) throw new Error(`expected an IPv6 address, got ${addr}`);
  return ip.bytes;
}

export interface UdpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
}

/**
 * The UDP header + payload with its checksum over `pseudo` (the pseudo-header bytes); with `zeroChecksum` the field
 * is 0 ("no checksum": allowed on IPv4, on IPv6 only where RFC 6935/6936 conditions hold).
 */
function udpSegment(spec: UdpSpec, pseudo: Uint8Array, zeroChecksum = false): Uint8Array {
  const len = 8 + spec.payload.length;
  const udp = new Uint8Array(len);
  const dv = new DataView(udp.buffer);
  dv.setUint16(0, spec.sport);
  dv.setUint16(2, spec.dport);
  dv.setUint16(4, len);
  udp.set(spec.payload, 8);
  const sum = new Uint8Array(pseudo.length + len);
  sum.set(pseudo);
  sum.set(udp, pseudo.length);
  dv.setUint16(6, zeroChecksum ? 0 : internetChecksum(sum) || 0xffff);
  return udp;
}

/** An IPv4 packet carrying one UDP datagram, with valid header and UDP checksums. */
export function ipv4Udp(spec: UdpSpec, opts: { ttl?: number; id?: number } = {}): Uint8Array {
  const src = v4(spec.src);
  const dst = v4(spec.dst);
  const l4len = 8 + spec.payload.length;
  const pseudo = new Uint8Array(12);
  pseudo.set(src, 0);
  pseudo.set(dst, 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, l4len);
  const udp = udpSegment(spec, pseudo);
  const p = new Uint8Array(20 + udp.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  dv.setUint16(4, opts.id ?? 1);
  dv.setUint16(6, 0x4000); // DF
  p[8] = opts.ttl ?? 64;
  p[9] = 17;
  p.set(src, 12);
  p.set(dst, 16);
  dv.setUint16(10, internetChecksum(p.subarray(0, 20)));
  p.set(udp, 20);
  return p;
}

/** An IPv6 packet carrying one UDP datagram, with a valid UDP checksum (or, with `zeroChecksum`, a zero one). */
export function ipv6Udp(spec: UdpSpec, opts: { hopLimit?: number; zeroChecksum?: boolean } = {}): Uint8Array {
  const src = v6(spec.src);
  const dst = v6(spec.dst);
  const l4len = 8 + spec.payload.length;
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  new DataView(pseudo.buffer).setUint32(32, l4len);
  pseudo[39] = 17;
  const udp = udpSegment(spec, pseudo, opts.zeroChecksum);
  const p = new Uint8Array(40 + udp.length);
  p[0] = 0x60;
  new DataView(p.buffer).setUint16(4, udp.length);
  p[6] = 17;
  p[7] = opts.hopLimit ?? 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(udp, 40);
  return p;
}

// Reads "DST HEX" lines and sends each packet as it is (IPv4: the kernel fills in only the header checksum and,
// when zero, the ID; IPv6: nothing, the header has no checksum); prints the number sent. argv[1] is the family.
const SENDER = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
n = 0
for line in sys.stdin:
    dst, data = line.split()
    s.sendto(bytes.fromhex(data), (dst, 0))
    n += 1
print(n)
`;

/**
 * Sends complete IPv4 packets (from ipv4Udp, with any source address) from namespace `ns` through a raw socket.
 * Resolves with the number sent.
 */
export async function sendRawIpv4(lab: Lab, ns: string, packets: readonly Uint8Array[]): Promise<number> {
  const lines = packets.map((p) => {
    if (p.length < 20 || p[0]! >> 4 !== 4) throw new Error('sendRawIpv4: not an IPv4 packet');
    return `${p[16]}.${p[17]}.${p[18]}.${p[19]} ${Buffer.from(p).toString('hex')}\n`;
  });
  return sendRaw(lab, ns, 4, lines, 'sendRawIpv4');
}

/**
 * Sends complete IPv6 packets (from ipv6Udp, with any source address and the UDP checksum as built) from namespace
 * `ns` through a raw socket. Resolves with the number sent.
 */
export async function sendRawIpv6(lab: Lab, ns: string, packets: readonly Uint8Array[]): Promise<number> {
  const lines = packets.map((p) => {
    if (p.length < 40 || p[0]! >> 4 !== 6) throw new Error('sendRawIpv6: not an IPv6 packet');
    const dst = formatIP(p.subarray(24, 40));
    return `${dst} ${Buffer.from(p).toString('hex')}\n`;
  });
  return sendRaw(lab, ns, 6, lines, 'sendRawIpv6');
}

async function sendRaw(lab: Lab, ns: string, family: 4 | 6, lines: string[], what: string): Promise<number> {
  const r = await lab.exec(ns, 'python3', ['-c', SENDER, String(family)], { input: lines.join('') });
  const n = Number(r.stdout.trim());
  if (n !== lines.length) throw new Error(`${what}: sent ${r.stdout.trim()} of ${lines.length}: ${r.stderr.trim()}`);
  return n;
}
