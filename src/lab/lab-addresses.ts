// The lab's address plan, by node index i (1…250): pure functions, no I/O. Lab's methods of the same names check
// the index and call these.
//
//   node i   underlay 192.168.99.i/24
//   pod i    10.244.i.2/24 gw 10.244.i.1 · fd10:244:0:i::2/64 gw fd10:244:0:i::1 (node i's subnets .0/24 and ::/64)
//   cluster  10.244.0.0/16 · fd10:244::/56

import { Cidr } from '../net/cidr.js';
import { formatSubnetEnv } from '../device/subnet-file.js';
import type { CniResult } from './cni.js';
import type { Family } from './lab-options.js';

export const underlayIP = (i: number): string => `192.168.99.${i}`;
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
