// What a kernel VXLAN node is made of when it is programmed as flannel's vxlan backend programs a node: pure
// functions, no I/O (kernel-vxlan.ts runs the commands).
//
// Devices: one per underlay family the node uses, each with its own MAC. Over IPv4, `flannel.<vni>` (local the IPv4
// underlay address, MTU underlay − 50) carries inner IPv4; over IPv6, `flannel-v6.<vni>` (local the IPv6 underlay
// address, MTU underlay − 70) carries inner IPv6. A dual-stack node has both. The lab may also make one device carry
// both inner families (`inner: [4, 6]`): flannel never does, vxtun ↔ vxtun over one underlay family does.
//
// Per remote and device: the remote's endpoint of the device's underlay family (no endpoint: nothing on that device,
// as flannel skips a lease without that family), one FDB entry (remote MAC → endpoint), and per inner family the
// device carries and the remote has a subnet of, a permanent neighbour (the subnet's network address → remote MAC)
// and an onlink route to the subnet via that address.

import { familyOf, subnetNetworkAddress } from './lab-addresses.js';
import { underlayFamilies, vxlanOverhead, type Family, type Underlay } from './lab-options.js';

/** A device as remotes are programmed on it. */
export interface RoutingDevice {
  name: string;
  /** The underlay family: the family of the device's `local` address and of every FDB destination on it. */
  family: Family;
  /** The inner families routed through the device. */
  inner: readonly Family[];
}

export interface KernelVxlanDevice extends RoutingDevice {
  vtepMAC: string;
  mtu: number;
}

/** A remote node as a kernel node knows it (flannel: the remote's lease). */
export interface KernelVxlanRemote {
  /** The remote node's IPv4 pod subnet, e.g. 10.244.2.0/24 (routed on the devices that carry inner IPv4). */
  podCIDR?: string;
  /** The remote node's IPv6 pod subnet, e.g. fd10:244:0:2::/64 (routed on the devices that carry inner IPv6). */
  ipv6PodCIDR?: string;
  /** The remote's underlay address: IPv4 when publicIPv6 is set (flannel's public-ip), else either family. */
  publicIP: string;
  /** The remote VTEP's MAC at publicIP (flannel's backend-data VtepMAC). */
  vtepMAC: string;
  /** The remote's IPv6 underlay address when it is dual-stack (flannel's public-ipv6). */
  publicIPv6?: string;
  /** The remote VTEP's MAC at publicIPv6 (flannel's backend-v6-data VtepMAC); default vtepMAC. */
  vtepMACv6?: string;
}

export interface DevicePlanOptions {
  vni: number;
  underlay: Underlay;
  underlayMTU: number;
  /** The MAC of the device over IPv4, or of the only device over an IPv6-only underlay. */
  vtepMAC: string;
  /** The MAC of flannel-v6.<vni> on a dual underlay (flannel gives each device its own). */
  vtepMACv6: string;
  /** Inner families of a single-family node's one device; default the underlay's family (as flannel). */
  inner?: readonly Family[];
  /** Name of a single-family node's one device; default flannel's. */
  device?: string;
  /** MTU of every device; default underlay MTU − 50 over IPv4, − 70 over IPv6. */
  mtu?: number;
}

/** flannel's device name for an underlay family. */
export const flannelDeviceName = (family: Family, vni: number): string =>
  family === 4 ? `flannel.${vni}` : `flannel-v6.${vni}`;

/** The devices of a kernel node on this underlay; throws for options a dual-stack node cannot take. */
export function kernelDevicePlan(o: DevicePlanOptions): KernelVxlanDevice[] {
  const families = underlayFamilies(o.underlay);
  const mtu = (f: Family): number => o.mtu ?? o.underlayMTU - vxlanOverhead(f);
  if (families.length === 1) {
    const family = families[0]!;
    const inner = o.inner ?? [family];
    if (inner.length === 0 || inner.some((f) => f !== 4 && f !== 6) || new Set(inner).size !== inner.length) {
      throw new Error(`kernel vxlan: inner must be some of 4 and 6, got ${JSON.stringify(inner)}`);
    }
    const name = o.device ?? flannelDeviceName(family, o.vni);
    return [{ name, family, vtepMAC: o.vtepMAC.toLowerCase(), mtu: mtu(family), inner: [...inner].sort() }];
  }
  if (o.device !== undefined) throw new Error('kernel vxlan: a dual-stack node has two devices: no `device` name');
  if (o.inner !== undefined && [...o.inner].sort().join() !== '4,6') {
    throw new Error(
      'kernel vxlan: a dual-stack node carries inner IPv4 over IPv4 and inner IPv6 over IPv6: no `inner`',
    );
  }
  if (o.vtepMAC.toLowerCase() === o.vtepMACv6.toLowerCase()) {
    throw new Error(`kernel vxlan: a dual-stack node's two devices need two MACs, got ${o.vtepMAC} twice`);
  }
  return families.map((family) => ({
    name: flannelDeviceName(family, o.vni),
    family,
    vtepMAC: (family === 4 ? o.vtepMAC : o.vtepMACv6).toLowerCase(),
    mtu: mtu(family),
    inner: [family],
  }));
}

/** The remote's endpoint of an underlay family (address and MAC), or undefined when it has none. */
export function remoteEndpoint(r: KernelVxlanRemote, family: Family): { ip: string; mac: string } | undefined {
  if (family === 6 && r.publicIPv6 !== undefined) {
    return { ip: r.publicIPv6, mac: (r.vtepMACv6 ?? r.vtepMAC).toLowerCase() };
  }
  return familyOf(r.publicIP) === family ? { ip: r.publicIP, mac: r.vtepMAC.toLowerCase() } : undefined;
}

export interface RemotePlan {
  fdb: { device: string; mac: string; dst: string }[];
  neighbours: { device: string; family: Family; ip: string; mac: string }[];
  routes: { device: string; family: Family; cidr: string; gw: string }[];
}

/** The entries that make `r` reachable through `devices` (see the top of this file). */
export function remotePlan(devices: readonly RoutingDevice[], r: KernelVxlanRemote): RemotePlan {
  const plan: RemotePlan = { fdb: [], neighbours: [], routes: [] };
  for (const d of devices) {
    const ep = remoteEndpoint(r, d.family);
    if (!ep) continue;
    const subnets = d.inner
      .map((f) => [f, f === 4 ? r.podCIDR : r.ipv6PodCIDR] as const)
      .filter((x): x is readonly [Family, string] => x[1] !== undefined);
    if (subnets.length === 0) continue;
    plan.fdb.push({ device: d.name, mac: ep.mac, dst: ep.ip });
    for (const [family, cidr] of subnets) {
      const gw = subnetNetworkAddress(cidr);
      plan.neighbours.push({ device: d.name, family, ip: gw, mac: ep.mac });
      plan.routes.push({ device: d.name, family, cidr, gw });
    }
  }
  return plan;
}
