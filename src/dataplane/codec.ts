// The REFERENCE codec: VXLAN encapsulation and the transmit/receive checks, written to be slow and obviously correct.
// The native addon implements the same rules fast and is differential-tested against this file on random packets,
// so every rule below is part of the contract (README "Receive-side rules"); change both together.
//
// Datagram layout (the UDP payload), ENCAP_PREFIX = 22 bytes before the inner IP packet:
//   0      flags 0x08 (I bit), then 3 reserved bytes, all zero
//   4..6   VNI, big-endian
//   7      reserved, zero
//   8..13  inner Ethernet destination MAC (the receiver's VTEP MAC)
//   14..19 inner Ethernet source MAC (the sender's VTEP MAC)
//   20..21 ethertype 0x0800 (IPv4) or 0x86dd (IPv6)
//   22..   the inner IP packet

import type { Cidr } from '../net/cidr.js';
import type { Peer } from '../peers/peer.js';
import { ipEquals, type IP } from '../net/ip.js';

export const VXLAN_HEADER = 8;
export const ETH_HEADER = 14;
export const ENCAP_PREFIX = VXLAN_HEADER + ETH_HEADER;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** Every drop reason, in the order the checks run (receive side, then transmit side). */
export const DROP_REASONS = [
  'short',
  'bad-header',
  'vni',
  'unknown-vtep',
  'bad-mac',
  'ethertype',
  'bad-ip',
  'spoofed-source',
  'not-local',
  'no-route',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export type TxDropReason = 'short' | 'bad-ip' | 'no-route';
export type RxDropReason = Exclude<DropReason, 'no-route'>;

/** The forwarding table: the local node's pod CIDRs, and every other node (`peers` excludes the local node). */
export interface Table {
  local: { podCIDRs: Cidr[] };
  peers: Peer[];
}

export interface InnerInfo {
  family: 4 | 6;
  /** Copies of the source and destination addresses (4 or 16 bytes). */
  src: Uint8Array;
  dst: Uint8Array;
  /** The IP packet's own length (IPv4 total length, IPv6 40 + payload length); bytes after it are padding. */
  length: number;
}

export type TxResult = { verdict: 'forward'; peer: string; length: number } | { verdict: 'drop'; reason: TxDropReason };

export type RxResult =
  | { verdict: 'forward'; peer: string | null; offset: typeof ENCAP_PREFIX; length: number }
  | { verdict: 'drop'; reason: RxDropReason };

export interface RxOptions {
  vni: number;
  localMac: Uint8Array;
  acceptUnknownVteps: boolean;
  checkInnerSource: boolean;
}

const u16 = (b: Uint8Array, off: number): number => ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);

/**
 * RFC 1071 Internet checksum of `bytes`: the one's-complement of the one's-complement sum of the big-endian 16-bit
 * words (an odd last byte is padded with zero). Over data that includes a correct checksum field it returns 0.
 */
export function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The value that belongs in the checksum field (bytes 10..11) of the IPv4 header at the start of `hdr`: the checksum
 * of the first IHL*4 bytes with the checksum field taken as zero. Throws RangeError if `hdr` is shorter than IHL*4 or
 * IHL < 5.
 */
export function ipv4HeaderChecksum(hdr: Uint8Array): number {
  const hlen = ((hdr[0] ?? 0) & 0x0f) * 4;
  if (hlen < 20 || hdr.length < hlen) throw new RangeError(`not an IPv4 header: IHL*4=${hlen}, ${hdr.length} bytes`);
  const copy = Uint8Array.from(hdr.subarray(0, hlen));
  copy[10] = 0;
  copy[11] = 0;
  return internetChecksum(copy);
}

/**
 * Validates the IP header at the start of `packet` (the IPv4 header checksum is NOT checked here):
 *   empty → 'short'; the version nibble decides the rest:
 *   4: fewer than 20 bytes → 'short';
 *      IHL < 5, IHL*4 > bytes, total length < IHL*4 or total length > bytes → 'bad-ip'
 *   6: fewer than 40 bytes → 'short'; 40 + payload length > bytes → 'bad-ip'
 *   any other version → 'bad-ip'.
 */
