// ipMasq: true on two vxtun nodes (static peers), with the real nft (and once the real iptables) inside the lab's
// node namespaces and an outside host on the underlay that has no route to the pod network:
//
//   pod-1 ── node-1 [vxtun0] ══ 192.168.99.0/24 ══ [vxtun0] node-2 ── pod-2
//                 │ eth0 192.168.99.1, fd99::1
//                 └──────── ext 192.168.99.200, fd99::200 (no route to 10.244.0.0/16 or fd10:244::/56)
//
// What each receiver's own socket sees (test/helpers/udp-echo.ts), both families: pod-1 → ext arrives from node-1's
// underlay address and the echo comes back (ping too); pod-1 → pod-2 arrives from pod-1's own address. With a route
// the test gives ext for a moment: ext → pod-1 keeps ext's address, ext → pod-2 through node-1 arrives from node-1.
// The rule set is exactly vxtun's, once, after clean restarts and after SIGKILL; a foreign nft table in the node
// namespace is never touched; a clean stop leaves no vxtun table, and ipMasq false removes a stale one. Then the
// same with nft missing from PATH: the iptables fallback, its chains and one jump, removed on stop.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { cidrNetworkAddress, Lab, labPeer, ping, run, startVxtunNode, type VxtunNode } from '../../src/lab/index.js';
import { IPT_CHAIN, iptablesRuleArgs, masqRules, NFT_CHAIN_HOOK, nftRule } from '../../src/masq/rules.js';
import { Cidr } from '../../src/net/cidr.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { startUdpEcho, udpEchoes, type UdpEchoServer } from '../helpers/udp-echo.js';

const skip = labSkipReason([
  'ip',
  'bridge',
  'sysctl',
  'ping',
  'python3',
  'nft',
  'iptables',
  'ip6tables',
  'iptables-restore',
  'ip6tables-restore',
]);
const EXT_IP = '192.168.99.200';
const EXT_IP6 = 'fd99::200';
const NODE1_IP6 = 'fd99::1';
const PORT = 7777;

