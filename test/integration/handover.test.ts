// Handover (issue 18): node-1's vxtun is replaced by a new `vxtun run` that takes over the device's queues
// through the node's handover socket (src/lab/vxtun-node.ts replace()), as a DaemonSet update does.
// Three lab nodes (node-3 only for the peer-added case); pod-1 ↔ pod-2 carry a 100/s ping each way and an iperf3
// TCP stream pod-1 → pod-2 (0.1 s intervals):
//   - 5 replacements in a row: no ping lost, nothing dropped by vxtun or the kernel at its device and sockets on
//     either node (every drop reason, tx/rx errors, queue and socket drops), TCP segments lost (retransmitted and
//     not reported duplicate by the receiver) within the noise of a run of the same length without a handover
//     (measured first, same lab), each new process serves /status (pid, handover.fromPid = the previous pid), each
//     old one exits 0, and the device is never gone (same ifindex; polled throughout); the last new process owns the
//     queues once its predecessor has released them: its transmit loops wait in readv (native/engine/dataplane.h);
//   - static → static with a peer added (node-3): taken over, node-3 in /status, pod-1 reaches pod-3;
//   - refused (another vni): the new process exits 1 with the refusal line naming vni, the old one forwards on.
import t, { type Test } from 'tap';
import type { Status } from '../../src/admin/status.js';
import {
  Lab,
  labPeer,
  ping,
  ReplacementExited,
  socketStatus,
  startVxtunNode,
  type ExitInfo,
  type VxtunNode,
} from '../../src/lab/index.js';
import {
  startIperfStream,
  startPingStream,
  type IperfStreamReport,
  type PingStreamReport,
} from '../../src/lab/traffic-streams.js';
import { lineLogger } from '../../src/log.js';
import { blockedIn, countOf, LOOP_SYSCALLS, settle } from '../helpers/blocked-in.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'iperf3']);
const HANDOVERS = 5;
/**
 * The iperf3 stream's length in both runs: room for 5 handovers on a loaded 2-vCPU machine (each 1.5–3 s from exec to
 * "took over" beside a CPU hog, then the old one's exit and the new one's /status: up to 6 s each with a compiler
 * running beside the test, which overran 30 s).
 */
