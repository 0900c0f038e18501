// A lab for Kubernetes mode: `nodes` lab nodes, a fake API server in node-1's namespace (127.0.0.1 there, where
// vxtun on node-1 reaches it) and a kubeconfig for it; lab, server and kubeconfig are removed in the test's teardown.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { Lab } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import type { Json } from './fake-apiserver.js';
import { startFakeApiInNs, type RemoteFakeApi } from './fake-apiserver-remote.js';
import { makeNode, writeKubeconfig } from './kube-nodes.js';

export interface KubeLab {
  lab: Lab;
  api: RemoteFakeApi;
  kubeconfig: string;
  /** Lab node i as a ready Node object: its pod CIDR and underlay address, with `annotations`. */
  labNode(i: number, annotations?: Record<string, string>): Json;
}

export async function createKubeLab(t: Test, nodes: number): Promise<KubeLab> {
  const lab = await Lab.create({ nodes, logger: lineLogger((l) => t.comment(l)) });
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-kube-lab-'));
  t.teardown(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const api = await startFakeApiInNs(lab, lab.nodeNs(1), { token: 'test-token' });
  t.teardown(() => api.stopProcess());
  const labNode = (i: number, annotations: Record<string, string> = {}): Json =>
    makeNode({
      name: `node-${i}`,
      podCIDRs: [lab.podCIDR(i, 4)],
      internalIP: lab.underlayIP(i),
      annotations,
      ready: true,
    });
  return { lab, api, kubeconfig: writeKubeconfig(dir, api.url), labNode };
}