t.test('ipMasq: masquerade only what leaves the cluster network', { skip, timeout: 280_000 }, async (t) => {
  const lab = await Lab.create({ nodes: 2 });
  t.teardown(() => lab.destroy());
  const n1 = lab.nodeNs(1);
  const p1 = lab.podNs(1);
  const ext = await lab.addHost('ext', EXT_IP);
  // An IPv6 underlay between node-1 and ext only (the lab's underlay is IPv4), for the IPv6 masquerade.
  const ul1 = (await lab.ip(n1, ['-o', '-4', 'addr', 'show', 'to', lab.underlayIP(1)])).stdout.split(/\s+/)[1]!;
  await lab.ip(n1, ['-6', 'addr', 'add', `${NODE1_IP6}/64`, 'dev', ul1, 'nodad']);
  await lab.ip(ext, ['-6', 'addr', 'add', `${EXT_IP6}/64`, 'dev', 'eth0', 'nodad']);

  const nft = async (ns: string, ...args: string[]) => (await lab.exec(ns, 'nft', args)).stdout;
  const tables = async () => (await nft(n1, 'list', 'tables')).trim().split('\n').filter(Boolean).sort();
  // A table that is not vxtun's, in node-1's namespace, before vxtun ever runs there.
  await lab.exec(n1, 'nft', ['-f', '-'], {
    input:
      'table ip other {\n\tchain c {\n\t\ttype nat hook postrouting priority 50;\n\t\tip daddr 192.0.2.1 counter\n\t}\n}\n',
  });
  const foreign = await nft(n1, 'list', 'table', 'ip', 'other');
  t.match(
    foreign,
    /type nat hook postrouting priority \S+; policy accept;\n\s*ip daddr 192\.0\.2\.1 counter packets 0 bytes 0\n/,
    'the foreign table as the test made it',
  );
  const foreignUntouched = async (t: Test, when: string) =>
    t.equal(await nft(n1, 'list', 'table', 'ip', 'other'), foreign, `foreign table untouched ${when}`);

  const rules = masqRules({
    network: Cidr.parse(lab.podNetwork(4)),
    ipv6Network: Cidr.parse(lab.podNetwork(6)),
    podCIDRs: [Cidr.parse(lab.podCIDR(1, 4)), Cidr.parse(lab.podCIDR(1, 6))],
  });
  const expectedTable = `table inet vxtun {\n\tchain postrouting {\n\t\t${NFT_CHAIN_HOOK}\n${rules.map((r) => `\t\t${nftRule(r)}\n`).join('')}\t}\n}\n`;
  const checkOneTable = async (t: Test, when: string) => {
    t.same(await tables(), ['table inet vxtun', 'table ip other'], `exactly one vxtun table ${when}`);
    t.equal(await nft(n1, 'list', 'table', 'inet', 'vxtun'), expectedTable, `vxtun's rules, each once, ${when}`);
    await foreignUntouched(t, when);
  };

  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const start = (i: number, ipMasq: boolean, env?: NodeJS.ProcessEnv) =>
    startVxtunNode(lab, i, {
      peers,
      extra: { ipMasq, dataplane: { workers: 1 } },
      readyTimeoutMs: 30_000,
      ...(env ? { env } : {}),
    });
  let node1: VxtunNode = await start(1, true);
  await start(2, true);
  const extEcho = await startUdpEcho(lab, ext, PORT);
  const pod2Echo = await startUdpEcho(lab, lab.podNs(2), PORT);
  let seq = 0;
  /** Sends a fresh token from `ns` to `to`; checks the echo came back and every copy arrived from `from`. */
  const arrivesFrom = async (t: Test, server: UdpEchoServer, ns: string, to: string, from: string, what: string) => {
    const token = `masq${++seq}`;
    t.ok(await udpEchoes(lab, ns, to, PORT, token), `${what}: the reply comes back`);
    const seen = server.sources(token);
    t.ok(
      seen.length > 0 && seen.every((s) => s === from),
      `${what}: arrives from ${from} (seen: ${seen.join(', ') || 'nothing'})`,
    );
  };

  await checkOneTable(t, 'after start');
  t.same((await node1.status()).ipMasq, { enabled: true, backend: 'nftables' }, 'status: nftables');

  await t.test('traffic', async (t) => {
    await arrivesFrom(t, extEcho, p1, EXT_IP, lab.underlayIP(1), 'pod-1 → ext (IPv4)');
    await arrivesFrom(t, extEcho, p1, EXT_IP6, NODE1_IP6, 'pod-1 → ext (IPv6)');
    const pinged = await ping(lab, p1, EXT_IP, { count: 3 });
    t.equal(pinged.received, 3, `ping pod-1 → ext: ${pinged.received}/3 replies`);
    await arrivesFrom(t, pod2Echo, p1, lab.podIP(2, 4), lab.podIP(1, 4), 'pod-1 → pod-2 (IPv4): no NAT');
    await arrivesFrom(t, pod2Echo, p1, lab.podIP(2, 6), lab.podIP(1, 6), 'pod-1 → pod-2 (IPv6): no NAT');
    // For a moment ext routes the pod network through node-1.
    await lab.ip(ext, ['-4', 'route', 'add', lab.podNetwork(4), 'via', lab.underlayIP(1)]);
    try {
      const pod1Echo = await startUdpEcho(lab, p1, PORT);
      await arrivesFrom(t, pod1Echo, ext, lab.podIP(1, 4), EXT_IP, 'ext → pod-1 (own subnet): no NAT');
      await pod1Echo.process.stop();
      // Unmasqueraded, node-2 would drop it: 192.168.99.200 is not in node-1's pod CIDRs (spoofed-source).
      await arrivesFrom(
        t,
        pod2Echo,
        ext,
        lab.podIP(2, 4),
        cidrNetworkAddress(lab.podCIDR(1, 4)),
        'ext → pod-2 through node-1: from node-1',
      );
    } finally {
      await lab.ip(ext, ['-4', 'route', 'del', lab.podNetwork(4), 'via', lab.underlayIP(1)]);
    }
  });

  await t.test('restarts: SIGTERM, SIGKILL; ipMasq false removes a stale table', async (t) => {
    t.same(await node1.stop('SIGTERM'), { code: 0, signal: null }, 'clean stop');
    t.same(await tables(), ['table ip other'], 'no vxtun table after a clean stop');
    await foreignUntouched(t, 'after a clean stop');
    node1 = await start(1, true);
    await checkOneTable(t, 'after a restart');
    await arrivesFrom(t, extEcho, p1, EXT_IP, lab.underlayIP(1), 'pod-1 → ext after a restart');

    t.equal((await node1.stop('SIGKILL')).signal, 'SIGKILL');
    t.same(
      await tables(),
      ['table inet vxtun', 'table ip other'],
      'SIGKILL leaves the table (nothing runs to remove it)',
    );
    node1 = await start(1, true);
    await checkOneTable(t, 'after SIGKILL and a restart');
    await arrivesFrom(t, extEcho, p1, EXT_IP, lab.underlayIP(1), 'pod-1 → ext after SIGKILL and a restart');

    await node1.stop('SIGKILL');
    node1 = await start(1, false);
    t.same(await tables(), ['table ip other'], 'ipMasq false after a crash: the stale table is removed');
    t.same((await node1.status()).ipMasq, { enabled: false, backend: null });
    await foreignUntouched(t, 'with ipMasq false');
    t.same(await node1.stop(), { code: 0, signal: null });
  });

  await t.test('iptables where nft is missing', async (t) => {
    // A PATH holding the tools vxtun runs, except nft.
    const bin = mkdtempSync(join(tmpdir(), 'vxtun-masq-bin-'));
    t.teardown(() => rmSync(bin, { recursive: true, force: true }));
    for (const tool of ['ip', 'iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore']) {
      symlinkSync((await run('sh', ['-c', `command -v ${tool}`])).stdout.trim(), join(bin, tool));
    }
    const ipt = async (tool: string) => (await lab.exec(n1, tool, ['-t', 'nat', '-S'])).stdout;
    const ours = (text: string) => text.split('\n').filter((l) => l.includes(IPT_CHAIN));
    const expected = (family: 4 | 6) => [
      `-N ${IPT_CHAIN}`,
      '-A POSTROUTING -m comment --comment "vxtun masq" -j VXTUN-POSTRTG',
      ...rules
        .filter((r) => r.family === family)
        .map(
          (r) =>
            `-A ${IPT_CHAIN} ${iptablesRuleArgs(r)
              .map((a) => (a.includes(' ') ? `"${a}"` : a))
              .join(' ')}`,
        ),
    ];
    const env = { ...process.env, PATH: bin };
    for (const how of ['start', 'restart']) {
      node1 = await start(1, true, env);
      t.same((await node1.status()).ipMasq, { enabled: true, backend: 'iptables' }, `${how}: status says iptables`);
      t.same(ours(await ipt('iptables')).sort(), expected(4).sort(), `${how}: IPv4 chain and exactly one jump`);
      t.same(ours(await ipt('ip6tables')).sort(), expected(6).sort(), `${how}: IPv6 chain and exactly one jump`);
      t.notOk((await tables()).includes('table inet vxtun'), `${how}: no nft table`);
      await arrivesFrom(t, extEcho, p1, EXT_IP, lab.underlayIP(1), `${how}: pod-1 → ext`);
      await arrivesFrom(t, pod2Echo, p1, lab.podIP(2, 4), lab.podIP(1, 4), `${how}: pod-1 → pod-2, no NAT`);
      await foreignUntouched(t, `with iptables (${how})`);
      t.same(await node1.stop(), { code: 0, signal: null });
    }
    t.same(ours(await ipt('iptables')), [], 'clean stop: nothing of vxtun in iptables');
    t.same(ours(await ipt('ip6tables')), [], 'nor in ip6tables');
  });
});
