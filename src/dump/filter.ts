// The `vxtun dump` filter language: a small tcpdump-like expression over a captured packet and
// the dataplane's verdict. Pure.
//
//   expr    := or
//   or      := and ( ('or' | '||') and )*
//   and     := unary ( ('and' | '&&') unary )*
//   unary   := ('not' | '!') unary | '(' expr ')' | term
//   term    := 'host' IP | 'net' CIDR | 'proto' (tcp|udp|icmp|icmp6|0..255) | 'port' 0..65535
//            | 'peer' NAME | 'drops' | 'verdict' (forward|REASON) | 'tx' | 'rx' | tcp | udp | icmp | icmp6
//
// `host`/`net`/`port` match either end. An empty filter matches everything. A bad filter throws a
// UsageError that quotes the offending word.
//
// One parser (parseFilterAst) feeds two back ends: parseDumpFilter, a JS predicate over a decoded
// CaptureRecord (the reference), and compileDumpFilter, the postfix bytecode that the addon's
// CaptureFilter evaluates on the forwarding threads (format: native/core/capture_filter.h).
import type { CaptureRecord } from './capture.js';
import { UsageError } from '../errors.js';
import { Cidr } from '../net/cidr.js';
import { ipEquals, parseIP, type IP } from '../net/ip.js';
import { PROTO, summarizePacket, type PacketSummary } from './packet-summary.js';

export type DumpPredicate = (r: CaptureRecord, s?: PacketSummary) => boolean;

type Node = (r: CaptureRecord, s: PacketSummary) => boolean;

/** A parsed filter. */
export type FilterAst =
  | { kind: 'or' | 'and'; a: FilterAst; b: FilterAst }
  | { kind: 'not'; e: FilterAst }
  | { kind: 'host'; ip: IP }
  | { kind: 'net'; cidr: Cidr }
  | { kind: 'proto'; proto: number }
  | { kind: 'port'; port: number }
  | { kind: 'peer'; name: string }
  | { kind: 'verdict'; name: string }
  | { kind: 'drops' }
  | { kind: 'dir'; dir: 'tx' | 'rx' };

function tokenize(text: string): string[] {
  return text
    .replace(/([()])/g, ' $1 ')
    .split(/\s+/)
    .filter(Boolean);
}

const PROTO_WORDS: Record<string, number> = PROTO;

const isProtoWord = (w: string): boolean => Object.hasOwn(PROTO_WORDS, w);

/** Parses a filter into its syntax tree; null for an empty filter. Throws UsageError. */
export function parseFilterAst(text: string): FilterAst | null {
  const toks = tokenize(text);
  let i = 0;
  const bad = (what: string): never => {
    const at = i < toks.length ? `"${toks[i]}"` : 'the end';
    throw new UsageError(`bad filter "${text}": expected ${what}, got ${at}`);
  };
  const peek = () => toks[i]?.toLowerCase();
  const arg = (what: string): string => {
    const t = toks[i];
    if (t === undefined || t === '(' || t === ')') return bad(what);
    i++;
    return t;
  };
  const or = (): FilterAst => {
    let l = and();
    while (peek() === 'or' || peek() === '||') {
      i++;
      l = { kind: 'or', a: l, b: and() };
    }
    return l;
  };
  const and = (): FilterAst => {
    let l = unary();
    while (peek() === 'and' || peek() === '&&') {
      i++;
      l = { kind: 'and', a: l, b: unary() };
    }
    return l;
  };
  const unary = (): FilterAst => {
    const t = peek();
    if (t === 'not' || t === '!') {
      i++;
      return { kind: 'not', e: unary() };
    }
    if (t === '(') {
      i++;
      const e = or();
      if (peek() !== ')') bad('")"');
      i++;
      return e;
    }
    return term();
  };
  const term = (): FilterAst => {
    const t = peek();
    if (t === undefined) return bad('a filter term (host, net, proto, port, peer, drops, verdict, tx, rx)');
    if (isProtoWord(t)) {
      i++;
      return { kind: 'proto', proto: PROTO_WORDS[t]! };
    }
    switch (t) {
      case 'host': {
        i++;
        const w = arg('an IP address after "host"');
        const ip = parseIP(w);
        if (!ip) {
          i--;
          bad('an IP address after "host"');
        }
        return { kind: 'host', ip: ip! };
      }
      case 'net': {
        i++;
        const w = arg('a CIDR after "net"');
        let c: Cidr;
        try {
          c = Cidr.parse(w, { strict: false });
        } catch {
          i--;
          return bad('a CIDR (e.g. 10.244.1.0/24) after "net"');
        }
        return { kind: 'net', cidr: c };
      }
      case 'proto': {
        i++;
        const w = arg('a protocol after "proto"').toLowerCase();
        const n = isProtoWord(w) ? PROTO_WORDS[w]! : /^\d{1,3}$/.test(w) && Number(w) <= 255 ? Number(w) : NaN;
        if (Number.isNaN(n)) {
          i--;
          bad('tcp, udp, icmp, icmp6 or 0..255 after "proto"');
        }
        return { kind: 'proto', proto: n };
      }
      case 'port': {
        i++;
        const w = arg('a port after "port"');
        const n = /^\d{1,5}$/.test(w) ? Number(w) : NaN;
        if (!(n <= 65535)) {
          i--;
          bad('a port 0..65535 after "port"');
        }
        return { kind: 'port', port: n };
      }
      case 'peer': {
        i++;
        return { kind: 'peer', name: arg('a peer name after "peer"') };
      }
      case 'verdict': {
        i++;
        return { kind: 'verdict', name: arg('forward or a drop reason after "verdict"').toLowerCase() };
      }
      case 'drops':
        i++;
        return { kind: 'drops' };
      case 'tx':
      case 'rx':
        i++;
        return { kind: 'dir', dir: t };
      default:
        return bad('a filter term (host, net, proto, port, peer, drops, verdict, tx, rx)');
    }
  };
  if (toks.length === 0) return null;
  const root = or();
  if (i < toks.length) bad('"and", "or" or the end');
  return root;
}

