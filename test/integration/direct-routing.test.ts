// DirectRouting with real daemons (static mode): nodes 1 and 2 share the underlay subnet 192.168.99.0/24, node 3 is
// on 192.168.98.0/24 behind a router (src/lab/routed-node.ts):
//
//   pod-1 ─ node-1 ──┬── br0 192.168.99.0/24 ── rtr ── 192.168.98.0/24 ── node-3 ─ pod-3
//   pod-2 ─ node-2 ──┘
//
// With dataplane.directRouting on, node 1 reaches pod-2 by a plain kernel route via 192.168.99.2 (proto 119) and
// pod-3 over VXLAN. A capture on node 1's eth0 proves it: no UDP 8472 between nodes 1 and 2 while pods 1 and 2 talk
// (and their packets plain on the wire), VXLAN to 192.168.98.3 while pods 1 and 3 do; with DirectRouting off the
// first check fails. /status and /metrics count the route; a clean stop removes it; a restart after SIGKILL
// reconciles a crashed run's leftovers (a stale via, a gone peer's route) to exactly the one right route.
import t, { type Test } from 'tap';
import {
  Lab,
  labPeer,
  ping,
  routedIP,
  routeNodeBehindRouter,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'tcpdump']);
const DIRECT = { dataplane: { directRouting: true } };

/** The routes of proto 119 in a namespace's main table, one a line (`ip route show proto 119` would drop the proto). */
async function directRoutes(lab: Lab, ns: string): Promise<string[]> {
  const r = await lab.ip(ns, ['-4', 'route', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / proto 119\b/.test(l));
}

/**
 * The routes of proto 119 once they equal `want`, or what they are after 15 s: the daemon says ready when the table
 * is programmed, and its routes follow from the same snapshot a moment later.
 */
async function settledRoutes(lab: Lab, ns: string, want: string[]): Promise<string[]> {
  const t0 = Date.now();
  let now = await directRoutes(lab, ns);
  while (Date.now() - t0 < 15_000 && JSON.stringify(now) !== JSON.stringify(want)) {
    await new Promise((r) => setTimeout(r, 100));
    now = await directRoutes(lab, ns);
  }
  return now;
}

/** Header lines tcpdump prints for node 1's eth0 while `during` runs: VXLAN datagrams and plain pod packets. */
async function captureNode1(lab: Lab, during: () => Promise<void>): Promise<string[]> {
  const args = ['-i', 'eth0', '-n', '-l', '-q', '-t', '--immediate-mode', '-s', '128'];
  const proc = lab.spawn(lab.nodeNs(1), 'tcpdump', [...args, 'udp port 8472 or net 10.244.0.0/16']);
  await proc.waitForOutput(/listening on /, 15_000);
  try {
    await during();
  } finally {
    await proc.stop('SIGTERM', 5_000);
  }
  return proc.stdout().split('\n').filter(Boolean);
}

async function transfers(t: Test, lab: Lab, a: number, b: number, bytes: number): Promise<void> {
  const r = await ping(lab, lab.podNs(a), lab.podIP(b), { count: 3 });
  t.equal(r.received, 3, `ping pod-${a} → pod-${b}: ${r.received}/${r.sent}`);
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const x = await tcpTransfer(lab.podNs(to), lab.podIP(to), lab.podNs(from), { bytes });
    t.equal(x.bytes, bytes, `pod-${from} → pod-${to}: all bytes`);
    t.equal(
      x.sha256Received,
      x.sha256Sent,
      `pod-${from} → pod-${to}: sha256 matches (${x.mbitPerSecond.toFixed(0)} Mbit/s)`,
    );
  }
}

async function threeNodes(t: Test, extra: Record<string, unknown>) {
  const lab = await Lab.create({ nodes: 3, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  await routeNodeBehindRouter(lab, 3);
  const peers = [labPeer(lab, 1), labPeer(lab, 2), { ...labPeer(lab, 3), publicIP: routedIP(3) }];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2, 3]) nodes.push(await startVxtunNode(lab, i, { peers, extra }));
  return { lab, peers, nodes: nodes as [VxtunNode, VxtunNode, VxtunNode] };
}

const vxlanTo = (lines: string[], ip: string) => lines.filter((l) => l.includes(`${ip}.8472`)).length;
const plainTo = (lines: string[], podIP: string) =>
  lines.filter((l) => !l.includes('.8472') && l.includes(` > ${podIP}.`)).length;

