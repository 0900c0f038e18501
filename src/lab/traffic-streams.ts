// Long-running traffic for measuring a disturbance (a handover, a restart) while it happens: a timestamped ping
// stream and an iperf3 TCP stream with short report intervals, with the client namespace's TCP counters (nstat) to
// tell lost segments from spurious retransmits. The reports are pure functions of the tools' output.
import { nsExec, type NsProcess } from './exec.js';
import type { Lab } from './lab.js';

/** What a `ping -D` stream saw, by icmp_seq. */
export interface PingStreamReport {
  /** Probes sent (ping's own count). */
  transmitted: number;
  /** Distinct sequence numbers answered. */
  received: number;
  /** Sequence numbers not answered although a later one was: lost (or later than ping waited). */
  lost: number[];
  /** Probes after the last answered one: still in flight when ping was stopped, not counted as lost. */
  unanswered: number;
  /** The longest time between two consecutive replies, ms (ping -D's receive timestamps). */
  longestGapMs: number;
  /** When the longest gap ended, ms since the epoch (NaN with fewer than two replies). */
  longestGapEnd: number;
}

/** Reads `ping -D -n` output (`[<unix s>] 64 bytes from …: icmp_seq=N …` lines and the summary). */
export function pingStreamReport(out: string): PingStreamReport {
  const seen = new Set<number>();
  const times: number[] = [];
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)(.*)$/gm)) {
    if (/DUP!/.test(m[3] ?? '')) continue;
    seen.add(Number(m[2]));
    times.push(Number(m[1]) * 1000);
  }
  const tx = /(\d+) packets transmitted/.exec(out);
  const transmitted = tx ? Number(tx[1]) : Math.max(0, ...seen);
  const last = Math.max(0, ...seen);
  const first = Math.min(...seen);
  const lost: number[] = [];
  // iputils ping numbers from 1 (older versions from 0): anything below the first answer is lost too.
  for (let s = Math.min(1, first); s < last; s++) if (!seen.has(s)) lost.push(s);
  let longestGapMs = 0;
  let longestGapEnd = Number.NaN;
  for (let k = 1; k < times.length; k++) {
    const gap = times[k]! - times[k - 1]!;
    if (gap > longestGapMs) [longestGapMs, longestGapEnd] = [gap, times[k]!];
  }
  return {
    transmitted,
    received: seen.size,
    lost,
    unanswered: Math.max(0, transmitted - last),
    longestGapMs,
    longestGapEnd,
  };
}

export interface PingStream {
  readonly process: NsProcess;
  /** SIGINT, wait for ping's summary, report. */
  stop(): Promise<PingStreamReport>;
}

/** `ping -D` from `fromNs` to `toIP` every `intervalS` (default 0.01 s) until stopped; resolves at the first reply. */
export async function startPingStream(lab: Lab, fromNs: string, toIP: string, intervalS = 0.01): Promise<PingStream> {
  const family = toIP.includes(':') ? '-6' : '-4';
  const p = lab.spawn(fromNs, 'ping', [family, '-n', '-D', '-i', String(intervalS), '-W', '2', toIP]);
  try {
    await p.waitForOutput(/ bytes from /, 20_000);
  } catch (err) {
    await p.stop('SIGKILL', 1_000);
    throw err;
  }
  return {
    process: p,
    async stop() {
      await p.stop('SIGINT', 5_000);
      return pingStreamReport(p.stdout());
    },
  };
}

/** One report interval of an iperf3 TCP client. */
export interface IperfInterval {
  start: number;
  end: number;
  bitsPerSecond: number;
  retransmits: number;
}

export interface IperfStreamReport {
  seconds: number;
  /** Sender retransmits, summed over the intervals. */
  retransmits: number;
  /**
   * Of the segments the client's namespace retransmitted meanwhile (TcpRetransSegs), those the receiver did not
   * report as duplicates (TcpExtTCPDSACKRecvSegs): the retransmits of segments that were really lost. The others are
   * spurious (reordering, a tail loss probe after a stall): the receiver had them already.
   */
  lostSegments: number;
  /** What the receiver got, Mbit/s over the whole run. */
  receivedMbitPerSecond: number;
  intervals: IperfInterval[];
}

