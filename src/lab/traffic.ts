// Traffic generators for the testbed: ping and a verified TCP bulk transfer between namespaces.

import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { describeExit, nsExec, spawnInNs, type NsProcess } from './exec.js';
import { distFile } from './paths.js';
import type { Family, Lab } from './lab.js';

export interface PingOptions {
  count?: number;
  /** Default: 6 if the address contains ':', else 4. */
  family?: Family;
  /** Seconds between probes; default 0.2 (the minimum for an unprivileged user; we are root anyway). */
  intervalS?: number;
  /** Per-reply wait, seconds; default 2. */
  waitS?: number;
}

export interface PingResult {
  sent: number;
  received: number;
  /** Average round trip, ms; NaN when nothing came back. */
  rttAvgMs: number;
  /** Each reply's round trip, ms, in the order they came. */
  rttsMs: number[];
  /** ping's raw output, for messages. */
  output: string;
}

/** Pings `toIP` from namespace `fromNs`. Resolves with counts even on loss; rejects only if ping itself fails. */
export async function ping(lab: Lab | null, fromNs: string, toIP: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const family = opts.family ?? (toIP.includes(':') ? 6 : 4);
  const args = [
    family === 6 ? '-6' : '-4',
    '-n',
    '-c',
    String(count),
    '-i',
    String(opts.intervalS ?? 0.2),
    '-W',
    String(opts.waitS ?? 2),
    toIP,
  ];
  const timeoutMs = (count * (opts.intervalS ?? 0.2) + (opts.waitS ?? 2)) * 1000 + 10_000;
  // Exit code 1: some or all replies missing (that is a result, not a failure).
  const { stdout, stderr } = await nsExec(fromNs, 'ping', args, {
    okExitCodes: [0, 1],
    timeoutMs,
    logger: lab?.logger,
  });
  const r = parsePing(stdout);
  if (!r) throw new Error(`ping ${toIP} from ${fromNs}: no summary in output: ${(stdout + stderr).trim()}`);
  lab?.logger.debug('ping', { from: fromNs, to: toIP, ...r });
  return { ...r, output: stdout };
}

/** Parses iputils ping's summary lines. */
export function parsePing(out: string): Omit<PingResult, 'output'> | null {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  if (!m) return null;
  const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+/.exec(out);
  return {
    sent: Number(m[1]),
    received: Number(m[2]),
    rttAvgMs: rtt ? Number(rtt[1]) : Number.NaN,
    rttsMs: [...out.matchAll(/ time=([\d.]+) ms/g)].map((r) => Number(r[1])),
  };
}

export interface TransferOptions {
  bytes?: number;
  /** Default 5201 + a random offset. */
  port?: number;
  /** Overall limit; both agents are killed when it passes. Default 120 000 ms. */
  timeoutMs?: number;
  /** Seed for the pseudo-random payload. */
  seed?: string;
  logger?: Logger;
}

export interface TransferResult {
  /** Bytes the receiver got. */
  bytes: number;
  /** Bytes the sender sent. */
  bytesSent: number;
  sha256Sent: string;
  sha256Received: string;
  /** Sender-side wall time from connect until the receiver closed. */
  seconds: number;
  /** bytes × 8 / seconds / 1e6. */
  mbitPerSecond: number;
  /** The client address the receiver's socket saw (after any address translation on the way). */
  receiverSawPeer: string;
}

interface AgentReport {
  event: string;
  bytes: number;
  sha256: string;
  seconds: number;
  peer?: string;
}

/**
 * Sends `bytes` of seeded pseudo-random data over one TCP connection from `clientNs` to `serverIP`:port in
 * `serverNs`, and reports what each side hashed. IPv4 or IPv6 (by the form of `serverIP`). The agents run as
 * separate node processes in their namespaces and are tracked like any spawnInNs process.
 */
