// etcd mode in the config (README "etcd mode"): the `peers.etcd` section (src/peers/etcd-section.ts), the keys the
// network config in etcd may settle (FileOverlaySettings: only what the file set), the subnet file's default, and
// how the settled values replace the file's for a run (src/config/overlay.ts).
import t from 'tap';
import { parseConfigText } from '../../src/config/index.js';
import { settledConfig } from '../../src/config/overlay.js';
import { UNSETTLED_NETWORK } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { Cidr } from '../../src/net/cidr.js';
import { DEFAULT_ETCD_ENDPOINTS, DEFAULT_ETCD_PREFIX } from '../../src/peers/etcd-section.js';

const env = { hostname: 'host-a' };
const parse = (text: string) => parseConfigText(text, 'c.yaml', env);

t.test('peers.etcd with defaults: no network needed, subnet.env written, nothing of the overlay set', async (t) => {
  const c = parse('peers: { etcd: }\n');
  if (c.peers.kind !== 'etcd') return t.fail('expected etcd');
  t.same(c.peers.etcd, { endpoints: DEFAULT_ETCD_ENDPOINTS, prefix: DEFAULT_ETCD_PREFIX });
  t.same(c.peers.file, {}, 'the file set none of network, ipv6Network, vni, port, mtu');
  t.equal(c.network, UNSETTLED_NETWORK, 'network waits for <prefix>/config');
  t.equal(c.subnetFile, '/run/flannel/subnet.env');
  t.equal(c.dataplane.directRouting, false);
});

t.test('peers.etcd in full, and what the file set is kept for the check against etcd', async (t) => {
  const c = parse(
    [
      'network: 10.244.0.0/16',
      'ipv6Network: fd10:244::/56',
      'vni: 7',
      'port: 4789',
      'mtu: 1400',
      'peers:',
      '  etcd:',
      '    endpoints: ["https://10.0.0.5:2379/", "https://[fd00::5]:2379"]',
      '    prefix: /example.com/net',
      '    tls: { ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem }',
      '    username: vxtun',
      '    password: s3cret',
      'dataplane: { directRouting: true }',
      '',
    ].join('\n'),
  );
  if (c.peers.kind !== 'etcd') return t.fail('expected etcd');
  t.same(c.peers.etcd, {
    endpoints: ['https://10.0.0.5:2379', 'https://[fd00::5]:2379'],
    prefix: '/example.com/net',
    tls: { ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem' },
    auth: { username: 'vxtun', password: 's3cret' },
  });
  t.equal(c.peers.file.network?.toString(), '10.244.0.0/16');
  t.equal(c.peers.file.ipv6Network?.toString(), 'fd10:244::/56');
  t.same([c.peers.file.vni, c.peers.file.port, c.peers.file.mtu], [7, 4789, 1400]);
  t.equal(c.dataplane.directRouting, true);
  const one = parse('peers: { etcd: { endpoints: "http://etcd.example:2379" } }\n');
  if (one.peers.kind !== 'etcd') return t.fail('expected etcd');
  t.same(one.peers.etcd.endpoints, ['http://etcd.example:2379'], 'one endpoint may be a string');
});

t.test('bad peers.etcd values name their field', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['peers: { etcd: { endpoints: [] } }', 'peers.etcd.endpoints', /list of 1\.\.16 URLs/],
    ['peers: { etcd: { endpoints: ["10.0.0.5:2379"] } }', 'peers.etcd.endpoints[0]', /URL like http/],
    ['peers: { etcd: { endpoints: ["http://x:99999"] } }', 'peers.etcd.endpoints[0]', /URL/],
    ['peers: { etcd: { endpoints: ["http://x:2379/v2/keys"] } }', 'peers.etcd.endpoints[0]', /URL/],
    ['peers: { etcd: { endpoints: ["unix:///run/etcd.sock"] } }', 'peers.etcd.endpoints[0]', /URL/],
    ['peers: { etcd: { prefix: coreos.com/network } }', 'peers.etcd.prefix', /key prefix/],
    ['peers: { etcd: { prefix: /coreos.com/network/ } }', 'peers.etcd.prefix', /no trailing/],
    ['peers: { etcd: { tls: { cert: /c.pem }, endpoints: ["https://x:1"] } }', 'peers.etcd.tls.key', /together/],
    ['peers: { etcd: { tls: { ca: /ca.pem } } }', 'peers.etcd.tls', /no endpoint is https/],
    ['peers: { etcd: { username: u } }', 'peers.etcd.password', /together/],
    ['peers: { etcd: { password: "" , username: u } }', 'peers.etcd.password', /a password/],
    ['peers: { etcd: { endpoint: ["http://x:1"] } }', 'peers.etcd.endpoint', /did you mean 'endpoints'/],
    ['network: 10.0.0.0/8\npeers: { etcd: {}, static: [] }', 'peers', /static and etcd/],
    ['peers: { static: [] }\nnetwork: 10.0.0.0/8\nnodeName: a\npeers2: 1', 'peers2', /unknown key/],
    ['peers: { kubernetes: }', 'network', /required/],
    ['peers: { etcd: }\ndataplane: { directRouting: yes }', 'dataplane.directRouting', /true or false/],
  ];
  for (const [text, field, message] of cases) {
    const err = t.throws(() => parse(`${text}\n`), text) as unknown;
    if (!(err instanceof ConfigError)) continue;
    t.equal(err.field, field, `${text}: field`);
    t.match(err.message, message, `${text}: message`);
  }
});

t.test('settledConfig: the source’s overlay replaces the file’s values; directRouting is or-ed', async (t) => {
  const c = parse('peers: { etcd: }\nvni: 3\nipv6Network: fd10:244::/56\n');
  t.equal(settledConfig(c, undefined), c, 'no overlay: the config as it is');
  const s = settledConfig(c, {
    network: Cidr.parse('10.5.0.0/16'),
    vni: 3,
    port: 8472,
    mtu: 1400,
    directRouting: true,
  });
  t.equal(s.network.toString(), '10.5.0.0/16');
  t.notOk('ipv6Network' in s, "etcd's config has no IPv6 network: none for the run");
  t.same([s.vni, s.port, s.mtu, s.dataplane.directRouting], [3, 8472, 1400, true]);
  t.equal(c.network, UNSETTLED_NETWORK, 'the loaded config is left as it was');
  const on = parse('peers: { etcd: }\ndataplane: { directRouting: true }\n');
  const v6 = Cidr.parse('fd10:244::/56');
  const s2 = settledConfig(on, {
    network: Cidr.parse('10.5.0.0/16'),
    ipv6Network: v6,
    vni: 1,
    port: 1,
    mtu: 'auto',
    directRouting: false,
  });
  t.equal(s2.dataplane.directRouting, true, 'the file turned it on: on');
  t.equal(s2.ipv6Network, v6);
});
