// What every dataplane engine implements, whichever moves the packets: the native engine (the addon's Dataplane,
// src/dataplane/addon.ts) and the js engine (src/dataplane/engine-js.ts). The daemon, the admin server and the
// tests see only these types, so they run on either engine.
import type { CaptureSessionOptions } from '../dump/capture.js';
import { NO_OFFLOADS, type OffloadFlags } from './offloads.js';

export type { OffloadFlags };

/** A remote node as the forwarding table holds it: addresses as text, as the engines parse them. */
export interface DataplanePeer {
  name: string;
  publicIP: string;
  vtepMAC: string;
  /** A dual-stack peer's IPv6 endpoint and its MAC (src/peers/peer.ts): both or neither; publicIP is then IPv4. */
  publicIPv6?: string;
  vtepMACv6?: string;
  cidrs: string[];
  /** The peer accepts remote checksum offload (src/peers/peer.ts); absent: it does not. */
  remoteChecksum?: boolean;
}

/** The forwarding table handed to a dataplane: remote peers and the local node's pod CIDRs. */
export interface DataplaneTable {
  local: string[];
  peers: DataplanePeer[];
}

/** The receive checks' settings (README "Receive-side rules"). */
export interface DataplanePolicy {
  vni: number;
  vtepMAC: string;
  acceptUnknownVteps: boolean;
  checkInnerSource: boolean;
  /**
   * Remote checksum offload (README "Remote checksum offload"): accept it on receive, send it to the peers that
   * accept it. Absent: off. The native engine only (the js engine refuses true).
   */
  remoteChecksum?: boolean;
}

export interface DataplaneOptions extends DataplanePolicy {
  device: string;
  workers: number;
  port: number;
  /** This node's underlay address, either family; IPv4 when bindIPv6 is set. */
  bindIP: string;
  /**
   * A dual-stack node's IPv6 underlay address: receive and transmit sockets of both families. A packet goes to the
   * peer's endpoint of its own inner family when both ends have that family, else to an endpoint of a family both
   * ends have; a peer with none is counted in txErrors.
   */
  bindIPv6?: string;
  /** The TUN device's MTU; received TCP packets larger than this are segmented. */
  mtu: number;
  /**
   * Take over a running dataplane's fds (README "Upgrades and restarts") instead of creating the device and
   * binding sockets: `fds` in the order of `DataplaneHandover.exportFds` for these options' workers and families.
   * The native engine only. The dataplane owns them from the call on (closes them on close, and all of them when
   * the constructor throws). Each is checked before use: a TUN queue of `device`, receive sockets bound to
   * bindIP/bindIPv6 and `port`, transmit sockets bound to the same address; a mismatch throws a DataplaneError.
   * start() then uses `offloads` as they are (the device and sockets already have them), probing nothing.
   */
  adopt?: { fds: number[]; offloads: OffloadFlags };
}

/**
 * The native engine's handover verbs (README "Upgrades and restarts"; src/handover/ drives them). Fd order:
 * the TUN queues (one per worker), then per family (bindIP's, then bindIPv6's when set): the receive sockets (one
 * per worker), then the transmit sockets (TX_SOCKETS_PER_WORKER per worker, worker-major).
 */
export interface DataplaneHandover {
  /** This dataplane's fds, in the order above (still owned by it: the caller sends copies, never closes them). */
  exportFds(): number[];
  /**
   * Stops the loops and joins their threads; every batch already read is finished first, so nothing read is lost.
   * Packets arriving meanwhile wait in the TUN queues and socket buffers. Idempotent; no-op before start.
   */
  pause(): void;
  /** Starts the loops again after pause(), with the same offloads and table. No-op when running. */
  resume(): void;
  /**
   * An adopted dataplane's TUN queues are this process's alone (the predecessor released them and can no longer
   * resume on them): its transmit loops may wait in their reads from now on (native/engine/dataplane.h: a handover
   * passes the queues non-blocking, as every vxtun version expects). A fresh dataplane's are from the start.
   */
  queuesOwned(): void;
}

