// Conflict resolution (src/peers/conflicts.ts): any overlap of two nodes' pod CIDRs — equal or nested, IPv4 or
// IPv6 — leaves the later node out by the documented rule; so do unusable public IPs and our own VTEP MAC. A seeded
// property test checks the invariants against a brute-force model over random nested and equal CIDRs.
import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { resolveConflicts, unusablePublicIP, type ConflictOptions } from '../../src/peers/conflicts.js';
import type { Peer } from '../../src/peers/peer-source.js';
import { staticPeerSource } from '../../src/peers/static.js';
import { uniform } from '../helpers/rng.js';

const peer = (name: string, cidrs: string[], ip: string, mac = '0a:00:00:00:00:01'): Peer => ({
  name,
  podCIDRs: cidrs.map((c) => Cidr.parse(c)),
  publicIP: parseIP(ip)!,
  vtepMAC: mac,
});
const programmedNames = (r: ReturnType<typeof resolveConflicts>) => r.peers.map((p) => p.name).sort();

t.test('a nested pod CIDR is a conflict: the owner keeps it, the newcomer is left out', async (t) => {
  const owner = peer('owner', ['10.244.2.0/24'], '10.0.0.2');
  const nested = peer('aaa-nested', ['10.244.2.0/25'], '10.0.0.3');
  const self = peer('self', ['10.244.1.0/24'], '10.0.0.1');
  let r = resolveConflicts([self, owner, nested], { self: 'self', programmed: (n) => n === 'owner' });
  t.same(programmedNames(r), ['owner', 'self'], 'the programmed owner wins against a newcomer with a smaller name');
  t.same(r.conflicts, [
    { peer: 'aaa-nested', holder: 'owner', what: 'pod CIDR 10.244.2.0/25 (overlaps 10.244.2.0/24)' },
  ]);
  // The other way round: a programmed /25, a newcomer /24 that would contain it.
  r = resolveConflicts([self, owner, nested], { self: 'self', programmed: (n) => n === 'aaa-nested' });
  t.same(programmedNames(r), ['aaa-nested', 'self']);
  t.same(r.conflicts, [
    { peer: 'owner', holder: 'aaa-nested', what: 'pod CIDR 10.244.2.0/24 (overlaps 10.244.2.0/25)' },
  ]);
  // Nothing programmed: the older one.
  r = resolveConflicts([nested, owner, self], {
    self: 'self',
    created: new Map([
      ['owner', 1],
      ['aaa-nested', 2],
    ]),
  });
  t.same(programmedNames(r), ['owner', 'self']);
  // A CIDR containing ours, and one inside ours.
  r = resolveConflicts(
    [self, peer('big', ['10.244.0.0/16'], '10.0.0.5'), peer('small', ['10.244.1.64/26'], '10.0.0.6')],
    { self: 'self' },
  );
  t.same(programmedNames(r), ['self']);
  t.same(
    r.conflicts.map((c) => [c.peer, c.holder, c.what]),
    [
      ['big', 'self', 'pod CIDR 10.244.0.0/16 (overlaps ours)'],
      ['small', 'self', 'pod CIDR 10.244.1.64/26 (overlaps ours)'],
    ],
  );
});

t.test('IPv6: nested and equal pod CIDRs conflict too; different families never do', async (t) => {
  const self = peer('self', ['10.244.1.0/24', 'fd10:244:0:1::/64'], '10.0.0.1');
  const a = peer('a', ['10.244.2.0/24', 'fd10:244:0:2::/64'], '10.0.0.2');
  const b = peer('b', ['10.244.3.0/24', 'fd10:244:0:2:8000::/65'], '10.0.0.3');
  const c = peer('c', ['10.244.4.0/24', 'fd10:244:0:1::/64'], '10.0.0.4');
  const d = peer('d', ['fd10:244:0:5::/64'], '10.0.0.5');
  const r = resolveConflicts([d, c, b, a, self], { self: 'self' });
  t.same(programmedNames(r), ['a', 'd', 'self']);
  t.same(
    r.conflicts.map((x) => [x.peer, x.holder, x.what]),
    [
      ['b', 'a', 'pod CIDR fd10:244:0:2:8000::/65 (overlaps fd10:244:0:2::/64)'],
      ['c', 'self', 'pod CIDR fd10:244:0:1::/64 (overlaps ours)'],
    ],
  );
});

