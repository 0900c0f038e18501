// End-to-end benchmark (root): pod-to-pod traffic through two-node namespace testbeds, side by
// side with Linux kernel VXLAN in the same run.
//
//   kernel   two kernel VXLAN nodes programmed as flannel does (the yardstick)
//   native   two vxtun nodes, native engine, offloads auto
//   js       two vxtun nodes, js engine (the portable baseline)
//   plain    plain routing between the nodes, no overlay (the ceiling)
//   direct   two vxtun nodes, native engine, dataplane.directRouting on: the nodes share the underlay subnet, so the
//            pod traffic takes vxtun's direct routes (proto 119, README "DirectRouting"), not the overlay
//   kernel6, native6  the same as kernel and native over an IPv6-only underlay (fd99::/64, LabOptions.underlay 6;
//            outer IPv6, 70 bytes of overhead); their ×kernel columns are against kernel6, and the IPv6 ratio
//            native6 ÷ kernel6 is printed beside the IPv4 one (issue 17: within 10 % of it)
//   floor    (with --floor) bench/floor/relay.c on each node: a TUN + UDP relay that does no per-byte
//            userspace work, checked with a sha256 transfer each way first — the ceiling of any
//            TUN + UDP-socket dataplane on this machine (bench/floor/floor-node.ts)
//   floor-iov (with --floor-iovecs) the same relay gathering its bytes with vxtun's iovec layout (two
//            per datagram sent, one per payload written): floor ÷ floor-iov is what gathering costs
//   …plus any extra vxtun variants given with --variant name=<JSON dataplane config>
//   capture  (with --capture) the native setup's daemons, measured while `vxtun dump -w /dev/null`
//            runs on node 1 (same daemons as native, so the difference is the capture alone)
//
// Each round measures every setup in a rotated order (interleaved, so drift hits all alike):
// TCP with 1 and 4 streams (iperf3), UDP 64-byte packets/s, ping RTT. Reported: medians over the
// rounds, the ratio to kernel VXLAN, for vxtun the daemons' CPU seconds per GB moved, and for every
// setup the whole machine's busy CPU seconds per GB with its idle share: when idle ≈ 0 the CPUs are
// the limit, and kernel VXLAN's cost per byte over a setup's predicts its throughput ratio.
//
//   npm run bench:e2e -- [--rounds 5] [--seconds 5] [--only kernel,native,kernel6,native6] [--variant noudpgso='{"offloads":{"udpGso":"off"}}'] [--capture [--capture-args "-s 96"]] [--floor] [--floor-iovecs] [--json FILE] [--perf DIR]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  cliPath,
  Lab,
  labPeer,
  labKernelRemote,
  labUnavailableReason,
  labVtepMAC,
  machineCpuDelta,
  nsExec,
  ping,
  processCpuSeconds,
  programKernelVxlanNode,
  readMachineCpu,
  startVxtunNode,
  type NsProcess,
  type VxtunNode,
} from '../src/lab/index.js';
import { buildRelay, startFloorNode, stopRelays, verifyFloor } from './floor/floor-node.js';

