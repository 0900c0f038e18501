// The etcd peer source (README "etcd mode"): flannel's layout under `prefix` — the network in `<prefix>/config`, one
// lease per node under `<prefix>/subnets/`. local() reads the config and acquires our subnet (src/peers/etcd-subnets.ts);
// run() publishes our lease, renews it before it expires, and lists + watches the others into snapshots, relisting
// after any watch error; while etcd is away the last snapshot stands.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';
import type { Logger } from '../log.js';
import type { FileOverlaySettings } from './etcd-section.js';
import type { EtcdStore } from './etcd-store.js';
import type { PeerSource } from './peer-source.js';

export interface EtcdSourceOptions {
  store: EtcdStore;
  /** `peers.etcd.prefix`. */
  prefix: string;
  /** Our name in snapshots (others are named by their lease's subnet key, e.g. 10.244.1.0-24). */
  nodeName: string;
  /** What the config file set; `<prefix>/config` must agree (ConfigError naming both, e.g. `network`). */
  file: FileOverlaySettings;
  /** The config's vtepMAC: 'auto' reuses the one in our lease, else generates one. */
  vtepMAC: string | 'auto';
  /** Our underlay address(es), as the daemon will bind them (a ConfigError when none can be found). */
  underlay: () => Promise<{ publicIP: IP; publicIPv6?: IP }>;
  /** The subnets of our previous run (subnet.env's FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET), if any. */
  previousSubnets: () => Promise<{ v4?: Cidr; v6?: Cidr } | undefined>;
  logger: Logger;
  /** Lease TTL and renewal margin (flannel: 24 h and 1 h); tests shorten them. */
  ttlSeconds?: number;
  renewMarginSeconds?: number;
  /** Retry delays after an etcd error (relist, renew, local()); tests shorten them. */
  retry?: { initialMs: number; maxMs: number };
  random?: () => number;
}

export function etcdPeerSource(options: EtcdSourceOptions): PeerSource {
  void options;
  throw new Error('not implemented yet');
}