export async function tcpTransfer(
  serverNs: string,
  serverIP: string,
  clientNs: string,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  const bytes = opts.bytes ?? 50 * 1024 * 1024;
  const port = opts.port ?? 5201 + Math.floor(Math.random() * 10_000);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const log = opts.logger ?? silentLogger;
  const agent = transferAgentPath();
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());

  let server: NsProcess | undefined;
  let client: NsProcess | undefined;
  const what = `tcp transfer ${clientNs} → [${serverIP}]:${port} in ${serverNs}`;
  try {
    server = spawnInNs(serverNs, process.execPath, [agent, 'recv', '--host', serverIP, '--port', String(port)], {
      logger: log,
    });
    await server.waitForOutput(/"event":"listening"/, Math.min(left(), 15_000));
    client = spawnInNs(
      clientNs,
      process.execPath,
      [agent, 'send', '--host', serverIP, '--port', String(port), '--bytes', String(bytes), '--seed', opts.seed ?? '1'],
      { logger: log },
    );
    const c = client;
    const s = server;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), left());
    });
    try {
      await Promise.race([Promise.all([c.exited, s.exited]), timeout]);
    } finally {
      clearTimeout(timer);
    }
    const sent = agentReport(c, 'sender');
    const got = agentReport(s, 'receiver');
    const result: TransferResult = {
      bytes: got.bytes,
      bytesSent: sent.bytes,
      sha256Sent: sent.sha256,
      sha256Received: got.sha256,
      seconds: sent.seconds,
      mbitPerSecond: sent.seconds > 0 ? (got.bytes * 8) / sent.seconds / 1e6 : 0,
      receiverSawPeer: got.peer ?? '',
    };
    log.info('tcp transfer', { from: clientNs, to: serverIP, port, ...result });
    return result;
  } catch (e) {
    const diag = [server, client]
      .filter((p): p is NsProcess => p !== undefined)
      .map(
        (p) =>
          `[${p.ns} ${p.running() ? 'running' : describeExit(p.exitInfo!)}] ${(p.stdout() + p.stderr()).trim().slice(-1000)}`,
      )
      .join(' | ');
    throw new Error(`${what}: ${(e as Error).message}${diag ? ` — ${diag}` : ''}`, { cause: e });
  } finally {
    await Promise.all([client?.stop('SIGKILL', 2000), server?.stop('SIGKILL', 2000)]);
  }
}

function agentReport(p: NsProcess, role: string): AgentReport {
  const info = p.exitInfo;
  if (!info || info.code !== 0) {
    throw new Error(`${role} agent failed (${info ? describeExit(info) : 'still running'})`);
  }
  for (const line of p.stdout().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as AgentReport;
    if (r.event === 'done') return r;
  }
  throw new Error(`${role} agent printed no result`);
}

/**
 * Where the compiled transfer agent is: next to this module when it runs from dist/lab, or the repository's
 * dist/lab/transfer-agent.js when this module is loaded from src/lab/*.ts (tests run the sources directly).
 * VXTUN_TRANSFER_AGENT overrides both.
 */
export function transferAgentPath(): string {
  return distFile('lab/transfer-agent.js', process.env['VXTUN_TRANSFER_AGENT']);
}

export interface LinkStats {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** Interface counters of `dev` in namespace `ns` (`ip -j -s link show dev`). */
export async function linkStats(ns: string, dev: string, logger?: Logger): Promise<LinkStats> {
  const { stdout } = await nsExec(ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', dev], { logger });
  type Counters = { bytes: number; packets: number; dropped: number };
  const parsed = JSON.parse(stdout) as Array<{ stats64?: { rx: Counters; tx: Counters } }>;
  const s = parsed[0]?.stats64;
  if (!s) throw new Error(`no counters for ${dev} in ${ns}: ${stdout.trim()}`);
  return {
    rxBytes: s.rx.bytes,
    rxPackets: s.rx.packets,
    txBytes: s.tx.bytes,
    txPackets: s.tx.packets,
    rxDropped: s.rx.dropped,
    txDropped: s.tx.dropped,
  };
}
