// What a watching source (src/peers/kube.ts, src/peers/etcd.ts) does with its candidates before the daemon sees them:
// conflict resolution (src/peers/conflicts.ts, peers of the last delivered snapshot winning against newcomers), each
// conflict reported once (again only when its reason changes), and no snapshot identical to the last one delivered
// (a source keeps the Peer object of an unchanged node, so identity is enough).
import { clip } from '../log.js';
import { describeConflict, resolveConflicts, type ConflictOptions } from './conflicts.js';
import type { Peer, PeerConflict } from './peer-source.js';

export class SnapshotFilter {
  #last: Peer[] = [];
  #conflicted = new Map<string, PeerConflict>();

  /** `reportConflict` is called for a conflict that is new or whose reason changed (its reason clipped). */
  constructor(private readonly reportConflict: (c: PeerConflict) => void) {}

  /** The last snapshot delivered. */
  get last(): readonly Peer[] {
    return this.#last;
  }

  /** The candidates left out by the last next(), by name. */
  get conflicted(): ReadonlyMap<string, PeerConflict> {
    return this.#conflicted;
  }

  /**
   * The snapshot to deliver for these candidates, or undefined when it equals the last one delivered and `force` is
   * false (a source forces the first snapshot after each list).
   */
  next(candidates: readonly Peer[], o: Omit<ConflictOptions, 'programmed'>, force: boolean): Peer[] | undefined {
    let programmed: Set<string> | undefined;
    const { peers, conflicts } = resolveConflicts(candidates, {
      ...o,
      programmed: (n) => (programmed ??= new Set(this.#last.map((p) => p.name))).has(n),
    });
    const conflicted = new Map<string, PeerConflict>();
    for (const c of conflicts) {
      const entry = { node: c.peer, holder: c.holder, reason: clip(describeConflict(c)) };
      conflicted.set(c.peer, entry);
      if (this.#conflicted.get(c.peer)?.reason !== entry.reason) this.reportConflict(entry);
    }
    this.#conflicted = conflicted;
    const last = this.#last;
    if (!force && last.length === peers.length && peers.every((p, i) => p === last[i])) return undefined;
    this.#last = peers;
    return peers;
  }
}
