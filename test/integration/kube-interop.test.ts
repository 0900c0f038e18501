// Kubernetes mode in namespaces. A fake API server runs inside node-1's namespace (127.0.0.1 there); vxtun runs on
// node 1 and learns its peers from Node objects; nodes 2 and 3 are Linux kernel VXLAN nodes programmed the way
// flannel programs them, from the annotations vxtun published on its Node:
//
//   pod-1 ── node-1 [vxtun0] ══ UDP 8472 ══ [flannel.1] node-2 ── pod-2
//              │  127.0.0.1: fake API      ══ UDP 8472 ══ [flannel.1] node-3 ── pod-3
//
// Checked: the annotations' exact format; traffic both ways; a 10 s API outage under a running ping loses no
// packet; a Node added after the outage reaches the table, a deleted one leaves it; after a restart the VTEP MAC
// is the same (the kernel node, never reprogrammed, still reaches vxtun) and a Node deleted while vxtun was down
// is gone.
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  addKernelVxlanRemote,
  ping,
  programKernelVxlanNode,
  startVxtunNode,
  tcpTransfer,
  type KernelVxlanRemote,
  type VxtunNode,
} from '../../src/lab/index.js';
import type { Json } from '../helpers/fake-apiserver.js';
import { createKubeLab } from '../helpers/kube-lab.js';
import { flannelAnnotations, PREFIX } from '../helpers/kube-nodes.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const MB = 1024 * 1024;
const skip = labSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

/** What flannel reads from a Node to program a remote: spec.podCIDRs[0], public-ip, backend-data.VtepMAC. */
function remoteFromNode(node: Json): KernelVxlanRemote {
  const ann = (node['metadata'] as Json)['annotations'] as Record<string, string>;
  const spec = node['spec'] as { podCIDRs: string[] };
  const data = JSON.parse(ann[`${PREFIX}/backend-data`]!) as { VNI: number; VtepMAC: string };
  return { podCIDR: spec.podCIDRs[0]!, publicIP: ann[`${PREFIX}/public-ip`]!, vtepMAC: data.VtepMAC };
}

