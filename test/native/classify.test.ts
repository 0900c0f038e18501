// Differential test: the native classifier (Table.classifyTx / classifyRx) against the reference
// codec (src/dataplane/codec.ts checkTx / checkRx) on random tables and thousands of random and mutated
// packets. Reproduce a failure with VXTUN_SEED=<seed printed below> npx tap test/native/classify.test.ts.
import t from 'tap';
import {
  checkRx,
  checkTx,
  DROP_REASONS,
  encap as refEncap,
  ENCAP_PREFIX,
  type RxOptions,
  type Table as RefTable,
} from '../../src/dataplane/codec.js';
import { loadTestingAddon, type Classification, type NativeTableHandle } from '../../src/dataplane/testing.js';
import type { DataplanePolicy, DataplaneTable } from '../../src/dataplane/types.js';
import { Cidr } from '../../src/net/cidr.js';
import { formatIP, parseIP } from '../../src/net/ip.js';
import { formatMac } from '../../src/net/mac.js';
import {
  addressIn,
  buildIp,
  fixIpv4HeaderChecksum,
  hex,
  NET10,
  NETFD,
  prefixesOverlap,
  put16,
  randomPrefixIn,
  Rng,
  tcpSegment,
  testSeed,
  udpDatagram,
  type Prefix,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0x5eed0c1a);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

// ---- random tables -----------------------------------------------------------------------------

interface Node {
  name: string;
  publicIP: string;
  mac: Uint8Array;
  /** A dual-stack node's second endpoint (publicIP is then IPv4) and its MAC. */
  publicIPv6?: string;
  mac6?: Uint8Array;
  v4: Prefix[];
  v6: Prefix[];
}

/** A node's endpoint addresses: publicIP, then publicIPv6 when dual-stack. */
const endpoints = (n: Node): string[] => [n.publicIP, ...(n.publicIPv6 ? [n.publicIPv6] : [])];

interface World {
  local: Node;
  peers: Node[];
  nativeTable: DataplaneTable;
  refTable: RefTable;
  handle: NativeTableHandle;
  vni: number;
}

/**
 * 1–50 peers and a local node, each with random pod CIDRs inside 10.0.0.0/8 (/16–/30) and
 * fd00::/8 (/48–/120): no CIDR overlaps any other (so the longest-prefix match is unambiguous and
 * the table is a valid config). Public IPs and MACs are unique; about a third of the peers with an IPv4 public IP
 * are dual-stack (a second, IPv6 endpoint).
 */
