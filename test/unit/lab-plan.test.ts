// The lab's pure parts (src/lab/lab-options.ts, src/lab/lab-addresses.ts, src/lab/kernel-vxlan-plan.ts,
// src/lab/vxlan-capture.ts): option defaults and checks, the names extra namespaces may take, Lab.sweep's filter,
// the address plan the CNI result is held to, the kernel VXLAN node plan (flannel's devices and per-remote entries)
// and the reading of the underlay capture.
import t from 'tap';
import type { CniIP, CniResult } from '../../src/lab/cni.js';
import {
  isExtraName,
  resolveLabOptions,
  sweepMatcher,
  underlayFamilies,
  vxlanOverhead,
} from '../../src/lab/lab-options.js';
import {
  flannelDeviceName,
  kernelDevicePlan,
  remoteEndpoint,
  remotePlan,
  type KernelVxlanRemote,
} from '../../src/lab/kernel-vxlan-plan.js';
import { labVtepMACv6 } from '../../src/lab/kernel-vxlan.js';
import { parseVxlanDump, tallyVxlan } from '../../src/lab/vxlan-capture.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import {
  familyOf,
  hostAddressProblem,
  podAddressMismatch,
  podCIDR,
  podGatewayIP,
  podIP,
  subnetEnvText,
  subnetNetworkAddress,
  underlayIP,
  underlayNetwork,
  underlayPrefixLen,
} from '../../src/lab/lab-addresses.js';

t.test('resolveLabOptions fills the defaults and names the bad option', async (t) => {
  const r = resolveLabOptions({ nodes: 2 }, () => 'vxtabc123');
  t.match(r, {
    prefix: 'vxtabc123',
    nodes: 2,
    underlay: 4,
    underlayMTU: 1500,
    podMTU: 1450,
    ipMasq: true,
    handleSignals: true,
    stopTimeoutMs: 3000,
  });
  t.equal(resolveLabOptions({ nodes: 1, underlayMTU: 9000 }, () => 'p').podMTU, 8950, 'podMTU follows underlayMTU');
  t.throws(() => resolveLabOptions({ nodes: 0 }, () => 'p'), /nodes must be an integer 1…250, got 0/);
  t.throws(() => resolveLabOptions({ nodes: 251 }, () => 'p'), /nodes must be an integer/);
  t.throws(() => resolveLabOptions({ nodes: 1, prefix: 'bad/prefix' }, () => 'p'), /bad prefix "bad\/prefix"/);
  t.throws(() => resolveLabOptions({ nodes: 1, prefix: 'x'.repeat(25) }, () => 'p'), /bad prefix/);
  t.throws(() => resolveLabOptions({ nodes: 1, podMTU: 1000 }, () => 'p'), /podMTU must be 1280…65535, got 1000/);
  t.throws(() => resolveLabOptions({ nodes: 1, underlayMTU: 1.5 }, () => 'p'), /underlayMTU must be/);
  const v6 = resolveLabOptions({ nodes: 1, underlay: 6 }, () => 'p');
  t.equal(v6.underlay, 6, 'an IPv6 underlay');
  t.equal(v6.podMTU, 1430, 'podMTU over IPv6: underlayMTU − 70');
  t.equal(resolveLabOptions({ nodes: 1, underlay: 6, underlayMTU: 9000 }, () => 'p').podMTU, 8930);
  t.equal(resolveLabOptions({ nodes: 1, underlay: 6, podMTU: 1400 }, () => 'p').podMTU, 1400, 'podMTU given wins');
  const five = 5 as unknown as 4;
  t.throws(() => resolveLabOptions({ nodes: 1, underlay: five }, () => 'p'), /underlay must be 4, 6 or 'dual', got 5/);
  const text = '6' as unknown as 6;
  t.throws(() => resolveLabOptions({ nodes: 1, underlay: text }, () => 'p'), /underlay must be 4, 6 or 'dual', got 6/);
  const dual = resolveLabOptions({ nodes: 1, underlay: 'dual' }, () => 'p');
  t.equal(dual.underlay, 'dual', 'a dual-stack underlay');
  t.equal(dual.podMTU, 1430, 'podMTU over a dual underlay: underlayMTU − 70 (inner IPv6 rides IPv6)');
  t.same([underlayFamilies(4), underlayFamilies(6), underlayFamilies('dual')], [[4], [6], [4, 6]]);
  const ipMasq = 'yes' as unknown as boolean;
  t.throws(() => resolveLabOptions({ nodes: 1, ipMasq }, () => 'p'), /ipMasq must be true or false, got yes/);
});

