// The real node path: pods made by the real CNI plugins (bridge + host-local, with the delegate the flannel plugin
// renders from each node's subnet.env), on two vxtun nodes and one kernel VXLAN node programmed as flannel does:
//
//   pod-1 ── cni0 node-1 [vxtun0] ══╗                       ╔══ [vxtun0] node-2 cni0 ── pod-2
//                                   ╠═ UDP 8472, 192.168.99.0/24 ═╣
//                                   ╚══ [flannel.1] node-3 cni0 ── pod-3 (kernel VXLAN, IPv4)
//
// ipMasq true (FLANNEL_IPMASQ=true, the shipped DaemonSet): every ordered pair pings and moves a sha256-checked
// transfer, and a capture inside the receiving pod sees the sending pod's own address (no NAT between pods).
// ipMasq false (FLANNEL_IPMASQ=false): the flannel plugin then gives the bridge ipMasq true, and the bridge
// masquerades everything that leaves the pod's /24 — the remote pod sees the sending NODE's overlay address
// (<node subnet>.0, the address of vxtun0 / flannel.1). The test asserts that, documenting the bridge's behaviour.
import { readFileSync, statSync } from 'node:fs';
import t, { type Test } from 'tap';
import {
  cidrNetworkAddress,
  Lab,
  labPeer,
  labVtepMAC,
  ping,
  programKernelVxlanNode,
  startArrivalCapture,
  startVxtunNode,
  tcpTransfer,
  type Arrival,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const KERNEL = 3;
const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'tcpdump', 'iptables']);

/** Three nodes, pods by CNI; vxtun on 1 and 2 (static peers), kernel VXLAN on 3. */
async function threeNodes(t: Test, ipMasq: boolean): Promise<{ lab: Lab; nodes: VxtunNode[] }> {
  const lab = await Lab.create({ nodes: 3, ipMasq, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  await programKernelVxlanNode(lab, KERNEL, {
    remotes: [1, 2].map((j) => ({ podCIDR: lab.podCIDR(j, 4), publicIP: lab.underlayIP(j), vtepMAC: labVtepMAC(j) })),
  });
  // node-3's kernel device carries IPv4 only (flannel carries IPv6 over an IPv6 underlay).
  const peers = [
    labPeer(lab, 1, labVtepMAC(1)),
    labPeer(lab, 2, labVtepMAC(2)),
    {
      name: `node-${KERNEL}`,
      podCIDRs: [lab.podCIDR(KERNEL, 4)],
      publicIP: lab.underlayIP(KERNEL),
      vtepMAC: labVtepMAC(KERNEL),
    },
  ];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers, readyTimeoutMs: 60_000 }));
  return { lab, nodes };
}

/** Waits (generously: a loaded machine) until `cond` holds for what the capture printed. */
async function until(get: () => Arrival[], cond: (a: Arrival[]) => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !cond(get())) await new Promise((r) => setTimeout(r, 100));
}

const orderedPairs: [number, number][] = [];
for (const a of [1, 2, 3]) for (const b of [1, 2, 3]) if (a !== b) orderedPairs.push([a, b]);

/**
 * For one ordered pair: a capture in pod b's namespace, 3 pings and one sha256-checked transfer from pod a, and
 * the source addresses pod b saw for the echo requests and the SYN, which must all be `wantSrc`.
 */
