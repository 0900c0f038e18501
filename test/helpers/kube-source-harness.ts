// Drives a kubernetes peer source against a fake API server: collects its snapshots and log lines, and waits for
// the ones a test expects.
import type { Logger } from '../../src/log.js';
import { Cidr } from '../../src/net/cidr.js';
import { kubePeerSource, type KubeSourceOptions } from '../../src/peers/kube.js';
import type { Advertisement, LocalNode, Peer, PeerSource } from '../../src/peers/peer-source.js';
import { parseIP } from '../../src/net/ip.js';
import { PREFIX, testKubeConfig } from './kube-nodes.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export function recordingLogger(lines: LogLine[], echo?: (s: string) => void): Logger {
  const at =
    (level: LogLine['level']) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      lines.push({ level, msg, fields });
      echo?.(`${level} ${msg} ${JSON.stringify(fields)}`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const FAST_BACKOFF = { initialMs: 50, maxMs: 400, jitter: 0 };

export interface Harness {
  source: PeerSource;
  logs: LogLine[];
  snapshots: Peer[][];
  abort: AbortController;
  local(): Promise<LocalNode>;
  /** Calls run() in the background. */
  run(self?: Partial<Advertisement>): void;
  /** The first snapshot (at or after index `from`) that satisfies `pred`. */
  snapshot(pred: (peers: Peer[]) => boolean, timeoutMs?: number, from?: number): Promise<Peer[]>;
  /** Resolves once `pred` holds, polling. */
  until(pred: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

export function names(peers: Peer[]): string[] {
  return peers.map((p) => p.name).sort();
}

export function startHarness(
  url: string,
  opts: Partial<KubeSourceOptions> & { nodeName?: string; echo?: (s: string) => void } = {},
): Harness {
  const logs: LogLine[] = [];
  const snapshots: Peer[][] = [];
  const abort = new AbortController();
  const { echo, nodeName = 'node-a', informer, ...rest } = opts;
  const source = kubePeerSource({
    kubeConfig: testKubeConfig(url),
    nodeName,
    annotationPrefix: PREFIX,
    vni: 1,
    network: Cidr.parse('10.244.0.0/16'),
    logger: recordingLogger(logs, echo),
    patchBackoff: FAST_BACKOFF,
    ...rest,
    informer: { backoff: FAST_BACKOFF, ...informer },
  });
  let running: Promise<void> | undefined;
  const until = async (pred: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    source,
    logs,
    snapshots,
    abort,
    local: () => source.local(abort.signal),
    run(self = {}) {
      const adv: Advertisement = { vni: 1, vtepMAC: '0a:00:00:00:01:01', publicIP: parseIP('192.168.99.1')!, ...self };
      running = source.run(abort.signal, adv, (peers) => snapshots.push(peers));
    },
    async snapshot(pred, timeoutMs = 5_000, from = 0) {
      let found: Peer[] | undefined;
      await until(
        () => (found = snapshots.slice(from).find(pred)) !== undefined,
        timeoutMs,
        `a matching snapshot (last: ${JSON.stringify(names(snapshots.at(-1) ?? []))})`,
      );
      return found!;
    },
    until,
    async stop() {
      abort.abort();
      await running;
    },
  };
}
