// pcapng for `vxtun dump` (README "Packet dump"): writing a live stream and reading one back.
// Pure. Block layouts from the pcapng specification (draft-ietf-opsawg-pcapng): every block is
// type u32, total length u32, body padded to 4 bytes, total length u32; little-endian here.
//
//   stream = Section Header Block, one Interface Description Block, then Enhanced Packet Blocks
//            with an Interface Statistics Block every second and one at the end
//
// One link type per stream (libpcap refuses a section whose interfaces differ): LINKTYPE_RAW (101)
// for inner packets, and also for --outer, where each packet is a synthesised outer IP + UDP header
// (IPv4 or IPv6, the node's underlay family: outerDatagram) followed by the VXLAN header, inner
// Ethernet header and inner packet, as on the wire.
// Timestamps are nanoseconds (if_tsresol = 9). Every packet carries the comment
// `dir=tx|rx peer=<name> vtep=<ip> verdict=forward|drop:<reason>`, and epb_dropcount when capture
// records were lost (ring full) just before it. The statistics blocks carry isb_filteraccept
// (packets that passed the filter), isb_osdrop (of those, lost to a full capture ring) and
// isb_usrdeliv (written to this stream).
//
// The daemon writes packet blocks natively (native/core/pcapng_epb.h); recordBlock here is the
// reference it is tested against. Reading a stream back: pcapng-read.ts; the codes: pcapng-format.ts.
import type { CaptureRecord } from './capture.js';
import { internetChecksum, ipv4HeaderChecksum } from '../dataplane/codec.js';
import { parseIP } from '../net/ip.js';
import {
  SHB,
  IDB,
  EPB,
  ISB,
  BYTE_ORDER_MAGIC,
  OPT_COMMENT,
  SHB_USERAPPL,
  IF_NAME,
  IF_TSRESOL,
  EPB_DROPCOUNT,
  ISB_STARTTIME,
  ISB_ENDTIME,
  ISB_FILTERACCEPT,
  ISB_OSDROP,
  ISB_USRDELIV,
  pad4,
} from './pcapng-format.js';

export const LINKTYPE_RAW = 101;
/** What --outer puts before the inner packet on an IPv4 underlay: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const OUTER_BYTES_V4 = 50;
/** …and on an IPv6 underlay: outer IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const OUTER_BYTES_V6 = 70;

function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function options(opts: Buffer[]): Buffer {
  return opts.length === 0 ? Buffer.alloc(0) : Buffer.concat([...opts, Buffer.alloc(4)]); // + opt_endofopt
}

function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length; // body is already padded to 4
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

/** Section Header Block (version 1.0, section length unknown) + one Interface Description Block. */
export function pcapngHeader(
  opts: { linktype?: number; snaplen?: number; ifName?: string; application?: string } = {},
): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeUInt16LE(0, 6);
  shb.writeBigInt64LE(-1n, 8);
  const shbOpts = options(opts.application ? [option(SHB_USERAPPL, Buffer.from(opts.application))] : []);
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(opts.linktype ?? LINKTYPE_RAW, 0);
  idb.writeUInt32LE(opts.snaplen ?? 0, 4);
  const idbOpts = options([
    ...(opts.ifName ? [option(IF_NAME, Buffer.from(opts.ifName))] : []),
    option(IF_TSRESOL, Buffer.from([9])),
  ]);
  return Buffer.concat([block(SHB, Buffer.concat([shb, shbOpts])), block(IDB, Buffer.concat([idb, idbOpts]))]);
}

/**
 * Enhanced Packet Block on interface 0: ns timestamp, the captured bytes, the original length, a comment, and
 * epb_dropcount when dropCount > 0.
 */
