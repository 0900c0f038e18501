// DirectRouting's plan (src/daemon/direct-routes-plan.ts): which peer pod CIDRs get a plain route over the underlay
// (same subnet as our bind address of that family), the `ip` arguments, and the kernel listing read back.
import t from 'tap';
import {
  directRouteArgs,
  directSides,
  listDirectArgs,
  parseDirectRoutes,
  planDirectRoutes,
  type DirectSides,
} from '../../src/daemon/direct-routes-plan.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import type { Peer } from '../../src/peers/peer-source.js';

const ip = (s: string) => parseIP(s)!;
function peer(name: string, cidrs: string[], publicIP: string, publicIPv6?: string): Peer {
  return {
    name,
    podCIDRs: cidrs.map((c) => Cidr.parse(c)),
    publicIP: ip(publicIP),
    vtepMAC: '0a:00:00:00:00:01',
    ...(publicIPv6 ? { publicIPv6: ip(publicIPv6), vtepMACv6: '0a:00:00:00:00:02' } : {}),
  };
}
const v4: DirectSides = { 4: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24 } };
const local = [Cidr.parse('10.244.1.0/24')];
/** dst → via@dev (peer) for a compact comparison. */
const show = (routes: ReturnType<typeof planDirectRoutes>) => routes.map((r) => `${r.dst} ${r.via}@${r.dev} ${r.peer}`);

t.test('IPv4: peers in our subnet are direct, others (another subnet) stay on VXLAN, ourselves never', async (t) => {
  const peers = [
    peer('node-a', ['10.244.1.0/24'], '192.168.99.1'),
    peer('node-c', ['10.244.3.0/24'], '192.168.98.3'),
    peer('node-b', ['10.244.2.0/24'], '192.168.99.2'),
  ];
  t.same(show(planDirectRoutes(peers, 'node-a', v4, local)), ['10.244.2.0/24 192.168.99.2@eth0 node-b']);
  t.same(planDirectRoutes(peers, 'node-a', {}, local), [], 'no underlay side: nothing');
});

t.test('never a route for our own CIDRs nor to our own address', async (t) => {
  const peers = [
    peer('clash', ['10.244.1.0/25'], '192.168.99.5'), // overlaps ours
    peer('same-ip', ['10.244.6.0/24'], '192.168.99.1'), // claims our underlay address
  ];
  t.same(planDirectRoutes(peers, 'node-a', v4, local), []);
});

t.test('prefix edges: /32 and /128 hold only us; /31 holds the other end; /127 likewise', async (t) => {
  const p = [peer('b', ['10.244.2.0/24'], '10.0.0.1')];
  const side = (address: string, prefixLen: number): DirectSides => ({ 4: { interface: 'e', address, prefixLen } });
  t.same(planDirectRoutes(p, 'a', side('10.0.0.0', 32), local), [], '/32: nobody else is on the link');
  t.same(show(planDirectRoutes(p, 'a', side('10.0.0.0', 31), local)), ['10.244.2.0/24 10.0.0.1@e b'], '/31');
  t.same(planDirectRoutes(p, 'a', side('10.0.0.2', 31), local), [], 'the next /31 is another subnet');
  const p6 = [peer('b', ['fd10:244:2::/64'], 'fd99::1')];
  const side6 = (address: string, prefixLen: number): DirectSides => ({ 6: { interface: 'e', address, prefixLen } });
  t.same(show(planDirectRoutes(p6, 'a', side6('fd99::', 127), [])), ['fd10:244:2::/64 fd99::1@e b'], '/127');
  t.same(planDirectRoutes(p6, 'a', side6('fd99::', 128), []), [], '/128');
  t.same(planDirectRoutes(p6, 'a', side6('fd99::2', 127), []), [], 'the next /127');
});