function randomWorld(rng: Rng): World {
  const taken: Prefix[] = [];
  const fresh = (base: Prefix, lo: number, hi: number): Prefix => {
    for (let tries = 0; ; tries++) {
      const p = randomPrefixIn(rng, base, rng.range(lo, hi));
      if (!taken.some((q) => prefixesOverlap(p, q))) {
        taken.push(p);
        return p;
      }
      if (tries > 10000) throw new Error('cannot place a prefix');
    }
  };
  const ips = new Set<string>();
  const macs = new Set<string>();
  const node = (name: string, nv4: number, nv6: number): Node => {
    let publicIP: string;
    // Underlay addresses of either family (native/core/underlay_addr.h): the receive checks compare family and bytes.
    do
      publicIP = rng.chance(0.7)
        ? `192.168.${rng.int(256)}.${rng.range(1, 254)}`
        : formatIP(rng.bytes(rng.chance(0.5) ? 4 : 16));
    while (ips.has(publicIP));
    ips.add(publicIP);
    let mac: Uint8Array;
    do {
      mac = rng.bytes(6);
      mac[0] = (mac[0]! & 0xfe) | 0x02;
    } while (macs.has(formatMac(mac)));
    macs.add(formatMac(mac));
    const v4 = Array.from({ length: nv4 }, () => fresh(NET10, 16, 30));
    const v6 = Array.from({ length: nv6 }, () => fresh(NETFD, 48, 120));
    if (publicIP.includes(':') || !rng.chance(0.35)) return { name, publicIP, mac, v4, v6 };
    let publicIPv6: string;
    do publicIPv6 = formatIP(Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...rng.bytes(12)]));
    while (ips.has(publicIPv6));
    ips.add(publicIPv6);
    return { name, publicIP, mac, publicIPv6, mac6: rng.bytes(6), v4, v6 };
  };
  const local = node('local', rng.range(1, 2), rng.chance(0.8) ? rng.range(1, 2) : 0);
  const npeers = rng.range(1, 50);
  const peers = Array.from({ length: npeers }, (_, i) =>
    node(
      `peer-${i}`,
      rng.weighted([
        [0, 1],
        [1, 6],
        [2, 2],
        [3, 1],
      ]),
      rng.weighted([
        [0, 3],
        [1, 5],
        [2, 2],
      ]),
    ),
  );
  const nativeTable: DataplaneTable = {
    local: [...local.v4, ...local.v6].map((p) => p.text),
    peers: peers.map((p) => ({
      name: p.name,
      publicIP: p.publicIP,
      vtepMAC: formatMac(p.mac),
      ...(p.publicIPv6 ? { publicIPv6: p.publicIPv6, vtepMACv6: formatMac(p.mac6!) } : {}),
      cidrs: [...p.v4, ...p.v6].map((c) => c.text),
    })),
  };
  const ip = (s: string) => {
    const v = parseIP(s);
    if (v === null) throw new Error(`bad IP ${s}`);
    return v;
  };
  const refTable: RefTable = {
    local: { podCIDRs: nativeTable.local.map((c) => Cidr.parse(c)) },
    peers: peers.map((p) => ({
      name: p.name,
      publicIP: ip(p.publicIP),
      vtepMAC: formatMac(p.mac),
      ...(p.publicIPv6 ? { publicIPv6: ip(p.publicIPv6), vtepMACv6: formatMac(p.mac6!) } : {}),
      podCIDRs: [...p.v4, ...p.v6].map((c) => Cidr.parse(c.text)),
    })),
  };
  const vni = rng.chance(0.3) ? 1 : rng.range(0, 0xffffff);
  return { local, peers, nativeTable, refTable, handle: new native.Table(nativeTable), vni };
}

/** Describes a table compactly for failure messages. */
const describeTable = (w: World): string =>
  JSON.stringify({ vni: w.vni, vtepMAC: formatMac(w.local.mac), ...w.nativeTable });

// ---- random packets ----------------------------------------------------------------------------

/** A random IPv4 or IPv6 packet from src to dst (valid header, random L4, maybe padded). */
function randomPacket(rng: Rng, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const family = src.length === 4 ? 4 : 6;
  const payloadLen = rng.chance(0.9) ? rng.int(200) : rng.int(1500);
  const payload = rng.bytes(payloadLen);
  const proto = rng.weighted([
    [6, 4],
    [17, 4],
    [family === 4 ? 1 : 58, 1],
    [rng.byte(), 1],
  ]);
  const l4 =
    proto === 6 ? tcpSegment(rng, payload, rng.range(5, 15)) : proto === 17 ? udpDatagram(rng, payload) : payload;
  return buildIp({
    family,
    src,
    dst,
    proto,
    l4,
    ihl: rng.chance(0.8) ? 5 : rng.range(5, 15),
    fragField: rng.chance(0.8) ? 0x4000 : rng.int(0x10000),
    trailing: rng.chance(0.8) ? undefined : rng.bytes(rng.range(1, 30)),
    rng,
  });
}

/** A random address: inside a peer's / the local node's CIDR, in the pod supernet, or anywhere. */
function randomDst(rng: Rng, w: World, family: 4 | 6): Uint8Array {
  const kind = rng.weighted([
    ['peer', 14],
    ['local', 2],
    ['supernet', 2],
    ['anywhere', 1],
  ] as const);
  const peerCidrs = w.peers.flatMap((n) => (family === 4 ? n.v4 : n.v6));
  const localCidrs = family === 4 ? w.local.v4 : w.local.v6;
  if (kind === 'peer' && peerCidrs.length > 0) return addressIn(rng, rng.pick(peerCidrs));
  if (kind === 'local' && localCidrs.length > 0) return addressIn(rng, rng.pick(localCidrs));
  if (kind === 'anywhere') return rng.bytes(family === 4 ? 4 : 16);
  return addressIn(rng, family === 4 ? NET10 : NETFD);
}