/** The predicate of one tree node. */
function predicate(n: FilterAst): Node {
  switch (n.kind) {
    case 'or': {
      const a = predicate(n.a),
        b = predicate(n.b);
      return (r, s) => a(r, s) || b(r, s);
    }
    case 'and': {
      const a = predicate(n.a),
        b = predicate(n.b);
      return (r, s) => a(r, s) && b(r, s);
    }
    case 'not': {
      const e = predicate(n.e);
      return (r, s) => !e(r, s);
    }
    case 'host': {
      const ip = n.ip;
      return (_r, s) => ipEquals(s.src, ip) || ipEquals(s.dst, ip);
    }
    case 'net': {
      const c = n.cidr;
      return (_r, s) => s.family !== 0 && (c.contains(s.src) || c.contains(s.dst));
    }
    case 'proto': {
      const p = n.proto;
      return (_r, s) => s.proto === p;
    }
    case 'port': {
      const p = n.port;
      return (_r, s) => s.sport === p || s.dport === p;
    }
    case 'peer': {
      const name = n.name;
      return (r) => r.peer === name;
    }
    case 'verdict': {
      const v = n.name;
      return (r) => r.verdict === v;
    }
    case 'drops':
      return (r) => r.verdict !== 'forward';
    case 'dir': {
      const d = n.dir;
      return (r) => r.dir === d;
    }
  }
}

/** Parses a filter (words as given on the command line, joined by spaces). */
export function parseDumpFilter(text: string): DumpPredicate {
  const ast = parseFilterAst(text);
  if (ast === null) return () => true;
  const root = predicate(ast);
  return (r, s) => root(r, s ?? summarizePacket(r.packet));
}

// ---- bytecode for the addon (native/core/capture_filter.h documents the format) ----

const OP = {
  FALSE: 0x01,
  TX: 0x02,
  RX: 0x03,
  VERDICT: 0x04,
  DROPS: 0x05,
  PEER: 0x06,
  PROTO: 0x07,
  PORT: 0x08,
  HOST4: 0x09,
  HOST6: 0x0a,
  NET4: 0x0b,
  NET6: 0x0c,
  NOT: 0x20,
  AND: 0x21,
  OR: 0x22,
} as const;

/** The longest program CaptureFilter::Decode accepts. */
export const MAX_FILTER_PROGRAM = 4096;

const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

/**
 * The verdict codes (0..255) whose name is `name`, as decodeCaptureRecords names them: 0 is
 * "forward", k is reasons[k-1], and a code past the list is "reason-k".
 */
