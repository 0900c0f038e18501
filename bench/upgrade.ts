// Upgrade cost (issue 18): what N handovers in a row cost the traffic of two vxtun nodes in a namespace lab. Two
// windows of the same length, each under one iperf3 TCP stream pod-1 → pod-2 (0.1 s intervals) and a 100/s ping
// each way between pod-1 and pod-2: a baseline without a handover, then one in which node-1's vxtun is replaced by a
// new process N times (spread over the window; src/lab/vxtun-node.ts replace()). Prints a table: pings sent/lost,
// the longest time between two replies, pausedMs (p50/max, from each "took over" line), TCP retransmits (and of
// them the segments really lost: retransmitted and not reported duplicate by the receiver), throughput and the worst
// 0.1 s interval. Exit 1 when a handover failed or the handovers outlasted the window.
//
//   npm run bench:upgrade -- [--handovers 10] [--seconds 30]
//
// Root (namespaces, TUN). Traffic stays inside the lab's namespaces.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Lab, labPeer, labUnavailableReason, startVxtunNode, type VxtunNode } from '../src/lab/index.js';
import {
  startIperfStream,
  startPingStream,
  type IperfStreamReport,
  type PingStreamReport,
} from '../src/lab/traffic-streams.js';

const { values: opt } = parseArgs({
  options: {
    handovers: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '30' },
  },
});
const num = (name: keyof typeof opt, min: number): number => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`bench:upgrade: --${name} must be an integer ≥ ${min}, got ${opt[name]}\n`);
    process.exit(2);
  }
  return v;
};
const handovers = num('handovers', 1);
const seconds = num('seconds', 5);

const say = (s: string) => process.stdout.write(s + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s.length === 0 ? NaN : s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
};

interface Window {
  pings: PingStreamReport[];
  iperf: IperfStreamReport;
  /** Whether `during` was still going when the stream ended. */
  overran: boolean;
}

/** Runs `during` under both pings and a `seconds`-long iperf3 stream. */
async function window(lab: Lab, during: (startedAt: number) => Promise<void>): Promise<Window> {
  const pings = [
    await startPingStream(lab, lab.podNs(1), lab.podIP(2)),
    await startPingStream(lab, lab.podNs(2), lab.podIP(1)),
  ];
  const stream = await startIperfStream(lab, lab.podNs(2), lab.podIP(2), lab.podNs(1), seconds);
  await during(Date.now());
  const overran = !stream.client.running();
  const iperf = await stream.done;
  return { pings: [await pings[0]!.stop(), await pings[1]!.stop()], iperf, overran };
}

async function main(): Promise<number> {
  const why = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'ping', 'iperf3'] });
  if (why) {
    process.stderr.write(`bench:upgrade: cannot build the lab: ${why}\n`);
    return 1;
  }
  const lab = await Lab.create({ nodes: 2 });
  let n1: VxtunNode | undefined;
  let n2: VxtunNode | undefined;
  try {
    const peers = [labPeer(lab, 1), labPeer(lab, 2)];
    n2 = await startVxtunNode(lab, 2, { peers });
    n1 = await startVxtunNode(lab, 1, { peers });
    say(
      `bench:upgrade — ${handovers} handovers of node-1's vxtun in ${seconds} s vs ${seconds} s without; ` +
        `${os.cpus().length} CPUs, Linux ${os.release()}, ${new Date().toISOString().slice(0, 10)}`,
    );
    const base = await window(lab, async () => {});
    const paused: number[] = [];
    const fromExec: number[] = [];
    const failures: string[] = [];
    const run = await window(lab, async (startedAt) => {
      // Evenly spread: handover k starts at k/(N+1) of the window (or at once when the previous one ran late).
      for (let k = 1; k <= handovers; k++) {
        await sleep(startedAt + (k * seconds * 1000) / (handovers + 1) - Date.now());
        const old: VxtunNode = n1!;
        const t0 = Date.now();
        try {
          n1 = await old.replace();
        } catch (e) {
          failures.push(`handover ${k}: ${(e as Error).message}`);
          break;
        }
        fromExec.push(Date.now() - t0);
        paused.push(n1.takeover?.pausedMs ?? NaN);
        const exit = await Promise.race([old.exited, sleep(10_000).then(() => null)]);
        if (exit?.code !== 0) failures.push(`handover ${k}: the old process (pid ${old.pid}) ${JSON.stringify(exit)}`);
        process.stderr.write(
          `handover ${k}/${handovers}: pid ${old.pid} → ${n1.pid}, pausedMs ${paused.at(-1)}, ${fromExec.at(-1)} ms from exec to "took over"\n`,
        );
      }
    });
    if (run.overran) failures.push(`the handovers outlasted the ${seconds} s window: raise --seconds`);

    const rows: [string, string, string][] = [['', 'baseline', 'handovers']];
    const both = (f: (w: Window) => string) => [f(base), f(run)] as [string, string];
    const pingsOf = (w: Window) => {
      const sent = w.pings.reduce((s, p) => s + p.transmitted, 0);
      const lost = w.pings.reduce((s, p) => s + p.lost.length, 0);
      return `${sent} / ${lost}`;
    };
    const worst = (w: Window) => Math.min(...w.iperf.intervals.map((i) => i.bitsPerSecond)) / 1e6;
    rows.push(['handovers', '0', `${paused.length} of ${handovers}`]);
    rows.push(['pings sent / lost (both ways)', ...both(pingsOf)]);
    rows.push(['longest ping gap, ms', ...both((w) => Math.max(...w.pings.map((p) => p.longestGapMs)).toFixed(0))]);
    rows.push([
      'pausedMs p50 / max',
      '–',
      paused.length ? `${quantile(paused, 0.5).toFixed(1)} / ${Math.max(...paused).toFixed(1)}` : '–',
    ]);
    rows.push([
      'exec → took over, ms p50 / max',
      '–',
      fromExec.length ? `${quantile(fromExec, 0.5).toFixed(0)} / ${Math.max(...fromExec)}` : '–',
    ]);
    rows.push(['TCP retransmits', ...both((w) => String(w.iperf.retransmits))]);
    rows.push(['  of them lost segments (not DSACKed)', ...both((w) => String(w.iperf.lostSegments))]);
    rows.push(['TCP throughput, Mbit/s', ...both((w) => w.iperf.receivedMbitPerSecond.toFixed(0))]);
    rows.push(['worst 0.1 s interval, Mbit/s', ...both((w) => worst(w).toFixed(0))]);
    const wide = rows.map((r) => r.map((c) => c.length)).reduce((a, b) => a.map((x, i) => Math.max(x, b[i]!)));
    for (const r of rows) say(r.map((c, i) => (i === 0 ? c.padEnd(wide[i]!) : c.padStart(wide[i]!))).join('   '));
    for (const f of failures) say(`bench:upgrade: FAILED: ${f}`);
    return failures.length ? 1 : 0;
  } finally {
    await n1?.stop();
    await n2?.stop();
    await lab.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:upgrade: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
