// The transfer tests with every offload on and with each one off (README "Performance": every offload has
// its own switch, because kernels have shipped bugs in each). Three nodes: two vxtun nodes and a
// kernel VXLAN node; sha256-checked transfers vxtun ⇄ vxtun and vxtun ⇄ kernel, both ways.
import t from 'tap';
import {
  Lab,
  labPeer,
  labVtepMAC,
  programKernelVxlanNode,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { OFFLOADS, perOffload } from '../../src/dataplane/offloads.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason();
const KERNEL = 3;

const variants: [string, Record<string, string>][] = [
  ['all offloads auto', {}],
  ...OFFLOADS.map((o): [string, Record<string, string>] => [`${o} off`, { [o]: 'off' }]),
  ['all off', perOffload(() => 'off')],
];

t.test('transfers under each offload setting', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 3, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  await programKernelVxlanNode(lab, KERNEL, {
    remotes: [1, 2].map((j) => ({ podCIDR: lab.podCIDR(j), publicIP: lab.underlayIP(j), vtepMAC: labVtepMAC(j) })),
  });
  const peers = [
    labPeer(lab, 1, labVtepMAC(1)),
    labPeer(lab, 2, labVtepMAC(2)),
    {
      name: `node-${KERNEL}`,
      podCIDRs: [lab.podCIDR(KERNEL)],
      publicIP: lab.underlayIP(KERNEL),
      vtepMAC: labVtepMAC(KERNEL),
    },
  ];

  for (const [name, offloads] of variants) {
    await t.test(name, async (t) => {
      const nodes: VxtunNode[] = [];
      for (const i of [1, 2])
        nodes.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: { workers: 2, offloads } } }));
      try {
        const s = await nodes[0]!.status();
        for (const k of OFFLOADS) {
          if (offloads[k] === 'off') t.equal(s.offloads[k], 'off', `${k} is off when switched off`);
        }
        for (const [a, b] of [
          [1, 2],
          [2, 1],
          [1, KERNEL],
          [KERNEL, 1],
        ] as const) {
          const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 20 * MB });
          t.equal(r.bytes, 20 * MB, `pod-${a} → pod-${b}: all bytes`);
          t.equal(
            r.sha256Received,
            r.sha256Sent,
            `pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
          );
        }
        const after = await nodes[1]!.status();
        t.equal(after.counters.drops['bad-ip'], 0, 'no bad-ip drops');
        t.equal(after.counters.rxErrors, 0, 'no TUN write errors');
        if (!offloads.tso && s.offloads.tso === 'on')
          t.ok((await nodes[0]!.status()).counters.offload.tsoSplit > 0, 'TSO super-packets were split');
        if (!offloads.gro && after.offloads.gro === 'on')
          t.ok(after.counters.offload.coalesced > 0, 'segments were coalesced');
      } finally {
        for (const n of nodes) t.same(await n.stop(), { code: 0, signal: null }, `${n.name} stopped cleanly`);
      }
    });
  }
});
