// `vxtun bench latency`: where a round trip goes (root, perf, cc; x86-64). Pings pod-1 → pod-2 through two-node
// testbeds — the floor relay (native/bench/floor-relay.c) and vxtun native, plus any --variant — while `perf record`
// traces the syscalls and the scheduler's wake-ups of the dataplane's threads and of ping. Each round trip (ping's
// sendto → its recvmsg back) is split (latency-trace.ts) into, summed over the four dataplane hops (node-1 transmit,
// node-2 receive, node-2 transmit, node-1 receive):
//   wake      a dataplane thread made runnable (sched_wakeup) until it is on a CPU (sched_switch)
//   syscalls  inside its read/readv/preadv2/recvmmsg/recvmsg/sendmmsg/sendmsg/write/writev calls (the copies, and the
//             kernel path the packet takes inside them: veth, the other node's socket, the pod's stack)
//   user      from each of its syscalls' return to its next syscall: its own code, the return to user mode, and
//             anything that took the CPU meanwhile without a switch (interrupts, the hypervisor)
//   other     the rest: ping itself, the pod's stack before the TUN, and a sleeping loop's way back out of poll or
//             a blocking read (vxtun's transmit loops wait in readv, its receive loops in recvmmsg, the relay in
//             read/recvmsg: a wait entered before the round trip is not counted as syscall time)
// Rounds are interleaved (setup order rotated). perf adds its own cost to every traced event, to both setups alike.
// Prints nothing: progress and the --show timelines go to the callbacks, src/cli.ts prints latency-table.ts's table.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  Lab,
  labPeer,
  labUnavailableReason,
  run,
  startVxtunNode,
  type NsProcess,
  type VxtunNode,
} from '../lab/index.js';
import { buildRelay, relayUnavailableReason, startFloorNode, stopRelays } from './floor-node.js';
import type { LatencyArgs } from './latency-args.js';
import { parsePerfScript, splitTrips, type Split } from './latency-trace.js';
import type { LabMachine } from './lab-results.js';
import { machineInfo } from './machine.js';

export interface LatencyResults {
  rounds: number;
  count: number;
  intervalS: number;
  machine: LabMachine;
  /** Every round trip of each setup (floor first, then native and the variants), all rounds together. */
  splits: Record<string, Split[]>;
}

export interface LatencyProgress {
  /** The step now running ("round 2/3 · native"). */
  onStep?: (step: string) => void;
  /** A line worth keeping (the --show timelines). */
  onLine?: (line: string) => void;
}

/** Why this machine cannot run `vxtun bench latency`, or undefined. */
export function latencyUnavailableReason(): string | undefined {
  if (process.arch !== 'x64') return `needs x86-64 (perf's system call numbers), this is ${process.arch}`;
  return (
    labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'ping', 'perf'] }) ?? relayUnavailableReason()
  );
}

interface Setup {
  name: string;
  lab: Lab;
  /** The dataplane's processes (relays or daemons). */
  pids: number[];
  stop: () => Promise<void>;
}

/** Every thread id of the processes. */
const threadsOf = (pids: number[]): number[] => pids.flatMap((p) => readdirSync(`/proc/${p}/task`).map(Number));

async function traceOnce(s: Setup, a: LatencyArgs, dir: string) {
  const tids = threadsOf(s.pids);
  // ping starts after perf is recording; `ip netns exec` and `sh` exec into ping, so the pid is ping's.
  const p = spawn(
    'ip',
    [
      'netns',
      'exec',
      s.lab.podNs(1),
      'sh',
      '-c',
      `sleep 0.5; exec ping -n -q -c ${a.count} -i ${a.intervalS} ${s.lab.podIP(2)}`,
    ],
    { stdio: 'ignore' },
  );
  const ping = p.pid!;
  const watched = [...tids, ping];
  const byPid = (field: string) => watched.map((t) => `${field} == ${t}`).join(' || ');
  const data = join(dir, `${s.name}.data`);
  const seconds = 1 + a.count * a.intervalS + 1;
  // prettier-ignore
  const events = [
    '-e', 'raw_syscalls:sys_enter', '--filter', byPid('common_pid'),
    '-e', 'raw_syscalls:sys_exit', '--filter', byPid('common_pid'),
    '-e', 'sched:sched_wakeup', '--filter', byPid('pid'),
    '-e', 'sched:sched_switch', '--filter', byPid('next_pid'),
  ];
  await run('perf', ['record', '-q', '-a', '-o', data, ...events, '--', 'sleep', String(seconds)], {
    timeoutMs: (seconds + 30) * 1000,
  });
  await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.on('exit', r)));
  const script = await run('perf', ['script', '-i', data], { timeoutMs: 120_000 });
  return { ev: parsePerfScript(script.stdout), ping, tids };
}

