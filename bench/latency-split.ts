// Where a round trip goes (root, perf): ping pod-1 → pod-2 through two-node testbeds — the floor relay
// (native/bench/floor-relay.c) and vxtun native, plus any --variant — while `perf record` traces the syscalls and the
// scheduler's wake-ups of the dataplane's threads and of ping. Each round trip (ping's sendto → its recvmsg back)
// is split into, summed over the four dataplane hops (node-1 transmit, node-2 receive, node-2 transmit, node-1
// receive):
//   wake      a dataplane thread made runnable (sched_wakeup) until it is on a CPU (sched_switch)
//   syscalls  inside its read/readv/recvmmsg/recvmsg/sendmmsg/sendmsg/write/writev calls (the copies, and the
//             kernel path the packet takes inside them: veth, the other node's socket, the pod's stack)
//   user      from each of its syscalls' return to its next syscall: its own code, the return to user mode, and
//             anything that took the CPU meanwhile without a switch (interrupts, the hypervisor)
//   other     the rest: ping itself, the pod's stack before the TUN, and a sleeping loop's way back out of poll or
//             a blocking read (vxtun waits in poll, the relay in read/recvmsg: not counted as syscall time)
// Rounds are interleaved (setup order rotated); medians over every round trip of a setup. x86-64 only (system call
// numbers); perf adds its own cost to every traced event, to both setups alike.
//
//   npm run bench:latency -- [--rounds 3] [--count 50] [--interval 0.1] [--show 1] [--variant name=JSON]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Lab, labPeer, labUnavailableReason, run, startVxtunNode, type VxtunNode } from '../src/lab/index.js';
import { buildRelay, startFloorNode, stopRelays } from '../src/bench/floor-node.js';
import { parsePerfScript, splitTrips, type Ev, type Split } from '../src/bench/latency-trace.js';

interface Args {
  rounds: number;
  count: number;
  interval: number;
  show: number;
  variants: Record<string, Record<string, unknown>>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 3, count: 50, interval: 0.1, show: 0, variants: { native: {} } };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[++i] ?? '';
    switch (argv[i - 1]) {
      case '--rounds':
        a.rounds = Number(v);
        break;
      case '--count':
        a.count = Number(v);
        break;
      case '--interval':
        a.interval = Number(v);
        break;
      case '--show':
        a.show = Number(v);
        break;
      case '--variant': {
        const [name, json] = v.split(/=(.*)/s);
        a.variants[name!] = JSON.parse(json ?? '{}') as Record<string, unknown>;
        break;
      }
      default:
        throw new Error(`unknown argument ${argv[i - 1]}`);
    }
  }
  return a;
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

