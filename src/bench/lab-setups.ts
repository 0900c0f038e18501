// The two-node testbeds `vxtun bench lab` measures (README "Performance"), each in its own namespaces:
//
//   kernel   two kernel VXLAN nodes programmed as flannel does (the yardstick)
//   native   two vxtun nodes, native engine, offloads auto
//   js       two vxtun nodes, js engine (the portable baseline)
//   plain    plain routing between the nodes, no overlay (the ceiling)
//   direct   two vxtun nodes, native engine, dataplane.directRouting on: the nodes share the underlay subnet, so the
//            pod traffic takes vxtun's direct routes (proto 119, README "DirectRouting"), not the overlay
//   kernel6, native6  kernel and native over an IPv6-only underlay (fd99::/64, LabOptions.underlay 6; outer IPv6,
//            70 bytes of overhead); their ×kernel columns are against kernel6
//   floor    native/bench/floor-relay.c on each node: a TUN + UDP relay that does no per-byte userspace work,
//            checked with a sha256 transfer each way first — the ceiling of any TUN + UDP-socket dataplane on this
//            machine (src/bench/floor-node.ts)
//   floor-iov the same relay gathering its bytes with vxtun's iovec layout: floor ÷ floor-iov is what gathering costs
//   floor-vxlan the same relay sending valid VXLAN (per-segment headers, RCO, nothing else): floor-vxlan ÷ floor is
//            what valid VXLAN costs a TUN + UDP relay, native ÷ floor-vxlan what is left of vxtun's own work
//   capture  the native setup's daemons, measured while `vxtun dump -w /dev/null` runs on node 1
//   …and vxtun variants: a dataplane config section of their own (--variant name=JSON)
import {
  Lab,
  labKernelRemote,
  labPeer,
  labVtepMAC,
  programKernelVxlanNode,
  startVxtunNode,
  type NsProcess,
  type VxtunNode,
} from '../lab/index.js';
import { startFloorNode, stopRelays, verifyFloor } from './floor-node.js';
import { IPV6_SETUPS } from './lab-results.js';

export interface LabSetup {
  name: string;
  lab: Lab;
  daemons: VxtunNode[];
  /** The capture setup: measured while a `vxtun dump` runs (started per measurement). */
  capture?: boolean;
  /** Shares another setup's lab and daemons (capture ↔ native); not torn down twice. */
  shared?: boolean;
  /** The floor setups' relays; their CPU counts as the dataplane's. */
  relays?: NsProcess[];
}

export interface BuildOptions {
  /** The dataplane config section of a vxtun setup (js, direct, a --variant). */
  variant?: Record<string, unknown>;
  /** The compiled floor relay (floor-node.ts buildRelay), for floor, floor-iov and floor-vxlan. */
  relayBinary?: string;
  /** Lines worth keeping (the floor relay's verification). */
  onLine?: (line: string) => void;
  /**
   * The vxtun nodes masquerade (config ipMasq, as the DaemonSet runs). Default false: kernel VXLAN, the floor and
   * plain routing install no masquerading, and vxtun's nft rules put connection tracking on every packet of its
   * nodes, inner and outer — a cost of the node's NAT, not of the dataplane.
   */
  ipMasq?: boolean;
}

/** The processes whose CPU time is the dataplane's: the vxtun daemons or the floor relays. */
export const dataplanePids = (s: LabSetup): number[] => [
  ...s.daemons.map((d) => d.process.pid),
  ...(s.relays ?? []).map((r) => r.pid),
];

/** Builds one setup (capture is built as native); on failure removes what it made and throws. */
export async function buildSetup(setup: string, opts: BuildOptions = {}): Promise<LabSetup> {
  const underlay = IPV6_SETUPS.includes(setup) ? 6 : 4;
  const name = underlay === 6 ? setup.slice(0, -1) : setup;
  const lab = await Lab.create({
    nodes: 2,
    underlay,
    ipMasq: opts.ipMasq ?? false,
    prefix: `vxtb${setup.slice(0, 3)}${underlay === 6 ? '6' : ''}${Math.random().toString(16).slice(2, 5)}`,
  });
  const daemons: VxtunNode[] = [];
  const relays: NsProcess[] = [];
  try {
    if (name === 'kernel') {
      for (const [i, j] of [
        [1, 2],
        [2, 1],
      ] as const) {
        // Over IPv6 the one device carries the measured inner IPv4 too (src/lab/kernel-vxlan.ts `inner`).
        const inner = underlay === 6 ? ([4, 6] as const) : ([4] as const);
        await programKernelVxlanNode(lab, i, { inner, remotes: [labKernelRemote(lab, j, labVtepMAC(j))] });
      }
    } else if (name === 'floor' || name === 'floor-iov' || name === 'floor-vxlan') {
      if (!opts.relayBinary) throw new Error(`the ${name} setup needs the compiled floor relay`);
      const mode = { iovecs: name === 'floor-iov', vxlan: name === 'floor-vxlan' };
      relays.push(await startFloorNode(lab, opts.relayBinary, 1, 2, mode));
      relays.push(await startFloorNode(lab, opts.relayBinary, 2, 1, mode));
      opts.onLine?.(`floor relay verified: ${await verifyFloor(lab, 50 * 1024 * 1024)}`);
      return { name: setup, lab, daemons, relays };
    } else if (name === 'plain') {
      for (const [i, j] of [
        [1, 2],
        [2, 1],
      ] as const) {
        await lab.ip(lab.nodeNs(i), ['route', 'add', lab.podCIDR(j), 'via', lab.underlayIP(j)]);
        await lab
          .ip(lab.nodeNs(i), ['-6', 'route', 'add', lab.podCIDR(j, 6), 'via', `fd00:99::${j}`])
          .catch(() => undefined);
      }
    } else {
      // A variant with remote checksum offload: both entries say they accept it (static mode's advertisement).
      const rco = opts.variant?.['remoteChecksum'] === true ? { remoteChecksum: true } : {};
      const peers = [labPeer(lab, 1), labPeer(lab, 2)].map((p) => ({ ...p, ...rco }));
      for (const i of [1, 2])
        daemons.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: opts.variant ?? {} } }));
      if (opts.variant?.['directRouting'] === true) await directRoutesUp(lab);
    }
  } catch (e) {
    for (const r of relays) await r.stop('SIGKILL', 1_000);
    for (const d of daemons) await d.stop().catch(() => undefined);
    await lab.destroy();
    throw e;
  }
  return { name: setup, lab, daemons };
}

/** Waits until both nodes have their direct route (they follow "ready" by a moment). */
async function directRoutesUp(lab: Lab): Promise<void> {
  const t0 = Date.now();
  for (const i of [1, 2]) {
    while (!/ proto 119\b/.test((await lab.ip(lab.nodeNs(i), ['-4', 'route', 'show'])).stdout)) {
      if (Date.now() - t0 > 30_000) throw new Error(`bench lab direct: node ${i} has no direct route after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Stops a setup's processes and removes its namespaces (not for a shared one); returns the floor relays' counters. */
export async function teardownSetup(s: LabSetup): Promise<string[]> {
  if (s.shared) return [];
  let counters: string[] = [];
  try {
    if (s.relays) counters = await stopRelays(s.relays);
    for (const d of s.daemons) await d.stop();
  } finally {
    await s.lab.destroy();
  }
  return counters;
}
