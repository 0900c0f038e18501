// The two receive-side repairs of the js engine, in TypeScript (the native engine's are
// native/core/checksum.cc and native/core/segment.cc; their header comments say why they exist): finishing
// a partial inner TCP/UDP checksum, and splitting a TCP super-packet larger than the MTU.
import { innerInfo, internetChecksum, ipv4HeaderChecksum } from './codec.js';

type Info = Exclude<ReturnType<typeof innerInfo>, 'short' | 'bad-ip'>;

/** The one's-complement sum (folded, not inverted) of the pseudo-header for an L4 length. */
function pseudoSum(info: Info, proto: number, l4len: number, withLength = true): number {
  const n = info.src.length;
  const b = new Uint8Array(2 * n + 4);
  b.set(info.src, 0);
  b.set(info.dst, n);
  b[2 * n + 1] = proto;
  if (withLength) {
    b[2 * n + 2] = (l4len >> 8) & 0xff;
    b[2 * n + 3] = l4len & 0xff;
  }
  return ~internetChecksum(b) & 0xffff;
}

function l4Of(pkt: Uint8Array, info: Info): { proto: number; off: number; len: number } | null {
  const v4 = info.family === 4;
  const proto = v4 ? pkt[9]! : pkt[6]!;
  if (proto !== 6 && proto !== 17) return null;
  if (v4 && (((pkt[6]! << 8) | pkt[7]!) & 0x3fff) !== 0) return null; // fragment
  const off = v4 ? (pkt[0]! & 0x0f) * 4 : 40;
  return { proto, off, len: info.length - off };
}

/** Sum of pseudo-header and L4 bytes, folded (0xffff when the checksum is valid). */
function l4Sum(pkt: Uint8Array, info: Info, l4: { proto: number; off: number; len: number }): number {
  const pseudo = pseudoSum(info, l4.proto, l4.len);
  const body = ~internetChecksum(pkt.subarray(l4.off, l4.off + l4.len)) & 0xffff;
  let s = pseudo + body;
  s = (s & 0xffff) + (s >> 16);
  return s;
}

/** Completes a partial TCP/UDP checksum in place (see native/core/checksum.h for the rule). */
export function completePartialChecksum(pkt: Uint8Array): 'not-applicable' | 'valid' | 'completed' | 'bad' {
  const info = innerInfo(pkt);
  if (typeof info === 'string') return 'not-applicable';
  const l4 = l4Of(pkt, info);
  const csumAt = l4 ? l4.off + (l4.proto === 6 ? 16 : 6) : 0;
  if (!l4 || l4.len < csumAt - l4.off + 2) return 'not-applicable';
  const field = (pkt[csumAt]! << 8) | pkt[csumAt + 1]!;
  if (l4.proto === 17 && info.family === 4 && field === 0) return 'not-applicable';
  if (l4Sum(pkt, info, l4) === 0xffff) return 'valid';
  if (field !== pseudoSum(info, l4.proto, l4.len) && field !== pseudoSum(info, l4.proto, l4.len, false)) return 'bad';
  pkt[csumAt] = pkt[csumAt + 1] = 0;
  let sum = ~l4Sum(pkt, info, l4) & 0xffff;
  if (l4.proto === 17 && sum === 0) sum = 0xffff;
  pkt[csumAt] = sum >> 8;
  pkt[csumAt + 1] = sum & 0xff;
  return 'completed';
}

/** Splits a TCP packet into segments of at most `mss` payload bytes (see native/core/segment.h), or null. */
export function segmentTcp(pkt: Uint8Array, mss: number): Uint8Array[] | null {
  const info = innerInfo(pkt);
  if (typeof info === 'string' || mss <= 0) return null;
  const l4 = l4Of(pkt, info);
  if (!l4 || l4.proto !== 6 || l4.len < 20) return null;
  const th = (pkt[l4.off + 12]! >> 4) * 4;
  if (th < 20 || th > l4.len) return null;
  const hlen = l4.off + th;
  const payload = info.length - hlen;
  const n = Math.max(1, Math.ceil(payload / mss));
  const seq0 = ((pkt[l4.off + 4]! << 24) | (pkt[l4.off + 5]! << 16) | (pkt[l4.off + 6]! << 8) | pkt[l4.off + 7]!) >>> 0;
  const id0 = (pkt[4]! << 8) | pkt[5]!;
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const off = i * mss;
    const len = Math.min(mss, payload - off);
    const s = new Uint8Array(hlen + len);
    s.set(pkt.subarray(0, hlen), 0);
    s.set(pkt.subarray(hlen + off, hlen + off + len), hlen);
    const dv = new DataView(s.buffer);
    if (info.family === 4) {
      dv.setUint16(2, hlen + len);
      dv.setUint16(4, (id0 + i) & 0xffff);
      dv.setUint16(10, 0);
      dv.setUint16(10, ipv4HeaderChecksum(s.subarray(0, l4.off)));
    } else {
      dv.setUint16(4, hlen + len - 40);
    }
    dv.setUint32(l4.off + 4, (seq0 + off) >>> 0);
    let flags = pkt[l4.off + 13]!;
    if (i + 1 < n) flags &= ~(0x01 | 0x08); // FIN, PSH only on the last
    if (i > 0) flags &= ~0x80; // CWR only on the first
    s[l4.off + 13] = flags;
    const sInfo = innerInfo(s) as Info;
    dv.setUint16(l4.off + 16, 0);
    dv.setUint16(l4.off + 16, ~l4Sum(s, sInfo, { proto: 6, off: l4.off, len: th + len }) & 0xffff);
    out.push(s);
  }
  return out;
}

/** Splits a TCP packet larger than `mtu` into segments that fit it, or null (see segmentTcp). */
export function splitToMtu(pkt: Uint8Array, mtu: number): Uint8Array[] | null {
  const info = innerInfo(pkt);
  if (typeof info === 'string') return null;
  const l4 = l4Of(pkt, info);
  if (!l4 || l4.proto !== 6 || l4.len < 20) return null;
  const hlen = l4.off + (pkt[l4.off + 12]! >> 4) * 4;
  return mtu > hlen ? segmentTcp(pkt, mtu - hlen) : null;
}
