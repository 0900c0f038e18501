// flannel's subnet leases (src/peers/etcd-lease.ts): key ↔ subnets, the value byte for byte as flanneld writes it,
// and which leases can be peers (each refusal with its reason).
import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { leasePeer, leaseValue, parseSubnetKeyName, subnetKeyName } from '../../src/peers/etcd-lease.js';
import { parseNetworkConfig } from '../../src/peers/etcd-network.js';

const net = parseNetworkConfig(
  JSON.stringify({
    Network: '10.244.0.0/16',
    EnableIPv6: true,
    IPv6Network: 'fd00:10:244::/56',
    Backend: { Type: 'vxlan' },
  }),
  '/k/config',
);
const ctx4 = { v4: net.subnets.v4, vni: 1 };
const ctx6 = { ...ctx4, v6: net.subnets.v6! };
const MAC = 'c6:d2:32:6f:8f:44';

t.test('keys', async (t) => {
  const s = parseSubnetKeyName('10.244.1.0-24&fd00:10:244:1::-64')!;
  t.equal(s.v4.toString(), '10.244.1.0/24');
  t.equal(s.v6?.toString(), 'fd00:10:244:1::/64');
  t.equal(subnetKeyName(s), '10.244.1.0-24&fd00:10:244:1::-64');
  t.equal(subnetKeyName({ v4: Cidr.parse('10.5.52.0/24') }), '10.5.52.0-24');
  for (const bad of [
    '10.244.1.0',
    '10.244.1.1-24',
    '10.244.1.0-33',
    '10.244.1.0-024',
    'x-24',
    '10.244.1.0-24&10.1.0.0-24',
    'a&b&c',
  ]) {
    t.equal(parseSubnetKeyName(bad), undefined, bad);
  }
});