interface IperfJson {
  intervals?: { sum: { start: number; end: number; bits_per_second: number; retransmits?: number } }[];
  end?: { sum_received?: { seconds: number; bits_per_second: number } };
  error?: string;
}

/** The counters of `nstat -a -s -z NAME…` output (`NAME value rate` lines), by name. */
export function nstatCounters(out: string): Record<string, number> {
  const c: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+)\s+(\d+)/gm)) c[m[1]!] = Number(m[2]);
  return c;
}

const TCP_COUNTERS = ['TcpRetransSegs', 'TcpExtTCPDSACKRecvSegs'];

/** The namespace's segments retransmitted minus those the receivers said they had (see lostSegments). */
async function unDsackedRetransmits(ns: string): Promise<number> {
  const c = nstatCounters((await nsExec(ns, 'nstat', ['-a', '-s', '-z', ...TCP_COUNTERS])).stdout);
  const missing = TCP_COUNTERS.filter((k) => c[k] === undefined);
  if (missing.length) throw new Error(`nstat in ${ns}: no ${missing.join(', ')} (kernel too old?)`);
  return c['TcpRetransSegs']! - c['TcpExtTCPDSACKRecvSegs']!;
}

/** Reads an iperf3 TCP client's `--json` output; lostSegments is the caller's to fill in. */
export function iperfStreamReport(json: string): Omit<IperfStreamReport, 'lostSegments'> {
  const j = JSON.parse(json) as IperfJson;
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const intervals = (j.intervals ?? []).map(({ sum }) => ({
    start: sum.start,
    end: sum.end,
    bitsPerSecond: sum.bits_per_second,
    retransmits: sum.retransmits ?? 0,
  }));
  const recv = j.end?.sum_received;
  if (!recv) throw new Error('iperf3: no end.sum_received in its output');
  return {
    seconds: recv.seconds,
    retransmits: intervals.reduce((s, i) => s + i.retransmits, 0),
    receivedMbitPerSecond: recv.bits_per_second / 1e6,
    intervals,
  };
}

export interface IperfStream {
  /** The client, already connected and sending. */
  readonly client: NsProcess;
  /** Settles when the client has run its `seconds` (rejects when it failed). */
  readonly done: Promise<IperfStreamReport>;
}

/**
 * One iperf3 TCP stream `clientNs` → `serverIP` in `serverNs` for `seconds`, reporting every `intervalS` (default
 * 0.1 s). Resolves once the server has reported its first interval (the connection carries data).
 */
export async function startIperfStream(
  lab: Lab,
  serverNs: string,
  serverIP: string,
  clientNs: string,
  seconds: number,
  intervalS = 0.1,
): Promise<IperfStream> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const lost0 = await unDsackedRetransmits(clientNs);
  const srv = lab.spawn(serverNs, 'iperf3', ['-s', '-1', '--forceflush', '-i', String(intervalS), '-p', port]);
  await srv.waitForOutput(/Server listening/, 15_000);
  const client = lab.spawn(clientNs, 'iperf3', [
    '-c',
    serverIP,
    '-p',
    port,
    '-t',
    String(seconds),
    '-i',
    String(intervalS),
    '--json',
  ]);
  const done = (async () => {
    try {
      const exit = await client.exited;
      if (exit.code !== 0)
        throw new Error(`iperf3 client exited (${JSON.stringify(exit)}): ${client.stdout().slice(-2000)}`);
      const lostSegments = (await unDsackedRetransmits(clientNs)) - lost0;
      return { ...iperfStreamReport(client.stdout()), lostSegments };
    } finally {
      await srv.stop('SIGTERM', 3_000);
    }
  })();
  done.catch(() => {});
  // iperf3 3.12 prints its JSON at the end only; the server's text output says when the test stream is there.
  try {
    await srv.waitForOutput(/\[\s*\d+\]\s+\d+\.\d+-\d+\.\d+\s+sec/, 20_000);
  } catch (err) {
    await client.stop('SIGKILL', 1_000);
    throw err;
  }
  return { client, done };
}
