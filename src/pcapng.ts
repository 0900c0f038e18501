// pcapng for `vxtun dump` (design.md "Packet dump"): writing a live stream and reading one back.
// Pure. Block layouts from the pcapng specification (draft-ietf-opsawg-pcapng): every block is
// type u32, total length u32, body padded to 4 bytes, total length u32; little-endian here.
//
//   stream = Section Header Block, one Interface Description Block, Enhanced Packet Blocks…
//
// One link type per stream (libpcap refuses a section whose interfaces differ): LINKTYPE_RAW (101)
// for inner packets, and also for --outer, where each packet is a synthesised outer IPv4 + UDP
// header followed by the VXLAN header, inner Ethernet header and inner packet, as on the wire.
// Timestamps are nanoseconds (if_tsresol = 9). Every packet carries the comment
// `dir=tx|rx peer=<name> vtep=<ip> verdict=forward|drop:<reason>`.
import type { CaptureRecord } from './capture.js';

export const LINKTYPE_RAW = 101;
const SHB = 0x0a0d0d0a;
const IDB = 1;
const EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_TSRESOL = 9;

const pad4 = (n: number) => (n + 3) & ~3;

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
export function pcapngHeader(opts: { linktype?: number; snaplen?: number; ifName?: string; application?: string } = {}): Buffer {
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

/** Enhanced Packet Block on interface 0: ns timestamp, the captured bytes, the original length, a comment. */
export function enhancedPacketBlock(tsNs: bigint, data: Uint8Array, origLen: number, comment?: string): Buffer {
  // Written in one allocation: this runs once per captured packet.
  const c = comment === undefined ? undefined : Buffer.from(comment);
  const optLen = c ? 4 + pad4(c.length) + 4 : 0;
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
  if (c) {
    const o = 28 + pad4(data.length);
    b.writeUInt16LE(OPT_COMMENT, o);
    b.writeUInt16LE(c.length, o + 2);
    c.copy(b, o + 4);
  }
  b.writeUInt32LE(total, total - 4);
  return b;
}

/** The per-packet comment of the contract. */
export function recordComment(r: CaptureRecord): string {
  const verdict = r.verdict === 'forward' ? 'forward' : `drop:${r.verdict}`;
  return `dir=${r.dir} peer=${r.peer || '-'} vtep=${r.vtep} verdict=${verdict}`;
}

/** What --outer needs to rebuild the outer headers: this node's underlay address, port and VNI. */
export interface OuterContext {
  publicIP: string;
  port: number;
  vni: number;
}

function ipv4Bytes(s: string): number[] {
  const parts = s.split('.').map(Number);
  return parts.length === 4 && parts.every((n) => n >= 0 && n <= 255) ? parts : [0, 0, 0, 0];
}

function ipv4Checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The datagram as it was (tx) or arrived (rx) on the wire: outer IPv4 + UDP (checksum 0, a source port derived
 * from the inner addresses, as the kernel derives it from the flow) + the captured VXLAN/Ethernet prefix (or, for a
 * transmit drop that never got one, a synthesised prefix with zero MACs) + the inner packet. Returns the bytes and
 * the original length.
 */
export function outerDatagram(r: CaptureRecord, ctx: OuterContext): { data: Buffer; origLen: number } {
  let prefix = r.prefix;
  if (!prefix) {
    prefix = Buffer.alloc(22);
    prefix[0] = 0x08;
    prefix.writeUIntBE(ctx.vni & 0xffffff, 4, 3);
    prefix.writeUInt16BE(r.packet.length > 0 && r.packet[0]! >> 4 === 6 ? 0x86dd : 0x0800, 20);
  }
  const innerLen = prefix.length + r.origLen;
  const h = Buffer.alloc(28);
  h[0] = 0x45;
  h.writeUInt16BE(Math.min(0xffff, 28 + innerLen), 2);
  h.writeUInt16BE(0x4000, 6); // DF
  h[8] = 64;
  h[9] = 17;
  const [local, remote] = [ipv4Bytes(ctx.publicIP), ipv4Bytes(r.vtep)];
  h.set(r.dir === 'tx' ? local : remote, 12);
  h.set(r.dir === 'tx' ? remote : local, 16);
  h.writeUInt16BE(ipv4Checksum(h.subarray(0, 20)), 10);
  let hash = 0;
  for (let i = 12; i < Math.min(r.packet.length, 40); i++) hash = (hash * 31 + r.packet[i]!) >>> 0;
  h.writeUInt16BE(r.dir === 'tx' ? 32768 + (hash % 28232) : ctx.port, 20);
  h.writeUInt16BE(r.dir === 'tx' ? ctx.port : 32768 + (hash % 28232), 22);
  h.writeUInt16BE(Math.min(0xffff, 8 + innerLen), 24);
  return { data: Buffer.concat([h, prefix, r.packet]), origLen: 28 + innerLen };
}

/** One record as an EPB: the inner packet, or with `outer` the synthesised datagram. */
export function recordBlock(r: CaptureRecord, outer?: OuterContext): Buffer {
  if (!outer) return enhancedPacketBlock(r.tsNs, r.packet, r.origLen, recordComment(r));
  const d = outerDatagram(r, outer);
  return enhancedPacketBlock(r.tsNs, d.data, d.origLen, recordComment(r));
}

/** A packet read back from a pcapng stream. */
export interface PcapngPacket {
  tsNs: bigint;
  data: Buffer;
  origLen: number;
  comment?: string;
  linktype: number;
}

/**
 * Incremental reader for what pcapngHeader/enhancedPacketBlock write (little-endian, one section): feed chunks,
 * get the packets completed so far. Throws on a stream that is not pcapng.
 */
export class PcapngReader {
  private buf = Buffer.alloc(0);
  private linktype = -1;
  private tsresol = 6;
  private started = false;

  push(chunk: Uint8Array): PcapngPacket[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: PcapngPacket[] = [];
    let off = 0;
    while (this.buf.length - off >= 12) {
      const type = this.buf.readUInt32LE(off);
      const len = this.buf.readUInt32LE(off + 4);
      if (len < 12 || len % 4) throw new Error(`pcapng: bad block length ${len}`);
      if (!this.started && type !== SHB) throw new Error('pcapng: stream does not start with a section header');
      this.started = true;
      if (this.buf.length - off < len) break;
      const body = this.buf.subarray(off + 8, off + len - 4);
      if (type === IDB) {
        this.linktype = body.readUInt16LE(0);
        for (const [code, v] of readOptions(body.subarray(8))) if (code === IF_TSRESOL) this.tsresol = v[0] ?? 6;
      } else if (type === EPB) {
        const ts = (BigInt(body.readUInt32LE(4)) << 32n) | BigInt(body.readUInt32LE(8));
        const capLen = body.readUInt32LE(12);
        const p: PcapngPacket = {
          tsNs: this.tsresol === 9 ? ts : ts * 10n ** BigInt(9 - this.tsresol),
          data: Buffer.from(body.subarray(20, 20 + capLen)),
          origLen: body.readUInt32LE(16),
          linktype: this.linktype,
        };
        for (const [code, v] of readOptions(body.subarray(20 + pad4(capLen)))) if (code === OPT_COMMENT) p.comment = v.toString('utf8');
        out.push(p);
      }
      off += len;
    }
    this.buf = this.buf.subarray(off);
    return out;
  }
}

function readOptions(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let o = 0; o + 4 <= b.length; ) {
    const code = b.readUInt16LE(o);
    const len = b.readUInt16LE(o + 2);
    if (code === OPT_END) break;
    out.push([code, b.subarray(o + 4, o + 4 + len)]);
    o += 4 + pad4(len);
  }
  return out;
}

/** Parses a record comment back into its fields. */
export function parseComment(c: string): Record<string, string> {
  return Object.fromEntries(c.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