/** Damages an IP packet so it is (usually) malformed; returns the new packet and what was done. */
function malform(rng: Rng, p: Uint8Array): { pkt: Uint8Array; how: string } {
  const q = Uint8Array.from(p);
  const how = rng.pick([
    'empty',
    'truncate',
    'version',
    'ihl',
    'total-length',
    'v6-payload-length',
    'garbage',
    'byte',
  ] as const);
  switch (how) {
    case 'empty':
      return { pkt: new Uint8Array(0), how };
    case 'truncate':
      return { pkt: q.subarray(0, rng.int(Math.min(q.length, 70))), how };
    case 'version':
      q[0] = (rng.int(16) << 4) | (q[0]! & 0x0f);
      return { pkt: q, how };
    case 'ihl':
      if (q.length > 0) q[0] = (q[0]! & 0xf0) | rng.int(16);
      return { pkt: q, how };
    case 'total-length':
    case 'v6-payload-length': {
      const off = q[0]! >> 4 === 4 ? 2 : 4;
      const cur = (q[off]! << 8) | q[off + 1]!;
      const v = rng.chance(0.5) ? cur + rng.range(-25, 25) : rng.int(0x10000);
      put16(q, off, Math.max(0, Math.min(0xffff, v)));
      return { pkt: q, how };
    }
    case 'garbage':
      return { pkt: rng.bytes(rng.int(80)), how };
    case 'byte':
      for (let k = 0, n = rng.range(1, 3); k < n; k++) q[rng.int(Math.min(q.length, 40))] = rng.byte();
      return { pkt: q, how };
  }
}

// ---- comparison --------------------------------------------------------------------------------

/** The reference result in the addon's shape. */
function normTx(r: ReturnType<typeof checkTx>): Classification {
  return r.verdict === 'forward'
    ? { verdict: 'forward', peer: r.peer, length: r.length }
    : { verdict: r.reason, peer: null, length: 0 };
}
function normRx(r: ReturnType<typeof checkRx>): Classification {
  return r.verdict === 'forward'
    ? { verdict: 'forward', peer: r.peer, length: r.length }
    : { verdict: r.reason, peer: null, length: 0 };
}
const same = (a: Classification, b: Classification): boolean =>
  a.verdict === b.verdict && a.peer === b.peer && a.length === b.length;

const TABLES = 24;

t.test('the addon and the reference agree on drop-reason names', async (t) => {
  t.same([...native.dropReasons].sort(), [...DROP_REASONS].sort());
});

t.test('classifyTx agrees with codec.checkTx on random packets', async (t) => {
  const rng = new Rng(SEED ^ 0x7a7a);
  const seen = new Map<string, number>();
  let n = 0;
  let bad = 0;
  for (let ti = 0; ti < TABLES; ti++) {
    const w = randomWorld(rng.fork());
    const trng = rng.fork();
    for (let ci = 0; ci < 260; ci++) {
      const family = w.local.v6.length + w.peers.reduce((s, p) => s + p.v6.length, 0) > 0 && trng.chance(0.4) ? 6 : 4;
      const src = randomDst(trng, w, family);
      let pkt = randomPacket(trng, src, randomDst(trng, w, family));
      let how = 'valid';
      if (trng.chance(0.25)) ({ pkt, how } = malform(trng, pkt));
      const got = w.handle.classifyTx(pkt);
      const want = normTx(checkTx(pkt, w.refTable));
      n++;
      seen.set(want.verdict, (seen.get(want.verdict) ?? 0) + 1);
      if (!same(got, want)) {
        bad++;
        if (bad <= 5) {
          t.fail(
            `seed ${SEED} table ${ti} case ${ci} (${how}): native ${JSON.stringify(got)} reference ${JSON.stringify(want)}`,
            {
              packet: hex(pkt),
              table: bad === 1 ? describeTable(w) : '(as above)',
            },
          );
        }
      }
    }
  }
  t.ok(n >= 5000, `${n} packets`);
  t.equal(bad, 0, `native and reference agree on ${n} packets`);
  // The generator must reach every transmit verdict, or the comparison proves little.
  for (const v of ['forward', 'short', 'bad-ip', 'no-route'])
    t.ok((seen.get(v) ?? 0) >= 50, `${v}: ${seen.get(v) ?? 0} cases`);
  t.comment(`tx verdicts: ${JSON.stringify(Object.fromEntries(seen))}`);
});

