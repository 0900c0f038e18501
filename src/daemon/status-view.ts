// The node's status document (src/admin/status.ts `Status`, served at /status and read by /metrics and the drop log):
// buildStatus is the pure assembly from what the node settled at start and what it reads now; statusView reads the
// dataplane's and the device's counters for it, and keeps the last ones once the dataplane is closed.
import type { Config } from '../config/index.js';
import { mergeDrops, offloadStates, peerView, type HandoverStatus, type Status } from '../admin/status.js';
import type { DropSnapshot } from '../admin/drop-log.js';
import { OFFLOADS, type OffloadFlags } from '../dataplane/offloads.js';
import type { DataplaneStats } from '../dataplane/types.js';
import type { DeviceStats, DeviceStatsReader } from '../device/device.js';
import type { MasqState } from '../masq/index.js';
import { formatHostPort } from '../net/host-port.js';
import type { Peer, SourceState } from '../peers/peer-source.js';
import { VERSION } from '../version.js';
import type { Vtep } from './underlay.js';

/** What does not change while the node runs. */
export interface NodeFacts {
  config: Config;
  vtep: Vtep;
  /** Our pod CIDRs as text. */
  podCIDRs: readonly string[];
  workers: number;
  /** The addon's drop reasons: every one is in `counters.drops`. */
  dropReasons: readonly string[];
}

/** What is read for each document. */
export interface NodeNow {
  stats: DataplaneStats;
  /** The device's kernel counters; absent when they cannot be read. */
  device: DeviceStats | undefined;
  /** The last snapshot programmed, ourselves included. */
  peers: readonly Peer[];
  /** Peers the table left out for want of an underlay family in common (table-sync.ts). */
  unreachable?: number;
  ready: boolean;
  /** Absent until masquerading is set up. */
  masq: MasqState | undefined;
  source: { kind: string; state: SourceState };
  /** The predecessor this process took over from; absent or null: it created the device. */
  handover?: HandoverFacts | null;
  /** DirectRouting's routes now (absent: off); `peers` are those with one installed. */
  direct?: DirectNow;
}

export interface DirectNow {
  routes: number;
  peers: ReadonlySet<string>;
}

export function buildStatus(f: NodeFacts, n: NodeNow): Status {
  const { config } = f;
  const s = n.stats;
  return {
    node: config.nodeName,
    device: config.device,
    mtu: f.vtep.mtu,
    vni: config.vni,
    port: config.port,
    publicIP: f.vtep.underlay.publicIP,
    ...(f.vtep.underlay.v6 ? { publicIPv6: f.vtep.underlay.v6.publicIP } : {}),
    vtepMAC: f.vtep.vtepMAC,
    podCIDRs: [...f.podCIDRs],
    engine: config.dataplane.engine,
    workers: f.workers,
    offloads: offloadStates(s.offloads),
    peers: n.peers
      .filter((p) => p.name !== config.nodeName)
      .map((p) => (n.direct?.peers.has(p.name) ? { ...peerView(p), direct: true as const } : peerView(p))),
    counters: {
      txPackets: s.txPackets,
      txBytes: s.txBytes,
      rxPackets: s.rxPackets,
      rxBytes: s.rxBytes,
      txErrors: s.txErrors,
      rxErrors: s.rxErrors,
      drops: mergeDrops(f.dropReasons, s),
      offload: {
        tsoSplit: s.txTsoSplit,
        coalesced: s.rxCoalesced,
        csumCompleted: s.rxCsumCompleted,
        superSplit: s.rxSuperSplit,
        remoteChecksumSent: s.txRemoteChecksum,
        remoteChecksumReceived: s.rxRemoteChecksum,
      },
      ...(n.device ? { queueDrops: n.device.txDropped } : {}),
      ...(s.rxSocketDrops !== undefined ? { socketDrops: s.rxSocketDrops } : {}),
    },
    ready: n.ready,
    version: VERSION,
    ipMasq: n.masq ?? { enabled: config.ipMasq, backend: null },
    // Peers of no underlay family of ours are known to the source but not in the table: skipped as well.
    controlPlane: {
      source: n.source.kind,
      ...n.source.state,
      skipped: n.source.state.skipped + (n.unreachable ?? 0),
    },
    ...(s.captureMatched !== undefined
      ? { capture: { sessions: s.captureSessions ?? 0, packets: s.captureMatched, dropped: s.captureDropped ?? 0 } }
      : {}),
    pid: process.pid,
    handover: n.handover ?? null,
    directRouting: { enabled: config.dataplane.directRouting, routes: n.direct?.routes ?? 0 },
  };
}

export interface StatusView {
  status(): Status;
  /** The dataplane's counters now (the last ones after close()). */
  stats(): DataplaneStats;
  /** The drop counters, for the drop log. */
  drops(): DropSnapshot;
  /** Reads the dataplane's counters one last time, before it closes; from now on they and the device's are kept. */
  close(): DataplaneStats;
}

export interface StatusViewOptions {
  facts: NodeFacts;
  dp: { stats(): DataplaneStats };
  /** The device's kernel counters (default in the daemon: /proc/net/dev). */
  readDevice: DeviceStatsReader;
  sync: { readonly peers: readonly Peer[]; readonly ready: boolean; readonly unreachable?: number };
  source: { readonly kind: string; state(): SourceState };
  masq: () => MasqState | undefined;
  /** The predecessor this process took over from (null: it created the device). */
  handover?: () => HandoverFacts | null;
  /** DirectRouting's routes (absent: off). */
  direct?: () => DirectNow;
}

export type HandoverFacts = HandoverStatus;

export function statusView(o: StatusViewOptions): StatusView {
  const device = o.facts.config.device;
  let closed = false;
  let lastStats = o.dp.stats();
  let lastDevice: DeviceStats | undefined;
  const stats = () => (closed ? lastStats : (lastStats = o.dp.stats()));
  const deviceStats = () => (closed ? lastDevice : (lastDevice = o.readDevice(device) ?? lastDevice));
  return {
    stats,
    status: () =>
      buildStatus(o.facts, {
        stats: stats(),
        device: deviceStats(),
        peers: o.sync.peers,
        unreachable: o.sync.unreachable ?? 0,
        ready: o.sync.ready,
        masq: o.masq(),
        source: { kind: o.source.kind, state: o.source.state() },
        handover: o.handover?.() ?? null,
        direct: o.direct?.(),
      }),
    drops() {
      const s = stats();
      return { rx: s.rxDrops, tx: s.txDrops };
    },
    close() {
      lastStats = o.dp.stats();
      closed = true;
      return lastStats;
    },
  };
}

/** The fields of the "dataplane up" log line. */
export function upLogFields(
  f: NodeFacts,
  offloads: OffloadFlags,
  admin: { address?: string; socketAddress?: string },
): Record<string, unknown> {
  return {
    device: f.config.device,
    mtu: f.vtep.mtu,
    bind: formatHostPort({ host: f.vtep.underlay.bind.address, port: f.config.port }),
    publicIP: f.vtep.underlay.publicIP,
    ...(f.vtep.underlay.v6
      ? {
          bindIPv6: formatHostPort({ host: f.vtep.underlay.v6.bind.address, port: f.config.port }),
          publicIPv6: f.vtep.underlay.v6.publicIP,
        }
      : {}),
    vtepMAC: f.vtep.vtepMAC,
    workers: f.workers,
    offloads: OFFLOADS.filter((k) => offloads[k]).join(',') || 'none',
    admin: admin.address ?? 'off',
    adminSocket: admin.socketAddress ?? 'off',
  };
}