export function innerInfo(packet: Uint8Array): InnerInfo | 'short' | 'bad-ip' {
  if (packet.length === 0) return 'short';
  const version = (packet[0] ?? 0) >> 4;
  if (version === 4) {
    if (packet.length < 20) return 'short';
    const hlen = ((packet[0] ?? 0) & 0x0f) * 4;
    const total = u16(packet, 2);
    if (hlen < 20 || hlen > packet.length || total < hlen || total > packet.length) return 'bad-ip';
    return { family: 4, src: packet.slice(12, 16), dst: packet.slice(16, 20), length: total };
  }
  if (version === 6) {
    if (packet.length < 40) return 'short';
    const length = 40 + u16(packet, 4);
    if (length > packet.length) return 'bad-ip';
    return { family: 6, src: packet.slice(8, 24), dst: packet.slice(24, 40), length };
  }
  return 'bad-ip';
}

/**
 * The datagram for one inner IP packet: VXLAN header, inner Ethernet header (dst, src, ethertype chosen by the IP
 * version nibble), then the packet unchanged. Throws RangeError for a packet that is not IPv4/IPv6 by its version
 * nibble, a VNI outside 0..2^24-1, or MACs that are not 6 bytes. The MACs come in the addon's order (destination,
 * then source: src/dataplane/addon.ts `encap`), which is also their order on the wire.
 */
export function encap(packet: Uint8Array, vni: number, dstMac: Uint8Array, srcMac: Uint8Array): Uint8Array {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`VNI must be 0..16777215, got ${vni}`);
  if (srcMac.length !== 6 || dstMac.length !== 6) throw new RangeError('MAC addresses have 6 bytes');
  const version = packet.length > 0 ? (packet[0] ?? 0) >> 4 : -1;
  if (version !== 4 && version !== 6) throw new RangeError(`not an IP packet (version nibble ${version})`);
  const ethertype = version === 4 ? ETH_P_IP : ETH_P_IPV6;
  const out = new Uint8Array(ENCAP_PREFIX + packet.length);
  out.set([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0], 0);
  out.set(dstMac, 8);
  out.set(srcMac, 14);
  out[20] = ethertype >> 8;
  out[21] = ethertype & 0xff;
  out.set(packet, ENCAP_PREFIX);
  return out;
}

/** Whether `addr` lies in any of `cidrs`. */
function inAny(cidrs: readonly Cidr[], addr: Uint8Array): boolean {
  return cidrs.some((c) => c.contains(addr));
}

/**
 * Transmit check for one packet read from the TUN: innerInfo; a destination inside the local node's pod CIDRs is
 * 'no-route' (it must never leave for a peer); else the longest-prefix match of the destination over every peer's pod
 * CIDRs (the local node is not in `table.peers`). On equal prefix lengths
 * the earlier peer in `table.peers` wins (a valid config has no overlapping pod CIDRs, so this never arises there).
 */
export function checkTx(packet: Uint8Array, table: Table): TxResult {
  const info = innerInfo(packet);
  if (info === 'short' || info === 'bad-ip') return { verdict: 'drop', reason: info };
  // A destination inside our own pod CIDRs never goes to a peer, even one whose wider prefix covers it.
  if (inAny(table.local.podCIDRs, info.dst)) return { verdict: 'drop', reason: 'no-route' };
  let best: { peer: string; prefixLen: number } | null = null;
  for (const peer of table.peers) {
    for (const c of peer.podCIDRs) {
      if (c.contains(info.dst) && (best === null || c.prefixLen > best.prefixLen)) {
        best = { peer: peer.name, prefixLen: c.prefixLen };
      }
    }
  }
  if (best === null) return { verdict: 'drop', reason: 'no-route' };
  return { verdict: 'forward', peer: best.peer, length: info.length };
}

/** One endpoint of a peer: where a datagram goes (its underlay address) and the VTEP MAC that answers there. */
export interface Endpoint {
  ip: IP;
  mac: string;
}

/** A peer's endpoints in order: publicIP, then (a dual-stack peer) publicIPv6. */
export function peerEndpoints(peer: Peer): Endpoint[] {
  const out: Endpoint[] = [{ ip: peer.publicIP, mac: peer.vtepMAC }];
  if (peer.publicIPv6 !== undefined && peer.vtepMACv6 !== undefined) {
    out.push({ ip: peer.publicIPv6, mac: peer.vtepMACv6 });
  }
  return out;
}

