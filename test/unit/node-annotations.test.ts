// Node → Peer | skip reason, and our own annotations / patch bodies (src/peers/node-annotations.ts), plus the
// conflict rules and the backoff schedule.
import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { backoffDelay } from '../../src/peers/backoff.js';
import { resolveConflicts } from '../../src/peers/conflicts.js';
import {
  annotationKeys,
  annotationsPatch,
  networkAvailablePatch,
  ownAnnotations,
  parseBackendData,
  localUnderlay,
  parseNode,
  storedVtepMAC,
  type NodeLike,
  type NodeParseContext,
} from '../../src/peers/node-annotations.js';
import type { Peer } from '../../src/peers/peer-source.js';

const keys = annotationKeys('flannel.alpha.coreos.com');
const ctx: NodeParseContext = {
  keys,
  vni: 1,
  network: Cidr.parse('10.244.0.0/16'),
  ipv6Network: Cidr.parse('fd10:244::/56'),
};
const ann = (o: Record<string, string> = {}) => ({
  [keys.backendType]: 'vxlan',
  [keys.backendData]: '{"VNI":1,"VtepMAC":"0A:00:00:00:02:01"}',
  [keys.publicIP]: '192.168.99.2',
  ...o,
});
const node = (
  o: {
    cidrs?: string[];
    podCIDR?: string;
    a?: Record<string, string>;
    ips?: { type: string; address: string }[];
    name?: string;
  } = {},
): NodeLike => ({
  metadata: { name: o.name ?? 'n2', annotations: o.a ?? ann() },
  spec: { ...(o.cidrs ? { podCIDRs: o.cidrs } : {}), ...(o.podCIDR ? { podCIDR: o.podCIDR } : {}) },
  status: { addresses: o.ips ?? [{ type: 'InternalIP', address: '192.168.99.20' }] },
});

t.test('annotation keys', async (t) => {
  t.same(annotationKeys('example.com'), {
    subnetManager: 'example.com/kube-subnet-manager',
    backendType: 'example.com/backend-type',
    backendData: 'example.com/backend-data',
    publicIP: 'example.com/public-ip',
    publicIPOverwrite: 'example.com/public-ip-overwrite',
    backendV6Data: 'example.com/backend-v6-data',
    publicIPv6: 'example.com/public-ipv6',
    publicIPv6Overwrite: 'example.com/public-ipv6-overwrite',
  });
});

t.test('a good node', async (t) => {
  const v = parseNode(node({ cidrs: ['10.244.2.0/24', 'fd10:244:0:2::/64'] }), ctx);
  t.ok(v.ok);
  if (!v.ok) return;
  t.same(
    [v.peer.name, v.peer.podCIDRs.map(String), v.peer.publicIP.text, v.peer.vtepMAC],
    ['n2', ['10.244.2.0/24', 'fd10:244:0:2::/64'], '192.168.99.2', '0a:00:00:00:02:01'],
  );
  const legacy = parseNode(node({ podCIDR: '10.244.2.0/24' }), ctx);
  t.same(legacy.ok && legacy.peer.podCIDRs.map(String), ['10.244.2.0/24'], 'spec.podCIDR when podCIDRs is absent');
  const v4only = parseNode(node({ cidrs: ['10.244.2.0/24', 'fd10:244:0:2::/64'] }), {
    keys,
    vni: 1,
    network: ctx.network,
  });
  t.same(v4only.ok && v4only.peer.podCIDRs.map(String), ['10.244.2.0/24'], 'IPv6 dropped without ipv6Network');
});