t.test('isExtraName: short lowercase names, never the standard namespaces', async (t) => {
  for (const ok of ['rogue', 'a', 'web2', 'p1x']) t.ok(isExtraName(ok, true), ok);
  for (const bad of ['', 'Rogue', '2a', 'abcdefghi', 'ul', 'n1', 'n12', 'p-1']) t.notOk(isExtraName(bad, true), bad);
  t.ok(isExtraName('p3', false), 'a pod may be named p<digits> (addPod)');
  t.notOk(isExtraName('p3', true), 'a host may not (addHost)');
});

t.test('sweepMatcher: a prefix and its `-…` names, or a RegExp', async (t) => {
  const m = sweepMatcher('vxt1');
  t.same(['vxt1', 'vxt1-ul', 'vxt12', 'vxt1x-n1', 'other'].filter(m), ['vxt1', 'vxt1-ul']);
  t.same(['vxtab-n1', 'vxtcd-p2', 'x'].filter(sweepMatcher(/^vxt..-n/)), ['vxtab-n1']);
  t.throws(() => sweepMatcher('../x'), /lab sweep: bad prefix/);
});

t.test('the address plan and the CNI result it is held to', async (t) => {
  t.equal(underlayIP(3), '192.168.99.3');
  t.equal(underlayIP(3, 4), '192.168.99.3');
  t.equal(underlayIP(3, 6), 'fd99::3');
  t.equal(underlayIP(12, 6), 'fd99::12', "node 12's IPv6 underlay address spells its decimal index");
  t.same([underlayPrefixLen(4), underlayPrefixLen(6)], [24, 64]);
  t.same([underlayNetwork(4), underlayNetwork(6)], ['192.168.99.0/24', 'fd99::/64']);
  const nodes = Array.from({ length: 250 }, (_, k) => underlayIP(k + 1, 6));
  t.equal(new Set(nodes).size, 250, 'IPv6 underlay addresses are distinct for nodes 1…250');
  t.ok(
    nodes.every((a) => Cidr.parse(underlayNetwork(6)).contains(parseIP(a)!)),
    'and all inside fd99::/64',
  );
  t.equal(podIP(3, 4), '10.244.3.2');
  t.equal(podIP(3, 6), 'fd10:244:0:3::2');
  t.equal(podGatewayIP(3, 6), 'fd10:244:0:3::1');
  t.equal(podCIDR(3, 4), '10.244.3.0/24');
  const env = subnetEnvText(3, 1450, false);
  t.match(env, /FLANNEL_SUBNET=10\.244\.3\.1\/24/);
  t.match(env, /FLANNEL_MTU=1450/);
  t.match(env, /FLANNEL_IPMASQ=false/);
  const result = (ips: CniIP[]): CniResult => ({ cniVersion: '1.0.0', interfaces: [], ips, routes: [] });
  const good = result([
    { address: 'fd10:244:0:3::2/64', gateway: 'fd10:244:0:3::1' },
    { address: '10.244.3.2/24', gateway: '10.244.3.1' },
  ]);
  t.equal(podAddressMismatch(3, 'vxt-p3', good), undefined, 'the planned addresses, in any order');
  const wrong = result([{ address: '10.244.3.5/24', gateway: '10.244.3.1' }]);
  t.match(
    podAddressMismatch(3, 'vxt-p3', wrong),
    /CNI gave pod vxt-p3 10\.244\.3\.5\/24 gw 10\.244\.3\.1; the lab expects/,
  );
  t.match(podAddressMismatch(3, 'vxt-p3', result([])), /gave pod vxt-p3 no address/);
});

t.test('extra hosts on the underlay: a free address of the lab family', async (t) => {
  t.equal(hostAddressProblem('192.168.99.66', 2, 4), undefined);
  t.equal(hostAddressProblem('fd99::66', 2, 6), undefined);
  t.equal(hostAddressProblem('192.168.99.254', 250, 4), undefined);
  t.match(
    hostAddressProblem('192.168.99.2', 2, 4),
    /192\.168\.99\.2 is not a free underlay address \(192\.168\.99\.3…192\.168\.99\.254\)/,
  );
  t.match(hostAddressProblem('fd99::2', 2, 6), /fd99::2 is not a free underlay address \(fd99::3…fd99::9999\)/);
  for (const bad of ['192.168.99.255', '192.168.99.0', '192.168.98.9', '192.168.99.07', 'fd99::66', 'x']) {
    t.type(hostAddressProblem(bad, 2, 4), 'string', `${bad} on an IPv4 underlay`);
  }
  for (const bad of ['fd99::0', 'fd99::1:2', 'fd98::66', 'fd99::10000', 'fd99::a', '192.168.99.66', 'fd99:0::66']) {
    t.type(hostAddressProblem(bad, 2, 6), 'string', `${bad} on an IPv6 underlay`);
  }
});