// ---- receive -----------------------------------------------------------------------------------

interface RxCase {
  datagram: Uint8Array;
  from: string;
  policyVni: number;
  how: string[];
}

/** A valid datagram from a random peer to us, as the peer's kernel would send it. */
function validDatagram(rng: Rng, w: World): { d: Uint8Array; sender: Node; family: 4 | 6 } {
  const sender = rng.pick(w.peers);
  const families = ([4, 6] as const).filter((f) => (f === 4 ? sender.v4 : sender.v6).length > 0);
  const family = families.length > 0 ? rng.pick(families) : 4;
  const srcCidrs = family === 4 ? sender.v4 : sender.v6;
  const src = srcCidrs.length > 0 ? addressIn(rng, rng.pick(srcCidrs)) : addressIn(rng, family === 4 ? NET10 : NETFD);
  const dstCidrs = family === 4 ? w.local.v4 : w.local.v6;
  const dst = dstCidrs.length > 0 ? addressIn(rng, rng.pick(dstCidrs)) : addressIn(rng, family === 4 ? NET10 : NETFD);
  const pkt = randomPacket(rng, src, dst);
  const d = refEncap(pkt, w.vni, w.local.mac, sender.mac);
  return { d, sender, family };
}

const RX_MUTATIONS = [
  'vxlan-flags',
  'vxlan-reserved',
  'vni',
  'policy-vni',
  'dst-mac',
  'src-mac',
  'ethertype',
  'ip-byte',
  'ip-byte-fixed-csum',
  'ip-csum',
  'csum-zero-or-ffff',
  'spoof-src',
  'non-local-dst',
  'unknown-outer',
  'other-peer-outer',
  'truncate',
  'trailing',
  'length-field',
  'version',
] as const;
type RxMutation = (typeof RX_MUTATIONS)[number];

/** Flips one random bit of b[i] (if b has that byte). */
function flipBit(b: Uint8Array, i: number, rng: Rng): void {
  if (i < b.length) b[i] = b[i]! ^ (1 << rng.int(8));
}

