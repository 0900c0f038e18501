// Reading back what pcapng.ts writes (`vxtun dump` without -w, tests): packets with their comments, and the
// statistics blocks. Pure.
import type { CaptureStreamStats } from './pcapng.js';
import {
  SHB,
  IDB,
  EPB,
  ISB,
  OPT_END,
  OPT_COMMENT,
  IF_TSRESOL,
  EPB_DROPCOUNT,
  ISB_FILTERACCEPT,
  ISB_OSDROP,
  ISB_USRDELIV,
  pad4,
} from './pcapng-format.js';

/** A packet read back from a pcapng stream. */
export interface PcapngPacket {
  tsNs: bigint;
  data: Buffer;
  origLen: number;
  comment?: string;
  /** epb_dropcount: capture records lost just before this packet. */
  dropCount?: number;
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
  /** The counters of the last Interface Statistics Block read, if any. */
  stats?: CaptureStreamStats;

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
        for (const [code, v] of readOptions(body.subarray(20 + pad4(capLen)))) {
          if (code === OPT_COMMENT) p.comment = v.toString('utf8');
          if (code === EPB_DROPCOUNT && v.length === 8) p.dropCount = Number(v.readBigUInt64LE(0));
        }
        out.push(p);
      } else if (type === ISB) {
        this.stats = readIsb(body);
      }
      off += len;
    }
    this.buf = this.buf.subarray(off);
    return out;
  }
}

function readIsb(body: Buffer): CaptureStreamStats {
  const st: CaptureStreamStats = { matched: 0, dropped: 0, delivered: 0 };
  for (const [code, v] of readOptions(body.subarray(12))) {
    if (v.length !== 8) continue;
    const n = Number(v.readBigUInt64LE(0));
    if (code === ISB_FILTERACCEPT) st.matched = n;
    if (code === ISB_OSDROP) st.dropped = n;
    if (code === ISB_USRDELIV) st.delivered = n;
  }
  return st;
}

/**
 * Walks a pcapng stream's blocks without keeping packet bytes (`vxtun dump -w`, which saves the stream as it
 * comes): counts packet blocks and keeps the last statistics block.
 */
export class PcapngScanner {
  /** Whole packet blocks (EPBs) seen so far. */
  packets = 0;
  stats?: CaptureStreamStats;
  /** Bytes pushed so far that belong to whole blocks: a stream cut here is a valid pcapng file. */
  complete = 0;
  private blockLen = 0; // length of the block being passed
  private blockIsEpb = false;
  private skip = 0; // bytes of the current block still to pass
  private head: number[] = []; // a block header's first bytes, when they straddle chunks (rare)
  private isb: Buffer[] | undefined; // a statistics block being collected (rare)
  private isbLeft = 0;

  push(chunk: Uint8Array): void {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let off = 0;
    while (off < b.length) {
      if (this.isb) {
        const n = Math.min(this.isbLeft, b.length - off);
        this.isb.push(Buffer.from(b.subarray(off, off + n)));
        this.isbLeft -= n;
        off += n;
        if (this.isbLeft === 0) {
          const whole = Buffer.concat(this.isb);
          this.stats = readIsb(whole.subarray(8, whole.length - 4));
          this.isb = undefined;
          this.complete += this.blockLen;
        }
        continue;
      }
      if (this.skip) {
        const n = Math.min(this.skip, b.length - off);
        this.skip -= n;
        off += n;
        if (this.skip === 0) {
          this.complete += this.blockLen;
          if (this.blockIsEpb) this.packets++;
        }
        continue;
      }
      // A block starts here: its type and length, read in place unless they straddle two chunks.
      let type: number, len: number;
      if (this.head.length === 0 && b.length - off >= 8) {
        type = b.readUInt32LE(off);
        len = b.readUInt32LE(off + 4);
        off += 8;
      } else {
        while (this.head.length < 8 && off < b.length) this.head.push(b[off++]!);
        if (this.head.length < 8) return;
        const h = Buffer.from(this.head);
        this.head = [];
        type = h.readUInt32LE(0);
        len = h.readUInt32LE(4);
      }
      if (len < 12 || len % 4) throw new Error(`pcapng: bad block length ${len}`);
      this.blockLen = len;
      this.blockIsEpb = type === EPB;
      if (type === ISB) {
        const head = Buffer.alloc(8);
        head.writeUInt32LE(type, 0);
        head.writeUInt32LE(len, 4);
        this.isb = [head];
        this.isbLeft = len - 8;
      } else {
        this.skip = len - 8;
      }
    }
  }
}

function readOptions(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let o = 0; o + 4 <= b.length;) {
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
