// What a running capture costs (issue: "a capture during an iperf3 transfer costs at most 10 %"),
// measured as paired comparisons on the same two vxtun daemons (root): each pair is one 1-stream
// iperf3 TCP run pod-1 → pod-2 without a capture and one while `vxtun dump -w /dev/null [ARGS]`
// runs on node 1 (the sender; --node 2: the receiver), in random order, back to back. Reported: the median of the per-pair ratios
// (capture ÷ none) with its quartiles, both medians, and what the dumps captured and dropped.
// Pairs cancel the drift of a shared machine that separate setups (bench:e2e) cannot.
//
//   npm run bench:capture -- [--pairs 15] [--seconds 4] [--node 1|2] [--dump-args "-s 96"] [--json FILE]
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import {
  cliPath,
  Lab,
  labPeer,
  labUnavailableReason,
  machineCpuDelta,
  nsExec,
  readMachineCpu,
  startVxtunNode,
  type VxtunNode,
} from '../src/lab/index.js';

interface Args {
  pairs: number;
  seconds: number;
  dumpArgs: string[];
  json?: string;
  /** Where the dump runs: node 1 sends the transfer (super-packets out, ACKs in), node 2 receives it (every segment in). */
  node: 1 | 2;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { pairs: 15, seconds: 4, dumpArgs: [], node: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--pairs':
        a.pairs = Number(v);
        i++;
        break;
      case '--seconds':
        a.seconds = Number(v);
        i++;
        break;
      case '--dump-args':
        a.dumpArgs = (v ?? '').split(/\s+/).filter(Boolean);
        i++;
        break;
      case '--json':
        a.json = v;
        i++;
        break;
      case '--node':
        if (v !== '1' && v !== '2') throw new Error('--node: 1 (the sender) or 2 (the receiver)');
        a.node = Number(v) as 1 | 2;
        i++;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s.length === 0 ? NaN : s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
};

interface Run {
  gbit: number;
  /** Share of the machine's CPU time the hypervisor gave to others during the run. */
  steal: number;
  /** CPU seconds the whole machine was busy per GB moved: the cost, mostly free of the host's noise. */
  cpuPerGB: number;
}

async function tcp1(lab: Lab, seconds: number): Promise<Run> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const srv = lab.spawn(lab.podNs(2), 'iperf3', ['-s', '-1', '--forceflush', '-p', port]);
  await srv.waitForOutput(/Server listening/, 5_000);
  try {
    const c0 = readMachineCpu();
    const r = await nsExec(lab.podNs(1), 'iperf3', ['-c', lab.podIP(2), '-p', port, '-t', String(seconds), '-J'], {
      timeoutMs: (seconds + 20) * 1000,
    });
    const c1 = readMachineCpu();
    const iperf = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    const gbit = iperf.end.sum_received.bits_per_second / 1e9;
    const d = machineCpuDelta(c0, c1);
    return {
      gbit,
      steal: d.stealShare,
      cpuPerGB: d.busySeconds / ((gbit * seconds) / 8),
    };
  } finally {
    await srv.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const reason = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'iperf3'] });
  if (reason) throw new Error(`bench:capture ${reason}`);
  const lab = await Lab.create({ nodes: 2, prefix: `vxcc${Math.random().toString(16).slice(2, 6)}` });
  const daemons: VxtunNode[] = [];
  const none: Run[] = [];
  const cap: Run[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const summaries: string[] = [];
  try {
    const peers = [labPeer(lab, 1), labPeer(lab, 2)];
    for (const i of [1, 2]) daemons.push(await startVxtunNode(lab, i, { peers }));
    for (let p = 0; p < args.pairs; p++) {
      const order = Math.random() < 0.5 ? ['none', 'capture'] : ['capture', 'none'];
      const got: Record<string, Run> = {};
      for (const which of order) {
        if (which === 'none') {
          got[which] = await tcp1(lab, args.seconds);
          continue;
        }
        const dump = lab.spawn(lab.nodeNs(args.node), process.execPath, [
          cliPath(),
          'dump',
          '--socket',
          daemons[args.node - 1]!.socket,
          '-w',
          '/dev/null',
          ...args.dumpArgs,
        ]);
        await dump.waitForOutput(/listening on /, 20_000);
        try {
          got[which] = await tcp1(lab, args.seconds);
        } finally {
          await dump.stop('SIGINT');
        }
        summaries.push(
          dump
            .stderr()
            .split('\n')
            .find((l) => / captured/.test(l)) ?? '',
        );
      }
      const [n, c] = [got['none']!, got['capture']!];
      none.push(n);
      cap.push(c);
      ratios.push(c.gbit / n.gbit);
      cpuRatios.push(c.cpuPerGB / n.cpuPerGB);
      const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
      console.error(
        `pair ${p + 1}/${args.pairs}: none ${n.gbit.toFixed(2)} Gbit/s (steal ${pct(n.steal)}), capture ${c.gbit.toFixed(2)} Gbit/s (steal ${pct(c.steal)}), ` +
          `ratio ${ratios.at(-1)!.toFixed(3)}, CPU/GB ratio ${cpuRatios.at(-1)!.toFixed(3)} — ${summaries.at(-1)}`,
      );
    }
    const m = quantile(ratios, 0.5);
    console.log(
      `vxtun bench:capture — ${args.pairs} pairs × ${args.seconds} s, 1-stream TCP, dump on node ${args.node} (${args.node === 1 ? 'sender' : 'receiver'}), args "${args.dumpArgs.join(' ')}"; ${os.cpus().length} CPUs, Linux ${os.release()}, ${new Date().toISOString().slice(0, 10)}`,
    );
    const med = (rs: Run[], k: keyof Run) =>
      quantile(
        rs.map((r) => r[k]),
        0.5,
      );
    console.log(
      `without capture: median ${med(none, 'gbit').toFixed(2)} Gbit/s; with capture: median ${med(cap, 'gbit').toFixed(2)} Gbit/s`,
    );
    console.log(
      `capture ÷ none per pair: median ${m.toFixed(3)} (quartiles ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)}) → capture cost ${((1 - m) * 100).toFixed(1)} %`,
    );
    // The machine's busy CPU seconds per GB (steal excluded): what the capture adds to the work, whatever the host did.
    const cm = quantile(cpuRatios, 0.5);
    console.log(
      `CPU seconds per GB, capture ÷ none per pair: median ${cm.toFixed(3)} (quartiles ${quantile(cpuRatios, 0.25).toFixed(3)}–${quantile(cpuRatios, 0.75).toFixed(3)}); ` +
        `host steal during the runs: median ${(
          quantile(
            [...none, ...cap].map((r) => r.steal),
            0.5,
          ) * 100
        ).toFixed(1)} %`,
    );
    if (args.json)
      writeFileSync(args.json, JSON.stringify({ args, none, capture: cap, ratios, cpuRatios, summaries }, null, 2));
  } finally {
    for (const d of daemons) await d.stop();
    await lab.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(`bench:capture: ${(e as Error).message}`);
  process.exit(1);
});