t.test('VXLAN overhead, subnet network addresses and families', async (t) => {
  t.same([vxlanOverhead(4), vxlanOverhead(6)], [50, 70]);
  t.equal(subnetNetworkAddress('10.244.2.0/24'), '10.244.2.0');
  t.equal(subnetNetworkAddress('10.244.2.77/23'), '10.244.2.0');
  t.equal(subnetNetworkAddress('fd10:244:0:2::/64'), 'fd10:244:0:2::');
  t.equal(subnetNetworkAddress('fd10:244:0:2::2/64'), 'fd10:244:0:2::');
  t.throws(() => subnetNetworkAddress('fd10:244:0:2::'), /expected a CIDR/);
  t.same(['10.244.1.0/24', 'fd99::1', '192.168.99.1', 'fd10::/64', 'x', ''].map(familyOf), [
    4,
    6,
    4,
    6,
    undefined,
    undefined,
  ]);
});

t.test('kernel VXLAN devices: flannel.1 over IPv4, flannel-v6.1 over IPv6, both on a dual underlay', async (t) => {
  const base = { vni: 1, underlayMTU: 1500, vtepMAC: '0A:00:00:00:01:01', vtepMACv6: labVtepMACv6(1) };
  t.equal(labVtepMACv6(1), '0a:00:00:00:01:06');
  t.same([flannelDeviceName(4, 1), flannelDeviceName(6, 7)], ['flannel.1', 'flannel-v6.7']);
  t.same(kernelDevicePlan({ ...base, underlay: 4 }), [
    { name: 'flannel.1', family: 4, vtepMAC: '0a:00:00:00:01:01', mtu: 1450, inner: [4] },
  ]);
  t.same(
    kernelDevicePlan({ ...base, underlay: 6 }),
    [{ name: 'flannel-v6.1', family: 6, vtepMAC: '0a:00:00:00:01:01', mtu: 1430, inner: [6] }],
    'an IPv6-only flannel node carries inner IPv6 only',
  );
  t.same(
    kernelDevicePlan({ ...base, underlay: 6, inner: [6, 4], device: 'vx0', mtu: 1400 }),
    [{ name: 'vx0', family: 6, vtepMAC: '0a:00:00:00:01:01', mtu: 1400, inner: [4, 6] }],
    "the lab's one device for both inner families",
  );
  t.same(kernelDevicePlan({ ...base, underlay: 'dual' }), [
    { name: 'flannel.1', family: 4, vtepMAC: '0a:00:00:00:01:01', mtu: 1450, inner: [4] },
    { name: 'flannel-v6.1', family: 6, vtepMAC: '0a:00:00:00:01:06', mtu: 1430, inner: [6] },
  ]);
  t.throws(() => kernelDevicePlan({ ...base, underlay: 'dual', device: 'x' }), /two devices: no `device`/);
  t.throws(() => kernelDevicePlan({ ...base, underlay: 'dual', inner: [4] }), /no `inner`/);
  t.throws(() => kernelDevicePlan({ ...base, underlay: 'dual', vtepMACv6: base.vtepMAC }), /need two MACs/);
  t.throws(() => kernelDevicePlan({ ...base, underlay: 4, inner: [] }), /inner must be some of 4 and 6/);
  t.throws(() => kernelDevicePlan({ ...base, underlay: 4, inner: [4, 4] }), /inner must be/);
});

