// Writes the fuzzers' seed corpus, native/fuzz/corpus/<harness>/<name>: small, valid (and a few
// deliberately invalid) packets and VXLAN datagrams in each harness's input layout (see the comment
// at the top of each *_fuzz.cc and fuzz_input.h). Deterministic: rerunning rewrites the same files.
//
//   node --import=@tapjs/typescript/import native/fuzz/make-corpus.ts
//
// capture_filter's programs are compiled with the built addon's drop-reason list (build it first).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encap, internetChecksum } from '../../src/dataplane/codec.js';
import { compileDumpFilter } from '../../src/dump/filter.js';
import { loadTestingAddon } from '../../src/dataplane/testing.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const v4 = (s: string): number[] => s.split('.').map(Number);
function v6(s: string): number[] {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const words = (x: string | undefined) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}
const mac = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [...be16(n >>> 16), ...be16(n & 0xffff)];
const bytes = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);

/** The one's-complement sum (folded, not inverted) of the pseudo-header. */
function pseudoSum(src: number[], dst: number[], proto: number, l4len: number): number {
  let s = proto + l4len;
  for (let i = 0; i < src.length; i += 2) s += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

type Csum = 'valid' | 'partial' | 'bad';

/** An IP packet carrying `l4` (TCP: proto 6, checksum at 16; UDP: 17, at 6) with the checksum as asked. */
function ipPacket(
  family: 4 | 6,
  src: string,
  dst: string,
  proto: number,
  l4In: number[],
  csum: Csum,
  opts: { id?: number; frag?: number; ipOptions?: number[] } = {},
): Uint8Array {
  const s = family === 4 ? v4(src) : v6(src);
  const d = family === 4 ? v4(dst) : v6(dst);
  const l4 = [...l4In];
  const at = proto === 6 ? 16 : 6;
  l4[at] = 0;
  l4[at + 1] = 0;
  const seed = pseudoSum(s, d, proto, l4.length);
  let field: number;
  if (csum === 'partial') field = seed;
  else {
    const sum = internetChecksum(Uint8Array.from([...be16(seed), ...l4]));
    field = csum === 'valid' ? sum : sum ^ 0x5555;
  }
  l4[at] = field >> 8;
  l4[at + 1] = field & 0xff;
  if (family === 6) {
    return Uint8Array.from([0x60, 0, 0, 0, ...be16(l4.length), proto, 64, ...s, ...d, ...l4]);
  }
  const optionBytes = opts.ipOptions ?? [];
  const ihl = 5 + optionBytes.length / 4;
  const hdr = [
    0x40 | ihl,
    0,
    ...be16(ihl * 4 + l4.length),
    ...be16(opts.id ?? 0x1234),
    ...be16(opts.frag ?? 0x4000),
    64,
    proto,
    0,
    0,
    ...s,
    ...d,
    ...optionBytes,
  ];
  const c = internetChecksum(Uint8Array.from(hdr));
  hdr[10] = c >> 8;
  hdr[11] = c & 0xff;
  return Uint8Array.from([...hdr, ...l4]);
}

function tcp(payload: number[], opts: { flags?: number; options?: number[]; seq?: number } = {}): number[] {
  const o = opts.options ?? [];
  const doff = 5 + o.length / 4;
  return [
    ...be16(40000),
    ...be16(5201),
    ...be32(opts.seq ?? 0x10203040),
    ...be32(0x0a0b0c0d),
    doff << 4,
    opts.flags ?? 0x18,
    ...be16(501),
    0,
    0,
    0,
    0,
    ...o,
    ...payload,
  ];
}
const udp = (payload: number[]): number[] => [
  ...be16(40001),
  ...be16(9999),
  ...be16(8 + payload.length),
  0,
  0,
  ...payload,
];

const MSS_OPT = [2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; // MSS 1460, NOP NOP, timestamps

// ---- the layout of classify_rx's table (fuzz_input.h) ----
const OUR_MAC = '0a:00:00:00:01:01';
const PEER_MAC = '0a:00:00:00:02:01';
function tableBytes(): number[] {
  const prefix4 = (a: string, len: number) => [...v4(a), len];
  const prefix6 = (a: string, len: number) => [...v6(a), len];
  return [
    1, // one peer
    ...v4('192.168.99.2'),
    ...mac(PEER_MAC),
    1,
    ...prefix4('10.244.2.0', 24),
    1,
    ...prefix6('fd10:244:0:2::', 64),
    1, // local CIDRs
    ...prefix4('10.244.1.0', 24),
    1,
    ...prefix6('fd10:244:0:1::', 64),
  ];
}
/**
 * flags: bit0 acceptUnknownVteps, bit1 checkInnerSource, bit2 the outer source in the other family's form, bit3 IPv6
 * peer addresses (2001:db8::<the 4 bytes>), bits 4..6 outer source (0 = the peer, 7 = unknown), bit7 remoteChecksum.
 */
function rxInput(flags: number, datagram: Uint8Array | number[]): Uint8Array {
  return Uint8Array.from([flags, 0, 0, 1, ...mac(OUR_MAC), ...tableBytes(), ...datagram]);
}
const dg = (pkt: Uint8Array, vni = 1, dstMac = OUR_MAC): Uint8Array =>
  encap(pkt, vni, Uint8Array.from(mac(dstMac)), Uint8Array.from(mac(PEER_MAC)));

const STRICT = 0x02;
const v4udp = ipPacket(4, '10.244.2.2', '10.244.1.2', 17, udp(bytes(32, 1)), 'valid');
const v4tcp = ipPacket(4, '10.244.2.2', '10.244.1.2', 6, tcp(bytes(100, 2), { options: MSS_OPT }), 'valid');
const v6udp = ipPacket(6, 'fd10:244:0:2::2', 'fd10:244:0:1::2', 17, udp(bytes(40, 3)), 'valid');
const v6tcp = ipPacket(6, 'fd10:244:0:2::2', 'fd10:244:0:1::2', 6, tcp(bytes(64, 4)), 'partial');
const withType = (d: Uint8Array, type: number): Uint8Array => {
  const c = Uint8Array.from(d);
  c[20] = type >> 8;
  c[21] = type & 0xff;
  return c;
};
/** A datagram with remote checksum offload: the C bit and its start/offset byte (native/core/vxlan.h). */
const withRco = (d: Uint8Array, startOffset: number): Uint8Array => {
  const c = Uint8Array.from(d);
  c[1] = 0x20;
  c[7] = startOffset;
  return c;
};
const flipped = (d: Uint8Array, at: number, x: number): Uint8Array => {
  const c = Uint8Array.from(d);
  c[at]! ^= x;
  return c;
};

// ---- capture_filter's layout (capture_filter_fuzz.cc): program, dir, verdict, peer, packet ----
const REASONS = loadTestingAddon().dropReasons;
function filterInput(
  program: Uint8Array | number[],
  dir: number,
  verdict: string,
  peer: string,
  packet: Uint8Array | number[],
): Uint8Array {
  const name = [...Buffer.from(peer, 'utf8')];
  const code = verdict === 'forward' ? 0 : REASONS.indexOf(verdict) + 1;
  return Uint8Array.from([...be16(program.length), ...program, dir, code, name.length, ...name, ...packet]);
}
const compiled = (filter: string): Uint8Array => compileDumpFilter(filter, REASONS);

// ---- pcapng_epb's layout (pcapng_epb_fuzz.cc): one capture record and the node's underlay address ----
/** vtep/node: an address (its family picks the selector), 'none', or for node null: no outer context. */
function epbInput(o: {
  rx?: boolean;
  prefix?: boolean;
  vtep: string;
  node: string | null;
  verdict?: string;
  extra?: number;
  drops?: number;
  peer?: string;
  data: Uint8Array | number[];
}): Uint8Array {
  const sel = (a: string | null) => (a === null ? 3 : a === 'none' ? 0 : a.includes(':') ? 2 : 1);
  const addr = (a: string | null) => {
    const b = a === null || a === 'none' ? [] : a.includes(':') ? v6(a) : v4(a);
    return [...b, ...new Array<number>(16 - b.length).fill(0)];
  };
  const nodeSel = o.node === null ? 3 : o.node === 'none' ? 2 : o.node.includes(':') ? 1 : 0;
  const flags = (o.rx ? 1 : 0) | (o.prefix ? 2 : 0) | (sel(o.vtep) << 2) | (nodeSel << 4) | (o.drops ? 0x40 : 0);
  const verdict = !o.verdict || o.verdict === 'forward' ? 0 : REASONS.indexOf(o.verdict) + 1;
  const name = [...Buffer.from(o.peer ?? '', 'utf8')];
  return Uint8Array.from([
    flags,
    verdict,
    ...be16(o.extra ?? 0),
    ...(o.drops ? be16(o.drops - 1) : []),
    ...addr(o.vtep),
    ...addr(o.node),
    ...be16(8472),
    0,
    0,
    1,
    name.length,
    ...name,
    ...o.data,
  ]);
}

const corpus: Record<string, Record<string, Uint8Array>> = {
  classify_rx: {
    'v4-udp-forward': rxInput(STRICT, dg(v4udp)),
    'v4-tcp-forward': rxInput(STRICT, dg(v4tcp)),
    'v6-udp-forward': rxInput(STRICT, dg(v6udp)),
    'v6-tcp-partial-forward': rxInput(STRICT, dg(v6tcp)),
    'unknown-vtep': rxInput(STRICT | 0x70, dg(v4udp)),
    'unknown-vtep-accepted': rxInput(STRICT | 0x01 | 0x70, dg(v4udp)),
    // RCO: TCP at 14 + 20 (start 17), UDP over IPv6 at 14 + 40 (27 | 0x80); refused when not accepted; not trusted
    // when its start does not match the packet (forwarded, summed as any other).
    'rco-v4-tcp': rxInput(STRICT | 0x80, withRco(dg(v4tcp), 17)),
    'rco-v6-udp': rxInput(STRICT | 0x80, withRco(dg(v6udp), 0x80 | 27)),
    'rco-not-accepted': rxInput(STRICT, withRco(dg(v4tcp), 17)),
    'rco-mismatch': rxInput(STRICT | 0x80, withRco(dg(v4tcp), 18)),
    'v6-vtep-forward': rxInput(STRICT | 0x08, dg(v4udp)),
    'v6-vtep-v4-source': rxInput(STRICT | 0x08 | 0x04, dg(v4udp)),
    'v4-vtep-mapped-source': rxInput(STRICT | 0x04, dg(v6udp)),
    'spoofed-source': rxInput(STRICT, dg(ipPacket(4, '10.244.3.9', '10.244.1.2', 17, udp(bytes(8, 5)), 'valid'))),
    'spoofed-source-unchecked': rxInput(
      0,
      dg(ipPacket(6, 'fd10:244:0:3::9', 'fd10:244:0:1::2', 17, udp(bytes(8, 6)), 'valid')),
    ),
    'not-local': rxInput(STRICT, dg(ipPacket(4, '10.244.2.2', '10.244.7.2', 17, udp(bytes(8, 7)), 'valid'))),
    vni: rxInput(STRICT, dg(v4udp, 42)),
    'bad-mac': rxInput(STRICT, dg(v4udp, 1, '0a:00:00:00:09:09')),
    'bad-header': rxInput(STRICT, flipped(dg(v4udp), 0, 0x0c)),
    'bad-header-reserved': rxInput(STRICT, flipped(dg(v4udp), 7, 0x01)),
    ethertype: rxInput(STRICT, withType(dg(v4udp), 0x0806)),
    'ethertype-mismatch': rxInput(STRICT, withType(dg(v4udp), 0x86dd)),
    'bad-ip-checksum': rxInput(STRICT, flipped(dg(v4udp), 22 + 10, 0xff)),
    'bad-ip-truncated': rxInput(STRICT, dg(v4udp).subarray(0, 22 + 12)),
    short: rxInput(STRICT, dg(v4udp).subarray(0, 21)),
  },
  parse_ip: {
    'v4-udp': v4udp,
    'v4-tcp-options': v4tcp,
    'v4-ip-options': ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(20, 8)), 'valid', {
      ipOptions: [0x94, 4, 0, 0],
    }),
    'v4-fragment': ipPacket(4, '10.244.1.2', '10.244.2.2', 17, udp(bytes(16, 9)), 'valid', { frag: 0x2000 }),
    'v4-no-route': ipPacket(4, '10.244.1.2', '10.99.0.1', 1, [8, 0, 0, 0, 0, 1, 0, 1], 'valid'),
    'v6-udp': v6udp,
    'v6-tcp': v6tcp,
    'v6-local': ipPacket(6, 'fd10:244:0:1::2', 'fd10:244:0:1::3', 17, udp([]), 'valid'),
    'v4-trailing-bytes': Uint8Array.from([...v4udp, 0, 0, 0, 0]),
    'v4-truncated': v4udp.subarray(0, 19),
  },
  segment_tcp: {
    // mss, maxSegs − 1, capacity mode, packet
    'v4-mss1448': Uint8Array.from([
      ...be16(1448),
      255,
      0,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(4000, 10), { flags: 0x19 }), 'partial'),
    ]),
    'v4-mss536-options-cwr': Uint8Array.from([
      ...be16(536),
      255,
      0,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(1700, 11), { flags: 0x98, options: MSS_OPT }), 'valid'),
    ]),
    'v6-mss1000-fin': Uint8Array.from([
      ...be16(1000),
      255,
      0,
      ...ipPacket(6, 'fd10:244:0:1::2', 'fd10:244:0:2::2', 6, tcp(bytes(2500, 12), { flags: 0x11 }), 'partial'),
    ]),
    'v4-exact-fit': Uint8Array.from([
      ...be16(100),
      255,
      1,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(350, 13)), 'valid'),
    ]),
    'v4-too-small': Uint8Array.from([
      ...be16(100),
      255,
      2,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(350, 14)), 'valid'),
    ]),
    'v4-too-many': Uint8Array.from([
      ...be16(10),
      3,
      0,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(100, 15)), 'valid'),
    ]),
    'v4-no-payload': Uint8Array.from([
      ...be16(1448),
      0,
      0,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp([], { flags: 0x10 }), 'valid'),
    ]),
    'v4-seq-wrap': Uint8Array.from([
      ...be16(700),
      255,
      0,
      ...ipPacket(4, '10.244.1.2', '10.244.2.2', 6, tcp(bytes(2000, 16), { seq: 0xffffff00 }), 'valid', { id: 0xffff }),
    ]),
  },
  checksum: {
    'v4-tcp-partial': ipPacket(4, '10.244.2.2', '10.244.1.2', 6, tcp(bytes(300, 17)), 'partial'),
    'v4-udp-partial': ipPacket(4, '10.244.2.2', '10.244.1.2', 17, udp(bytes(33, 18)), 'partial'),
    'v6-tcp-partial': v6tcp,
    'v6-udp-partial': ipPacket(6, 'fd10:244:0:2::2', 'fd10:244:0:1::2', 17, udp(bytes(7, 19)), 'partial'),
    'v4-tcp-valid': v4tcp,
    'v4-udp-bad': ipPacket(4, '10.244.2.2', '10.244.1.2', 17, udp(bytes(20, 20)), 'bad'),
    'v4-udp-zero': (() => {
      const p = Uint8Array.from(v4udp);
      p[20 + 6] = 0;
      p[20 + 7] = 0;
      return p;
    })(),
    'v4-fragment': ipPacket(4, '10.244.2.2', '10.244.1.2', 6, tcp(bytes(40, 21)), 'partial', { frag: 0x2000 }),
  },
  capture_filter: {
    'tcp-port': filterInput(compiled('tcp and port 5201'), 0, 'forward', 'node-2', v4tcp),
    'host-or-net6': filterInput(compiled('host 10.244.2.2 or net fd10:244::/32'), 1, 'forward', 'node-2', v6udp),
    'not-drops-peer-rx': filterInput(
      compiled('not (drops or peer node-2) and rx'),
      1,
      'spoofed-source',
      'node-3',
      v4udp,
    ),
    'verdict-icmp': filterInput(
      compiled('verdict no-route and icmp'),
      0,
      'no-route',
      '',
      ipPacket(4, '10.244.1.2', '10.99.0.1', 1, [8, 0, 0, 0, 0, 1, 0, 1], 'valid'),
    ),
    'udp-fragment': filterInput(
      compiled('udp and not port 53'),
      0,
      'forward',
      'node-2',
      ipPacket(4, '10.244.1.2', '10.244.2.2', 17, udp(bytes(16, 22)), 'valid', { frag: 0x2001 }),
    ),
    'net4-truncated': filterInput(
      compiled('net 10.244.0.0/16 and ( port 9999 || proto 58 ) or tx'),
      1,
      'forward',
      'node-2',
      v4udp.subarray(0, 23),
    ),
    'v6-tcp-words': filterInput(
      compiled('! ( icmp6 or udp ) && host fd10:244:0:1::2 && port 40000'),
      0,
      'forward',
      'gateway',
      v6tcp,
    ),
    'empty-garbage': filterInput([], 0, 'forward', '', bytes(30, 23)),
    underflow: filterInput([0x02, 0x21], 0, 'forward', '', v4udp),
  },
  pcapng_epb: {
    'v4-tx-forward': epbInput({
      prefix: true,
      vtep: '192.168.99.2',
      node: '192.168.99.1',
      peer: 'node-2',
      data: dg(v4tcp),
    }),
    'v4-rx-drop-snapped': epbInput({
      rx: true,
      prefix: true,
      vtep: '192.168.99.3',
      node: '192.168.99.1',
      verdict: 'unknown-vtep',
      extra: 1400,
      drops: 7,
      data: dg(v4udp).subarray(0, 60),
    }),
    'v4-tx-no-route': epbInput({ vtep: 'none', node: '192.168.99.1', verdict: 'no-route', data: v4udp }),
    'v6-tx-forward': epbInput({ prefix: true, vtep: 'fd99::2', node: 'fd99::1', peer: 'node-2', data: dg(v6tcp) }),
    'v6-rx-forward-v4-inner': epbInput({
      rx: true,
      prefix: true,
      vtep: 'fd99::2',
      node: 'fd99::1',
      peer: 'node-2',
      data: dg(v4udp),
    }),
    'v6-rx-gro-train': epbInput({
      rx: true,
      prefix: true,
      vtep: 'fd99::2',
      node: 'fd99::1',
      peer: 'node-2',
      extra: 63000,
      data: dg(v6udp),
    }),
    'v6-tx-no-route': epbInput({ vtep: 'none', node: 'fd99::1', verdict: 'no-route', data: v6udp }),
    'v6-node-v4-vtep': epbInput({ rx: true, prefix: true, vtep: '192.168.99.2', node: 'fd99::1', data: dg(v4udp) }),
    'v4-node-v6-vtep': epbInput({ prefix: true, vtep: 'fd99::2', node: '192.168.99.1', data: dg(v6udp) }),
    'v6-no-outer': epbInput({ rx: true, prefix: true, vtep: 'fd99::2', node: null, peer: 'node-2', data: dg(v6udp) }),
    'v6-short-prefix': epbInput({ prefix: true, vtep: 'fd99::2', node: 'fd99::1', data: bytes(13, 24) }),
  },
};

let total = 0;
for (const [harness, files] of Object.entries(corpus)) {
  const dir = path.join(here, 'corpus', harness);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) rmSync(path.join(dir, f));
  for (const [name, data] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), data);
    total += data.length;
  }
  process.stdout.write(`${harness}: ${Object.keys(files).length} seeds\n`);
}
process.stdout.write(`${total} bytes in all\n`);