t.test('public IP: overwrite, then public-ip, then InternalIP', async (t) => {
  const ip = (n: NodeLike) => {
    const v = parseNode(n, ctx);
    return v.ok ? v.peer.publicIP.text : v.reason;
  };
  t.equal(ip(node({ cidrs: ['10.244.2.0/24'], a: ann({ [keys.publicIPOverwrite]: '203.0.113.9' }) })), '203.0.113.9');
  t.equal(ip(node({ cidrs: ['10.244.2.0/24'] })), '192.168.99.2');
  const noPub = ann();
  delete noPub[keys.publicIP];
  t.equal(ip(node({ cidrs: ['10.244.2.0/24'], a: noPub })), '192.168.99.20', 'InternalIP');
  t.equal(
    ip(
      node({
        cidrs: ['10.244.2.0/24'],
        a: noPub,
        ips: [
          { type: 'InternalIP', address: 'fd00::1' },
          { type: 'InternalIP', address: '10.0.0.9' },
        ],
      }),
    ),
    '10.0.0.9',
    'the first IPv4 InternalIP',
  );
  t.match(
    ip(node({ cidrs: ['10.244.2.0/24'], a: noPub, ips: [{ type: 'ExternalIP', address: '1.2.3.4' }] })),
    /no public-ip/,
  );
  t.match(ip(node({ cidrs: ['10.244.2.0/24'], a: ann({ [keys.publicIP]: '224.0.0.1' }) })), /not a unicast/);
});

t.test('skip kinds', async (t) => {
  const kind = (n: NodeLike, c = ctx) => {
    const v = parseNode(n, c);
    return v.ok ? 'ok' : `${v.kind}: ${v.reason}`;
  };
  t.match(kind(node()), /^pending: no podCIDR/);
  const noType = ann();
  delete noType[keys.backendType];
  t.match(kind(node({ cidrs: ['10.244.2.0/24'], a: noType })), /^pending: no backend-type/);
  const noData = ann();
  delete noData[keys.backendData];
  t.match(kind(node({ cidrs: ['10.244.2.0/24'], a: noData })), /^pending: no backend-data/);
  t.match(
    kind(node({ cidrs: ['10.244.2.0/24'], a: ann({ [keys.backendType]: 'host-gw' }) })),
    /^foreign: backend type "host-gw"/,
  );
  t.match(kind(node({ cidrs: ['10.244.2.0/24'] }), { ...ctx, vni: 7 }), /^foreign: VNI 1, ours is 7/);
  t.match(kind(node({ cidrs: ['10.244.2.0/24', '10.244.3.0/24', 'fd10:244:0:2::/64'] })), /^malformed: 3 podCIDRs/);
  t.match(kind(node({ cidrs: ['fd99::/64'] })), /^malformed: podCIDR fd99::\/64 is outside ipv6Network/);
  t.match(
    kind(node({ cidrs: ['fd10:244:0:2::/64'] }), { ...ctx, ipv6Network: undefined }),
    /^malformed: no IPv4 podCIDR/,
  );
  t.match(kind({ metadata: {}, spec: { podCIDR: '10.244.2.0/24' } }), /^malformed: no metadata.name/);
  t.match(kind({ metadata: { name: 'x' } }), /^pending/, 'no spec at all');
  t.match(
    kind({ metadata: { name: 'x', annotations: null }, spec: { podCIDR: '10.244.2.0/24' }, status: null }),
    /^pending/,
    'nulls',
  );
});

