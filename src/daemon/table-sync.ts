// What the dataplane's forwarding table is made of, and how a peer snapshot reaches it: a whole table
// (setTable) at start and after large changes, otherwise only the changed peers (the incremental
// verbs, updatePeers; README "How it works", forwarding table). At 5,000 nodes a whole table costs the
// addon 12–21 ms to read and build; one changed peer costs it well under a millisecond.
// planTableUpdate is the pure plan; tableSync applies each snapshot by it and says when the node is ready. A peer
// with no endpoint of a family this node's underlay has is left out of the table (sharesFamily), and logged once.
import type { Dataplane, DataplanePeer, DataplaneTable } from '../dataplane/types.js';
import type { Logger } from '../log.js';
import { peerView } from '../admin/status.js';
import { diffPeers, type PeerDiff } from '../peers/diff.js';
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
    // A dual-stack peer's second endpoint only when it has one: the entries of others stay as they were.
    if (p.publicIPv6 !== undefined && p.vtepMACv6 !== undefined) {
      e.publicIPv6 = p.publicIPv6.text;
      e.vtepMACv6 = p.vtepMACv6;
    }
    if (p.remoteChecksum === true) e.remoteChecksum = true;
    tablePeers.set(p, e);
  }
  return e;
}

/** Whether the peer has an endpoint (publicIP, publicIPv6) of one of this node's underlay families. */
export function sharesFamily(p: Peer, families: readonly (4 | 6)[]): boolean {
  return families.includes(p.publicIP.family) || (p.publicIPv6 !== undefined && families.includes(6));
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

/** Above this many changes in one snapshot, peers are logged as one summary line (per peer at debug level). */
const PEER_LOG_LIMIT = 20;

/** The peer source's snapshots applied to a dataplane; `ready` once the first one is in the table. */
export interface TableSync {
  /** The last snapshot applied (ourselves included), without the peers of no family of ours. */
  readonly peers: readonly Peer[];
  /** Peers of the last snapshot left out because they have no endpoint of a family this node's underlay has. */
  readonly unreachable: number;
  readonly ready: boolean;
  /** Plans and programs one snapshot; a failure is logged and keeps the previous table (the next plan is whole). */
  apply(snapshot: Peer[]): void;
  /** Not ready any more: the node is stopping. */
  stopping(): void;
}

export interface TableSyncOptions {
  dp: Pick<Dataplane, 'setTable' | 'updatePeers'>;
  /** Our node name: never in the table. */
  self: string;
  localCIDRs: readonly string[];
  /** This node's underlay families (both when dual-stack); absent: every peer goes into the table. */
  families?: readonly (4 | 6)[];
  logger: Logger;
  /** Called once, after the first snapshot is programmed. */
  onReady: () => void;
}

export function tableSync(o: TableSyncOptions): TableSync {
  const { dp, logger } = o;
  let peers: Peer[] = [];
  let programmed = false; // the dataplane holds the table of `peers`
  let ready = false;
  /** Peers left out for want of a shared family, each logged once (again after it was reachable or gone). */
  let unreachable = new Set<string>();
  const others = (list: Peer[]) => list.filter((p) => p.name !== o.self);
  /** The snapshot without the peers we cannot reach, which are logged when they first are. */
  const reachable = (snapshot: Peer[]): Peer[] => {
    const families = o.families;
    if (families === undefined) return snapshot;
    const out: Peer[] = [];
    const now = new Set<string>();
    for (const p of snapshot) {
      if (p.name === o.self || sharesFamily(p, families)) {
        out.push(p);
        continue;
      }
      now.add(p.name);
      if (!unreachable.has(p.name)) {
        const has = p.publicIPv6 ? `${p.publicIP.text}, ${p.publicIPv6.text}` : p.publicIP.text;
        logger.warn('peer skipped: no underlay family in common', {
          name: p.name,
          publicIP: has,
          ours: families.map((f) => `IPv${f}`).join('+'),
        });
      }
    }
    unreachable = now;
    return out.length === snapshot.length ? snapshot : out;
  };
  return {
    get peers() {
      return peers;
    },
    get unreachable() {
      return unreachable.size;
    },
    get ready() {
      return ready;
    },
    stopping() {
      ready = false;
    },
    apply(all) {
      try {
        const snapshot = reachable(all);
        const t0 = performance.now();
        const d = diffPeers(peers, snapshot);
        const incremental = typeof dp.updatePeers === 'function';
        const plan = planTableUpdate({
          self: o.self,
          programmed,
          incremental,
          diff: d,
          next: snapshot,
          localCIDRs: o.localCIDRs,
        });
        const t1 = performance.now();
        programmed = false; // until the dataplane has taken it (a throw keeps the previous table, and the next plan is whole)
        if (plan.kind === 'full') dp.setTable(plan.table);
        else if (plan.kind === 'delta') dp.updatePeers!(plan.upsert, plan.remove);
        programmed = true;
        const t2 = performance.now();
        peers = snapshot;
        const size =
          plan.kind === 'full'
            ? { peers: plan.table.peers.length }
            : plan.kind === 'delta'
              ? { upsert: plan.upsert.length, remove: plan.remove.length }
              : {};
        logger.debug('table programmed', {
          how: plan.kind,
          ...size,
          planMs: +(t1 - t0).toFixed(2),
          addonMs: +(t2 - t1).toFixed(2),
        });
        logPeerChanges(logger, { ...d, added: others(d.added), updated: others(d.updated) });
        if (!ready) {
          ready = true;
          logger.info('ready', { peers: others(peers).length });
          o.onReady();
        }
      } catch (err) {
        logger.error('could not apply a peer snapshot; keeping the previous table', { error: (err as Error).message });
      }
    },
  };
}

/** Each change at info level, or past PEER_LOG_LIMIT changes one summary line (and each change at debug level). */
function logPeerChanges(logger: Logger, d: PeerDiff): void {
  const few = d.added.length + d.updated.length + d.removed.length <= PEER_LOG_LIMIT;
  const each = (msg: string, fields: Record<string, unknown>) =>
    few ? logger.info(msg, fields) : logger.debug(msg, fields);
  for (const p of d.added) each('peer added', peerView(p));
  for (const p of d.updated) each('peer updated', peerView(p));
  for (const p of d.removed) each('peer removed', { name: p.name });
  if (!few)
    logger.info('peers changed', { added: d.added.length, updated: d.updated.length, removed: d.removed.length });
}
