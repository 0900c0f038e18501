// The lab's flanneld stand-in on a real etcd, with no vxtun at all (so it checks the test harness of
// etcd-mode.test.ts on its own): two kernel VXLAN nodes programmed from their leases as flanneld's vxlan backend
// programs them (src/lab/etcd-flannel-node.ts), a ping between their pods; the leases are flannel's bytes on a 24 h
// TTL lease; a lease deleted → sync() removes that remote and the ping fails; written back → it works again.
import t from 'tap';
import {
  flannelLeaseValue,
  Lab,
  labVtepMAC,
  ping,
  startEtcdFlannelNode,
  type EtcdFlannelNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'etcd', 'etcdctl']);
const PREFIX = '/coreos.com/network';
const NET_CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';

t.test('two etcd-driven kernel nodes', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const etcd = await startEtcd(lab, { ns: await lab.addHost('etcd', '192.168.99.200'), address: '192.168.99.200' });
  await etcd.put(`${PREFIX}/config`, NET_CONFIG);
  const k1 = await startEtcdFlannelNode(lab, 1, etcd);
  const k2 = await startEtcdFlannelNode(lab, 2, etcd);
  await k1.sync();
  const pods = async (n = 2) => (await ping(lab, lab.podNs(1), lab.podIP(2), { count: n, waitS: 1 })).received;

  t.equal(k1.remotes().size, 1, 'node 1 programmed node 2 (after its own sync)');
  t.equal(k2.remotes().size, 1, 'node 2 programmed node 1 (at its start)');
  t.equal(await pods(3), 3, 'pod 1 → pod 2 through two kernel VXLAN devices');

  await t.test('the lease is flannel’s, on a 24 h TTL lease', async (t) => {
    t.equal(
      await etcd.get(`${PREFIX}/subnets/10.244.2.0-24`),
      flannelLeaseValue({ publicIP: '192.168.99.2', vni: 1, vtepMAC: labVtepMAC(2) }),
    );
    const ttl = JSON.parse(await etcd.ctl(['lease', 'timetolive', k2.leaseId, '-w', 'json'])) as {
      ttl: number;
      'granted-ttl': number;
    };
    t.equal(ttl['granted-ttl'], 86_400, 'granted 24 h');
    t.ok(ttl.ttl > 86_000, `${ttl.ttl} s left`);
  });

  await t.test('a second node cannot take a leased subnet', async (t) => {
    await t.rejects(startEtcdFlannelNode(lab, 1, etcd, { subnet: '10.244.2.0/24' }), /taken/);
  });

  await t.test('lease deleted → remote removed; written back → programmed again', async (t) => {
    const sync = (n: EtcdFlannelNode) => n.sync();
    await etcd.del(k2.key);
    t.same((await sync(k1)).removed, [k2.key], 'node 1 removed node 2');
    t.equal(await pods(), 0, 'no ping without the route');
    await k2.renew();
    t.same((await sync(k1)).added, [k2.key], 'node 1 added node 2 again');
    t.equal(await pods(), 2, 'pings again');
    t.same((await sync(k1)).added, [], 'a sync with no change does nothing');
  });
});