/** Transmit sockets per worker and family (native/engine/dataplane.h txSocketsPerWorker's default). */
export const TX_SOCKETS_PER_WORKER = 4;

/** Packets dropped, per drop reason (the addon's `dropReasons`). */
export type DropCounts = Record<string, number>;

export interface DataplaneStats {
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  /** Received packets whose partial inner TCP/UDP checksum was completed (native/core/checksum.h). */
  rxCsumCompleted: number;
  /** Received TCP super-packets larger than the MTU that were segmented (native/core/segment.h). */
  rxSuperSplit: number;
  /** Received packets merged into another packet's GSO write to the TUN. */
  rxCoalesced: number;
  /** TSO super-packets read from the TUN and split into datagrams. */
  txTsoSplit: number;
  /** Datagrams sent with their inner checksum left to the peer (remote checksum offload). */
  txRemoteChecksum: number;
  /** Received packets written with their inner checksum left partial (remote checksum offload), not summed. */
  rxRemoteChecksum: number;
  /** Datagrams the kernel dropped at the receive sockets (buffer full) before vxtun read them (native engine only). */
  rxSocketDrops?: number;
  /** The offloads in use now (UDP GSO can turn itself off after a failed send). */
  offloads: OffloadFlags;
  txDrops: DropCounts;
  rxDrops: DropCounts;
  /** Capture records lost because a capture ring was full, all captures since start (native engine only). */
  captureDropped?: number;
  /** Packets that passed a capture's filter, all captures since start (native engine only). */
  captureMatched?: number;
  /** Captures running now (native engine only). */
  captureSessions?: number;
}

export interface Dataplane {
  readonly workers: number;
  /**
   * Probes the wanted offloads, starts the worker threads with those that work, and returns them.
   * Call after the device is up. onFatal is called (on the JS thread) if a loop dies.
   */
  start(onFatal: (message: string) => void, want: OffloadFlags): OffloadFlags;
  /** Publishes a new table atomically; lookups never wait. */
  setTable(table: DataplaneTable): void;
  /**
   * The incremental verbs: the current table without the peers named in `remove` and with `upsert` in place of (or
   * added to) the peers of the same names. Throws (table unchanged) when the result would be invalid, like setTable.
   * Optional: a dataplane without it gets whole tables.
   */
  updatePeers?(upsert: DataplanePeer[], remove: string[]): void;
  stats(): DataplaneStats;
  /** Stops and joins the threads, closes the sockets and the device. Idempotent. */
  close(): void;
  /**
   * Packet capture (native engine only; src/dump/capture.ts drives it). Each session filters in the loops, keeps matching
   * packets in its own bounded rings and is drained as ready pcapng packet blocks (native/engine/capture.h).
   */
  captureStart?(o: CaptureSessionOptions): number;
  captureStop?(id: number): boolean;
  /** Writes whole pcapng packet blocks into `into` (reused by the caller) and says how many bytes and packets. */
  captureRead?(id: number, into: Uint8Array, maxRecords: number): { bytes: number; records: number };
  captureStats?(id: number): { matched: number; dropped: number } | null;
}

/** A dataplane's stats before it has moved anything: every counter zero, every drop reason in `reasons` at zero. */
export function zeroStats(reasons: readonly string[]): DataplaneStats {
  const zero = () => Object.fromEntries(reasons.map((r) => [r, 0])) as DropCounts;
  return {
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxErrors: 0,
    rxCsumCompleted: 0,
    rxSuperSplit: 0,
    rxCoalesced: 0,
    txTsoSplit: 0,
    txRemoteChecksum: 0,
    rxRemoteChecksum: 0,
    txDrops: zero(),
    rxDrops: zero(),
    offloads: NO_OFFLOADS,
  };
}