function mutate(rng: Rng, w: World, c: RxCase, m: RxMutation, family: 4 | 6): void {
  let d = c.datagram;
  const inner = (): Uint8Array => d.subarray(ENCAP_PREFIX);
  const hasV4Header = (): boolean => d.length >= ENCAP_PREFIX + 20 && d[ENCAP_PREFIX]! >> 4 === 4;
  const refix = (): void => {
    if (hasV4Header()) fixIpv4HeaderChecksum(inner());
  };
  const addrOff = (which: 'src' | 'dst'): number =>
    family === 4 ? (which === 'src' ? 12 : 16) : which === 'src' ? 8 : 24;
  switch (m) {
    case 'vxlan-flags':
      d[0] = rng.chance(0.5) ? rng.byte() : 0x08 ^ (1 << rng.int(8));
      break;
    case 'vxlan-reserved':
      d[rng.pick([1, 2, 3, 7])] = rng.range(1, 255);
      break;
    case 'vni':
      flipBit(d, rng.range(4, 6), rng);
      break;
    case 'policy-vni':
      c.policyVni = rng.chance(0.5) ? (w.vni ^ (1 << rng.int(24))) >>> 0 : rng.int(0x1000000);
      break;
    case 'dst-mac':
      flipBit(d, rng.range(8, 13), rng);
      break;
    case 'src-mac':
      if (d.length >= 20) d.set(rng.bytes(6), 14);
      break;
    case 'ethertype':
      put16(d, 20, rng.pick([0x0806, 0x8100, 0x0000, 0x86dd, 0x0800, 0x88cc, rng.int(0x10000)]));
      break;
    case 'ip-byte': {
      const n = Math.min(inner().length, family === 4 ? 60 : 40);
      if (n > 0) flipBit(inner(), rng.int(n), rng);
      break;
    }
    case 'ip-byte-fixed-csum': {
      const n = Math.min(inner().length, family === 4 ? 20 : 40);
      if (n > 0) inner()[rng.int(n)] = rng.byte();
      refix();
      break;
    }
    case 'ip-csum':
      if (inner().length >= 12) flipBit(inner(), rng.range(10, 11), rng);
      break;
    case 'csum-zero-or-ffff':
      // Choose the identification so that the correct header checksum is 0x0000, then write it as
      // 0x0000 or as 0xffff (both verify: the one's-complement sum is all ones either way).
      if (hasV4Header()) {
        const p = inner();
        const hl = (p[0]! & 0x0f) * 4;
        if (hl >= 20 && hl <= p.length) {
          put16(p, 4, 0);
          put16(p, 10, 0);
          let s = 0;
          for (let i = 0; i < hl; i += 2) s += (p[i]! << 8) | p[i + 1]!;
          while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
          put16(p, 4, 0xffff - s); // now the folded sum of the header is 0xffff
          put16(p, 10, rng.chance(0.5) ? 0xffff : 0);
        }
      }
      break;
    case 'spoof-src': {
      if (inner().length >= addrOff('src') + (family === 4 ? 4 : 16)) {
        inner().set(randomDst(rng, w, family), addrOff('src'));
        refix();
      }
      break;
    }
    case 'non-local-dst': {
      if (inner().length >= addrOff('dst') + (family === 4 ? 4 : 16)) {
        inner().set(randomDst(rng, w, family), addrOff('dst'));
        refix();
      }
      break;
    }
    case 'unknown-outer': {
      // Random addresses of either family, or a peer's IPv4 address in its IPv4-mapped IPv6 form: nobody's.
      const v4Peer = w.peers.find((p) => !p.publicIP.includes(':'));
      const k = rng.int(4);
      if (k === 0) c.from = `192.168.${rng.int(256)}.${rng.int(256)}`;
      else if (k === 1) c.from = formatIP(rng.bytes(4));
      else if (k === 2 || !v4Peer) c.from = formatIP(rng.bytes(16));
      else c.from = `::ffff:${v4Peer.publicIP}`;
      break;
    }
    case 'other-peer-outer':
      c.from = rng.pick(endpoints(rng.pick(w.peers)));
      break;
    case 'truncate':
      d = d.subarray(0, rng.int(d.length + 1));
      break;
    case 'trailing': {
      const e = new Uint8Array(d.length + rng.range(1, 40));
      e.set(d);
      e.set(rng.bytes(e.length - d.length), d.length);
      d = e;
      break;
    }
    case 'length-field': {
      if (inner().length >= 6) {
        const off = family === 4 ? 2 : 4;
        const cur = (inner()[off]! << 8) | inner()[off + 1]!;
        put16(
          inner(),
          off,
          Math.max(0, Math.min(0xffff, rng.chance(0.7) ? cur + rng.range(-30, 30) : rng.int(0x10000))),
        );
        refix();
      }
      break;
    }
    case 'version':
      if (inner().length > 0) {
        inner()[0] = (rng.pick([0, 4, 5, 6, 7, 15, rng.int(16)]) << 4) | (inner()[0]! & 0x0f);
        refix();
      }
      break;
  }
  c.datagram = d;
}

const POLICIES = [
  { acceptUnknownVteps: false, checkInnerSource: true },
  { acceptUnknownVteps: false, checkInnerSource: false },
  { acceptUnknownVteps: true, checkInnerSource: true },
  { acceptUnknownVteps: true, checkInnerSource: false },
] as const;

/** Runs one case under all four policies; returns the failures (as messages) and records verdicts. */
function compareRx(
  w: World,
  c: RxCase,
  seen: Map<string, number>,
): { got: Classification; want: Classification; policy: string }[] {
  const out: { got: Classification; want: Classification; policy: string }[] = [];
  const from = parseIP(c.from);
  if (from === null) throw new Error(`bad outer source ${c.from}`);
  for (const pol of POLICIES) {
    const np: DataplanePolicy = { vni: c.policyVni, vtepMAC: formatMac(w.local.mac), ...pol };
    const rp: RxOptions = { vni: c.policyVni, localMac: w.local.mac, ...pol };
    const got = w.handle.classifyRx(c.datagram, c.from, np);
    const want = normRx(checkRx(c.datagram, from, w.refTable, rp));
    seen.set(want.verdict, (seen.get(want.verdict) ?? 0) + 1);
    if (!same(got, want)) out.push({ got, want, policy: JSON.stringify(pol) });
  }
  return out;
}

