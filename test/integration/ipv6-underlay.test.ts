// An IPv6-only underlay (issue 17): the node links carry fd99::/64 and no IPv4 address; node-1 and node-2 run
// vxtun, node-3 is a kernel VXLAN node over IPv6 (src/lab/kernel-vxlan.ts), and every pod has an inner IPv4 and an
// inner IPv6 address:
//
//   pod-1 ── node-1 [vxtun0] ══╗
//   pod-2 ── node-2 [vxtun0] ══╬══ UDP 8472 over fd99::/64 (no IPv4 on eth0)
//   pod-3 ── node-3 [flannel-v6.1, local fd99::3, inner IPv4 and IPv6] ══╝
//
// With every offload on (auto) and with each one off: ping and a sha256-checked transfer between every pair of pods,
// both ways, in both inner families. The vxtun daemons are restarted per setting; the kernel node stays. It carries
// inner IPv4 too (`inner: [4, 6]`, src/lab/kernel-vxlan.ts), which flannel's IPv6-only node would not.
import t from 'tap';
import {
  Lab,
  labKernelRemote,
  labPeer,
  labVtepMAC,
  ping,
  programKernelVxlanNode,
  startVxtunNode,
  tcpTransfer,
  type Family,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { OFFLOADS } from '../../src/dataplane/offloads.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason();
const KERNEL = 3;
const PAIRS = [
  [1, 2],
  [2, 1],
  [1, KERNEL],
  [KERNEL, 1],
  [2, KERNEL],
  [KERNEL, 2],
] as const;
const FAMILIES: readonly Family[] = [4, 6];

const variants: [string, Record<string, string>][] = [
  ['all offloads auto', {}],
  ...OFFLOADS.map((o): [string, Record<string, string>] => [`${o} off`, { [o]: 'off' }]),
];

t.test('IPv6-only underlay: vxtun ⇄ vxtun ⇄ kernel VXLAN, inner IPv4 and IPv6', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await Lab.create({ nodes: 3, underlay: 6, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());

  await t.test('the node links are IPv6 only', async (t) => {
    for (const i of [1, 2, KERNEL]) {
      const a = await lab.ip(lab.nodeNs(i), ['-o', 'addr', 'show', 'dev', 'eth0']);
      t.match(a.stdout, new RegExp(` inet6 ${lab.underlayIP(i)}/64 `), `node-${i} eth0 has ${lab.underlayIP(i)}/64`);
      t.notMatch(a.stdout, / inet /, `node-${i} eth0 has no IPv4 address`);
    }
  });

  const kernel = await programKernelVxlanNode(lab, KERNEL, {
    inner: [4, 6],
    remotes: [1, 2].map((j) => labKernelRemote(lab, j)),
  });
  await t.test('the kernel node is a VXLAN device over IPv6', async (t) => {
    const d = await lab.ip(lab.nodeNs(KERNEL), ['-d', 'link', 'show', kernel.device]);
    t.match(d.stdout, / mtu 1430 /, 'MTU underlay − 70');
    t.match(d.stdout, /vxlan id 1 local fd99::3 dev eth0 .*dstport 8472 nolearning/, 'local fd99::3, port 8472');
    const fdb = await lab.exec(lab.nodeNs(KERNEL), 'bridge', ['fdb', 'show', 'dev', kernel.device]);
    for (const j of [1, 2]) t.match(fdb.stdout, `${labVtepMAC(j)} dst ${lab.underlayIP(j)} `, `fdb: node-${j}`);
  });

  const peers = [1, 2, KERNEL].map((i) => labPeer(lab, i, labVtepMAC(i)));
  for (const [name, offloads] of variants) {
    await t.test(name, async (t) => {
      const nodes: VxtunNode[] = [];
      const phases: string[] = [];
      let since = Date.now();
      const phase = (what: string) => {
        phases.push(`${what} ${((Date.now() - since) / 1000).toFixed(1)} s`);
        since = Date.now();
      };
      try {
        // Both daemons start (and later stop) at once; a failed start still stops the other one below.
        const started = await Promise.allSettled(
          [1, 2].map((i) => startVxtunNode(lab, i, { peers, extra: { dataplane: { workers: 2, offloads } } })),
        );
        for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
        for (const r of started) if (r.status === 'rejected') throw r.reason;
        const s = await nodes[0]!.status();
        t.equal(s.publicIP, lab.underlayIP(1), 'node-1 sends from its IPv6 underlay address');
        t.equal(s.mtu, lab.underlayMTU - 70, 'vxtun0 MTU: underlay − 70');
        for (const k of OFFLOADS) {
          if (offloads[k] === 'off') t.equal(s.offloads[k], 'off', `${k} is off when switched off`);
        }
        phase('start');
        // Pings first (cheap, and they show a broken path quickly), then the transfers.
        const pings = await Promise.all(
          FAMILIES.flatMap((f) =>
            PAIRS.map(async ([a, b]) => ({
              a,
              b,
              f,
              r: await ping(lab, lab.podNs(a), lab.podIP(b, f), { count: 2, intervalS: 0.2, waitS: 5 }),
            })),
          ),
        );
        for (const { a, b, f, r } of pings) t.equal(r.received, r.sent, `ping IPv${f} pod-${a} → pod-${b}`);
        phase('pings');
        // The six transfers of a family run at once (the agents' start-up dominates; this keeps the file short).
        for (const f of FAMILIES) {
          const results = await Promise.all(
            PAIRS.map(([a, b], k) =>
              tcpTransfer(lab.podNs(b), lab.podIP(b, f), lab.podNs(a), { bytes: 4 * MB, port: 7000 + 10 * f + k }),
            ),
          );
          for (const [k, r] of results.entries()) {
            const [a, b] = PAIRS[k]!;
            t.equal(r.bytes, 4 * MB, `IPv${f} pod-${a} → pod-${b}: all bytes`);
            t.equal(
              r.sha256Received,
              r.sha256Sent,
              `IPv${f} pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
            );
          }
        }
        phase('transfers');
        const after = await Promise.all(nodes.map((n) => n.status()));
        for (const [k, st] of after.entries()) {
          t.equal(st.counters.drops['bad-ip'] ?? 0, 0, `node-${k + 1}: no bad-ip drops`);
          t.equal(st.counters.drops['unknown-vtep'] ?? 0, 0, `node-${k + 1}: no unknown-vtep drops`);
          t.equal(st.counters.rxErrors, 0, `node-${k + 1}: no TUN write errors`);
        }
        if (!offloads['tso'] && s.offloads.tso === 'on')
          t.ok(after[0]!.counters.offload.tsoSplit > 0, 'TSO super-packets were split');
        if (!offloads['gro'] && after[1]!.offloads.gro === 'on')
          t.ok(after[1]!.counters.offload.coalesced > 0, 'segments were coalesced');
      } finally {
        const exits = await Promise.all(nodes.map((n) => n.stop()));
        for (const [k, n] of nodes.entries()) t.same(exits[k], { code: 0, signal: null }, `${n.name} stopped cleanly`);
        phase('stop');
        t.comment(`${name}: ${phases.join(', ')}`);
      }
    });
  }
  t.comment(`ipv6-underlay: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
