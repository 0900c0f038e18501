// `vxtun dump`: reads GET /debug/pcap from a running daemon and either saves the pcapng stream
// (-w FILE, or -w - for stdout: `vxtun dump -w - | tcpdump -r -`) or prints one tcpdump-like line
// per packet. No printing or exiting here: cli.ts passes the sinks in.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { streamGet, type StreamResponse } from './admin-stream.js';
import { parseDumpFilter } from './filter.js';
import { UsageError } from '../errors.js';
import { describePacket, summarizePacket } from './packet-summary.js';
import { MAX_SNAPLEN } from './capture.js';
import { MAX_COUNT, MAX_SECONDS } from '../admin/pcap-stream.js';
import { outerBytesOf, type CaptureStreamStats } from './pcapng.js';
import { parseComment, PcapngReader, PcapngScanner, type PcapngPacket } from './pcapng-read.js';

export interface DumpOptions {
  /** The daemon's admin unix socket (admin.socket). */
  socket: string;
  /** '-' = stdout, a path, or undefined to print lines. */
  write?: string;
  count?: number;
  seconds?: number;
  outer?: boolean;
  /** Inner bytes kept per packet (1..MAX_SNAPLEN); the daemon's default is MAX_SNAPLEN. */
  snaplen?: number;
  /** The filter words as given. */
  filter: string[];
}

export interface DumpIO {
  /** Prints one line. */
  line(s: string): void;
  /** Prints a status line (to stderr, like tcpdump's "listening on …"): once the capture runs. */
  status(s: string): void;
  /** Where `-w -` writes. */
  stdout: Writable;
  signal: AbortSignal;
}

/** A runtime failure with the exit code cli.ts should use. */
export class DumpError extends Error {
  override name = 'DumpError';
}

/** What to try when the admin socket cannot be reached (ENOENT: no daemon, or another path; EACCES: not root). */
export function socketHint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED')
    return ' (is vxtun running? --socket takes the path set as admin.socket in its config)';
  if (code === 'EACCES') return ' (the socket is mode 0600: run as its owner, root)';
  return '';
}

/** The query for GET /debug/pcap; throws UsageError on bad options (before any request). */
export function dumpQuery(o: DumpOptions): URLSearchParams {
  const q = new URLSearchParams();
  for (const [name, v, int, max] of [
    ['count', o.count, true, MAX_COUNT],
    ['seconds', o.seconds, false, MAX_SECONDS],
  ] as const) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0 || v > max || (int && !Number.isInteger(v))) {
      throw new UsageError(`--${name}: expected a positive ${int ? 'integer' : 'number'} (at most ${max}), got "${v}"`);
    }
    q.set(name, String(v));
  }
  if (o.snaplen !== undefined) {
    if (!Number.isInteger(o.snaplen) || o.snaplen < 1 || o.snaplen > MAX_SNAPLEN) {
      throw new UsageError(`--snaplen: expected an integer 1..${MAX_SNAPLEN}, got "${o.snaplen}"`);
    }
    q.set('snaplen', String(o.snaplen));
  }
  if (o.outer) q.set('outer', '1');
  const filter = o.filter.join(' ').trim();
  parseDumpFilter(filter); // throws UsageError
  if (filter) q.set('filter', filter);
  return q;
}

function clock(tsNs: bigint): string {
  const d = new Date(Number(tsNs / 1_000_000n));
  const ns = String(tsNs % 1_000_000_000n).padStart(9, '0');
  return `${d.toISOString().slice(11, 19)}.${ns}`;
}

/** "12:00:01.123456789 tx peer node-2 forward 10.244.1.2 > 10.244.2.2: ICMP echo request, length 84" */
export function formatDumpLine(p: PcapngPacket, outer: boolean): string {
  const c = parseComment(p.comment ?? '');
  // --outer: the outer headers (50 bytes on an IPv4 underlay, 70 on IPv6) come before the inner packet.
  const skip = outer ? outerBytesOf(p.data) : 0;
  const inner = p.data.subarray(skip);
  const innerLen = p.origLen - skip;
  const verdict = (c['verdict'] ?? '?').replace(/^drop:/, 'DROP ');
  const via =
    c['dir'] === 'rx'
      ? `from ${c['peer'] ?? '-'} (${c['vtep'] ?? '?'})`
      : `to ${c['peer'] ?? '-'} (${c['vtep'] ?? '?'})`;
  return `${clock(p.tsNs)} ${c['dir'] ?? '?'} ${via} ${verdict}: ${describePacket(summarizePacket(inner))}, length ${innerLen}`;
}

/**
 * tcpdump's closing lines, as one: what was captured and what the daemon could not keep. `stale`: the stream was cut
 * (Ctrl-C), so the daemon's counters are from its last statistics block (at most a second old).
 */
