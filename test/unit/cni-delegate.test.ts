// The flannel CNI plugin's delegate config, rendered from subnet.env: table tests against the outputs the plugin
// documents (its own test suite's expected files, and the kube-flannel rendering the plugin's
// rules give, README "Tests"), plus the inputs it refuses and the ones our parser refuses.
import t from 'tap';
import {
  canonicalJson,
  KUBE_FLANNEL_NETCONF,
  parseSubnetEnv,
  renderDelegate,
  type FlannelNetConf,
} from '../../src/lab/cni-delegate.js';
import { ConfigError } from '../../src/errors.js';
import { Cidr } from '../../src/net/cidr.js';
import { formatSubnetEnv } from '../../src/device/subnet-file.js';

const V4 = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const V6 = 'FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const DUAL =
  'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const PLAIN: FlannelNetConf = { name: 'cni-flannel' };

/** The error `f` throws (undefined if it returns). */
function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

interface Case {
  name: string;
  env: string;
  conf: FlannelNetConf;
  /** The delegate, as the plugin serialises it (sorted keys). */
  want: string;
}

const cases: Case[] = [
  {
    name: 'kube-flannel on a vxtun node that does not masquerade (as the plugin renders it, byte for byte)',
    env: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    conf: KUBE_FLANNEL_NETCONF,
    want:
      '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],' +
      '"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,' +
      '"name":"cbr0","type":"bridge"}',
  },
  {
    name: 'kube-flannel, node masquerades (FLANNEL_IPMASQ=true): the bridge does not',
    env: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    conf: KUBE_FLANNEL_NETCONF,
    want:
      '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],' +
      '"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,' +
      '"name":"cbr0","type":"bridge"}',
  },
  {
    name: 'the plugin suite: IPv4 only',
    env: V4,
    conf: PLAIN,
    want:
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},' +
      '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
  },
  {
    name: 'the plugin suite: IPv6 only',
    env: V6,
    conf: PLAIN,
    want:
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"fc00::/64"}]],"routes":[{"dst":"fc00::/48"}],"type":"host-local"},' +
      '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
  },
  {
    name: 'the plugin suite: dual-stack, IPv4 range and route first',
    env: DUAL,
    conf: PLAIN,
    want:
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}],[{"subnet":"fc00::/64"}]],' +
      '"routes":[{"dst":"10.1.0.0/16"},{"dst":"fc00::/48"}],"type":"host-local"},' +
      '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
  },
  {
    name: 'the plugin suite: two IPv4 networks, a route to each (repeats dropped)',
    env: 'FLANNEL_NETWORK=10.1.0.0/16,192.168.0.0/16,10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n',
    conf: PLAIN,
    want:
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"},{"dst":"192.168.0.0/16"}],' +
      '"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
  },
  {
    name: 'the plugin suite: its ipam is completed (type kept, own routes first, unknown keys kept, ranges replaced)',
    env: V4,
    conf: {
      name: 'cni-flannel',
      ipam: {
        type: 'my-ipam',
        'unknown-param': 'unknown-value',
        routes: [{ dst: '10.96.0.0/12' }, { dst: '192.168.244.0/24', gw: '10.1.17.20' }],
        ranges: [[{ subnet: '10.9.9.0/24' }]],
      },
    },
    want:
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.96.0.0/12"},' +
      '{"dst":"192.168.244.0/24","gw":"10.1.17.20"},{"dst":"10.1.0.0/16"}],"type":"my-ipam","unknown-param":"unknown-value"},' +
      '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
  },
  {
    name: 'delegate overrides: ipMasq, mtu and isGateway as given (FLANNEL_IPMASQ=false would say ipMasq true)',
    env: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    conf: { name: 'cbr0', delegate: { ipMasq: false, mtu: 1400, isGateway: false, bridge: 'br9' } },
    want:
      '{"bridge":"br9","ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.3.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],' +
      '"type":"host-local"},"isGateway":false,"mtu":1400,"name":"cbr0","type":"bridge"}',
  },
  {
    name: "another delegate type gets no isGateway; the plugin config's cniVersion wins; runtimeConfig passed on",
    env: V4,
    conf: {
      name: 'n',
      cniVersion: '1.0.0',
      delegate: { type: 'ipvlan', cniVersion: '0.3.0' },
      runtimeConfig: { a: 1 },
    },
    want:
      '{"cniVersion":"1.0.0","ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],' +
      '"type":"host-local"},"mtu":1472,"name":"n","runtimeConfig":{"a":1},"type":"ipvlan"}',
  },
  {
    name: "the lab's node: vxtun's own formatSubnetEnv, dual-stack, host-local state in the lab directory",
    env: formatSubnetEnv({
      network: Cidr.parse('10.244.0.0/16'),
      ipv6Network: Cidr.parse('fd10:244::/56'),
      podCIDRs: [Cidr.parse('10.244.2.0/24'), Cidr.parse('fd10:244:0:2::/64')],
      mtu: 1450,
      ipMasq: true,
    }),
    conf: { ...KUBE_FLANNEL_NETCONF, ipam: { dataDir: '/tmp/lab/node-2/networks' } },
    want:
      '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":"/tmp/lab/node-2/networks",' +
      '"ranges":[[{"subnet":"10.244.2.0/24"}],[{"subnet":"fd10:244:0:2::/64"}]],' +
      '"routes":[{"dst":"10.244.0.0/16"},{"dst":"fd10:244::/56"}],"type":"host-local"},"isDefaultGateway":true,' +
      '"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}',
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = renderDelegate(parseSubnetEnv(c.env), c.conf);
    t.equal(canonicalJson(d), c.want);
    t.equal(JSON.stringify(d), c.want, "the rendered object already has its keys in the plugin's order");
  });
}

