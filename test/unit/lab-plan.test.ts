// The lab's pure parts (src/lab/lab-options.ts, src/lab/lab-addresses.ts): option defaults and checks, the names
// extra namespaces may take, Lab.sweep's filter, and the address plan the CNI result is held to.
import t from 'tap';
import type { CniIP, CniResult } from '../../src/lab/cni.js';
import { isExtraName, resolveLabOptions, sweepMatcher, vxlanOverhead } from '../../src/lab/lab-options.js';
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
  t.throws(() => resolveLabOptions({ nodes: 1, underlay: five }, () => 'p'), /underlay must be 4 or 6, got 5/);
  const text = '6' as unknown as 6;
  t.throws(() => resolveLabOptions({ nodes: 1, underlay: text }, () => 'p'), /underlay must be 4 or 6, got 6/);
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