export function formatDumpSummary(packets: number, stats: CaptureStreamStats | undefined, stale = false): string {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  if (!stats) return `${n(packets, 'packet')} captured`;
  const dropped = `${stats.dropped} dropped by the daemon${stats.dropped ? ' (capture ring full: not read fast enough)' : ''}`;
  return `${n(packets, 'packet')} captured, ${stats.matched} matched the filter, ${dropped}${stale ? ' (daemon counters as of the last second)' : ''}`;
}

/**
 * Runs one dump until the daemon ends the stream (count/seconds), the signal aborts, or the output closes. Returns the
 * number of packets received and the daemon's last statistics (also reported through io.status). The reader must stay
 * cheap next to a busy dataplane: the stream arrives in one reused buffer (admin-stream.ts) and a file is written
 * synchronously from it.
 */
export async function runDump(o: DumpOptions, io: DumpIO): Promise<{ packets: number; stats?: CaptureStreamStats }> {
  const q = dumpQuery(o);
  let res: StreamResponse;
  try {
    res = await streamGet({ path: o.socket }, `/debug/pcap?${q}`, io.signal);
  } catch (e) {
    if (io.signal.aborted) return { packets: 0 };
    throw new DumpError(
      `cannot reach the admin socket ${o.socket}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${socketHint(e)}`,
    );
  }
  if (res.status !== 200) {
    const text = await res.text().catch(() => '');
    if (res.status === 400) throw new UsageError(text || 'the daemon rejected the dump parameters');
    throw new DumpError(`admin socket ${o.socket} answered ${res.status}${text ? `: ${text}` : ''}`);
  }
  let fd: number | undefined;
  if (o.write !== undefined && o.write !== '-') {
    try {
      fd = openSync(o.write, 'w');
    } catch (e) {
      res.destroy();
      throw new DumpError(`cannot write ${o.write}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const stdout = o.write === '-' ? io.stdout : undefined;
  let sinkClosed = false;
  let wake: (() => void) | undefined;
  stdout?.on('error', () => {
    sinkClosed = true; // e.g. EPIPE when the reader of stdout went away
    wake?.();
    res.destroy();
  });
  const target = o.write === '-' ? 'stdout' : (o.write ?? 'lines');
  io.status(`listening on ${o.socket} (${o.outer ? 'outer datagrams' : 'inner packets'}) → ${target}`);
  const reader = new PcapngReader();
  const scanner = new PcapngScanner();
  // Saved as received, but only whole blocks: the bytes of a block still arriving wait in `tail` (a copy: the
  // stream reuses its buffer), so a dump stopped mid-block (Ctrl-C, SIGTERM) leaves a valid file. Only the block
  // boundaries are walked (the daemon already applied count and filter).
  let tail: Buffer = Buffer.alloc(0);
  const wholeBlocks = (chunk: Uint8Array): Uint8Array[] => {
    const before = scanner.complete;
    scanner.push(chunk);
    // `tail` starts where the whole blocks ended before this chunk, so the newly whole bytes are the first `ready`
    // of tail + chunk (a block that completes here includes all of the tail, so ready ≥ tail.length unless 0). The
    // common case copies only the new tail (part of one block), never the chunk.
    const ready = scanner.complete - before;
    if (ready === 0) {
      tail = Buffer.concat([tail, chunk]);
      return [];
    }
    const out = [tail, chunk.subarray(0, ready - tail.length)].filter((b) => b.length > 0);
    tail = Buffer.from(chunk.subarray(ready - tail.length));
    return out;
  };
  let packets = 0;
  try {
    await res.body((chunk) => {
      if (sinkClosed) return res.destroy();
      if (fd !== undefined) {
        for (const b of wholeBlocks(chunk)) for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
      } else if (stdout) {
        const whole = wholeBlocks(chunk);
        const more = whole.length === 0 || whole.map((b) => stdout.write(Buffer.from(b))).every(Boolean);
        if (!more && !sinkClosed) {
          return new Promise<void>((resolve) => {
            wake = resolve;
            stdout.once('drain', resolve);
          });
        }
      } else {
        const got = reader.push(Buffer.from(chunk));
        packets += got.length;
        for (const p of got) io.line(formatDumpLine(p, Boolean(o.outer)));
      }
    });
  } catch (e) {
    if (!io.signal.aborted) throw new DumpError(`reading the capture stream: ${(e as Error).message}`);
  } finally {
    res.destroy();
    if (fd !== undefined) closeSync(fd);
  }
  const saved = fd !== undefined || stdout !== undefined;
  if (saved) packets = scanner.packets;
  const stats = saved ? scanner.stats : reader.stats;
  io.status(formatDumpSummary(packets, stats, io.signal.aborted || sinkClosed));
  return { packets, ...(stats ? { stats } : {}) };
}