t.test('backend-data', async (t) => {
  t.same(parseBackendData('{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:f0"}'), {
    ok: true,
    value: { vni: 1, vtepMAC: 'aa:bb:cc:dd:ee:f0', remoteChecksum: false },
  });
  // vxtun's remote checksum offload key: only true turns it on; anything else is no offer, not a malformed Node.
  for (const [rc, on] of [
    ['true', true],
    ['false', false],
    ['"true"', false],
    ['1', false],
    ['null', false],
  ] as const) {
    const r = parseBackendData(`{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:f0","RemoteChecksum":${rc}}`);
    t.same(r.ok && r.value.remoteChecksum, on, `RemoteChecksum ${rc}: ${String(on)}`);
  }
  for (const bad of [
    '',
    'null',
    '"x"',
    '{}',
    '{"VNI":"1","VtepMAC":"aa:bb:cc:dd:ee:f0"}',
    '{"VNI":1.5,"VtepMAC":"aa:bb:cc:dd:ee:f0"}',
    '{"VNI":16777216,"VtepMAC":"aa:bb:cc:dd:ee:f0"}',
    '{"VNI":1}',
    '{"VNI":1,"VtepMAC":"aa-bb-cc-dd-ee-f0"}',
  ]) {
    const r = parseBackendData(bad);
    t.equal(r.ok, false, `${bad}: ${r.ok ? '' : r.reason}`);
  }
  t.equal(storedVtepMAC(node({ cidrs: ['10.244.2.0/24'] }), keys), '0a:00:00:00:02:01');
  t.equal(
    storedVtepMAC(node({ a: ann({ [keys.backendType]: 'wireguard' }) }), keys),
    undefined,
    'not from another backend',
  );
  t.equal(storedVtepMAC(node({ a: ann({ [keys.backendData]: '{' }) }), keys), undefined);
});

t.test("our annotations and patches, in flannel's exact format", async (t) => {
  const desired = ownAnnotations(keys, { vni: 1, vtepMAC: '0a:11:22:33:44:55', publicIP: '192.168.99.1' });
  t.same(desired, {
    'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
    'flannel.alpha.coreos.com/backend-type': 'vxlan',
    'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:11:22:33:44:55"}',
    'flannel.alpha.coreos.com/public-ip': '192.168.99.1',
  });
  t.same(annotationsPatch(undefined, desired), { metadata: { annotations: desired } });
  t.equal(
    ownAnnotations(keys, { vni: 1, vtepMAC: '0a:11:22:33:44:55', publicIP: '192.168.99.1', remoteChecksum: true })[
      'flannel.alpha.coreos.com/backend-data'
    ],
    '{"VNI":1,"VtepMAC":"0a:11:22:33:44:55","RemoteChecksum":true}',
    'remote checksum offload: one key after the MAC',
  );
  t.equal(annotationsPatch({ metadata: { annotations: { ...desired, other: 'x' } } }, desired), null, 'nothing to do');
  t.same(annotationsPatch({ metadata: { annotations: { ...desired, [keys.publicIP]: '1.1.1.1' } } }, desired), {
    metadata: { annotations: desired },
  });
  t.same(networkAvailablePatch(new Date('2025-01-02T03:04:05.678Z')), {
    status: {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'VxtunIsUp',
          message: 'vxtun is running on this node',
          lastTransitionTime: '2025-01-02T03:04:05Z',
          lastHeartbeatTime: '2025-01-02T03:04:05Z',
        },
      ],
    },
  });
});

t.test('conflicts: the later claimant is left out, a working peer is never evicted', async (t) => {
  const p = (name: string, cidr: string, ip: string): Peer => ({
    name,
    podCIDRs: [Cidr.parse(cidr)],
    publicIP: parseIP(ip)!,
    vtepMAC: '0a:00:00:00:00:01',
  });
  const a = p('a', '10.244.1.0/24', '10.0.0.1');
  const b = p('b', '10.244.2.0/24', '10.0.0.2');
  const b2 = p('a-dup-cidr', '10.244.2.0/24', '10.0.0.3');
  const c = p('c', '10.244.3.0/24', '10.0.0.2');
  const mine = p('m', '10.244.1.128/25', '10.0.0.9');
  const names = (r: ReturnType<typeof resolveConflicts>) => r.peers.map((x) => x.name).sort();
  let r = resolveConflicts([a, b, b2, c, mine], { self: 'a' });
  t.same(names(r), ['a', 'a-dup-cidr', 'c'], 'by name when nothing else decides');
  t.same(
    r.conflicts.map((x) => [x.peer, x.holder, x.what]),
    [
      ['b', 'a-dup-cidr', 'pod CIDR 10.244.2.0/24'],
      ['m', 'a', 'pod CIDR 10.244.1.128/25 (overlaps ours)'],
    ],
  );
  r = resolveConflicts([a, b, b2, c, mine], { self: 'a', programmed: (n) => n === 'b' });
  t.same(names(r), ['a', 'b'], 'b was programmed before: it keeps its CIDR and IP');
  r = resolveConflicts([a, b, b2, c], {
    self: 'a',
    created: new Map([
      ['b', 1],
      ['a-dup-cidr', 2],
      ['c', 3],
    ]),
  });
  t.same(names(r), ['a', 'b'], 'older first');
  r = resolveConflicts([b, mine], { self: 'a', selfCIDRs: [Cidr.parse('10.244.1.0/24')] });
  t.same(names(r), ['b'], 'our own CIDR, known before we are a peer');
});