async function traceOnce(s: Setup, a: Args, dir: string): Promise<{ ev: Ev[]; ping: number; tids: number[] }> {
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
      `sleep 0.5; exec ping -n -q -c ${a.count} -i ${a.interval} ${s.lab.podIP(2)}`,
    ],
    { stdio: 'ignore' },
  );
  const ping = p.pid!;
  const watched = [...tids, ping];
  const byPid = (field: string) => watched.map((t) => `${field} == ${t}`).join(' || ');
  const data = join(dir, `${s.name}.data`);
  const seconds = 1 + a.count * a.interval + 1;
  await run(
    'perf',
    [
      'record',
      '-q',
      '-a',
      '-o',
      data,
      '-e',
      'raw_syscalls:sys_enter',
      '--filter',
      byPid('common_pid'),
      '-e',
      'raw_syscalls:sys_exit',
      '--filter',
      byPid('common_pid'),
      '-e',
      'sched:sched_wakeup',
      '--filter',
      byPid('pid'),
      '-e',
      'sched:sched_switch',
      '--filter',
      byPid('next_pid'),
      '--',
      'sleep',
      String(seconds),
    ],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.on('exit', r)));
  const script = await run('perf', ['script', '-i', data], { timeoutMs: 120_000 });
  return { ev: parsePerfScript(script.stdout), ping, tids };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const reason = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'ping', 'perf', 'cc'] });
  if (reason) throw new Error(`bench:latency ${reason}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'vxtun-latency-'));
  const setups: Setup[] = [];
  try {
    const relay = buildRelay(dir);
    const fl = await Lab.create({ nodes: 2, prefix: `vxtlf${Math.random().toString(16).slice(2, 5)}` });
    const relays = [await startFloorNode(fl, relay, 1, 2), await startFloorNode(fl, relay, 2, 1)];
    setups.push({
      name: 'floor',
      lab: fl,
      pids: relays.map((r) => r.pid),
      stop: async () => {
        await stopRelays(relays);
        await fl.destroy();
      },
    });
    for (const [name, variant] of Object.entries(a.variants)) {
      // No masquerading, as in `vxtun bench lab` (src/bench/lab-setups.ts ipMasq): the relay's nodes have none.
      const lab = await Lab.create({
        nodes: 2,
        ipMasq: false,
        prefix: `vxtl${name.slice(0, 1)}${Math.random().toString(16).slice(2, 5)}`,
      });
      const peers = [labPeer(lab, 1), labPeer(lab, 2)];
      const d: VxtunNode[] = [];
      for (const i of [1, 2]) d.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: variant } }));
      setups.push({
        name,
        lab,
        pids: d.map((x) => x.process.pid),
        stop: async () => {
          for (const x of d) await x.stop();
          await lab.destroy();
        },
      });
    }
    const all = new Map<string, Split[]>();
    for (let r = 0; r < a.rounds; r++) {
      for (let k = 0; k < setups.length; k++) {
        const s = setups[(k + r) % setups.length]!;
        process.stderr.write(`round ${r + 1}/${a.rounds} · ${s.name}\n`);
        const { ev, ping, tids } = await traceOnce(s, a, dir);
        const { splits, trips } = splitTrips(ev, ping, new Set(tids));
        if (splits.length === 0)
          throw new Error(
            `bench:latency: no round trip of ${s.name} in the trace (perf's raw_syscalls and sched tracepoints, x86-64 system call numbers)`,
          );
        all.set(s.name, [...(all.get(s.name) ?? []), ...splits]);
        for (const [t0, t1] of trips.slice(0, r === 0 ? a.show : 0)) {
          console.log(`${s.name}: one round trip, ${(t1 - t0).toFixed(0)} µs`);
          for (const e of ev.filter((e) => e.us >= t0 && e.us <= t1))
            console.log(
              `  +${(e.us - t0).toFixed(1).padStart(7)} µs cpu${e.cpu} ${e.tid === ping ? 'ping' : e.tid} ${e.what}`,
            );
        }
      }
    }
    console.log(
      `\nvxtun bench:latency — ${a.rounds} interleaved rounds × ${a.count} pings every ${a.interval} s, medians in µs; ${os.cpus().length} CPUs, Linux ${os.release()}\n`,
    );
    console.log(
      '| setup | round trips | RTT | dataplane wake-up → on CPU | dataplane syscalls | dataplane user | other |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, xs] of all) {
      const m = (f: (x: Split) => number) => median(xs.map(f));
      const other = m((x) => x.rtt - x.wake - x.syscalls - x.user);
      console.log(
        `| ${name} | ${xs.length} | ${m((x) => x.rtt).toFixed(0)} | ${m((x) => x.wake).toFixed(0)} | ${m((x) => x.syscalls).toFixed(0)} | ${m((x) => x.user).toFixed(0)} | ${other.toFixed(0)} |`,
      );
    }
    const names = [...new Set([...all.values()].flatMap((xs) => xs.flatMap((x) => Object.keys(x.calls))))].sort();
    console.log(`\nTime in each system call per round trip (all the dataplane's threads), median µs:\n`);
    console.log(`| setup | ${names.join(' | ')} |`);
    console.log(`| --- | ${names.map(() => '---').join(' | ')} |`);
    for (const [name, xs] of all)
      console.log(`| ${name} | ${names.map((n) => median(xs.map((x) => x.calls[n] ?? 0)).toFixed(0)).join(' | ')} |`);
  } finally {
    for (const s of setups) await s.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