t.test('DirectRouting on: same-subnet peer routed directly, the routed one over VXLAN', { skip }, async (t) => {
  const { lab, peers, nodes } = await threeNodes(t, DIRECT);
  let [n1] = nodes;

  await t.test('kernel routes and status', async (t) => {
    const one = ['10.244.2.0/24 via 192.168.99.2 dev eth0 proto 119'];
    t.same(await settledRoutes(lab, lab.nodeNs(1), one), one);
    const two = ['10.244.1.0/24 via 192.168.99.1 dev eth0 proto 119'];
    t.same(await settledRoutes(lab, lab.nodeNs(2), two), two);
    t.same(await directRoutes(lab, lab.nodeNs(3)), [], 'node 3 has no peer on its subnet');
    const s = await n1.status();
    t.same(s.directRouting, { enabled: true, routes: 1 });
    t.same(
      s.peers.map((p) => [p.name, p.direct === true]),
      [
        ['node-2', true],
        ['node-3', false],
      ],
    );
  });

  await t.test('pod-1 ↔ pod-2: no VXLAN between nodes 1 and 2, plain pod packets on eth0', async (t) => {
    const lines = await captureNode1(lab, () => transfers(t, lab, 1, 2, 20 * MB));
    t.equal(vxlanTo(lines, '192.168.99.2') + vxlanTo(lines, '192.168.99.1'), 0, 'no UDP 8472 between nodes 1 and 2');
    t.ok(plainTo(lines, lab.podIP(2)) > 100, `plain packets to pod-2 on eth0: ${plainTo(lines, lab.podIP(2))}`);
    t.ok(plainTo(lines, lab.podIP(1)) > 100, `plain packets from pod-2 on eth0: ${plainTo(lines, lab.podIP(1))}`);
  });

  await t.test('pod-1 ↔ pod-3: VXLAN via the router', async (t) => {
    const lines = await captureNode1(lab, () => transfers(t, lab, 1, 3, 5 * MB));
    t.ok(vxlanTo(lines, routedIP(3)) > 100, `VXLAN to 192.168.98.3: ${vxlanTo(lines, routedIP(3))}`);
    t.equal(plainTo(lines, lab.podIP(3)), 0, 'no plain packets to pod-3');
  });

  await t.test('pod-2 ↔ pod-3: VXLAN via the router', async (t) => {
    await transfers(t, lab, 2, 3, 5 * MB);
  });

  await t.test('a clean stop removes the route; a restart after SIGKILL reconciles leftovers', async (t) => {
    await n1.stop();
    t.same(await directRoutes(lab, lab.nodeNs(1)), [], 'SIGTERM: no route of proto 119 left');
    const want = ['10.244.2.0/24 via 192.168.99.2 dev eth0 proto 119'];
    n1 = await startVxtunNode(lab, 1, { peers, extra: DIRECT });
    t.same(await settledRoutes(lab, lab.nodeNs(1), want), want, 'a start installs it');
    await n1.stop('SIGKILL');
    t.same(
      await directRoutes(lab, lab.nodeNs(1)),
      ['10.244.2.0/24 via 192.168.99.2 dev eth0 proto 119'],
      'SIGKILL leaves the route',
    );
    // What a crashed run might leave: a stale via for node-2 and a route to a node that is gone.
    const ns = lab.nodeNs(1);
    await lab.ip(ns, ['route', 'replace', '10.244.2.0/24', 'via', '192.168.99.9', 'dev', 'eth0', 'proto', '119']);
    await lab.ip(ns, ['route', 'replace', '10.244.7.0/24', 'via', '192.168.99.7', 'dev', 'eth0', 'proto', '119']);
    n1 = await startVxtunNode(lab, 1, { peers, extra: DIRECT });
    t.same(await settledRoutes(lab, ns, want), want, 'exactly the right route: stale via replaced, gone peer removed');
    t.same((await n1.status()).directRouting, { enabled: true, routes: 1 });
    const r = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 3 });
    t.equal(r.received, 3, 'pod-1 → pod-2 after the restart');
    await n1.stop();
    t.same(await directRoutes(lab, ns), [], 'and a clean stop removes it');
  });
});

t.test('control: DirectRouting off, pod-1 ↔ pod-2 is VXLAN and no route of proto 119 exists', { skip }, async (t) => {
  const { lab, nodes } = await threeNodes(t, {});
  t.same(await directRoutes(lab, lab.nodeNs(1)), []);
  t.same((await nodes[0].status()).directRouting, { enabled: false, routes: 0 });
  const lines = await captureNode1(lab, () => transfers(t, lab, 1, 2, 2 * MB));
  t.ok(vxlanTo(lines, '192.168.99.2') > 100, `VXLAN to node 2: ${vxlanTo(lines, '192.168.99.2')}`);
  t.equal(plainTo(lines, lab.podIP(2)), 0, 'no plain packets to pod-2');
});
