// Programs a lab node as a Linux kernel VXLAN node exactly the way flannel's vxlan backend does, so vxtun can be
// tested against (and compared with) the real thing. kernel-vxlan-plan.ts holds the plan (pure); this file runs it.
//
//   underlay 4     flannel.1 (local 192.168.99.I, MTU underlay − 50): inner IPv4 only (10.244.I.0/32 on the device,
//                  per remote a permanent neighbour 10.244.R.0, an FDB entry to 192.168.99.R, an onlink route)
//   underlay 6     flannel-v6.1 (local fd99::I, MTU underlay − 70): inner IPv6 only (fd10:244:0:I::/128, neighbour
//                  fd10:244:0:R::, FDB entry to fd99::R, onlink route), as flannel on an IPv6-only cluster. The lab
//                  can make it carry inner IPv4 too (`inner: [4, 6]`, one device for both, as vxtun ↔ vxtun carries
//                  them over one underlay family): test/integration/ipv6-underlay.test.ts and bench:e2e's kernel6 rely
//                  on that; flannel never does it.
//   underlay dual  both devices, each with its own MAC (labVtepMAC(I) and labVtepMACv6(I)): inner IPv4 to each
//                  remote's IPv4 endpoint over flannel.1, inner IPv6 to its IPv6 endpoint over flannel-v6.1.

import type { Lab } from './lab.js';
import { familyOf, subnetNetworkAddress } from './lab-addresses.js';
import type { Family } from './lab-options.js';
import {
  kernelDevicePlan,
  remotePlan,
  type KernelVxlanDevice,
  type KernelVxlanRemote,
  type RoutingDevice,
} from './kernel-vxlan-plan.js';

export type { KernelVxlanDevice, KernelVxlanRemote } from './kernel-vxlan-plan.js';
export { flannelDeviceName, kernelDevicePlan, remoteEndpoint, remotePlan } from './kernel-vxlan-plan.js';

export interface KernelVxlanOptions {
  vni?: number;
  port?: number;
  /** Device name of a single-family node; default flannel's (flannel.<vni>, flannel-v6.<vni>). */
  device?: string;
  /** Our VTEP MAC (the IPv4 device's on a dual underlay); default labVtepMAC(i). */
  vtepMAC?: string;
  /** The IPv6 device's MAC on a dual underlay; default labVtepMACv6(i). */
  vtepMACv6?: string;
  /** Device MTU; default the lab's underlay MTU − 50 (IPv4 underlay) or − 70 (IPv6). */
  mtu?: number;
  /**
   * Inner families of a single-family node's device: default the underlay's own family (flannel). [4, 6] on an
   * IPv6 underlay is the lab's one-device-for-both node (see the top of this file).
   */
  inner?: readonly Family[];
  remotes?: readonly KernelVxlanRemote[];
  /**
   * Remote checksum offload both ways (`udpcsum remcsumtx remcsumrx`; flannel never sets it): the device sends its
   * partial inner checksums with RCO and accepts datagrams that carry it (README "Remote checksum offload").
   */
  remoteChecksum?: boolean;
}

/**
 * A programmed kernel node: its device (the IPv4 one on a dual underlay) and MAC, and on a dual underlay the IPv6
 * device and its MAC too.
 */
export interface KernelVxlanNode {
  device: string;
  vtepMAC: string;
  deviceV6?: string;
  vtepMACv6?: string;
}

/** The deterministic, locally administered VTEP MAC used for lab node i: 0a:00:00:00:II:01 (II = i in hex). */
export function labVtepMAC(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 255) throw new RangeError(`labVtepMAC: node index ${i} out of range`);
  return `0a:00:00:00:${i.toString(16).padStart(2, '0')}:01`;
}

