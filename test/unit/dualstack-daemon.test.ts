// A dual-stack node on the daemon side (issue 17 part 2): both underlay addresses resolved and bound, the MTU that
// fits either side, the dataplane options and table entries with the IPv6 endpoint only when there is one, peers of
// no family of ours left out (and counted), the advertisement, and /status's addresses.
import t from 'tap';
import { formatStatus } from '../../src/admin/status.js';
import { parseConfigText, type Config } from '../../src/config/index.js';
import { dataplaneOptions } from '../../src/daemon/dataplane-open.js';
import { buildStatus, upLogFields, type NodeFacts } from '../../src/daemon/status-view.js';
import { buildTable, sharesFamily, tablePeer, tableSync } from '../../src/daemon/table-sync.js';
import { advertisedIPs, deviceMtu, resolveUnderlay, type Underlay } from '../../src/daemon/underlay.js';
import { NO_OFFLOADS } from '../../src/dataplane/offloads.js';
import { zeroStats, type DataplanePeer, type DataplaneTable } from '../../src/dataplane/types.js';
import type { IpRunner } from '../../src/device/device.js';
import { lineLogger } from '../../src/log.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { diffPeers, peerKey } from '../../src/peers/diff.js';
import type { Peer } from '../../src/peers/peer-source.js';

/** `ip` on a dual-stack host: eth0 with 192.168.99.1 (MTU 1500) and fd99::1, eth1 with fd98::1 (MTU 9000). */
function hostIp(calls: string[] = [], v6Mtu = 1500): IpRunner {
  return async (args) => {
    const line = args.join(' ');
    calls.push(line);
    if (line === '-j -4 addr show')
      return JSON.stringify([
        { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: '192.168.99.1', prefixlen: 24 }] },
      ]);
    if (line === '-j -6 addr show')
      return JSON.stringify([
        {
          ifname: 'eth0',
          mtu: v6Mtu,
          addr_info: [{ family: 'inet6', local: 'fd99::1', prefixlen: 64, scope: 'global' }],
        },
        {
          ifname: 'eth1',
          mtu: 9000,
          addr_info: [{ family: 'inet6', local: 'fd98::1', prefixlen: 64, scope: 'global' }],
        },
      ]);
    if (line === '-j -4 route show default') return JSON.stringify([{ dev: 'eth0' }]);
    if (line === '-j -6 route show default') return JSON.stringify([{ dev: 'eth1' }]);
    throw new Error(`unexpected ip ${line}`);
  };
}

const SELF = {
  name: 'node-a',
  podCIDRs: ['10.244.1.0/24'],
  publicIP: '192.168.99.1',
  publicIPv6: 'fd99::1',
  vtepMAC: '0a:00:00:00:01:01',
  vtepMACv6: '0a:00:00:00:01:01',
};
const config = (underlay: Record<string, unknown> = {}, self: Record<string, unknown> = SELF, extra = {}): Config =>
  parseConfigText(
    JSON.stringify({ nodeName: 'node-a', network: '10.244.0.0/16', underlay, peers: { static: [self] }, ...extra }),
    'dual.json',
    { hostname: 'x' },
  );
