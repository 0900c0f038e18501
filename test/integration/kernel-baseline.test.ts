// Proves the testbed with the reference implementation: two Linux kernel VXLAN nodes programmed the way flannel
// programs them carry pod traffic both ways, intact.

import t from 'tap';
import { labSkipReason } from '../helpers/lab-guard.js';
import { lineLogger } from '../../src/log.js';
import {
  Lab,
  labVtepMAC,
  linkStats,
  listNamespaces,
  ping,
  programKernelVxlanNode,
  tcpTransfer,
  transferAgentPath,
} from '../../src/lab/index.js';

const MB = 1024 * 1024;
const reason = labSkipReason();

t.test('two kernel VXLAN nodes (flannel-style)', { skip: reason }, async (t) => {
  const started = Date.now();
  const logger = lineLogger((line) => t.comment(line));
  // Fail early (before building anything) if the compiled agent is missing.
  transferAgentPath();

  const lab = await Lab.create({ nodes: 2, logger });
  t.teardown(() => lab.destroy());
  const prefix = lab.prefix;

  // Before the overlay exists there is no path between the pods.
  const before = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 1, waitS: 1 });
  t.equal(before.received, 0, 'no pod-to-pod path before VXLAN is programmed');

  // Each pod can reach its own gateway on both families (the local half of the topology works).
  for (const fam of [4, 6] as const) {
    const r = await ping(lab, lab.podNs(1), lab.podGatewayIP(1, fam), { count: 1 });
    t.equal(r.received, 1, `pod1 reaches its IPv${fam} gateway`);
  }

  const remote = (j: number) => ({ podCIDR: lab.podCIDR(j, 4), publicIP: lab.underlayIP(j), vtepMAC: labVtepMAC(j) });
  const n1 = await programKernelVxlanNode(lab, 1, { remotes: [remote(2)] });
  const n2 = await programKernelVxlanNode(lab, 2, { remotes: [remote(1)] });
  t.same(n1, { device: 'flannel.1', vtepMAC: '0a:00:00:00:01:01' });
  t.same(n2, { device: 'flannel.1', vtepMAC: '0a:00:00:00:02:01' });

  const link = JSON.parse((await lab.ip(lab.nodeNs(1), ['-j', '-d', 'link', 'show', 'flannel.1'])).stdout) as Array<{
    mtu: number;
    address: string;
    linkinfo: { info_kind: string; info_data: { id: number; port: number; local: string; learning: boolean } };
  }>;
  t.match(
    link[0],
    {
      mtu: 1450,
      address: '0a:00:00:00:01:01',
      linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 8472, local: '192.168.99.1', learning: false } },
    },
    'flannel.1 is configured like flannel does',
  );

  await t.test('ping pod1 → pod2 and pod2 → pod1 (IPv4)', async (t) => {
    for (const [a, b] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const r = await ping(lab, lab.podNs(a), lab.podIP(b), { count: 3 });
      t.equal(r.sent, 3, `pod${a} → pod${b}: 3 sent`);
      t.equal(r.received, 3, `pod${a} → pod${b}: 3 received (rtt ${r.rttAvgMs} ms)`);
    }
  });

  for (const [from, to] of [
    [1, 2],
    [2, 1],
  ] as const) {
    await t.test(`50 MB TCP pod${from} → pod${to}`, async (t) => {
      const txBefore = await linkStats(lab.nodeNs(from), 'flannel.1');
      const r = await tcpTransfer(lab.podNs(to), lab.podIP(to), lab.podNs(from), {
        bytes: 50 * MB,
        logger,
        seed: `${from}${to}`,
      });
      t.equal(r.bytesSent, 50 * MB, 'sender sent 50 MB');
      t.equal(r.bytes, 50 * MB, 'receiver got 50 MB');
      t.equal(r.sha256Received, r.sha256Sent, 'sha256 matches');
      const txAfter = await linkStats(lab.nodeNs(from), 'flannel.1');
      t.ok(txAfter.txBytes - txBefore.txBytes >= 50 * MB, `the data went through flannel.1 on node${from}`);
      t.comment(`pod${from} → pod${to}: ${r.mbitPerSecond.toFixed(0)} Mbit/s in ${r.seconds.toFixed(2)} s`);
    });
  }

  await t.test('destroy removes every namespace', async (t) => {
    const errors = await lab.destroy();
    t.same(errors, [], 'no teardown errors');
    const left = (await listNamespaces()).filter((n) => n.startsWith(`${prefix}-`));
    t.same(left, [], `no ${prefix}-* namespace left`);
  });
  t.comment(`kernel baseline took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
