// Differential test: the addon's capture filter (native/core/capture_filter.h, reached through the
// test-only captureFilterMatch) against the reference, src/dump/filter.ts parseDumpFilter, on random
// filters × random packets × random direction/verdict/peer; then fixed cases, and malformed
// programs that Decode must refuse. Reproduce a failure with
// VXTUN_SEED=<seed printed below> npx tap test/native/capture-filter.test.ts.
import t from 'tap';
import type { CaptureRecord } from '../../src/dump/capture.js';
import { compileDumpFilter, parseDumpFilter } from '../../src/dump/filter.js';
import { loadTestingAddon } from '../../src/dataplane/testing.js';
import { formatIP, parseIP } from '../../src/net/ip.js';
import {
  addressIn,
  buildIp,
  hex,
  makePrefix,
  put16,
  Rng,
  tcpSegment,
  testSeed,
  udpDatagram,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const REASONS = native.dropReasons;
const SEED = testSeed(0xf11e7e57);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

// ---- the pools that filters and packets draw from (so that terms actually match) ---------------

const ip = (s: string): Uint8Array => parseIP(s)!.bytes;
const V4 = ['10.244.1.2', '10.244.2.2', '10.244.2.3', '10.245.0.1', '192.168.1.1', '0.0.0.0'].map(ip);
const V6 = ['fd10:244:0:1::2', 'fd10:244:0:2::2', 'fd10:244:0:2::3', '::ffff:10.244.1.2', '::', 'fe80::1'].map(ip);
const PORTS = [0, 22, 53, 80, 5201, 40000, 65535];
const PROTOS = [6, 17, 1, 58, 0, 41, 44, 132, 255];
/** Names a decoded record can carry (well-formed strings: decodeCaptureRecords makes them from UTF-8). */
const RECORD_PEERS = ['', 'node-2', 'node-3', 'Node-2', 'nöde-2', 'and', '日本-1'];
/** Filter peer names; '\ud800x' (a lone surrogate) can never equal a decoded name. */
const FILTER_PEERS = ['node-2', 'node-3', 'Node-2', 'nöde-2', 'and', '日本-1', 'node', '\ud800x'];

interface Ctx {
  dir: number;
  verdict: number;
  peer: string;
  packet: Uint8Array;
}

/** The record decodeCaptureRecords would make for this context. */
function record(c: Ctx, reasons: readonly string[]): CaptureRecord {
  const packet = Buffer.from(c.packet);
  return {
    tsNs: 0n,
    dir: c.dir === 0 ? 'tx' : 'rx',
    verdict: c.verdict === 0 ? 'forward' : (reasons[c.verdict - 1] ?? `reason-${c.verdict}`),
    peer: c.peer,
    vtep: '0.0.0.0',
    worker: 0,
    prefix: null,
    packet,
    origLen: packet.length,
  };
}

// ---- random packets ----------------------------------------------------------------------------

const FRAG_FIELDS = [0x4000, 0x4000, 0x0000, 0x2000, 0x2001, 0x0001, 0x1fff, 0x00b9, 0xe000, 0x8000];

function randomAddr(rng: Rng, family: 4 | 6): Uint8Array {
  const pool = family === 4 ? V4 : V6;
  if (rng.chance(0.8)) return rng.pick(pool);
  // Near a pool address (same /16 or /48 and more), or anywhere.
  if (rng.chance(0.7))
    return addressIn(rng, makePrefix(rng.pick(pool), family === 4 ? rng.range(16, 31) : rng.range(48, 127)));
  return rng.bytes(family === 4 ? 4 : 16);
}

function l4For(rng: Rng, proto: number): Uint8Array {
  if (proto === 6 || proto === 17) {
    const payload = rng.bytes(rng.int(24));
    const l4 =
      proto === 6 ? tcpSegment(rng, payload, rng.chance(0.8) ? 5 : rng.range(6, 15)) : udpDatagram(rng, payload);
    put16(l4, 0, rng.chance(0.85) ? rng.pick(PORTS) : rng.int(0x10000));
    put16(l4, 2, rng.chance(0.85) ? rng.pick(PORTS) : rng.int(0x10000));
    return l4;
  }
  if (proto === 1 || proto === 58)
    return Uint8Array.from([rng.pick([0, 8, 128, 129, 3]), 0, ...rng.bytes(rng.int(20))]);
  return rng.bytes(rng.int(30));
}

/** A valid-looking IPv4/IPv6 packet, maybe with an odd IHL or a fragment field, maybe truncated. */
function randomIpPacket(rng: Rng): Uint8Array {
  const family = rng.chance(0.55) ? 4 : 6;
  const proto = rng.chance(0.7) ? rng.pick([6, 17, 6, 17, 1, 58]) : rng.chance(0.8) ? rng.pick(PROTOS) : rng.byte();
  const l4 = l4For(rng, proto);
  const src = randomAddr(rng, family);
  const dst = randomAddr(rng, family);
  let p: Uint8Array;
  if (family === 4) {
    p = buildIp({
      family,
      src,
      dst,
      proto,
      l4,
      ihl: rng.chance(0.85) ? 5 : rng.range(6, 15),
      fragField: rng.pick(FRAG_FIELDS),
      rng,
    });
    if (rng.chance(0.05)) p[0] = 0x40 | rng.int(5); // IHL below 5: the summary still reads ports where it points
  } else {
    p = buildIp({ family, src, dst, proto, l4, rng });
  }
  if (rng.chance(0.35)) {
    // Truncate: anywhere, or right around the header / port boundaries.
    const hl = family === 4 ? (p[0]! & 0x0f) * 4 : 40;
    const near = [19, 20, 21, 39, 40, 41, hl + 1, hl + 2, hl + 3, hl + 4, hl + 5];
    p = p.subarray(0, Math.min(p.length, rng.chance(0.5) ? rng.int(p.length + 1) : rng.pick(near)));
  }
  return p;
}

/** Random bytes, sometimes with an IP version nibble. */
function garbage(rng: Rng): Uint8Array {
  const p = rng.bytes(rng.int(rng.chance(0.3) ? 8 : 80));
  if (p.length > 0 && rng.chance(0.6)) p[0] = (rng.pick([4, 6, 4, 6, 0, 5, 15]) << 4) | (p[0]! & 0x0f);
  return p;
}

function randomCtx(rng: Rng): Ctx {
  const packet = rng.chance(0.85) ? randomIpPacket(rng) : garbage(rng);
  return {
    dir: rng.chance(0.95) ? rng.int(2) : rng.range(2, 255), // any non-zero byte reads as rx
    verdict: rng.chance(0.45)
      ? 0
      : rng.chance(0.9)
        ? rng.range(1, REASONS.length)
        : rng.pick([200, 255, REASONS.length + 1]),
    peer: rng.pick(RECORD_PEERS),
    packet,
  };
}

// ---- random filters ----------------------------------------------------------------------------

type Ast = { op: 'and' | 'or'; a: Ast; b: Ast } | { op: 'not'; e: Ast } | { op: 'leaf'; kind: string; text: string };

const PREC = { or: 1, and: 2, not: 3, leaf: 3 } as const;

function randomCidr(rng: Rng): string {
  const family = rng.chance(0.55) ? 4 : 6;
  const a = rng.pick(family === 4 ? V4 : V6);
  const bits = family === 4 ? 32 : 128;
  const len = rng.chance(0.3) ? rng.pick([0, bits, bits - 1, 8]) : rng.range(family === 4 ? 8 : 16, bits);
  // Host bits may stay set: `net` parses non-strictly and clears them.
  return `${formatIP(rng.chance(0.5) ? a : makePrefix(a, len).bytes)}/${len}`;
}

function randomLeaf(rng: Rng): Ast {
  const leaf = (kind: string, text: string): Ast => ({ op: 'leaf', kind, text });
  switch (
    rng.weighted([
      ['host', 4],
      ['net', 4],
      ['proto', 3],
      ['port', 4],
      ['word', 3],
      ['peer', 2],
      ['verdict', 2],
      ['drops', 1],
      ['dir', 2],
    ] as const)
  ) {
    case 'host': {
      const a = rng.chance(0.5) ? rng.pick(V4) : rng.pick(V6);
      const text = rng.chance(0.1) && a.length === 16 ? formatIP(a).toUpperCase() : formatIP(a);
      return leaf(a.length === 4 ? 'host4' : 'host6', `host ${text}`);
    }
    case 'net': {
      const c = randomCidr(rng);
      return leaf(c.includes(':') ? 'net6' : 'net4', `net ${c}`);
    }
    case 'proto':
      return leaf(
        'proto',
        `${rng.pick(['proto', 'PROTO'])} ${rng.chance(0.6) ? rng.pick(PROTOS) : rng.pick(['tcp', 'udp', 'icmp', 'icmp6', 'UDP', '006'])}`,
      );
    case 'port': {
      const p = String(rng.pick(PORTS));
      return leaf('port', `port ${p.length < 5 && rng.chance(0.1) ? `0${p}` : p}`); // '05201' is 5201
    }
    case 'word':
      return leaf('word', rng.pick(['tcp', 'udp', 'icmp', 'icmp6', 'TCP', 'Icmp6', 'tcp', 'udp']));
    case 'peer':
      return leaf('peer', `peer ${rng.pick(FILTER_PEERS)}`);
    case 'verdict':
      return leaf(
        'verdict',
        `verdict ${rng.chance(0.7) ? rng.pick(['forward', ...REASONS]) : rng.pick(['NO-ROUTE', 'Forward', 'bogus', 'reason-200', 'reason-0'])}`,
      );
    case 'drops':
      return leaf('drops', rng.pick(['drops', 'DROPS']));
    default:
      return leaf('dir', rng.pick(['tx', 'rx', 'TX', 'Rx']));
  }
}

function randomAst(rng: Rng, depth: number): Ast {
  if (depth === 0 || rng.chance(0.3)) return randomLeaf(rng);
  const kind = rng.weighted([
    ['and', 4],
    ['or', 4],
    ['not', 2],
  ] as const);
  if (kind === 'not') return { op: 'not', e: randomAst(rng, depth - 1) };
  return { op: kind, a: randomAst(rng, depth - 1), b: randomAst(rng, depth - 1) };
}

/** The text of a tree, with the parentheses its structure needs and some it does not. */
function astText(rng: Rng, n: Ast): string {
  const sub = (c: Ast, minPrec: number): string => {
    const s = astText(rng, c);
    return PREC[c.op] < minPrec || rng.chance(0.1) ? (rng.chance(0.5) ? `( ${s} )` : `(${s})`) : s;
  };
  switch (n.op) {
    case 'leaf':
      return n.text;
    case 'not':
      return `${rng.pick(['not', '!', 'NOT'])} ${sub(n.e, PREC.not)}`;
    case 'and':
      return `${sub(n.a, PREC.and)} ${rng.pick(['and', '&&', 'AND'])} ${sub(n.b, PREC.and + 1)}`;
    case 'or':
      return `${sub(n.a, PREC.or)} ${rng.pick(['or', '||', 'Or'])} ${sub(n.b, PREC.or + 1)}`;
  }
}

// ---- the comparison ----------------------------------------------------------------------------

/** Runs `filter` on every context both ways; returns the matches and reports each disagreement. */
function compare(
  filter: string,
  ctxs: readonly Ctx[],
  reasons: readonly string[],
  report: (msg: string, extra: object) => void,
): number {
  const ref = parseDumpFilter(filter);
  const prog = compileDumpFilter(filter, reasons);
  let matches = 0;
  for (const c of ctxs) {
    const want = ref(record(c, reasons));
    const got = native.captureFilterMatch(prog, c.dir, c.verdict, c.peer, c.packet);
    if (got !== want) {
      report(`seed ${SEED}: "${filter}" native ${got} reference ${want}`, {
        program: hex(prog),
        dir: c.dir,
        verdict: c.verdict,
        peer: c.peer,
        packet: hex(c.packet),
      });
    }
    matches += want ? 1 : 0;
  }
  return matches;
}

t.test('captureFilterMatch = parseDumpFilter on random filters × random packets', async (t) => {
  const rng = new Rng(SEED);
  const ctxs = Array.from({ length: 500 }, () => randomCtx(rng.fork()));
  let bad = 0;
  const report = (msg: string, extra: object) => {
    if (++bad <= 10) t.fail(msg, extra);
  };
  const FILTERS = 400;
  let both = 0,
    pairs = 0,
    matched = 0;
  const lengths = new Map<number, number>();
  for (let i = 0; i < FILTERS; i++) {
    const frng = rng.fork();
    const filter = astText(frng, randomAst(frng, frng.range(0, 4)));
    const m = compare(filter, ctxs, REASONS, report);
    if (m > 0 && m < ctxs.length) both++;
    matched += m;
    pairs += ctxs.length;
    const words = filter.split(/\s+/).length;
    lengths.set(words, (lengths.get(words) ?? 0) + 1);
  }
  t.equal(bad, 0, `${pairs} filter × packet pairs agree`);
  t.ok(both >= FILTERS * 0.4, `${both}/${FILTERS} filters match some packets and miss others`);
  t.ok(matched > pairs * 0.1 && matched < pairs * 0.9, `${matched}/${pairs} pairs match`);
  t.comment(`filters by word count: ${JSON.stringify(Object.fromEntries([...lengths].sort((a, b) => a[0] - b[0])))}`);
});

t.test('every single term both matches and misses, and agrees with the reference', async (t) => {
  const rng = new Rng(SEED ^ 0x7e57);
  const ctxs = Array.from({ length: 400 }, () => randomCtx(rng.fork()));
  let bad = 0;
  const report = (msg: string, extra: object) => {
    if (++bad <= 10) t.fail(msg, extra);
  };
  const byKind = new Map<string, { yes: number; no: number }>();
  for (let i = 0; i < 600; i++) {
    const leaf = randomLeaf(rng) as Extract<Ast, { op: 'leaf' }>;
    const m = compare(leaf.text, ctxs, REASONS, report);
    const k = byKind.get(leaf.kind) ?? { yes: 0, no: 0 };
    k.yes += m;
    k.no += ctxs.length - m;
    byKind.set(leaf.kind, k);
  }
  t.equal(bad, 0, 'single terms agree');
  for (const kind of ['host4', 'host6', 'net4', 'net6', 'proto', 'port', 'word', 'peer', 'verdict', 'drops', 'dir']) {
    const k = byKind.get(kind) ?? { yes: 0, no: 0 };
    t.ok(k.yes >= 20 && k.no >= 20, `${kind}: ${k.yes} matches, ${k.no} misses`);
  }
});

t.test('truncation at every length', async (t) => {
  const rng = new Rng(SEED ^ 0x7c);
  const a4 = V4[0]!,
    b4 = V4[1]!,
    a6 = V6[0]!,
    b6 = V6[1]!;
  const ports = (l4: Uint8Array) => (put16(l4, 0, 40000), put16(l4, 2, 5201), l4);
  const bases: [string, Uint8Array][] = [
    ['v4 tcp', buildIp({ family: 4, src: a4, dst: b4, proto: 6, l4: ports(tcpSegment(rng, rng.bytes(8))) })],
    [
      'v4 tcp ihl 7',
      buildIp({ family: 4, src: a4, dst: b4, proto: 6, l4: ports(tcpSegment(rng, rng.bytes(4))), ihl: 7, rng }),
    ],
    ['v4 udp', buildIp({ family: 4, src: a4, dst: b4, proto: 17, l4: ports(udpDatagram(rng, rng.bytes(4))) })],
    [
      'v4 udp MF',
      buildIp({ family: 4, src: a4, dst: b4, proto: 17, l4: ports(udpDatagram(rng, rng.bytes(4))), fragField: 0x2000 }),
    ],
    [
      'v4 udp offset',
      buildIp({ family: 4, src: a4, dst: b4, proto: 17, l4: ports(udpDatagram(rng, rng.bytes(4))), fragField: 0x0001 }),
    ],
    ['v4 icmp', buildIp({ family: 4, src: a4, dst: b4, proto: 1, l4: Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1) })],
    ['v6 tcp', buildIp({ family: 6, src: a6, dst: b6, proto: 6, l4: ports(tcpSegment(rng, rng.bytes(8))) })],
    ['v6 udp', buildIp({ family: 6, src: a6, dst: b6, proto: 17, l4: ports(udpDatagram(rng, rng.bytes(4))) })],
    ['v6 icmp6', buildIp({ family: 6, src: a6, dst: b6, proto: 58, l4: Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1) })],
  ];
  const filters = [
    'port 5201',
    'port 40000',
    'not port 5201',
    'tcp',
    'udp',
    'icmp',
    'icmp6',
    'proto 0',
    'not proto 0',
    'host 10.244.1.2',
    'host fd10:244:0:2::2',
    'net 0.0.0.0/0',
    'net ::/0',
    'net 10.244.2.0/24 and udp',
    'tcp and port 40000 or icmp6',
    'not (net 0.0.0.0/0 or net ::/0)',
  ];
  let bad = 0,
    n = 0;
  const report = (msg: string, extra: object) => {
    if (++bad <= 10) t.fail(msg, extra);
  };
  for (const [, p] of bases) {
    const ctxs = Array.from({ length: p.length + 1 }, (_, len) => ({
      dir: 0,
      verdict: 0,
      peer: '',
      packet: p.subarray(0, len),
    }));
    for (const f of filters) {
      compare(f, ctxs, REASONS, report);
      n += ctxs.length;
    }
  }
  t.equal(bad, 0, `${n} truncated packets agree`);
});

