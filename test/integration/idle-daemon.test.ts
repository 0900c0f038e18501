// An idle daemon sleeps: with no traffic, no peer changes and nobody asking, `vxtun run`'s threads (the JS main
// thread, the forwarding loops, V8's and libuv's) wake a few times a second at most. The node's CPUs are the
// pods' CPUs, and every wake-up of the daemon's main thread is one the forwarding threads may wait behind: prom-client's
// default event-loop lag sampling (src/admin/metrics.ts EVENT_LOOP_SAMPLE_MS) woke it 100 times a second — about
// 300 context switches in 3 s. And each forwarding loop sleeps in ONE system call (native/engine/worker.h): a receive
// loop in recvmmsg itself, a transmit loop in readv itself (no poll before either: one system call less per wake-up,
// README "Latency").
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { Lab, labPeer, ping, startVxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { blockedIn, countOf, LOOP_SYSCALLS as sys, settle } from '../helpers/blocked-in.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping']);
/** Seconds counted, and the most context switches of all the daemon's threads in that time. */
const WINDOW_S = 3;
const MAX_SWITCHES = 45;

/** The context switches (voluntary and not) of every thread of `pid` so far, by thread. */
function switches(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const n = [...status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)].reduce(
      (a, m) => a + Number(m[1]),
      0,
    );
    out.set(tid, n);
  }
  return out;
}

t.test('an idle vxtun run', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes = [await startVxtunNode(lab, 1, { peers }), await startVxtunNode(lab, 2, { peers })];
  t.teardown(async () => {
    for (const n of nodes) await n.stop();
  });
  // Forwarding works (so the threads exist and have run), then quiet.
  const p = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 3, intervalS: 0.05 });
  t.equal(p.received, p.sent, `pod-1 reaches pod-2 (${p.received}/${p.sent})`);
  const workers = (await nodes[0]!.status()).workers;
  await new Promise((r) => setTimeout(r, 1_000));
  const pid = nodes[0]!.process.pid;

  t.test('wakes a few times a second at most', async (t) => {
    const before = switches(pid);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const after = switches(pid);
    const perThread = [...after].map(([tid, n]) => [tid, n - (before.get(tid) ?? 0)] as const).filter(([, d]) => d > 0);
    const total = perThread.reduce((a, [, d]) => a + d, 0);
    t.comment(`${total} context switches in ${WINDOW_S} s over ${after.size} threads: ${JSON.stringify(perThread)}`);
    t.ok(total <= MAX_SWITCHES, `${total} context switches in ${WINDOW_S} s idle ≤ ${MAX_SWITCHES}`);
  });

  t.test(
    'each receive loop waits in recvmmsg, each transmit loop in readv',
    { skip: sys ? false : `no system call numbers for ${process.arch}` },
    async (t) => {
      const calls = await settle(
        () => blockedIn(pid),
        (c) => countOf(c, sys!.recvmmsg) >= workers && countOf(c, sys!.readv) >= workers,
      );
      t.comment(`threads blocked in: ${JSON.stringify(calls)}`);
      t.equal(countOf(calls, sys!.recvmmsg), workers, `${workers} receive loops wait in recvmmsg`);
      t.equal(countOf(calls, sys!.readv), workers, `${workers} transmit loops wait in readv`);
    },
  );
});