const ip = (s: string) => parseIP(s)!;
const V4_SELF = { name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1' };

t.test('resolveUnderlay: both sides of a dual-stack node', async (t) => {
  const eth0v6 = { interface: 'eth0', address: 'fd99::1', prefixLen: 64, mtu: 1500 };
  const v4 = {
    publicIP: '192.168.99.1',
    bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
    family: 4,
  };
  const own = { ip: ip('192.168.99.1'), field: 'peers.static' };
  const own6 = { ip: ip('fd99::1'), field: 'peers.static' };
  t.same(await resolveUnderlay(hostIp(), config(), own, own6), { ...v4, v6: { publicIP: 'fd99::1', bind: eth0v6 } });
  t.same(
    await resolveUnderlay(hostIp(), config({ publicIPv6: 'fd98::1' }), own, own6),
    { ...v4, v6: { publicIP: 'fd98::1', bind: { interface: 'eth1', address: 'fd98::1', prefixLen: 64, mtu: 9000 } } },
    'underlay.publicIPv6 first',
  );
  // Kubernetes: hints, no field; a hint that is not ours gives way to the IPv6 default route's interface.
  t.same(
    await resolveUnderlay(hostIp(), config(), { ip: ip('192.168.99.1') }, { ip: ip('2001:db8::9') }),
    { ...v4, v6: { publicIP: 'fd98::1', bind: { interface: 'eth1', address: 'fd98::1', prefixLen: 64, mtu: 9000 } } },
    'an IPv6 hint not on this host',
  );
  t.same(
    await resolveUnderlay(hostIp(), config({}, V4_SELF), own),
    v4,
    'single-family without address6 or publicIPv6: no v6 key',
  );
  const calls: string[] = [];
  t.same(
    await resolveUnderlay(hostIp(calls), config({ interface: 'eth0', publicIPv6: 'fd99::1' }, SELF), undefined),
    { ...v4, v6: { publicIP: 'fd99::1', bind: eth0v6 } },
    'underlay.interface for both; IPv4 from it',
  );
  t.same(calls, ['-j -4 addr show', '-j -6 addr show']);
  await t.rejects(resolveUnderlay(hostIp(), config({ publicIPv6: 'fd99::7' }), own, own6), {
    field: 'underlay.publicIPv6',
    message: /^underlay\.publicIPv6: fd99::7 is not an address of this host/,
  });
  await t.rejects(resolveUnderlay(hostIp(), config(), own, { ip: ip('fd99::7'), field: 'peers.static' }), {
    field: 'peers.static',
    message: /fd99::7 is not an address of this host/,
  });
  const v6Config = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      underlay: { publicIP: 'fd99::1' },
      peers: { kubernetes: {} },
    }),
    'x',
    { hostname: 'x' },
  );
  const single6 = await resolveUnderlay(hostIp(), v6Config, { ip: ip('192.168.99.1') }, { ip: ip('fd98::1') });
  t.same(single6, { publicIP: 'fd99::1', bind: eth0v6, family: 6 }, 'an IPv6 underlay.publicIP stays single-family');
});

t.test('deviceMtu: a dual-stack node takes the smaller of IPv4 − 50 and IPv6 − 70', async (t) => {
  const u = (m4: number, m6: number): Underlay => ({
    publicIP: '192.168.99.1',
    bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: m4 },
    family: 4,
    v6: { publicIP: 'fd99::1', bind: { interface: 'eth1', address: 'fd99::1', prefixLen: 64, mtu: m6 } },
  });
  t.equal(deviceMtu(config(), u(1500, 1500)), 1430, 'same links: IPv6 decides');
  t.equal(deviceMtu(config(), u(1500, 9000)), 1450, 'a bigger IPv6 link: IPv4 decides');
  t.equal(deviceMtu(config(), u(9000, 1500)), 1430);
  t.equal(deviceMtu(config({}, SELF, { mtu: 1300 }), u(1500, 1500)), 1300, 'configured');
  t.throws(() => deviceMtu(config({}, SELF, { ipv6Network: 'fd10:244::/56' }), u(1500, 1349)), {
    field: 'mtu',
    message: /mtu: 1279 is below 1280 \(underlay eth0 has MTU 1500, eth1 MTU 1349\)/,
  });
  const resolved = await resolveUnderlay(
    hostIp([], 1400),
    config(),
    { ip: ip('192.168.99.1'), field: 'peers.static' },
    { ip: ip('fd99::1'), field: 'peers.static' },
  );
  t.equal(deviceMtu(config(), resolved), 1330, 'resolved: eth0 IPv6 at 1400 − 70');
});

const dual: Underlay = {
  publicIP: '192.168.99.1',
  bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
  family: 4,
  v6: { publicIP: 'fd99::1', bind: { interface: 'eth0', address: 'fd99::1', prefixLen: 64, mtu: 1500 } },
};
const single: Underlay = { publicIP: '192.168.99.1', bind: dual.bind, family: 4 };

t.test('dataplane options and the advertisement: bindIPv6 and publicIPv6 only when dual-stack', async (t) => {
  const vtep = (underlay: Underlay) => ({ vtepMAC: '0a:00:00:00:01:01', underlay, mtu: 1430 });
  const o = dataplaneOptions(config(), vtep(dual));
  t.equal(o.bindIP, '192.168.99.1');
  t.equal(o.bindIPv6, 'fd99::1');
  t.notOk('bindIPv6' in dataplaneOptions(config({}, V4_SELF), vtep(single)), 'no bindIPv6 key single-family');
  const a = advertisedIPs(dual);
  t.same([a.publicIP.text, a.publicIPv6?.text], ['192.168.99.1', 'fd99::1']);
  t.notOk('publicIPv6' in advertisedIPs(single));
});