const STREAM_S = 40;
/** Probes still unanswered when ping is stopped (not lost: in flight); at 100/s a few at most. */
const MAX_IN_FLIGHT = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value `ok` accepts; rejects with the last value or error after `timeoutMs`. */
async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (ok(v)) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms; last: ${String(last)}`);
    await sleep(100);
  }
}

/** Resolves with the exit status, or null if the process is still running after `ms`. */
const exitWithin = (n: VxtunNode, ms: number): Promise<ExitInfo | null> =>
  Promise.race([n.exited, sleep(ms).then(() => null)]);

/** TCP segments lost without any handover in the same lab: 0 or 1 in runs beside a CPU hog (a tail loss after a
 *  timer-driven burst), so "with ≤ without" on one sample of each fails by noise; the drop counters are the exact
 *  test, this bound catches a handover that loses more than noise. */
const LOST_SEGMENTS_NOISE = 3;

/** What a node dropped, as /status counts it: every drop reason, tx/rx errors (this process's), and the kernel's
 *  counts at the device's queue and vxtun's sockets (the device and sockets outlive a handover). */
type DropReading = { own: number; queue: number; socket: number };
const dropReading = (s: Status): DropReading => ({
  own: s.counters.txErrors + s.counters.rxErrors + Object.values(s.counters.drops).reduce((a, b) => a + b, 0),
  queue: s.counters.queueDrops ?? 0,
  socket: s.counters.socketDrops ?? 0,
});

const pingLine = (what: string, r: PingStreamReport) =>
  `${what}: ${r.transmitted} sent, ${r.lost.length} lost, ${r.unanswered} in flight at stop, longest gap ${r.longestGapMs.toFixed(0)} ms`;

t.test('handover: node-1 replaced under load', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await Lab.create({ nodes: 3, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const n1ns = lab.nodeNs(1);
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const n2 = await startVxtunNode(lab, 2, { peers });
  const n3 = await startVxtunNode(lab, 3, { peers: [...peers, labPeer(lab, 3)] });
  let n1 = await startVxtunNode(lab, 1, { peers });
  t.teardown(async () => {
    for (const n of [n1, n2, n3]) await n.stop();
  });
  const device = (await n1.status()).device;
  const ifindex = async (): Promise<number> =>
    (JSON.parse((await lab.ip(n1ns, ['-j', 'link', 'show', 'dev', device])).stdout) as { ifindex: number }[])[0]!
      .ifindex;
  const index0 = await ifindex();

  /** Pings pod-1 ↔ pod-2 at 100/s each way while `during` runs; also the device is polled every 100 ms. */
  const pinged = async (during: () => Promise<void>) => {
    const pings = [
      await startPingStream(lab, lab.podNs(1), lab.podIP(2)),
      await startPingStream(lab, lab.podNs(2), lab.podIP(1)),
    ];
    let polling = true;
    let missing = 0;
    let polls = 0;
    const poller = (async () => {
      while (polling) {
        polls++;
        await lab.ip(n1ns, ['link', 'show', 'dev', device]).catch(() => missing++);
        await sleep(100);
      }
    })();
    try {
      await during();
    } finally {
      polling = false;
      await poller;
    }
    const [to2, to1] = [await pings[0]!.stop(), await pings[1]!.stop()];
    return { to2, to1, missing, polls };
  };
  const noLoss = (t: Test, r: Awaited<ReturnType<typeof pinged>>, what: string) => {
    for (const [dir, p] of [
      ['pod-1 → pod-2', r.to2],
      ['pod-2 → pod-1', r.to1],
    ] as const) {
      t.comment(pingLine(`${what}, ${dir}`, p));
      t.same(p.lost, [], `${what}: no ping lost ${dir} (${p.transmitted} sent)`);
      t.ok(p.unanswered <= MAX_IN_FLIGHT, `${what}: ${p.unanswered} probes ${dir} in flight at the stop`);
    }
    t.equal(r.missing, 0, `${what}: the device was there at each of ${r.polls} polls`);
  };
  /** `during` under the pings and an iperf3 stream of STREAM_S; `during` must finish before the stream does. */
  const loaded = async (during: () => Promise<void>) => {
    let iperf: IperfStreamReport | undefined;
    let overran = false;
    let duringMs = 0;
    const r = await pinged(async () => {
      const stream = await startIperfStream(lab, lab.podNs(2), lab.podIP(2), lab.podNs(1), STREAM_S);
      const t0 = Date.now();
      await during();
      duringMs = Date.now() - t0;
      overran = !stream.client.running();
      iperf = await stream.done;
    });
    return { ...r, iperf: iperf!, overran, duringMs };
  };

  await t.test(`${HANDOVERS} replacements in a row under ping and iperf3`, async (t) => {
    const base = await loaded(async () => {});
    noLoss(t, base, 'baseline');
    t.comment(
      `baseline: ${base.iperf.receivedMbitPerSecond.toFixed(0)} Mbit/s, ${base.iperf.retransmits} retransmits in ${STREAM_S} s`,
    );

    const paused: number[] = [];
    // Per node-1 process, its first and last reading; node-2 is the same process throughout.
    const n1Readings: [DropReading, DropReading][] = [];
    // Read straight from the admin sockets (socketStatus: milliseconds), not with `vxtun status` (a Node process
    // each: seconds on a loaded machine, which pushed the handovers past the stream's end).
    let n1First = dropReading(await socketStatus(n1.socket));
    const n2First = dropReading(await socketStatus(n2.socket));
    const run = await loaded(async () => {
      for (let k = 1; k <= HANDOVERS; k++) {
        await sleep(500);
        const old = n1;
        n1Readings.push([n1First, dropReading(await socketStatus(old.socket))]);
        const started = Date.now();
        n1 = await old.replace();
        const tookMs = Date.now() - started;
        const s = (await until(
          () => n1.status(),
          (s: Status) => s.pid === n1.pid,
          15_000,
        )) as Status;
        t.equal(
          s.handover?.fromPid,
          old.pid,
          `handover ${k}: /status of pid ${n1.pid} says it took over from ${old.pid}`,
        );
        n1First = dropReading(s);
        t.equal(n1.takeover?.from, old.pid, `handover ${k}: its "took over" line names the old pid`);
        t.same(await exitWithin(old, 10_000), { code: 0, signal: null }, `handover ${k}: the old process exited 0`);
        paused.push(n1.takeover?.pausedMs ?? NaN);
        t.comment(
          `handover ${k}: pid ${old.pid} → ${n1.pid}, pausedMs ${paused.at(-1)}, ${tookMs} ms from exec to "took over", ` +
            `${Date.now() - started} ms to the old one's exit`,
        );
      }
    });
    t.notOk(
      run.overran,
      `the ${HANDOVERS} handovers (${run.duringMs} ms) were over before the ${STREAM_S} s stream (iperf3 ran ${run.iperf.seconds.toFixed(1)} s)`,
    );
    noLoss(t, run, 'handovers');
    n1Readings.push([n1First, dropReading(await socketStatus(n1.socket))]);
    const n2Last = dropReading(await socketStatus(n2.socket));
    const n1Dropped = n1Readings.reduce(
      (a, [first, last]) => ({
        own: a.own + last.own - first.own,
        queue: a.queue + last.queue - first.queue,
        socket: a.socket + last.socket - first.socket,
      }),
      { own: 0, queue: 0, socket: 0 },
    );
    const n2Dropped = {
      own: n2Last.own - n2First.own,
      queue: n2Last.queue - n2First.queue,
      socket: n2Last.socket - n2First.socket,
    };
    t.same(n1Dropped, { own: 0, queue: 0, socket: 0 }, 'node-1 (all its processes): nothing dropped, no errors');
    t.same(n2Dropped, { own: 0, queue: 0, socket: 0 }, 'node-2: nothing dropped, no errors');
    t.equal(await ifindex(), index0, 'the device is the one created at the start (same ifindex)');
    if (LOOP_SYSCALLS) {
      const { workers } = await socketStatus(n1.socket);
      const readv = LOOP_SYSCALLS.readv;
      const calls = await settle(
        () => blockedIn(n1.pid),
        (c) => countOf(c, readv) === workers,
      );
      t.equal(
        countOf(calls, readv),
        workers,
        `pid ${n1.pid}, the last successor: ${workers} transmit loops wait in readv`,
      );
    } else t.comment(`no system call numbers for ${process.arch}: where the loops wait is not checked`);
    t.comment(`pausedMs per handover: ${paused.join(', ')}`);
    t.comment(
      `with handovers: ${run.iperf.receivedMbitPerSecond.toFixed(0)} Mbit/s, ${run.iperf.retransmits} retransmits ` +
        `(baseline: ${base.iperf.retransmits}), of them lost segments: ${run.iperf.lostSegments} (baseline: ${base.iperf.lostSegments})`,
    );
    // iperf3's retransmit count is not compared as it is: without any handover, back-to-back 10 s windows of this
    // stream showed 8 to 140 retransmits, every one of them spurious (the receiver had the segment: reported in a
    // DSACK; reordering and tail loss probes). What a dropped packet adds is a retransmit the receiver did not
    // already have; even those are 0 or 1 without any handover (LOST_SEGMENTS_NOISE), and a drop anywhere on the
    // path through vxtun is counted above, exactly.
    t.ok(
      run.iperf.lostSegments <= base.iperf.lostSegments + LOST_SEGMENTS_NOISE,
      `segments lost and retransmitted with handovers (${run.iperf.lostSegments}) ≤ without (${base.iperf.lostSegments}) + ${LOST_SEGMENTS_NOISE}`,
    );
  });

  await t.test('static → static with a peer added (node-3) is taken over', async (t) => {
    const old = n1;
    const r = await pinged(async () => {
      n1 = await old.replace({ peers: [...peers, labPeer(lab, 3)] });
      await sleep(300);
    });
    noLoss(t, r, 'peer added');
    t.same(await exitWithin(old, 10_000), { code: 0, signal: null }, 'the old process exited 0');
    const s = (await until(
      () => n1.status(),
      (s: Status) => s.pid === n1.pid,
      15_000,
    )) as Status;
    t.equal(s.handover?.fromPid, old.pid, '/status: taken over from the old pid');
    t.ok(
      s.peers.some((p) => p.name === 'node-3' && p.publicIP === lab.underlayIP(3)),
      'node-3 is in /status peers',
      { peers: s.peers },
    );
    // pod-3 has had no traffic before: first contact (neighbour resolution in pod-3 and node-3) is waited for on its
    // own, then 5 of 5 must come back. Once, under load, 1 of 5 first-contact probes was lost here (cause not found:
    // vxtun's counters were not read then); now they are, and must show no drop on either node.
    const before = [dropReading(await socketStatus(n1.socket)), dropReading(await socketStatus(n3.socket))];
    const first = await ping(lab, lab.podNs(1), lab.podIP(3), { count: 1, waitS: 5 });
    t.equal(first.received, 1, 'pod-1 reaches pod-3 (first contact)');
    const p = await ping(lab, lab.podNs(1), lab.podIP(3), { count: 5, intervalS: 0.05 });
    t.equal(p.received, p.sent, `pod-1 reaches pod-3 (${p.received}/${p.sent})`);
    const after = [dropReading(await socketStatus(n1.socket)), dropReading(await socketStatus(n3.socket))];
    t.same(after, before, 'node-1 and node-3 dropped nothing on the way');
  });

  await t.test('refused (another vni): the new one exits 1 naming vni, the old one forwards on', async (t) => {
    const running = n1;
    const vni = (await running.status()).vni;
    let refused: unknown;
    const r = await pinged(async () => {
      refused = await running.replace({ extra: { vni: vni + 1 } }).then(
        (n) => n,
        (e: unknown) => e,
      );
      await sleep(300);
    });
    if (!(refused instanceof ReplacementExited)) {
      t.fail('the replacement with another vni was not refused', { got: String(refused) });
      if (refused && typeof (refused as VxtunNode).stop === 'function') n1 = refused as VxtunNode;
      return;
    }
    t.equal(refused.exit.code, 1, 'the new process exited 1');
    t.match(
      refused.stderr,
      new RegExp(
        `^vxtun: handover refused by the running vxtun \\(pid ${running.pid}\\): vni differs \\(running: ${vni}, new: ${vni + 1}\\)$`,
        'm',
      ),
      'one line naming vni',
    );
    noLoss(t, r, 'refused');
    t.ok(running.process.running(), 'the old process runs on');
    const s = (await running.status()) as Status;
    t.equal(s.pid, running.pid, 'the old process still serves /status');
  });
  t.comment(`took ${Date.now() - t0} ms`);
});
