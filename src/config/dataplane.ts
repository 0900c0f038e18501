// The `dataplane` section: engine, workers, and one mode per offload. The offload keys are src/dataplane/offloads.ts's
// OFFLOADS, so an offload added there is a config key here with nothing else to change.
import { OFFLOAD_MODES, OFFLOADS, perOffload, type OffloadMode } from '../dataplane/offloads.js';
import { boolean, integer, mapping, oneOf } from './readers.js';
import type { Config } from './types.js';

/** 'auto', 'on' or 'off'; true and false stand for 'on' and 'off'. */
function offloadMode(v: unknown, field: string): OffloadMode {
  if (v === true) return 'on';
  if (v === false) return 'off';
  return oneOf(v, field, OFFLOAD_MODES);
}

export function dataplaneOf(v: unknown): Config['dataplane'] {
  const out: Config['dataplane'] = {
    engine: 'native',
    workers: 'auto',
    offloads: perOffload(() => 'auto'),
    directRouting: false,
  };
  if (v === undefined) return out;
  const m = mapping(v, 'dataplane', ['engine', 'workers', 'offloads', 'directRouting']);
  if (m.has('directRouting')) out.directRouting = boolean(m.get('directRouting'), 'dataplane.directRouting');
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
