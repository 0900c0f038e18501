// Remote checksum offload (README "Remote checksum offload"; native/core/vxlan.h) on the wire, against the real
// thing: Linux's own VXLAN device with `remcsumtx remcsumrx` as the peer, and two vxtun nodes with each other.
//
//   pod-1 ── node-1 [vxtun0, remoteChecksum] ══ UDP 8472 ══ [flannel.1 remcsumtx remcsumrx | vxtun0] node-2 ── pod-2
//
// Each direction moves a checksum-verified TCP transfer, and the counters show the partial checksums travelled
// with RCO (sent by one end, written without a sum by the other). A vxtun node that does not accept RCO drops what
// a remcsumtx kernel sends it as bad-header, as a kernel VXLAN device without remcsumrx does.
import t, { type Test } from 'tap';
import {
  addKernelVxlanRemote,
  Lab,
  labPeer,
  labVtepMAC,
  programKernelVxlanNode,
  startVxtunNode,
  tcpTransfer,
  type StaticPeer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import type { Json } from '../helpers/fake-apiserver.js';
import { createKubeLab } from '../helpers/kube-lab.js';
import { flannelAnnotations, PREFIX } from '../helpers/kube-nodes.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { vxlanWire } from '../helpers/vxlan-wire.js';

const MB = 1024 * 1024;
const skip = labSkipReason();

async function transferBothWays(t: Test, lab: Lab): Promise<void> {
  for (const [a, b] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 20 * MB });
    t.equal(r.bytes, 20 * MB, `pod-${a} → pod-${b}: all bytes arrived`);
    t.equal(r.sha256Received, r.sha256Sent, `pod-${a} → pod-${b}: sha256 matches`);
  }
}

/** Sends 20 UDP datagrams of 100 bytes from pod a to pod b and returns how many b's socket received. */
async function udpDatagrams(lab: Lab, a: number, b: number): Promise<number> {
  const listen =
    "const s=require('dgram').createSocket('udp4');let n=0;s.on('message',(m)=>{if(m.length===100)n++});" +
    `s.bind(9999,'${lab.podIP(b)}',()=>console.log('ready'));setTimeout(()=>{console.log('got '+n);s.close()},2000)`;
  const server = lab.spawn(lab.podNs(b), process.execPath, ['-e', listen]);
  await server.waitForOutput(/ready/, 10_000);
  const send =
    "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(100);let n=0;" +
    `(function go(){s.send(b,9999,'${lab.podIP(b)}');if(++n<20)setTimeout(go,5);else setTimeout(()=>s.close(),100)})()`;
  await lab.exec(lab.podNs(a), process.execPath, ['-e', send]);
  await server.exited;
  return Number(/got (\d+)/.exec(server.stdout())?.[1] ?? -1);
}

/** What RCO must say for a TCP packet over IPv4 (no options): C bit, start (14 + 20) / 2, TCP's offset. */
const TCP4_RCO = { flags: [0x08, 0x20, 0, 0], startOffset: 17 };

async function offload(n: VxtunNode): Promise<{ sent: number; received: number; badHeader: number }> {
  const s = await n.status();
  return {
    sent: s.counters.offload.remoteChecksumSent,
    received: s.counters.offload.remoteChecksumReceived,
    badHeader: s.counters.drops['bad-header'] ?? -1,
  };
}

/**
 * Programs node-2 as a Linux kernel VXLAN node with remcsumtx/remcsumrx that reaches node-1; returns node-1's static
 * peers (itself and node-2), offering RCO in both entries when `accept`.
 */
async function kernelRcoNode2(lab: Lab, accept: boolean): Promise<StaticPeer[]> {
  const kernel = await programKernelVxlanNode(lab, 2, {
    remoteChecksum: true,
    remotes: [{ podCIDR: lab.podCIDR(1, 4), publicIP: lab.underlayIP(1), vtepMAC: labVtepMAC(1) }],
  });
  const rco = accept ? { remoteChecksum: true } : {};
  return [
    { ...labPeer(lab, 1, labVtepMAC(1)), ...rco },
    { name: 'node-2', podCIDRs: [lab.podCIDR(2, 4)], publicIP: lab.underlayIP(2), vtepMAC: kernel.vtepMAC, ...rco },
  ];
}

