// A TCP flow stays on one transmit loop with several workers (native/engine/worker.h WorkerSettings::tunQueues).
//
// The kernel sends a flow's outgoing packets to the TUN queue whose fd last wrote packets of that flow (tun
// "automq"). When every worker wrote what it received, a flow whose data and ACKs met different workers had its
// transmit queue flipped by every write: its data went out through two transmit loops at once, reordered, and
// the sender retransmitted tens of thousands of segments in a few seconds. Which flows did that depended on the
// outer source ports (random per start) and the flow's hash, about one in five; so this test runs many short
// connections, each a fresh chance, and requires every one of them to stay nearly free of retransmissions.
import t from 'tap';
import { Lab, labPeer, startVxtunNode, which, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const CONNECTIONS = 12;
const skip = labSkipReason() || (which('iperf3') ? false : 'iperf3 missing');

interface Iperf {
  end: { sum_sent: { bytes: number; retransmits?: number } };
}

t.test('two workers: each TCP flow is sent by one transmit loop, not reordered', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: { workers: 2 } } }));
  try {
    const mss = lab.podMTU - 40;
    for (let c = 1; c <= CONNECTIONS; c++) {
      const port = String(5400 + c);
      const srv = lab.spawn(lab.podNs(2), 'iperf3', ['-s', '-1', '--forceflush', '-p', port]);
      await srv.waitForOutput(/Server listening/, 5_000);
      const r = await lab.exec(lab.podNs(1), 'iperf3', ['-c', lab.podIP(2), '-p', port, '-t', '1', '-J']);
      await srv.stop();
      const sent = (JSON.parse(r.stdout) as Iperf).end.sum_sent;
      const segments = Math.max(1, Math.round(sent.bytes / mss));
      const retransmits = sent.retransmits ?? 0;
      // A flow split over two loops retransmits 2–3 % of its segments; a steady one a few dozen at its start (the
      // kernel's first queue choice, before any reply was written) and what real losses cost.
      t.ok(
        retransmits <= Math.max(500, segments * 0.005),
        `connection ${c}: ${retransmits} of ~${segments} segments retransmitted`,
      );
    }
  } finally {
    for (const n of nodes) t.same(await n.stop(), { code: 0, signal: null }, `${n.name} stopped cleanly`);
  }
});