t.test('an unusual drop-reason list (duplicates, "forward", upper case) still agrees', async (t) => {
  const reasons = ['forward', 'no-route', 'no-route', 'Upper', ...REASONS];
  const rng = new Rng(SEED ^ 0x4ea5);
  const ctxs = Array.from({ length: 200 }, () => {
    const c = randomCtx(rng.fork());
    c.verdict = rng.chance(0.8) ? rng.int(8) : rng.range(0, 255);
    return c;
  });
  let bad = 0;
  const report = (msg: string, extra: object) => {
    if (++bad <= 10) t.fail(msg, extra);
  };
  const filters = [
    'drops',
    'not drops',
    'verdict forward',
    'verdict no-route',
    'verdict upper',
    'verdict Upper',
    'verdict reason-200',
    'verdict short',
    'drops and verdict no-route',
  ];
  for (const f of filters) compare(f, ctxs, reasons, report);
  t.equal(bad, 0, 'verdict terms agree');
});

// ---- fixed cases -------------------------------------------------------------------------------

t.test('fixed cases', async (t) => {
  const rng = new Rng(1);
  const tcp4 = (over: Partial<Parameters<typeof buildIp>[0]> = {}) => {
    const l4 = tcpSegment(rng, new Uint8Array(4));
    put16(l4, 0, 40000);
    put16(l4, 2, 5201);
    return buildIp({ family: 4, src: ip('10.244.1.2'), dst: ip('10.244.2.2'), proto: 6, l4, ...over });
  };
  const udp6 = (src = 'fd10:244:0:1::2', proto = 17) => {
    const l4 = udpDatagram(rng, new Uint8Array(4));
    put16(l4, 0, 53);
    put16(l4, 2, 1234);
    return buildIp({ family: 6, src: ip(src), dst: ip('fd10:244:0:2::2'), proto, l4 });
  };
  const lowIhl = tcp4();
  lowIhl[0] = 0x40; // IHL 0: the ports are read from offset 0 (0x4000) and 2 (the total length)
  const ctx = (packet: Uint8Array, over: Partial<Ctx> = {}): Ctx => ({
    dir: 0,
    verdict: 0,
    peer: 'node-2',
    packet,
    ...over,
  });
  const NO_ROUTE = REASONS.indexOf('no-route') + 1;
  const cases: [string, Ctx, boolean][] = [
    ['', ctx(new Uint8Array(0)), true],
    ['host 10.244.1.2', ctx(tcp4()), true],
    ['host 10.244.2.2', ctx(tcp4()), true],
    ['host 10.244.9.9', ctx(tcp4()), false],
    ['host ::ffff:10.244.1.2', ctx(tcp4()), false], // an IPv4 address never equals its mapped form
    ['host 10.244.1.2', ctx(udp6('::ffff:10.244.1.2')), false],
    ['host ::ffff:10.244.1.2', ctx(udp6('::ffff:10.244.1.2')), true],
    ['net 0.0.0.0/0', ctx(tcp4()), true],
    ['net 0.0.0.0/0', ctx(udp6()), false],
    ['net ::/0', ctx(udp6()), true],
    ['net ::/0', ctx(tcp4()), false],
    ['net 0.0.0.0/0 or net ::/0', ctx(Uint8Array.of(0x45, 0, 0)), false], // non-IP: no address at all
    ['net 10.244.2.255/23', ctx(tcp4()), true], // host bits cleared: 10.244.2.0/23
    ['net 10.244.3.0/24', ctx(tcp4()), false],
    ['net fd10:244:0:2::/64', ctx(udp6()), true],
    ['net fd10:244:0:3::/64', ctx(udp6()), false],
    ['port 5201', ctx(tcp4()), true],
    ['port 40000', ctx(tcp4()), true],
    ['port 80', ctx(tcp4()), false],
    ['port 5201', ctx(tcp4({ fragField: 0x2000 })), true], // MF alone: still the first fragment
    ['port 5201', ctx(tcp4({ fragField: 0x0001 })), false], // a later fragment has no ports
    ['port 5201', ctx(tcp4({ fragField: 0x8001 })), false],
    ['tcp', ctx(tcp4({ fragField: 0x0001 })), true],
    ['port 5201', ctx(tcp4().subarray(0, 23)), false], // only 3 bytes of TCP header
    ['port 5201', ctx(tcp4().subarray(0, 24)), true],
    ['port 5201', ctx(tcp4({ ihl: 15, rng }).subarray(0, 62)), false],
    ['port 16384', ctx(lowIhl), true],
    ['port 53', ctx(udp6()), true],
    ['port 53', ctx(udp6('fd10:244:0:1::2', 0)), false], // extension headers are not followed
    ['proto 0', ctx(udp6('fd10:244:0:1::2', 0)), true],
    ['icmp6', ctx(udp6('fd10:244:0:1::2', 58)), true],
    ['icmp', ctx(udp6('fd10:244:0:1::2', 1)), true], // proto is the number alone, whatever the family
    ['proto 0', ctx(Uint8Array.of(0x45, 0, 0)), false], // non-IP: proto -1
    ['not proto 0', ctx(Uint8Array.of(0x45, 0, 0)), true],
    ['port 0', ctx(new Uint8Array(64)), false],
    ['PROTO TCP', ctx(tcp4()), true],
    ['proto 006', ctx(tcp4()), true],
    ['peer node-2', ctx(tcp4()), true],
    ['peer Node-2', ctx(tcp4()), false],
    ['peer node', ctx(tcp4()), false],
    ['peer nöde-2', ctx(tcp4(), { peer: 'nöde-2' }), true],
    ['peer node-2', ctx(tcp4(), { peer: '' }), false],
    ['drops', ctx(tcp4()), false],
    ['drops', ctx(tcp4(), { verdict: NO_ROUTE }), true],
    ['verdict forward', ctx(tcp4()), true],
    ['verdict no-route', ctx(tcp4(), { verdict: NO_ROUTE }), true],
    ['verdict NO-ROUTE', ctx(tcp4(), { verdict: NO_ROUTE }), true],
    ['verdict no-route', ctx(tcp4(), { verdict: 1 }), false],
    ['verdict bogus', ctx(tcp4(), { verdict: 0 }), false],
    ['verdict reason-200', ctx(tcp4(), { verdict: 200 }), true], // what decodeCaptureRecords calls an unknown code
    ['tx', ctx(tcp4()), true],
    ['rx', ctx(tcp4()), false],
    ['rx', ctx(tcp4(), { dir: 1 }), true],
    ['rx', ctx(tcp4(), { dir: 7 }), true],
    ['tx or rx and drops', ctx(tcp4()), true], // and binds tighter
    ['(tx or rx) and drops', ctx(tcp4()), false],
    ['not tx and drops', ctx(tcp4(), { dir: 1, verdict: 1 }), true],
    ['not (tx and drops)', ctx(tcp4()), true],
    ['! ! tcp', ctx(tcp4()), true],
    ['(icmp or tcp) and (peer node-2 or drops)', ctx(tcp4()), true],
    ['host 10.244.2.2 and port 5201 or drops', ctx(udp6()), false],
  ];
  for (const [f, c, want] of cases) {
    const prog = compileDumpFilter(f, REASONS);
    t.equal(parseDumpFilter(f)(record(c, REASONS)), want, `reference: "${f}" → ${want}`);
    t.equal(native.captureFilterMatch(prog, c.dir, c.verdict, c.peer, c.packet), want, `native: "${f}" → ${want}`);
  }
});

