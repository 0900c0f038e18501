import { join } from 'node:path';
import t from 'tap';
import {
  autoMtu,
  loadConfigFile,
  MAX_MTU,
  parseConfigText,
  parseListenAddress,
  type Config,
} from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { macFromName } from '../../src/net/mac.js';

const env = { hostname: 'host-1' };

// A config with every key set, like the example in README "Configuration" (comments dropped).
const DESIGN_EXAMPLE = `
nodeName: node-a
network: 10.244.0.0/16
ipv6Network: fd10:244::/56
vni: 1
port: 8472
device: vxtun0
mtu: auto
vtepMAC: auto
underlay: { interface: eth0, publicIP: 192.168.99.1 }
peers:
  static:
    - { name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, vtepMAC: "0a:00:00:00:01:01" }
    - { name: node-b, podCIDRs: [10.244.2.0/24, "fd10:244:0:2::/64"], publicIP: 192.168.99.2, vtepMAC: "0a:00:00:00:02:01" }
  # kubernetes: { kubeconfig: /etc/vxtun/kubeconfig, annotationPrefix: flannel.alpha.coreos.com }
dataplane: { engine: native, workers: auto, offloads: { tso: auto, gro: auto, udpGso: auto, udpGro: auto } }
security: { acceptUnknownVteps: false, checkInnerSource: true }
admin: { listen: "127.0.0.1:9465", socket: /run/vxtun/vxtun.sock, readyFile: off }
handover: { socket: /run/vxtun/handover.sock, whenReplaced: exit }
subnetFile: /run/flannel/subnet.env
ipMasq: false
`;

const HEAD = 'nodeName: node-a\nnetwork: 10.244.0.0/16\n';
const PEERS = `peers:
  static:
    - { name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1 }
    - { name: node-b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2 }
`;
/** A minimal valid static config plus `extra` top-level lines. */
const minimal = (extra = ''): string => HEAD + PEERS + extra;
/** HEAD plus a static peer list whose entries are the given flow mappings. */
const withPeers = (...entries: string[]): string =>
  `${HEAD}peers:\n  static:\n${entries.map((e) => `    - ${e}\n`).join('')}`;
const A = '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1 }';
/** The start of node b's entry, without the closing brace (dual-stack cases add their keys). */
const B = '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2';
/** An IPv6-underlay static config: `underlay` as given, the publicIPs of node-b and node-a (this node) as given. */
const V6 = (underlay: string, peerB = '"fd99::2"', peerA = '"fd99::1"'): string =>
  `underlay: ${underlay}\n` +
  withPeers(
    `{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: ${peerA} }`,
    `{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: ${peerB} }`,
  );

/** Runs parseConfigText and returns the ConfigError it throws (fails the test if it throws anything else). */
function configError(text: string, e: { NODE_NAME?: string; hostname: string } = env): ConfigError | string {
  try {
    parseConfigText(text, 'test.yaml', e);
    return 'no error';
  } catch (err) {
    return err instanceof ConfigError ? err : `not a ConfigError: ${String(err)}`;
  }
}

/** Plain view of the parts of a Config that hold class instances. */
const cidrs = (cs: { toString(): string }[]): string[] => cs.map((c) => c.toString());

t.test('the full config example parses', async (t) => {
  const c = parseConfigText(DESIGN_EXAMPLE, 'design.yaml', env);
  t.equal(c.nodeName, 'node-a');
  t.equal(c.network.toString(), '10.244.0.0/16');
  t.equal(c.ipv6Network?.toString(), 'fd10:244::/56');
  t.equal(c.vni, 1);
  t.equal(c.port, 8472);
  t.equal(c.device, 'vxtun0');
  t.equal(c.mtu, 'auto');
  t.equal(c.vtepMAC, '0a:00:00:00:01:01', "static mode: resolved to this node's entry");
  t.equal(c.underlay.interface, 'eth0');
  t.equal(c.underlay.publicIP?.text, '192.168.99.1');
  t.equal(c.peers.kind, 'static');
  if (c.peers.kind !== 'static') return;
  t.same(
    c.peers.static.map((p) => ({
      name: p.name,
      podCIDRs: cidrs(p.podCIDRs),
      publicIP: p.publicIP.text,
      vtepMAC: p.vtepMAC,
    })),
    [
      { name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1', vtepMAC: '0a:00:00:00:01:01' },
      {
        name: 'node-b',
        podCIDRs: ['10.244.2.0/24', 'fd10:244:0:2::/64'],
        publicIP: '192.168.99.2',
        vtepMAC: '0a:00:00:00:02:01',
      },
    ],
  );
  t.same(c.dataplane, {
    engine: 'native',
    workers: 'auto',
    offloads: { tso: 'auto', gro: 'auto', udpGso: 'auto', udpGro: 'auto' },
    directRouting: false,
    remoteChecksum: false,
  });
  t.same(c.security, { acceptUnknownVteps: false, checkInnerSource: true });
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 9465 }, socket: '/run/vxtun/vxtun.sock', readyFile: null });
  t.same(c.handover, { socket: '/run/vxtun/handover.sock', whenReplaced: 'exit' });
  t.equal(c.subnetFile, '/run/flannel/subnet.env');
  t.equal(c.ipMasq, false);
});

t.test('defaults of a minimal static config', async (t) => {
  const c = parseConfigText(minimal(), 'm.yaml', env);
  t.equal(c.nodeName, 'node-a');
  t.notOk('ipv6Network' in c, 'no ipv6Network key');
  t.equal(c.vni, 1);
  t.equal(c.port, 8472);
  t.equal(c.device, 'vxtun0');
  t.equal(c.mtu, 'auto');
  t.equal(c.vtepMAC, macFromName('node-a'), 'derived from the local entry name');
  t.same(c.underlay, {});
  t.same(c.dataplane, {
    engine: 'native',
    workers: 'auto',
    offloads: { tso: 'auto', gro: 'auto', udpGso: 'auto', udpGro: 'auto' },
    directRouting: false,
    remoteChecksum: false,
  });
  t.same(c.security, { acceptUnknownVteps: false, checkInnerSource: true });
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 9465 }, socket: '/run/vxtun/vxtun.sock', readyFile: null });
  t.same(c.handover, { socket: '/run/vxtun/handover.sock', whenReplaced: 'exit' });
  t.equal(c.subnetFile, null, 'off in static mode');
  t.equal(c.ipMasq, false);
  if (c.peers.kind !== 'static') return t.fail('expected static peers');
  t.same(
    c.peers.static.map((p) => p.vtepMAC),
    [macFromName('node-a'), macFromName('node-b')],
  );
});