t.test('classifyRx agrees with codec.checkRx on random and mutated datagrams, under every policy', async (t) => {
  const rng = new Rng(SEED ^ 0x4242);
  const seen = new Map<string, number>();
  let n = 0;
  let bad = 0;
  let encapChecked = 0;
  let encapBad = 0;
  const report = (w: World, ti: number, ci: string, c: RxCase, fails: ReturnType<typeof compareRx>): void => {
    if (fails.length === 0) return;
    bad++;
    if (bad > 5) return;
    const f = fails[0]!;
    t.fail(
      `seed ${SEED} table ${ti} case ${ci} [${c.how.join(',') || 'valid'}] policy ${f.policy}: ` +
        `native ${JSON.stringify(f.got)} reference ${JSON.stringify(f.want)}`,
      {
        datagram: hex(c.datagram),
        from: c.from,
        policyVni: c.policyVni,
        table: bad === 1 ? describeTable(w) : '(see the first failure)',
      },
    );
  };
  for (let ti = 0; ti < TABLES; ti++) {
    const w = randomWorld(rng.fork());
    const crng = rng.fork();
    // Random mutations of valid datagrams.
    for (let ci = 0; ci < 230; ci++) {
      const { d, sender, family } = validDatagram(crng, w);
      if (encapChecked < 500) {
        // While we are here: the addon's encap writes the same bytes as the reference.
        encapChecked++;
        const nd = native.encap(d.subarray(ENCAP_PREFIX), w.vni, formatMac(w.local.mac), formatMac(sender.mac));
        if (Buffer.compare(nd, Buffer.from(d)) !== 0) encapBad++;
      }
      // From either endpoint of a dual-stack sender: both are that peer's.
      const c: RxCase = { datagram: d, from: crng.pick(endpoints(sender)), policyVni: w.vni, how: [] };
      const nm = crng.weighted([
        [0, 2],
        [1, 8],
        [2, 3],
        [3, 1],
      ]);
      for (let k = 0; k < nm; k++) {
        const m = crng.pick(RX_MUTATIONS);
        c.how.push(m);
        mutate(crng, w, c, m, family);
      }
      n++;
      report(w, ti, String(ci), c, compareRx(w, c, seen));
    }
    // Truncation at every length 0..60 of a few valid datagrams.
    for (let bi = 0; bi < 3; bi++) {
      const { d, sender } = validDatagram(crng, w);
      for (let len = 0; len <= Math.min(60, d.length); len++) {
        const c: RxCase = {
          datagram: d.subarray(0, len),
          from: sender.publicIP,
          policyVni: w.vni,
          how: [`truncate-${len}`],
        };
        n++;
        report(w, ti, `trunc-${bi}-${len}`, c, compareRx(w, c, seen));
      }
    }
  }
  t.ok(n >= 5000, `${n} datagrams (x4 policies)`);
  t.equal(bad, 0, `native and reference agree on ${n} datagrams under all four policies`);
  t.equal(encapBad, 0, `native encap matches codec.encap on ${encapChecked} packets`);
  const rxVerdicts = ['forward', ...DROP_REASONS.filter((r) => r !== 'no-route')];
  for (const v of rxVerdicts) t.ok((seen.get(v) ?? 0) >= 40, `${v}: ${seen.get(v) ?? 0} cases`);
  t.comment(`rx verdicts: ${JSON.stringify(Object.fromEntries(seen))}`);
});

