// A lab node on a second underlay subnet, one routed hop away from the others (IPv4 labs only):
//
//   node-1 … node-N ── br0 (192.168.99.0/24) ── rtr eth0 .254 ─┬─ rtr eth1 192.168.98.254 ── node-I eth1 .3
//                                                                (node-I's eth0 is taken down and left without address)
//
// Node I's only underlay address becomes 192.168.98.I/24 on eth1, a veth to the router; every other node gets a route
// to 192.168.98.0/24 via 192.168.99.254, and node I one to 192.168.99.0/24 via 192.168.98.254. All of it in the lab's
// own namespaces (the router is a lab host): lab.destroy() removes it. For tests of what depends on the underlay
// subnet (DirectRouting: README "DirectRouting").
import type { Lab } from './lab.js';

/** The second underlay subnet and the router's addresses on both. */
export const ROUTED_NETWORK = '192.168.98.0/24';
export const ROUTER_IP = '192.168.99.254';
export const ROUTER_IP_ROUTED = '192.168.98.254';
export const routedIP = (i: number): string => `192.168.98.${i}`;

/** Moves node i behind the router (see above); resolves with the router's namespace. Run before vxtun starts on i. */
export async function routeNodeBehindRouter(lab: Lab, i: number): Promise<{ routerNs: string; ip: string }> {
  if (lab.underlay !== 4)
    throw new Error(`routeNodeBehindRouter: needs an IPv4 underlay (this lab's is ${lab.underlay})`);
  const node = lab.nodeNs(i);
  const rtr = await lab.addHost('rtr', ROUTER_IP);
  // lab.ip and lab.exec reject when the command fails.
  const must = (ns: string, args: string[]) => lab.ip(ns, args);
  await lab.exec(rtr, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  const mtu = String(lab.underlayMTU);
  await must(rtr, [
    'link',
    'add',
    'eth1',
    'mtu',
    mtu,
    'type',
    'veth',
    'peer',
    'name',
    'eth1',
    'mtu',
    mtu,
    'netns',
    node,
  ]);
  await must(rtr, ['addr', 'add', `${ROUTER_IP_ROUTED}/24`, 'dev', 'eth1']);
  await must(rtr, ['link', 'set', 'eth1', 'up']);
  await must(node, ['addr', 'flush', 'dev', 'eth0']);
  await must(node, ['link', 'set', 'eth0', 'down']);
  await must(node, ['addr', 'add', `${routedIP(i)}/24`, 'dev', 'eth1']);
  await must(node, ['link', 'set', 'eth1', 'up']);
  await must(node, ['route', 'add', lab.underlayNetwork, 'via', ROUTER_IP_ROUTED]);
  for (let n = 1; n <= lab.nodes; n++) {
    if (n !== i) await must(lab.nodeNs(n), ['route', 'add', ROUTED_NETWORK, 'via', ROUTER_IP]);
  }
  return { routerNs: rtr, ip: routedIP(i) };
}