interface Args {
  rounds: number;
  seconds: number;
  only?: string[];
  variants: Record<string, Record<string, unknown>>;
  json?: string;
  capture: boolean;
  floor: boolean;
  floorIovecs: boolean;
  /** Extra `vxtun dump` arguments for the capture setup (e.g. "-s 96" or a filter). */
  captureArgs: string[];
  /** With --perf DIR: a whole-machine `perf record -a -g` of each 1-stream TCP test, DIR/<setup>-<round>.data. */
  perfDir?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    rounds: 5,
    seconds: 5,
    variants: {},
    capture: false,
    floor: false,
    floorIovecs: false,
    captureArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--rounds':
        a.rounds = Number(v);
        i++;
        break;
      case '--seconds':
        a.seconds = Number(v);
        i++;
        break;
      case '--only':
        a.only = (v ?? '').split(',');
        i++;
        break;
      case '--json':
        a.json = v;
        i++;
        break;
      case '--perf':
        a.perfDir = v;
        i++;
        break;
      case '--capture':
        a.capture = true;
        break;
      case '--floor':
        a.floor = true;
        break;
      case '--floor-iovecs':
        a.floorIovecs = true;
        break;
      case '--capture-args':
        a.captureArgs = (v ?? '').split(/\s+/).filter(Boolean);
        i++;
        break;
      case '--variant': {
        const [name, json] = (v ?? '').split(/=(.*)/s);
        a.variants[name!] = JSON.parse(json ?? '{}') as Record<string, unknown>;
        i++;
        break;
      }
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

interface Setup {
  name: string;
  lab: Lab;
  daemons: VxtunNode[];
  /** The capture setup: measured while a `vxtun dump` runs (started per measurement). */
  capture?: boolean;
  /** Shares another setup's lab and daemons (capture ↔ native); not torn down twice. */
  shared?: boolean;
  /** The floor setup's relays; their CPU counts as the dataplane's. */
  relays?: NsProcess[];
}

/** The processes whose CPU time is the dataplane's: the vxtun daemons or the floor relays. */
const dataplanePids = (s: Setup): number[] => [
  ...s.daemons.map((d) => d.process.pid),
  ...(s.relays ?? []).map((r) => r.pid),
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The compiled floor relay (built once, when --floor asks for it). */
let relayBinary: string | undefined;

/** The IPv6-underlay setups: the IPv4 setup of the same name without the 6, over fd99::/64. */
const IPV6_SETUPS = ['kernel6', 'native6'];
/** The setup a row's ×kernel columns compare with: kernel VXLAN over the same underlay family. */
const kernelOf = (name: string): string => (IPV6_SETUPS.includes(name) ? 'kernel6' : 'kernel');

async function build(setup: string, variant?: Record<string, unknown>): Promise<Setup> {
  const underlay = IPV6_SETUPS.includes(setup) ? 6 : 4;
  const name = underlay === 6 ? setup.slice(0, -1) : setup;
  const lab = await Lab.create({
    nodes: 2,
    underlay,
    prefix: `vxtb${setup.slice(0, 3)}${underlay === 6 ? '6' : ''}${Math.random().toString(16).slice(2, 5)}`,
  });
  const daemons: VxtunNode[] = [];
  if (name === 'kernel') {
    for (const [i, j] of [
      [1, 2],
      [2, 1],
    ] as const) {
      // Over IPv6 the one device carries the measured inner IPv4 too (src/lab/kernel-vxlan.ts `inner`).
      const inner = underlay === 6 ? ([4, 6] as const) : ([4] as const);
      await programKernelVxlanNode(lab, i, { inner, remotes: [labKernelRemote(lab, j, labVtepMAC(j))] });
    }
  } else if (name === 'floor' || name === 'floor-iov') {
    const relays: NsProcess[] = [];
    const iovecs = name === 'floor-iov';
    try {
      relays.push(await startFloorNode(lab, relayBinary!, 1, 2, { iovecs }));
      relays.push(await startFloorNode(lab, relayBinary!, 2, 1, { iovecs }));
      console.error(`floor relay verified: ${await verifyFloor(lab, 50 * 1024 * 1024)}`);
    } catch (e) {
      for (const r of relays) await r.stop('SIGKILL', 1_000);
      await lab.destroy();
      throw e;
    }
    return { name, lab, daemons, relays };
  } else if (name === 'plain') {
    for (const [i, j] of [
      [1, 2],
      [2, 1],
    ] as const) {
      await lab.ip(lab.nodeNs(i), ['route', 'add', lab.podCIDR(j), 'via', lab.underlayIP(j)]);
      await lab
        .ip(lab.nodeNs(i), ['-6', 'route', 'add', lab.podCIDR(j, 6), 'via', `fd00:99::${j}`])
        .catch(() => undefined);
    }
  } else {
    const peers = [labPeer(lab, 1), labPeer(lab, 2)];
    for (const i of [1, 2]) daemons.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: variant ?? {} } }));
    if (variant?.['directRouting'] === true) await directRoutesUp(lab);
  }
  return { name, lab, daemons };
}

