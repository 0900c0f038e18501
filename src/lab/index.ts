// The testbed library: network-namespace topologies, kernel VXLAN peers and traffic checks.
// Used by tests (test/integration), `vxtun demo` and benchmarks. Library code: no printing, no exiting.

export * from './exec.js';
export * from './lab.js';
export * from './kernel-vxlan.js';
export * from './traffic.js';
export * from './preflight.js';
export * from './paths.js';
export * from './vxtun-node.js';
export * from './raw-udp.js';
export * from './payload-capture.js';
export * from './cpu-time.js';
export * from './cni-delegate.js';
export * from './cni.js';
export * from './arrival-capture.js';
export * from './vxlan-capture.js';
export * from './etcd-flannel-lease.js';
export * from './etcd-flannel-node.js';
export * from './etcd-status-wait.js';
export * from './routed-node.js';
