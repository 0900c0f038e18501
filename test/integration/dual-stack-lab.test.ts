// The dual-stack lab itself (LabOptions.underlay 'dual'), proved with the kernel alone: two nodes programmed as
// flannel's dual-stack vxlan backend programs them (src/lab/kernel-vxlan.ts: flannel.1 over IPv4 and flannel-v6.1
// over IPv6, each with its own MAC). Inner IPv4 and IPv6 ping and sha256-checked transfers both ways; the underlay
// capture and the devices' counters show inner IPv4 rode the IPv4 underlay and inner IPv6 the IPv6 one.
//
//   pod-1 ── node-1 [flannel.1 192.168.99.1, flannel-v6.1 fd99::1] ══ 192.168.99.0/24 + fd99::/64 ══ node-2 [same] ── pod-2
import t from 'tap';
import {
  Lab,
  labVtepMAC,
  labVtepMACv6,
  linkStats,
  programKernelVxlanMesh,
  type Family,
  type LinkStats,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { MB, pairsOf, pingAndCheckUnderlay, transferAll } from '../helpers/dual-stack-kit.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'tcpdump']);
const NODES = [1, 2];
const DEV: Record<Family, string> = { 4: 'flannel.1', 6: 'flannel-v6.1' };

t.test('dual-stack lab: two kernel dual-stack nodes, inner IPv4 over IPv4 and IPv6 over IPv6', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await Lab.create({ nodes: 2, underlay: 'dual', logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  t.equal(lab.podMTU, 1430, 'pod MTU: underlay − 70 (inner IPv6 rides IPv6)');
  t.equal(lab.underlayIP(2), '192.168.99.2', 'underlayIP defaults to IPv4');
  t.equal(lab.underlayIP(2, 6), 'fd99::2');

  for (const i of NODES) {
    const a = await lab.ip(lab.nodeNs(i), ['-o', 'addr', 'show', 'dev', 'eth0']);
    t.match(a.stdout, ` inet ${lab.underlayIP(i, 4)}/24 `, `node-${i} eth0 has ${lab.underlayIP(i, 4)}/24`);
    t.match(a.stdout, ` inet6 ${lab.underlayIP(i, 6)}/64 `, `node-${i} eth0 has ${lab.underlayIP(i, 6)}/64`);
  }

  const mesh = await programKernelVxlanMesh(lab);
  for (const i of NODES) {
    const ns = lab.nodeNs(i);
    const j = 3 - i;
    t.same(
      mesh.get(i),
      { device: DEV[4], vtepMAC: labVtepMAC(i), deviceV6: DEV[6], vtepMACv6: labVtepMACv6(i) },
      `node-${i}: two devices, two MACs`,
    );
    for (const [f, mtu, mac] of [
      [4, 1450, labVtepMAC(i)],
      [6, 1430, labVtepMACv6(i)],
    ] as const) {
      const d = await lab.ip(ns, ['-d', 'link', 'show', DEV[f]]);
      t.match(d.stdout, ` mtu ${mtu} `, `node-${i} ${DEV[f]}: MTU ${mtu}`);
      t.match(d.stdout, `link/ether ${mac} `, `node-${i} ${DEV[f]}: MAC ${mac}`);
      const local = new RegExp(`vxlan id 1 local ${lab.underlayIP(i, f)} dev eth0 .*dstport 8472 nolearning`);
      t.match(d.stdout, local, `node-${i} ${DEV[f]}: local ${lab.underlayIP(i, f)}`);
      const fdb = (await lab.exec(ns, 'bridge', ['fdb', 'show', 'dev', DEV[f]])).stdout;
      const remoteMAC = f === 4 ? labVtepMAC(j) : labVtepMACv6(j);
      t.match(fdb, `${remoteMAC} dst ${lab.underlayIP(j, f)} `, `node-${i} ${DEV[f]}: fdb → node-${j}'s IPv${f} VTEP`);
      const routes = (await lab.ip(ns, [`-${f}`, 'route', 'show', lab.podCIDR(j, f)])).stdout;
      t.match(routes, ` dev ${DEV[f]} `, `node-${i}: node-${j}'s IPv${f} pods via ${DEV[f]}`);
      const other = (await lab.ip(ns, [`-${f}`, 'route', 'show', 'dev', DEV[f === 4 ? 6 : 4]])).stdout;
      t.notMatch(other, lab.podCIDR(j, f), `node-${i}: no IPv${f} pod route on ${DEV[f === 4 ? 6 : 4]}`);
    }
  }

  const pairs = pairsOf(NODES);
  await t.test('pings: inner IPv4 rides IPv4, inner IPv6 rides IPv6', async (t) => {
    await pingAndCheckUnderlay(t, lab, pairs, (_a, _b, f) => f);
  });

  await t.test('transfers both ways; the devices of the inner family carried them', async (t) => {
    let before = new Map<string, LinkStats>();
    const snapshot = async () => {
      const m = new Map<string, LinkStats>();
      for (const i of NODES)
        for (const f of [4, 6] as const) m.set(`${i} ${f}`, await linkStats(lab.nodeNs(i), DEV[f]));
      return m;
    };
    await transferAll(t, lab, pairs, 4 * MB, async (f, phase) => {
      if (phase === 'before') {
        before = await snapshot();
        return;
      }
      const after = await snapshot();
      const other = f === 4 ? 6 : 4;
      for (const i of NODES) {
        const tx = (g: Family) => after.get(`${i} ${g}`)!.txBytes - before.get(`${i} ${g}`)!.txBytes;
        const rx = (g: Family) => after.get(`${i} ${g}`)!.rxBytes - before.get(`${i} ${g}`)!.rxBytes;
        t.ok(tx(f) > 4 * MB && rx(f) > 4 * MB, `node-${i} ${DEV[f]} sent and received the IPv${f} transfers`);
        t.ok(tx(other) < MB / 4 && rx(other) < MB / 4, `node-${i} ${DEV[other]} carried none of them`);
      }
    });
  });
  t.comment(`dual-stack-lab: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
