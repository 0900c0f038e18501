// The status document served at GET /status and printed by `vxtun status` (README "Admin API", the /status example).
import { OFFLOADS, perOffload, type Offload, type OffloadFlags } from '../dataplane/offloads.js';
import type { DataplaneStats } from '../dataplane/types.js';
import type { Peer } from '../peers/peer-source.js';

export type OffloadState = 'on' | 'off';

export interface Status {
  node: string;
  device: string;
  mtu: number;
  vni: number;
  port: number;
  publicIP: string;
  /** A dual-stack node's IPv6 underlay address (then publicIP is its IPv4 one); the one vtepMAC serves both. */
  publicIPv6?: string;
  vtepMAC: string;
  podCIDRs: string[];
  engine: 'native' | 'js';
  workers: number;
  /** One entry per offload (src/dataplane/offloads.ts), in OFFLOADS order. */
  offloads: Record<Offload, OffloadState>;
  /**
   * publicIPv6 and vtepMACv6: a dual-stack peer's IPv6 endpoint, absent otherwise. direct: true when a direct route
   * (README "DirectRouting") carries our traffic to at least one of its pod CIDRs, absent otherwise.
   */
  peers: {
    name: string;
    podCIDRs: string[];
    publicIP: string;
    vtepMAC: string;
    publicIPv6?: string;
    vtepMACv6?: string;
    direct?: true;
  }[];
  counters: {
    txPackets: number;
    txBytes: number;
    rxPackets: number;
    rxBytes: number;
    txErrors: number;
    rxErrors: number;
    drops: Record<string, number>;
    /** What the offloads did: TSO super-packets split, packets coalesced into GSO writes, partial
     *  inner checksums completed, oversized received packets segmented, datagrams sent and packets received with
     *  remote checksum offload (README "Remote checksum offload"). */
    offload: {
      tsoSplit: number;
      coalesced: number;
      csumCompleted: number;
      superSplit: number;
      remoteChecksumSent: number;
      remoteChecksumReceived: number;
    };
    /**
     * Packets the kernel routed into the device and dropped before vxtun read them, because the device's transmit
     * queue was full (the kernel's tx_dropped for the device; not a drop reason: vxtun never saw these packets).
     * Absent when the kernel's counters cannot be read.
     */
    queueDrops?: number;
    /**
     * What the kernel dropped at vxtun's receive sockets because their buffers were full (the workers could not
     * keep up, or were stopped), counted as the kernel does (SO_MEMINFO): one per datagram, or per UDP GRO train
     * however many datagrams it held. Never seen by vxtun, so not a drop reason. Absent with the js engine.
     */
    socketDrops?: number;
  };
  ready: boolean;
  version: string;
  /** The peer source and its connection to its backend (absent in daemons before 0.2). */
  controlPlane?: ControlPlaneStatus;
  /** Masquerading (config ipMasq) and the backend holding vxtun's rules (absent in daemons before 0.2). */
  ipMasq?: { enabled: boolean; backend: 'nftables' | 'iptables' | null };
  /** Packet captures (`vxtun dump`); absent with the js engine, which cannot capture. */
  capture?: CaptureStatus;
  /** This daemon's process id (absent in daemons before 0.2). */
  pid?: number;
  /**
   * How this process came to forward (absent in daemons before 0.2): null when it created the device, else the
   * predecessor it took over from (README "Upgrades and restarts") and how long no process read the queues.
   */
  handover?: HandoverStatus | null;
  /** DirectRouting (README "DirectRouting"): whether it is on, and the direct routes installed now. */
  directRouting?: { enabled: boolean; routes: number };
}

export interface HandoverStatus {
  fromPid: number;
  fromVersion: string;
  pausedMs: number;
}

export interface CaptureStatus {
  /** Captures running now. */
  sessions: number;
  /** Packets that passed a capture's filter, all captures since start. */
  packets: number;
  /** Of those, lost because a capture ring was full (a capture not read fast enough). */
  dropped: number;
}

export interface ControlPlaneStatus {
  /** 'static', 'kubernetes' or 'etcd'. */
  source: string;
  /** Whether the backend (the Kubernetes API, etcd) answered the last request; forwarding goes on either way. */
  connected: boolean;
  /** The last error talking to the backend, until it answers again. */
  lastError?: string;
  /** Nodes known to the source, this one included. */
  nodes: number;
  /** Nodes left out of the table: malformed, another backend or VNI, conflicting, or not set up yet. */
  skipped: number;
  /**
   * Of those, the nodes left out by conflict resolution (overlapping pod CIDRs, a shared or unusable public IP, our
   * VTEP MAC; README "Running in a cluster", Conflicts), sorted by node name. Absent when the source reports none.
   */
  conflicts?: { node: string; holder: string; reason: string }[];
  /** etcd: our subnet lease's key and when it expires unless renewed (ISO 8601). */
  lease?: { key: string; expires: string };
}

