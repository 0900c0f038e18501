// A node of the overlay as every part of vxtun sees it: the config's static entries, what a peer source reports,
// and the forwarding table's entries are all this one type.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';

export interface Peer {
  /** The node's name (a DNS subdomain). */
  name: string;
  /** The node's pod CIDRs, at most one per family in practice; never empty. */
  podCIDRs: Cidr[];
  /** The node's underlay address: where its VXLAN datagrams go and come from. */
  publicIP: IP;
  /** Its VTEP MAC, lowercase colon form. */
  vtepMAC: string;
}
