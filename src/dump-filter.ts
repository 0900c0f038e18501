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
import type { CaptureRecord } from './capture.js';
import { UsageError } from './errors.js';
import { Cidr } from './net/cidr.js';
import { ipEquals, parseIP } from './net/ip.js';
import { PROTO, summarizePacket, type PacketSummary } from './packet-summary.js';

export type DumpPredicate = (r: CaptureRecord, s?: PacketSummary) => boolean;

type Node = (r: CaptureRecord, s: PacketSummary) => boolean;

function tokenize(text: string): string[] {
  return text.replace(/([()])/g, ' $1 ').split(/\s+/).filter(Boolean);
}

const PROTO_WORDS: Record<string, number> = PROTO;

/** Parses a filter (words as given on the command line, joined by spaces). */
export function parseDumpFilter(text: string): DumpPredicate {
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
  const or = (): Node => {
    let l = and();
    while (peek() === 'or' || peek() === '||') {
      i++;
      const a = l, b = and();
      l = (r, s) => a(r, s) || b(r, s);
    }
    return l;
  };
  const and = (): Node => {
    let l = unary();
    while (peek() === 'and' || peek() === '&&') {
      i++;
      const a = l, b = unary();
      l = (r, s) => a(r, s) && b(r, s);
    }
    return l;
  };
  const unary = (): Node => {
    const t = peek();
    if (t === 'not' || t === '!') {
      i++;
      const e = unary();
      return (r, s) => !e(r, s);
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
  const term = (): Node => {
    const t = peek();
    if (t === undefined) return bad('a filter term (host, net, proto, port, peer, drops, verdict, tx, rx)');
    if (t in PROTO_WORDS) {
      i++;
      const p = PROTO_WORDS[t]!;
      return (_r, s) => s.proto === p;
    }
    switch (t) {
      case 'host': {
        i++;
        const w = arg('an IP address after "host"');
        const ip = parseIP(w);
        if (!ip) i--, bad('an IP address after "host"');
        return (_r, s) => ipEquals(s.src, ip!) || ipEquals(s.dst, ip!);
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
        return (_r, s) => s.family !== 0 && (c.contains(s.src) || c.contains(s.dst));
      }
      case 'proto': {
        i++;
        const w = arg('a protocol after "proto"').toLowerCase();
        const n = w in PROTO_WORDS ? PROTO_WORDS[w]! : /^\d{1,3}$/.test(w) && Number(w) <= 255 ? Number(w) : NaN;
        if (Number.isNaN(n)) i--, bad('tcp, udp, icmp, icmp6 or 0..255 after "proto"');
        return (_r, s) => s.proto === n;
      }
      case 'port': {
        i++;
        const w = arg('a port after "port"');
        const n = /^\d{1,5}$/.test(w) ? Number(w) : NaN;
        if (!(n <= 65535)) i--, bad('a port 0..65535 after "port"');
        return (_r, s) => s.sport === n || s.dport === n;
      }
      case 'peer': {
        i++;
        const name = arg('a peer name after "peer"');
        return (r) => r.peer === name;
      }
      case 'verdict': {
        i++;
        const v = arg('forward or a drop reason after "verdict"').toLowerCase();
        return (r) => r.verdict === v;
      }
      case 'drops':
        i++;
        return (r) => r.verdict !== 'forward';
      case 'tx':
      case 'rx':
        i++;
        return (r) => r.dir === t;
      default:
        return bad('a filter term (host, net, proto, port, peer, drops, verdict, tx, rx)');
    }
  };
  if (toks.length === 0) return () => true;
  const root = or();
  if (i < toks.length) bad('"and", "or" or the end');
  return (r, s) => root(r, s ?? summarizePacket(r.packet));
}
