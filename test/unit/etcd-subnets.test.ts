// Which lease a node takes (src/peers/etcd-subnets.ts): its own by PublicIP, its previous subnet, a random free one.
import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { leaseValue } from '../../src/peers/etcd-lease.js';
import { parseNetworkConfig } from '../../src/peers/etcd-network.js';
import { chooseLease } from '../../src/peers/etcd-subnets.js';

const cfg = (o: object) =>
  parseNetworkConfig(JSON.stringify({ Backend: { Type: 'vxlan' }, ...o }), '/k/config').subnets;
const ranges = cfg({ Network: '10.244.0.0/16' });
const me = parseIP('10.0.0.1')!;
const val = (ip: string, mac = '0a:00:00:00:00:01') =>
  leaseValue({ publicIP: parseIP(ip)!, vni: 1, vtepMAC: mac, v6: false });
const first = () => 0;

t.test('our own lease (by PublicIP) first; one that does not fit is stale', async (t) => {
  const leases = [
    { name: '10.244.7.0-24', value: val('10.0.0.1', '0a:00:00:00:00:07') },
    { name: '10.244.1.0-24', value: val('10.0.0.2') },
  ];
  const c = chooseLease({ leases, ranges, publicIP: me, previous: { v4: Cidr.parse('10.244.9.0/24') }, random: first });
  t.equal(c.kind, 'reuse');
  t.equal(c.kind !== 'full' && c.name, '10.244.7.0-24');
  t.equal(c.ownMAC, '0a:00:00:00:00:07');
  const small = chooseLease({
    leases,
    ranges: cfg({ Network: '10.244.0.0/16', SubnetLen: 25 }),
    publicIP: me,
    random: first,
  });
  t.equal(small.kind, 'create');
  t.same(small.stale, ['10.244.7.0-24'], 'a /24 does not fit SubnetLen 25: to be deleted');
  t.equal(small.ownMAC, '0a:00:00:00:00:07', 'its MAC is kept');
  t.equal(
    small.kind !== 'full' && small.name,
    '10.244.0.128-25',
    'the first free /25 after the first subnet, past the held /24s',
  );
});

t.test('our previous subnet when free and in range', async (t) => {
  const leases = [{ name: '10.244.1.0-24', value: val('10.0.0.2') }];
  let c = chooseLease({ leases, ranges, publicIP: me, previous: { v4: Cidr.parse('10.244.9.0/24') }, random: first });
  t.ok(c.kind === 'create' && c.how === 'previous' && c.name === '10.244.9.0-24');
  c = chooseLease({ leases, ranges, publicIP: me, previous: { v4: Cidr.parse('10.244.1.0/24') }, random: first });
  t.ok(c.kind === 'create' && c.how === 'random' && c.name === '10.244.2.0-24', 'held by another: a free one');
  c = chooseLease({ leases, ranges, publicIP: me, previous: { v4: Cidr.parse('10.244.0.0/24') }, random: first });
  t.ok(c.kind === 'create' && c.how === 'random', 'the first subnet is below SubnetMin');
});

t.test('random among the first 100 free', async (t) => {
  const seen = new Set<string>();
  for (const r of [0, 0.5, 0.999999]) {
    const c = chooseLease({ leases: [], ranges, publicIP: me, random: () => r });
    if (c.kind === 'create') seen.add(c.name);
  }
  t.same([...seen], ['10.244.1.0-24', '10.244.51.0-24', '10.244.100.0-24']);
  const lost = chooseLease({ leases: [], ranges, publicIP: me, exclude: new Set(['10.244.1.0-24']), random: first });
  t.ok(lost.kind === 'create' && lost.name === '10.244.2.0-24', 'a name that lost a race is not taken again');
  const tiny = cfg({ Network: '10.9.0.0/28' });
  const full = chooseLease({
    leases: ['10.9.0.4-30', '10.9.0.8-30', '10.9.0.12-30'].map((name) => ({ name, value: val('10.0.0.9') })),
    ranges: tiny,
    publicIP: me,
    random: first,
  });
  t.equal(full.kind, 'full');
});

t.test('dual-stack: the IPv6 subnet at the same position', async (t) => {
  const r6 = cfg({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56' });
  const c = chooseLease({
    leases: [{ name: '10.244.1.0-24&fd00:10:244:5::-64', value: val('10.0.0.2') }],
    ranges: r6,
    publicIP: me,
    random: first,
  });
  t.ok(c.kind === 'create' && c.name === '10.244.2.0-24&fd00:10:244:2::-64', c.kind !== 'full' ? c.name : 'full');
  const taken = chooseLease({
    leases: [{ name: '10.244.1.0-24&fd00:10:244:2::-64', value: val('10.0.0.2') }],
    ranges: r6,
    publicIP: me,
    random: first,
  });
  t.ok(taken.kind === 'create' && taken.name === '10.244.2.0-24&fd00:10:244:1::-64', 'paired one held: a free one');
});