t.test('unusable public IPs and our own VTEP MAC are left out', async (t) => {
  const bad = [
    '127.0.0.1',
    '127.1.2.3',
    '169.254.169.254',
    '0.0.0.0',
    '0.1.2.3',
    '224.0.0.1',
    '239.1.1.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'febf::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
  ];
  for (const ip of bad) t.not(unusablePublicIP(parseIP(ip)!), undefined, `${ip} is unusable`);
  for (const ip of [
    '10.0.0.1',
    '192.168.99.1',
    '8.8.8.8',
    '169.253.1.1',
    'fd00::1',
    '2001:db8::1',
    'fec0::1',
    '::ffff:10.0.0.1',
  ]) {
    t.equal(unusablePublicIP(parseIP(ip)!), undefined, `${ip} is usable`);
  }
  const self = peer('self', ['10.244.1.0/24'], '10.0.0.1', '0a:00:00:00:00:aa');
  const peers = bad.map((ip, i) =>
    peer(`bad-${i}`, [`10.244.${10 + i}.0/24`], ip, `0a:00:00:00:01:${(16 + i).toString(16)}`),
  );
  const mac = peer('same-mac', ['10.244.2.0/24'], '10.0.0.2', '0A:00:00:00:00:AA');
  const good = peer('good', ['10.244.3.0/24'], '10.0.0.3', '0a:00:00:00:00:03');
  const r = resolveConflicts([self, ...peers, mac, good], { self: 'self', selfMAC: '0a:00:00:00:00:aa' });
  t.same(programmedNames(r), ['good', 'self']);
  t.equal(r.conflicts.length, bad.length + 1);
  t.match(
    r.conflicts.find((c) => c.peer === 'bad-2'),
    { holder: 'bad-2', what: 'public IP 169.254.169.254 is link-local' },
  );
  t.match(
    r.conflicts.find((c) => c.peer === 'same-mac'),
    { holder: 'self', what: 'VTEP MAC 0A:00:00:00:00:AA is ours' },
  );
  // A left-out peer claims nothing: its pod CIDR does not knock out a later peer with the same one.
  const later = peer('later', ['10.244.10.0/24'], '10.0.0.10');
  t.same(programmedNames(resolveConflicts([self, peers[0]!, later], { self: 'self' })), ['later', 'self']);
});

t.test('static peers: the same rules (our VTEP MAC is known only at run())', async (t) => {
  const self = peer('self', ['10.244.1.0/24'], '10.0.0.1', '0a:00:00:00:00:aa');
  const twin = peer('twin', ['10.244.2.0/24'], '10.0.0.2', '0a:00:00:00:00:aa');
  const other = peer('other', ['10.244.3.0/24'], '10.0.0.3', '0a:00:00:00:00:03');
  const warned: string[] = [];
  const log = {
    debug() {},
    info() {},
    error() {},
    warn: (m: string, f?: Record<string, unknown>) => warned.push(`${m} ${String(f?.['node'])}`),
  };
  const src = staticPeerSource([self, twin, other], 'self', log);
  const abort = new AbortController();
  let snap: Peer[] = [];
  const running = src.run(
    abort.signal,
    { vni: 1, vtepMAC: '0a:00:00:00:00:aa', publicIP: self.publicIP },
    (p) => (snap = p),
  );
  t.same(snap.map((p) => p.name).sort(), ['other', 'self']);
  t.same(src.state().conflicts, [{ node: 'twin', holder: 'self', reason: 'VTEP MAC 0a:00:00:00:00:aa is ours' }]);
  t.equal(src.state().skipped, 1);
  t.same(warned, ['node skipped: conflicting twin']);
  abort.abort();
  await running;
});

// ---- property test ----

const rng = uniform;

/** The rule, written the obvious O(n²) way. */
function model(cands: readonly Peer[], o: ConflictOptions): Set<string> {
  const rank = (p: Peer) => (p.name === o.self ? 0 : o.programmed?.(p.name) ? 1 : 2);
  const born = (p: Peer) => o.created?.get(p.name) ?? Number.MAX_SAFE_INTEGER;
  const usable = cands.filter((p) => p.name === o.self || unusablePublicIP(p.publicIP) === undefined);
  const sorted = [...usable].sort((a, b) => rank(a) - rank(b) || born(a) - born(b) || (a.name < b.name ? -1 : 1));
  const taken: Cidr[] = [...(o.selfCIDRs ?? [])];
  const ips = new Set<string>();
  const out = new Set<string>();
  for (const p of sorted) {
    const ok =
      p.name === o.self || (!ips.has(p.publicIP.text) && !p.podCIDRs.some((c) => taken.some((x) => x.overlaps(c))));
    if (!ok) continue;
    out.add(p.name);
    taken.push(...p.podCIDRs);
    ips.add(p.publicIP.text);
  }
  return out;
}

