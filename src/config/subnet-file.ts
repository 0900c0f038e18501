// The `subnetFile` key: where flannel's subnet.env is written for the CNI plugin (src/device/).
import { describe, fail } from './readers.js';
import { DEFAULT_SUBNET_FILE, type Config } from './types.js';

/** Default: written in kubernetes and etcd mode, not in static mode; `off` or null: not written. */
export function subnetFileOf(v: unknown, kind: Config['peers']['kind']): string | null {
  if (v === undefined) return kind === 'static' ? null : DEFAULT_SUBNET_FILE;
  if (v === null || v === 'off') return null;
  if (typeof v !== 'string' || v === '' || v.includes('\0')) {
    fail('subnetFile', `expected a file path or "off", got ${describe(v)}`);
  }
  return v;
}
