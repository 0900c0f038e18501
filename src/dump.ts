// `vxtun dump`: reads GET /debug/pcap from a running daemon and either saves the pcapng stream
// (-w FILE, or -w - for stdout: `vxtun dump -w - | tcpdump -r -`) or prints one tcpdump-like line
// per packet. No printing or exiting here: cli.ts passes the sinks in.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseDumpFilter } from './dump-filter.js';
import { UsageError } from './errors.js';
import { describePacket, summarizePacket } from './packet-summary.js';
import { parseComment, PcapngReader, type PcapngPacket } from './pcapng.js';

export interface DumpOptions {
  admin: string;
  /** '-' = stdout, a path, or undefined to print lines. */
  write?: string;
  count?: number;
  seconds?: number;
  outer?: boolean;
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

/** The query for GET /debug/pcap; throws UsageError on bad options (before any request). */
export function dumpQuery(o: DumpOptions): URLSearchParams {
  const q = new URLSearchParams();
  for (const [name, v, int] of [['count', o.count, true], ['seconds', o.seconds, false]] as const) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0 || (int && !Number.isInteger(v))) {
      throw new UsageError(`--${name === 'count' ? 'count' : 'seconds'}: expected a positive ${int ? 'integer' : 'number'}, got "${v}"`);
    }
    q.set(name, String(v));
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
  // --outer: 20 (IPv4) + 8 (UDP) + 8 (VXLAN) + 14 (Ethernet) before the inner packet.
  const inner = outer ? p.data.subarray(50) : p.data;
  const innerLen = outer ? p.origLen - 50 : p.origLen;
  const verdict = (c['verdict'] ?? '?').replace(/^drop:/, 'DROP ');
  const via = c['dir'] === 'rx' ? `from ${c['peer'] ?? '-'} (${c['vtep'] ?? '?'})` : `to ${c['peer'] ?? '-'} (${c['vtep'] ?? '?'})`;
  return `${clock(p.tsNs)} ${c['dir'] ?? '?'} ${via} ${verdict}: ${describePacket(summarizePacket(inner))}, length ${innerLen}`;
}

/**
 * Runs one dump until the daemon ends the stream (count/seconds), the signal aborts, or the output closes. Returns the
 * number of packets printed (0 with -w, where the stream is saved without parsing).
 */
export async function runDump(o: DumpOptions, io: DumpIO): Promise<{ packets: number }> {
  const q = dumpQuery(o);
  let res: Response;
  try {
    res = await fetch(`http://${o.admin}/debug/pcap?${q}`, { signal: io.signal });
  } catch (e) {
    if (io.signal.aborted) return { packets: 0 };
    const cause = (e as { cause?: { code?: string } }).cause;
    throw new DumpError(`cannot reach the admin server at ${o.admin}: ${cause?.code ?? (e as Error).message}`);
  }
  if (!res.ok || !res.body) {
    const text = (await res.text().catch(() => '')).trim();
    if (res.status === 400) throw new UsageError(text || 'the daemon rejected the dump parameters');
    throw new DumpError(`admin server at ${o.admin} answered ${res.status}${text ? `: ${text}` : ''}`);
  }
  const sink: Writable | undefined =
    o.write === '-' ? io.stdout : o.write !== undefined ? createWriteStream(o.write) : undefined;
  let sinkClosed = false;
  let wake: (() => void) | undefined;
  sink?.on('error', () => {
    sinkClosed = true; // e.g. EPIPE when the reader of stdout went away
    wake?.();
  });
  const target = o.write === '-' ? 'stdout' : (o.write ?? 'lines');
  io.status(`listening on ${o.admin} (${o.outer ? 'outer datagrams' : 'inner packets'}) → ${target}`);
  const reader = new PcapngReader();
  let packets = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (sinkClosed) break;
      if (sink) {
        // Saved as received; not parsed (the daemon already applied count and filter).
        if (!sink.write(chunk) && !sinkClosed) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            sink.once('drain', resolve);
          });
        }
      } else {
        const got = reader.push(chunk);
        packets += got.length;
        for (const p of got) io.line(formatDumpLine(p, Boolean(o.outer)));
      }
    }
  } catch (e) {
    if (!io.signal.aborted) throw new DumpError(`reading the capture stream: ${(e as Error).message}`);
  } finally {
    if (sink && sink !== io.stdout) await new Promise<void>((resolve) => sink.end(() => resolve()));
  }
  return { packets };
}
