// The `peers` section: exactly one peer source, whose own section its folder parses (src/peers/static-config.ts,
// src/peers/kube-section.ts, src/peers/etcd-section.ts). A new source adds its key here and its parser beside it.
import { etcdOf, type FileOverlaySettings } from '../peers/etcd-section.js';
import { kubernetesOf } from '../peers/kube-section.js';
import { staticPeersOf, type PodNetworks } from '../peers/static-config.js';
import { fail, mapping } from './readers.js';
import type { Config } from './types.js';

export const SOURCES = ['static', 'kubernetes', 'etcd'] as const;

/** Which source a `peers` value names, without validating it (other keys depend on it); undefined when unclear. */
export function sourceKind(v: unknown): (typeof SOURCES)[number] | undefined {
  if (!(v instanceof Map)) return undefined;
  const found = SOURCES.filter((k) => v.has(k));
  return found.length === 1 ? found[0] : undefined;
}

export function peersOf(v: unknown, nodeName: string, nets: PodNetworks, file: FileOverlaySettings): Config['peers'] {
  if (v === undefined) fail('peers', 'required: a static list, kubernetes or etcd');
  const m = mapping(v, 'peers', SOURCES);
  const found = SOURCES.filter((k) => m.has(k));
  if (found.length !== 1) {
    fail(
      'peers',
      found.length > 1
        ? `expected exactly one source, got ${found.join(' and ')}`
        : 'expected exactly one source: static, kubernetes or etcd',
    );
  }
  if (m.has('static')) return { kind: 'static', static: staticPeersOf(m.get('static'), nodeName, nets) };
  if (m.has('etcd')) return { kind: 'etcd', etcd: etcdOf(m.get('etcd')), file };
  return { kind: 'kubernetes', kubernetes: kubernetesOf(m.get('kubernetes')) };
}
