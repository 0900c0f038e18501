// Where the Kubernetes API is: a kubeconfig file (`peers.kubernetes.kubeconfig`), or, by default, the in-cluster
// service account (KUBERNETES_SERVICE_HOST/PORT, /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}).
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigEnv {
  KUBERNETES_SERVICE_HOST?: string;
  KUBERNETES_SERVICE_PORT?: string;
}

/**
 * Loads the client configuration; a ConfigError on `peers.kubernetes…` explains what is missing. `root` prefixes
 * the service account directory (tests).
 */
export function loadKubeConfig(
  kubeconfig: string | undefined,
  env: KubeConfigEnv = process.env,
  root = '',
): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) {
    const field = 'peers.kubernetes.kubeconfig';
    try {
      kc.loadFromFile(kubeconfig);
    } catch (e) {
      throw new ConfigError(field, `cannot load ${kubeconfig}: ${(e as Error).message.split('\n')[0]}`);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new ConfigError(field, `${kubeconfig} has no current context with a cluster`);
    if (cluster.server.startsWith('http://') && !cluster.skipTLSVerify) {
      throw new ConfigError(
        field,
        `${kubeconfig}: plain http (${cluster.server}) needs insecure-skip-tls-verify: true`,
      );
    }
    return kc;
  }
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) {
    throw new ConfigError(
      'peers.kubernetes',
      'not running in a pod (KUBERNETES_SERVICE_HOST/PORT are not set); set peers.kubernetes.kubeconfig',
    );
  }
  if (!existsSync(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
    throw new ConfigError(
      'peers.kubernetes',
      `no service account token in ${root}${SERVICE_ACCOUNT_DIR}; set peers.kubernetes.kubeconfig`,
    );
  }
  // loadFromCluster reads KUBERNETES_SERVICE_HOST/PORT from process.env itself.
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  process.env['KUBERNETES_SERVICE_HOST'] = env.KUBERNETES_SERVICE_HOST;
  process.env['KUBERNETES_SERVICE_PORT'] = env.KUBERNETES_SERVICE_PORT;
  try {
    kc.loadFromCluster(root);
  } finally {
    for (const [k, v] of [
      ['KUBERNETES_SERVICE_HOST', saved.host],
      ['KUBERNETES_SERVICE_PORT', saved.port],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return kc;
}
