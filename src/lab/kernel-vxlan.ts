// Programs a lab node as a Linux kernel VXLAN node exactly the way flannel's vxlan backend does, so vxtun can be
// tested against (and compared with) the real thing.
//
// On an IPv4 underlay the device carries inner IPv4 only (flannel.1: flannel carries IPv6 pods over an IPv6 underlay).
// On an IPv6 underlay (LabOptions.underlay 6) the device is made as flannel makes flannel-v6.1 (`local fd99::I`, fdb
// `dst fd99::R`, MTU underlay − 70, the own subnet's network address fd10:244:0:I::/128, per remote a permanent
// neighbour for its fd10:244:0:R:: and an onlink route to its /64 via it), and it carries inner IPv4 too, the same
// way as over IPv4 (10.244.I.0/32, neighbour 10.244.R.0, onlink route): one device for both inner families, as
// vxtun ↔ vxtun carries them, where flannel would make a second device for IPv4 over an IPv4 underlay.

import type { Lab } from './lab.js';
import { subnetNetworkAddress } from './lab-addresses.js';
import { vxlanOverhead } from './lab-options.js';

export interface KernelVxlanRemote {
  /** The remote node's IPv4 pod subnet, e.g. 10.244.2.0/24. */
  podCIDR: string;
  /** The remote node's IPv6 pod subnet, e.g. fd10:244:0:2::/64: routed through the device too (IPv6 underlay). */
  ipv6PodCIDR?: string;
  /** The remote node's underlay address (of the lab's underlay family). */
  publicIP: string;
  /** The remote VTEP's MAC. */
  vtepMAC: string;
}

export interface KernelVxlanOptions {
  vni?: number;
  port?: number;
  /** Device name; default flannel.<vni> as flannel names it. */
  device?: string;
  /** Our VTEP MAC; default labVtepMAC(i). */
  vtepMAC?: string;
  /** Device MTU; default the lab's underlay MTU − 50 (IPv4 underlay) or − 70 (IPv6). */
  mtu?: number;
  remotes?: readonly KernelVxlanRemote[];
}

export interface KernelVxlanNode {
  device: string;
  vtepMAC: string;
}

/** The deterministic, locally administered VTEP MAC used for lab node i: 0a:00:00:00:II:01 (II = i in hex). */
export function labVtepMAC(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 255) throw new RangeError(`labVtepMAC: node index ${i} out of range`);
  return `0a:00:00:00:${i.toString(16).padStart(2, '0')}:01`;
}