t.test('receive edge cases (small table)', async (t) => {
  // A fixed table, to pin down cases random generation rarely reaches.
  const tab: DataplaneTable = {
    local: ['10.1.0.0/24', 'fd00:1::/64'],
    peers: [
      { name: 'b', publicIP: '192.168.0.2', vtepMAC: '0a:00:00:00:00:02', cidrs: ['10.2.0.0/24', 'fd00:2::/64'] },
      { name: 'c', publicIP: '192.168.0.3', vtepMAC: '0a:00:00:00:00:03', cidrs: ['10.3.0.0/24'] },
    ],
  };
  const ref: RefTable = {
    local: { podCIDRs: tab.local.map((c) => Cidr.parse(c)) },
    peers: tab.peers.map((p) => ({
      name: p.name,
      publicIP: parseIP(p.publicIP)!,
      vtepMAC: p.vtepMAC,
      podCIDRs: p.cidrs.map((c) => Cidr.parse(c)),
    })),
  };
  const h = new native.Table(tab);
  const myMac = Uint8Array.of(0x0a, 0, 0, 0, 0, 1);
  const rng = new Rng(SEED);
  const v4 = (src: string, dst: string, edit?: (p: Uint8Array) => void): Uint8Array => {
    const p = buildIp({
      family: 4,
      src: parseIP(src)!.bytes,
      dst: parseIP(dst)!.bytes,
      proto: 17,
      l4: udpDatagram(rng, rng.bytes(10)),
    });
    edit?.(p);
    return refEncap(p, 7, myMac, Uint8Array.of(0x0a, 0, 0, 0, 0, 2));
  };
  const v6 = (src: string, dst: string): Uint8Array => {
    const p = buildIp({
      family: 6,
      src: parseIP(src)!.bytes,
      dst: parseIP(dst)!.bytes,
      proto: 17,
      l4: udpDatagram(rng, rng.bytes(10)),
    });
    return refEncap(p, 7, myMac, Uint8Array.of(0x0a, 0, 0, 0, 0, 2));
  };
  const cases: [string, Uint8Array, string, string][] = [
    ['valid IPv4', v4('10.2.0.5', '10.1.0.9'), '192.168.0.2', 'forward'],
    ['valid IPv6', v6('fd00:2::5', 'fd00:1::9'), '192.168.0.2', 'forward'],
    ['IPv6 from a peer with no IPv6 CIDR', v6('fd00:2::5', 'fd00:1::9'), '192.168.0.3', 'spoofed-source'],
    ['inner source is ours', v4('10.1.0.5', '10.1.0.9'), '192.168.0.2', 'spoofed-source'],
    ['inner destination is the peer', v4('10.2.0.5', '10.2.0.9'), '192.168.0.2', 'not-local'],
    ['our own public IP is unknown', v4('10.2.0.5', '10.1.0.9'), '192.168.0.1', 'unknown-vtep'],
    [
      'header checksum 0xffff for a computed 0',
      v4('10.2.0.5', '10.1.0.9', (p) => {
        put16(p, 4, 0);
        put16(p, 10, 0);
        let s = 0;
        for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        put16(p, 4, 0xffff - s);
        put16(p, 10, 0xffff);
      }),
      '192.168.0.2',
      'forward',
    ],
  ];
  for (const [name, d, from, want] of cases) {
    for (const pol of POLICIES) {
      const got = h.classifyRx(d, from, { vni: 7, vtepMAC: '0a:00:00:00:00:01', ...pol });
      const r = normRx(checkRx(d, parseIP(from)!, ref, { vni: 7, localMac: myMac, ...pol }));
      t.same(got, r, `${name} ${JSON.stringify(pol)}: native = reference`);
      if (!pol.acceptUnknownVteps && pol.checkInnerSource) t.equal(got.verdict, want, `${name}: ${want}`);
    }
  }
});

t.test('a destination inside the local CIDRs is no-route even when a wider peer prefix covers it', (t) => {
  const native = loadTestingAddon();
  const table = new native.Table({
    local: ['10.1.1.0/24'],
    peers: [{ name: 'b', publicIP: '192.168.99.2', vtepMAC: '0a:00:00:00:02:01', cidrs: ['10.1.0.0/16'] }],
  });
  const ref: RefTable = {
    local: { podCIDRs: [Cidr.parse('10.1.1.0/24')] },
    peers: [
      {
        name: 'b',
        publicIP: parseIP('192.168.99.2')!,
        vtepMAC: '0a:00:00:00:02:01',
        podCIDRs: [Cidr.parse('10.1.0.0/16')],
      },
    ],
  };
  const pkt = Buffer.from('4500001400000000000000000000000000000000', 'hex');
  for (const [dst, want] of [
    ['0a010105', 'no-route'],
    ['0a010205', 'forward'],
  ] as const) {
    Buffer.from(dst, 'hex').copy(pkt, 16);
    t.equal(table.classifyTx(pkt).verdict, want, `native: ${dst}`);
    const r = checkTx(pkt, ref);
    t.equal(r.verdict === 'forward' ? 'forward' : r.reason, want, `reference: ${dst}`);
  }
  t.end();
});
