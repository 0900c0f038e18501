// The `dataplane` section: engine, workers, and one mode per offload. The offload keys are src/dataplane/offloads.ts's
// OFFLOADS, so an offload added there is a config key here with nothing else to change.
import { OFFLOAD_MODES, OFFLOADS, perOffload, type OffloadMode } from '../dataplane/offloads.js';
import type { Peer } from '../peers/peer.js';
import { boolean, fail, integer, mapping, oneOf } from './readers.js';
import type { Config } from './types.js';

/** 'auto', 'on' or 'off'; true and false stand for 'on' and 'off'. */
function offloadMode(v: unknown, field: string): OffloadMode {
  if (v === true) return 'on';
  if (v === false) return 'off';
  return oneOf(v, field, OFFLOAD_MODES);
}

/** The section as written; remoteChecksum is undefined when not given (its default depends on peers). */
export type DataplaneSection = Omit<Config['dataplane'], 'remoteChecksum'> & { remoteChecksum: boolean | undefined };

export function dataplaneOf(v: unknown): DataplaneSection {
  const out: DataplaneSection = {
    engine: 'native',
    workers: 'auto',
    offloads: perOffload(() => 'auto'),
    directRouting: false,
    remoteChecksum: undefined,
  };
  if (v === undefined) return out;
  const m = mapping(v, 'dataplane', ['engine', 'workers', 'offloads', 'directRouting', 'remoteChecksum']);
  if (m.has('directRouting')) out.directRouting = boolean(m.get('directRouting'), 'dataplane.directRouting');
  if (m.has('remoteChecksum')) out.remoteChecksum = boolean(m.get('remoteChecksum'), 'dataplane.remoteChecksum');
  if (m.has('engine')) out.engine = oneOf(m.get('engine'), 'dataplane.engine', ['native', 'js'] as const);
  if (m.has('workers')) {
    const w = m.get('workers');
    out.workers = w === 'auto' ? 'auto' : integer(w, 'dataplane.workers', 1, 64, "'auto' or ");
  }
  if (m.has('offloads')) {
    const o = mapping(m.get('offloads'), 'dataplane.offloads', OFFLOADS);
    for (const k of OFFLOADS) if (o.has(k)) out.offloads[k] = offloadMode(o.get(k), `dataplane.offloads.${k}`);
  }
  return out;
}

/**
 * dataplane.remoteChecksum settled against the peers: static mode defaults to this node's entry (the others send
 * it what that entry says it accepts), and refuses `false` when the entry says `true` (they would send datagrams
 * this node drops). Kubernetes and etcd mode default to false and advertise `true` in the node's backend data
 * (README "Remote checksum offload"). The js engine does not implement it: `true` is refused.
 */
export function settleRemoteChecksum(d: DataplaneSection, peers: Config['peers'], self: Peer | undefined): boolean {
  const entry = self?.remoteChecksum === true;
  const on = d.remoteChecksum ?? (peers.kind === 'static' && entry);
  const field = 'dataplane.remoteChecksum';
  if (peers.kind === 'static' && entry && !on) {
    fail(
      field,
      "false, but this node's entry in peers.static says remoteChecksum: true (peers would send it datagrams it drops)",
    );
  }
  if (on && d.engine !== 'native') fail(field, 'needs dataplane.engine native (the js engine does not implement it)');
  return on;
}
