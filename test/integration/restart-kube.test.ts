// Crash restart in Kubernetes mode at scale (issue 18): a fake API server inside node-1's namespace (127.0.0.1
// there) holds 5,000 flannel-annotated Nodes (test/helpers/kube-nodes.ts syntheticNode: 10.X.Y.0/24 pod CIDRs in
// the cluster network 10.0.0.0/8) besides the two lab nodes. Node-1 runs vxtun in Kubernetes mode; node-2 runs it
// in static mode (it cannot reach node-1's 127.0.0.1), both with fixed VTEP MACs, which node-1's Node object
// carries in its backend-data annotation, as a previous run would have left it.
//
//   pod-1 ── node-1 [vxtun, kubernetes: 5,002 Nodes] ══ UDP 8472 ══ [vxtun, static] node-2 ── pod-2
//
// pod-1 pings pod-2 every 10 ms; node-1's vxtun is killed with SIGKILL and started again, 10 times. Each outage is
// measured from the restart's exec to the first reply after it (ping -D stamps). The figures are printed
// (p50/max) with the daemon's own timeline of the start: module load and list, table, device, ready.
import t from 'tap';
import { labPeer, processCpuSeconds, startVxtunNode, type NsProcess, type VxtunNode } from '../../src/lab/index.js';
import type { Json } from '../helpers/fake-apiserver.js';
import { createKubeLab } from '../helpers/kube-lab.js';
import { flannelAnnotations, syntheticNode } from '../helpers/kube-nodes.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { firstReplyAfter, median, startTimeline } from '../helpers/restart-timing.js';
import { startPingStream } from '../../src/lab/traffic-streams.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping']);
const NODES = 5_000;
const TRIES = 10;
const NETWORK = '10.0.0.0/8';
const MAC = { 1: '0a:58:0a:f4:01:01', 2: '0a:58:0a:f4:02:01' } as const;
// Issue 18's target: forwarding within 3 s of exec, on a quiet 2-vCPU machine (README "Upgrades and restarts" quotes
// that run). Beside other tests and a CPU hog the wall clock is the machine's: the test holds the start's own CPU time
// to a budget (load-independent: about 1.9 s, half of it loading @kubernetes/client-node), the wall clock to twice
// the target (p50) and to a ceiling that catches a hang.
const P50_MS = 6_000;
const MAX_MS = 15_000;
const CPU_S = 3.0;

t.test(
  `kubernetes mode, ${NODES} nodes: a vxtun killed with SIGKILL forwards again soon after a restart`,
  { skip },
  async (t) => {
    const t0 = Date.now();
    const { lab, api, kubeconfig, labNode: node } = await createKubeLab(t, 2);
    const labNode = (i: 1 | 2): Json => node(i, flannelAnnotations({ vtepMAC: MAC[i], publicIP: lab.underlayIP(i) }));
    const nodes: Json[] = [labNode(1), labNode(2)];
    for (let i = 0; i < NODES; i++) nodes.push(syntheticNode(i));
    for (let i = 0; i < nodes.length; i += 1000) await api.upsertNodes(nodes.slice(i, i + 1000));

    const kubernetes = { kubeconfig };
    const kubeOptions = { kubernetes, extra: { network: NETWORK } };
    const n2 = await startVxtunNode(lab, 2, { peers: [labPeer(lab, 1, MAC[1]), labPeer(lab, 2, MAC[2])] });
    let n1: VxtunNode = await startVxtunNode(lab, 1, kubeOptions);
    t.teardown(async () => {
      await n1.stop();
      await n2.stop();
    });
    const s = await n1.status();
    t.equal(s.vtepMAC, MAC[1], "node-1 took its VTEP MAC from its Node's backend-data annotation");
    t.equal(s.peers.length, NODES + 1, `node-1's table holds every other node (${s.peers.length})`);

    /** pod-1 → pod-2 every 10 ms, replies stamped (-D); a new one for each try keeps its output short. */
    const startPing = async (): Promise<NsProcess> => {
      const p = lab.spawn(lab.podNs(1), 'ping', ['-4', '-n', '-D', '-i', '0.01', '-W', '1', lab.podIP(2)]);
      await p.waitForOutput(/ bytes from /, 15_000);
      return p;
    };
    const outages: number[] = [];
    const cpu: number[] = [];
    for (let k = 1; k <= TRIES; k++) {
      const ping = await startPing();
      t.equal((await n1.stop('SIGKILL')).signal, 'SIGKILL', `try ${k}: node-1's vxtun killed`);
      const execAt = Date.now();
      n1 = await startVxtunNode(lab, 1, kubeOptions);
      cpu.push(processCpuSeconds(n1.pid));
      const timeline = startTimeline(n1.process, execAt);
      const at = await firstReplyAfter(ping, execAt, 30_000).finally(() => ping.stop('SIGINT', 3_000));
      outages.push(Math.round(at - execAt));
      t.comment(`try ${k}: exec → first reply ${outages.at(-1)} ms (${timeline})`);
    }
    const p50 = median(outages);
    const max = Math.max(...outages);
    t.comment(`restart outage, kubernetes mode, ${NODES} nodes, ${outages.length} tries: p50 ${p50} ms, max ${max} ms`);
    t.ok(p50 <= P50_MS, `p50 ${p50} ms ≤ ${P50_MS} ms`);
    t.ok(max <= MAX_MS, `max ${max} ms ≤ ${MAX_MS} ms`);
    t.comment(
      `CPU time of a start, exec to ready: p50 ${median(cpu).toFixed(2)} s, max ${Math.max(...cpu).toFixed(2)} s`,
    );
    t.ok(median(cpu) <= CPU_S, `a start costs ≤ ${CPU_S} CPU s (p50 ${median(cpu).toFixed(2)} s)`);

    // A handover in Kubernetes mode: the successor forwards with the running table while it lists the 5,000 nodes
    // (README "Upgrades and restarts"), so a 100/s ping loses nothing.
    const ping = await startPingStream(lab, lab.podNs(1), lab.podIP(2));
    const old = n1;
    n1 = await old.replace();
    t.equal(n1.takeover?.from, old.pid, 'kubernetes mode: the new vxtun took over from the running one');
    t.same(await old.exited, { code: 0, signal: null }, 'the old one exited 0');
    const after = await n1.status();
    t.equal(after.handover?.fromPid, old.pid, "/status: the new vxtun's predecessor");
    t.equal(after.peers.length, NODES + 1, `its own list: every other node (${after.peers.length})`);
    await new Promise((r) => setTimeout(r, 500));
    const r = await ping.stop();
    t.comment(
      `handover in kubernetes mode: pausedMs ${n1.takeover?.pausedMs}, ${r.transmitted} pings, longest gap ${r.longestGapMs.toFixed(0)} ms`,
    );
    t.same(r.lost, [], `no ping lost over the handover (${r.transmitted} sent)`);
    t.comment(`took ${Date.now() - t0} ms`);
  },
);
