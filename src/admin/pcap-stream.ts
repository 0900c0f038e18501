// GET /debug/pcap?count=&seconds=&outer=&snaplen=&filter= (README "Admin API"): a live pcapng
// stream of what the dataplane forwards and drops. The response is chunked: the section and
// interface headers at once, then packet blocks as the capture session delivers them, an interface
// statistics block every second and one at the end. It ends after `count` packets, after `seconds`
// (default DEFAULT_SECONDS, at most MAX_SECONDS), when the client goes away, or when the client has not
// taken any data for IDLE_TIMEOUT_MS while some waits (a client that stops reading is cut off and its
// session freed). Several streams may run at once, each its own session, as many as the memory
// budget allows (src/dump/capture.ts CAPTURE_MEMORY_BUDGET; then 503). Bad or unknown parameters (or
// filter) → 400 with a one-line reason, before anything is captured.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CaptureBusyError,
  MAX_SNAPLEN,
  SESSION_BUFFER_BYTES,
  type CaptureHub,
  type CaptureSession,
} from '../dump/capture.js';
import { compileDumpFilter } from '../dump/filter.js';
import { interfaceStatisticsBlock, outerBytes, pcapngHeader, type OuterContext } from '../dump/pcapng.js';

export interface PcapStreamDeps {
  /** Absent when the dataplane cannot capture (the js engine). */
  hub?: CaptureHub;
  /** This node's underlay facts for --outer. */
  outer: () => OuterContext;
  device: string;
  /** The addon's drop reasons (verdict k ↦ reasons[k-1]), for `verdict REASON` filters. */
  reasons: readonly string[];
}

export interface PcapParams {
  count?: number;
  seconds?: number;
  outer: boolean;
  /** Inner bytes kept per packet. */
  snaplen: number;
  program: Uint8Array;
  filterText: string;
}

/** Stop draining for a client that does not read: its session's ring fills and the losses are counted. */
const MAX_BUFFERED = SESSION_BUFFER_BYTES;
const STATS_EVERY_MS = 1000;
/** A stream ends when its client took nothing for this long while data waited for it. */
export const IDLE_TIMEOUT_MS = 10_000;
/** A capture without `seconds` ends after this; `seconds` may ask for at most MAX_SECONDS. */
export const DEFAULT_SECONDS = 3600;
export const MAX_SECONDS = 86_400;
/** `count` at most (any larger is as good as no limit). */
export const MAX_COUNT = 1_000_000_000;
const PARAMS = new Set(['count', 'seconds', 'outer', 'snaplen', 'filter']);

/** Parses the query; throws Error with the reason (→ 400). */
export function parsePcapParams(q: URLSearchParams, reasons: readonly string[]): PcapParams {
  const seen = new Set<string>();
  for (const k of q.keys()) {
    if (!PARAMS.has(k)) throw new Error(`unknown parameter "${k.slice(0, 40)}" (expected ${[...PARAMS].join(', ')})`);
    if (seen.has(k)) throw new Error(`${k}: given twice`);
    seen.add(k);
  }
  const num = (name: string, int: boolean, max: number): number | undefined => {
    const v = q.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > max || (int && !Number.isInteger(n))) {
      throw new Error(
        `${name}: expected a positive ${int ? 'integer' : 'number'} (at most ${max}), got "${v.slice(0, 40)}"`,
      );
    }
    return n;
  };
  const o = (q.get('outer') ?? '').toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(o)) throw new Error(`outer: expected 1/0/true/false, got "${o}"`);
  const filterText = q.get('filter') ?? '';
  return {
    count: num('count', true, MAX_COUNT),
    seconds: num('seconds', false, MAX_SECONDS),
    outer: o === '1' || o === 'true',
    snaplen: num('snaplen', true, MAX_SNAPLEN) ?? MAX_SNAPLEN,
    program: compileDumpFilter(filterText, reasons),
    filterText,
  };
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

export function servePcap(deps: PcapStreamDeps, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
  const plain = (code: number, msg: string) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(msg + '\n');
  };
  let p: PcapParams;
  try {
    p = parsePcapParams(q, deps.reasons);
  } catch (err) {
    return plain(400, (err as Error).message);
  }
  if (!deps.hub) return plain(501, 'packet capture needs the native engine (dataplane.engine: native)');
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'content-type': 'application/x-pcapng', 'cache-control': 'no-store' });
    return void res.end();
  }
  let sent = 0;
  let done = false;
  let lastProgress = Date.now(); // the last time the client took data
  const startNs = nowNs();
  const ctx = deps.outer();
  let session: CaptureSession;
  try {
    session = deps.hub.open(
      {
        program: p.program,
        snaplen: p.snaplen,
        outer: p.outer,
        publicIP: ctx.publicIP,
        ...(ctx.publicIPv6 !== undefined ? { publicIPv6: ctx.publicIPv6 } : {}),
        port: ctx.port,
        vni: ctx.vni,
      },
      {
        onBlocks(blocks, records, release) {
          if (done) return release();
          sent += records;
          res.write(blocks, () => {
            lastProgress = Date.now();
            release();
          });
          if (p.count !== undefined && sent >= p.count) finish();
        },
        wanted: () => (p.count === undefined ? undefined : p.count - sent),
        paused: () => res.writableLength >= MAX_BUFFERED,
      },
    );
  } catch (err) {
    if (err instanceof CaptureBusyError) return plain(503, err.message);
    throw err;
  }
  res.writeHead(200, {
    'content-type': 'application/x-pcapng',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  // A record's outer length is that of the node's underlay family (pcapng.ts); a dual-stack node's records may have
  // either, so the interface's snaplen allows the longer (IPv6) one.
  const snaplen = p.outer ? p.snaplen + outerBytes(ctx.publicIPv6 ?? ctx.publicIP) : p.snaplen;
  res.write(pcapngHeader({ snaplen, ifName: deps.device, application: 'vxtun dump' }));
  const statsBlock = () => interfaceStatisticsBlock(startNs, nowNs(), { ...session.counters(), delivered: sent });
  const statsTimer = setInterval(() => {
    if (done) return;
    if (res.writableLength === 0)
      lastProgress = Date.now(); // nothing waits: an idle capture, not a stuck client
    else if (Date.now() - lastProgress > IDLE_TIMEOUT_MS) return void res.destroy(); // → 'close' → finish
    if (res.writableLength < MAX_BUFFERED) res.write(statsBlock(), () => (lastProgress = Date.now()));
  }, STATS_EVERY_MS);
  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(statsTimer);
    if (timer) clearTimeout(timer);
    const last = statsBlock();
    session.close();
    res.end(last);
  };
  const timer = setTimeout(finish, (p.seconds ?? DEFAULT_SECONDS) * 1000);
  res.on('close', finish);
}