t.test('kubernetes mode defaults', async (t) => {
  for (const peers of ['peers: { kubernetes: {} }', 'peers:\n  kubernetes:\n']) {
    const c = parseConfigText(`nodeName: n1\nnetwork: 10.244.0.0/16\n${peers}`, 'k.yaml', env);
    t.same(c.peers, { kind: 'kubernetes', kubernetes: { annotationPrefix: 'flannel.alpha.coreos.com' } }, peers);
    t.equal(c.subnetFile, '/run/flannel/subnet.env');
    t.equal(c.vtepMAC, 'auto');
  }
  const c = parseConfigText(
    'network: 10.244.0.0/16\npeers: { kubernetes: { kubeconfig: /etc/vxtun/kubeconfig, annotationPrefix: vxtun.example.com } }\nsubnetFile: "off"\nvtepMAC: "0A:00:00:00:01:01"',
    'k.yaml',
    env,
  );
  t.same(c.peers, {
    kind: 'kubernetes',
    kubernetes: { kubeconfig: '/etc/vxtun/kubeconfig', annotationPrefix: 'vxtun.example.com' },
  });
  t.equal(c.subnetFile, null);
  t.equal(c.vtepMAC, '0a:00:00:00:01:01', 'lowercased');
});

t.test('nodeName defaults: $NODE_NAME, else the hostname', async (t) => {
  const noName = minimal().replace('nodeName: node-a\n', '');
  t.equal(parseConfigText(noName, 'x', { NODE_NAME: 'node-b', hostname: 'node-a' }).nodeName, 'node-b');
  t.equal(parseConfigText(noName, 'x', { hostname: 'node-a' }).nodeName, 'node-a');
  t.equal(
    parseConfigText(noName, 'x', { NODE_NAME: '', hostname: 'node-a' }).nodeName,
    'node-a',
    'empty $NODE_NAME is unset',
  );
  const err = configError(noName, { hostname: '' });
  t.ok(err instanceof ConfigError && err.field === 'nodeName', String(err));
  const c = parseConfigText(noName, 'x', { NODE_NAME: 'node-b', hostname: 'h' });
  t.equal(c.vtepMAC, macFromName('node-b'), 'the local entry follows nodeName');
});

t.test('remote checksum offload: the node follows its own static entry, peers say what they accept', async (t) => {
  const own = '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, remoteChecksum: true }';
  const c = parseConfigText(withPeers(own, `${B}, remoteChecksum: true }`), 'r.yaml', env);
  t.equal(c.dataplane.remoteChecksum, true, "on: this node's entry says it accepts it");
  if (c.peers.kind !== 'static') return t.fail('expected static peers');
  t.same(
    c.peers.static.map((p) => p.remoteChecksum),
    [true, true],
  );
  const off = parseConfigText(withPeers(A, `${B}, remoteChecksum: false }`), 'r.yaml', env);
  t.equal(off.dataplane.remoteChecksum, false, 'off by default');
  if (off.peers.kind !== 'static') return t.fail('expected static peers');
  t.same(
    off.peers.static.map((p) => 'remoteChecksum' in p),
    [false, false],
    'false is the same as absent',
  );
  const acceptOnly = parseConfigText(withPeers(A, `${B} }`) + 'dataplane: { remoteChecksum: true }\n', 'r.yaml', env);
  t.equal(acceptOnly.dataplane.remoteChecksum, true, 'on without the entry saying so: accepted, never sent to us');
  const kube = HEAD + 'peers: { kubernetes: {} }\n';
  t.equal(parseConfigText(kube, 'k.yaml', env).dataplane.remoteChecksum, false, 'kubernetes mode: off by default');
  t.equal(
    parseConfigText(kube + 'dataplane: { remoteChecksum: true }\n', 'k.yaml', env).dataplane.remoteChecksum,
    true,
    'kubernetes mode: on, advertised in backend-data',
  );
});

t.test('JSON works and means the same as YAML', async (t) => {
  const json = JSON.stringify({
    nodeName: 'node-a',
    network: '10.244.0.0/16',
    ipv6Network: 'fd10:244::/56',
    port: 4789,
    mtu: 1400,
    peers: {
      static: [
        { name: 'node-a', podCIDRs: ['10.244.1.0/24', 'fd10:244:0:1::/64'], publicIP: '192.168.99.1' },
        { name: 'node-b', podCIDR: '10.244.2.0/24', publicIP: '192.168.99.2', vtepMAC: 'AA:00:00:00:02:01' },
      ],
    },
    dataplane: {
      engine: 'js',
      workers: 4,
      offloads: { tso: false, gro: true, udpGso: 'off', udpGro: 'on' },
      directRouting: true,
    },
    security: { acceptUnknownVteps: true, checkInnerSource: false },
    admin: { listen: '[::1]:9000' },
    subnetFile: null,
    ipMasq: true,
  });
  const c: Config = parseConfigText(json, 'c.json', env);
  t.equal(c.port, 4789);
  t.equal(c.mtu, 1400);
  t.equal(c.ipv6Network?.toString(), 'fd10:244::/56');
  t.same(c.dataplane, {
    engine: 'js',
    workers: 4,
    offloads: { tso: 'off', gro: 'on', udpGso: 'off', udpGro: 'on' },
    directRouting: true,
    remoteChecksum: false,
  });
  t.same(c.security, { acceptUnknownVteps: true, checkInnerSource: false });
  t.same(c.admin, { listen: { host: '::1', port: 9000 }, socket: '/run/vxtun/vxtun.sock', readyFile: null });
  t.equal(c.subnetFile, null);
  t.equal(c.ipMasq, true);
  if (c.peers.kind !== 'static') return t.fail('expected static peers');
  t.same(cidrs(c.peers.static[0]?.podCIDRs ?? []), ['10.244.1.0/24', 'fd10:244:0:1::/64']);
  t.equal(c.peers.static[1]?.vtepMAC, 'aa:00:00:00:02:01');

  const yamlText = minimal('port: 4789\nadmin: { listen: off }\n');
  const y = parseConfigText(yamlText, 'c.yaml', env);
  const j = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      peers: {
        static: [
          { name: 'node-a', podCIDR: '10.244.1.0/24', publicIP: '192.168.99.1' },
          { name: 'node-b', podCIDR: '10.244.2.0/24', publicIP: '192.168.99.2' },
        ],
      },
      port: 4789,
      admin: { listen: 'off' },
    }),
    'c.json',
    env,
  );
  t.same(j, y, 'same Config from YAML and JSON');
  t.equal(y.admin.listen, null, 'admin.listen off');
});

