// The `underlay` section: which interface and address the VXLAN socket uses (both optional: the route to the peers
// decides otherwise).
import { mapping } from './readers.js';
import type { Config } from './types.js';
import { ifname, underlayIP } from './values.js';

export function underlayOf(v: unknown): Config['underlay'] {
  if (v === undefined) return {};
  const m = mapping(v, 'underlay', ['interface', 'publicIP']);
  const out: Config['underlay'] = {};
  if (m.has('interface')) out.interface = ifname(m.get('interface'), 'underlay.interface');
  if (m.has('publicIP')) out.publicIP = underlayIP(m.get('publicIP'), 'underlay.publicIP');
  return out;
}
