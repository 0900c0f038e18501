// etcd mode end to end (issue 19, README "etcd mode"): a real etcd on an underlay host, two vxtun daemons with
// `peers.etcd`, and a kernel VXLAN node programmed from the leases as flanneld's vxlan backend does
// (src/lab/etcd-flannel-node.ts), all in flannel's layout under /coreos.com/network:
//
//   etcd 192.168.99.200 ── node-1 [vxtun] ── node-2 [vxtun] ── node-3 [flannel.1, kernel]
//
// The vxtun nodes find their subnet.env from the lab (10.244.i.1/24, the subnet their pods were made on) and, as
// flanneld does, take that previous subnet again when it is free; the kernel node leases 10.244.3.0/24 itself.
// In order: (a) every pair pings and passes a sha256-checked transfer, the vxtun leases are flannel's bytes, /status
// says etcd is connected; (b) the kernel node's lease deleted → gone from both tables ≤ 1 s and unreachable, written
// back → programmed ≤ 1 s; (e) node 2 cut off from etcd (nft in its namespace, its connection killed), a lease
// deleted, another added, etcd compacted; back → node 2 relists: no stale peer; (d) etcd stopped 10 s under a
// 50/s ping: no loss, the watch resumes (a lease put afterwards is programmed ≤ 3 s), the leases kept their TTL.
import { rmSync } from 'node:fs';
import t from 'tap';
import {
  flannelLeaseValue,
  Lab,
  peerSubnets,
  ping,
  startEtcdFlannelNode,
  startVxtunNode,
  tcpTransfer,
  waitForStatus,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'nft', 'ss', 'etcd', 'etcdctl']);
const PREFIX = '/coreos.com/network';
const NET_CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
const MB = 1024 * 1024;
/**
 * The bound: a lease change programmed ≤ 1 s. After etcd's return the source lists again within its relist
 * backoff (≤ 1.5 s + 20 % jitter, src/peers/etcd.ts), so a lease put then is programmed ≤ 3 s.
 */
const LEASE_CHANGE_MS = 1_000;
const AFTER_OUTAGE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A lease of a node that is not there (its address is a free underlay one): for table checks only. */
function ghostLease(x: number): { key: string; subnet: string; value: string } {
  const mac = `0e:00:00:00:${x.toString(16).padStart(2, '0')}:01`;
  return {
    key: `${PREFIX}/subnets/10.244.${x}.0-24`,
    subnet: `10.244.${x}.0/24`,
    value: flannelLeaseValue({ publicIP: `192.168.99.${x}`, vni: 1, vtepMAC: mac }),
  };
}

/** The etcd lease id (hex) a key is attached to, or '0'. The id is 63 bits: read it as text, not as a JS number. */
async function leaseOf(etcd: EtcdServer, key: string): Promise<string> {
  const m = /"lease":(\d+)/.exec(await etcd.ctl(['get', key, '-w', 'json']));
  return m?.[1] ? BigInt(m[1]).toString(16) : '0';
}

async function ttlOf(etcd: EtcdServer, leaseHex: string): Promise<{ ttl: number; granted: number }> {
  const r = JSON.parse(await etcd.ctl(['lease', 'timetolive', leaseHex, '-w', 'json'])) as {
    ttl: number;
    'granted-ttl': number;
  };
  return { ttl: r.ttl, granted: r['granted-ttl'] };
}

const fmt = (ms: number[]) => ms.map((x) => `${x.toFixed(0)} ms`).join(', ');