// ---- malformed programs ------------------------------------------------------------------------

t.test('Decode refuses malformed programs', async (t) => {
  const run = (prog: number[] | Uint8Array) =>
    native.captureFilterMatch(Uint8Array.from(prog), 0, 0, 'node-2', Uint8Array.of(0x45));
  const rejects = (prog: number[] | Uint8Array, re: RegExp, what: string) =>
    t.throws(() => run(prog), { name: 'TypeError', message: re }, what);
  const TX = 0x02,
    NOT = 0x20,
    AND = 0x21,
    OR = 0x22;
  rejects([0x04], /truncated operand/, 'VERDICT without its code');
  rejects([0x07], /truncated operand/, 'PROTO without its number');
  rejects([0x08, 0x14], /truncated operand/, 'PORT with one byte');
  rejects([0x09, 10, 244, 1], /truncated operand/, 'HOST4 with three bytes');
  rejects([0x0a, ...new Array<number>(15).fill(0)], /truncated operand/, 'HOST6 with 15 bytes');
  rejects([0x0b, 24, 10, 244, 1], /truncated operand/, 'NET4 with three address bytes');
  rejects([0x06, 0], /truncated operand/, 'PEER with half its length');
  rejects([0x06, 0, 5, 0x6e, 0x6f], /truncated operand/, 'PEER with a short name');
  rejects([TX, 0x04], /truncated operand .* at byte 1/, 'the position is reported');
  for (const op of [0x00, 0x0d, 0x1f, 0x23, 0x80, 0xff]) rejects([op], /bad opcode/, `opcode ${op}`);
  rejects([TX, 0x10, OR], /bad opcode 16 at byte 1/, 'a bad opcode after a good one');
  rejects([NOT], /stack underflow/, 'NOT on an empty stack');
  rejects([AND], /stack underflow/, 'AND on an empty stack');
  rejects([TX, OR], /stack underflow/, 'OR with one operand');
  rejects([TX, 0x03], /leaves 2 values/, 'two results');
  rejects([TX, TX, TX, AND], /leaves 2 values/, 'two results after an AND');
  rejects([0x0b, 33, 0, 0, 0, 0], /bad prefix/, 'NET4 /33');
  rejects([0x0b, 24, 10, 244, 1, 1], /bad prefix/, 'NET4 with host bits set');
  rejects([0x0c, 129, ...new Array<number>(16).fill(0)], /bad prefix/, 'NET6 /129');
  rejects([0x0c, 127, ...new Array<number>(15).fill(0), 1], /bad prefix/, 'NET6 with the last bit set');
  t.equal(run([0x0b, 32, 10, 244, 1, 1]), false, 'NET4 /32 with every bit is fine');
  t.equal(run([0x0c, 0, ...new Array<number>(16).fill(0)]), false, 'NET6 /0 is fine');
  const deep = (n: number) => [...new Array<number>(n).fill(TX), ...new Array<number>(n - 1).fill(OR)];
  t.equal(run(deep(32)), true, '32 values on the stack are allowed');
  rejects(deep(33), /stack overflow/, '33 values on the stack are not');
  const long = (n: number) => [TX, ...new Array<number>(n - 1).fill(NOT)];
  t.equal(run(long(4096)), false, 'a 4096-byte program is allowed');
  rejects(long(4097), /too long \(4097 bytes/, 'a 4097-byte program is not');
  t.equal(run([]), true, 'the empty program matches');

  // Random and mutated programs: a TypeError or a boolean, never a crash.
  const rng = new Rng(SEED ^ 0xbad);
  const valid = [
    'tcp and port 80',
    'host 10.244.1.2 or net fd10::/16',
    'not peer node-2 and verdict no-route',
    'drops or rx',
  ].map((f) => compileDumpFilter(f, REASONS));
  let accepted = 0,
    refused = 0,
    other = 0;
  for (let i = 0; i < 5000; i++) {
    let prog: Uint8Array;
    if (i % 2 === 0) {
      prog = rng.bytes(rng.int(24));
      for (let j = 0; j < prog.length; j++)
        if (rng.chance(0.7)) prog[j] = rng.pick([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x20, 0x21, 0x22]);
    } else {
      prog = Uint8Array.from(rng.pick(valid));
      for (let k = rng.range(1, 3); k > 0; k--) prog[rng.int(prog.length)] = rng.byte();
      if (rng.chance(0.3)) prog = prog.subarray(0, rng.int(prog.length));
    }
    try {
      const r = native.captureFilterMatch(prog, rng.int(2), rng.int(12), rng.pick(RECORD_PEERS), randomIpPacket(rng));
      if (typeof r === 'boolean') accepted++;
      else other++;
    } catch (e) {
      if (e instanceof TypeError && /^bad capture filter program: /.test(e.message)) refused++;
      else other++;
    }
  }
  t.equal(other, 0, 'every program either decodes and matches or is refused with a TypeError');
  t.ok(accepted > 100 && refused > 100, `${accepted} accepted, ${refused} refused`);
});