t.test(
  'property: random nested and equal CIDRs — no two programmed peers overlap; the rule, whatever the input order',
  async (t) => {
    const seed = Number(process.env['VXTUN_CONFLICT_SEED'] ?? Date.now() % 2 ** 31);
    const iterations = Number(process.env['VXTUN_CONFLICT_ITERATIONS'] ?? 3000);
    t.comment(`seed ${seed} (replay: VXTUN_CONFLICT_SEED=${seed}), ${iterations} iterations`);
    const rand = rng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    // Few distinct bases and a range of lengths, so equal and nested CIDRs are frequent.
    const v4 = (): Cidr => new Cidr(new Uint8Array([10, 244, int(4) << 2, int(4) << 6]), 16 + int(13)); // /16 … /28
    const v6 = (): Cidr => {
      const b = Cidr.parse('fd10:244::/128').bytes.slice();
      b[7] = int(2);
      b[8] = int(4) << 6;
      return new Cidr(b, 56 + int(17)); // /56 … /72
    };
    let failures = 0;
    let contested = 0;
    for (let it = 0; it < iterations && failures < 5; it++) {
      const n = 1 + int(12);
      const cands: Peer[] = [];
      const created = new Map<string, number>();
      const prog = new Set<string>();
      for (let i = 0; i < n; i++) {
        const name = `n${int(1000)}-${i}`;
        const cidrs = int(3) === 0 ? [v6()] : int(2) ? [v4()] : [v4(), v6()];
        const ip =
          int(8) === 0 ? ['127.0.0.1', '169.254.169.254', '224.0.0.1', '0.0.0.0'][int(4)]! : `10.0.0.${1 + int(n + 2)}`;
        cands.push({ name, podCIDRs: cidrs, publicIP: parseIP(ip)!, vtepMAC: '0a:00:00:00:00:01' });
        if (int(3) > 0) created.set(name, int(5));
        if (int(4) === 0) prog.add(name);
      }
      const self = int(3) === 0 ? cands[int(n)]!.name : 'not-a-candidate';
      const selfCIDRs = int(2) ? [v4()] : undefined;
      const o: ConflictOptions = { self, created, programmed: (x) => prog.has(x), ...(selfCIDRs ? { selfCIDRs } : {}) };
      const r = resolveConflicts(cands, o);
      const got = new Set(r.peers.map((p) => p.name));
      if (r.conflicts.length > 0) contested++;
      const problems: string[] = [];
      const all = r.peers.flatMap((p) => p.podCIDRs.map((c) => ({ p: p.name, c })));
      for (const c of selfCIDRs ?? []) all.push({ p: self, c });
      for (let i = 0; i < all.length; i++) {
        for (let j = i + 1; j < all.length; j++) {
          if (all[i]!.p !== all[j]!.p && all[i]!.c.overlaps(all[j]!.c))
            problems.push(`${all[i]!.p} ${all[i]!.c} overlaps ${all[j]!.p} ${all[j]!.c}`);
        }
      }
      const ips = r.peers.map((p) => p.publicIP.text);
      if (new Set(ips).size !== ips.length) problems.push(`public IPs shared: ${ips.join(' ')}`);
      for (const p of r.peers)
        if (p.name !== self && unusablePublicIP(p.publicIP)) problems.push(`${p.name} has ${p.publicIP.text}`);
      if (r.peers.length + r.conflicts.length !== cands.length)
        problems.push('a candidate is neither programmed nor a conflict');
      const want = model(cands, o);
      if ([...want].sort().join() !== [...got].sort().join())
        problems.push(`rule: want ${[...want].sort()} got ${[...got].sort()}`);
      // Input order does not matter (names are unique, so the rule is a total order).
      const shuffled = [...cands].sort(() => rand() - 0.5);
      const r2 = resolveConflicts(shuffled, o);
      if (programmedNames(r2).join() !== [...got].sort().join())
        problems.push('a different input order programs different peers');
      if (JSON.stringify(r2.conflicts) !== JSON.stringify(r.conflicts))
        problems.push('a different input order gives different conflicts');
      if (problems.length > 0) {
        failures++;
        t.fail(`iteration ${it} (seed ${seed}): ${problems.join('; ')}`, {
          candidates: cands.map((p) => `${p.name} ${p.podCIDRs.join(',')} ${p.publicIP.text}`),
          self,
          selfCIDRs: selfCIDRs?.map(String),
          programmed: [...prog],
          created: [...created],
        });
      }
    }
    t.equal(failures, 0, `no violations in ${iterations} iterations (seed ${seed})`);
    t.ok(contested > iterations / 4, `contests were frequent (${contested} of ${iterations})`);
  },
);

t.test('5,000 nodes: resolution stays fast (sorted sweep, not O(n²)), also when every CIDR is nested', async (t) => {
  const peers: Peer[] = [];
  for (let i = 0; i < 5000; i++)
    peers.push(peer(`node-${i}`, [`10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`], `192.168.${(i >> 8) & 0xff}.${i & 0xff}`));
  const nested: Peer[] = [];
  for (let i = 0; i < 5000; i++)
    nested.push(peer(`n-${i}`, [`10.0.0.0/${8 + (i % 21)}`], `192.168.${(i >> 8) & 0xff}.${i & 0xff}`));
  for (const [what, list, programmed] of [
    ['disjoint', peers, 5000],
    ['all nested', nested, 1],
  ] as const) {
    resolveConflicts(list, { self: list[0]!.name }); // warm up
    const t0 = performance.now();
    const r = resolveConflicts(list, { self: list[0]!.name });
    const ms = performance.now() - t0;
    t.equal(r.peers.length, programmed, `${what}: ${programmed} programmed`);
    t.comment(`${what}: ${ms.toFixed(1)} ms for 5,000 nodes`);
    t.ok(
      ms < 2_000,
      `${what}: well under 2 s (a generous bound for a loaded 2-vCPU machine; O(n²) overlap checks of 5,000 nested CIDRs with reasons take far longer)`,
    );
  }
});