/** Waits until both nodes have their direct route (they follow "ready" by a moment). */
async function directRoutesUp(lab: Lab): Promise<void> {
  const t0 = Date.now();
  for (const i of [1, 2]) {
    while (!/ proto 119\b/.test((await lab.ip(lab.nodeNs(i), ['-4', 'route', 'show'])).stdout)) {
      if (Date.now() - t0 > 30_000) throw new Error(`bench:e2e direct: node ${i} has no direct route after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface Sample {
  tcp1: number; // Gbit/s
  tcp4: number;
  udp64: number; // packets/s received
  rttMs: number;
  cpuPerGB?: number; // daemon CPU seconds per GB during the 1-stream TCP test
  machinePerGB: number; // the whole machine's busy CPU seconds per GB during the 1-stream TCP test
  idleShare: number; // the machine's idle share of that time (≈ 0: throughput is bound by CPU)
}

/** The fields of `iperf3 -J` output this bench reads (TCP: sum_received; UDP: sum). */
interface IperfResult {
  end: {
    sum_received: { bytes: number; bits_per_second: number };
    sum: { packets: number; lost_packets: number; seconds: number };
  };
}

async function iperf(s: Setup, args: string[], seconds: number): Promise<IperfResult> {
  const { lab } = s;
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const srv = lab.spawn(lab.podNs(2), 'iperf3', ['-s', '-1', '--forceflush', '-p', port]);
  await srv.waitForOutput(/Server listening/, 5_000);
  try {
    const r = await nsExec(
      lab.podNs(1),
      'iperf3',
      ['-c', lab.podIP(2), '-p', port, '-t', String(seconds), '-J', ...args],
      {
        timeoutMs: (seconds + 20) * 1000,
      },
    );
    return JSON.parse(r.stdout) as IperfResult;
  } finally {
    await srv.stop();
  }
}

/** Starts `vxtun dump -w /dev/null` on node 1 and waits until it captures. */
async function startDump(s: Setup, extra: string[]): Promise<NsProcess> {
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

async function measure(s: Setup, seconds: number, captureArgs: string[], perfFile?: string): Promise<Sample> {
  const dump = s.capture ? await startDump(s, captureArgs) : undefined;
  try {
    return await measureTraffic(s, seconds, perfFile);
  } finally {
    await dump?.stop();
  }
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

async function measureTraffic(s: Setup, seconds: number, perfFile?: string): Promise<Sample> {
  const cpu0 = dataplanePids(s).reduce((t, pid) => t + processCpuSeconds(pid), 0);
  const m0 = readMachineCpu();
  const perf = perfFile ? perfRecord(perfFile, seconds) : undefined;
  const t1 = await iperf(s, [], seconds);
  await perf;
  const m1 = readMachineCpu();
  const cpu1 = dataplanePids(s).reduce((t, pid) => t + processCpuSeconds(pid), 0);
  const machine = machineCpuDelta(m0, m1);
  const bytes1 = t1.end.sum_received.bytes;
  const t4 = await iperf(s, ['-P', '4'], seconds);
  const u = await iperf(s, ['-u', '-l', '64', '-b', '0'], Math.max(2, Math.floor(seconds / 2)));
  const udpPackets = u.end.sum.packets - u.end.sum.lost_packets;
  const p = await ping(s.lab, s.lab.podNs(1), s.lab.podIP(2), { count: 20, intervalS: 0.05 });
  return {
    tcp1: t1.end.sum_received.bits_per_second / 1e9,
    tcp4: t4.end.sum_received.bits_per_second / 1e9,
    udp64: udpPackets / u.end.sum.seconds,
    rttMs: p.rttAvgMs,
    machinePerGB: machine.busySeconds / (bytes1 / 1e9),
    idleShare: machine.idleShare,
    ...(dataplanePids(s).length ? { cpuPerGB: (cpu1 - cpu0) / (bytes1 / 1e9) } : {}),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const reason = labUnavailableReason({
    tun: true,
    tools: ['ip', 'bridge', 'sysctl', 'ping', 'iperf3', ...(args.floor || args.floorIovecs ? ['cc'] : [])],
  });
  if (reason) throw new Error(`bench:e2e ${reason}`);
  const names = [
    'kernel',
    'native',
    'js',
    'plain',
    'direct',
    ...IPV6_SETUPS,
    ...(args.capture ? ['capture'] : []),
    ...(args.floor ? ['floor'] : []),
    ...(args.floorIovecs ? ['floor-iov'] : []),
    ...Object.keys(args.variants),
  ].filter((n) => !args.only || args.only.includes(n));
  const tmp = mkdtempSync(join(os.tmpdir(), 'vxtun-bench-'));
  if (names.includes('floor') || names.includes('floor-iov')) relayBinary = buildRelay(tmp);
  // The vxtun setups that are a dataplane config of their own.
  const builtIn: Record<string, Record<string, unknown>> = { js: { engine: 'js' }, direct: { directRouting: true } };
  const setups: Setup[] = [];
  const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
  try {
    for (const n of names) {
      const native = setups.find((x) => x.name === 'native');
      if (n === 'capture' && native) setups.push({ ...native, name: n, capture: true, shared: true });
      else
        setups.push({
          ...(await build(n === 'capture' ? 'native' : n, builtIn[n] ?? args.variants[n])),
          name: n,
          capture: n === 'capture',
        });
    }
    for (let r = 0; r < args.rounds; r++) {
      const order = setups.map((_, i) => setups[(i + r) % setups.length]!);
      for (const s of order) {
        const perfFile = args.perfDir ? join(args.perfDir, `${s.name}-${r + 1}.data`) : undefined;
        const m = await measure(s, args.seconds, args.captureArgs, perfFile);
        samples.get(s.name)!.push(m);
        console.error(
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
    const med = (n: string, k: keyof Sample) =>
      median(
        samples
          .get(n)!
          .map((x) => x[k] as number)
          .filter((x) => x !== undefined),
      );
    const k = (n: string, key: keyof Sample) => (names.includes(kernelOf(n)) ? med(kernelOf(n), key) : NaN);
    const rows = names.map((n) => ({
      setup: n,
      tcp1: med(n, 'tcp1'),
      tcp4: med(n, 'tcp4'),
      udp64: med(n, 'udp64'),
      rttMs: med(n, 'rttMs'),
      cpuPerGB: med(n, 'cpuPerGB'),
      machinePerGB: med(n, 'machinePerGB'),
      idleShare: med(n, 'idleShare'),
      // Kernel VXLAN's cost per byte over this setup's: the throughput ratio a CPU-bound machine allows it.
      costVsKernel: k(n, 'machinePerGB') / med(n, 'machinePerGB'),
      tcp1VsKernel: med(n, 'tcp1') / k(n, 'tcp1'),
      tcp4VsKernel: med(n, 'tcp4') / k(n, 'tcp4'),
      udp64VsKernel: med(n, 'udp64') / k(n, 'udp64'),
    }));
    const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    console.log(
      `vxtun bench:e2e — ${args.rounds} interleaved rounds × ${args.seconds} s, medians; ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, ${new Date().toISOString().slice(0, 10)}`,
    );
    if (offloads) console.log(`vxtun offloads in use: ${JSON.stringify(offloads)}`);
    if (offloads6) console.log(`vxtun offloads in use over the IPv6 underlay: ${JSON.stringify(offloads6)}`);
    console.log('');
    console.log(
      '| setup | TCP 1 stream Gbit/s | ×kernel | TCP 4 streams Gbit/s | ×kernel | UDP 64 B kpps | ×kernel | ping RTT ms | daemon CPU s/GB | machine CPU s/GB | idle | kernel ÷ cost |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      console.log(
        `| ${r.setup} | ${f(r.tcp1)} | ${f(r.tcp1VsKernel)} | ${f(r.tcp4)} | ${f(r.tcp4VsKernel)} | ${f(r.udp64 / 1e3, 0)} | ${f(r.udp64VsKernel)} | ${f(r.rttMs, 3)} | ` +
          `${f(r.cpuPerGB, 2)} | ${f(r.machinePerGB, 2)} | ${f(r.idleShare * 100, 0)} % | ${f(r.costVsKernel)} |`,
      );
    }
    console.log('');
    console.log(
      "machine CPU s/GB: busy seconds of all CPUs together per GB, during the 1-stream TCP test (steal excluded); idle: the CPUs' idle share then. " +
        "kernel ÷ cost: kernel VXLAN's machine CPU per GB over the setup's, the throughput ratio its cost per byte allows when the CPUs are the limit (idle ≈ 0). " +
        '×kernel and kernel ÷ cost compare kernel6 and native6 (IPv6-only underlay) with kernel6, every other row with kernel.',
    );
    const byName = (n: string) => rows.find((r) => r.setup === n);
    const v4 = byName('native');
    const v6 = byName('native6');
    if (v4 && v6) {
      const within = (a: number, b: number) => (Math.abs(a / b - 1) <= 0.1 ? 'within 10 %' : 'NOT within 10 %');
      console.log('');
      console.log(
        `vxtun ÷ kernel VXLAN, IPv6 underlay (native6 ÷ kernel6) beside IPv4 (native ÷ kernel): ` +
          `TCP 1 stream ${f(v6.tcp1VsKernel)} vs ${f(v4.tcp1VsKernel)} (${within(v6.tcp1VsKernel, v4.tcp1VsKernel)}), ` +
          `TCP 4 streams ${f(v6.tcp4VsKernel)} vs ${f(v4.tcp4VsKernel)} (${within(v6.tcp4VsKernel, v4.tcp4VsKernel)}), ` +
          `UDP 64 B ${f(v6.udp64VsKernel)} vs ${f(v4.udp64VsKernel)}, kernel ÷ cost ${f(v6.costVsKernel)} vs ${f(v4.costVsKernel)}`,
      );
    }
    if (names.includes('floor') && names.includes('native')) {
      console.log('');
      console.log(
        `native ÷ floor: TCP 1 stream ${f(med('native', 'tcp1') / med('floor', 'tcp1'))}, TCP 4 streams ${f(med('native', 'tcp4') / med('floor', 'tcp4'))}, UDP 64 B ${f(med('native', 'udp64') / med('floor', 'udp64'))}`,
      );
    }
    if (names.includes('floor') && names.includes('floor-iov')) {
      const cpu = (n: string) => rows.find((r) => r.setup === n)?.cpuPerGB ?? NaN;
      console.log(
        `floor-iov ÷ floor (the cost of gathering): TCP 1 stream ${f(med('floor-iov', 'tcp1') / med('floor', 'tcp1'))}, TCP 4 streams ${f(med('floor-iov', 'tcp4') / med('floor', 'tcp4'))}, CPU s/GB ${f(cpu('floor-iov') / cpu('floor'))}`,
      );
    }
    if (args.json) writeFileSync(args.json, JSON.stringify({ rows, samples: Object.fromEntries(samples) }, null, 2));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    for (const s of setups) {
      if (s.shared) continue;
      if (s.relays) console.error(`floor relay counters: ${(await stopRelays(s.relays)).join(' ')}`);
      for (const d of s.daemons) await d.stop();
      await s.lab.destroy();
    }
  }
}

main().catch((e: unknown) => {
  console.error(`bench:e2e: ${(e as Error).message}`);
  process.exit(1);
});
