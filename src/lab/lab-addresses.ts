// The lab's address plan, by node index i (1…250): pure functions, no I/O. Lab's methods of the same names check
// the index and call these.
//
//   node i   underlay 192.168.99.i/24 (LabOptions.underlay 4, the default) or fd99::i/64 and no IPv4 address
//            (underlay 6; i's decimal digits, so node 12 is fd99::12), or both (underlay 'dual'); other hosts on the
//            underlay (lab.addHost) take another address of the same network: 192.168.99.X or fd99::X, X above the
//            node count
//   pod i    10.244.i.2/24 gw 10.244.i.1 · fd10:244:0:i::2/64 gw fd10:244:0:i::1 (node i's subnets .0/24 and ::/64)
//   cluster  10.244.0.0/16 · fd10:244::/56

import { Cidr } from '../net/cidr.js';
import { formatIP, parseIP } from '../net/ip.js';
import { formatSubnetEnv } from '../device/subnet-file.js';
import type { CniResult } from './cni.js';
import type { Family } from './lab-options.js';

export const underlayIP = (i: number, family: Family = 4): string => (family === 4 ? `192.168.99.${i}` : `fd99::${i}`);
export const underlayPrefixLen = (family: Family): number => (family === 4 ? 24 : 64);
export const underlayNetwork = (family: Family): string => (family === 4 ? '192.168.99.0/24' : 'fd99::/64');

/**
 * Why `ip` cannot be an extra host's address on a lab underlay of this family with `nodes` nodes, or undefined when
 * it can: it must be in underlayNetwork(family), not a node's, and (IPv4) not the network or broadcast address;
 * the IPv6 plan keeps hosts to fd99::X with X a decimal number nodes+1…9999, like the nodes.
 */
export function hostAddressProblem(ip: string, nodes: number, family: Family): string | undefined {
  const m = family === 4 ? /^192\.168\.99\.([1-9]\d{0,2})$/.exec(ip) : /^fd99::([1-9]\d{0,3})$/.exec(ip);
  const x = m ? Number(m[1]) : NaN;
  const max = family === 4 ? 254 : 9999;
  if (x > nodes && x <= max) return undefined;
  const first = underlayIP(nodes + 1, family);
  const last = underlayIP(max, family);
  return `${ip} is not a free underlay address (${first}…${last})`;
}

/**
 * The network address of a pod CIDR of either family ("10.244.2.0/24" → "10.244.2.0", "fd10:244:0:2::/64" →
 * "fd10:244:0:2::"): the address flannel gives its VXLAN device and uses as the remote's gateway.
 */
export function subnetNetworkAddress(cidr: string): string {
  return formatIP(Cidr.parse(cidr, { strict: false }).bytes);
}

/** The family of an address or CIDR text, or undefined when it is neither. */
export function familyOf(addrOrCidr: string): Family | undefined {
  const ip = parseIP(addrOrCidr.split('/')[0] ?? '');
  return ip ? ip.family : undefined;
}
export const podIP = (i: number, family: Family): string => (family === 4 ? `10.244.${i}.2` : `fd10:244:0:${i}::2`);
export const podGatewayIP = (i: number, family: Family): string =>
  family === 4 ? `10.244.${i}.1` : `fd10:244:0:${i}::1`;
export const podCIDR = (i: number, family: Family): string =>
  family === 4 ? `10.244.${i}.0/24` : `fd10:244:0:${i}::/64`;
export const podNetwork = (family: Family): string => (family === 4 ? '10.244.0.0/16' : 'fd10:244::/56');

/** Node i's subnet.env text: vxtun's own formatSubnetEnv for the node's two subnets. */
export function subnetEnvText(i: number, podMTU: number, ipMasq: boolean): string {
  return formatSubnetEnv({
    network: Cidr.parse(podNetwork(4)),
    ipv6Network: Cidr.parse(podNetwork(6)),
    podCIDRs: [Cidr.parse(podCIDR(i, 4)), Cidr.parse(podCIDR(i, 6))],
    mtu: podMTU,
    ipMasq,
  });
}

/** Why CNI's result for standard pod i (namespace podNs) is not the plan's addresses, or undefined when it is. */
export function podAddressMismatch(i: number, podNs: string, result: CniResult): string | undefined {
  const got = result.ips.map((x) => `${x.address} gw ${x.gateway ?? '-'}`).sort();
  const want = ([4, 6] as const).map((f) => `${podIP(i, f)}/${f === 4 ? 24 : 64} gw ${podGatewayIP(i, f)}`).sort();
  if (got.join(', ') === want.join(', ')) return undefined;
  return `CNI gave pod ${podNs} ${got.join(', ') || 'no address'}; the lab expects ${want.join(', ')}`;
}