t.test('parse: values as the plugin reads them', async (t) => {
  const e = parseSubnetEnv(`\n${DUAL.replace(/\n/g, '\r\n')}FLANNEL_UNKNOWN=whatever\n\n`);
  t.same(e.networks.map(String), ['10.1.0.0/16']);
  t.equal(e.subnet?.toString(), '10.1.17.0/24', 'the subnet is a network, not the first address');
  t.same(e.ipv6Networks.map(String), ['fc00::/48']);
  t.equal(e.ipv6Subnet?.toString(), 'fc00::/64');
  t.equal(e.mtu, 1472);
  t.equal(e.ipMasq, true);
  t.equal(parseSubnetEnv(V4.replace('IPMASQ=true', 'IPMASQ=false')).ipMasq, false);
  t.notOk(parseSubnetEnv(V4).ipv6Subnet);
});

const bad: [string, string, string, RegExp][] = [
  ['empty file', '', 'FLANNEL_NETWORK', /need FLANNEL_NETWORK \+ FLANNEL_SUBNET or/],
  [
    'no network',
    'FLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n',
    'FLANNEL_NETWORK',
    /missing \(FLANNEL_SUBNET is set\)/,
  ],
  ['no subnet', 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n', 'FLANNEL_SUBNET', /missing/],
  ['v6 network without subnet', `${V4}FLANNEL_IPV6_NETWORK=fc00::/48\n`, 'FLANNEL_IPV6_SUBNET', /missing/],
  ['no mtu', V4.replace('FLANNEL_MTU=1472\n', ''), 'FLANNEL_MTU', /missing/],
  ['no ipmasq', V4.replace('FLANNEL_IPMASQ=true\n', ''), 'FLANNEL_IPMASQ', /missing/],
  ['bad network', V4.replace('10.1.0.0/16', '10.1.0.0/33'), 'FLANNEL_NETWORK', /CIDR/],
  ['v6 in the v4 key', V4.replace('10.1.0.0/16', 'fc00::/48'), 'FLANNEL_NETWORK', /IPv4/],
  [
    'v4 in the v6 key',
    V6.replace('FLANNEL_IPV6_SUBNET=fc00::1/64', 'FLANNEL_IPV6_SUBNET=10.1.17.1/24'),
    'FLANNEL_IPV6_SUBNET',
    /IPv6/,
  ],
  ['empty list item', V4.replace('10.1.0.0/16', '10.1.0.0/16,'), 'FLANNEL_NETWORK', /CIDR/],
  [
    'subnet outside the network',
    V4.replace('10.1.17.1/24', '10.2.17.1/24'),
    'FLANNEL_SUBNET',
    /not inside FLANNEL_NETWORK/,
  ],
  ['subnet wider than the network', V4.replace('10.1.17.1/24', '10.1.0.1/8'), 'FLANNEL_SUBNET', /not inside/],
  ['mtu not a number', V4.replace('1472', '1472b'), 'FLANNEL_MTU', /68…65535/],
  ['mtu too big', V4.replace('1472', '65536'), 'FLANNEL_MTU', /68…65535/],
  ['mtu too small', V4.replace('1472', '67'), 'FLANNEL_MTU', /68…65535/],
  ['ipmasq not a boolean', V4.replace('IPMASQ=true', 'IPMASQ=yes'), 'FLANNEL_IPMASQ', /true or false/],
  ['ipmasq twice', `${V4}FLANNEL_IPMASQ=false\n`, 'FLANNEL_IPMASQ', /more than once/],
  ['not KEY=VALUE', `${V4}garbage\n`, 'subnet.env line 5', /KEY=VALUE/],
];

for (const [name, text, field, msg] of bad) {
  t.test(`parse rejects: ${name}`, async (t) => {
    const err = caught(() => parseSubnetEnv(text));
    t.ok(err instanceof ConfigError, 'a ConfigError');
    t.equal((err as ConfigError).field, field);
    t.match((err as Error).message, msg);
  });
}

t.test('render rejects what the plugin rejects', async (t) => {
  const env = parseSubnetEnv(V4);
  const rejects: [FlannelNetConf, string, RegExp][] = [
    [{ name: 'n', delegate: { name: 'x' } }, 'delegate.name', /must not have 'name'/],
    [{ name: 'n', delegate: { ipam: {} } }, 'delegate.ipam', /must not have 'ipam'/],
    [{ name: 'n', delegate: { type: 7 } }, 'delegate.type', /\(string\) 'type'/],
    [{ name: '' }, 'name', /network name/],
    [{ name: 'n', ipam: { routes: [{ gw: '10.1.17.1' }] } }, 'ipam.routes', /dst/],
    [{ name: 'n', ipam: { routes: 'x' } }, 'ipam.routes', /dst/],
  ];
  for (const [conf, field, msg] of rejects) {
    const err = caught(() => renderDelegate(env, conf));
    t.ok(err instanceof ConfigError, `${field}: a ConfigError`);
    t.equal((err as ConfigError).field, field);
    t.match((err as Error).message, msg);
  }
  // The inputs are not modified.
  const conf: FlannelNetConf = {
    name: 'n',
    delegate: { hairpinMode: true },
    ipam: { routes: [{ dst: '10.96.0.0/12' }] },
  };
  const before = JSON.stringify(conf);
  renderDelegate(env, conf);
  renderDelegate(env, conf);
  t.equal(JSON.stringify(conf), before, 'conf untouched; rendering twice gives no duplicate routes');
});