t.test('families: IPv6 CIDRs by publicIPv6 (else an IPv6 publicIP); a family without our side: none', async (t) => {
  const dual: DirectSides = { ...v4, 6: { interface: 'eth1', address: 'fd99::1', prefixLen: 64 } };
  const b = peer('node-b', ['10.244.2.0/24', 'fd10:244:2::/64'], '192.168.99.2', 'fd99::2');
  const c = peer('node-c', ['10.244.3.0/24', 'fd10:244:3::/64'], '192.168.99.3', 'fd98::3'); // v6 elsewhere
  const d = peer('node-d', ['fd10:244:4::/64'], 'fd99::4'); // single-family IPv6 node
  t.same(show(planDirectRoutes([b, c, d], 'a', dual, local)), [
    '10.244.2.0/24 192.168.99.2@eth0 node-b',
    '10.244.3.0/24 192.168.99.3@eth0 node-c',
    'fd10:244:2::/64 fd99::2@eth1 node-b',
    'fd10:244:4::/64 fd99::4@eth1 node-d',
  ]);
  t.same(
    show(planDirectRoutes([b, d], 'a', v4, local)),
    ['10.244.2.0/24 192.168.99.2@eth0 node-b'],
    'IPv4-only underlay: IPv6 pod CIDRs stay on VXLAN',
  );
  const only6: DirectSides = { 6: { interface: 'eth1', address: 'fd99::1', prefixLen: 64 } };
  t.same(
    show(planDirectRoutes([b], 'a', only6, local)),
    ['fd10:244:2::/64 fd99::2@eth1 node-b'],
    'IPv6-only underlay: the IPv4 CIDR has no IPv4 endpoint in our subnet',
  );
});

t.test('directSides: the bind address of each family of a resolved underlay', async (t) => {
  const bind = { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 };
  const bind6 = { interface: 'eth1', address: 'fd99::1', prefixLen: 64, mtu: 1500 };
  t.same(directSides({ publicIP: '192.168.99.1', bind, family: 4 }), { 4: bind });
  t.same(directSides({ publicIP: 'fd99::1', bind: bind6, family: 6 }), { 6: bind6 });
  t.same(directSides({ publicIP: '192.168.99.1', bind, family: 4, v6: { publicIP: 'fd99::1', bind: bind6 } }), {
    4: bind,
    6: bind6,
  });
});

t.test('ip arguments and the kernel listing read back', async (t) => {
  const r = { family: 4 as const, dst: '10.244.2.0/24', via: '192.168.99.2', dev: 'eth0' };
  t.same(directRouteArgs('replace', r), [
    'route',
    'replace',
    '10.244.2.0/24',
    'via',
    '192.168.99.2',
    'dev',
    'eth0',
    'proto',
    '119',
  ]);
  t.same(directRouteArgs('del', { ...r, family: 6, dst: 'fd10::/64' }), [
    '-6',
    'route',
    'del',
    'fd10::/64',
    'proto',
    '119',
  ]);
  t.same(listDirectArgs(6), ['-j', '-6', 'route', 'show', 'proto', '119']);
  // What `ip -j -4 route show proto 119` prints (a host route has no length).
  const json =
    '[{"dst":"10.244.2.0/24","gateway":"192.168.99.2","dev":"eth0","flags":[]},' +
    '{"dst":"10.244.3.5","gateway":"192.168.99.3","dev":"eth0","flags":[]},{"dst":"10.244.4.0/24","type":"blackhole","flags":[]}]';
  t.same(parseDirectRoutes(json, 4), [
    { family: 4, dst: '10.244.2.0/24', via: '192.168.99.2', dev: 'eth0' },
    { family: 4, dst: '10.244.3.5/32', via: '192.168.99.3', dev: 'eth0' },
    { family: 4, dst: '10.244.4.0/24', via: '', dev: '' },
  ]);
  t.same(parseDirectRoutes('', 6), [], 'no output: no routes');
  t.same(parseDirectRoutes('[{"dst":"fd10:244:2::1","gateway":"fd99::2","dev":"eth0"}]', 6), [
    { family: 6, dst: 'fd10:244:2::1/128', via: 'fd99::2', dev: 'eth0' },
  ]);
});