t.test("a remote's entries: each inner family to the remote's endpoint of its device's family", async (t) => {
  const dualRemote: KernelVxlanRemote = {
    podCIDR: '10.244.2.0/24',
    ipv6PodCIDR: 'fd10:244:0:2::/64',
    publicIP: '192.168.99.2',
    vtepMAC: '0A:00:00:00:02:01',
    publicIPv6: 'fd99::2',
    vtepMACv6: '0a:00:00:00:02:06',
  };
  t.same(remoteEndpoint(dualRemote, 4), { ip: '192.168.99.2', mac: '0a:00:00:00:02:01' });
  t.same(remoteEndpoint(dualRemote, 6), { ip: 'fd99::2', mac: '0a:00:00:00:02:06' });
  const oneMAC: KernelVxlanRemote = { ...dualRemote, vtepMACv6: undefined };
  t.same(remoteEndpoint(oneMAC, 6), { ip: 'fd99::2', mac: '0a:00:00:00:02:01' }, 'a vxtun node: one MAC for both');
  const v6only: KernelVxlanRemote = {
    ipv6PodCIDR: 'fd10:244:0:2::/64',
    publicIP: 'fd99::2',
    vtepMAC: '0a:00:00:00:02:01',
  };
  t.same(remoteEndpoint(v6only, 6), { ip: 'fd99::2', mac: '0a:00:00:00:02:01' });
  t.equal(remoteEndpoint(v6only, 4), undefined);

  const dualDevices = [
    { name: 'flannel.1', family: 4, inner: [4] },
    { name: 'flannel-v6.1', family: 6, inner: [6] },
  ] as const;
  t.same(remotePlan(dualDevices, dualRemote), {
    fdb: [
      { device: 'flannel.1', mac: '0a:00:00:00:02:01', dst: '192.168.99.2' },
      { device: 'flannel-v6.1', mac: '0a:00:00:00:02:06', dst: 'fd99::2' },
    ],
    neighbours: [
      { device: 'flannel.1', family: 4, ip: '10.244.2.0', mac: '0a:00:00:00:02:01' },
      { device: 'flannel-v6.1', family: 6, ip: 'fd10:244:0:2::', mac: '0a:00:00:00:02:06' },
    ],
    routes: [
      { device: 'flannel.1', family: 4, cidr: '10.244.2.0/24', gw: '10.244.2.0' },
      { device: 'flannel-v6.1', family: 6, cidr: 'fd10:244:0:2::/64', gw: 'fd10:244:0:2::' },
    ],
  });
  const v4Remote: KernelVxlanRemote = {
    podCIDR: '10.244.3.0/24',
    publicIP: '192.168.99.3',
    vtepMAC: '0a:00:00:00:03:01',
  };
  const p = remotePlan(dualDevices, v4Remote);
  t.same(
    p.routes.map((r) => r.device),
    ['flannel.1'],
    'a remote without an IPv6 endpoint gets nothing on flannel-v6.1 (flannel skips that family)',
  );
  const both = remotePlan([{ name: 'flannel-v6.1', family: 6, inner: [4, 6] }], {
    ...v6only,
    podCIDR: '10.244.2.0/24',
  });
  t.same(both.fdb, [{ device: 'flannel-v6.1', mac: '0a:00:00:00:02:01', dst: 'fd99::2' }], 'one FDB entry');
  t.same(
    both.routes.map((r) => r.cidr),
    ['10.244.2.0/24', 'fd10:244:0:2::/64'],
    'both inner families on the one device',
  );
  const v4only = remotePlan([{ name: 'flannel.1', family: 4, inner: [4] }], dualRemote);
  t.same(
    v4only.routes.map((r) => r.cidr),
    ['10.244.2.0/24'],
    'an IPv4 flannel node routes no IPv6 pods',
  );
});

t.test('the underlay capture: tcpdump -T vxlan lines to records, and per inner flow', async (t) => {
  const dump = [
    'tcpdump: data link type LINUX_SLL2',
    'n1    P   IP 192.168.99.1.38598 > 192.168.99.2.8472: VXLAN, flags [I] (0x08), vni 1',
    'IP 10.244.1.2 > 10.244.2.2: ICMP echo request, id 25702, seq 1, length 64',
    'n2    P   IP6 fd99::2.48128 > fd99::1.8472: VXLAN, flags [I] (0x08), vni 1',
    'IP6 fd10:244:0:2::2.7000 > fd10:244:0:1::2.40312: Flags [.], ack 1, win 502, length 0',
    'n1    P   IP6 fd99::1.1 > fd99::2.8472: VXLAN, flags [I] (0x08), vni 1',
    'IP 10.244.1.2.40000 > 10.244.2.2.7000: Flags [S], seq 1, win 64240, length 0',
    'n1    P   IP 192.168.99.1.1 > 192.168.99.2.8472: VXLAN, flags [I] (0x08), vni 1',
    'ARP, Request who-has 10.244.2.0 tell 10.244.1.0, length 28',
  ].join('\n');
  const recs = parseVxlanDump(dump);
  t.same(recs[0], {
    port: 'n1',
    outer: 4,
    outerSrc: '192.168.99.1',
    outerDst: '192.168.99.2',
    inner: 4,
    innerSrc: '10.244.1.2',
    innerDst: '10.244.2.2',
  });
  t.match(recs[1], { port: 'n2', outer: 6, outerSrc: 'fd99::2', inner: 6, innerSrc: 'fd10:244:0:2::2' });
  t.equal(recs[1]!.innerDst, 'fd10:244:0:1::2', 'ports are cut off IPv6 endpoints');
  t.match(recs[2], { outer: 6, inner: 4, innerSrc: '10.244.1.2', innerDst: '10.244.2.2' }, 'and IPv4 ones');
  t.match(recs[3], { outer: 4, inner: undefined }, 'a non-IP inner frame is a record without inner family');
  t.equal(recs.length, 4);
  t.same(
    [...tallyVxlan(recs, 4, '10.244.1.2', '10.244.2.2').entries()],
    [
      ['IPv4 192.168.99.1 > 192.168.99.2', 1],
      ['IPv6 fd99::1 > fd99::2', 1],
    ],
  );
  t.same([...tallyVxlan(recs, 6, '10.244.1.2', '10.244.2.2').entries()], []);
});
