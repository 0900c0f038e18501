// Node objects and client configuration for tests against the fake API server.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Json } from './fake-apiserver.js';

export const PREFIX = 'flannel.alpha.coreos.com';

export interface NodeSpec {
  name: string;
  podCIDRs?: string[];
  internalIP?: string;
  annotations?: Record<string, string>;
  /** Adds a Ready condition, as a kubelet would. */
  ready?: boolean;
  /** metadata.creationTimestamp (the fake server sets "now" otherwise). */
  created?: string;
}

export function makeNode(s: NodeSpec): Json {
  const node: Json = {
    metadata: {
      name: s.name,
      annotations: { ...s.annotations },
      labels: { 'kubernetes.io/hostname': s.name },
      ...(s.created ? { creationTimestamp: s.created } : {}),
    },
    spec: s.podCIDRs?.length ? { podCIDR: s.podCIDRs[0], podCIDRs: s.podCIDRs } : {},
    status: {
      addresses: [
        ...(s.internalIP ? [{ type: 'InternalIP', address: s.internalIP }] : []),
        { type: 'Hostname', address: s.name },
      ],
      conditions: s.ready
        ? [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }]
        : [],
    },
  };
  return node;
}

/** The annotations a flannel vxlan node publishes. */
export function flannelAnnotations(o: {
  vtepMAC: string;
  publicIP: string;
  vni?: number;
  prefix?: string;
}): Record<string, string> {
  const p = o.prefix ?? PREFIX;
  return {
    [`${p}/kube-subnet-manager`]: 'true',
    [`${p}/backend-type`]: 'vxlan',
    [`${p}/backend-data`]: `{"VNI":${o.vni ?? 1},"VtepMAC":"${o.vtepMAC}"}`,
    [`${p}/public-ip`]: o.publicIP,
  };
}

/** A flannel-annotated node i of a synthetic cluster: 10.X.Y.0/24 (i = X·256 + Y), public IP 172.16.X.Y. */
export function syntheticNode(i: number): Json {
  const x = Math.floor(i / 256) + 1;
  const y = i % 256;
  const mac = `0a:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}:00:01`;
  return makeNode({
    name: `node-${String(i).padStart(5, '0')}`,
    podCIDRs: [`10.${x}.${y}.0/24`],
    internalIP: `172.16.${x}.${y}`,
    annotations: flannelAnnotations({ vtepMAC: mac, publicIP: `172.16.${x}.${y}` }),
    ready: true,
  });
}

function kubeconfigObject(server: string, token: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'vxtun', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'vxtun' } }],
    'current-context': 'fake',
  };
}

/** Writes a kubeconfig (JSON is YAML) for a plain-http server and returns its path. */
export function writeKubeconfig(dir: string, server: string, token = 'test-token'): string {
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, JSON.stringify(kubeconfigObject(server, token), null, 2));
  return path;
}

/** A client configuration for a plain-http server (which the client accepts only with skipTLSVerify). */
export function testKubeConfig(server: string, token = 'test-token'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'vxtun', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'vxtun' }],
    currentContext: 'fake',
  });
  return kc;
}
