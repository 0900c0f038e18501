// The few facts about an inner IP packet that `vxtun dump` filters on and prints: addresses,
// protocol, ports. Pure; tolerant of truncated packets (snap length) and garbage (drops).
import { formatIP } from '../net/ip.js';

export interface PacketSummary {
  family: 4 | 6 | 0;
  /** Raw address bytes (4 or 16), empty when the packet is not IP. */
  src: Uint8Array;
  dst: Uint8Array;
  /** IPv4 protocol / IPv6 next header (extension headers are not followed); -1 when unknown. */
  proto: number;
  /** TCP/UDP ports, when present in the captured bytes. */
  sport?: number;
  dport?: number;
  /** ICMP / ICMPv6 type. */
  icmpType?: number;
  /** TCP flags byte. */
  tcpFlags?: number;
}

export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmp6: 58 } as const;

const EMPTY = new Uint8Array(0);

export function summarizePacket(p: Uint8Array): PacketSummary {
  const v = p.length > 0 ? p[0]! >> 4 : 0;
  let l4 = 0;
  let s: PacketSummary;
  if (v === 4 && p.length >= 20) {
    l4 = (p[0]! & 0x0f) * 4;
    s = { family: 4, src: p.subarray(12, 16), dst: p.subarray(16, 20), proto: p[9]! };
    // Only the first fragment carries the transport header.
    if (((p[6]! & 0x1f) << 8) | p[7]!) return s;
  } else if (v === 6 && p.length >= 40) {
    l4 = 40;
    s = { family: 6, src: p.subarray(8, 24), dst: p.subarray(24, 40), proto: p[6]! };
  } else {
    return { family: 0, src: EMPTY, dst: EMPTY, proto: -1 };
  }
  if ((s.proto === PROTO.tcp || s.proto === PROTO.udp) && p.length >= l4 + 4) {
    s.sport = (p[l4]! << 8) | p[l4 + 1]!;
    s.dport = (p[l4 + 2]! << 8) | p[l4 + 3]!;
    if (s.proto === PROTO.tcp && p.length >= l4 + 14) s.tcpFlags = p[l4 + 13]!;
  } else if ((s.proto === PROTO.icmp || s.proto === PROTO.icmp6) && p.length > l4) {
    s.icmpType = p[l4]!;
  }
  return s;
}

const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMP6' };

/** "10.244.1.2.40000 > 10.244.2.2.5201: TCP [S]" — the address part of a tcpdump-like line. */
export function describePacket(s: PacketSummary): string {
  if (s.family === 0) return 'non-IP';
  const ep = (a: Uint8Array, port?: number) => (port === undefined ? formatIP(a) : `${formatIP(a)}.${port}`);
  let what = PROTO_NAMES[s.proto] ?? `proto ${s.proto}`;
  if (s.icmpType !== undefined) {
    const names: Record<number, string> =
      s.proto === PROTO.icmp ? { 0: 'echo reply', 8: 'echo request' } : { 128: 'echo request', 129: 'echo reply' };
    what += ` ${names[s.icmpType] ?? `type ${s.icmpType}`}`;
  }
  if (s.tcpFlags !== undefined) {
    const f = s.tcpFlags;
    const flags = [
      [0x02, 'S'],
      [0x01, 'F'],
      [0x04, 'R'],
      [0x08, 'P'],
      [0x10, '.'],
    ] as const;
    what += ` [${flags
      .filter(([b]) => f & b)
      .map(([, c]) => c)
      .join('')}]`;
  }
  return `${ep(s.src, s.sport)} > ${ep(s.dst, s.dport)}: ${what}`;
}