async function checkPair(
  t: Test,
  lab: Lab,
  a: number,
  b: number,
  fam: 4 | 6,
  bytes: number,
  wantSrc: string,
): Promise<void> {
  const cap = await startArrivalCapture(lab, lab.podNs(b));
  try {
    const dst = lab.podIP(b, fam);
    const p = await ping(lab, lab.podNs(a), dst, { count: 3, waitS: 5 });
    t.equal(p.received, 3, `pod-${a} → pod-${b} (${dst}): ${p.received}/${p.sent} replies`);
    const r = await tcpTransfer(lab.podNs(b), dst, lab.podNs(a), {
      bytes,
      seed: `${a}-${b}-${fam}`,
      timeoutMs: 240_000,
    });
    t.equal(r.bytes, bytes, `pod-${a} → pod-${b}: all ${bytes} bytes arrived`);
    t.equal(
      r.sha256Received,
      r.sha256Sent,
      `pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
    );
    t.equal(r.receiverSawPeer, wantSrc, `pod-${b}'s socket saw the connection come from ${wantSrc}`);
    const mine = (x: Arrival[]) => x.filter((y) => y.family === fam && y.dst === dst);
    await until(
      cap.arrivals,
      (x) => mine(x).filter((y) => y.kind === 'echo').length >= 3 && mine(x).some((y) => y.kind === 'syn'),
    );
    const seen = mine(await cap.stop());
    const echoes = seen.filter((y) => y.kind === 'echo');
    const syns = seen.filter((y) => y.kind === 'syn');
    t.ok(echoes.length >= 3, `the capture in pod-${b} saw the ${echoes.length} echo requests`);
    t.ok(syns.length >= 1, `the capture in pod-${b} saw the SYN`);
    t.same([...new Set(seen.map((y) => y.src))], [wantSrc], `pod-${b} saw every echo request and SYN from ${wantSrc}`);
  } finally {
    await cap.stop();
  }
}

t.test('ipMasq true: pods by CNI reach each other on every pair without NAT', { skip }, async (t) => {
  const { lab: l3, nodes } = await threeNodes(t, true);

  await t.test('the pods are what CNI made, and the daemons wrote the file the plugin read', async (t) => {
    for (const i of [1, 2, 3]) {
      const delegate = await l3.renderedDelegate(i);
      t.match(delegate, {
        name: 'cbr0',
        type: 'bridge',
        ipMasq: false,
        isGateway: true,
        hairpinMode: true,
        isDefaultGateway: true,
        mtu: l3.podMTU,
      });
      const saved = readFileSync(`${l3.nodeDir(i)}/flannel/${l3.podNs(i)}`, 'utf8');
      t.equal(saved, JSON.stringify(delegate), `node-${i}: the delegate ADD used is saved for DEL`);
      const addrs = (await l3.ip(l3.podNs(i), ['-br', 'addr', 'show', 'dev', 'eth0'])).stdout;
      t.match(addrs, new RegExp(`${l3.podIP(i, 4)}/24 .*${l3.podIP(i, 6)}/64`), `pod-${i} eth0 has its CNI addresses`);
      t.notMatch(
        (await l3.ip(l3.podNs(i), ['addr', 'show', 'dev', 'eth0'])).stdout,
        /tentative/,
        `pod-${i}: no address waits for DAD`,
      );
      const cni0 = (await l3.ip(l3.nodeNs(i), ['-br', 'addr', 'show', 'dev', 'cni0'])).stdout;
      t.match(
        cni0,
        new RegExp(`${l3.podGatewayIP(i, 4)}/24 .*${l3.podGatewayIP(i, 6)}/64`),
        `node-${i} cni0 is the gateway`,
      );
      t.equal(
        (await l3.exec(l3.nodeNs(i), 'iptables', ['-t', 'nat', '-S'])).stdout.includes('MASQUERADE'),
        false,
        `node-${i}: the bridge masquerades nothing`,
      );
    }
    for (const [k, n] of nodes.entries()) {
      const i = k + 1;
      t.equal(n.subnetFile, l3.subnetEnvPath(i), `node-${i}: the daemon's subnetFile is the lab's`);
      t.equal(
        readFileSync(l3.subnetEnvPath(i), 'utf8'),
        l3.subnetEnvText(i),
        `node-${i}: the daemon's subnet.env equals the one the pod was made from`,
      );
    }
  });

  await t.test('every ordered pair (IPv4): ping, 10 MB transfer, the receiving pod sees the sending pod', async (t) => {
    for (const [a, b] of orderedPairs) await checkPair(t, l3, a, b, 4, 10 * MB, l3.podIP(a, 4));
  });

  await t.test('IPv6 between the vxtun nodes: the receiving pod sees the sending pod', async (t) => {
    for (const [a, b] of [
      [1, 2],
      [2, 1],
    ] as const)
      await checkPair(t, l3, a, b, 6, 10 * MB, l3.podIP(a, 6));
  });

  await t.test('the vxtun nodes counted no drops', async (t) => {
    for (const n of nodes) {
      const s = await n.status();
      const drops = Object.entries(s.counters.drops).filter(([, v]) => v > 0);
      t.same(drops, [], `${n.name}: no drops`);
    }
  });
});

t.test('the daemon rewrites the subnet.env the lab wrote (same bytes, a new file)', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const before = statSync(lab.subnetEnvPath(1)).ino;
  const n = await startVxtunNode(lab, 1, { peers: [labPeer(lab, 1), labPeer(lab, 2)], readyTimeoutMs: 60_000 });
  t.not(statSync(lab.subnetEnvPath(1)).ino, before, 'the daemon replaced the file (atomic rename)');
  t.equal(readFileSync(lab.subnetEnvPath(1), 'utf8'), lab.subnetEnvText(1), 'with the same content');
  t.match(lab.subnetEnvText(1), /FLANNEL_IPMASQ=true\n/, 'ipMasq from the lab (default true)');
  await n.stop();
});

