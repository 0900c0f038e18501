// One measurement of one setup (src/bench/lab-setups.ts): iperf3 TCP with 1 and 4 streams, UDP 64-byte packets/s,
// ping RTT (lab-results.ts PING_COUNT), and during the 1-stream test the dataplane's and the whole machine's CPU seconds
// per GB.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cliPath,
  machineCpuDelta,
  nsExec,
  ping,
  processCpuSeconds,
  readMachineCpu,
  type NsProcess,
} from '../lab/index.js';
import { median, PING_COUNT, PING_INTERVAL_S, PING_SETTLE_MS, type LabSample } from './lab-results.js';
import { dataplanePids, type LabSetup } from './lab-setups.js';

/** The fields of `iperf3 -J` output read here (TCP: sum_received; UDP: sum). */
interface IperfResult {
  end: {
    sum_received: { bytes: number; bits_per_second: number };
    sum: { packets: number; lost_packets: number; seconds: number };
  };
}

export interface MeasureOptions {
  seconds: number;
  /** Extra `vxtun dump` arguments for the capture setup. */
  captureArgs: string[];
  /** A whole-machine `perf record -a -g` of the 1-stream TCP test into this file. */
  perfFile?: string;
  /** Called as each test starts, with its name ("TCP 1 stream"…). */
  onStep?: (step: string) => void;
}

async function iperf(s: LabSetup, args: string[], seconds: number): Promise<IperfResult> {
  const { lab } = s;
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const srv = lab.spawn(lab.podNs(2), 'iperf3', ['-s', '-1', '--forceflush', '-p', port]);
  await srv.waitForOutput(/Server listening/, 5_000);
  try {
    const r = await nsExec(
      lab.podNs(1),
      'iperf3',
      ['-c', lab.podIP(2), '-p', port, '-t', String(seconds), '-J', ...args],
      { timeoutMs: (seconds + 20) * 1000 },
    );
    return JSON.parse(r.stdout) as IperfResult;
  } finally {
    await srv.stop();
  }
}

/** Starts `vxtun dump -w /dev/null` on node 1 and waits until it captures. */
async function startDump(s: LabSetup, extra: string[]): Promise<NsProcess> {
  const dump = s.lab.spawn(s.lab.nodeNs(1), process.execPath, [
    cliPath(),
    'dump',
    '--socket',
    s.daemons[0]!.socket,
    '-w',
    '/dev/null',
    ...extra,
  ]);
  await dump.waitForOutput(/listening on /, 20_000);
  return dump;
}

/**
 * `perf record` of the whole machine (call graphs, 499 Hz) for `seconds`, into `file`: what the CPUs did during a
 * measurement (`perf report -i FILE --no-children --sort sym`). Resolves when perf has written the file.
 */
function perfRecord(file: string, seconds: number): Promise<void> {
  const p = spawn('perf', ['record', '-a', '-g', '-F', '499', '-q', '-o', file, '--', 'sleep', String(seconds)], {
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited ${code}`))));
  });
}

/** Measures a setup once; the capture setup while a `vxtun dump` runs on node 1. */
export async function measureSetup(s: LabSetup, opts: MeasureOptions): Promise<LabSample> {
  const dump = s.capture ? await startDump(s, opts.captureArgs) : undefined;
  try {
    return await measureTraffic(s, opts);
  } finally {
    await dump?.stop();
  }
}

async function measureTraffic(s: LabSetup, opts: MeasureOptions): Promise<LabSample> {
  const { seconds } = opts;
  const step = opts.onStep ?? (() => undefined);
  step('TCP 1 stream');
  const cpu0 = dataplanePids(s).reduce((t, pid) => t + processCpuSeconds(pid), 0);
  const m0 = readMachineCpu();
  const perf = opts.perfFile ? perfRecord(opts.perfFile, seconds) : undefined;
  const t1 = await iperf(s, [], seconds);
  await perf;
  const m1 = readMachineCpu();
  const cpu1 = dataplanePids(s).reduce((t, pid) => t + processCpuSeconds(pid), 0);
  const machine = machineCpuDelta(m0, m1);
  const bytes1 = t1.end.sum_received.bytes;
  step('TCP 4 streams');
  const t4 = await iperf(s, ['-P', '4'], seconds);
  step('UDP 64 B');
  const u = await iperf(s, ['-u', '-l', '64', '-b', '0'], Math.max(2, Math.floor(seconds / 2)));
  const udpPackets = u.end.sum.packets - u.end.sum.lost_packets;
  step('ping RTT');
  await sleep(PING_SETTLE_MS); // an idle round trip (lab-results.ts PING_COUNT)
  const p = await ping(s.lab, s.lab.podNs(1), s.lab.podIP(2), { count: PING_COUNT, intervalS: PING_INTERVAL_S });
  return {
    tcp1: t1.end.sum_received.bits_per_second / 1e9,
    tcp4: t4.end.sum_received.bits_per_second / 1e9,
    udp64: udpPackets / u.end.sum.seconds,
    rttMs: median(p.rttsMs),
    machinePerGB: machine.busySeconds / (bytes1 / 1e9),
    idleShare: machine.idleShare,
    ...(dataplanePids(s).length ? { cpuPerGB: (cpu1 - cpu0) / (bytes1 / 1e9) } : {}),
  };
}