/** The network address of an IPv4 CIDR ("10.244.2.0/24" → "10.244.2.0"), which flannel uses as the gateway. */
/** The IPv6 device's MAC of a dual-stack lab node i (flannel gives each device its own): 0a:00:00:00:II:06. */
export function labVtepMACv6(i: number): string {
  return labVtepMAC(i).replace(/:01$/, ':06');
}

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
 * In node namespace i: creates the VXLAN devices as flannel does (per device `ip link add NAME type vxlan id VNI local
 * <underlay IP of its family> dev eth0 dstport PORT nolearning`, fixed MAC, MTU − 50 or − 70, the own subnet's network
 * address of each inner family it carries (/32, /128), up) and adds every remote (permanent neighbours, FDB entry,
 * onlink routes).
 */
export async function programKernelVxlanNode(
  lab: Lab,
  i: number,
  opts: KernelVxlanOptions = {},
): Promise<KernelVxlanNode> {
  const ns = lab.nodeNs(i);
  const vni = opts.vni ?? 1;
  const port = opts.port ?? 8472;
  const devices = kernelDevicePlan({
    vni,
    underlay: lab.underlay,
    underlayMTU: lab.underlayMTU,
    vtepMAC: opts.vtepMAC ?? labVtepMAC(i),
    vtepMACv6: opts.vtepMACv6 ?? labVtepMACv6(i),
    ...(opts.inner ? { inner: opts.inner } : {}),
    ...(opts.device !== undefined ? { device: opts.device } : {}),
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
  });
  const rco = opts.remoteChecksum === true ? ['udpcsum', 'remcsumtx', 'remcsumrx'] : [];
  for (const d of devices) await addDevice(lab, i, d, vni, port, rco);
  for (const r of opts.remotes ?? []) await programRemote(lab, i, r, devices, 'add');
  lab.logger.info('kernel vxlan node programmed', {
    ns,
    devices: devices.map((d) => `${d.name} (${d.vtepMAC}, inner ${d.inner.join('+')})`).join(', '),
    vni,
    port,
    remotes: opts.remotes?.length ?? 0,
  });
  const [first, v6] = devices;
  return {
    device: first!.name,
    vtepMAC: first!.vtepMAC,
    ...(v6 ? { deviceV6: v6.name, vtepMACv6: v6.vtepMAC } : {}),
  };
}

async function addDevice(
  lab: Lab,
  i: number,
  d: KernelVxlanDevice,
  vni: number,
  port: number,
  extra: readonly string[],
): Promise<void> {
  const ns = lab.nodeNs(i);
  const local = lab.underlayIP(i, d.family);
  const args = ['type', 'vxlan', 'id', String(vni), 'local', local, 'dev', 'eth0', 'dstport', String(port)];
  await lab.ip(ns, ['link', 'add', d.name, ...args, 'nolearning', ...extra]);
  await lab.ip(ns, ['link', 'set', d.name, 'address', d.vtepMAC, 'mtu', String(d.mtu)]);
  if (d.inner.includes(4))
    await lab.ip(ns, ['addr', 'add', `${cidrNetworkAddress(lab.podCIDR(i, 4))}/32`, 'dev', d.name]);
  if (d.inner.includes(6)) {
    await lab.ip(ns, ['-6', 'addr', 'add', `${subnetNetworkAddress(lab.podCIDR(i, 6))}/128`, 'dev', d.name, 'nodad']);
  }
  await lab.ip(ns, ['link', 'set', d.name, 'up']);
}

/**
 * The devices remotes are programmed on: a dual-stack node's two, or one device named `where` whose underlay family
 * is the remote's publicIP's and which carries `inner` (default that family).
 */
function routingDevices(
  where: string | KernelVxlanNode,
  r: KernelVxlanRemote,
  inner?: readonly Family[],
): RoutingDevice[] {
  if (typeof where !== 'string' && where.deviceV6 !== undefined) {
    return [
      { name: where.device, family: 4, inner: [4] },
      { name: where.deviceV6, family: 6, inner: [6] },
    ];
  }
  const family = familyOf(r.publicIP);
  if (!family) throw new Error(`kernel vxlan remote: publicIP ${JSON.stringify(r.publicIP)} is not an address`);
  return [{ name: typeof where === 'string' ? where : where.device, family, inner: inner ?? [family] }];
}

