// The `security` section: the receive checks a kernel VXLAN device does not make (README "Receive-side rules").
import { boolean, mapping } from './readers.js';
import type { Config } from './types.js';

const SWITCHES = ['acceptUnknownVteps', 'checkInnerSource'] as const;

export function securityOf(v: unknown): Config['security'] {
  const out = { acceptUnknownVteps: false, checkInnerSource: true };
  if (v === undefined) return out;
  const m = mapping(v, 'security', SWITCHES);
  for (const k of SWITCHES) if (m.has(k)) out[k] = boolean(m.get(k), `security.${k}`);
  return out;
}
