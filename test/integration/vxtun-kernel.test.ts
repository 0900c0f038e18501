// One vxtun node and one Linux kernel VXLAN node programmed as flannel programs it
// (README "Wire format"):
//
//   pod-1 ── node-1 [vxtun0, userspace] ══ UDP 8472 ══ [flannel.1, kernel] node-2 ── pod-2
//
// Pings and 50 MB checksum-verified transfers both ways; the kernel's own counters show the
// traffic went through its VXLAN device.
import t from 'tap';
import {
  Lab,
  labPeer,
  labVtepMAC,
  linkStats,
  ping,
  programKernelVxlanNode,
  startVxtunNode,
  tcpTransfer,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason();

for (const engine of ['native', 'js'] as const)
  t.test(`vxtun node (${engine} engine) ⇄ kernel VXLAN node`, { skip }, async (t) => {
    const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
    t.teardown(() => lab.destroy());
    const kernel = await programKernelVxlanNode(lab, 2, {
      remotes: [{ podCIDR: lab.podCIDR(1, 4), publicIP: lab.underlayIP(1), vtepMAC: labVtepMAC(1) }],
    });
    // The kernel node carries IPv4 pods only (flannel puts IPv6 on a separate device and underlay).
    const peers = [
      labPeer(lab, 1, labVtepMAC(1)),
      { name: 'node-2', podCIDRs: [lab.podCIDR(2, 4)], publicIP: lab.underlayIP(2), vtepMAC: kernel.vtepMAC },
    ];
    const vx = await startVxtunNode(lab, 1, { peers, extra: { dataplane: { engine } } });

    await t.test('ping both ways', async (t) => {
      for (const [a, b] of [
        [1, 2],
        [2, 1],
      ] as const) {
        const r = await ping(lab, lab.podNs(a), lab.podIP(b), { count: 3 });
        t.equal(r.received, 3, `pod-${a} → pod-${b}: ${r.received}/${r.sent}`);
      }
    });

    await t.test('50 MB TCP both ways, checksums match', async (t) => {
      const before = await linkStats(lab.nodeNs(2), kernel.device);
      for (const [a, b] of [
        [1, 2],
        [2, 1],
      ] as const) {
        const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 50 * MB });
        t.equal(r.bytes, 50 * MB, `pod-${a} → pod-${b}: all bytes arrived`);
        t.equal(
          r.sha256Received,
          r.sha256Sent,
          `pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
        );
      }
      const after = await linkStats(lab.nodeNs(2), kernel.device);
      t.ok(after.rxBytes - before.rxBytes > 50 * MB, 'the kernel VXLAN device received the vxtun → kernel transfer');
      t.ok(after.txBytes - before.txBytes > 50 * MB, 'the kernel VXLAN device sent the kernel → vxtun transfer');
    });

    await t.test('status after traffic', async (t) => {
      const s = await vx.status();
      t.same(
        s.peers.map((p) => [p.name, p.vtepMAC]),
        [['node-2', kernel.vtepMAC]],
      );
      t.ok(
        s.counters.txBytes > 50 * MB && s.counters.rxBytes > 50 * MB,
        `tx ${s.counters.txBytes} rx ${s.counters.rxBytes} bytes`,
      );
      t.equal(s.counters.drops['bad-ip'], 0, 'no bad-ip drops');
      t.equal(s.counters.drops['bad-mac'], 0, 'no bad-mac drops');
      t.equal(s.counters.drops['unknown-vtep'], 0, 'no unknown-vtep drops');
    });

    t.same(await vx.stop(), { code: 0, signal: null }, 'vxtun exits 0 on SIGTERM');
  });
