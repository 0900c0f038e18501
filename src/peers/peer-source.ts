// The control-plane seam: where peers come from. Implementations: static (config file) and,
// later, kubernetes. A source delivers full snapshots (every node, the local one included);
// diffPeers turns consecutive snapshots into events for logging and the dataplane.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';

export interface Peer {
  name: string;
  podCIDRs: Cidr[];
  publicIP: IP;
  vtepMAC: string;
}

export interface PeerSource {
  readonly kind: string;
  /**
   * Delivers snapshots through onSnapshot until `signal` aborts, then resolves. The first
   * snapshot should come as soon as the source has one; errors that a source can recover from
   * (an API outage) are logged by the source and do not reject: forwarding goes on with the last
   * snapshot. Rejects only for errors that make the source useless.
   */
  run(signal: AbortSignal, onSnapshot: (peers: Peer[]) => void): Promise<void>;
}
