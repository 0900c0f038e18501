// What `vxtun bench lab` measures and reports (src/bench/lab-run.ts fills it; lab-table.ts and report.ts render it).
// Pure: the per-round samples → the medians and ratios of each setup's row.

/**
 * The RTT measurement: an idle round trip. The UDP test leaves the receiving node's socket with up to its buffer of
 * 64-byte datagrams still queued (tens of ms), and a ping that lands on that worker right after waits behind them;
 * the median keeps one host preemption from moving a setup's figure.
 */
export const PING_COUNT = 20;
export const PING_INTERVAL_S = 0.05;
export const PING_SETTLE_MS = 1000;

/** One measurement of one setup in one round. */
export interface LabSample {
  /** TCP, 1 stream, Gbit/s received. */
  tcp1: number;
  /** TCP, 4 streams, Gbit/s received. */
  tcp4: number;
  /** UDP 64-byte datagrams received per second. */
  udp64: number;
  /** The median of PING_COUNT pings PING_INTERVAL_S apart, sent PING_SETTLE_MS after the UDP test, ms. */
  rttMs: number;
  /** The dataplane's (daemons' or floor relays') CPU seconds per GB during the 1-stream TCP test; absent for kernel setups. */
  cpuPerGB?: number;
  /** The whole machine's busy CPU seconds per GB during the 1-stream TCP test. */
  machinePerGB: number;
  /** The machine's idle share of that time (≈ 0: throughput is bound by CPU). */
  idleShare: number;
}

/** One setup's medians over the rounds, with its ratios to kernel VXLAN over the same underlay family. */
export interface LabRow {
  setup: string;
  tcp1: number;
  tcp4: number;
  udp64: number;
  rttMs: number;
  cpuPerGB: number;
  machinePerGB: number;
  idleShare: number;
  /** Kernel VXLAN's machine CPU per GB over this setup's: the throughput ratio a CPU-bound machine allows it. */
  costVsKernel: number;
  tcp1VsKernel: number;
  tcp4VsKernel: number;
  udp64VsKernel: number;
}

/** Where and what was measured. */
export interface LabMachine {
  cpus: number;
  /** The first CPU's model name (os.cpus()). */
  cpuModel: string;
  /** The kernel release (uname -r). */
  kernel: string;
}

export interface LabResults {
  rounds: number;
  seconds: number;
  machine: LabMachine;
  /** The day of the run, YYYY-MM-DD. */
  date: string;
  /** `git describe` of the checkout that ran, else the package version. */
  build: string;
  /** The native setups' offloads as their daemons reported them. */
  offloads?: unknown;
  offloads6?: unknown;
  rows: LabRow[];
  samples: Record<string, LabSample[]>;
}

/** The IPv6-underlay setups: the IPv4 setup of the same name without the 6, over fd99::/64. */
export const IPV6_SETUPS: readonly string[] = ['kernel6', 'native6'];

/** The setup a row's ×kernel columns compare with: kernel VXLAN over the same underlay family. */
export const kernelOf = (name: string): string => (IPV6_SETUPS.includes(name) ? 'kernel6' : 'kernel');

/** The median; NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Each setup's row, in `names` order: medians over its samples and the ratios to its kernel setup (NaN when absent). */
export function summarize(names: readonly string[], samples: Record<string, readonly LabSample[]>): LabRow[] {
  const med = (n: string, k: keyof LabSample) =>
    median((samples[n] ?? []).map((x) => x[k]).filter((x): x is number => x !== undefined));
  const k = (n: string, key: keyof LabSample) => (names.includes(kernelOf(n)) ? med(kernelOf(n), key) : NaN);
  return names.map((n) => ({
    setup: n,
    tcp1: med(n, 'tcp1'),
    tcp4: med(n, 'tcp4'),
    udp64: med(n, 'udp64'),
    rttMs: med(n, 'rttMs'),
    cpuPerGB: med(n, 'cpuPerGB'),
    machinePerGB: med(n, 'machinePerGB'),
    idleShare: med(n, 'idleShare'),
    costVsKernel: k(n, 'machinePerGB') / med(n, 'machinePerGB'),
    tcp1VsKernel: med(n, 'tcp1') / k(n, 'tcp1'),
    tcp4VsKernel: med(n, 'tcp4') / k(n, 'tcp4'),
    udp64VsKernel: med(n, 'udp64') / k(n, 'udp64'),
  }));
}