/** The network address of an IPv4 CIDR ("10.244.2.0/24" → "10.244.2.0"), which flannel uses as the gateway. */
export function cidrNetworkAddress(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const octets = m.slice(1, 5).map(Number);
  const len = Number(m[5]);
  if (octets.some((o) => o > 255) || len > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (addr & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.');
}

/**
 * In node namespace i: creates the VXLAN device as flannel does (`ip link add flannel.1 type vxlan id VNI local
 * <underlay IP> dev eth0 dstport PORT nolearning`, fixed MAC, MTU − 50 or − 70, address <own subnet>.0/32 and, on an
 * IPv6 underlay, <own IPv6 subnet>::/128, up) and adds every remote (permanent neighbours, FDB entry, onlink routes).
 */
export async function programKernelVxlanNode(
  lab: Lab,
  i: number,
  opts: KernelVxlanOptions = {},
): Promise<KernelVxlanNode> {
  const ns = lab.nodeNs(i);
  const vni = opts.vni ?? 1;
  const port = opts.port ?? 8472;
  const device = opts.device ?? `flannel.${vni}`;
  const vtepMAC = (opts.vtepMAC ?? labVtepMAC(i)).toLowerCase();
  const mtu = opts.mtu ?? lab.underlayMTU - vxlanOverhead(lab.underlay);
  const ownNet = cidrNetworkAddress(lab.podCIDR(i, 4));
  await lab.ip(ns, [
    'link',
    'add',
    device,
    'type',
    'vxlan',
    'id',
    String(vni),
    'local',
    lab.underlayIP(i),
    'dev',
    'eth0',
    'dstport',
    String(port),
    'nolearning',
  ]);
  await lab.ip(ns, ['link', 'set', device, 'address', vtepMAC, 'mtu', String(mtu)]);
  await lab.ip(ns, ['addr', 'add', `${ownNet}/32`, 'dev', device]);
  if (lab.underlay === 6) {
    await lab.ip(ns, ['-6', 'addr', 'add', `${subnetNetworkAddress(lab.podCIDR(i, 6))}/128`, 'dev', device, 'nodad']);
  }
  await lab.ip(ns, ['link', 'set', device, 'up']);
  for (const r of opts.remotes ?? []) await addKernelVxlanRemote(lab, i, r, device);
  lab.logger.info('kernel vxlan node programmed', {
    ns,
    device,
    vni,
    port,
    vtepMAC,
    remotes: opts.remotes?.length ?? 0,
  });
  return { device, vtepMAC };
}

/** Adds one remote to a kernel VXLAN node, exactly as flannel does when a Node appears. */
export async function addKernelVxlanRemote(
  lab: Lab,
  i: number,
  r: KernelVxlanRemote,
  device = 'flannel.1',
): Promise<void> {
  const ns = lab.nodeNs(i);
  const gw = cidrNetworkAddress(r.podCIDR);
  const mac = r.vtepMAC.toLowerCase();
  await lab.ip(ns, ['neigh', 'add', gw, 'lladdr', mac, 'dev', device, 'nud', 'permanent']);
  await lab.exec(ns, 'bridge', ['fdb', 'add', mac, 'dev', device, 'dst', r.publicIP]);
  await lab.ip(ns, ['route', 'add', r.podCIDR, 'via', gw, 'dev', device, 'onlink']);
  if (r.ipv6PodCIDR) {
    const gw6 = subnetNetworkAddress(r.ipv6PodCIDR);
    await lab.ip(ns, ['-6', 'neigh', 'add', gw6, 'lladdr', mac, 'dev', device, 'nud', 'permanent']);
    await lab.ip(ns, ['-6', 'route', 'add', r.ipv6PodCIDR, 'via', gw6, 'dev', device, 'onlink']);
  }
}

/** Removes one remote again (route, FDB entry, neighbour), as flannel does when a Node goes away. */
export async function removeKernelVxlanRemote(
  lab: Lab,
  i: number,
  r: KernelVxlanRemote,
  device = 'flannel.1',
): Promise<void> {
  const ns = lab.nodeNs(i);
  const gw = cidrNetworkAddress(r.podCIDR);
  const mac = r.vtepMAC.toLowerCase();
  if (r.ipv6PodCIDR) {
    const gw6 = subnetNetworkAddress(r.ipv6PodCIDR);
    await lab.ip(ns, ['-6', 'route', 'del', r.ipv6PodCIDR, 'via', gw6, 'dev', device, 'onlink']);
    await lab.ip(ns, ['-6', 'neigh', 'del', gw6, 'dev', device]);
  }
  await lab.ip(ns, ['route', 'del', r.podCIDR, 'via', gw, 'dev', device, 'onlink']);
  await lab.exec(ns, 'bridge', ['fdb', 'del', mac, 'dev', device, 'dst', r.publicIP]);
  await lab.ip(ns, ['neigh', 'del', gw, 'dev', device]);
}

/** The remote entry for lab node j as the other kernel nodes know it (with its IPv6 subnet on an IPv6 underlay). */
export function labKernelRemote(lab: Lab, j: number, vtepMAC = labVtepMAC(j)): KernelVxlanRemote {
  return {
    podCIDR: lab.podCIDR(j, 4),
    ...(lab.underlay === 6 ? { ipv6PodCIDR: lab.podCIDR(j, 6) } : {}),
    publicIP: lab.underlayIP(j),
    vtepMAC,
  };
}

/** Programs nodes 1…n of the lab as kernel VXLAN nodes that all know each other (a full flannel mesh). */
export async function programKernelVxlanMesh(
  lab: Lab,
  nodes: readonly number[] = Array.from({ length: lab.nodes }, (_, k) => k + 1),
  opts: Omit<KernelVxlanOptions, 'remotes' | 'vtepMAC'> = {},
): Promise<Map<number, KernelVxlanNode>> {
  const out = new Map<number, KernelVxlanNode>();
  for (const i of nodes) {
    const remotes = nodes.filter((j) => j !== i).map((j) => labKernelRemote(lab, j));
    out.set(i, await programKernelVxlanNode(lab, i, { ...opts, remotes }));
  }
  return out;
}
