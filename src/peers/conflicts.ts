// Peers that cannot share one forwarding table: two nodes claiming the same pod CIDR or the same public IP (the
// addon refuses such a table as a whole), or a node claiming one of our own pod CIDRs. One such node must not
// take the whole overlay down, so the later claimant is left out, deterministically: the local node first, then
// the peers that were programmed before (a newcomer never evicts a working peer), then the older node (by
// creation time), then by name.
//
// This runs on every change in a 5,000-node cluster, so it is linear in the common case: only peers that share a
// claim with another peer (normally none) go through the ordered pass. Claim strings are cached per Peer object
// (sources reuse the object of an unchanged node).
import type { Cidr } from '../net/cidr.js';
import type { Peer } from './peer-source.js';

export interface Conflict {
  peer: string;
  /** The node that keeps the contested value. */
  holder: string;
  what: string;
}

export interface ResolvedPeers {
  /** The peers that go into the table, in candidate order (contested winners last). */
  peers: Peer[];
  /** Sorted by peer name. */
  conflicts: Conflict[];
}

export interface ConflictOptions {
  self: string;
  /** Our own pod CIDRs (known before our own node is a peer). */
  selfCIDRs?: readonly Cidr[];
  /** Whether a peer was in the previous table (asked only when there is a contest). */
  programmed?: (name: string) => boolean;
  /** Creation time of each node, ms since the epoch (missing: newest). */
  created?: ReadonlyMap<string, number>;
  /**
   * How many candidates hold each claim (see claims()), when the caller keeps that count up to date as peers come
   * and go; else it is counted here.
   */
  claimCount?: ReadonlyMap<string, number>;
}

const claimCache = new WeakMap<Peer, string[]>();

/** What a peer claims: "public IP 10.0.0.1", "pod CIDR 10.244.1.0/24"… (also a conflict's `what`). Cached. */
export function claims(p: Peer): readonly string[] {
  let c = claimCache.get(p);
  if (!c) {
    c = [`public IP ${p.publicIP.text}`, ...p.podCIDRs.map((x) => `pod CIDR ${x.toString()}`)];
    claimCache.set(p, c);
  }
  return c;
}

/** Whether two prefixes share an address, without allocating. */
function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.prefixLen, b.prefixLen);
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a.bytes[full] ?? 0) & mask) === ((b.bytes[full] ?? 0) & mask);
}

export function resolveConflicts(candidates: readonly Peer[], o: ConflictOptions): ResolvedPeers {
  const selfCIDRs = o.selfCIDRs ?? candidates.find((p) => p.name === o.self)?.podCIDRs ?? [];
  let count = o.claimCount;
  if (!count) {
    const c = new Map<string, number>();
    for (const p of candidates) for (const k of claims(p)) c.set(k, (c.get(k) ?? 0) + 1);
    count = c;
  }
  const out: ResolvedPeers = { peers: [], conflicts: [] };
  const mineOverlap = (p: Peer): Conflict | undefined => {
    if (p.name === o.self) return undefined;
    const c = p.podCIDRs.find((x) => selfCIDRs.some((s) => overlaps(s, x)));
    return c ? { peer: p.name, holder: o.self, what: `pod CIDR ${c.toString()} (overlaps ours)` } : undefined;
  };
  const contested: Peer[] = [];
  for (const p of candidates) {
    if (claims(p).some((k) => (count.get(k) ?? 0) > 1)) {
      contested.push(p);
      continue;
    }
    const clash = mineOverlap(p);
    if (clash) out.conflicts.push(clash);
    else out.peers.push(p);
  }
  if (contested.length > 0) {
    const rank = (p: Peer): number => (p.name === o.self ? 0 : o.programmed?.(p.name) ? 1 : 2);
    const born = (p: Peer): number => o.created?.get(p.name) ?? Number.MAX_SAFE_INTEGER;
    contested.sort((a, b) => rank(a) - rank(b) || born(a) - born(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const owner = new Map<string, string>();
    for (const p of contested) {
      const taken = claims(p).find((k) => owner.has(k));
      const clash = taken !== undefined ? { peer: p.name, holder: owner.get(taken)!, what: taken } : mineOverlap(p);
      if (clash) {
        out.conflicts.push(clash);
        continue;
      }
      for (const k of claims(p)) owner.set(k, p.name);
      out.peers.push(p);
    }
  }
  out.conflicts.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
  return out;
}
