// The options Lab.create takes, their defaults and their checks. Pure: no namespaces, files or processes here.

import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Lab } from './lab.js';

export type Family = 4 | 6;
/** A lab underlay: one address family, or both on every node link ('dual'). */
export type Underlay = Family | 'dual';

/** The address families an underlay carries, IPv4 first: the first one is the lab's default family. */
export const underlayFamilies = (u: Underlay): readonly Family[] => (u === 'dual' ? [4, 6] : [u]);

export interface LabOptions {
  /** Namespace name prefix; default `vxt` + 6 random hex digits. Letters, digits, `_`, `.`, `-`; at most 24. */
  prefix?: string;
  /** Number of node (and pod) namespaces, 1…250. */
  nodes: number;
  logger?: Logger;
  /**
   * The address family of the underlay (the node links): 4 (default) gives node i's eth0 192.168.99.i/24; 6 gives it
   * fd99::i/64 and no IPv4 address, an IPv6-only underlay; 'dual' gives it both, a dual-stack underlay
   * (lab-addresses.ts holds the plan).
   */
  underlay?: Underlay;
  /** MTU of the underlay links (node eth0 and the bridge ports). Default 1500. */
  underlayMTU?: number;
  /**
   * MTU of the pod veth pair (FLANNEL_MTU in each node's subnet.env). Default underlayMTU − the VXLAN overhead over
   * the underlay family (50 over IPv4, 70 over IPv6 and over a dual underlay, whose inner IPv6 rides IPv6).
   */
  podMTU?: number;
  /**
   * FLANNEL_IPMASQ in each node's subnet.env, and the `ipMasq` startVxtunNode gives the daemon: true means the node
   * masquerades what leaves the cluster network, so the CNI plugin's bridge does not (ipMasq false in its delegate);
   * false makes the bridge masquerade everything that leaves the pod's own subnet. Default true, as the shipped
   * DaemonSet and kube-flannel (`--ip-masq`) run.
   */
  ipMasq?: boolean;
  /**
   * On SIGINT/SIGTERM/SIGHUP remove the lab synchronously, then let the signal take its normal course.
   * Default true. Set false if the program handles those signals itself and calls destroy().
   * (Namespaces are always removed synchronously on process 'exit'.)
   */
  handleSignals?: boolean;
  /** How long destroy() waits for a process after SIGTERM before SIGKILL. Default 3000 ms. */
  stopTimeoutMs?: number;
  /** Extra per-node setup, run after node `i` and its pod are built. A throw aborts create() (and cleans up). */
  setupNode?: (lab: Lab, i: number) => Promise<void>;
}

/** Every option but setupNode, with its default filled in. */
export type ResolvedLabOptions = Required<Omit<LabOptions, 'setupNode'>>;

export const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,23}$/;
export const MAX_NODES = 250;

/** What VXLAN adds to an inner frame over an underlay of this family: outer IP (20 or 40) + UDP 8 + VXLAN 8 + Ethernet 14. */
export const vxlanOverhead = (family: Family): number => (family === 4 ? 50 : 70);

/**
 * Checks the options and fills in the defaults; throws an Error naming the bad option. `randomPrefix` makes the
 * default prefix (passed in so this stays pure).
 */
export function resolveLabOptions(opts: LabOptions, randomPrefix: () => string): ResolvedLabOptions {
  const prefix = opts.prefix ?? randomPrefix();
  if (!PREFIX_RE.test(prefix)) throw new Error(`lab: bad prefix ${JSON.stringify(prefix)} (want ${PREFIX_RE})`);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    throw new Error(`lab: nodes must be an integer 1…${MAX_NODES}, got ${opts.nodes}`);
  }
  if (opts.underlay !== undefined && opts.underlay !== 4 && opts.underlay !== 6 && opts.underlay !== 'dual') {
    throw new Error(`lab: underlay must be 4, 6 or 'dual', got ${String(opts.underlay)}`);
  }
  const underlay = opts.underlay ?? 4;
  const underlayMTU = opts.underlayMTU ?? 1500;
  const podMTU = opts.podMTU ?? underlayMTU - Math.max(...underlayFamilies(underlay).map(vxlanOverhead));
  for (const [k, v] of [
    ['underlayMTU', underlayMTU],
    ['podMTU', podMTU],
  ] as const) {
    if (!Number.isInteger(v) || v < 1280 || v > 65535) throw new Error(`lab: ${k} must be 1280…65535, got ${v}`);
  }
  if (opts.ipMasq !== undefined && typeof opts.ipMasq !== 'boolean') {
    throw new Error(`lab: ipMasq must be true or false, got ${String(opts.ipMasq)}`);
  }
  return {
    prefix,
    nodes: opts.nodes,
    logger: opts.logger ?? silentLogger,
    underlay,
    underlayMTU,
    podMTU,
    ipMasq: opts.ipMasq ?? true,
    handleSignals: opts.handleSignals ?? true,
    stopTimeoutMs: opts.stopTimeoutMs ?? 3000,
  };
}

/**
 * An extra namespace's short name (lab.addPod, lab.addHost): 1–8 lowercase letters/digits starting with a letter,
 * other than `ul` and the standard nodes' n<digits> (and, with `reservePods`, the standard pods' p<digits>).
 */
export function isExtraName(name: string, reservePods: boolean): boolean {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(name) || name === 'ul') return false;
  return !(reservePods ? /^[np]\d+$/ : /^n\d+$/).test(name);
}

/**
 * Lab.sweep's namespace filter: for a prefix, the names `${prefix}` and `${prefix}-…` (a bad prefix throws); for a
 * RegExp, the names it matches.
 */
export function sweepMatcher(prefix: string | RegExp): (ns: string) => boolean {
  if (typeof prefix !== 'string') return (n) => prefix.test(n);
  if (!PREFIX_RE.test(prefix)) throw new Error(`lab sweep: bad prefix ${JSON.stringify(prefix)}`);
  return (n) => n === prefix || n.startsWith(`${prefix}-`);
}
