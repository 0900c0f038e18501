// The lab's etcd pieces that need no etcd: flannel's lease key and value as the lab's kernel node writes and reads
// them (src/lab/etcd-flannel-lease.ts), the etcdctl transaction texts, and labConfig in etcd mode
// (src/lab/vxtun-node.ts). The integration tests (test/integration/etcd-*.test.ts) run them against a real etcd.
import t from 'tap';
import {
  createIfAbsentTxn,
  flannelLeaseKey,
  flannelLeaseValue,
  parseFlannelLease,
  parseLeaseGrant,
  putAllTxn,
  remoteChanges,
  remotesFromLeases,
  subnetOfLeaseKey,
} from '../../src/lab/etcd-flannel-lease.js';
import type { Lab } from '../../src/lab/lab.js';
import { labConfig } from '../../src/lab/vxtun-node.js';

const P = '/coreos.com/network';

t.test('lease key ↔ subnet', async (t) => {
  t.equal(flannelLeaseKey(P, '10.244.3.0/24'), '/coreos.com/network/subnets/10.244.3.0-24');
  t.equal(subnetOfLeaseKey(P, '/coreos.com/network/subnets/10.244.3.0-24'), '10.244.3.0/24');
  t.equal(subnetOfLeaseKey(P, '/coreos.com/network/config'), undefined, 'the config key is no lease');
  t.equal(subnetOfLeaseKey(P, '/other/subnets/10.244.3.0-24'), undefined, 'another prefix');
  t.equal(subnetOfLeaseKey(P, '/coreos.com/network/subnets/10.244.3.0-24&fd00::-64'), undefined, 'dual-stack form');
  t.throws(() => flannelLeaseKey(P, 'fd00::/64'), /not an IPv4 subnet/);
});

t.test("lease value: flannel's bytes, and read back", async (t) => {
  const v = flannelLeaseValue({ publicIP: '192.168.99.3', vni: 1, vtepMAC: '0a:00:00:00:03:01' });
  t.equal(
    v,
    '{"PublicIP":"192.168.99.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:03:01"}}',
  );
  t.same(parseFlannelLease(v), { publicIP: '192.168.99.3', vni: 1, vtepMAC: '0a:00:00:00:03:01' });
  t.same(parseFlannelLease('{"PublicIP":"1.2.3.4"}'), { skip: 'BackendType undefined' }, 'a udp lease');
  t.same(parseFlannelLease('{"PublicIP":"1.2.3.4","BackendType":"host-gw"}'), { skip: 'BackendType "host-gw"' });
  t.same(parseFlannelLease('{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{}}'), { skip: 'no VtepMAC' });
  t.same(parseFlannelLease('{'), { skip: 'not JSON' });
  t.same(parseFlannelLease('null'), { skip: 'not an object' });
});

t.test('remotes from a listing: own lease and other keys left out, bad ones skipped with a reason', async (t) => {
  const kvs = new Map([
    [`${P}/config`, '{"Network":"10.244.0.0/16"}'],
    [
      `${P}/subnets/10.244.3.0-24`,
      flannelLeaseValue({ publicIP: '192.168.99.3', vni: 1, vtepMAC: '0a:00:00:00:03:01' }),
    ],
    [
      `${P}/subnets/10.244.1.0-24`,
      flannelLeaseValue({ publicIP: '192.168.99.1', vni: 1, vtepMAC: 'AE:00:00:00:01:01' }),
    ],
    [`${P}/subnets/10.244.9.0-24`, '{"PublicIP":"192.168.99.9"}'],
  ]);
  const { remotes, skipped } = remotesFromLeases(P, kvs, `${P}/subnets/10.244.3.0-24`);
  t.same(
    [...remotes],
    [
      [
        `${P}/subnets/10.244.1.0-24`,
        { podCIDR: '10.244.1.0/24', publicIP: '192.168.99.1', vtepMAC: 'ae:00:00:00:01:01' },
      ],
    ],
  );
  t.same(skipped, [{ key: `${P}/subnets/10.244.9.0-24`, reason: 'BackendType undefined' }]);
});