/** Each offload's state as /status shows it. */
export function offloadStates(flags: OffloadFlags): Status['offloads'] {
  return perOffload((o) => (flags[o] ? 'on' : 'off'));
}

/** Sums transmit and receive drops per reason; every known reason is present, zero or not. */
export function mergeDrops(reasons: readonly string[], s: DataplaneStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reasons) out[r] = (s.txDrops[r] ?? 0) + (s.rxDrops[r] ?? 0);
  return out;
}

export function peerView(p: Peer): Status['peers'][number] {
  return {
    name: p.name,
    podCIDRs: p.podCIDRs.map((c) => c.toString()),
    publicIP: p.publicIP.text,
    vtepMAC: p.vtepMAC,
    ...(p.publicIPv6 && p.vtepMACv6 ? { publicIPv6: p.publicIPv6.text, vtepMACv6: p.vtepMACv6 } : {}),
  };
}

/** Renders a status document for people (`vxtun status` without --json). */
export function formatStatus(s: Status): string {
  const lines = [
    `node ${s.node}  device ${s.device}  mtu ${s.mtu}  vni ${s.vni}  port ${s.port}  ${s.ready ? 'ready' : 'NOT READY'}`,
    `vtep ${s.publicIP}${s.publicIPv6 ? ` ${s.publicIPv6}` : ''} ${s.vtepMAC}  pod CIDRs ${s.podCIDRs.join(', ')}`,
    `engine ${s.engine}  workers ${s.workers}  offloads ${OFFLOADS.map((o) => `${o}=${s.offloads[o]}`).join(' ')}`,
    `peers (${s.peers.length}):`,
  ];
  const w = Math.max(4, ...s.peers.map((p) => p.name.length));
  for (const p of s.peers) {
    const via = p.direct ? '  (direct)' : '';
    lines.push(`  ${p.name.padEnd(w)}  ${p.publicIP.padEnd(15)}  ${p.vtepMAC}  ${p.podCIDRs.join(', ')}${via}`);
    if (p.publicIPv6) lines.push(`  ${''.padEnd(w)}  ${p.publicIPv6.padEnd(15)}  ${p.vtepMACv6 ?? ''}`);
  }
  const c = s.counters;
  lines.push(`tx ${c.txPackets} packets ${c.txBytes} bytes ${c.txErrors} errors`);
  lines.push(`rx ${c.rxPackets} packets ${c.rxBytes} bytes ${c.rxErrors} errors`);
  const drops = Object.entries(c.drops).filter(([, n]) => n > 0);
  const cp = s.controlPlane;
  if (cp) {
    const conn = cp.connected ? 'connected' : `NOT CONNECTED${cp.lastError ? ` (${cp.lastError})` : ''}`;
    const lease = cp.lease ? `, lease ${cp.lease.key} until ${cp.lease.expires}` : '';
    lines.push(`control plane ${cp.source}: ${conn}, ${cp.nodes} nodes, ${cp.skipped} skipped${lease}`);
  }
  if (s.directRouting?.enabled) lines.push(`directRouting on: ${s.directRouting.routes} direct routes`);
  if (s.handover)
    lines.push(
      `took over from pid ${s.handover.fromPid} (vxtun ${s.handover.fromVersion}), queues unread for ${s.handover.pausedMs} ms`,
    );
  if (s.ipMasq) lines.push(`ipMasq ${s.ipMasq.enabled ? `on (${s.ipMasq.backend ?? 'no backend'})` : 'off'}`);
  lines.push(`drops ${drops.length === 0 ? 'none' : drops.map(([r, n]) => `${r}=${n}`).join(' ')}`);
  if (c.socketDrops)
    lines.push(
      `socket drops ${c.socketDrops} (the receive sockets' buffers were full; the kernel dropped these datagrams or UDP GRO trains before vxtun read them)`,
    );
  if (c.queueDrops)
    lines.push(
      `queue drops ${c.queueDrops} (the device's transmit queue was full; the kernel dropped them before vxtun read them)`,
    );
  return lines.join('\n');
}