const peer = (name: string, i: number, v4?: string, v6?: string): Peer => {
  const first = v4 ?? v6!;
  return {
    name,
    podCIDRs: [Cidr.parse(`10.244.${i}.0/24`)],
    publicIP: ip(first),
    vtepMAC: `0a:00:00:00:0${i}:01`,
    ...(v4 && v6 ? { publicIPv6: ip(v6), vtepMACv6: `0a:00:00:00:0${i}:06` } : {}),
  };
};
const A = peer('node-a', 1, '192.168.99.1', 'fd99::1');
const B = peer('node-b', 2, '192.168.99.2', 'fd99::2');
const C4 = peer('node-c', 3, '192.168.99.3');
const D6 = peer('node-d', 4, undefined, 'fd99::4');

t.test('table entries: the IPv6 endpoint when the peer has one', async (t) => {
  t.same(tablePeer(B), {
    name: 'node-b',
    publicIP: '192.168.99.2',
    vtepMAC: '0a:00:00:00:02:01',
    cidrs: ['10.244.2.0/24'],
    publicIPv6: 'fd99::2',
    vtepMACv6: '0a:00:00:00:02:06',
  });
  t.same(Object.keys(tablePeer(C4)).sort(), ['cidrs', 'name', 'publicIP', 'vtepMAC'], 'nothing more otherwise');
  t.same(tablePeer(D6).publicIP, 'fd99::4', 'an IPv6-only peer: its publicIP is IPv6');
  t.same(
    buildTable('node-a', [A, B, C4, D6], ['10.244.1.0/24']).peers.map((p) => p.name),
    ['node-b', 'node-c', 'node-d'],
  );
  t.same(
    [4, 6].map((f) => [A, B, C4, D6].filter((p) => sharesFamily(p, [f as 4 | 6])).map((p) => p.name)),
    [
      ['node-a', 'node-b', 'node-c'],
      ['node-a', 'node-b', 'node-d'],
    ],
  );
});

t.test('diff: a change of the IPv6 endpoint is a peer change', async (t) => {
  const moved = { ...B, publicIPv6: ip('fd99::22') };
  const remac = { ...B, vtepMACv6: '0a:00:00:00:02:07' };
  const dropped: Peer = { name: B.name, podCIDRs: B.podCIDRs, publicIP: B.publicIP, vtepMAC: B.vtepMAC };
  for (const [what, next] of [
    ['publicIPv6', moved],
    ['vtepMACv6', remac],
    ['the IPv6 endpoint gone', dropped],
    ['remote checksum offload accepted', { ...B, remoteChecksum: true }],
  ] as const) {
    t.not(peerKey(next), peerKey(B), `${what}: another key`);
    t.same(
      diffPeers([A, B], [A, next]).updated.map((p) => p.name),
      ['node-b'],
      `${what}: updated`,
    );
  }
  t.same(diffPeers([A, B], [A, { ...B }]).updated, [], 'an equal copy is no change');
});