t.test('other accepted values', async (t) => {
  t.equal(parseConfigText(minimal('mtu: 576\n'), 'x', env).mtu, 576);
  t.equal(parseConfigText(minimal('mtu: 65485\n'), 'x', env).mtu, 65485, 'the largest MTU whose datagrams fit UDP');
  t.equal(parseConfigText(minimal('ipv6Network: fd10:244::/56\nmtu: 1280\n'), 'x', env).mtu, 1280);
  t.equal(parseConfigText(minimal('vni: 16777215\n'), 'x', env).vni, 16777215);
  t.equal(parseConfigText(minimal('device: vxlan-overlay01\n'), 'x', env).device, 'vxlan-overlay01');
  t.equal(parseConfigText(minimal('dataplane: { workers: 64 }\n'), 'x', env).dataplane.workers, 64);
  t.same(parseConfigText(minimal('admin: { listen: "localhost:80" }\n'), 'x', env).admin.listen, {
    host: 'localhost',
    port: 80,
  });
  t.same(parseConfigText(minimal('admin: {}\n'), 'x', env).admin, {
    listen: { host: '127.0.0.1', port: 9465 },
    socket: '/run/vxtun/vxtun.sock',
    readyFile: null,
  });
  t.equal(parseConfigText(minimal('admin: { readyFile: /tmp/p/ready }\n'), 'x', env).admin.readyFile, '/tmp/p/ready');
  // The handover socket: beside the admin socket unless set; off with it.
  t.same(parseConfigText(minimal(), 'x', env).handover, { socket: '/run/vxtun/handover.sock', whenReplaced: 'exit' });
  t.same(
    parseConfigText(minimal('admin: { socket: /tmp/n1/a.sock }\n'), 'x', env).handover.socket,
    '/tmp/n1/handover.sock',
  );
  t.same(parseConfigText(minimal('admin: { socket: off }\n'), 'x', env).handover.socket, null);
  t.same(
    parseConfigText(
      minimal('admin: { socket: off }\nhandover: { socket: /tmp/h.sock, whenReplaced: wait }\n'),
      'x',
      env,
    ).handover,
    { socket: '/tmp/h.sock', whenReplaced: 'wait' },
  );
  t.same(parseConfigText(minimal('handover: { socket: off }\n'), 'x', env).handover.socket, null);
  t.same(parseConfigText(minimal('admin: { socket: off }\n'), 'x', env).admin.socket, null, 'admin.socket off');
  t.same(parseConfigText(minimal('admin: { socket: /tmp/x/a.sock }\n'), 'x', env).admin.socket, '/tmp/x/a.sock');
  t.same(
    parseConfigText(minimal(`admin: { socket: /${'a'.repeat(106)} }\n`), 'x', env).admin.socket,
    `/${'a'.repeat(106)}`,
    '107 bytes',
  );
  t.equal(parseConfigText(minimal('subnetFile: /tmp/subnet.env\n'), 'x', env).subnetFile, '/tmp/subnet.env');
  t.equal(
    parseConfigText(minimal('vtepMAC: 66:57:0F:F0:5A:20\n'), 'x', env).vtepMAC,
    '66:57:0f:f0:5a:20',
    'equal to the derived MAC',
  );
  const local = parseConfigText(withPeers('{ name: node-a, podCIDR: 10.244.0.0/16, publicIP: 10.0.0.1 }'), 'x', env);
  t.equal(local.peers.kind === 'static' && local.peers.static.length, 1, 'a single node owning the whole network');
});

t.test('an IPv6 underlay: global and unique-local unicast publicIPs, all of one family', async (t) => {
  const pairs: [string, string][] = [
    ['fd99::1', 'fd99::2'],
    ['2001:db8::1', '2001:db8:0:1::1'],
    ['2a01:4f8:c17:1::1', 'fc00::2'],
  ];
  for (const [own, peer] of pairs) {
    const c = parseConfigText(V6(`{ interface: eth0, publicIP: "${own}" }`, `"${peer}"`, `"${own}"`), 'x', env);
    t.equal(c.underlay.publicIP?.text, own, `underlay.publicIP ${own}`);
    t.equal(c.underlay.publicIP?.family, 6);
    t.same(
      c.peers.kind === 'static' && c.peers.static.map((p) => p.publicIP.text),
      [own, peer],
      `peers ${own}, ${peer}`,
    );
  }
  const noUnderlay = parseConfigText(V6('{}'), 'x', env);
  t.same(noUnderlay.underlay, {}, 'the underlay family follows our own entry without underlay.publicIP');
  const canonical = parseConfigText(V6('{ publicIP: "FD99:0:0::0001" }'), 'x', env);
  t.equal(canonical.underlay.publicIP?.text, 'fd99::1', 'canonical text');
  const json = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      underlay: { publicIP: 'fd99::1' },
      peers: { static: [{ name: 'node-a', podCIDR: '10.244.1.0/24', publicIP: 'fd99::1' }] },
    }),
    'x',
    env,
  );
  t.equal(json.underlay.publicIP?.text, 'fd99::1', 'JSON');
});

t.test('peers.kubernetes takes an IPv6 underlay.publicIP, and underlay.publicIPv6', async (t) => {
  const kube = `${HEAD}peers: { kubernetes: {} }\n`;
  t.equal(parseConfigText(`${kube}underlay: { publicIP: "fd99::1" }\n`, 'x', env).underlay.publicIP?.text, 'fd99::1');
  const dual = parseConfigText(`${kube}underlay: { publicIP: 192.168.99.1, publicIPv6: "FD99::0001" }\n`, 'x', env);
  t.equal(dual.underlay.publicIP?.text, '192.168.99.1');
  t.equal(dual.underlay.publicIPv6?.text, 'fd99::1', 'canonical text');
  t.equal(dual.underlay.publicIPv6?.family, 6);
  const v6Only = parseConfigText(`${kube}underlay: { publicIPv6: "fd99::1" }\n`, 'x', env);
  t.same(v6Only.underlay.publicIPv6?.text, 'fd99::1', 'publicIPv6 without publicIP');
  t.notOk('publicIP' in v6Only.underlay);
});

/** A dual-stack static list: node-a (this node) and node-b with both endpoints, node-c IPv4 only. */
const DUAL = (underlay = '{}', extraC = ''): string =>
  `underlay: ${underlay}\n` +
  withPeers(
    '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, vtepMAC: "0a:00:00:00:01:01", publicIPv6: "fd99::1", vtepMACv6: "0a:00:00:00:01:01" }',
    '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, vtepMAC: "0a:00:00:00:02:01", publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:02:06" }',
    `{ name: node-c, podCIDR: 10.244.3.0/24, publicIP: ${extraC || '192.168.99.3'} }`,
  );

