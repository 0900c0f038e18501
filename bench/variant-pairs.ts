// A vxtun dataplane variant against the default, as paired comparisons on two labs held side by side (root): the
// native setup and a vxtun setup with the variant's dataplane config section (src/bench/lab-setups.ts, as `vxtun
// bench lab --variant` builds it), and per pair one iperf3 TCP run pod-1 → pod-2 on each, back to back, in
// alternating order. Reported per pair and as the medians of the per-pair ratios (variant ÷ native): throughput and
// the daemons' CPU seconds per GB. Pairs on held labs cancel the drift of a shared machine and the lab-to-lab
// spread that interleaved rounds of freshly built setups (bench:e2e) keep. README "Remote checksum offload" measured
// with it.
//
//   npm run bench:pairs -- --variant '{"remoteChecksum":true}' [--pairs 8] [--streams 1] [--seconds 3]
import { median } from '../src/bench/lab-results.js';
import { buildSetup, dataplanePids, teardownSetup, type LabSetup } from '../src/bench/lab-setups.js';
import { labUnavailableReason, nsExec, processCpuSeconds } from '../src/lab/index.js';

interface Args {
  variant: Record<string, unknown>;
  pairs: number;
  streams: number;
  seconds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { variant: {}, pairs: 8, streams: 1, seconds: 3 };
  let variant = false;
  const int = (v: string | undefined, name: string, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${name}: an integer 1..${max}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--variant': {
        const parsed: unknown = JSON.parse(v ?? '');
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('--variant: a JSON object (a dataplane config section)');
        a.variant = parsed as Record<string, unknown>;
        variant = true;
        break;
      }
      case '--pairs':
        a.pairs = int(v, '--pairs', 1000);
        break;
      case '--streams':
        a.streams = int(v, '--streams', 16);
        break;
      case '--seconds':
        a.seconds = int(v, '--seconds', 600);
        break;
      default:
        throw new Error(`unknown argument ${String(argv[i])}`);
    }
  }
  if (!variant) throw new Error('--variant is required');
  return a;
}

/** One iperf3 run on a setup: Gbit/s received and the dataplane's CPU seconds per GB. */
async function measure(s: LabSetup, a: Args): Promise<{ gbit: number; cpuPerGB: number }> {
  const { lab } = s;
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const srv = lab.spawn(lab.podNs(2), 'iperf3', ['-s', '-1', '--forceflush', '-p', port]);
  await srv.waitForOutput(/Server listening/, 5_000);
  try {
    const pids = dataplanePids(s);
    const before = pids.map(processCpuSeconds);
    const args = ['-c', lab.podIP(2), '-p', port, '-t', String(a.seconds), '-P', String(a.streams), '-J'];
    const r = await nsExec(lab.podNs(1), 'iperf3', args, { timeoutMs: (a.seconds + 30) * 1000 });
    const used = pids.reduce((sum, p, i) => sum + processCpuSeconds(p) - (before[i] ?? 0), 0);
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
    return { gbit: j.end.sum_received.bits_per_second / 1e9, cpuPerGB: used / (j.end.sum_received.bytes / 1e9) };
  } finally {
    await srv.stop();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const why = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'iperf3'] });
  if (why) throw new Error(`bench:pairs needs the lab: ${why}`);
  const base = await buildSetup('native');
  let variant: LabSetup | undefined;
  try {
    variant = await buildSetup('variant', { variant: a.variant });
    const speed: number[] = [];
    const cost: number[] = [];
    for (let k = 0; k < a.pairs; k++) {
      const order = k % 2 === 0 ? [base, variant] : [variant, base];
      const got = new Map<LabSetup, { gbit: number; cpuPerGB: number }>();
      for (const s of order) got.set(s, await measure(s, a));
      const b = got.get(base)!;
      const v = got.get(variant)!;
      speed.push(v.gbit / b.gbit);
      cost.push(v.cpuPerGB / b.cpuPerGB);
      console.log(
        `pair ${k + 1}/${a.pairs}: native ${b.gbit.toFixed(2)} Gbit/s ${b.cpuPerGB.toFixed(2)} s/GB, ` +
          `variant ${v.gbit.toFixed(2)} Gbit/s ${v.cpuPerGB.toFixed(2)} s/GB`,
      );
    }
    console.log(
      `variant ${JSON.stringify(a.variant)} ÷ native, ${a.streams} stream(s), median of ${a.pairs} pairs: ` +
        `throughput ${median(speed).toFixed(3)}, daemon CPU per GB ${median(cost).toFixed(3)}`,
    );
  } finally {
    await teardownSetup(base);
    if (variant) await teardownSetup(variant);
  }
}

main().catch((e: unknown) => {
  console.error(`bench:pairs: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