t.test('tableSync: peers of no family of ours are left out, logged once, counted', async (t) => {
  const lines: string[] = [];
  const tables: DataplaneTable[] = [];
  const upserts: DataplanePeer[][] = [];
  const sync = tableSync({
    dp: {
      setTable: (tb) => void tables.push(tb),
      updatePeers: (up) => void upserts.push(up),
    },
    self: 'node-a',
    localCIDRs: ['10.244.1.0/24'],
    families: [4],
    logger: lineLogger((l) => lines.push(l)),
    onReady: () => {},
  });
  sync.apply([A, B, C4, D6]);
  t.same(
    tables[0]?.peers.map((p) => p.name),
    ['node-b', 'node-c'],
    'an IPv4 node: the IPv6-only peer is left out, the dual-stack one stays',
  );
  t.equal(sync.unreachable, 1);
  t.same(
    sync.peers.map((p) => p.name),
    ['node-a', 'node-b', 'node-c'],
  );
  const skipped = () => lines.filter((l) => l.includes('peer skipped: no underlay family in common'));
  t.equal(skipped().length, 1, 'logged');
  t.match(skipped()[0], /node-d.*fd99::4.*IPv4/);
  sync.apply([A, B, C4, { ...D6 }]);
  t.equal(skipped().length, 1, 'logged once, not on every snapshot');
  t.equal(sync.unreachable, 1);
  const D46 = peer('node-d', 4, '192.168.99.4', 'fd99::4');
  sync.apply([A, B, C4, D46]);
  t.same(
    upserts.at(-1)?.map((p) => p.name),
    ['node-d'],
    'once it has an IPv4 endpoint it is added',
  );
  t.equal(sync.unreachable, 0);
  sync.apply([A, B, C4, D6]);
  t.equal(skipped().length, 2, 'logged again after it was reachable');

  // The same snapshot on an IPv6-only node, and on a dual-stack one.
  const six: DataplaneTable[] = [];
  const s6 = tableSync({
    dp: { setTable: (tb) => void six.push(tb) },
    self: 'node-a',
    localCIDRs: [],
    families: [6],
    logger: lineLogger(() => {}),
    onReady: () => {},
  });
  s6.apply([A, B, C4, D6]);
  t.same(
    six[0]?.peers.map((p) => p.name),
    ['node-b', 'node-d'],
  );
  const both: DataplaneTable[] = [];
  tableSync({
    dp: { setTable: (tb) => void both.push(tb) },
    self: 'node-a',
    localCIDRs: [],
    families: [4, 6],
    logger: lineLogger(() => {}),
    onReady: () => {},
  }).apply([A, B, C4, D6]);
  t.same(
    both[0]?.peers.map((p) => p.name),
    ['node-b', 'node-c', 'node-d'],
  );
});

t.test('status: our IPv6 address, the peers’ IPv6 endpoints, unreachable peers skipped', async (t) => {
  const facts: NodeFacts = {
    config: config(),
    vtep: { vtepMAC: '0a:00:00:00:01:01', underlay: dual, mtu: 1430 },
    podCIDRs: ['10.244.1.0/24'],
    workers: 1,
    dropReasons: [],
  };
  const stats = zeroStats([]);
  const s = buildStatus(facts, {
    stats,
    device: undefined,
    peers: [A, B, C4],
    unreachable: 2,
    ready: true,
    masq: undefined,
    source: { kind: 'static', state: { connected: true, nodes: 6, skipped: 1 } },
  });
  t.equal(s.publicIP, '192.168.99.1');
  t.equal(s.publicIPv6, 'fd99::1');
  t.same(Object.keys(s).slice(5, 8), ['publicIP', 'publicIPv6', 'vtepMAC'], 'beside publicIP');
  t.same(s.peers, [
    {
      name: 'node-b',
      podCIDRs: ['10.244.2.0/24'],
      publicIP: '192.168.99.2',
      vtepMAC: '0a:00:00:00:02:01',
      publicIPv6: 'fd99::2',
      vtepMACv6: '0a:00:00:00:02:06',
    },
    { name: 'node-c', podCIDRs: ['10.244.3.0/24'], publicIP: '192.168.99.3', vtepMAC: '0a:00:00:00:03:01' },
  ]);
  t.equal(s.controlPlane?.skipped, 3, "the source's skipped plus the unreachable");
  const text = formatStatus(s);
  t.match(text, /vtep 192\.168\.99\.1 fd99::1 0a:00:00:00:01:01/);
  t.match(
    text,
    /node-b {2}192\.168\.99\.2 {5}0a:00:00:00:02:01 {2}10\.244\.2\.0\/24\n {10}fd99::2 {10}0a:00:00:00:02:06\n/,
  );
  const up = upLogFields(facts, NO_OFFLOADS, {});
  t.same([up['bindIPv6'], up['publicIPv6']], ['[fd99::1]:8472', 'fd99::1']);
  const one = buildStatus(
    { ...facts, vtep: { ...facts.vtep, underlay: single } },
    {
      stats,
      device: undefined,
      peers: [],
      ready: true,
      masq: undefined,
      source: { kind: 'static', state: { connected: true, nodes: 1, skipped: 0 } },
    },
  );
  t.notOk('publicIPv6' in one, 'single-family: no publicIPv6 key');
  t.notOk('bindIPv6' in upLogFields({ ...facts, vtep: { ...facts.vtep, underlay: single } }, NO_OFFLOADS, {}));
});