t.test('etcd mode: two vxtun nodes and a flanneld-style kernel node', { skip, timeout: 280_000 }, async (t) => {
  const lab = await Lab.create({ nodes: 3, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const etcdNs = await lab.addHost('etcd', '192.168.99.200');
  const etcd = await startEtcd(lab, { ns: etcdNs, address: '192.168.99.200' });
  await etcd.put(`${PREFIX}/config`, NET_CONFIG);
  const kernel = await startEtcdFlannelNode(lab, 3, etcd);
  const vx: VxtunNode[] = [];
  for (const i of [1, 2]) vx.push(await startVxtunNode(lab, i, { etcd: { endpoints: [etcd.url] } }));
  const [v1, v2] = vx as [VxtunNode, VxtunNode];
  await kernel.sync();
  const others = (i: number) => [1, 2, 3].filter((j) => j !== i).map((j) => lab.podCIDR(j, 4));
  const pingOk = async (a: number, b: number, count = 2) =>
    (await ping(lab, lab.podNs(a), lab.podIP(b), { count, waitS: 1 })).received;

  await t.test('(a) each node on its subnet; every pair pings and transfers; leases in flannel’s format', async (t) => {
    const full = await waitForStatus(vx, (s) => s.peers.length === 2, 10_000);
    for (const [k, s] of full.statuses.entries()) {
      const i = k + 1;
      t.same(s.podCIDRs, [lab.podCIDR(i, 4)], `node ${i} took its previous subnet (subnet.env) again`);
      t.same(peerSubnets(s), others(i), `node ${i} programmed the other two (${fmt([full.ms[k] ?? NaN])})`);
      t.match(
        s.controlPlane,
        { source: 'etcd', connected: true, nodes: 3, skipped: 0 },
        `node ${i}: etcd connected, 3 nodes`,
      );
      const key = `${PREFIX}/subnets/10.244.${i}.0-24`;
      t.equal(
        await etcd.get(key),
        flannelLeaseValue({ publicIP: lab.underlayIP(i, 4), vni: 1, vtepMAC: s.vtepMAC }),
        `node ${i}: ${key} is flannel's value byte for byte, with the daemon's VtepMAC ${s.vtepMAC}`,
      );
      const ttl = await ttlOf(etcd, await leaseOf(etcd, key));
      t.equal(ttl.granted, 86_400, `node ${i}: the key is on a 24 h lease (${ttl.ttl} s left)`);
    }
    t.same(
      [...kernel.remotes().values()].map((r) => [r.podCIDR, r.publicIP, r.vtepMAC]),
      full.statuses.map((s, k) => [lab.podCIDR(k + 1, 4), lab.underlayIP(k + 1, 4), s.vtepMAC]),
      'the kernel node programmed both vxtun nodes from their leases',
    );
    for (const a of [1, 2, 3])
      for (const b of [1, 2, 3]) {
        if (a === b) continue;
        t.equal(await pingOk(a, b, 3), 3, `ping pod-${a} → pod-${b}`);
        const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 8 * MB });
        t.ok(
          r.bytes === 8 * MB && r.sha256Received === r.sha256Sent,
          `8 MB pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
        );
      }
  });

  await t.test('(b) a lease deleted leaves both tables ≤ 1 s; written back, it is programmed ≤ 1 s', async (t) => {
    const k3 = lab.podCIDR(3, 4);
    await etcd.del(kernel.key);
    const gone = await waitForStatus(vx, (s) => !peerSubnets(s).includes(k3), 10_000);
    t.ok(
      gone.ok && gone.ms.every((x) => x <= LEASE_CHANGE_MS),
      `del → gone from /status: ${fmt(gone.ms)} (≤ ${LEASE_CHANGE_MS})`,
    );
    for (const i of [1, 2]) t.equal(await pingOk(i, 3), 0, `pod-${i} → pod-3 fails without the lease`);
    await kernel.renew();
    const back = await waitForStatus(vx, (s) => peerSubnets(s).includes(k3), 10_000);
    t.ok(
      back.ok && back.ms.every((x) => x <= LEASE_CHANGE_MS),
      `put → in /status: ${fmt(back.ms)} (≤ ${LEASE_CHANGE_MS})`,
    );
    for (const i of [1, 2]) t.equal(await pingOk(i, 3), 2, `pod-${i} → pod-3 pings again`);
  });

  await t.test('(e) compaction while node 2 is cut off: it relists, no stale peer', async (t) => {
    const ns2 = lab.nodeNs(2);
    const rules =
      'table inet vxtcut {\n chain out {\n  type filter hook output priority 0;\n  tcp dport 2379 drop\n }\n}\n';
    await lab.exec(ns2, 'nft', ['-f', '-'], { input: rules });
    try {
      // Dropping alone would leave its watch stream open, to be resumed as if nothing happened: kill it too.
      await lab.exec(ns2, 'ss', ['-K', '-t', 'dst', '192.168.99.200', 'dport', '=', '2379']);
      const ghost = ghostLease(77);
      await etcd.del(kernel.key);
      await etcd.put(ghost.key, ghost.value);
      const want1 = [lab.podCIDR(2, 4), ghost.subnet].sort();
      const want = [lab.podCIDR(1, 4), ghost.subnet].sort();
      const seen1 = await waitForStatus([v1], (s) => peerSubnets(s).join() === want1.join(), 10_000);
      t.ok(seen1.ok, `node 1 (connected) saw both changes (${fmt(seen1.ms)})`);
      const s2 = (await waitForStatus([v2], () => true, 5_000)).statuses[0];
      t.same(s2 && peerSubnets(s2), others(2), 'node 2 (cut off) still has the old table');
      t.comment(`node 2 controlPlane while cut off: ${JSON.stringify(s2?.controlPlane)}`);
      const rev = await etcd.compact();
      t.comment(`compacted at revision ${rev}`);
      await lab.exec(ns2, 'nft', ['delete', 'table', 'inet', 'vxtcut']);
      const relisted = await waitForStatus([v2], (s) => peerSubnets(s).join() === want.join(), 20_000);
      t.ok(relisted.ok, `node 2 relisted after reconnecting (${fmt(relisted.ms)}): ${want.join(', ')}`);
      const after = relisted.statuses[0];
      t.same(after && peerSubnets(after), want, 'node 2: the deleted peer is gone, the new one there, nothing else');
      t.match(after?.controlPlane, { connected: true, nodes: 3 }, 'node 2 connected again');
      await etcd.del(ghost.key);
    } finally {
      await lab.exec(ns2, 'nft', ['delete', 'table', 'inet', 'vxtcut'], { okExitCodes: [0, 1] });
    }
    await kernel.renew();
    const back = await waitForStatus(vx, (s) => peerSubnets(s).includes(lab.podCIDR(3, 4)), 10_000);
    t.ok(back.ok, `the kernel node's lease back on both (${fmt(back.ms)})`);
  });

  await t.test('(d) etcd stopped 10 s under a 50/s ping: no loss; the watch resumes; leases kept', async (t) => {
    const keys = [1, 2].map((i) => `${PREFIX}/subnets/10.244.${i}.0-24`).concat(kernel.key);
    const pinging = ping(lab, lab.podNs(1), lab.podIP(2), { count: 900, intervalS: 0.02, waitS: 2 });
    await sleep(1_500);
    await etcd.stop();
    const stoppedAt = performance.now();
    const down = await waitForStatus(vx, (s) => s.controlPlane?.connected === false, 9_000);
    t.ok(down.ok, `both see etcd gone (${fmt(down.ms)}): ${JSON.stringify(down.statuses[0]?.controlPlane)}`);
    await sleep(Math.max(0, 10_000 - (performance.now() - stoppedAt)));
    await etcd.start();
    const ghost = ghostLease(88);
    await etcd.put(ghost.key, ghost.value);
    const seen = await waitForStatus(vx, (s) => peerSubnets(s).includes(ghost.subnet), 10_000);
    t.ok(
      seen.ok && seen.ms.every((x) => x <= AFTER_OUTAGE_MS),
      `a lease put after etcd's return programmed: ${fmt(seen.ms)} (≤ ${AFTER_OUTAGE_MS})`,
    );
    const p = await pinging;
    t.equal(p.received, p.sent, `ping through the outage: ${p.received}/${p.sent}`);
    for (const key of keys) {
      const id = await leaseOf(etcd, key);
      const ttl = id === '0' ? { ttl: -1, granted: 0 } : await ttlOf(etcd, id);
      t.ok(ttl.ttl > 86_000, `${key} still on its lease (${ttl.ttl} s left)`);
    }
    const cp = await waitForStatus(vx, (s) => s.controlPlane?.connected === true, 5_000);
    t.ok(cp.ok, 'both report etcd connected again');
    await etcd.del(ghost.key);
  });

  await t.test('(f) restarted without its subnet.env: the lease holding its PublicIP, with its VTEP MAC', async (t) => {
    const before = await vx[0]!.status();
    t.same(await vx[0]!.stop(), { code: 0, signal: null }, 'node 1 stopped cleanly');
    const key = `${PREFIX}/subnets/10.244.1.0-24`;
    t.ok(await etcd.get(key), 'its lease is kept over the stop');
    rmSync(lab.subnetEnvPath(1), { force: true });
    vx[0] = await startVxtunNode(lab, 1, { etcd: { endpoints: [etcd.url] } });
    const s = await vx[0].status();
    t.same(s.podCIDRs, [lab.podCIDR(1, 4)], 'the same subnet: the lease whose PublicIP is ours');
    t.equal(s.vtepMAC, before.vtepMAC, `the same VTEP MAC, read from the lease (${s.vtepMAC})`);
    const full = await waitForStatus([vx[0]], (x) => x.peers.length === 2, 10_000);
    t.ok(full.ok, `the other two programmed again (${fmt(full.ms)})`);
    t.equal(await pingOk(1, 2, 3), 3, 'pod-1 → pod-2 after the restart');
    t.equal(await pingOk(1, 3, 3), 3, "pod-1 → the kernel node's pod after the restart");
  });

  for (const [k, n] of vx.entries()) t.same(await n.stop(), { code: 0, signal: null }, `vxtun ${k + 1} exits 0`);
  t.ok(await etcd.get(`${PREFIX}/subnets/10.244.1.0-24`), 'a clean stop keeps the lease (as flanneld does)');
});
