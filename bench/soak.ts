// Soak: minutes of sustained pod traffic through two vxtun nodes in a namespace lab, sampling each
// daemon's resident memory (VmRSS in /proc/<pid>/status) and open file descriptors (/proc/<pid>/fd)
// every few seconds. Fails (exit 1) when either grows beyond the tolerance:
//
//   RSS: the median of the last 3 samples may exceed the median of the first 3 samples after the
//        warm-up by at most --rss-mib (default 16 MiB);
//   fds: the last sample may exceed the first after the warm-up by at most --fds (default 2).
//
// Traffic: back-to-back TCP transfers of --chunk-mb (default 32 MB, sha256-checked) alternating
// direction and IPv4/IPv6, plus a ping every 0.2 s the other way. A failed transfer fails the soak.
//
//   npm run bench:soak -- [--seconds 180] [--sample 5] [--warmup 20] [--rss-mib 16] [--fds 2] [--chunk-mb 32]
//
// Root (namespaces, TUN). Traffic stays inside the lab's namespaces.
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  cliPath,
  Lab,
  labPeer,
  labUnavailableReason,
  ping,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../src/lab/index.js';

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '180' },
    sample: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '20' },
    'rss-mib': { type: 'string', default: '16' },
    fds: { type: 'string', default: '2' },
    'chunk-mb': { type: 'string', default: '32' },
    // Keep `vxtun dump -w /dev/null` running on node 1 throughout: its buffers must not grow the daemon either.
    capture: { type: 'boolean', default: false },
  },
});
const num = (name: keyof typeof opt, min: number): number => {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`soak: --${name} must be a number ≥ ${min}, got ${opt[name]}\n`);
    process.exit(2);
  }
  return v;
};
const seconds = num('seconds', 10);
const sampleS = num('sample', 1);
const warmupS = num('warmup', 0);
const rssTolMiB = num('rss-mib', 0);
const fdTol = num('fds', 0);
const chunk = num('chunk-mb', 1) * 1024 * 1024;
if (warmupS + 4 * sampleS > seconds) {
  process.stderr.write('soak: --seconds must leave room for the warm-up and at least 4 samples\n');
  process.exit(2);
}