t.test('kubernetes mode: vxtun and kernel VXLAN nodes from Node annotations', { skip }, async (t) => {
  const { lab, api, kubeconfig, labNode: nodeObject } = await createKubeLab(t, 3);

  await api.upsertNode(nodeObject(1));
  const k2 = await programKernelVxlanNode(lab, 2);
  await api.upsertNode(nodeObject(2, flannelAnnotations({ vtepMAC: k2.vtepMAC, publicIP: lab.underlayIP(2) })));
  let vx: VxtunNode = await startVxtunNode(lab, 1, { kubernetes: { kubeconfig } });
  const own = await until(
    () => api.getNode('node-1'),
    (n) =>
      n !== null &&
      `${PREFIX}/backend-data` in ((n['metadata'] as Json)['annotations'] as Json) &&
      ((n['status'] as Json)['conditions'] as Json[]).some((c) => c['type'] === 'NetworkUnavailable'),
    'vxtun to publish its annotations and condition',
  );
  const remote1 = remoteFromNode(own!);
  const status0 = await vx.status();

  await t.test('published annotations: flannel format, our MAC and address', async (t) => {
    t.same((own!['metadata'] as Json)['annotations'], {
      [`${PREFIX}/kube-subnet-manager`]: 'true',
      [`${PREFIX}/backend-type`]: 'vxlan',
      [`${PREFIX}/backend-data`]: `{"VNI":1,"VtepMAC":"${status0.vtepMAC}"}`,
      [`${PREFIX}/public-ip`]: lab.underlayIP(1),
    });
    const cond = ((own!['status'] as Json)['conditions'] as Json[]).find((c) => c['type'] === 'NetworkUnavailable');
    t.match(cond, { status: 'False', reason: 'VxtunIsUp' }, 'NetworkUnavailable=False');
    t.equal(
      readFileSync(vx.subnetFile!, 'utf8'),
      `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=${lab.underlayMTU - 50}\nFLANNEL_IPMASQ=true\n`,
    );
    t.same(
      status0.peers.map((p) => [p.name, p.vtepMAC, p.publicIP]),
      [['node-2', k2.vtepMAC, lab.underlayIP(2)]],
      'vxtun learned node-2',
    );
    t.match(status0.controlPlane, { source: 'kubernetes', connected: true, nodes: 2 });
  });

  await t.test('the kernel node, programmed from those annotations, exchanges traffic with vxtun pods', async (t) => {
    await addKernelVxlanRemote(lab, 2, remote1);
    for (const [a, b] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const r = await ping(lab, lab.podNs(a), lab.podIP(b), { count: 3 });
      t.equal(r.received, 3, `pod-${a} → pod-${b}: ${r.received}/${r.sent}`);
    }
    for (const [a, b] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 10 * MB });
      t.equal(r.sha256Received, r.sha256Sent, `pod-${a} → pod-${b}: 10 MB, sha256 matches`);
    }
  });

  await t.test('a 10 s API outage under a running ping loses no packet', async (t) => {
    const pinging = ping(lab, lab.podNs(1), lab.podIP(2), { count: 150, intervalS: 0.1, waitS: 2 });
    await sleep(2_000);
    await api.stop();
    const down = Date.now();
    const s = await until(
      () => vx.status(),
      (x) => x.controlPlane?.connected === false,
      'status to show the outage',
      8_000,
    );
    t.match(
      s.controlPlane?.lastError,
      /ECONNREFUSED|Premature close|socket hang up/,
      `status: ${s.controlPlane?.lastError}`,
    );
    t.equal(s.peers.length, 1, 'the table is kept');
    await sleep(Math.max(0, 10_000 - (Date.now() - down)));
    await api.resume();
    const r = await pinging;
    t.equal(r.sent, 150, '150 sent');
    t.equal(r.received, 150, `no packet lost: ${r.received}/${r.sent}`);
    await until(
      () => vx.status(),
      (x) => x.controlPlane?.connected === true,
      'reconnection',
      40_000,
    );
    t.pass('reconnected');
  });

  const k3 = await programKernelVxlanNode(lab, 3, { remotes: [remote1] });
  await t.test('a Node added after the outage reaches the table; a deleted one leaves it', async (t) => {
    await api.upsertNode(nodeObject(3, flannelAnnotations({ vtepMAC: k3.vtepMAC, publicIP: lab.underlayIP(3) })));
    await until(
      () => vx.status(),
      (x) => x.peers.some((p) => p.name === 'node-3'),
      'node-3 in the table',
    );
    let r = await ping(lab, lab.podNs(1), lab.podIP(3), { count: 3 });
    t.equal(r.received, 3, `pod-1 → pod-3: ${r.received}/${r.sent}`);
    await api.deleteNode('node-3');
    await until(
      () => vx.status(),
      (x) => !x.peers.some((p) => p.name === 'node-3'),
      'node-3 to leave the table',
    );
    const before = (await vx.status()).counters.drops['no-route'] ?? 0;
    r = await ping(lab, lab.podNs(1), lab.podIP(3), { count: 2, waitS: 1 });
    t.equal(r.received, 0, 'no route to pod-3 any more');
    t.ok(((await vx.status()).counters.drops['no-route'] ?? 0) > before, 'counted as no-route');
  });

  await t.test(
    'restart: the same VTEP MAC (the kernel node still reaches us), and a Node deleted meanwhile is gone',
    async (t) => {
      await api.upsertNode(nodeObject(3, flannelAnnotations({ vtepMAC: k3.vtepMAC, publicIP: lab.underlayIP(3) })));
      await until(
        () => vx.status(),
        (x) => x.peers.some((p) => p.name === 'node-3'),
        'node-3 back in the table',
      );
      t.same(await vx.stop(), { code: 0, signal: null }, 'SIGTERM: exit 0');
      await api.deleteNode('node-3');
      vx = await startVxtunNode(lab, 1, { kubernetes: { kubeconfig } });
      const s = await vx.status();
      t.equal(s.vtepMAC, status0.vtepMAC, `VTEP MAC ${s.vtepMAC} survived the restart`);
      t.same(
        s.peers.map((p) => p.name),
        ['node-2'],
        'node-3, deleted while vxtun was down, is not in the table',
      );
      const r = await ping(lab, lab.podNs(2), lab.podIP(1), { count: 3 });
      t.equal(
        r.received,
        3,
        `kernel pod-2 → vxtun pod-1 with the kernel entries from before the restart: ${r.received}/3`,
      );
      t.same(await vx.stop(), { code: 0, signal: null });
    },
  );
});
