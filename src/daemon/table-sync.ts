// What the addon's forwarding table is made of, and how a peer change reaches it: a whole table
// (setTable) at start and after large changes, otherwise only the changed peers (the incremental
// verbs, updatePeers: design.md "setPeers/upsert/remove"). At 5,000 nodes a whole table costs the
// addon 12–21 ms to read and build; one changed peer costs it well under a millisecond.
import type { DataplanePeer, DataplaneTable } from '../dataplane/types.js';
import type { PeerDiff } from '../peers/diff.js';
import type { Peer } from '../peers/peer-source.js';

/** Above this many changed peers the whole table is sent (it is then about as cheap, and one code path). */
export const DELTA_MAX = 256;

export type TablePlan =
  | { kind: 'full'; table: DataplaneTable }
  | { kind: 'delta'; upsert: DataplanePeer[]; remove: string[] }
  | { kind: 'none' };

/** The table the dataplane gets: every peer but ourselves, plus our own pod CIDRs. */
export function buildTable(self: string, peers: readonly Peer[], localCIDRs: readonly string[]): DataplaneTable {
  const out: DataplanePeer[] = [];
  for (const p of peers) if (p.name !== self) out.push(tablePeer(p));
  return { local: [...localCIDRs], peers: out };
}

/** A peer's table entry, made once per Peer object (sources reuse the object of an unchanged node). */
const tablePeers = new WeakMap<Peer, DataplanePeer>();
export function tablePeer(p: Peer): DataplanePeer {
  let e = tablePeers.get(p);
  if (!e) {
    e = { name: p.name, publicIP: p.publicIP.text, vtepMAC: p.vtepMAC, cidrs: p.podCIDRs.map((c) => c.toString()) };
    tablePeers.set(p, e);
  }
  return e;
}

export interface PlanInput {
  self: string;
  /** The addon holds the table of the previous snapshot (false before the first one, or after a failure to apply). */
  programmed: boolean;
  /** The dataplane has the incremental verbs. */
  incremental: boolean;
  /** diffPeers(previous snapshot, next). */
  diff: PeerDiff;
  next: readonly Peer[];
  localCIDRs: readonly string[];
}

export function planTableUpdate(i: PlanInput): TablePlan {
  const others = (ps: Peer[]) => ps.filter((p) => p.name !== i.self);
  const upsert = others([...i.diff.added, ...i.diff.updated]).map(tablePeer);
  const remove = others(i.diff.removed).map((p) => p.name);
  if (i.programmed && upsert.length + remove.length === 0) return { kind: 'none' };
  if (!i.programmed || !i.incremental || upsert.length + remove.length > DELTA_MAX) {
    return { kind: 'full', table: buildTable(i.self, i.next, i.localCIDRs) };
  }
  return { kind: 'delta', upsert, remove };
}
