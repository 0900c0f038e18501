// The daemon's named parts that need no dataplane (src/daemon/): underlay resolution and the device MTU, the
// offloads asked for and insisted on, the status document and the start line, and the stop scope.
import t from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import { ConfigError, DataplaneError } from '../../src/errors.js';
import { deviceMtu, resolveUnderlay, type Underlay } from '../../src/daemon/underlay.js';
import { checkRequiredOffloads, dataplaneOptions, wantedOffloads } from '../../src/daemon/dataplane-open.js';
import { buildStatus, upLogFields, type NodeFacts, type NodeNow } from '../../src/daemon/status-view.js';
import { formatStatus } from '../../src/admin/status.js';
import { stopScope } from '../../src/daemon/stop-scope.js';
import { NO_OFFLOADS, OFFLOADS, perOffload } from '../../src/dataplane/offloads.js';
import type { DataplaneStats } from '../../src/dataplane/types.js';
import { parseIP } from '../../src/net/ip.js';
import { fakeIp } from '../helpers/fake-dataplane.js';

const config = (extra: Record<string, unknown> = {}): Config =>
  parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      admin: { listen: 'off' },
      peers: { static: [{ name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1' }] },
      ...extra,
    }),
    'parts.json',
    { hostname: 'x' },
  );

const underlay: Underlay = {
  publicIP: '192.168.99.1',
  bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
  family: 4,
};

t.test('resolveUnderlay: the source’s address when it is ours, else the field that named it', async (t) => {
  const own = { ip: parseIP('192.168.99.1')!, field: 'peers.static' };
  t.same(await resolveUnderlay(fakeIp(), config(), own), underlay, 'the static entry’s address, bound on eth0');
  t.same(
    await resolveUnderlay(fakeIp(), config(), undefined),
    underlay,
    'no address known: the default route’s interface',
  );
  const hint = { ip: parseIP('192.168.99.7')! };
  t.same(await resolveUnderlay(fakeIp(), config(), hint), underlay, 'a hint that is not ours is not used');
  await t.rejects(
    resolveUnderlay(fakeIp(), config(), { ip: parseIP('192.168.99.7')!, field: 'peers.static' }),
    new ConfigError(
      'peers.static',
      '192.168.99.7 is not an address of this host; set underlay.interface to bind another address',
    ),
  );
  await t.rejects(resolveUnderlay(fakeIp(), config({ underlay: { interface: 'eth9' } }), undefined), {
    name: 'ConfigError',
    field: 'underlay.interface',
  });
});

t.test('deviceMtu: auto leaves room for the encapsulation; too small is a ConfigError on mtu', async (t) => {
  t.equal(deviceMtu(config(), underlay), 1450);
  t.equal(deviceMtu(config({ mtu: 1400 }), underlay), 1400);
  t.equal(deviceMtu(config({ mtu: 576 }), underlay), 576, 'IPv4 only: 576 is enough');
  t.throws(
    () => deviceMtu(config({ mtu: 1000, ipv6Network: 'fd10:244::/56' }), underlay),
    { name: 'ConfigError', field: 'mtu' },
    'IPv6 needs 1280',
  );
  t.throws(
    () => deviceMtu(config(), { ...underlay, bind: { ...underlay.bind, mtu: 600 } }),
    /mtu: 550 is below 576 \(underlay eth0 has MTU 600\)/,
  );
});

t.test('offloads: every one not off is asked for; one that is on must be granted', async (t) => {
  t.same(
    wantedOffloads(config()),
    perOffload(() => true),
    'auto asks for all',
  );
  for (const o of OFFLOADS) {
    const c = config({ dataplane: { offloads: { [o]: 'off' } } });
    t.same(
      wantedOffloads(c),
      perOffload((k) => k !== o),
      `${o} off is not asked for`,
    );
    const on = config({ dataplane: { offloads: { [o]: 'on' } } });
    t.throws(
      () =>
        checkRequiredOffloads(
          on,
          perOffload((k) => k !== o),
        ),
      new DataplaneError(`dataplane.offloads.${o} is "on" but this kernel refused it (set it to auto or off)`),
    );
    t.doesNotThrow(() => checkRequiredOffloads(c, NO_OFFLOADS), `${o} off needs nothing`);
  }
  t.doesNotThrow(() => checkRequiredOffloads(config(), NO_OFFLOADS), 'auto goes without');
  const opts = dataplaneOptions(config({ dataplane: { workers: 3 } }), {
    vtepMAC: '0a:00:00:00:01:01',
    underlay,
    mtu: 1450,
  });
  t.same(opts, {
    device: 'vxtun0',
    workers: 3,
    port: 8472,
    bindIP: '192.168.99.1',
    mtu: 1450,
    vni: 1,
    vtepMAC: '0a:00:00:00:01:01',
    acceptUnknownVteps: false,
    checkInnerSource: true,
    remoteChecksum: false,
  });
});

