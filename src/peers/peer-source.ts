// The control-plane seam: where peers come from. Implementations: static (config file), kubernetes (Node objects)
// and etcd (flannel's subnet leases). The daemon drives a source in two steps:
//
//   1. local(signal)             → who this node is (pod CIDRs, a VTEP MAC to reuse, its address);
//                                  the device is created only after this resolves.
//   2. run(signal, self, onSnapshot) → tells the overlay about us (`self`), then delivers full
//                                  snapshots until `signal` aborts.
//
// Both calls take the daemon's stop signal; whatever a source opens in local() (a watch) lives
// until that signal aborts. A snapshot holds every node, the local one included; diffPeers turns
// consecutive snapshots into events for logging and the dataplane.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';

import type { Peer } from './peer.js';

export type { Peer };

/** The local node as the source knows it. */
export interface LocalNode {
  /** Our pod CIDRs: the device's addresses and the table's local prefixes. Never empty. */
  podCIDRs: Cidr[];
  /** A VTEP MAC the overlay already knows us by (a static entry; our own annotation after a restart). */
  vtepMAC?: string;
  /**
   * Our underlay address as the source knows it. With `field`, it must be an address of this host (otherwise a
   * ConfigError on that field); without, it is a hint, used only when it is one.
   */
  address?: { ip: IP; field?: string };
  /** A dual-stack node's IPv6 underlay address as the source knows it (then `address`, when set, is IPv4); as `address`. */
  address6?: { ip: IP; field?: string };
  /**
   * The overlay's settings when the source holds them (etcd: `<prefix>/config`), already checked against what the
   * config file set (a ConfigError naming both on a contradiction); they replace the config's values for this run.
   */
  overlay?: OverlaySettings;
}

/** The overlay-wide values a source may own (README "etcd mode"). */
export interface OverlaySettings {
  network: Cidr;
  ipv6Network?: Cidr;
  vni: number;
  port: number;
  mtu: number | 'auto';
  /** Route same-subnet peers directly (flannel's Backend.DirectRouting); or-ed with dataplane.directRouting. */
  directRouting: boolean;
}

/** What the daemon tells the overlay about this node once its device is up. */
export interface Advertisement {
  vni: number;
  vtepMAC: string;
  /** The underlay address the dataplane is bound to (IPv4 when publicIPv6 is set). */
  publicIP: IP;
  /** A dual-stack node's IPv6 underlay address; the one VTEP MAC serves both endpoints. */
  publicIPv6?: IP;
  /** The node accepts remote checksum offload (README "Remote checksum offload"); absent: it does not. */
  remoteChecksum?: boolean;
}

/** The source's view of its backend, for /status (`controlPlane`). */
export interface SourceState {
  /** The backend answered the last request (always true for a static list). */
  connected: boolean;
  /** The last error talking to the backend, until it answers again. */
  lastError?: string;
  /** Nodes the source knows, programmed or not, ourselves included. */
  nodes: number;
  /** Nodes not in the snapshot: malformed, another backend type, conflicting, or not set up yet. */
  skipped: number;
  /** Of those, nodes left out by conflict resolution (src/peers/conflicts.ts), with the reasons. */
  conflicts?: PeerConflict[];
  /** etcd: our subnet lease's key and when it expires unless renewed (ISO 8601). */
  lease?: { key: string; expires: string };
}

/** A node left out of the table because of a conflict (its reason clipped to 200 characters). */
export interface PeerConflict {
  node: string;
  /** The node that keeps the contested value. */
  holder: string;
  reason: string;
}

export interface PeerSource {
  readonly kind: string;
  /**
   * Resolves with the local node once the source knows it (the kubernetes source waits for the Node to have a pod
   * CIDR). Rejects with a ConfigError when the local node cannot be ours (no static entry; a pod CIDR outside the
   * configured network), and when `signal` aborts first.
   */
  local(signal: AbortSignal): Promise<LocalNode>;
  /**
   * Called once, after local(). Publishes `self` where the backend has a place for it (the kubernetes source patches
   * its Node; a static list has nothing to publish), then delivers snapshots through onSnapshot until `signal`
   * aborts, and resolves. The first snapshot comes as soon as the source has a complete one. Errors a source can
   * recover from (an API outage) are logged by the source and do not reject: no snapshot is delivered meanwhile, so
   * forwarding goes on with the last one. Rejects only for errors that make the source useless.
   */
  run(signal: AbortSignal, self: Advertisement, onSnapshot: (peers: Peer[]) => void): Promise<void>;
  /** Cheap; called for every /status request. */
  state(): SourceState;
}

/** The rejection of local()/waits when the daemon's signal aborts. */
export class AbortedError extends Error {
  override name = 'AbortedError';
  constructor() {
    super('stopped');
  }
}
