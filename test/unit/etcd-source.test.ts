// The etcd peer source (src/peers/etcd.ts) against an in-memory etcd with etcd's semantics (test/helpers/memory-etcd.ts):
// acquisition order, races, renewal, a deleted own lease, events → snapshots, relist after compaction, outages.
import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { silentLogger } from '../../src/log.js';
import { leaseValue } from '../../src/peers/etcd-lease.js';
import { etcdPeerSource, type EtcdSourceOptions } from '../../src/peers/etcd.js';
import type { Peer } from '../../src/peers/peer-source.js';
import { MemoryEtcd } from '../helpers/memory-etcd.js';

const P = '/coreos.com/network';
const DIR = `${P}/subnets/`;
const CONFIG = JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
const val = (ip: string, mac: string) => leaseValue({ publicIP: parseIP(ip)!, vni: 1, vtepMAC: mac, v6: false });
const waitFor = async (what: string, f: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function source(etcd: MemoryEtcd, ip: string, extra: Partial<EtcdSourceOptions> = {}) {
  return etcdPeerSource({
    store: etcd.client(),
    prefix: P,
    nodeName: `node-${ip}`,
    file: {},
    vtepMAC: 'auto',
    underlay: async () => ({ publicIP: parseIP(ip)! }),
    previousSubnets: async () => undefined,
    logger: silentLogger,
    retry: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
}

t.test('acquisition: our PublicIP lease, else the previous subnet, else a random free one', async (t) => {
  const etcd = new MemoryEtcd();
  t.teardown(() => etcd.close());
  etcd.putNow(`${P}/config`, CONFIG);
  etcd.putNow(`${DIR}10.244.7.0-24`, val('10.0.0.1', '0a:00:00:00:00:07'));
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const own = await source(etcd, '10.0.0.1', {
    previousSubnets: async () => ({ v4: Cidr.parse('10.244.9.0/24') }),
  }).local(ac.signal);
  t.same(own.podCIDRs.map(String), ['10.244.7.0/24']);
  t.equal(own.vtepMAC, '0a:00:00:00:00:07', 'the MAC of our lease is kept');
  t.equal(own.overlay?.network.toString(), '10.244.0.0/16');
  const prev = await source(etcd, '10.0.0.2', {
    previousSubnets: async () => ({ v4: Cidr.parse('10.244.9.0/24') }),
  }).local(ac.signal);
  t.same(prev.podCIDRs.map(String), ['10.244.9.0/24']);
  t.match(etcd.kvs.get(`${DIR}10.244.9.0-24`)?.value, /"PublicIP":"10.0.0.2"/);
  const rnd = await source(etcd, '10.0.0.3', { random: () => 0 }).local(ac.signal);
  t.same(rnd.podCIDRs.map(String), ['10.244.1.0/24']);
  t.match(rnd.vtepMAC, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
});

t.test(
  'local() waits for etcd and for the config key; a bad config is a ConfigError; abort → AbortedError',
  async (t) => {
    const etcd = new MemoryEtcd();
    t.teardown(() => etcd.close());
    etcd.setDown(true);
    const ac = new AbortController();
    const s = source(etcd, '10.0.0.1');
    const p = s.local(ac.signal);
    await waitFor('a failed call', () => etcd.calls.get >= 2);
    t.equal(s.state().connected, false);
    t.match(s.state().lastError, /unavailable/);
    etcd.setDown(false);
    await waitFor('a missing-key wait', () => s.state().connected);
    etcd.putNow(`${P}/config`, CONFIG);
    t.same((await p).podCIDRs.length, 1);
    ac.abort();
    const bad = new MemoryEtcd();
    t.teardown(() => bad.close());
    bad.putNow(`${P}/config`, JSON.stringify({ Network: '10.244.0.0/16' }));
    await t.rejects(source(bad, '10.0.0.1').local(new AbortController().signal), {
      name: 'ConfigError',
      field: `${P}/config`,
    });
    const ac2 = new AbortController();
    const waiting = source(bad, '10.0.0.1', {
      store: (() => {
        const e = new MemoryEtcd();
        e.setDown(true);
        return e.client();
      })(),
    }).local(ac2.signal);
    setTimeout(() => ac2.abort(), 50);
    await t.rejects(waiting, { name: 'AbortedError' });
  },
);

t.test('50 sources started at once never share a subnet; a lost race takes another', async (t) => {
  const etcd = new MemoryEtcd();
  t.teardown(() => etcd.close());
  etcd.putNow(`${P}/config`, CONFIG);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const nodes = await Promise.all(
    Array.from({ length: 50 }, (_, i) => source(etcd, `10.0.1.${i + 1}`).local(ac.signal)),
  );
  const subnets = nodes.map((n) => n.podCIDRs[0]!.toString());
  t.equal(new Set(subnets).size, 50, 'all different');
  t.equal([...etcd.kvs.keys()].filter((k) => k.startsWith(DIR)).length, 50);
  t.ok(etcd.calls.create > 50, `races happened (${etcd.calls.create} creates)`);
  let stolen = false;
  etcd.beforeCreate = (key) => {
    if (!stolen) etcd.putNow(key, val('10.9.9.9', '0a:00:00:00:09:09'));
    stolen = true;
  };
  const n = await source(etcd, '10.0.2.1').local(ac.signal);
  t.ok(stolen);
  t.notOk(subnets.includes(n.podCIDRs[0]!.toString()));
  t.match(etcd.kvs.get(`${DIR}${n.podCIDRs[0]!.toString().replace('/', '-')}`)?.value, /10\.0\.2\.1/);
});

t.test(
  'run(): snapshots from events, renewal before expiry, a deleted lease re-created, relist after compaction, outage',
  async (t) => {
    const etcd = new MemoryEtcd();
    t.teardown(() => etcd.close());
    etcd.putNow(`${P}/config`, CONFIG);
    etcd.putNow(`${DIR}10.244.20.0-24`, val('10.0.0.20', '0a:00:00:00:00:20'));
    etcd.putNow(`${DIR}10.244.21.0-24`, 'garbage');
    const ac = new AbortController();
    const s = source(etcd, '10.0.0.1', { ttlSeconds: 1.5, renewMarginSeconds: 0.9, random: () => 0 });
    const local = await s.local(ac.signal);
    const snaps: Peer[][] = [];
    const running = s.run(ac.signal, { vni: 1, vtepMAC: local.vtepMAC!, publicIP: parseIP('10.0.0.1')! }, (p) =>
      snaps.push(p),
    );
    const names = () => (snaps.at(-1) ?? []).map((p) => p.name).sort();
    await waitFor('the first snapshot', () => snaps.length > 0);
    t.same(names(), ['10.244.20.0-24', 'node-10.0.0.1'], 'ourselves and the valid lease; garbage skipped');
    t.equal(s.state().skipped, 1);
    t.equal(s.state().nodes, 3);
    t.match(s.state().lease, { key: `${DIR}10.244.1.0-24` });

    etcd.putNow(`${DIR}10.244.22.0-24`, val('10.0.0.22', '0a:00:00:00:00:22'));
    await waitFor('an added lease', () => names().includes('10.244.22.0-24'));
    etcd.deleteNow(`${DIR}10.244.20.0-24`);
    await waitFor('a removed lease', () => !names().includes('10.244.20.0-24'));

    const puts = etcd.calls.put;
    await new Promise((r) => setTimeout(r, 2000));
    t.ok(etcd.calls.put > puts, `renewed (${etcd.calls.put - puts} puts in 2 s)`);
    t.ok(etcd.kvs.has(`${DIR}10.244.1.0-24`), 'our lease never expired');

    etcd.deleteNow(`${DIR}10.244.1.0-24`);
    await waitFor('our lease re-created', () => etcd.kvs.has(`${DIR}10.244.1.0-24`));

    // Outage: no snapshot, state says so; meanwhile a lease goes and history is compacted.
    etcd.setDown(true);
    await waitFor('disconnected', () => !s.state().connected);
    const during = snaps.length;
    etcd.deleteNow(`${DIR}10.244.22.0-24`);
    etcd.compact();
    await new Promise((r) => setTimeout(r, 300));
    t.equal(snaps.length, during, 'no snapshot while etcd is away');
    t.ok(names().includes('10.244.22.0-24'), 'the last table stands');
    t.match(s.state().lastError, /unavailable/);
    etcd.setDown(false);
    await waitFor('relisted without the stale peer', () => !names().includes('10.244.22.0-24'));
    await waitFor('connected', () => s.state().connected);
    etcd.putNow(`${DIR}10.244.23.0-24`, val('10.0.0.23', '0a:00:00:00:00:23'));
    await waitFor('the watch resumed', () => names().includes('10.244.23.0-24'));

    ac.abort();
    await running;
    t.ok(etcd.kvs.has(`${DIR}10.244.1.0-24`), 'our lease is kept on stop');
  },
);

t.test(
  'remote checksum offload: our lease offers it, a lease that offers it makes a peer that accepts it',
  async (t) => {
    const etcd = new MemoryEtcd();
    t.teardown(() => etcd.close());
    etcd.putNow(`${P}/config`, CONFIG);
    const other = leaseValue({
      publicIP: parseIP('10.0.0.9')!,
      vni: 1,
      vtepMAC: '0a:00:00:00:00:09',
      remoteChecksum: true,
      v6: false,
    });
    etcd.putNow(`${DIR}10.244.9.0-24`, other);
    const ac = new AbortController();
    t.teardown(() => ac.abort());
    const s = source(etcd, '10.0.0.1', { random: () => 0, remoteChecksum: true });
    const local = await s.local(ac.signal);
    t.match(
      etcd.kvs.get(`${DIR}10.244.1.0-24`)?.value,
      /"BackendData":\{"VNI":1,"VtepMAC":"[^"]+","RemoteChecksum":true\}/,
    );
    const snaps: Peer[][] = [];
    const self = { vni: 1, vtepMAC: local.vtepMAC!, publicIP: parseIP('10.0.0.1')!, remoteChecksum: true };
    const running = s.run(ac.signal, self, (p) => snaps.push(p));
    await waitFor('the first snapshot', () => snaps.length > 0);
    const peer = snaps.at(-1)?.find((p) => p.name === '10.244.9.0-24');
    t.equal(peer?.remoteChecksum, true, 'the other lease accepts it');
    // A node whose advertisement no longer offers it (a restart with it off) rewrites its lease without the key.
    ac.abort();
    await running;
    const ac2 = new AbortController();
    t.teardown(() => ac2.abort());
    const s2 = source(etcd, '10.0.0.1', { random: () => 0 });
    const local2 = await s2.local(ac2.signal);
    const running2 = s2.run(ac2.signal, { vni: 1, vtepMAC: local2.vtepMAC!, publicIP: parseIP('10.0.0.1')! }, () => {});
    await waitFor(
      'our lease without the key',
      () => !/RemoteChecksum/.test(etcd.kvs.get(`${DIR}10.244.1.0-24`)?.value ?? 'RemoteChecksum'),
    );
    ac2.abort();
    await running2;
  },
);