/**
 * The transmit endpoint choice (the reference for native/core/fdb.h ChooseEndpoint): a packet of inner family
 * `innerFamily` to `peer`, from a node whose underlay has the families in `local`, goes to the peer's endpoint of the
 * inner family when the node has that family and the peer such an endpoint; else to the peer's first endpoint
 * (publicIP, then publicIPv6) of a family the node has; else nowhere (null: the packet counts in txErrors).
 * The datagram's destination MAC is the chosen endpoint's.
 */
export function chooseEndpoint(peer: Peer, innerFamily: 4 | 6, local: ReadonlySet<4 | 6>): Endpoint | null {
  const eps = peerEndpoints(peer);
  if (local.has(innerFamily)) {
    const same = eps.find((e) => e.ip.family === innerFamily);
    if (same) return same;
  }
  return eps.find((e) => local.has(e.ip.family)) ?? null;
}

/** The peer with an endpoint (publicIP or publicIPv6) at `outerSrc`: the first in table order, or null. */
export function peerByEndpoint(table: Table, outerSrc: IP): Peer | null {
  return table.peers.find((p) => peerEndpoints(p).some((e) => ipEquals(e.ip, outerSrc))) ?? null;
}

/**
 * Receive check for one VXLAN datagram (UDP payload) from `outerSrc`. The checks run in this order; the first failure
 * is the drop reason:
 *   1. shorter than 22 bytes                                                        → short
 *   2. byte 0 != 0x08, bytes 1..3 != 0 or byte 7 != 0                              → bad-header
 *   3. VNI (bytes 4..6) != opts.vni                                                 → vni
 *   4. outerSrc is no peer's endpoint, publicIP or publicIPv6 (first match wins) → unknown-vtep, unless
 *      acceptUnknownVteps (then peer = null)
 *   5. inner destination MAC (bytes 8..13) != opts.localMac                        → bad-mac
 *   6. ethertype (bytes 20..21) neither 0x0800 nor 0x86dd                          → ethertype
 *   7. innerInfo(bytes 22..) is 'short' or 'bad-ip', its family does not match the ethertype, or (IPv4) the header
 *      checksum does not verify (the RFC 1071 sum over IHL*4 bytes, checksum field included, must be
 *      0xffff, i.e. internetChecksum() returns 0; a field of 0xffff where 0 is computed passes too) → bad-ip
 *   8. checkInnerSource, peer known, inner source outside all of that peer's pod CIDRs → spoofed-source
 *   9. inner destination outside all of the local node's pod CIDRs                  → not-local
 * A forwarded packet is datagram[22 .. 22+length): `length` is the inner IP length, so trailing bytes are trimmed.
 * The inner source MAC is not checked.
 */
export function checkRx(datagram: Uint8Array, outerSrc: IP, table: Table, opts: RxOptions): RxResult {
  const drop = (reason: RxDropReason): RxResult => ({ verdict: 'drop', reason });
  if (datagram.length < ENCAP_PREFIX) return drop('short');
  if (datagram[0] !== 0x08 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0 || datagram[7] !== 0) {
    return drop('bad-header');
  }
  const vni = ((datagram[4] ?? 0) << 16) | ((datagram[5] ?? 0) << 8) | (datagram[6] ?? 0);
  if (vni !== opts.vni) return drop('vni');
  const peer = peerByEndpoint(table, outerSrc);
  if (peer === null && !opts.acceptUnknownVteps) return drop('unknown-vtep');
  for (let i = 0; i < 6; i++) if (datagram[8 + i] !== opts.localMac[i]) return drop('bad-mac');
  const ethertype = u16(datagram, 20);
  if (ethertype !== ETH_P_IP && ethertype !== ETH_P_IPV6) return drop('ethertype');
  const inner = datagram.subarray(ENCAP_PREFIX);
  const info = innerInfo(inner);
  if (info === 'short' || info === 'bad-ip') return drop('bad-ip');
  if (info.family !== (ethertype === ETH_P_IP ? 4 : 6)) return drop('bad-ip');
  if (info.family === 4) {
    const hlen = ((inner[0] ?? 0) & 0x0f) * 4;
    if (internetChecksum(inner.subarray(0, hlen)) !== 0) return drop('bad-ip');
  }
  if (opts.checkInnerSource && peer !== null && !inAny(peer.podCIDRs, info.src)) return drop('spoofed-source');
  if (!inAny(table.local.podCIDRs, info.dst)) return drop('not-local');
  return { verdict: 'forward', peer: peer?.name ?? null, offset: ENCAP_PREFIX, length: info.length };
}