t.test('the value exactly as flanneld writes it', async (t) => {
  const ip = parseIP('192.168.64.3')!;
  t.equal(
    leaseValue({ publicIP: ip, vni: 1, vtepMAC: MAC, v6: false }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
  );
  t.equal(
    leaseValue({ publicIP: ip, publicIPv6: parseIP('fd00::3')!, vni: 1, vtepMAC: MAC, v6: true }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":"fd00::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
  );
  t.equal(
    leaseValue({ publicIP: ip, vni: 1, vtepMAC: MAC, remoteChecksum: true, v6: false }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44","RemoteChecksum":true}}',
    'remote checksum offload: one key after the MAC',
  );
});

t.test('a lease that accepts remote checksum offload', async (t) => {
  const ip = parseIP('192.168.64.3')!;
  const on = leasePeer(
    '10.244.1.0-24',
    leaseValue({ publicIP: ip, vni: 1, vtepMAC: MAC, remoteChecksum: true, v6: false }),
    ctx4,
  );
  t.ok(on.ok && on.peer.remoteChecksum === true, 'RemoteChecksum true: the peer accepts it');
  const off = leasePeer('10.244.1.0-24', leaseValue({ publicIP: ip, vni: 1, vtepMAC: MAC, v6: false }), ctx4);
  t.ok(off.ok && !('remoteChecksum' in off.peer), "flannel's lease: it does not");
  const odd = leasePeer(
    '10.244.1.0-24',
    '{"PublicIP":"192.168.64.3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44","RemoteChecksum":"yes"}}',
    ctx4,
  );
  t.ok(odd.ok && !('remoteChecksum' in odd.peer), 'anything but true: no offer, the lease is still a peer');
});

t.test('leases as peers', async (t) => {
  const v = (o: object) => JSON.stringify(o);
  const good = leasePeer(
    '10.244.1.0-24',
    v({
      PublicIP: '192.168.64.3',
      PublicIPv6: null,
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: 'C6:D2:32:6F:8F:44' },
    }),
    ctx4,
  );
  t.ok(good.ok);
  if (good.ok) {
    t.equal(good.peer.name, '10.244.1.0-24');
    t.same(good.peer.podCIDRs.map(String), ['10.244.1.0/24']);
    t.equal(good.peer.publicIP.text, '192.168.64.3');
    t.equal(good.peer.vtepMAC, MAC, 'lowercase');
  }
  const lower = leasePeer(
    '10.244.2.0-24',
    '{"publicip":"10.0.0.2","backendtype":"vxlan","backenddata":{"vni":1,"vtepmac":"0a:00:00:00:00:02"}}',
    ctx4,
  );
  t.ok(lower.ok, 'keys in any case');
  const dual = leasePeer(
    '10.244.3.0-24&fd00:10:244:3::-64',
    v({
      PublicIP: '10.0.0.3',
      PublicIPv6: 'fd00::3',
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: MAC },
      BackendV6Data: { VNI: 1, VtepMAC: '0a:00:00:00:00:06' },
    }),
    ctx6,
  );
  t.ok(
    dual.ok &&
      dual.peer.publicIPv6?.text === 'fd00::3' &&
      dual.peer.vtepMACv6 === '0a:00:00:00:00:06' &&
      dual.peer.podCIDRs.length === 2,
  );
  const v4only = leasePeer(
    '10.244.4.0-24&fd00:10:244:4::-64',
    v({ PublicIP: '10.0.0.4', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: MAC } }),
    ctx6,
  );
  t.ok(
    v4only.ok && v4only.peer.podCIDRs.length === 2 && v4only.peer.publicIPv6 === undefined,
    'an IPv4-underlay dual-stack node: one endpoint',
  );
  const base = { PublicIP: '10.0.0.9', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: MAC } };
  const refused: [string, string, string, RegExp][] = [
    ['10.244.1.1-24', v(base), 'malformed', /not a subnet/],
    ['10.245.1.0-24', v(base), 'malformed', /not a \/24 of Network 10.244.0.0\/16/],
    ['10.244.1.0-25', v(base), 'malformed', /not a \/24/],
    ['10.244.1.0-24', 'nope', 'malformed', /not JSON/],
    ['10.244.1.0-24', '[1]', 'malformed', /not a JSON object/],
    ['10.244.1.0-24', v({ ...base, PublicIP: 'fd00::1' }), 'malformed', /PublicIP/],
    ['10.244.1.0-24', v({ ...base, PublicIPv6: 'x' }), 'malformed', /PublicIPv6/],
    ['10.244.1.0-24', v({ ...base, BackendType: 'udp' }), 'foreign', /BackendType "udp"/],
    ['10.244.1.0-24', v({ ...base, BackendData: { VNI: 2, VtepMAC: MAC } }), 'foreign', /VNI 2, ours is 1/],
    [
      '10.244.1.0-24',
      v({ ...base, BackendData: { VNI: 1, VtepMAC: '01:00:00:00:00:01' } }),
      'malformed',
      /unicast MAC/,
    ],
    ['10.244.1.0-24', v({ ...base, BackendData: { VNI: 1 } }), 'malformed', /VtepMAC/],
    ['10.244.1.0-24', v({ ...base, BackendData: { VNI: 1.5, VtepMAC: MAC } }), 'malformed', /VNI/],
    ['10.244.1.0-24&fd00:10:245:1::-64', v(base), 'malformed', /IPv6Network/],
    [
      '10.244.1.0-24&fd00:10:244:1::-64',
      v({ ...base, PublicIPv6: 'fd00::9' }),
      'malformed',
      /BackendV6Data is missing/,
    ],
    ['10.244.1.0-24', 'x'.repeat(5000), 'malformed', /not JSON: "x+\.\.\.$/],
  ];
  for (const [name, value, kind, why] of refused) {
    const r = leasePeer(name, value, name.includes('&') ? ctx6 : ctx4);
    t.ok(
      !r.ok && r.kind === kind && why.test(r.reason) && r.reason.length <= 200,
      `${name} ${value.slice(0, 60)}: ${r.ok ? 'ok' : r.reason}`,
    );
  }
});
