// The validated config (README "Configuration"): its shape, what its defaults depend on, the defaults and the limits.
import type { Offload, OffloadMode } from '../dataplane/offloads.js';
import { Cidr } from '../net/cidr.js';
import type { HostPort } from '../net/host-port.js';
import type { IP } from '../net/ip.js';
import type { EtcdSection, FileOverlaySettings } from '../peers/etcd-section.js';
import type { KubernetesSource } from '../peers/kube-section.js';
import type { Peer } from '../peers/peer.js';

export interface Config {
  nodeName: string;
  /**
   * In etcd mode the daemon settles network, ipv6Network, vni, port and mtu from `<prefix>/config` before it uses
   * them (LocalNode.overlay); until then, network is the file's or UNSETTLED_NETWORK.
   */
  network: Cidr;
  ipv6Network?: Cidr;
  vni: number;
  port: number;
  device: string;
  mtu: number | 'auto';
  /**
   * Lowercase colon form, or 'auto' (reuse the one in our node annotation, else generate). In static mode this is
   * always resolved to the local node's entry in `peers.static`, since that is the MAC the other nodes send to.
   */
  vtepMAC: string | 'auto';
  /** publicIP: either family; IPv4 when publicIPv6 (a dual-stack node's IPv6 address) is set. */
  underlay: { interface?: string; publicIP?: IP; publicIPv6?: IP };
  peers:
    | { kind: 'static'; static: Peer[] }
    | { kind: 'kubernetes'; kubernetes: KubernetesSource }
    | { kind: 'etcd'; etcd: EtcdSection; file: FileOverlaySettings };
  dataplane: {
    engine: 'native' | 'js';
    workers: number | 'auto';
    offloads: Record<Offload, OffloadMode>;
    /** Peers on our underlay subnet get a kernel route via their public IP instead of VXLAN (README "DirectRouting"). */
    directRouting: boolean;
    /**
     * Remote checksum offload (README "Remote checksum offload"): accept it on receive and send it to the peers
     * that accept it. Static mode: defaults to this node's entry's remoteChecksum; the native engine only.
     */
    remoteChecksum: boolean;
  };
  security: { acceptUnknownVteps: boolean; checkInnerSource: boolean };
  admin: {
    /** TCP for /healthz, /readyz, /metrics only; null when "off". `host` is an IPv4/IPv6 literal (no brackets) or "localhost". */
    listen: HostPort | null;
    /** The unix socket that also serves /status and /debug/pcap (mode 0600); null when "off". */
    socket: string | null;
    /** A file that exists while this process forwards (the DaemonSet's readiness probe); null when "off". */
    readyFile: string | null;
  };
  /**
   * The handover (README "Upgrades and restarts"): the unix socket (mode 0600) where this vxtun offers its dataplane
   * to a successor and where a starting vxtun looks for one to take over from (null: neither); after handing over,
   * exit 0, or wait idle for a signal (a Kubernetes container that exits would be restarted).
   */
  handover: { socket: string | null; whenReplaced: 'exit' | 'wait' };
  /** null when off. */
  subnetFile: string | null;
  ipMasq: boolean;
}

/** What the defaults depend on. */
export interface ConfigEnv {
  NODE_NAME?: string;
  hostname: string;
}

export const DEFAULT_VNI = 1;
/** config.network in etcd mode before `<prefix>/config` settles it (never used for anything). */
export const UNSETTLED_NETWORK = new Cidr(new Uint8Array(4), 0);
export const DEFAULT_PORT = 8472;
export const DEFAULT_DEVICE = 'vxtun0';
/**
 * The largest device MTU: a packet plus the 22-byte VXLAN + Ethernet prefix must fit one UDP datagram
 * (65,507 bytes over IPv4). The transmit loop cuts super-packets into datagrams of 22 + MTU bytes at most
 * (native/engine/tx_batch.cc); above this it could fit none.
 */
export const MAX_MTU = 65507 - 22;

/** `mtu: auto`: the underlay's MTU less the encapsulation overhead, capped at MAX_MTU (an underlay of 65,536 bytes, as
 * loopback has, would otherwise give a device MTU whose packets no UDP datagram can carry). */
export function autoMtu(underlayMtu: number, overhead: number): number {
  return Math.min(underlayMtu - overhead, MAX_MTU);
}
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9465';
export const DEFAULT_ADMIN_SOCKET = '/run/vxtun/vxtun.sock';
/** sun_path holds 108 bytes with the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
/** Node names and annotation prefixes: a DNS subdomain's length limit. */
export const MAX_NAME = 253;