// ---- dual-stack and IPv6-only nodes (flannel's public-ipv6 / backend-v6-data) ----

const V6DATA = '{"VNI":1,"VtepMAC":"0A:00:00:00:02:06"}';
/** A flannel dual-stack node's annotations (its two devices have their own MACs), with `o` on top. */
const dualAnn = (o: Record<string, string> = {}) =>
  ann({ [keys.backendV6Data]: V6DATA, [keys.publicIPv6]: 'fd99::2', ...o });
/** A flannel IPv6-only node's annotations: no backend-data, no public-ip. */
const v6OnlyAnn = (o: Record<string, string> = {}) => {
  const a = ann({ [keys.backendV6Data]: V6DATA, [keys.publicIPv6]: 'fd99::2', ...o });
  delete a[keys.backendData];
  delete a[keys.publicIP];
  return a;
};
const DUAL_IPS = [
  { type: 'InternalIP', address: '192.168.99.20' },
  { type: 'InternalIP', address: 'fd99::20' },
];
type Ends = [string, string, string | undefined, string | undefined, string | undefined] | string;
const ends = (n: NodeLike, c = ctx): Ends => {
  const v = parseNode(n, c);
  if (!v.ok) return `${v.kind}: ${v.reason}`;
  const p = v.peer;
  return [p.publicIP.text, p.vtepMAC, p.publicIPv6?.text, p.vtepMACv6, v.ignored];
};
const C = ['10.244.2.0/24', 'fd10:244:0:2::/64'];

t.test('a dual-stack node: both endpoints, each with its own MAC', async (t) => {
  t.same(ends(node({ cidrs: C, a: dualAnn(), ips: DUAL_IPS })), [
    '192.168.99.2',
    '0a:00:00:00:02:01',
    'fd99::2',
    '0a:00:00:00:02:06',
    undefined,
  ]);
  const v = parseNode(node({ cidrs: C, a: dualAnn() }), ctx);
  t.ok(v.ok && !('ignored' in v), 'no ignored key when both are fine');
  t.same(
    ends(node({ cidrs: C, a: dualAnn({ [keys.publicIPv6Overwrite]: '2001:db8::9' }) })),
    ['192.168.99.2', '0a:00:00:00:02:01', '2001:db8::9', '0a:00:00:00:02:06', undefined],
    'public-ipv6-overwrite first',
  );
  const noPub6 = dualAnn();
  delete noPub6[keys.publicIPv6];
  t.same(
    ends(node({ cidrs: C, a: noPub6, ips: DUAL_IPS })),
    ['192.168.99.2', '0a:00:00:00:02:01', 'fd99::20', '0a:00:00:00:02:06', undefined],
    'the IPv6 InternalIP when there is no public-ipv6',
  );
  t.same(
    ends(node({ cidrs: C, a: dualAnn({ [keys.publicIPv6]: 'FD99:0::0002' }) })),
    ['192.168.99.2', '0a:00:00:00:02:01', 'fd99::2', '0a:00:00:00:02:06', undefined],
    'canonical text',
  );
  // Read whatever ipv6Network says: an IPv6 underlay carries inner IPv4 too.
  t.same(
    ends(node({ cidrs: ['10.244.2.0/24'], a: dualAnn() }), { keys, vni: 1, network: ctx.network }),
    ['192.168.99.2', '0a:00:00:00:02:01', 'fd99::2', '0a:00:00:00:02:06', undefined],
    'without ipv6Network',
  );
});