t.test("ipMasq false: the bridge masquerades, so a remote pod sees the NODE's address", { skip }, async (t) => {
  const { lab, nodes } = await threeNodes(t, false);
  for (const i of [1, 2, 3]) {
    t.equal(
      (await lab.renderedDelegate(i))['ipMasq'],
      true,
      `node-${i}: FLANNEL_IPMASQ=false gives the bridge ipMasq true`,
    );
  }
  t.match(
    readFileSync(lab.subnetEnvPath(1), 'utf8'),
    /FLANNEL_IPMASQ=false\n/,
    'the daemon wrote FLANNEL_IPMASQ=false',
  );

  await t.test('every ordered pair (IPv4): traffic flows, but from <sending node subnet>.0', async (t) => {
    for (const [a, b] of orderedPairs) {
      // The bridge's MASQUERADE takes the address of the device the packet leaves by: vxtun0 or flannel.1,
      // whose address is the node's subnet .0 (README "How it works": `<own subnet>.0/32`).
      await checkPair(t, lab, a, b, 4, 1 * MB, cidrNetworkAddress(lab.podCIDR(a, 4)));
    }
  });

  await t.test("IPv6 between the vxtun nodes: from <sending node subnet>:: (vxtun0's IPv6 address)", async (t) => {
    for (const [a, b] of [
      [1, 2],
      [2, 1],
    ] as const)
      await checkPair(t, lab, a, b, 6, 1 * MB, `fd10:244:0:${a}::`);
  });

  await t.test("a host outside the cluster sees the node's underlay address, and replies come back", async (t) => {
    const ext = await lab.addHost('ext', '192.168.99.200');
    const cap = await startArrivalCapture(lab, ext);
    try {
      for (const a of [1, 2, 3]) {
        const p = await ping(lab, lab.podNs(a), '192.168.99.200', { count: 2, waitS: 5 });
        t.equal(p.received, 2, `pod-${a} → outside host: ${p.received}/${p.sent} replies`);
      }
      await until(cap.arrivals, (x) => x.filter((y) => y.kind === 'echo').length >= 6);
      const srcs = [...new Set((await cap.stop()).filter((y) => y.kind === 'echo').map((y) => y.src))].sort();
      t.same(srcs, [1, 2, 3].map((a) => lab.underlayIP(a)).sort(), "each pod arrived as its node's underlay address");
    } finally {
      await cap.stop();
    }
  });
  for (const n of nodes) await n.stop();
});