const say = (s: string) => process.stdout.write(s + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mib = (kb: number) => (kb / 1024).toFixed(1);

interface Sample {
  t: number;
  rssKb: number;
  fds: number;
}

function sampleOf(pid: number, t: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!rss) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return { t, rssKb: Number(rss[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function main(): Promise<number> {
  const why = labUnavailableReason({ tun: true, tools: ['ip', 'bridge', 'sysctl', 'ping'] });
  if (why) {
    process.stderr.write(`soak: cannot build the lab: ${why}\n`);
    return 1;
  }
  const lab = await Lab.create({ nodes: 2 });
  const nodes: VxtunNode[] = [];
  try {
    const peers = [labPeer(lab, 1), labPeer(lab, 2)];
    for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers }));
    say(
      `soak: ${seconds}s of traffic through ${nodes.map((n) => `${n.name} (pid ${n.process.pid})`).join(' and ')}; sample every ${sampleS}s after a ${warmupS}s warm-up`,
    );
    const dump = opt.capture
      ? lab.spawn(lab.nodeNs(1), process.execPath, [
          cliPath(),
          'dump',
          '--socket',
          nodes[0]!.socket,
          '--seconds',
          '86400',
          '-w',
          '/dev/null',
        ])
      : undefined;
    if (dump) {
      await dump.waitForOutput(/listening on /, 20_000);
      say(`soak: capturing on ${nodes[0]!.name} throughout (vxtun dump -w /dev/null, pid ${dump.pid})`);
    }

    const t0 = Date.now();
    const deadline = t0 + seconds * 1000;
    const samples = new Map<string, Sample[]>(nodes.map((n) => [n.name, []]));
    let transfers = 0;
    let bytes = 0;
    let failure: string | undefined;

    const traffic = (async () => {
      for (let k = 0; Date.now() < deadline && !failure; k++) {
        const [a, b] = k % 2 === 0 ? [1, 2] : [2, 1];
        const fam = k % 4 < 2 ? 4 : 6;
        const r = await tcpTransfer(lab.podNs(b), lab.podIP(b, fam), lab.podNs(a), {
          bytes: chunk,
          timeoutMs: 120_000,
        });
        if (r.bytes !== chunk || r.sha256Received !== r.sha256Sent) {
          failure = `transfer ${k} pod-${a} → pod-${b} (IPv${fam}): ${r.bytes}/${chunk} bytes, sha256 ${r.sha256Received === r.sha256Sent ? 'ok' : 'MISMATCH'}`;
        }
        transfers++;
        bytes += r.bytes;
      }
    })().catch((e: unknown) => {
      failure = `traffic: ${(e as Error).message}`;
    });
    const pinger = (async () => {
      let lost = 0;
      let sent = 0;
      while (Date.now() < deadline - 3000 && !failure) {
        const r = await ping(lab, lab.podNs(2), lab.podIP(1), { count: 10, intervalS: 0.2 });
        sent += r.sent;
        lost += r.sent - r.received;
      }
      return { sent, lost };
    })();

    while (Date.now() < deadline && !failure) {
      await sleep(sampleS * 1000);
      const t = (Date.now() - t0) / 1000;
      const line: string[] = [];
      for (const n of nodes) {
        if (!n.process.running()) {
          failure = `${n.name} exited: ${JSON.stringify(n.process.exitInfo)} ${n.process.stderr().slice(-500)}`;
          break;
        }
        const s = sampleOf(n.process.pid, t);
        if (t >= warmupS) samples.get(n.name)!.push(s);
        line.push(`${n.name} rss ${mib(s.rssKb)} MiB fds ${s.fds}`);
      }
      say(
        `  t=${t.toFixed(0).padStart(4)}s  ${line.join('   ')}${t < warmupS ? '  (warm-up)' : ''}  [${transfers} transfers, ${(bytes / 2 ** 20).toFixed(0)} MiB]`,
      );
    }
    await traffic;
    const pings = await pinger;
    if (dump) {
      const alive = dump.running();
      await dump.stop('SIGINT');
      const summary =
        dump
          .stderr()
          .split('\n')
          .find((l) => / captured/.test(l)) ?? '(no summary)';
      say(`soak: capture: ${summary}`);
      if (!alive) failure ??= `the capture ended early: ${dump.stderr().slice(-300)}`;
    }

    let ok = failure === undefined;
    if (failure) say(`soak: FAILED: ${failure}`);
    say(
      `soak: ${transfers} transfers, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(0)}s; ping ${pings.sent - pings.lost}/${pings.sent}`,
    );
    for (const n of nodes) {
      const ss = samples.get(n.name)!;
      if (ss.length < 4) {
        say(`soak: ${n.name}: too few samples (${ss.length})`);
        ok = false;
        continue;
      }
      const rssStart = median(ss.slice(0, 3).map((s) => s.rssKb));
      const rssEnd = median(ss.slice(-3).map((s) => s.rssKb));
      const rssMax = Math.max(...ss.map((s) => s.rssKb));
      const fdStart = ss[0]!.fds;
      const fdEnd = ss[ss.length - 1]!.fds;
      const rssOk = rssEnd - rssStart <= rssTolMiB * 1024;
      const fdOk = fdEnd - fdStart <= fdTol;
      const st = await n.status();
      say(
        `soak: ${n.name}: RSS start ${mib(rssStart)} MiB, end ${mib(rssEnd)} MiB (max ${mib(rssMax)}; tolerance +${rssTolMiB} MiB) ${rssOk ? 'ok' : 'GREW'}; ` +
          `fds start ${fdStart}, end ${fdEnd} (tolerance +${fdTol}) ${fdOk ? 'ok' : 'GREW'}; ` +
          `tx ${st.counters.txPackets} rx ${st.counters.rxPackets} packets, drops ${JSON.stringify(Object.fromEntries(Object.entries(st.counters.drops).filter(([, v]) => v > 0)))}`,
      );
      ok &&= rssOk && fdOk;
    }
    for (const n of nodes) {
      const exit = await n.stop();
      if (exit.code !== 0) {
        say(`soak: ${n.name} did not exit cleanly: ${JSON.stringify(exit)}`);
        ok = false;
      }
    }
    say(`soak: ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  } finally {
    await lab.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