/**
 * Runs the benchmark. `signal` stops it between rounds: what was built is torn down and the abort reason is thrown.
 */
export async function runLatency(
  a: LatencyArgs,
  progress: LatencyProgress = {},
  signal?: AbortSignal,
): Promise<LatencyResults> {
  const step = (s: string) => {
    signal?.throwIfAborted();
    progress.onStep?.(s);
  };
  const line = progress.onLine ?? (() => undefined);
  const reason = latencyUnavailableReason();
  if (reason) throw new Error(`bench latency ${reason}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'vxtun-latency-'));
  const setups: Setup[] = [];
  try {
    step('compiling the floor relay');
    const relay = buildRelay(dir);
    // Every lab as `vxtun bench lab` builds it (lab-setups.ts): ipMasq false, so no node masquerades (vxtun's nft rules
    // would put connection tracking on all its packets) and each pod's CNI bridge masquerades alike.
    step('setting up floor');
    const fl = await Lab.create({ nodes: 2, ipMasq: false, prefix: `vxtlf${Math.random().toString(16).slice(2, 5)}` });
    const relays: NsProcess[] = [];
    const floor: Setup = {
      name: 'floor',
      lab: fl,
      pids: [],
      stop: async () => {
        await stopRelays(relays);
        await fl.destroy();
      },
    };
    setups.push(floor);
    relays.push(await startFloorNode(fl, relay, 1, 2), await startFloorNode(fl, relay, 2, 1));
    floor.pids = relays.map((r) => r.pid);
    for (const [name, variant] of Object.entries(a.variants)) {
      step(`setting up ${name}`);
      const lab = await Lab.create({
        nodes: 2,
        ipMasq: false,
        prefix: `vxtl${name.slice(0, 1)}${Math.random().toString(16).slice(2, 5)}`,
      });
      const d: VxtunNode[] = [];
      setups.push({
        name,
        lab,
        pids: [],
        stop: async () => {
          for (const x of d) await x.stop();
          await lab.destroy();
        },
      });
      const peers = [labPeer(lab, 1), labPeer(lab, 2)];
      for (const i of [1, 2]) d.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: variant } }));
      setups[setups.length - 1]!.pids = d.map((x) => x.process.pid);
    }
    const splits: Record<string, Split[]> = Object.fromEntries(setups.map((s) => [s.name, []]));
    for (let r = 0; r < a.rounds; r++) {
      for (let k = 0; k < setups.length; k++) {
        const s = setups[(k + r) % setups.length]!;
        step(`round ${r + 1}/${a.rounds} · ${s.name}`);
        const { ev, ping, tids } = await traceOnce(s, a, dir);
        const found = splitTrips(ev, ping, new Set(tids));
        if (found.splits.length === 0)
          throw new Error(
            `bench latency: no round trip of ${s.name} in the trace (perf's raw_syscalls and sched tracepoints)`,
          );
        splits[s.name]!.push(...found.splits);
        for (const [t0, t1] of found.trips.slice(0, r === 0 ? a.show : 0)) {
          line(`${s.name}: one round trip, ${(t1 - t0).toFixed(0)} µs`);
          for (const e of ev.filter((e) => e.us >= t0 && e.us <= t1))
            line(
              `  +${(e.us - t0).toFixed(1).padStart(7)} µs cpu${e.cpu} ${e.tid === ping ? 'ping' : e.tid} ${e.what}`,
            );
        }
      }
    }
    return { rounds: a.rounds, count: a.count, intervalS: a.intervalS, machine: machineInfo(), splits };
  } finally {
    progress.onStep?.('tearing down');
    for (const s of setups) await s.stop().catch((e: Error) => line(`tearing down ${s.name}: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}