t.test('remote changes: gone removed, new added, changed removed then added', async (t) => {
  const r = (ip: string, mac: string) => ({ podCIDR: '10.244.1.0/24', publicIP: ip, vtepMAC: mac });
  const current = new Map([
    ['a', r('192.168.99.1', '0a:00:00:00:01:01')],
    ['b', r('192.168.99.2', '0a:00:00:00:02:01')],
    ['c', r('192.168.99.4', '0a:00:00:00:04:01')],
  ]);
  const desired = new Map([
    ['a', r('192.168.99.1', '0a:00:00:00:01:01')],
    ['c', r('192.168.99.4', '0a:00:00:00:04:02')],
    ['d', r('192.168.99.5', '0a:00:00:00:05:01')],
  ]);
  const { remove, add } = remoteChanges(current, desired);
  t.same(
    remove.map(([k]) => k),
    ['b', 'c'],
  );
  t.same(
    add.map(([k]) => k),
    ['c', 'd'],
  );
  t.same(remoteChanges(desired, desired), { remove: [], add: [] }, 'nothing to do when equal');
});

t.test('etcdctl texts', async (t) => {
  t.equal(parseLeaseGrant('lease 694d7a1d2c0b8f05 granted with TTL(86400s)\n'), '694d7a1d2c0b8f05');
  t.throws(() => parseLeaseGrant('Error: etcdserver: request timed out'), /unexpected output/);
  t.equal(
    createIfAbsentTxn('/p/subnets/10.244.3.0-24', '{"a":1}', 'ab12'),
    'version("/p/subnets/10.244.3.0-24") = "0"\n\nput --lease=ab12 /p/subnets/10.244.3.0-24 {"a":1}\n\n\n',
  );
  t.throws(() => createIfAbsentTxn('/k', '{"a": 1}', 'ab12'), /no whitespace/);
  t.equal(putAllTxn([['/k/1', 'x']]), '\nput /k/1 x\n\n\n');
  t.equal(putAllTxn([['/k/1', 'x']], 'ff'), '\nput --lease=ff /k/1 x\n\n\n');
  const many = Array.from({ length: 129 }, (_, k) => [`/k/${k}`, 'x'] as const);
  t.throws(() => putAllTxn(many), /at most 128/);
});

t.test('labConfig in etcd mode: peers.etcd, no network unless extra sets it', async (t) => {
  const lab = {
    underlay: 4,
    ipMasq: false,
    podNetwork: (f: 4 | 6) => (f === 4 ? '10.244.0.0/16' : 'fd10:244::/56'),
    subnetEnvPath: (i: number) => `/tmp/lab/node-${i}/subnet.env`,
  } as unknown as Lab;
  const etcd = { endpoints: ['http://192.168.99.200:2379'] };
  const c = labConfig(lab, 1, { etcd });
  t.same(c['peers'], { etcd });
  t.notOk('network' in c, 'no network');
  t.notOk('ipv6Network' in c, 'no ipv6Network');
  t.equal(c['subnetFile'], '/tmp/lab/node-1/subnet.env');
  t.same(c['underlay'], { interface: 'eth0' }, 'the underlay by interface (no default route in the lab)');
  t.equal(labConfig(lab, 1, { etcd, extra: { network: '10.244.0.0/16' } })['network'], '10.244.0.0/16');
  t.equal(labConfig(lab, 1, { peers: [] })['network'], '10.244.0.0/16', 'static mode keeps the network');
  t.notOk('underlay' in labConfig(lab, 1, { peers: [] }), 'static mode: the underlay from the peer entry');
  t.throws(() => labConfig(lab, 1, { etcd, peers: [] }), /exactly one of/);
  t.throws(() => labConfig(lab, 1, {}), /exactly one of/);
});