t.test('dual-stack static peers: publicIPv6 and vtepMACv6', async (t) => {
  const c = parseConfigText(DUAL(), 'x', env);
  const peers = c.peers.kind === 'static' ? c.peers.static : [];
  t.same(
    peers.map((p) => [p.name, p.publicIP.text, p.vtepMAC, p.publicIPv6?.text, p.vtepMACv6]),
    [
      ['node-a', '192.168.99.1', '0a:00:00:00:01:01', 'fd99::1', '0a:00:00:00:01:01'],
      ['node-b', '192.168.99.2', '0a:00:00:00:02:01', 'fd99::2', '0a:00:00:00:02:06'],
      ['node-c', '192.168.99.3', macFromName('node-c'), undefined, undefined],
    ],
  );
  t.notOk('publicIPv6' in (peers[2] ?? {}), 'no publicIPv6 key on a single-family entry');
  // vtepMACv6 omitted: the entry's vtepMAC serves both endpoints (a vxtun node).
  const oneMac = parseConfigText(
    withPeers(
      '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, publicIPv6: "fd99::1" }',
      '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, vtepMAC: "0a:00:00:00:02:01", publicIPv6: "fd99::2" }',
    ),
    'x',
    env,
  );
  t.same(
    oneMac.peers.kind === 'static' && oneMac.peers.static.map((p) => [p.vtepMAC, p.vtepMACv6]),
    [
      [macFromName('node-a'), macFromName('node-a')],
      ['0a:00:00:00:02:01', '0a:00:00:00:02:01'],
    ],
    'vtepMACv6 defaults to vtepMAC',
  );
  t.equal(c.vtepMAC, '0a:00:00:00:01:01', "our one MAC is our entry's");
  // This node dual-stack: an IPv6-only peer shares IPv6 with it; with underlay.publicIPv6 too.
  const v6Peer = parseConfigText(DUAL('{ publicIP: 192.168.99.1, publicIPv6: "fd99::1" }', '"fd99::3"'), 'x', env);
  t.equal(v6Peer.peers.kind === 'static' && v6Peer.peers.static[2]?.publicIP.text, 'fd99::3', 'an IPv6-only peer');
  t.equal(v6Peer.underlay.publicIPv6?.text, 'fd99::1');
  // This node single-family: a dual-stack peer shares a family with it, whichever it is.
  const v4Self = withPeers(
    A,
    '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:02:06" }',
  );
  t.equal(parseConfigText(v4Self, 'x', env).peers.kind, 'static', 'IPv4 node, dual-stack peer');
  const v6Self = withPeers(
    '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: "fd99::1" }',
    '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:02:06" }',
  );
  t.equal(parseConfigText(v6Self, 'x', env).peers.kind, 'static', 'IPv6 node, dual-stack peer');
  const json = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      underlay: { publicIPv6: 'fd99::1' },
      peers: {
        static: [
          {
            name: 'node-a',
            podCIDR: '10.244.1.0/24',
            publicIP: '192.168.99.1',
            publicIPv6: 'fd99::1',
            vtepMACv6: macFromName('node-a'),
          },
        ],
      },
    }),
    'x',
    env,
  );
  t.equal(json.underlay.publicIPv6?.text, 'fd99::1', 'JSON; vtepMACv6 equal to the derived vtepMAC');
});

interface Bad {
  name: string;
  text: string;
  field: string;
  message?: RegExp;
}