t.test('vxtun ⇄ kernel VXLAN with remcsumtx/remcsumrx', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const vx = await startVxtunNode(lab, 1, { peers: await kernelRcoNode2(lab, true) });
  const sent = (await vxlanWire(lab, 1, 'out', () => transferBothWays(t, lab))).map((p) => p.slice(0, 8));
  const received = (await vxlanWire(lab, 1, 'in', () => transferBothWays(t, lab))).map((p) => p.slice(0, 8));
  for (const [what, headers] of [
    ['vxtun sends', sent],
    ['the kernel sends', received],
  ] as const) {
    t.ok(headers.length >= 8, `${what}: ${headers.length} datagrams captured`);
    t.ok(
      headers.every((h) => h.slice(0, 4).join() === TCP4_RCO.flags.join() && h[7] === TCP4_RCO.startOffset),
      `${what} TCP segments with RCO: flags 08 20 00 00, start/offset byte 17 (${JSON.stringify(headers[0])})`,
    );
  }
  const o = await offload(vx);
  t.ok(o.sent > 1000, `vxtun sent its partial checksums with RCO (${o.sent} datagrams); the kernel took them`);
  t.ok(o.received > 1000, `the kernel's RCO datagrams were written without a sum (${o.received} packets)`);
  // UDP: RCO with the O bit (UDP's checksum field), both ways.
  t.equal(await udpDatagrams(lab, 1, 2), 20, 'UDP vxtun → kernel: 20 datagrams arrived');
  t.equal(await udpDatagrams(lab, 2, 1), 20, 'UDP kernel → vxtun: 20 datagrams arrived');
  const u = await offload(vx);
  t.equal(u.sent - o.sent, 20, 'the 20 UDP datagrams went out with RCO');
  t.equal(u.received - o.received, 20, "the kernel's 20 UDP datagrams came with RCO and were written without a sum");
  t.equal(u.badHeader, 0, 'no bad-header drops');
  t.same(await vx.stop(), { code: 0, signal: null });
});

t.test('vxtun ⇄ vxtun, both accepting remote checksum offload', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [1, 2].map((i) => ({ ...labPeer(lab, i), remoteChecksum: true }));
  const nodes = [await startVxtunNode(lab, 1, { peers }), await startVxtunNode(lab, 2, { peers })];
  await transferBothWays(t, lab);
  // Inner IPv6: the checksum starts at 14 + 40 (RCO start 27).
  const before = await offload(nodes[0]!);
  const r6 = await tcpTransfer(lab.podNs(2), lab.podIP(2, 6), lab.podNs(1), { bytes: 20 * MB });
  t.equal(r6.sha256Received, r6.sha256Sent, 'IPv6 pod-1 → pod-2: sha256 matches');
  t.ok((await offload(nodes[0]!)).sent - before.sent > 10_000, 'the IPv6 segments went out with RCO');
  for (const [i, n] of nodes.entries()) {
    const o = await offload(n);
    t.ok(o.sent > 1000 && o.received > 1000, `node-${i + 1}: RCO sent ${o.sent}, received ${o.received}`);
    t.equal(o.badHeader, 0, `node-${i + 1}: no bad-header drops`);
  }
  for (const n of nodes) t.same(await n.stop(), { code: 0, signal: null });
});

t.test('a vxtun node that does not accept it drops RCO datagrams as bad-header', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const vx = await startVxtunNode(lab, 1, { peers: await kernelRcoNode2(lab, false) });
  // UDP from pod-2 leaves its stack with a partial checksum, which the kernel device sends with RCO.
  const send =
    "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(100);let n=0;" +
    `(function go(){s.send(b,9,'${lab.podIP(1)}');if(++n<20)setTimeout(go,5);else setTimeout(()=>s.close(),100)})()`;
  await lab.exec(lab.podNs(2), process.execPath, ['-e', send]);
  const o = await offload(vx);
  t.equal(o.badHeader, 20, 'the 20 datagrams were dropped as bad-header');
  t.equal(o.received, 0, 'none written');
  t.same(await vx.stop(), { code: 0, signal: null });
});

t.test('kubernetes mode: advertised in backend-data, taken from a Node that says so', { skip }, async (t) => {
  const { lab, api, kubeconfig, labNode: nodeObject } = await createKubeLab(t, 2);
  await api.upsertNode(nodeObject(1));
  // node-2: a kernel VXLAN node with remcsumtx/remcsumrx whose backend-data says it accepts RCO.
  const k2 = await programKernelVxlanNode(lab, 2, { remoteChecksum: true });
  const ann2 = flannelAnnotations({ vtepMAC: k2.vtepMAC, publicIP: lab.underlayIP(2) });
  ann2[`${PREFIX}/backend-data`] = `{"VNI":1,"VtepMAC":"${k2.vtepMAC}","RemoteChecksum":true}`;
  await api.upsertNode(nodeObject(2, ann2));
  const vx = await startVxtunNode(lab, 1, {
    kubernetes: { kubeconfig },
    extra: { dataplane: { remoteChecksum: true } },
  });
  let own: Json | null = null;
  for (let i = 0; i < 100; i++) {
    own = await api.getNode('node-1');
    if (own && `${PREFIX}/backend-data` in ((own['metadata'] as Json)['annotations'] as Json)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const data = ((own?.['metadata'] as Json | undefined)?.['annotations'] as Record<string, string> | undefined)?.[
    `${PREFIX}/backend-data`
  ];
  const status = await vx.status();
  t.equal(data, `{"VNI":1,"VtepMAC":"${status.vtepMAC}","RemoteChecksum":true}`, 'our backend-data offers it');
  await addKernelVxlanRemote(lab, 2, {
    podCIDR: lab.podCIDR(1, 4),
    publicIP: lab.underlayIP(1),
    vtepMAC: status.vtepMAC,
  });
  await transferBothWays(t, lab);
  const o = await offload(vx);
  t.ok(o.sent > 1000 && o.received > 1000, `RCO sent ${o.sent}, received ${o.received}`);
  t.equal(o.badHeader, 0, 'no bad-header drops');
  t.same(await vx.stop(), { code: 0, signal: null });
});
