// Timing what vxtun daemons in etcd mode make of a change in etcd: their /status read straight from the admin unix
// socket (a few ms, where `vxtun status` costs a node start), polled until a condition holds on every node, with the
// time each node took. Used by test/integration/etcd-*.test.ts.
import http from 'node:http';
import type { Status } from '../admin/status.js';
import type { VxtunNode } from './vxtun-node.js';

/** GET /status from a daemon's admin unix socket. */
export function socketStatus(socketPath: string, timeoutMs = 5_000): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/status', agent: false, headers: { host: 'localhost' } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(parts).toString('utf8')) as Status);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`GET /status on ${socketPath}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
  });
}

/** The first pod CIDR of every peer in /status (the peer's subnet in etcd mode), sorted. */
export function peerSubnets(s: Status): string[] {
  return s.peers.map((p) => p.podCIDRs[0] ?? '').sort();
}

export interface StatusWait {
  /** Per node, ms from the call until its /status first met the condition (NaN: never, within the timeout). */
  ms: number[];
  /** Per node, the last /status read. */
  statuses: Status[];
  /** Every node met it. */
  ok: boolean;
}

/**
 * Polls every node's /status (every `intervalMs`, default 20) until `cond` holds on each, or `timeoutMs` passes;
 * never rejects for a condition not met (the caller asserts, with the figures).
 */
export async function waitForStatus(
  nodes: readonly Pick<VxtunNode, 'socket'>[],
  cond: (s: Status) => boolean,
  timeoutMs: number,
  intervalMs = 20,
): Promise<StatusWait> {
  const t0 = performance.now();
  const ms = nodes.map(() => Number.NaN);
  const statuses: Status[] = [];
  await Promise.all(
    nodes.map(async (n, k) => {
      for (;;) {
        const s = await socketStatus(n.socket).catch(() => undefined);
        if (s) statuses[k] = s;
        if (s && cond(s)) {
          ms[k] = performance.now() - t0;
          return;
        }
        if (performance.now() - t0 > timeoutMs) return;
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    }),
  );
  return { ms, statuses, ok: ms.every((x) => !Number.isNaN(x)) };
}