function verdictCodes(name: string, reasons: readonly string[]): number[] {
  const codes: number[] = [];
  for (let k = 0; k < 256; k++) {
    if ((k === 0 ? 'forward' : (reasons[k - 1] ?? `reason-${k}`)) === name) codes.push(k);
  }
  return codes;
}

/** An op list that is true when the verdict is one of `codes` (FALSE for none). */
function verdictIn(codes: readonly number[]): number[] {
  if (codes.length === 0) return [OP.FALSE];
  const out = [OP.VERDICT, codes[0]!];
  for (const k of codes.slice(1)) out.push(OP.VERDICT, k, OP.OR);
  return out;
}

/** Whether a string survives UTF-8 encoding unchanged (no lone surrogates). */
const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;

/** The ops of one leaf term. */
function leafOps(n: Exclude<FilterAst, { kind: 'or' | 'and' | 'not' }>, reasons: readonly string[]): number[] {
  switch (n.kind) {
    case 'host':
      return [n.ip.family === 4 ? OP.HOST4 : OP.HOST6, ...n.ip.bytes];
    case 'net':
      return [n.cidr.family === 4 ? OP.NET4 : OP.NET6, n.cidr.prefixLen, ...n.cidr.bytes];
    case 'proto':
      return Number.isInteger(n.proto) && n.proto >= 0 && n.proto <= 255 ? [OP.PROTO, n.proto] : [OP.FALSE];
    case 'port':
      return [OP.PORT, ...be16(n.port)];
    case 'peer': {
      // A decoded record's peer is always well-formed, so a name with a lone surrogate never matches.
      if (!wellFormed(n.name)) return [OP.FALSE];
      const b = Buffer.from(n.name, 'utf8');
      return b.length > 0xffff ? [OP.FALSE] : [OP.PEER, ...be16(b.length), ...b];
    }
    case 'verdict':
      return verdictIn(verdictCodes(n.name, reasons));
    case 'drops': {
      const fwd = verdictCodes('forward', reasons);
      return fwd.length === 1 && fwd[0] === 0 ? [OP.DROPS] : [...verdictIn(fwd), OP.NOT];
    }
    case 'dir':
      return [n.dir === 'tx' ? OP.TX : OP.RX];
  }
}

/** Stack slots needed to evaluate `n` when the needier operand of and/or goes first (Sethi–Ullman). */
function need(n: FilterAst): number {
  if (n.kind === 'not') return need(n.e);
  if (n.kind !== 'and' && n.kind !== 'or') return 1;
  const a = need(n.a),
    b = need(n.b);
  return a === b ? a + 1 : Math.max(a, b);
}

function emit(n: FilterAst, reasons: readonly string[], out: number[]): void {
  switch (n.kind) {
    case 'and':
    case 'or': {
      // Both operands are pure, so their order is free: the needier first keeps the stack shallow
      // (about log2(terms) + 2 deep: at most 14 for a 4096-byte program, CaptureFilter allows 32).
      const [x, y] = need(n.a) >= need(n.b) ? [n.a, n.b] : [n.b, n.a];
      emit(x, reasons, out);
      emit(y, reasons, out);
      out.push(n.kind === 'and' ? OP.AND : OP.OR);
      return;
    }
    case 'not':
      emit(n.e, reasons, out);
      out.push(OP.NOT);
      return;
    default:
      for (const b of leafOps(n, reasons)) out.push(b);
  }
}

/**
 * Compiles a filter for the addon: the postfix program that native/core/capture_filter.h evaluates, with
 * the same meaning as parseDumpFilter(text) on the decoded record. `reasons` is the addon's drop
 * reason list (loadNative().dropReasons): verdict code 0 is forward, code k is reasons[k-1]. An
 * empty filter is an empty program (matches everything). Throws the same UsageError as
 * parseDumpFilter for a bad filter, and a UsageError for one whose program exceeds
 * MAX_FILTER_PROGRAM bytes.
 */
export function compileDumpFilter(text: string, reasons: readonly string[]): Uint8Array {
  const ast = parseFilterAst(text);
  if (ast === null) return new Uint8Array(0);
  const out: number[] = [];
  emit(ast, reasons, out);
  if (out.length > MAX_FILTER_PROGRAM) {
    throw new UsageError(
      `bad filter "${text}": too long for the native capture filter (${out.length} bytes of program, at most ${MAX_FILTER_PROGRAM})`,
    );
  }
  return Uint8Array.from(out);
}
