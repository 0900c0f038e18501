// How a peer snapshot reaches the addon (src/daemon/table-sync.ts): whole tables at start, after a failure and for large
// changes; otherwise only the changed peers. The addon's side of the verbs is tested in test/native/fdb.test.ts.
import t from 'tap';
import { diffPeers } from '../../src/peers/diff.js';
import type { Peer } from '../../src/peers/peer-source.js';
import { buildTable, DELTA_MAX, planTableUpdate, type PlanInput } from '../../src/daemon/table-sync.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';

const peer = (i: number, mac = '0a:00:00:00:00:01'): Peer => ({
  name: `node-${i}`,
  publicIP: parseIP(`192.168.${i >> 8}.${i & 0xff}`)!,
  vtepMAC: mac,
  podCIDRs: [Cidr.parse(`10.${i >> 8}.${i & 0xff}.0/24`)],
});

const plan = (prev: Peer[], next: Peer[], over: Partial<PlanInput> = {}) =>
  planTableUpdate({
    self: 'node-0',
    programmed: true,
    incremental: true,
    diff: diffPeers(prev, next),
    next,
    localCIDRs: ['10.0.0.0/24'],
    ...over,
  });

t.test('small changes go as upsert/remove, without ourselves', async (t) => {
  const base = [peer(0), peer(1), peer(2), peer(3)];
  const changed = [peer(0, '0a:00:00:00:00:09'), base[1]!, peer(2, '0a:00:00:00:00:02'), peer(4)];
  const p = plan(base, changed);
  t.equal(p.kind, 'delta');
  if (p.kind !== 'delta') return;
  t.same(
    p.upsert.map((e) => e.name).sort(),
    ['node-2', 'node-4'],
    'changed and added peers; our own node is not a peer',
  );
  t.same(p.remove, ['node-3']);
  t.same(
    p.upsert.find((e) => e.name === 'node-2'),
    { name: 'node-2', publicIP: '192.168.0.2', vtepMAC: '0a:00:00:00:00:02', cidrs: ['10.0.2.0/24'] },
  );
});

t.test('whole tables: first snapshot, after a failure, without the verbs, for large changes', async (t) => {
  const base = [peer(0), peer(1)];
  const next = [peer(0), peer(1), peer(2)];
  for (const [why, over] of [
    ['first snapshot', { programmed: false }],
    ['dataplane without updatePeers (the js engine)', { incremental: false }],
  ] as const) {
    const p = plan(base, next, over);
    t.equal(p.kind, 'full', why);
    if (p.kind === 'full') t.same(p.table, buildTable('node-0', next, ['10.0.0.0/24']), `${why}: the whole table`);
  }
  const many = Array.from({ length: DELTA_MAX + 3 }, (_, i) => peer(i)); // base has node-0 (ourselves) and node-1
  t.equal(plan(base, many).kind, 'full', `${DELTA_MAX + 1} added peers: more than ${DELTA_MAX}`);
  t.equal(plan(base, many.slice(0, DELTA_MAX + 2)).kind, 'delta', `${DELTA_MAX} added peers`);
});

t.test('nothing changed: nothing to send (unless the addon lost the table)', async (t) => {
  const base = [peer(0), peer(1)];
  t.equal(plan(base, [peer(0), peer(1)]).kind, 'none', 'equal peers, new objects');
  t.equal(plan(base, base, { programmed: false }).kind, 'full');
  t.equal(plan(base, [peer(0, '0a:00:00:00:00:07'), base[1]!]).kind, 'none', 'only our own node changed');
});