async function programRemote(
  lab: Lab,
  i: number,
  r: KernelVxlanRemote,
  devices: readonly RoutingDevice[],
  op: 'add' | 'del',
): Promise<void> {
  const ns = lab.nodeNs(i);
  const plan = remotePlan(devices, r);
  const fam = (f: Family) => (f === 6 ? ['-6'] : []);
  if (op === 'add') {
    // flannel's order: neighbour, FDB entry, then the route (which would otherwise make the kernel resolve the gateway).
    for (const n of plan.neighbours) {
      await lab.ip(ns, [...fam(n.family), 'neigh', 'add', n.ip, 'lladdr', n.mac, 'dev', n.device, 'nud', 'permanent']);
    }
    for (const f of plan.fdb) await lab.exec(ns, 'bridge', ['fdb', 'add', f.mac, 'dev', f.device, 'dst', f.dst]);
    for (const x of plan.routes) {
      await lab.ip(ns, [...fam(x.family), 'route', 'add', x.cidr, 'via', x.gw, 'dev', x.device, 'onlink']);
    }
    return;
  }
  for (const x of plan.routes) {
    await lab.ip(ns, [...fam(x.family), 'route', 'del', x.cidr, 'via', x.gw, 'dev', x.device, 'onlink']);
  }
  for (const f of plan.fdb) await lab.exec(ns, 'bridge', ['fdb', 'del', f.mac, 'dev', f.device, 'dst', f.dst]);
  for (const n of plan.neighbours) await lab.ip(ns, [...fam(n.family), 'neigh', 'del', n.ip, 'dev', n.device]);
}

/**
 * Adds one remote to a kernel VXLAN node, exactly as flannel does when a Node appears. `where` is the node (a
 * dual-stack node: both devices) or a device name; a single device carries `inner` (default its underlay family).
 */
export async function addKernelVxlanRemote(
  lab: Lab,
  i: number,
  r: KernelVxlanRemote,
  where: string | KernelVxlanNode = 'flannel.1',
  inner?: readonly Family[],
): Promise<void> {
  await programRemote(lab, i, r, routingDevices(where, r, inner), 'add');
}

/** Removes one remote again (route, FDB entry, neighbour), as flannel does when a Node goes away. */
export async function removeKernelVxlanRemote(
  lab: Lab,
  i: number,
  r: KernelVxlanRemote,
  where: string | KernelVxlanNode = 'flannel.1',
  inner?: readonly Family[],
): Promise<void> {
  await programRemote(lab, i, r, routingDevices(where, r, inner), 'del');
}

/**
 * The remote entry for lab node j as the other kernel nodes know it: both its pod subnets (each node routes the
 * inner families it carries), its underlay address (IPv4 on a dual underlay) with `vtepMAC`, and on a dual underlay
 * its IPv6 address with `vtepMACv6` (a kernel node's second MAC by default; pass vtepMAC for a vxtun node, which
 * has one MAC for both).
 */
export function labKernelRemote(
  lab: Lab,
  j: number,
  vtepMAC = labVtepMAC(j),
  vtepMACv6 = labVtepMACv6(j),
): KernelVxlanRemote {
  return {
    podCIDR: lab.podCIDR(j, 4),
    ipv6PodCIDR: lab.podCIDR(j, 6),
    publicIP: lab.underlayIP(j),
    vtepMAC,
    ...(lab.underlay === 'dual' ? { publicIPv6: lab.underlayIP(j, 6), vtepMACv6 } : {}),
  };
}

/** Programs nodes 1…n of the lab as kernel VXLAN nodes that all know each other (a full flannel mesh). */
export async function programKernelVxlanMesh(
  lab: Lab,
  nodes: readonly number[] = Array.from({ length: lab.nodes }, (_, k) => k + 1),
  opts: Omit<KernelVxlanOptions, 'remotes' | 'vtepMAC' | 'vtepMACv6'> = {},
): Promise<Map<number, KernelVxlanNode>> {
  const out = new Map<number, KernelVxlanNode>();
  for (const i of nodes) {
    const remotes = nodes.filter((j) => j !== i).map((j) => labKernelRemote(lab, j));
    out.set(i, await programKernelVxlanNode(lab, i, { ...opts, remotes }));
  }
  return out;
}