t.test('an IPv6-only node: its v6 endpoint is its publicIP', async (t) => {
  const v6ips = [{ type: 'InternalIP', address: 'fd99::20' }];
  t.same(ends(node({ cidrs: C, a: v6OnlyAnn(), ips: v6ips })), [
    'fd99::2',
    '0a:00:00:00:02:06',
    undefined,
    undefined,
    undefined,
  ]);
  const noPub = v6OnlyAnn();
  delete noPub[keys.publicIPv6];
  t.same(ends(node({ cidrs: C, a: noPub, ips: v6ips })), [
    'fd99::20',
    '0a:00:00:00:02:06',
    undefined,
    undefined,
    undefined,
  ]);
  t.match(
    ends(node({ cidrs: C, a: noPub, ips: DUAL_IPS.slice(0, 1) })),
    /^malformed: no public-ipv6 annotation and no IPv6 InternalIP/,
  );
  t.same(
    ends(node({ cidrs: C, a: v6OnlyAnn({ [keys.publicIPv6Overwrite]: 'fd98::7' }) })),
    ['fd98::7', '0a:00:00:00:02:06', undefined, undefined, undefined],
    'public-ipv6-overwrite',
  );
  t.match(ends(node({ cidrs: C, a: v6OnlyAnn() }), { ...ctx, vni: 7 }), /^foreign: backend-v6-data VNI 1, ours is 7/);
  t.equal(storedVtepMAC(node({ a: v6OnlyAnn() }), keys), '0a:00:00:00:02:06', 'stored MAC from backend-v6-data');
  t.equal(storedVtepMAC(node({ a: dualAnn() }), keys), '0a:00:00:00:02:01', 'backend-data first');
});

t.test(
  'malformed IPv6 annotations: that endpoint ignored (said so), or the node skipped if nothing is left',
  async (t) => {
    const big = `fd99::${'9'.repeat(5000)}`;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['backend-v6-data not JSON', { [keys.backendV6Data]: '{' }, /^backend-v6-data is not JSON/],
      [
        'backend-v6-data VtepMAC',
        { [keys.backendV6Data]: '{"VNI":1,"VtepMAC":"nope"}' },
        /backend-v6-data VtepMAC "nope" is not a MAC/,
      ],
      [
        'backend-v6-data multicast MAC',
        { [keys.backendV6Data]: '{"VNI":1,"VtepMAC":"01:00:5e:00:00:01"}' },
        /multicast/,
      ],
      [
        'backend-v6-data other VNI',
        { [keys.backendV6Data]: '{"VNI":2,"VtepMAC":"0a:00:00:00:02:06"}' },
        /backend-v6-data VNI 2, ours is 1/,
      ],
      [
        'public-ipv6 IPv4',
        { [keys.publicIPv6]: '192.168.99.9' },
        /^public-ipv6 192\.168\.99\.9 is IPv4, not an IPv6 address/,
      ],
      ['public-ipv6 garbage', { [keys.publicIPv6]: big }, /^public-ipv6 "fd99::9+…\(\d+ more\)$/],
      ['public-ipv6 multicast', { [keys.publicIPv6]: 'ff02::1' }, /not a unicast address/],
      [
        'public-ipv6-overwrite IPv4',
        { [keys.publicIPv6Overwrite]: '10.1.1.1' },
        /^public-ipv6-overwrite 10\.1\.1\.1 is IPv4, not an IPv6/,
      ],
    ];
    for (const [what, o, reason] of cases) {
      const v = parseNode(node({ cidrs: C, a: dualAnn(o) }), ctx);
      t.ok(v.ok, `${what}: the node stays a peer`);
      if (!v.ok) continue;
      t.same(
        [v.peer.publicIP.text, v.peer.publicIPv6, v.peer.vtepMACv6],
        ['192.168.99.2', undefined, undefined],
        `${what}: IPv4 only`,
      );
      t.match(v.ignored, reason, `${what}: ignored, with the reason`);
      t.ok((v.ignored ?? '').length <= 200, `${what}: the reason is clipped`);
      const only6 = parseNode(node({ cidrs: C, a: v6OnlyAnn(o) }), ctx);
      t.notOk(only6.ok, `${what}: an IPv6-only node with it is skipped`);
      if (!only6.ok) t.match(only6.reason, reason);
    }
    // The other way round: a malformed IPv4 endpoint next to a good IPv6 one leaves an IPv6 peer.
    t.same(ends(node({ cidrs: C, a: dualAnn({ [keys.publicIP]: 'fd99::5' }) })), [
      'fd99::2',
      '0a:00:00:00:02:06',
      undefined,
      undefined,
      'public-ip fd99::5 is IPv6, not an IPv4 address',
    ]);
    t.match(
      ends(node({ cidrs: C, a: ann({ [keys.publicIP]: 'fd99::5' }) })),
      /^malformed: public-ip fd99::5 is IPv6, not an IPv4/,
    );
  },
);

