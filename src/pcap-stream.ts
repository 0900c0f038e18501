// GET /debug/pcap?count=&seconds=&outer=&filter= (design.md "Admin HTTP"): a live pcapng stream of
// what the dataplane forwards and drops. The response is chunked: the section and interface
// headers at once, then packet blocks as the capture hub delivers them. It ends after `count`
// packets, after `seconds`, or when the client goes away; several streams may run at once.
// Bad parameters (or filter) → 400 with a one-line reason, before anything is captured.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CaptureHub, CaptureRecord } from './capture.js';
import { parseDumpFilter, type DumpPredicate } from './dump-filter.js';
import { pcapngHeader, recordBlock, type OuterContext } from './pcapng.js';

export interface PcapStreamDeps {
  /** Absent when the dataplane cannot capture (the js engine). */
  hub?: CaptureHub;
  /** This node's underlay facts for --outer. */
  outer: () => OuterContext;
  device: string;
}

export interface PcapParams {
  count?: number;
  seconds?: number;
  outer: boolean;
  filter: DumpPredicate;
  filterText: string;
}

/** Stop queueing blocks for a client that does not read (the records are lost to it, not to others). */
const MAX_BUFFERED = 16 << 20;

/** Parses the query; throws Error with the reason (→ 400). */
export function parsePcapParams(q: URLSearchParams): PcapParams {
  const num = (name: string, int: boolean): number | undefined => {
    const v = q.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n))) {
      throw new Error(`${name}: expected a positive ${int ? 'integer' : 'number'}, got "${v}"`);
    }
    return n;
  };
  const o = (q.get('outer') ?? '').toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(o)) throw new Error(`outer: expected 1/0/true/false, got "${o}"`);
  const filterText = q.get('filter') ?? '';
  return { count: num('count', true), seconds: num('seconds', false), outer: o === '1' || o === 'true', filter: parseDumpFilter(filterText), filterText };
}

export function servePcap(deps: PcapStreamDeps, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
  const plain = (code: number, msg: string) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(msg + '\n');
  };
  let p: PcapParams;
  try {
    p = parsePcapParams(q);
  } catch (err) {
    return plain(400, (err as Error).message);
  }
  if (!deps.hub) return plain(501, 'packet capture needs the native engine (dataplane.engine: native)');
  const outer = p.outer ? deps.outer() : undefined;
  res.writeHead(200, { 'content-type': 'application/x-pcapng', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  if (req.method === 'HEAD') return void res.end();
  res.write(pcapngHeader({ snaplen: 0, ifName: deps.device, application: 'vxtun dump' }));
  let sent = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    sub.close();
    if (timer) clearTimeout(timer);
    res.end();
  };
  const sub = deps.hub.subscribe((records: CaptureRecord[]) => {
    if (done) return;
    const blocks: Buffer[] = [];
    for (const r of records) {
      if (!p.filter(r)) continue;
      blocks.push(recordBlock(r, outer));
      if (p.count !== undefined && sent + blocks.length >= p.count) break;
    }
    if (blocks.length && res.writableLength < MAX_BUFFERED) {
      sent += blocks.length;
      res.write(Buffer.concat(blocks));
    }
    if (p.count !== undefined && sent >= p.count) finish();
  });
  const timer = p.seconds !== undefined ? setTimeout(finish, p.seconds * 1000) : undefined;
  res.on('close', finish);
}
