// `vxtun bench lab`: builds the setups, measures each in interleaved rounds (a rotated order per round, so drift hits
// all alike) and returns the results (src/bench/lab-results.ts). Prints nothing: progress goes to the callbacks,
// the caller (src/cli.ts) prints the table (lab-table.ts) and writes the files.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { labUnavailableReason } from '../lab/index.js';
import { buildRelay, relayUnavailableReason } from './floor-node.js';
import { BUILT_IN_VARIANTS, type LabArgs } from './lab-args.js';
import { measureSetup } from './lab-measure.js';
import { summarize, type LabResults, type LabSample } from './lab-results.js';
import { buildSetup, teardownSetup, type LabSetup } from './lab-setups.js';
import { buildId, machineInfo, today } from './machine.js';

export interface LabProgress {
  /** The step now running ("round 2/5 · native · TCP 4 streams"): replaces the previous step. */
  onStep?: (step: string) => void;
  /** A line worth keeping (a round's figures, a skipped setup, the floor relay's checks and counters). */
  onLine?: (line: string) => void;
}

/** Why this machine cannot run `vxtun bench lab` (root, /dev/net/tun, ip, iperf3, ping…), or undefined. */
export function labBenchUnavailableReason(): string | undefined {
  return labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'ping', 'iperf3'] });
}

const FLOOR_SETUPS = ['floor', 'floor-iov', 'floor-vxlan'];

/**
 * Runs the benchmark. `signal` stops it between steps (a setup built, a test run): what was built is torn down and the
 * abort reason is thrown.
 */
export async function runLab(args: LabArgs, progress: LabProgress = {}, signal?: AbortSignal): Promise<LabResults> {
  const stepTo = progress.onStep ?? (() => undefined);
  const step = (s: string) => {
    signal?.throwIfAborted();
    stepTo(s);
  };
  const line = progress.onLine ?? (() => undefined);
  const reason = labBenchUnavailableReason();
  if (reason) throw new Error(`bench lab ${reason}`);
  let names = args.setups;
  const tmp = mkdtempSync(join(os.tmpdir(), 'vxtun-bench-'));
  const setups: LabSetup[] = [];
  const samples: Record<string, LabSample[]> = {};
  try {
    let relayBinary: string | undefined;
    if (names.some((n) => FLOOR_SETUPS.includes(n))) {
      const why = relayUnavailableReason();
      if (why) {
        line(`floor setups skipped: ${why}`);
        names = names.filter((n) => !FLOOR_SETUPS.includes(n));
      } else {
        step('compiling the floor relay');
        relayBinary = buildRelay(tmp);
      }
    }
    for (const n of names) samples[n] = [];
    for (const n of names) {
      step(`setting up ${n}`);
      const native = setups.find((x) => x.name === 'native');
      if (n === 'capture' && native) setups.push({ ...native, name: n, capture: true, shared: true });
      else {
        const s = await buildSetup(n === 'capture' ? 'native' : n, {
          variant: BUILT_IN_VARIANTS[n] ?? args.variants[n],
          relayBinary,
          onLine: line,
        });
        setups.push({ ...s, name: n, capture: n === 'capture' });
      }
    }
    for (let r = 0; r < args.rounds; r++) {
      const order = setups.map((_, i) => setups[(i + r) % setups.length]!);
      for (const s of order) {
        const m = await measureSetup(s, {
          seconds: args.seconds,
          captureArgs: args.captureArgs,
          ...(args.perfDir ? { perfFile: join(args.perfDir, `${s.name}-${r + 1}.data`) } : {}),
          onStep: (what) => step(`round ${r + 1}/${args.rounds} · ${s.name} · ${what}`),
        });
        samples[s.name]!.push(m);
        line(
          `round ${r + 1}/${args.rounds} ${s.name}: tcp1 ${m.tcp1.toFixed(2)} Gbit/s, tcp4 ${m.tcp4.toFixed(2)}, udp64 ${(m.udp64 / 1e3).toFixed(0)} kpps, rtt ${m.rttMs.toFixed(3)} ms`,
        );
      }
    }
    const offloadsOf = async (n: string) => {
      const d = setups.find((s) => s.name === n)?.daemons[0];
      return d ? (await d.status()).offloads : undefined;
    };
    const offloads = await offloadsOf('native');
    const offloads6 = await offloadsOf('native6');
    return {
      rounds: args.rounds,
      seconds: args.seconds,
      machine: machineInfo(),
      date: today(),
      build: buildId(),
      ...(offloads ? { offloads } : {}),
      ...(offloads6 ? { offloads6 } : {}),
      rows: summarize(names, samples),
      samples,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    stepTo('tearing down');
    for (const s of setups) {
      // Every setup is torn down even when one fails (its namespaces are still removed by teardownSetup's finally).
      try {
        const counters = await teardownSetup(s);
        if (counters.length) line(`floor relay counters: ${counters.join(' ')}`);
      } catch (e) {
        line(`tearing down ${s.name}: ${(e as Error).message}`);
      }
    }
  }
}