t.test('localUnderlay: where this node is, per family (flannel EnableIPv6 rule)', async (t) => {
  const at = (
    ips: { type: string; address: string }[],
    a: Record<string, string> = ann(),
    six: Cidr | null = ctx.ipv6Network ?? null,
  ) => {
    const r = localUnderlay(node({ a, ips }), keys, six ?? undefined);
    return [r.address?.ip.text, r.address6?.ip.text];
  };
  t.same(at(DUAL_IPS), ['192.168.99.20', 'fd99::20'], 'IPv4 + IPv6 InternalIPs with ipv6Network: dual-stack');
  t.same(at(DUAL_IPS, ann(), null), ['192.168.99.20', undefined], 'without ipv6Network: IPv4 only');
  t.same(at(DUAL_IPS.slice(0, 1)), ['192.168.99.20', undefined], 'no IPv6 address');
  t.same(at([{ type: 'InternalIP', address: 'fd99::20' }]), ['fd99::20', undefined], 'IPv6 only: single-family');
  t.same(
    at([{ type: 'InternalIP', address: 'fd99::20' }], ann(), null),
    ['fd99::20', undefined],
    'IPv6 only, with or without ipv6Network',
  );
  t.same(
    at(DUAL_IPS.slice(0, 1), ann({ [keys.publicIPv6Overwrite]: '2001:db8::9' }), null),
    ['192.168.99.20', '2001:db8::9'],
    'public-ipv6-overwrite makes it dual-stack',
  );
  t.same(
    at(DUAL_IPS, ann({ [keys.publicIPv6Overwrite]: '2001:db8::9' }), null),
    ['192.168.99.20', 'fd99::20'],
    'the InternalIP is the better bind hint (the overwrite is a NAT address)',
  );
  t.same(at([]), [undefined, undefined], 'nothing known');
  t.same(
    at([{ type: 'ExternalIP', address: '1.2.3.4' }], ann({ [keys.publicIPOverwrite]: '203.0.113.9' })),
    ['203.0.113.9', undefined],
    'the overwrite when there is no InternalIP',
  );
});

t.test("dual-stack and IPv6-only annotations we write, as flannel's", async (t) => {
  const mac = '0a:11:22:33:44:55';
  const data = '{"VNI":1,"VtepMAC":"0a:11:22:33:44:55"}';
  const base = {
    'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
    'flannel.alpha.coreos.com/backend-type': 'vxlan',
  };
  t.same(ownAnnotations(keys, { vni: 1, vtepMAC: mac, publicIP: '192.168.99.1', publicIPv6: 'fd99::1' }), {
    ...base,
    'flannel.alpha.coreos.com/backend-data': data,
    'flannel.alpha.coreos.com/public-ip': '192.168.99.1',
    'flannel.alpha.coreos.com/backend-v6-data': data,
    'flannel.alpha.coreos.com/public-ipv6': 'fd99::1',
  });
  t.same(ownAnnotations(keys, { vni: 1, vtepMAC: mac, publicIPv6: 'fd99::1' }), {
    ...base,
    'flannel.alpha.coreos.com/backend-v6-data': data,
    'flannel.alpha.coreos.com/public-ipv6': 'fd99::1',
  });
});

