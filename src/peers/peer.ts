// A node of the overlay as every part of vxtun sees it: the config's static entries, what a peer source reports,
// and the forwarding table's entries are all this one type.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';

export interface Peer {
  /** The node's name (a DNS subdomain). */
  name: string;
  /** The node's pod CIDRs, at most one per family in practice; never empty. */
  podCIDRs: Cidr[];
  /**
   * The node's underlay address: where its VXLAN datagrams go and come from. Either family for a single-family node;
   * IPv4 when publicIPv6 is set (flannel's `public-ip`).
   */
  publicIP: IP;
  /** The VTEP MAC of that endpoint, lowercase colon form (flannel's `backend-data`). */
  vtepMAC: string;
  /**
   * A dual-stack node's second endpoint (flannel's `public-ipv6` and `backend-v6-data`): both or neither; when set,
   * publicIP is IPv4 and this IPv6. Inner IPv4 goes to publicIP and inner IPv6 here, as flannel's `flannel.1` and
   * `flannel-v6.1` do; a sender with only one family's underlay uses the endpoint of its family for both.
   */
  publicIPv6?: IP;
  vtepMACv6?: string;
  /**
   * The node accepts VXLAN remote checksum offload (README "Remote checksum offload"): datagrams whose inner
   * TCP/UDP checksum is left partial. Absent: it does not (a kernel VXLAN or flannel node without `remcsumrx`).
   */
  remoteChecksum?: boolean;
}
