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
    value: { vni: 1, vtepMAC: 'aa:bb:cc:dd:ee:f0' },
  });
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