export function enhancedPacketBlock(
  tsNs: bigint,
  data: Uint8Array,
  origLen: number,
  comment?: string,
  dropCount = 0,
): Buffer {
  // Written in one allocation: this runs once per captured packet.
  const c = comment === undefined ? undefined : Buffer.from(comment);
  const optLen = c || dropCount ? (c ? 4 + pad4(c.length) : 0) + (dropCount ? 12 : 0) + 4 : 0;
  const total = 8 + 20 + pad4(data.length) + optLen + 4;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(EPB, 0);
  b.writeUInt32LE(total, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(Number((tsNs >> 32n) & 0xffffffffn), 12);
  b.writeUInt32LE(Number(tsNs & 0xffffffffn), 16);
  b.writeUInt32LE(data.length, 20);
  b.writeUInt32LE(Math.max(origLen, data.length), 24);
  b.set(data, 28);
  let o = 28 + pad4(data.length);
  if (c) {
    b.writeUInt16LE(OPT_COMMENT, o);
    b.writeUInt16LE(c.length, o + 2);
    c.copy(b, o + 4);
    o += 4 + pad4(c.length);
  }
  if (dropCount) {
    b.writeUInt16LE(EPB_DROPCOUNT, o);
    b.writeUInt16LE(8, o + 2);
    b.writeBigUInt64LE(BigInt(dropCount), o + 4);
  }
  b.writeUInt32LE(total, total - 4);
  return b;
}

/** What an Interface Statistics Block reports about one capture stream. */
export interface CaptureStreamStats {
  /** Packets that passed the filter (isb_filteraccept). */
  matched: number;
  /** Of those, lost because the capture ring was full (isb_osdrop). */
  dropped: number;
  /** Packets written to this stream (isb_usrdeliv). */
  delivered: number;
}

/** Interface Statistics Block for interface 0: start and end time, and the stream's counters. */
export function interfaceStatisticsBlock(startNs: bigint, endNs: bigint, st: CaptureStreamStats): Buffer {
  const u64 = (code: number, v: bigint) => {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(code, 0);
    b.writeUInt16LE(8, 2);
    b.writeBigUInt64LE(v, 4);
    return b;
  };
  // Timestamps in the option use the same two-u32 (high, low) layout as the block's own.
  const ts = (code: number, v: bigint) => {
    const b = u64(code, 0n);
    b.writeUInt32LE(Number((v >> 32n) & 0xffffffffn), 4);
    b.writeUInt32LE(Number(v & 0xffffffffn), 8);
    return b;
  };
  const head = Buffer.alloc(12);
  head.writeUInt32LE(0, 0);
  head.writeUInt32LE(Number((endNs >> 32n) & 0xffffffffn), 4);
  head.writeUInt32LE(Number(endNs & 0xffffffffn), 8);
  const opts = options([
    ts(ISB_STARTTIME, startNs),
    ts(ISB_ENDTIME, endNs),
    u64(ISB_FILTERACCEPT, BigInt(st.matched)),
    u64(ISB_OSDROP, BigInt(st.dropped)),
    u64(ISB_USRDELIV, BigInt(st.delivered)),
  ]);
  return block(ISB, Buffer.concat([head, opts]));
}

/** The per-packet comment of the contract. */
export function recordComment(r: CaptureRecord): string {
  const verdict = r.verdict === 'forward' ? 'forward' : `drop:${r.verdict}`;
  return `dir=${r.dir} peer=${r.peer || '-'} vtep=${r.vtep} verdict=${verdict}`;
}

/**
 * What --outer needs to rebuild the outer headers: this node's underlay address (and a dual-stack node's IPv6 one),
 * port and VNI.
 */
export interface OuterContext {
  publicIP: string;
  publicIPv6?: string;
  port: number;
  vni: number;
}

/** The outer bytes --outer puts before each inner packet for a node with this underlay address (its family decides). */
export function outerBytes(publicIP: string): number {
  return parseIP(publicIP)?.family === 6 ? OUTER_BYTES_V6 : OUTER_BYTES_V4;
}

/** The outer bytes before the inner packet of a datagram outerDatagram wrote, read from its IP version. */
export function outerBytesOf(datagram: Uint8Array): number {
  return datagram.length > 0 && datagram[0]! >> 4 === 6 ? OUTER_BYTES_V6 : OUTER_BYTES_V4;
}

/**
 * The datagram as it was (tx) or arrived (rx) on the wire: outer IP + UDP (a source port derived from the inner
 * addresses, as the kernel derives it from the flow) + the captured VXLAN/Ethernet prefix (or, for a transmit drop
 * that never got one, a synthesised prefix with zero MACs) + the inner packet. Returns the bytes and the original
 * length. The outer family is the node's (ctx.publicIP), so a single-family node's records all have
 * outerBytes(publicIP) of outer; a dual-stack node's (ctx.publicIPv6 set) record whose VTEP is IPv6 gets an IPv6
 * outer header from publicIPv6, any other an IPv4 one from publicIP:
 *   IPv4: 20 bytes (DF, TTL 64, header checksum) + UDP with checksum 0 (none, as IPv4 allows);
 *   IPv6: 40 bytes (traffic class and flow label 0, next header UDP, hop limit 64, payload length = UDP length) + UDP
 *         with its checksum (IPv6 requires one) over the pseudo-header and the bytes written: a record cut by the
 *         snap length gets a checksum over what it keeps (tools verify only whole datagrams, so they leave it
 *         unverified); a sum of 0 is written 0xffff.
 * The remote end is the record's VTEP when it has the outer's family, else that family's unspecified address (a VTEP
 * of none, '0.0.0.0', on an IPv6 node; an IPv6 VTEP on an IPv4 node, which a single-family node never has). IP and
 * UDP lengths are clamped to 65535. native/core/pcapng_epb.h writes the same bytes.
 */
export function outerDatagram(r: CaptureRecord, ctx: OuterContext): { data: Buffer; origLen: number } {
  let prefix = r.prefix;
  if (!prefix) {
    prefix = Buffer.alloc(22);
    prefix[0] = 0x08;
    prefix.writeUIntBE(ctx.vni & 0xffffff, 4, 3);
    prefix.writeUInt16BE(r.packet.length > 0 && r.packet[0]! >> 4 === 6 ? 0x86dd : 0x0800, 20);
  }
  const remoteIP = parseIP(r.vtep);
  const localIP =
    ctx.publicIPv6 !== undefined && remoteIP?.family === 6 ? parseIP(ctx.publicIPv6) : parseIP(ctx.publicIP);
  const family = localIP?.family === 6 ? 6 : 4;
  const alen = family === 6 ? 16 : 4;
  const ipLen = family === 6 ? 40 : 20;
  const local = localIP?.family === family ? localIP.bytes : new Uint8Array(alen);
  const remote = remoteIP?.family === family ? remoteIP.bytes : new Uint8Array(alen);
  const innerLen = prefix.length + r.origLen;
  const udpLen = Math.min(0xffff, 8 + innerLen);
  const h = Buffer.alloc(ipLen + 8);
  const src = family === 6 ? 8 : 12;
  h.set(r.dir === 'tx' ? local : remote, src);
  h.set(r.dir === 'tx' ? remote : local, src + alen);
  if (family === 6) {
    h[0] = 0x60;
    h.writeUInt16BE(udpLen, 4);
    h[6] = 17;
    h[7] = 64;
  } else {
    h[0] = 0x45;
    h.writeUInt16BE(Math.min(0xffff, 28 + innerLen), 2);
    h.writeUInt16BE(0x4000, 6); // DF
    h[8] = 64;
    h[9] = 17;
    h.writeUInt16BE(ipv4HeaderChecksum(h), 10);
  }
  let hash = 0;
  for (let i = 12; i < Math.min(r.packet.length, 40); i++) hash = (hash * 31 + r.packet[i]!) >>> 0;
  h.writeUInt16BE(r.dir === 'tx' ? 32768 + (hash % 28232) : ctx.port, ipLen);
  h.writeUInt16BE(r.dir === 'tx' ? ctx.port : 32768 + (hash % 28232), ipLen + 2);
  h.writeUInt16BE(udpLen, ipLen + 4);
  const data = Buffer.concat([h, prefix, r.packet]);
  if (family === 6) {
    const pseudo = Buffer.alloc(40);
    h.copy(pseudo, 0, 8, 40); // source and destination
    pseudo.writeUInt32BE(udpLen, 32);
    pseudo[39] = 17;
    const sum = internetChecksum(Buffer.concat([pseudo, data.subarray(ipLen)]));
    data.writeUInt16BE(sum === 0 ? 0xffff : sum, ipLen + 6);
  }
  return { data, origLen: ipLen + 8 + innerLen };
}

/** One record as an EPB: the inner packet, or with `outer` the synthesised datagram. */
export function recordBlock(r: CaptureRecord, outer?: OuterContext): Buffer {
  if (!outer) return enhancedPacketBlock(r.tsNs, r.packet, r.origLen, recordComment(r), r.dropsBefore ?? 0);
  const d = outerDatagram(r, outer);
  return enhancedPacketBlock(r.tsNs, d.data, d.origLen, recordComment(r), r.dropsBefore ?? 0);
}