t.test('buildStatus: the document /status serves, in its order; upLogFields: the start line', async (t) => {
  const c = config();
  const facts: NodeFacts = {
    config: c,
    vtep: { vtepMAC: '0a:00:00:00:01:01', underlay, mtu: 1450 },
    podCIDRs: ['10.244.1.0/24'],
    workers: 2,
    dropReasons: ['vni', 'no-route'],
  };
  const stats: DataplaneStats = {
    txPackets: 1,
    txBytes: 2,
    txErrors: 3,
    rxPackets: 4,
    rxBytes: 5,
    rxErrors: 6,
    rxCsumCompleted: 7,
    rxSuperSplit: 8,
    rxCoalesced: 9,
    txTsoSplit: 10,
    txRemoteChecksum: 16,
    rxRemoteChecksum: 17,
    rxSocketDrops: 11,
    offloads: { ...NO_OFFLOADS, tso: true },
    txDrops: { 'no-route': 12 },
    rxDrops: { vni: 13 },
    captureMatched: 14,
  };
  const peer = { name: 'node-b', podCIDRs: [], publicIP: parseIP('192.168.99.2')!, vtepMAC: '0a:00:00:00:02:01' };
  const self = { ...peer, name: 'node-a' };
  const now: NodeNow = {
    stats,
    device: { txDropped: 15 },
    peers: [self, peer],
    ready: true,
    masq: undefined,
    source: { kind: 'static', state: { connected: true, nodes: 2, skipped: 0 } },
  };
  const s = buildStatus(facts, now);
  t.same(Object.keys(s), [
    'node',
    'device',
    'mtu',
    'vni',
    'port',
    'publicIP',
    'vtepMAC',
    'podCIDRs',
    'engine',
    'workers',
    'offloads',
    'peers',
    'counters',
    'ready',
    'version',
    'ipMasq',
    'controlPlane',
    'capture',
    'pid',
    'handover',
    'directRouting',
  ]);
  t.same(s.directRouting, { enabled: false, routes: 0 }, 'DirectRouting off by default');
  t.equal(s.pid, process.pid);
  t.equal(s.handover, null, 'created the device: no predecessor');
  const after = buildStatus(facts, { ...now, handover: { fromPid: 7, fromVersion: '0.1.0', pausedMs: 3 } });
  t.same(after.handover, { fromPid: 7, fromVersion: '0.1.0', pausedMs: 3 });
  t.match(formatStatus(after), /^took over from pid 7 \(vxtun 0\.1\.0\), queues unread for 3 ms$/m);
  t.notMatch(formatStatus(s), /directRouting/, 'DirectRouting off: no line');
  const etcdView = {
    ...s,
    controlPlane: {
      source: 'etcd',
      connected: true,
      nodes: 3,
      skipped: 0,
      lease: { key: '/coreos.com/network/subnets/10.244.1.0-24', expires: '2026-12-08T08:00:00.000Z' },
    },
    directRouting: { enabled: true, routes: 1 },
    peers: s.peers.map((p) => ({ ...p, direct: true as const })),
  };
  const text = formatStatus(etcdView);
  t.match(
    text,
    /^control plane etcd: connected, 3 nodes, 0 skipped, lease \/coreos\.com\/network\/subnets\/10\.244\.1\.0-24 until 2026-12-08T08:00:00\.000Z$/m,
    'vxtun status: our etcd lease and its expiry',
  );
  t.match(text, /^directRouting on: 1 direct routes$/m, 'vxtun status: DirectRouting and its routes');
  t.match(text, /^ {2}node-b .*\(direct\)$/m, 'vxtun status: a direct peer is marked');
  t.same(s.offloads, { tso: 'on', gro: 'off', udpGso: 'off', udpGro: 'off' });
  t.same(
    s.peers.map((p) => p.name),
    ['node-b'],
    'ourselves left out',
  );
  t.same(s.counters, {
    txPackets: 1,
    txBytes: 2,
    rxPackets: 4,
    rxBytes: 5,
    txErrors: 3,
    rxErrors: 6,
    drops: { vni: 13, 'no-route': 12 },
    offload: {
      tsoSplit: 10,
      coalesced: 9,
      csumCompleted: 7,
      superSplit: 8,
      remoteChecksumSent: 16,
      remoteChecksumReceived: 17,
    },
    queueDrops: 15,
    socketDrops: 11,
  });
  t.same(s.ipMasq, { enabled: false, backend: null }, 'masquerading not set up yet: as configured');
  t.same(s.controlPlane, { source: 'static', connected: true, nodes: 2, skipped: 0 });
  t.same(s.capture, { sessions: 0, packets: 14, dropped: 0 });
  const js = buildStatus(facts, {
    ...now,
    device: undefined,
    stats: { ...stats, rxSocketDrops: undefined, captureMatched: undefined },
  });
  t.notOk('queueDrops' in js.counters || 'socketDrops' in js.counters || 'capture' in js, 'absent what cannot be read');
  t.same(upLogFields(facts, { ...NO_OFFLOADS, gro: true, udpGro: true }, { socketAddress: '/run/x.sock' }), {
    device: 'vxtun0',
    mtu: 1450,
    bind: '192.168.99.1:8472',
    publicIP: '192.168.99.1',
    vtepMAC: '0a:00:00:00:01:01',
    workers: 2,
    offloads: 'gro,udpGro',
    admin: 'off',
    adminSocket: '/run/x.sock',
  });
  t.equal(upLogFields(facts, NO_OFFLOADS, {}).offloads, 'none');
});

t.test('stopScope: follows its outer signal, keeps the first failure', async (t) => {
  const outer = new AbortController();
  const a = stopScope(outer.signal);
  t.notOk(a.signal.aborted);
  outer.abort();
  t.ok(a.signal.aborted, 'the outer signal stops it');
  await a.stopped();
  t.ok(stopScope(outer.signal).signal.aborted, 'an outer signal that aborted already stops it at once');
  const b = stopScope(new AbortController().signal);
  const first = new Error('first');
  b.fail(first);
  b.fail(new Error('second'));
  t.equal(b.failure, first, 'the first failure is kept');
  t.ok(b.signal.aborted, 'a failure stops it');
  const o2 = new AbortController();
  const c = stopScope(o2.signal);
  c.close();
  t.ok(c.signal.aborted, 'close stops it');
  t.equal(c.failure, undefined, 'without a failure');
});
