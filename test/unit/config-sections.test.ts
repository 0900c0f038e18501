// What the config sections derive from elsewhere: the offload keys from src/dataplane/offloads.ts, the peer
// sections from the peers folder (src/peers/static-config.ts, src/peers/kube-section.ts).
import t from 'tap';
import { parseConfigText } from '../../src/config/index.js';
import { OFFLOAD_MODES, OFFLOADS } from '../../src/dataplane/offloads.js';
import { ConfigError } from '../../src/errors.js';
import { kubernetesOf } from '../../src/peers/kube-section.js';
import { staticPeersOf } from '../../src/peers/static-config.js';
import { Cidr } from '../../src/net/cidr.js';

const env = { hostname: 'node-a' };
const HEAD =
  'network: 10.244.0.0/16\npeers: { static: [{ name: node-a, podCIDR: 10.244.1.0/24, publicIP: 192.168.99.1 }] }\n';

t.test('dataplane.offloads has one key per OFFLOADS entry, each defaulting to auto', async (t) => {
  const c = parseConfigText(HEAD, 'x', env);
  t.same(Object.keys(c.dataplane.offloads), [...OFFLOADS]);
  t.ok(Object.values(c.dataplane.offloads).every((m) => m === 'auto'));
  for (const o of OFFLOADS) {
    for (const mode of OFFLOAD_MODES) {
      const got = parseConfigText(`${HEAD}dataplane: { offloads: { ${o}: ${mode} } }\n`, 'x', env).dataplane.offloads;
      t.equal(got[o], mode, `${o}: ${mode}`);
    }
  }
  const list = OFFLOAD_MODES.map((m) => `'${m}'`);
  t.throws(() => parseConfigText(`${HEAD}dataplane: { offloads: { ${OFFLOADS[0]}: 2 } }\n`, 'x', env), {
    message: `dataplane.offloads.${OFFLOADS[0]}: expected ${list.slice(0, -1).join(', ')} or ${list.at(-1)}, got 2`,
  });
  t.throws(() => parseConfigText(`${HEAD}dataplane: { offloads: { udpgso: on } }\n`, 'x', env), {
    message: "dataplane.offloads.udpgso: unknown key; did you mean 'udpGso'?",
  });
});

t.test('the peer sections parse on their own (parsed values: Maps, as the loader gives them)', async (t) => {
  const nets = { network: Cidr.parse('10.244.0.0/16'), ipv6Network: undefined };
  const entry = new Map<string, unknown>([
    ['name', 'a'],
    ['podCIDR', '10.244.1.0/24'],
    ['publicIP', '10.0.0.1'],
  ]);
  const [peer] = staticPeersOf([entry], 'a', nets);
  t.equal(peer?.name, 'a');
  t.equal(peer?.publicIP.text, '10.0.0.1');
  t.same(peer?.podCIDRs.map(String), ['10.244.1.0/24']);
  t.throws(() => staticPeersOf([entry], 'b', nets), new ConfigError('peers.static', 'no entry named "b" (nodeName)'));
  t.same(kubernetesOf(null), { annotationPrefix: 'flannel.alpha.coreos.com' });
  t.same(kubernetesOf(new Map([['annotationPrefix', 'example.com']])), { annotationPrefix: 'example.com' });
  t.throws(() => kubernetesOf(new Map([['annotationprefix', 'x']])), {
    name: 'ConfigError',
    field: 'peers.kubernetes.annotationprefix',
    message: /did you mean 'annotationPrefix'/,
  });
});