t.test('conflicts: every endpoint address is a contested public IP', async (t) => {
  const mk = (name: string, cidr: string, ip: string, ip6?: string, mac6?: string): Peer => ({
    name,
    podCIDRs: [Cidr.parse(cidr)],
    publicIP: parseIP(ip)!,
    vtepMAC: `0a:00:00:00:0${name.length}:01`,
    ...(ip6 ? { publicIPv6: parseIP(ip6)!, vtepMACv6: mac6 ?? '0a:00:00:00:09:06' } : {}),
  });
  const a = mk('a', '10.244.1.0/24', '10.0.0.1', 'fd99::1');
  const b = mk('bb', '10.244.2.0/24', '10.0.0.2', 'fd99::2');
  const claimV6 = mk('ccc', '10.244.3.0/24', '10.0.0.3', 'fd99::2');
  const v6Only = mk('dddd', '10.244.4.0/24', 'fd99::2');
  let r = resolveConflicts([a, b, claimV6, v6Only], { self: 'a', created: new Map([['bb', 1]]) });
  t.same(r.peers.map((p) => p.name).sort(), ['a', 'bb'], 'a v6 endpoint claimed twice: the older keeps it');
  t.same(
    r.conflicts.map((c) => [c.peer, c.holder, c.what]),
    [
      ['ccc', 'bb', 'public IP fd99::2'],
      ['dddd', 'bb', 'public IP fd99::2'],
    ],
  );
  r = resolveConflicts([a, b, v6Only], { self: 'a', programmed: (n) => n === 'dddd' });
  t.same(
    r.conflicts.map((c) => [c.peer, c.holder]),
    [['bb', 'dddd']],
    'the programmed IPv6-only peer keeps fd99::2',
  );
  r = resolveConflicts([a, mk('e', '10.244.5.0/24', '10.0.0.5', 'fe80::5')], { self: 'a' });
  t.same(
    r.conflicts.map((c) => c.what),
    ['public IP fe80::5 is link-local'],
    'an unusable publicIPv6',
  );
  r = resolveConflicts([a, mk('e', '10.244.5.0/24', '10.0.0.5', 'fd99::5', '0a:00:00:00:00:aa')], {
    self: 'a',
    selfMAC: '0A:00:00:00:00:AA',
  });
  t.same(
    r.conflicts.map((c) => c.what),
    ['VTEP MAC 0a:00:00:00:00:aa is ours'],
    'our MAC as a vtepMACv6',
  );
  r = resolveConflicts([a, b, claimV6], { self: 'a', created: new Map([['ccc', 1]]) });
  t.same(
    r.conflicts.map((c) => [c.peer, c.holder]),
    [['bb', 'ccc']],
    'not order-dependent: the older wins',
  );
});

t.test('backoff: doubling, capped, jittered', async (t) => {
  const p = { initialMs: 500, maxMs: 30_000, jitter: 0 };
  t.same(
    [0, 1, 2, 3, 6, 7, 50].map((n) => backoffDelay(n, p)),
    [500, 1000, 2000, 4000, 30_000, 30_000, 30_000],
  );
  const j = { ...p, jitter: 0.2 };
  t.equal(
    backoffDelay(0, j, () => 0),
    400,
  );
  t.equal(
    backoffDelay(0, j, () => 1),
    600,
  );
  t.equal(
    backoffDelay(10, j, () => 1),
    30_000,
    'capped after jitter',
  );
});
