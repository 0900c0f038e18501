// The config's `peers.kubernetes` section: where the API server is (src/peers/kube-config.ts loads it) and which
// annotation prefix the node annotations use (flannel's by default, so vxtun and flannel nodes read each other).
import { describe, fail, mapping, nonEmptyString } from '../config/readers.js';
import { MAX_NAME } from '../config/types.js';

export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

export interface KubernetesSource {
  /** Absent: in-cluster service account. */
  kubeconfig?: string;
  annotationPrefix: string;
}

export function kubernetesOf(v: unknown): KubernetesSource {
  // `kubernetes:` with no value (YAML null) means all defaults (in-cluster, flannel's prefix).
  if (v === null) return { annotationPrefix: DEFAULT_ANNOTATION_PREFIX };
  const path = 'peers.kubernetes';
  const m = mapping(v, path, ['kubeconfig', 'annotationPrefix']);
  const out: KubernetesSource = { annotationPrefix: DEFAULT_ANNOTATION_PREFIX };
  if (m.has('kubeconfig')) out.kubeconfig = nonEmptyString(m.get('kubeconfig'), `${path}.kubeconfig`, 'a file path');
  if (m.has('annotationPrefix')) {
    const p = m.get('annotationPrefix');
    if (typeof p !== 'string' || p.length > MAX_NAME || !DNS_SUBDOMAIN.test(p)) {
      const what = `a DNS subdomain like ${DEFAULT_ANNOTATION_PREFIX}`;
      fail(`${path}.annotationPrefix`, `expected ${what}, got ${describe(p)}`);
    }
    out.annotationPrefix = p;
  }
  return out;
}
