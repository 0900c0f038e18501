// The `peers` section: exactly one peer source, whose own section its folder parses (src/peers/static-config.ts,
// src/peers/kube-section.ts). A new source adds its key here and its parser beside it.
import { kubernetesOf } from '../peers/kube-section.js';
import { staticPeersOf, type PodNetworks } from '../peers/static-config.js';
import { fail, mapping } from './readers.js';
import type { Config } from './types.js';

export function peersOf(v: unknown, nodeName: string, nets: PodNetworks): Config['peers'] {
  if (v === undefined) fail('peers', 'required: a static list or kubernetes');
  const m = mapping(v, 'peers', ['static', 'kubernetes']);
  const hasStatic = m.has('static');
  if (hasStatic === m.has('kubernetes')) {
    fail(
      'peers',
      hasStatic
        ? 'expected exactly one source, got both static and kubernetes'
        : 'expected exactly one source: static or kubernetes',
    );
  }
  if (hasStatic) return { kind: 'static', static: staticPeersOf(m.get('static'), nodeName, nets) };
  return { kind: 'kubernetes', kubernetes: kubernetesOf(m.get('kubernetes')) };
}
