// `vxtun demo`: a throwaway lab — two vxtun nodes and one kernel VXLAN node (programmed as
// flannel does) on one underlay, pods made by the real CNI plugins (bridge + host-local, with the
// delegate the flannel plugin renders from each node's subnet.env) — with a TCP exchange between
// every pair of pods (no ping needed), a verified 50 MB transfer across each kind of pair, the
// status of one vxtun node, and a full teardown.
import type { Logger } from '../log.js';
import { formatStatus } from '../admin/status.js';
import { CNI_PLUGIN_DIR, cniPackageVersion, cniPluginVersion } from './cni.js';
import { labVtepMAC, programKernelVxlanNode } from './kernel-vxlan.js';
import { labUnavailableReason, which } from './preflight.js';
import { Lab } from './lab.js';
import { tcpTransfer } from './traffic.js';
import { labPeer, startVxtunNode, type VxtunNode } from './vxtun-node.js';

export interface DemoIO {
  /** Where the demo's report goes (stdout in the CLI). */
  print(line: string): void;
  /** Diagnostics (stderr in the CLI). */
  log: Logger;
}

const KERNEL = 3;
const MB = 1024 * 1024;

export async function runDemo(io: DemoIO): Promise<void> {
  const reason = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl'] });
  if (reason) throw new Error(`the demo ${reason}`);
  // The lab's nodes run with ipMasq true (as the DaemonSet), so vxtun installs masquerade rules: nft, or iptables.
  if (!which('nft') && !which('iptables'))
    throw new Error('the demo needs nft or iptables for ipMasq (Debian: nftables)');
  const { print } = io;
  const lab = await Lab.create({ nodes: 3, logger: io.log });
  const nodes: VxtunNode[] = [];
  try {
    print(
      `lab ${lab.prefix}: underlay 192.168.99.0/24, node-1 and node-2 run vxtun, node-3 runs kernel VXLAN (flannel.1)`,
    );
    // node-3's kernel device carries IPv4 only (flannel carries IPv6 over an IPv6 underlay).
    const peers = [
      labPeer(lab, 1, labVtepMAC(1)),
      labPeer(lab, 2, labVtepMAC(2)),
      {
        name: `node-${KERNEL}`,
        podCIDRs: [lab.podCIDR(KERNEL, 4)],
        publicIP: lab.underlayIP(KERNEL),
        vtepMAC: labVtepMAC(KERNEL),
      },
    ];
    await programKernelVxlanNode(lab, KERNEL, {
      remotes: [1, 2].map((j) => ({ podCIDR: lab.podCIDR(j, 4), publicIP: lab.underlayIP(j), vtepMAC: labVtepMAC(j) })),
    });
    for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers }));
    const bridge = await cniPluginVersion(`${CNI_PLUGIN_DIR}/bridge`, io.log);
    const pkg = await cniPackageVersion(io.log);
    const spec = bridge.supportedVersions.length
      ? `CNI spec ${bridge.supportedVersions.at(0)}…${bridge.supportedVersions.at(-1)}`
      : 'CNI';
    print(
      `pods come from CNI: ${CNI_PLUGIN_DIR}/bridge + host-local (${pkg ? `containernetworking-plugins ${pkg}` : bridge.about}, ${spec}), ` +
        `delegate rendered from each node's subnet.env as the flannel plugin does (network cbr0, bridge ipMasq ${String(!lab.ipMasq)})`,
    );
    print('vxtun is up on node-1 and node-2; kernel VXLAN is up on node-3\n');

    print('a TCP exchange between every pair of pods (1 MB, sha256 checked; the receiver names the sender it saw):');
    const pairs: [number, number, 4 | 6][] = [];
    for (const a of [1, 2, 3]) for (const b of [1, 2, 3]) if (a !== b) pairs.push([a, b, 4]);
    pairs.push([1, 2, 6], [2, 1, 6]);
    let failed = 0;
    for (const [a, b, fam] of pairs) {
      const r = await tcpTransfer(lab.podNs(b), lab.podIP(b, fam), lab.podNs(a), { bytes: MB, timeoutMs: 60_000 });
      const ok = r.sha256Sent === r.sha256Received && r.bytes === MB && r.receiverSawPeer === lab.podIP(a, fam);
      if (!ok) failed++;
      print(
        `  pod-${a} → pod-${b} (${lab.podIP(b, fam)}): ${ok ? 'ok' : 'FAILED'}, from ${r.receiverSawPeer || '?'}, ${(r.seconds * 1000).toFixed(0)} ms`,
      );
    }

    print('\n50 MB TCP transfers, sha256 checked at both ends:');
    for (const [a, b] of [
      [1, 2],
      [1, KERNEL],
      [KERNEL, 2],
    ] as const) {
      const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 50 * MB });
      const ok = r.sha256Sent === r.sha256Received && r.bytes === 50 * MB;
      if (!ok) failed++;
      print(
        `  pod-${a} → pod-${b}: ${(r.bytes / MB).toFixed(0)} MB in ${r.seconds.toFixed(2)} s (${r.mbitPerSecond.toFixed(0)} Mbit/s), checksum ${ok ? 'matches' : 'MISMATCH'}`,
      );
    }

    print('\nvxtun status on node-1:');
    print(formatStatus(await nodes[0]!.status()));
    if (failed > 0) throw new Error(`${failed} check(s) failed; see above`);
    print('\nall checks passed; tearing the lab down');
  } finally {
    for (const n of nodes) await n.stop();
    await lab.destroy();
  }
}