const BAD: Bad[] = [
  // Whole file
  {
    name: 'top level is a list',
    text: '- 1\n- 2\n',
    field: 'config',
    message: /expected a mapping at the top level, got a list/,
  },
  { name: 'empty file', text: '', field: 'config' },
  {
    name: 'YAML syntax error',
    text: 'network: [10.244.0.0/16\n',
    field: 'config',
    message: /cannot parse test\.yaml: .*\(line 2, column 1\)$/,
  },
  { name: 'duplicate key', text: minimal('port: 1\nport: 2\n'), field: 'config', message: /unique.*line 8, column 1/ },
  {
    name: 'two documents',
    text: `${minimal()}---\n${minimal()}`,
    field: 'config',
    message: /more than one YAML document/,
  },
  { name: 'non-string key', text: minimal('1: x\n'), field: 'config', message: /keys must be strings, got 1/ },
  {
    name: 'unresolved alias',
    text: minimal('port: *p\n'),
    field: 'config',
    message: /cannot parse test\.yaml: Unresolved alias/,
  },
  {
    name: 'alias bomb',
    text: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
    field: 'config',
    message: /cannot parse/,
  },
  { name: 'JSON syntax error', text: '{"network": "10.244.0.0/16",}x', field: 'config' },
  // Unknown keys
  {
    name: 'misspelled top key',
    text: minimal('vnl: 1\n'),
    field: 'vnl',
    message: /^vnl: unknown key; did you mean 'vni'\?$/,
  },
  { name: 'unknown top key', text: minimal('colour: red\n'), field: 'colour', message: /^colour: unknown key$/ },
  {
    name: 'misspelled required key',
    text: 'nodeName: a\nnetwrok: 10.244.0.0/16\n',
    field: 'netwrok',
    message: /did you mean 'network'/,
  },
  { name: '__proto__ key', text: minimal('__proto__: { port: 1 }\n'), field: '__proto__', message: /unknown key/ },
  {
    name: 'case differs',
    text: withPeers('{ name: node-a, podCidr: 10.244.1.0/24, publicIP: 192.168.99.1 }'),
    field: 'peers.static[0].podCidr',
    message: /did you mean 'podCIDR'/,
  },
  { name: 'unknown underlay key', text: minimal('underlay: { iface: eth0 }\n'), field: 'underlay.iface' },
  {
    name: 'unknown offload',
    text: minimal('dataplane: { offloads: { gso: on } }\n'),
    field: 'dataplane.offloads.gso',
    message: /unknown key/,
  },
  {
    name: 'unknown kubernetes key',
    text: `${HEAD}peers: { kubernetes: { kubeConfig: /x } }\n`,
    field: 'peers.kubernetes.kubeConfig',
    message: /did you mean 'kubeconfig'/,
  },
  // nodeName
  { name: 'empty nodeName', text: minimal().replace('nodeName: node-a', 'nodeName: ""'), field: 'nodeName' },
  {
    name: 'long nodeName',
    text: minimal().replace('nodeName: node-a', `nodeName: ${'a'.repeat(254)}`),
    field: 'nodeName',
  },
  { name: 'nodeName a number', text: minimal().replace('nodeName: node-a', 'nodeName: 7'), field: 'nodeName' },
  // network, ipv6Network
  { name: 'network missing', text: `nodeName: node-a\n${PEERS}`, field: 'network', message: /required/ },
  {
    name: 'network IPv6',
    text: minimal().replace('10.244.0.0/16', 'fd10:244::/56'),
    field: 'network',
    message: /IPv4 CIDR/,
  },
  {
    name: 'network host bits',
    text: minimal().replace('10.244.0.0/16', '10.244.1.0/16'),
    field: 'network',
    message: /did you mean 10\.244\.0\.0\/16\?/,
  },
  {
    name: 'network garbage',
    text: minimal().replace('10.244.0.0/16', 'ten'),
    field: 'network',
    message: /expected a CIDR like 10\.244\.1\.0\/24, got "ten"/,
  },
  { name: 'network everything', text: minimal().replace('10.244.0.0/16', '0.0.0.0/0'), field: 'network' },
  { name: 'network a list', text: minimal().replace('10.244.0.0/16', '[10.244.0.0/16]'), field: 'network' },
  { name: 'ipv6Network IPv4', text: minimal('ipv6Network: 10.0.0.0/8\n'), field: 'ipv6Network', message: /IPv6 CIDR/ },
  // Scalars
  {
    name: 'vni quoted',
    text: minimal('vni: "1"\n'),
    field: 'vni',
    message: /^vni: expected an integer 1\.\.16777215, got the string "1"$/,
  },
  { name: 'vni zero', text: minimal('vni: 0\n'), field: 'vni' },
  { name: 'vni too big', text: minimal('vni: 16777216\n'), field: 'vni' },
  {
    name: 'port too big',
    text: minimal('port: 99999\n'),
    field: 'port',
    message: /expected an integer 1\.\.65535, got 99999/,
  },
  { name: 'port fraction', text: minimal('port: 84.72\n'), field: 'port' },
  { name: 'port null', text: minimal('port:\n'), field: 'port', message: /got nothing/ },
  { name: 'device too long', text: minimal('device: vxtun-0123456789\n'), field: 'device' },
  { name: 'device slash', text: minimal('device: a/b\n'), field: 'device' },
  { name: 'device dotdot', text: minimal('device: ".."\n'), field: 'device' },
  { name: 'device space', text: minimal('device: "vx 0"\n'), field: 'device' },
  { name: 'mtu too small', text: minimal('mtu: 500\n'), field: 'mtu', message: /576\.\.65485/ },
  {
    name: 'mtu too small for IPv6',
    text: minimal('ipv6Network: fd10:244::/56\nmtu: 1000\n'),
    field: 'mtu',
    message: /1280\.\.65485.*ipv6Network/,
  },
  // Above 65,485 a packet and its VXLAN + Ethernet prefix no longer fit one UDP datagram (issue 14 item 9).
  {
    name: 'mtu above the UDP datagram cap',
    text: minimal('mtu: 65486\n'),
    field: 'mtu',
    message: /576\.\.65485, got 65486/,
  },
  { name: 'mtu 65535', text: minimal('mtu: 65535\n'), field: 'mtu', message: /\.\.65485/ },
  { name: 'mtu a string', text: minimal('mtu: "1450"\n'), field: 'mtu' },
  { name: 'vtepMAC multicast', text: minimal('vtepMAC: "01:00:5e:00:00:01"\n'), field: 'vtepMAC', message: /unicast/ },
  { name: 'vtepMAC garbage', text: minimal('vtepMAC: 0a-00-00-00-01-01\n'), field: 'vtepMAC' },
  {
    name: 'vtepMAC differs from the local entry',
    text: minimal('vtepMAC: "0a:00:00:00:09:09"\n'),
    field: 'vtepMAC',
    message: /differs/,
  },
  { name: 'ipMasq a string', text: minimal('ipMasq: "true"\n'), field: 'ipMasq' },
  { name: 'subnetFile a number', text: minimal('subnetFile: 5\n'), field: 'subnetFile' },
  { name: 'subnetFile empty', text: minimal('subnetFile: ""\n'), field: 'subnetFile' },
  // underlay
  { name: 'underlay a string', text: minimal('underlay: eth0\n'), field: 'underlay', message: /expected a mapping/ },
  ...(
    [
      ['unspecified', '::', /:: is the unspecified address/],
      ['loopback', '::1', /::1 is the loopback address/],
      ['multicast', 'ff02::1', /ff02::1 is a multicast address/],
      ['link-local', 'fe80::1', /fe80::1 is link-local: it needs a scope/],
      ['link-local, top of fe80::/10', 'febf::1', /febf::1 is link-local/],
      [
        'IPv4-mapped',
        '::ffff:192.168.99.1',
        /::ffff:192\.168\.99\.1 is IPv4-mapped; write the IPv4 address \(192\.168\.99\.1\)/,
      ],
      ['with a zone', 'fe80::1%eth0', /expected an IPv4 or IPv6 address/],
      ['with a prefix length', 'fd99::1/64', /expected an IPv4 or IPv6 address/],
    ] as const
  ).flatMap(([what, addr, message]): Bad[] => [
    { name: `underlay IPv6 ${what}`, text: V6(`{ publicIP: "${addr}" }`), field: 'underlay.publicIP', message },
    {
      name: `peer IPv6 ${what}`,
      text: V6('{}', `"${addr}"`),
      field: 'peers.static[1].publicIP',
      message,
    },
  ]),
  {
    name: 'peer of the other family than underlay.publicIP',
    text: V6('{ publicIP: "fd99::1" }', '192.168.99.2'),
    field: 'peers.static[1].publicIP',
    message:
      /^peers\.static\[1\]\.publicIP: 192\.168\.99\.2 is IPv4 but this node's underlay is IPv6 \(underlay\.publicIP fd99::1\)/,
  },
  {
    name: 'peer of the other family than the own entry',
    text: withPeers(A, '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: "fd99::2" }'),
    field: 'peers.static[1].publicIP',
    message: /fd99::2 is IPv6 but this node's underlay is IPv4 \(this node's entry 192\.168\.99\.1\)/,
  },
  {
    name: 'own entry of the other family than underlay.publicIP',
    text: minimal('underlay: { publicIP: "fd99::1" }\n'),
    field: 'peers.static[0].publicIP',
    message: /192\.168\.99\.1 is IPv4 but this node's underlay is IPv6/,
  },
  {
    name: 'IPv4 underlay.publicIP, IPv6 peers',
    text: V6('{ publicIP: 192.168.99.1 }'),
    field: 'peers.static[0].publicIP',
    message: /fd99::1 is IPv6 but this node's underlay is IPv4 \(underlay\.publicIP 192\.168\.99\.1\)/,
  },
  // Dual-stack (underlay.publicIPv6, peers' publicIPv6 / vtepMACv6)
  ...(
    [
      ['unspecified', '::', /:: is the unspecified address/],
      ['loopback', '::1', /::1 is the loopback address/],
      ['multicast', 'ff02::1', /ff02::1 is a multicast address/],
      ['link-local', 'fe80::1', /fe80::1 is link-local/],
      ['IPv4-mapped', '::ffff:192.168.99.1', /is IPv4-mapped; write the IPv4 address/],
      ['IPv4', '192.168.99.7', /expected an IPv6 address like fd99::1, got "192\.168\.99\.7"/],
      ['not an address', 'fd99::1::2', /expected an IPv6 address/],
    ] as const
  ).flatMap(([what, addr, message]): Bad[] => [
    {
      name: `underlay.publicIPv6 ${what}`,
      text: minimal(`underlay: { publicIPv6: "${addr}" }\n`),
      field: 'underlay.publicIPv6',
      message,
    },
    {
      name: `peer publicIPv6 ${what}`,
      text: withPeers(A, `${B}, publicIPv6: "${addr}", vtepMACv6: "0a:00:00:00:02:06" }`),
      field: 'peers.static[1].publicIPv6',
      message,
    },
  ]),
  {
    name: 'underlay.publicIPv6 with an IPv6 underlay.publicIP',
    text: V6('{ publicIP: "fd99::1", publicIPv6: "fd99::2" }'),
    field: 'underlay.publicIP',
    message:
      /^underlay\.publicIP: fd99::1 is IPv6, but with underlay\.publicIPv6 set underlay\.publicIP is the IPv4 address$/,
  },
  {
    name: 'underlay.publicIPv6 while our entry has no publicIPv6',
    text: minimal('underlay: { publicIPv6: "fd99::1" }\n'),
    field: 'underlay.publicIPv6',
    message: /fd99::1: this node's entry in peers\.static has no publicIPv6/,
  },
  {
    name: 'IPv6 underlay.publicIP while our entry is dual-stack',
    text: DUAL('{ publicIP: "fd99::1" }'),
    field: 'underlay.publicIP',
    message: /fd99::1 is IPv6, but this node's entry in peers\.static is dual-stack \(192\.168\.99\.1, fd99::1\)/,
  },
  {
    name: 'peer vtepMACv6 without publicIPv6',
    text: withPeers(A, `${B}, vtepMACv6: "0a:00:00:00:02:06" }`),
    field: 'peers.static[1].vtepMACv6',
    message: /given without publicIPv6/,
  },
  {
    name: 'peer publicIPv6 with an IPv6 publicIP',
    text: withPeers(
      A,
      '{ name: b, podCIDR: 10.244.2.0/24, publicIP: "fd99::3", publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:02:06" }',
    ),
    field: 'peers.static[1].publicIPv6',
    message: /a dual-stack entry's publicIP is its IPv4 address, got fd99::3/,
  },
  {
    name: 'peer vtepMACv6 multicast',
    text: withPeers(A, `${B}, publicIPv6: "fd99::2", vtepMACv6: "01:00:5e:00:00:01" }`),
    field: 'peers.static[1].vtepMACv6',
    message: /multicast/,
  },
  {
    name: 'peer vtepMACv6 not a MAC',
    text: withPeers(A, `${B}, publicIPv6: "fd99::2", vtepMACv6: "zz" }`),
    field: 'peers.static[1].vtepMACv6',
  },
  {
    name: "peer vtepMACv6 another node's MAC",
    text: withPeers(A, `${B}, publicIPv6: "fd99::2", vtepMACv6: "${macFromName('node-a')}" }`),
    field: 'peers.static[1].vtepMACv6',
    message: /is also a VTEP MAC of node-a/,
  },
  {
    name: "peer publicIPv6 another node's publicIPv6",
    text: DUAL('{}').replace(
      'publicIP: 192.168.99.3',
      'publicIP: 192.168.99.3, publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:03:06"',
    ),
    field: 'peers.static[2].publicIPv6',
    message: /fd99::2 is also the publicIPv6 of node-b$/,
  },
  {
    name: "peer publicIP another node's publicIPv6",
    text: DUAL('{}', '"fd99::2"'),
    field: 'peers.static[2].publicIP',
    message: /fd99::2 is also the publicIPv6 of node-b$/,
  },
  {
    name: 'our vtepMACv6 not our vtepMAC',
    text: DUAL('{}').replace('vtepMACv6: "0a:00:00:00:01:01"', 'vtepMACv6: "0a:00:00:00:01:06"'),
    field: 'peers.static[0].vtepMACv6',
    message: /0a:00:00:00:01:06 differs from this node's vtepMAC 0a:00:00:00:01:01: a vxtun node has one VTEP MAC/,
  },
  {
    name: 'an IPv4-only peer of an IPv6 node with dual-stack peers',
    text: withPeers(
      '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: "fd99::1" }',
      `${B}, publicIPv6: "fd99::2", vtepMACv6: "0a:00:00:00:02:06" }`,
      '{ name: c, podCIDR: 10.244.3.0/24, publicIP: 192.168.99.3 }',
    ),
    field: 'peers.static[2].publicIP',
    message: /192\.168\.99\.3 is IPv4 but this node's underlay is IPv6 \(this node's entry fd99::1\)/,
  },
  {
    name: 'an unknown key next to publicIPv6',
    text: withPeers(A, `${B}, publicIPV6: "fd99::2" }`),
    field: 'peers.static[1].publicIPV6',
  },
  {
    name: 'underlay IP leading zero',
    text: minimal('underlay: { publicIP: 192.168.099.1 }\n'),
    field: 'underlay.publicIP',
  },
  { name: 'underlay interface bad', text: minimal('underlay: { interface: "eth 0" }\n'), field: 'underlay.interface' },
  // peers
  { name: 'peers missing', text: HEAD, field: 'peers', message: /required/ },
  { name: 'peers empty', text: `${HEAD}peers: {}\n`, field: 'peers', message: /exactly one source/ },
  {
    name: 'peers both',
    text: `${HEAD}peers: { static: [], kubernetes: {} }\n`,
    field: 'peers',
    message: /static and kubernetes/,
  },
  { name: 'peers a list', text: `${HEAD}peers: []\n`, field: 'peers' },
  {
    name: 'static a mapping',
    text: `${HEAD}peers: { static: { node-a: 1 } }\n`,
    field: 'peers.static',
    message: /expected a list/,
  },
  {
    name: 'static entry a string',
    text: withPeers(A, 'node-b'),
    field: 'peers.static[1]',
    message: /expected a mapping/,
  },
  {
    name: 'peer publicIP loopback',
    text: withPeers(A, '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: 127.0.0.1 }'),
    field: 'peers.static[1].publicIP',
    message: /127\.0\.0\.1 is loopback, not an address other nodes can send to/,
  },
  {
    name: 'peer publicIP metadata',
    text: withPeers(A, '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: 169.254.169.254 }'),
    field: 'peers.static[1].publicIP',
    message: /169\.254\.169\.254 is link-local, not an address other nodes can send to/,
  },
  {
    name: 'peer publicIP this-network',
    text: withPeers(A, '{ name: node-b, podCIDR: 10.244.2.0/24, publicIP: 0.1.2.3 }'),
    field: 'peers.static[1].publicIP',
    message: /0\.1\.2\.3 is unspecified, not an address other nodes can send to/,
  },
  {
    name: 'name missing',
    text: withPeers(A, '{ podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].name',
    message: /required/,
  },
  {
    name: 'name empty',
    text: withPeers(A, '{ name: "", podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].name',
    message: /non-empty/,
  },
  {
    name: 'name duplicate',
    text: withPeers(A, '{ name: node-a, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].name',
    message: /duplicate.*peers\.static\[0\]\.name/,
  },
  {
    name: 'podCIDR and podCIDRs',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, podCIDRs: [10.244.3.0/24], publicIP: 192.168.99.2 }'),
    field: 'peers.static[1]',
    message: /not both/,
  },
  {
    name: 'no podCIDR',
    text: withPeers(A, '{ name: b, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1]',
    message: /required/,
  },
  {
    name: 'podCIDRs empty',
    text: withPeers(A, '{ name: b, podCIDRs: [], publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDRs',
  },
  {
    name: 'podCIDRs five',
    text: withPeers(
      A,
      '{ name: b, podCIDRs: [10.244.2.0/24, 10.244.3.0/24, 10.244.4.0/24, 10.244.5.0/24, 10.244.6.0/24], publicIP: 192.168.99.2 }',
    ),
    field: 'peers.static[1].podCIDRs',
  },
  {
    name: 'podCIDRs a string',
    text: withPeers(A, '{ name: b, podCIDRs: 10.244.2.0/24, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDRs',
  },
  {
    name: 'podCIDR outside network',
    text: withPeers(A, '{ name: b, podCIDR: 10.245.2.0/24, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDR',
    message: /outside network 10\.244\.0\.0\/16/,
  },
  {
    name: 'podCIDR wider than network',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.0.0/15, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDR',
    message: /outside/,
  },
  {
    name: 'podCIDR host bits',
    text: withPeers(A, '{ name: b, podCIDRs: [10.244.2.1/24], publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDRs[0]',
    message: /host bits/,
  },
  {
    name: 'IPv6 podCIDR without ipv6Network',
    text: withPeers(A, '{ name: b, podCIDRs: [10.244.2.0/24, "fd10:244:0:2::/64"], publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDRs[1]',
    message: /ipv6Network is not set/,
  },
  {
    name: 'IPv6 podCIDR outside ipv6Network',
    text: `ipv6Network: fd10:244::/56\n${withPeers(A, '{ name: b, podCIDRs: [10.244.2.0/24, "fd10:245:0:2::/64"], publicIP: 192.168.99.2 }')}`,
    field: 'peers.static[1].podCIDRs[1]',
    message: /outside ipv6Network/,
  },
  {
    name: 'podCIDRs overlap across peers',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.1.128/25, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDR',
    message: /overlaps 10\.244\.1\.0\/24 of node-a \(peers\.static\[0\]\.podCIDR\)/,
  },
  {
    name: 'podCIDRs overlap within a peer',
    text: withPeers(A, '{ name: b, podCIDRs: [10.244.2.0/24, 10.244.2.0/24], publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDRs[1]',
    message: /overlaps/,
  },
  {
    name: 'podCIDR a number',
    text: withPeers(A, '{ name: b, podCIDR: 10, publicIP: 192.168.99.2 }'),
    field: 'peers.static[1].podCIDR',
  },
  {
    name: 'publicIP missing',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24 }'),
    field: 'peers.static[1].publicIP',
    message: /required/,
  },
  {
    name: 'publicIP duplicate',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.1 }'),
    field: 'peers.static[1].publicIP',
    message: /also the publicIP of node-a/,
  },
  {
    name: 'publicIP IPv6 among IPv4 peers',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, publicIP: "2001:db8::2" }'),
    field: 'peers.static[1].publicIP',
    message:
      /2001:db8::2 is IPv6 but this node's underlay is IPv4 .*; every peer needs an endpoint of a family this node has$/,
  },
  {
    name: 'publicIP multicast',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 239.1.1.1 }'),
    field: 'peers.static[1].publicIP',
    message: /unicast/,
  },
  {
    name: 'publicIP a CIDR',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2/24 }'),
    field: 'peers.static[1].publicIP',
  },
  {
    name: 'vtepMAC duplicate',
    text: withPeers(
      '{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, vtepMAC: "0a:00:00:00:01:01" }',
      '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, vtepMAC: "0A:00:00:00:01:01" }',
    ),
    field: 'peers.static[1].vtepMAC',
    message: /also the vtepMAC of node-a/,
  },
  {
    name: 'vtepMAC broadcast',
    text: withPeers(A, '{ name: b, podCIDR: 10.244.2.0/24, publicIP: 192.168.99.2, vtepMAC: "ff:ff:ff:ff:ff:ff" }'),
    field: 'peers.static[1].vtepMAC',
    message: /unicast/,
  },
  {
    name: 'no local entry',
    text: minimal().replace('nodeName: node-a', 'nodeName: node-x'),
    field: 'peers.static',
    message: /^peers\.static: no entry named "node-x" \(nodeName\)$/,
  },
  {
    name: 'static empty',
    text: `${HEAD}peers: { static: [] }\n`,
    field: 'peers.static',
    message: /no entry named "node-a"/,
  },
  { name: 'kubernetes a list', text: `${HEAD}peers: { kubernetes: [] }\n`, field: 'peers.kubernetes' },
  {
    name: 'annotationPrefix bad',
    text: `${HEAD}peers: { kubernetes: { annotationPrefix: "Flannel/x" } }\n`,
    field: 'peers.kubernetes.annotationPrefix',
  },
  {
    name: 'kubeconfig empty',
    text: `${HEAD}peers: { kubernetes: { kubeconfig: "" } }\n`,
    field: 'peers.kubernetes.kubeconfig',
  },
  // dataplane, security
  {
    name: 'engine unknown',
    text: minimal('dataplane: { engine: ebpf }\n'),
    field: 'dataplane.engine',
    message: /'native' or 'js', got "ebpf"/,
  },
  {
    name: 'workers zero',
    text: minimal('dataplane: { workers: 0 }\n'),
    field: 'dataplane.workers',
    message: /'auto' or an integer 1\.\.64/,
  },
  { name: 'workers 65', text: minimal('dataplane: { workers: 65 }\n'), field: 'dataplane.workers' },
  { name: 'workers quoted', text: minimal('dataplane: { workers: "4" }\n'), field: 'dataplane.workers' },
  {
    name: 'offload bad',
    text: minimal('dataplane: { offloads: { tso: maybe } }\n'),
    field: 'dataplane.offloads.tso',
    message: /'auto', 'on' or 'off'/,
  },
  { name: 'offloads a string', text: minimal('dataplane: { offloads: off }\n'), field: 'dataplane.offloads' },
  {
    name: 'security yes',
    text: minimal('security: { checkInnerSource: yes }\n'),
    field: 'security.checkInnerSource',
    message: /true or false/,
  },
  { name: 'security a bool', text: minimal('security: false\n'), field: 'security' },
  // admin
  { name: 'admin off shorthand', text: minimal('admin: off\n'), field: 'admin', message: /expected a mapping/ },
  { name: 'admin no port', text: minimal('admin: { listen: "127.0.0.1" }\n'), field: 'admin.listen' },
  {
    name: 'admin port 0',
    text: minimal('admin: { listen: "127.0.0.1:0" }\n'),
    field: 'admin.listen',
    message: /port 1\.\.65535/,
  },
  { name: 'admin port too big', text: minimal('admin: { listen: "127.0.0.1:65536" }\n'), field: 'admin.listen' },
  { name: 'admin unbracketed IPv6', text: minimal('admin: { listen: "::1:9465" }\n'), field: 'admin.listen' },
  { name: 'admin hostname', text: minimal('admin: { listen: "myhost:9465" }\n'), field: 'admin.listen' },
  { name: 'admin IPv4 in brackets', text: minimal('admin: { listen: "[127.0.0.1]:9465" }\n'), field: 'admin.listen' },
  { name: 'admin a number', text: minimal('admin: { listen: 9465 }\n'), field: 'admin.listen' },
  {
    name: 'admin socket relative',
    text: minimal('admin: { socket: run/vxtun.sock }\n'),
    field: 'admin.socket',
    message: /absolute path/,
  },
  { name: 'admin socket empty', text: minimal('admin: { socket: "" }\n'), field: 'admin.socket' },
  { name: 'admin socket a directory', text: minimal('admin: { socket: /run/vxtun/ }\n'), field: 'admin.socket' },
  { name: 'admin socket a number', text: minimal('admin: { socket: 1 }\n'), field: 'admin.socket' },
  { name: 'admin readyFile relative', text: minimal('admin: { readyFile: ready }\n'), field: 'admin.readyFile' },
  { name: 'admin readyFile a number', text: minimal('admin: { readyFile: 1 }\n'), field: 'admin.readyFile' },
  { name: 'handover unknown key', text: minimal('handover: { sockets: /a }\n'), field: 'handover.sockets' },
  { name: 'handover not a mapping', text: minimal('handover: on\n'), field: 'handover' },
  { name: 'handover socket relative', text: minimal('handover: { socket: h.sock }\n'), field: 'handover.socket' },
  {
    name: 'handover socket too long',
    text: minimal(`handover: { socket: /${'a'.repeat(107)} }\n`),
    field: 'handover.socket',
  },
  {
    name: 'handover whenReplaced other',
    text: minimal('handover: { whenReplaced: restart }\n'),
    field: 'handover.whenReplaced',
  },
  {
    name: 'admin socket too long',
    text: minimal(`admin: { socket: /${'a'.repeat(107)} }\n`),
    field: 'admin.socket',
    message: /at most 107 bytes, got 108/,
  },
  {
    name: 'admin unknown key',
    text: minimal('admin: { sock: /a }\n'),
    field: 'admin.sock',
    message: /did you mean 'socket'/,
  },
  {
    name: 'remoteChecksum not a boolean',
    text: minimal('dataplane: { remoteChecksum: yes }\n'),
    field: 'dataplane.remoteChecksum',
  },
  {
    name: 'static entry remoteChecksum not a boolean',
    text: withPeers(A, `${B}, remoteChecksum: 1 }`),
    field: 'peers.static[1].remoteChecksum',
  },
  {
    name: "remoteChecksum false while this node's entry says true",
    text:
      withPeers('{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1, remoteChecksum: true }', `${B} }`) +
      'dataplane: { remoteChecksum: false }\n',
    field: 'dataplane.remoteChecksum',
    message: /peers would send it datagrams it drops/,
  },
  {
    name: 'remoteChecksum with the js engine',
    text: minimal('dataplane: { engine: js, remoteChecksum: true }\n'),
    field: 'dataplane.remoteChecksum',
    message: /needs dataplane.engine native/,
  },
  // JSON
  {
    name: 'JSON port as string',
    text: '{"nodeName": "node-a", "network": "10.244.0.0/16", "port": "8472", "peers": {"kubernetes": {}}}',
    field: 'port',
    message: /got the string "8472"/,
  },
];

t.test('bad configs', async (t) => {
  t.ok(BAD.length >= 25, `${BAD.length} bad configs`);
  for (const bad of BAD) {
    const err = configError(bad.text);
    if (!(err instanceof ConfigError)) {
      t.fail(`${bad.name}: ${err}`);
      continue;
    }
    t.equal(err.field, bad.field, `${bad.name}: field (${err.message})`);
    t.ok(err.message.startsWith(`${bad.field}: `), `${bad.name}: message names the field`);
    t.notOk(err.message.includes('\n'), `${bad.name}: one line`);
    if (bad.message) t.match(err.message, bad.message, `${bad.name}: message`);
  }
});

t.test('parseListenAddress', async (t) => {
  t.same(parseListenAddress('0.0.0.0:1', '--admin'), { host: '0.0.0.0', port: 1 });
  t.same(parseListenAddress('[::]:65535', '--admin'), { host: '::', port: 65535 });
  t.same(parseListenAddress('[FD00::0001]:80', '--admin'), { host: 'fd00::1', port: 80 });
  t.equal(parseListenAddress('off', '--admin'), null);
  t.throws(() => parseListenAddress('127.0.0.1:09465', '--admin'), { name: 'ConfigError', field: '--admin' });
  t.throws(() => parseListenAddress('[::1]', '--admin'), { name: 'ConfigError', field: '--admin' });
  t.throws(() => parseListenAddress('[::1]:80:81', '--admin'), { name: 'ConfigError', field: '--admin' });
});

t.test('loadConfigFile', async (t) => {
  const dir = t.testdir({ 'vxtun.yaml': DESIGN_EXAMPLE, 'bad.yaml': minimal('port: 0\n') });
  const c = await loadConfigFile(join(dir, 'vxtun.yaml'), env);
  t.equal(c.nodeName, 'node-a');
  await t.rejects(loadConfigFile(join(dir, 'bad.yaml'), env), { name: 'ConfigError', field: 'port' });
  const missing = join(dir, 'missing.yaml');
  await t.rejects(loadConfigFile(missing, env), {
    name: 'ConfigError',
    field: 'config',
    message: `config: cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'`,
  });
  await t.rejects(loadConfigFile(dir, env), { name: 'ConfigError', field: 'config', message: /cannot read .*EISDIR/ });
});

t.test('mtu auto: the underlay MTU less the overhead, capped where a packet still fits one UDP datagram', async (t) => {
  t.equal(autoMtu(1500, 50), 1450);
  t.equal(autoMtu(9000, 50), 8950);
  t.equal(autoMtu(65535, 50), MAX_MTU, 'the largest veth MTU gives exactly the cap');
  t.equal(autoMtu(65536, 50), MAX_MTU, 'a loopback-sized underlay is capped (was 65486)');
});
