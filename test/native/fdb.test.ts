// Differential test: the native forwarding table's longest-prefix match (Table.lookup) against a
// linear scan written here, on tables of 1, 100 and 10,000 peers with nested prefixes.
// Reproduce a failure with VXTUN_SEED=<seed printed below> npx tap test/native/fdb.test.ts.
import t from 'tap';
import { loadTestingAddon } from '../../src/dataplane/testing.js';
import type { DataplanePeer, DataplaneTable } from '../../src/dataplane/types.js';
import { formatIP, parseIP } from '../../src/net/ip.js';
import {
  addOne,
  addressIn,
  lastAddress,
  makePrefix,
  NET10,
  NETFD,
  prefixContains,
  randomPrefixIn,
  Rng,
  testSeed,
  type Prefix,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0xfdb0);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

// ---- the reference: a linear scan -------------------------------------------------------------

const toWords = (b: Uint8Array): Uint32Array => {
  const w = new Uint32Array(b.length / 4);
  for (let i = 0; i < w.length; i++)
    w[i] = ((b[4 * i]! << 24) | (b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!) >>> 0;
  return w;
};

/**
 * Every prefix of one family as flat rows [word0, mask0, word1, mask1, …, len, owner]: a plain
 * loop over all of them per lookup, slow but obviously right.
 */
class Scan {
  private readonly rows: number[] = [];
  private readonly owners: (string | null)[] = [];
  constructor(private readonly words: number) {}

  add(p: Prefix, owner: string | null): void {
    const w = toWords(p.bytes);
    for (let i = 0; i < this.words; i++) {
      const bits = Math.max(0, Math.min(32, p.len - 32 * i));
      this.rows.push(w[i]!, bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
    }
    this.rows.push(p.len, this.owners.length);
    this.owners.push(owner);
  }

  /** The longest matching prefix (its length and owner) and how many prefixes match; null if none. */
  match(addr: Uint8Array): { len: number; owner: string | null; count: number } | null {
    const w = toWords(addr);
    const stride = 2 * this.words + 2;
    const r = this.rows;
    let best = -1;
    let bestLen = -1;
    let count = 0;
    for (let o = 0; o < r.length; o += stride) {
      let ok = true;
      for (let i = 0; i < this.words; i++) {
        if ((w[i]! & r[o + 2 * i + 1]!) >>> 0 !== r[o + 2 * i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      count++;
      if (r[o + stride - 2]! > bestLen) {
        bestLen = r[o + stride - 2]!;
        best = r[o + stride - 1]!;
      }
    }
    return best < 0 ? null : { len: bestLen, owner: this.owners[best]!, count };
  }
}

class Reference {
  private readonly peers4 = new Scan(1);
  private readonly peers6 = new Scan(4);
  private readonly local4 = new Scan(1);
  private readonly local6 = new Scan(4);

  constructor(local: Prefix[], peers: { name: string; cidrs: Prefix[] }[]) {
    for (const p of local) (p.family === 4 ? this.local4 : this.local6).add(p, null);
    for (const peer of peers)
      for (const p of peer.cidrs) (p.family === 4 ? this.peers4 : this.peers6).add(p, peer.name);
  }

  /** Inside a local CIDR → null; else the owner of the longest matching peer CIDR, or null. */
  lookup(addr: Uint8Array): string | null {
    if ((addr.length === 4 ? this.local4 : this.local6).match(addr) !== null) return null;
    return (addr.length === 4 ? this.peers4 : this.peers6).match(addr)?.owner ?? null;
  }

  /** How many peer prefixes contain addr. */
  depth(addr: Uint8Array): number {
    return (addr.length === 4 ? this.peers4 : this.peers6).match(addr)?.count ?? 0;
  }
}

// ---- random tables with nesting ---------------------------------------------------------------

interface Generated {
  local: Prefix[];
  peers: { name: string; publicIP: string; cidrs: Prefix[] }[];
  all: Prefix[];
  native: DataplaneTable;
}

/**
 * `npeers` peers with 1–3 prefixes each. Prefixes are unique; about a third are nested inside an
 * earlier prefix (of any peer, the same one included) with a strictly longer length, so the
 * longest match matters. IPv4 lengths 8..32 inside 10.0.0.0/8 (and a few elsewhere), IPv6 8..128
 * inside fd00::/8. The local node's CIDRs may themselves be nested inside peer prefixes.
 */
function generate(rng: Rng, npeers: number, opts: { defaultRoutes?: boolean } = {}): Generated {
  const keys = new Set<string>();
  const all: Prefix[] = [];
  const byFamily: Record<4 | 6, Prefix[]> = { 4: [], 6: [] };
  const add = (p: Prefix): boolean => {
    if (keys.has(p.text)) return false;
    keys.add(p.text);
    all.push(p);
    byFamily[p.family].push(p);
    return true;
  };
  /** A random existing prefix of the family that still has room for a longer one inside it. */
  const parentOf = (fam: 4 | 6, maxLen: number): Prefix | null => {
    const xs = byFamily[fam];
    for (let tries = 0; tries < 8 && xs.length > 0; tries++) {
      const p = rng.pick(xs);
      if (p.len < maxLen) return p;
    }
    return null;
  };
  const newPrefix = (): Prefix => {
    for (;;) {
      let p: Prefix;
      const fam = rng.chance(0.6) ? 4 : 6;
      const max = fam === 4 ? 32 : 128;
      const parent = rng.chance(0.35) ? parentOf(fam, max) : null;
      if (parent !== null) {
        const len = rng.chance(0.5)
          ? rng.range(parent.len + 1, Math.min(max, parent.len + 8))
          : rng.range(parent.len + 1, max);
        p = randomPrefixIn(rng, parent, len);
      } else if (fam === 4) {
        p = rng.chance(0.9)
          ? randomPrefixIn(rng, NET10, rng.range(8, 32))
          : randomPrefixIn(rng, makePrefix(rng.bytes(4), 0), rng.range(1, 32));
      } else {
        p = randomPrefixIn(rng, NETFD, rng.chance(0.7) ? rng.range(48, 128) : rng.range(8, 128));
      }
      if (add(p)) return p;
    }
  };
  const ips = new Set<string>();
  const peers = Array.from({ length: npeers }, (_, i) => {
    let publicIP: string;
    do publicIP = formatIP(rng.bytes(4));
    while (ips.has(publicIP));
    ips.add(publicIP);
    return { name: `p${i}`, publicIP, cidrs: Array.from({ length: rng.range(1, 3) }, () => newPrefix()) };
  });
  if (opts.defaultRoutes && peers.length >= 2) {
    for (const [i, text] of [
      [0, '0.0.0.0/0'],
      [1, '::/0'],
    ] as const) {
      const p = makePrefix(parseIP(text.split('/')[0]!)!.bytes, 0);
      if (add(p)) peers[i]!.cidrs.push(p);
    }
  }
  // Local CIDRs: fresh, or nested inside a peer prefix (then those addresses must give null).
  const local: Prefix[] = [];
  for (let k = rng.range(1, 3); k > 0; k--) {
    const fam = rng.chance(0.6) ? 4 : 6;
    const parent = rng.chance(0.5) ? parentOf(fam, fam === 4 ? 30 : 126) : null;
    local.push(
      parent !== null
        ? randomPrefixIn(rng, parent, rng.range(parent.len + 1, fam === 4 ? 32 : 128))
        : randomPrefixIn(rng, fam === 4 ? NET10 : NETFD, fam === 4 ? rng.range(16, 28) : rng.range(48, 120)),
    );
  }
  const nativeTable: DataplaneTable = {
    local: local.map((p) => p.text),
    peers: peers.map((p, i) => ({
      name: p.name,
      publicIP: p.publicIP,
      vtepMAC: `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
      cidrs: p.cidrs.map((c) => c.text),
    })),
  };
  return { local, peers, all, native: nativeTable };
}

/** A random lookup address: inside a prefix, on its edges, inside a local CIDR, or random. */
function randomAddress(rng: Rng, g: Generated): { addr: Uint8Array; text: string } {
  const kind = rng.weighted([
    ['in', 10],
    ['edge', 3],
    ['local', 2],
    ['supernet', 3],
    ['anywhere', 1],
    ['mapped', 1],
  ] as const);
  let addr: Uint8Array;
  switch (kind) {
    case 'in':
      addr = addressIn(rng, rng.pick(g.all));
      break;
    case 'edge': {
      const p = rng.pick(g.all);
      addr = rng.pick([p.bytes, lastAddress(p), addOne(p.bytes, -1), addOne(lastAddress(p), 1)]);
      break;
    }
    case 'local':
      addr = addressIn(rng, rng.pick(g.local));
      break;
    case 'supernet':
      addr = addressIn(rng, rng.chance(0.6) ? NET10 : NETFD);
      break;
    case 'anywhere':
      addr = rng.bytes(rng.chance(0.5) ? 4 : 16);
      break;
    case 'mapped': {
      // "::ffff:10.x.y.z" is an IPv6 address: it never matches an IPv4 prefix.
      const v4 = addressIn(rng, rng.chance(0.8) ? rng.pick(g.all) : NET10).subarray(0, 4);
      addr = new Uint8Array(16);
      addr[10] = 0xff;
      addr[11] = 0xff;
      addr.set(v4, 12);
      break;
    }
  }
  return { addr, text: formatIP(addr) };
}

for (const [npeers, lookups, extra] of [
  [1, 3000, {}],
  [100, 8000, { defaultRoutes: false }],
  [100, 2000, { defaultRoutes: true }],
  [10000, 10000, {}],
] as const) {
  t.test(
    `lookup on ${npeers} peers${extra.defaultRoutes ? ' with default routes' : ''} = linear-scan longest-prefix match`,
    async (t) => {
      const rng = new Rng(SEED ^ (npeers * 7919) ^ (extra.defaultRoutes ? 0x55 : 0));
      const g = generate(rng, npeers, extra);
      const table = new native.Table(g.native);
      const ref = new Reference(g.local, g.peers);
      let bad = 0;
      let hits = 0;
      let nested = 0;
      const byLen = new Set<number>();
      for (let i = 0; i < lookups; i++) {
        const { addr, text } = randomAddress(rng, g);
        const want = ref.lookup(addr);
        const got = table.lookup(text);
        if (want !== null) hits++;
        if (got !== want) {
          bad++;
          if (bad <= 5) {
            const containing = g.peers.flatMap((p) =>
              p.cidrs.filter((c) => prefixContains(c, addr)).map((c) => `${p.name}:${c.text}`),
            );
            t.fail(`seed ${SEED} ${npeers} peers, lookup ${i} ${text}: native ${got} reference ${want}`, {
              containingPrefixes: containing,
              local: g.native.local,
            });
          }
        }
      }
      // How often did the longest match have to beat a shorter one? (A test that never sees
      // nesting proves nothing about "longest wins".)
      for (let i = 0; i < 300; i++) {
        const { addr } = randomAddress(rng, g);
        if (ref.depth(addr) >= 2) nested++;
      }
      for (const p of g.all) byLen.add(p.len);
      t.equal(bad, 0, `${lookups} lookups agree (${hits} routed, ${lookups - hits} null)`);
      t.ok(hits > lookups / 4 && lookups - hits > lookups / 50, 'both routed and unrouted addresses were tried');
      if (npeers >= 100) {
        t.ok(nested > 20, `nested prefixes are exercised (${nested}/300 sampled addresses match 2+ prefixes)`);
        t.ok(byLen.size > 40, `${byLen.size} distinct prefix lengths`);
      }
    },
  );
}

t.test('longest prefix wins regardless of peer order (small tables)', async (t) => {
  const mk = (order: string[]): DataplaneTable => {
    const peers: Record<string, string[]> = {
      wide: ['10.0.0.0/8', 'fd00::/8'],
      mid: ['10.1.0.0/16', 'fd00:1::/32'],
      narrow: ['10.1.2.0/24', 'fd00:1:2::/48'],
      host: ['10.1.2.3/32', 'fd00:1:2::3/128'],
    };
    return {
      local: ['10.1.3.0/24', 'fd00:1:3::/48'],
      peers: order.map((name, i) => ({
        name,
        publicIP: `192.168.0.${i + 1}`,
        vtepMAC: `02:00:00:00:00:0${i + 1}`,
        cidrs: peers[name]!,
      })),
    };
  };
  const cases: [string, string | null][] = [
    ['10.1.2.3', 'host'],
    ['10.1.2.4', 'narrow'],
    ['10.1.2.255', 'narrow'],
    ['10.1.1.1', 'mid'],
    ['10.1.255.255', 'mid'],
    ['10.2.0.0', 'wide'],
    ['10.255.255.255', 'wide'],
    ['11.0.0.0', null],
    ['9.255.255.255', null],
    ['10.1.3.7', null], // local, nested inside mid and wide
    ['fd00:1:2::3', 'host'],
    ['fd00:1:2::4', 'narrow'],
    ['fd00:1:5::', 'mid'],
    ['fd01::1', 'wide'],
    ['fe00::1', null],
    ['fd00:1:3::9', null],
    ['::ffff:10.1.2.3', null],
  ];
  for (const order of [
    ['wide', 'mid', 'narrow', 'host'],
    ['host', 'narrow', 'mid', 'wide'],
    ['mid', 'host', 'wide', 'narrow'],
  ]) {
    const table = new native.Table(mk(order));
    for (const [addr, want] of cases) t.equal(table.lookup(addr), want, `${order.join(',')}: ${addr} → ${want}`);
  }
});

t.test('building a table rejects a prefix or public IP claimed twice', async (t) => {
  const peer = (name: string, publicIP: string, cidrs: string[]) => ({
    name,
    publicIP,
    vtepMAC: '02:00:00:00:00:01',
    cidrs,
  });
  const build =
    (...peers: ReturnType<typeof peer>[]) =>
    () =>
      new native.Table({ local: ['10.9.0.0/24'], peers });
  t.doesNotThrow(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.2', ['10.1.0.0/25'])),
    'nested, different lengths: fine',
  );
  t.doesNotThrow(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.2', ['10.1.1.0/24'])),
    'disjoint: fine',
  );
  t.doesNotThrow(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.2', ['fd00::/24'])),
    'different families: fine',
  );
  t.throws(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.2', ['10.1.0.0/24'])),
    'same IPv4 prefix',
  );
  t.throws(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.2', ['10.2.0.0/24', '10.1.0.0/24'])),
    'same IPv4 prefix, second CIDR',
  );
  t.throws(
    build(peer('a', '192.168.0.1', ['fd00:1::/64']), peer('b', '192.168.0.2', ['fd00:1::/64'])),
    'same IPv6 prefix',
  );
  t.throws(
    build(peer('a', '192.168.0.1', ['fd00:1::/64']), peer('b', '192.168.0.2', ['fd00:1:0:0::/64'])),
    'same IPv6 prefix, written differently',
  );
  t.throws(
    build(peer('a', '192.168.0.1', ['10.1.0.0/24']), peer('b', '192.168.0.1', ['10.2.0.0/24'])),
    'same public IP',
  );
  t.throws(
    build(
      peer('a', '192.168.0.1', ['10.1.0.0/24']),
      peer('b', '192.168.0.2', ['10.2.0.0/24']),
      peer('c', '192.168.0.1', ['10.3.0.0/24']),
    ),
    'same public IP, not adjacent',
  );
  // Same prefix at scale: the 10,000th peer duplicates the first's.
  const many = Array.from({ length: 10000 }, (_, i) =>
    peer(`p${i}`, formatIP(Uint8Array.of(172, 16 + (i >> 16), (i >> 8) & 0xff, i & 0xff)), [
      `10.${i >> 8}.${i & 0xff}.0/24`,
    ]),
  );
  t.doesNotThrow(() => new native.Table({ local: [], peers: many }), '10,000 distinct peers');
  many[9999] = peer('dup', '192.168.200.1', ['10.0.0.0/24']);
  t.throws(() => new native.Table({ local: [], peers: many }), 'a duplicate prefix among 10,000 peers');
  many[9999] = peer('dup', '172.16.0.0', ['10.200.0.0/24']);
  t.throws(() => new native.Table({ local: [], peers: many }), 'a duplicate public IP among 10,000 peers');
});

t.test('incremental updates (Table.update) = a table built from scratch over the same peers', async (t) => {
  const rng = new Rng(SEED ^ 0x0dd5);
  const g = generate(rng, 300, {});
  type Entry = DataplanePeer;
  // The pool: each generated peer, and variants of it (another MAC, another public IP, fewer of its own prefixes),
  // so that no two peers the test puts in a table can claim the same prefix.
  let freshIP = 0;
  const variant = (e: Entry): Entry => {
    const v = { ...e, cidrs: [...e.cidrs] };
    switch (rng.int(3)) {
      case 0:
        v.vtepMAC = `06:00:00:00:${rng.int(256).toString(16).padStart(2, '0')}:${rng.int(256).toString(16).padStart(2, '0')}`;
        break;
      case 1:
        v.publicIP = `100.64.${(++freshIP >> 8) & 0xff}.${freshIP & 0xff}`; // outside formatIP(rng.bytes(4))'s likely set
        break;
      default:
        if (v.cidrs.length > 1) v.cidrs.splice(rng.int(v.cidrs.length), 1);
    }
    return v;
  };
  const pool = new Map(g.native.peers.map((p) => [p.name, p]));
  let current = new Map(g.native.peers.slice(0, 200).map((p) => [p.name, p]));
  const table = new native.Table({ local: g.native.local, peers: [...current.values()] });
  let steps = 0;
  let lookups = 0;
  let bad = 0;
  for (let step = 0; step < 60; step++) {
    const upsert: Entry[] = [];
    const remove: string[] = [];
    const touched = new Set<string>();
    for (let k = rng.range(0, 6); k > 0; k--) {
      const name = `p${rng.int(300)}`;
      if (touched.has(name)) continue;
      touched.add(name);
      if (current.has(name) && rng.chance(0.5)) remove.push(name);
      else upsert.push(current.has(name) ? variant(current.get(name)!) : pool.get(name)!);
    }
    if (rng.chance(0.1)) remove.push('nobody'); // removing an absent peer is a no-op
    // A public IP already used by a peer that stays would be rejected: skip such steps' variants.
    const staying = new Set(
      [...current.values()]
        .filter((p) => !remove.includes(p.name) && !upsert.some((u) => u.name === p.name))
        .map((p) => p.publicIP),
    );
    if (upsert.some((u) => staying.has(u.publicIP))) continue;
    table.update(upsert, remove);
    steps++;
    const next = new Map(current);
    for (const n of remove) next.delete(n);
    for (const u of upsert) next.set(u.name, u);
    current = next;
    const fresh = new native.Table({ local: g.native.local, peers: [...current.values()] });
    const names = (ps: { name: string; publicIP: string; vtepMAC: string }[]) =>
      ps.map((p) => `${p.name} ${p.publicIP} ${p.vtepMAC}`).sort();
    if (names(table.peers()).join('|') !== names(fresh.peers()).join('|') && bad++ < 5)
      t.fail(`step ${step}: peers differ`);
    for (const p of current.values())
      if (table.peerByIp(p.publicIP) !== p.name && bad++ < 5)
        t.fail(`step ${step}: ${p.publicIP} → ${table.peerByIp(p.publicIP)}, want ${p.name}`);
    for (let i = 0; i < 200; i++) {
      const { text } = randomAddress(rng, g);
      lookups++;
      if (table.lookup(text) !== fresh.lookup(text) && bad++ < 5)
        t.fail(`step ${step}: lookup ${text}: updated ${table.lookup(text)}, built ${fresh.lookup(text)}`);
    }
  }
  t.equal(
    bad,
    0,
    `${steps} update steps, ${lookups} lookups: the updated table equals one built from scratch (peers, public IPs, routes)`,
  );
  t.ok(steps > 40, 'most steps applied');

  // A rejected update leaves the table as it was.
  const before = table
    .peers()
    .map((p) => p.name)
    .sort()
    .join();
  const [a, b] = [...current.values()];
  t.throws(
    () => table.update([{ ...a!, name: 'intruder' }], []),
    /claimed by another peer|public IP is used/,
    'a prefix or public IP claimed twice',
  );
  t.throws(() => table.update([b!, b!], []), /listed twice/, 'the same peer twice in one update');
  t.equal(
    table
      .peers()
      .map((p) => p.name)
      .sort()
      .join(),
    before,
    'rejected updates changed nothing',
  );
  const fresh = new native.Table({ local: g.native.local, peers: [...current.values()] });
  const texts = Array.from({ length: 300 }, () => randomAddress(rng, g).text);
  t.ok(
    texts.every((x) => table.lookup(x) === fresh.lookup(x)),
    'and routes as before',
  );
});
