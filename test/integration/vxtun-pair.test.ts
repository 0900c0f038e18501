// Two vxtun nodes on one underlay (the standard testbed topology):
//
//   pod-1 ──veth── node-1 [vxtun0] ══ UDP 8472 over 192.168.99.0/24 ══ [vxtun0] node-2 ──veth── pod-2
//   10.244.1.2                                                                          10.244.2.2
//   fd10:244:0:1::2                                                                     fd10:244:0:2::2
//
// Pings and 50 MB checksum-verified TCP transfers both ways over IPv4 and IPv6 pod addresses;
// status shows the peers and the counters; SIGTERM leaves no device and no route behind. Once with
// the native engine and once with the js engine (the portable baseline).
import t from 'tap';
import { Lab, labPeer, ping, startVxtunNode, tcpTransfer, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason();

for (const engine of ['native', 'js'] as const)
  t.test(`two vxtun nodes, ${engine} engine`, { skip }, async (t) => {
    const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
    t.teardown(() => lab.destroy());
    const peers = [labPeer(lab, 1), labPeer(lab, 2)];
    const nodes: VxtunNode[] = [];
    for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: { engine } } }));
    const [n1, n2] = nodes as [VxtunNode, VxtunNode];

    for (const fam of [4, 6] as const) {
      await t.test(`ping both ways (IPv${fam})`, async (t) => {
        for (const [a, b] of [
          [1, 2],
          [2, 1],
        ] as const) {
          const r = await ping(lab, lab.podNs(a), lab.podIP(b, fam), { count: 3 });
          t.equal(r.received, 3, `pod-${a} → pod-${b} ${lab.podIP(b, fam)}: ${r.received}/${r.sent}`);
        }
      });
      await t.test(`50 MB TCP both ways, checksums match (IPv${fam})`, async (t) => {
        for (const [a, b] of [
          [1, 2],
          [2, 1],
        ] as const) {
          const r = await tcpTransfer(lab.podNs(b), lab.podIP(b, fam), lab.podNs(a), { bytes: 50 * MB });
          t.equal(r.bytes, 50 * MB, `pod-${a} → pod-${b}: all bytes arrived`);
          t.equal(
            r.sha256Received,
            r.sha256Sent,
            `pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
          );
        }
      });
    }

    await t.test('status shows the peer and non-zero counters', async (t) => {
      const s = await n1.status();
      t.equal(s.node, 'node-1');
      t.equal(s.device, 'vxtun0');
      t.equal(s.mtu, 1450, 'MTU = underlay 1500 − 50');
      t.equal(s.vni, 1);
      t.equal(s.port, 8472);
      t.equal(s.publicIP, '192.168.99.1');
      t.same(s.podCIDRs, ['10.244.1.0/24', 'fd10:244:0:1::/64']);
      t.equal(s.engine, engine);
      t.ok(s.ready, 'ready');
      t.same(
        s.peers.map((p) => ({ name: p.name, publicIP: p.publicIP, podCIDRs: p.podCIDRs })),
        [{ name: 'node-2', publicIP: '192.168.99.2', podCIDRs: ['10.244.2.0/24', 'fd10:244:0:2::/64'] }],
      );
      // 2 × 50 MB each way per family: at least 100 MB of inner bytes each direction.
      t.ok(s.counters.txBytes > 100 * MB, `txBytes ${s.counters.txBytes}`);
      t.ok(s.counters.rxBytes > 100 * MB, `rxBytes ${s.counters.rxBytes}`);
      t.ok(s.counters.txPackets > 70_000, `txPackets ${s.counters.txPackets}`);
      t.ok(s.counters.rxPackets > 70_000, `rxPackets ${s.counters.rxPackets}`);
      for (const reason of [
        'bad-header',
        'vni',
        'unknown-vtep',
        'bad-mac',
        'ethertype',
        'bad-ip',
        'spoofed-source',
        'not-local',
      ]) {
        t.equal(s.counters.drops[reason], 0, `no ${reason} drops`);
      }
      const s2 = await n2.status();
      t.equal(s2.peers[0]?.vtepMAC, s.vtepMAC, "node-2 knows node-1's VTEP MAC");
    });

    await t.test('SIGTERM: exit 0 within 5 s, no device, no routes', async (t) => {
      for (const n of nodes) {
        const started = Date.now();
        const exit = await n.stop('SIGTERM');
        t.same(exit, { code: 0, signal: null }, `${n.name} exited 0`);
        t.ok(Date.now() - started < 5_000, `${n.name} stopped in ${Date.now() - started} ms`);
        const links = (await lab.ip(n.ns, ['-br', 'link', 'show'])).stdout;
        t.notMatch(links, /vxtun0/, 'device removed');
        const routes =
          (await lab.ip(n.ns, ['route', 'show'])).stdout + (await lab.ip(n.ns, ['-6', 'route', 'show'])).stdout;
        t.notMatch(routes, /10\.244\.0\.0\/16|fd10:244::\/56|vxtun0/, 'routes removed');
      }
      const after = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 1, waitS: 1 });
      t.equal(after.received, 0, 'no path between the pods once vxtun is gone');
    });
  });
