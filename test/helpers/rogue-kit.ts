// What the rogue-host tests over either underlay share (test/integration/rogue.test.ts over IPv4,
// rogue-ipv6.test.ts over IPv6): a crafted datagram case, the reference codec's view of node-1, and an injection
// that counts node-1's receive drops per reason while the pods keep pinging.
import { DROP_REASONS, type Table } from '../../src/dataplane/codec.js';
import type { Lab, PingResult, VxtunNode } from '../../src/lab/index.js';
import type { Status } from '../../src/admin/status.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';

/** Every receive-side drop reason (all but the transmit side's no-route). */
export const RX_REASONS: readonly string[] = DROP_REASONS.filter((r) => r !== 'no-route');

export interface Case {
  name: string;
  /** The outer source: the rogue's own address, or node-2's (spoofed). */
  from: 'rogue' | 'spoofed';
  datagram: Uint8Array;
  /** The verdict under the default (strict) switches. */
  strict: string;
}

export type Drops = Record<string, number>;

export const noDrops = (): Drops => Object.fromEntries(RX_REASONS.map((r) => [r, 0]));
export const rxDrops = (n: VxtunNode): Promise<Drops> =>
  n.status().then((s) => Object.fromEntries(RX_REASONS.map((r) => [r, s.counters.drops[r] ?? 0])));
export const dropDelta = (a: Drops, b: Drops): Drops =>
  Object.fromEntries(RX_REASONS.map((r) => [r, (b[r] ?? 0) - (a[r] ?? 0)]));
export const sumDrops = (o: Drops): number => Object.values(o).reduce((x, y) => x + y, 0);

/** The reference codec's table of node-1 in a two-node lab, from node-1's status (node-2 its only peer). */
export function node1Table(lab: Lab, s1: Status): Table {
  return {
    local: { podCIDRs: [Cidr.parse(lab.podCIDR(1, 4)), Cidr.parse(lab.podCIDR(1, 6))] },
    peers: [
      {
        name: 'node-2',
        publicIP: parseIP(lab.underlayIP(2))!,
        vtepMAC: s1.peers[0]!.vtepMAC,
        podCIDRs: [Cidr.parse(lab.podCIDR(2, 4)), Cidr.parse(lab.podCIDR(2, 6))],
      },
    ],
  };
}

/**
 * Runs `send` while `pinging` runs, then waits (up to 5 s) until node's receive drops have grown by expectDrops, and
 * 300 ms more so that nothing else arrives; returns the drops per reason the injection caused and the ping.
 */
export async function countInjection(
  node: VxtunNode,
  pinging: () => Promise<PingResult>,
  send: () => Promise<unknown>,
  expectDrops: number,
): Promise<{ delta: Drops; pong: PingResult }> {
  const before = await rxDrops(node);
  const pong = pinging();
  await send();
  const p = await pong;
  let delta = dropDelta(before, await rxDrops(node));
  for (let i = 0; i < 50 && sumDrops(delta) < expectDrops; i++) {
    await new Promise((r) => setTimeout(r, 100));
    delta = dropDelta(before, await rxDrops(node));
  }
  await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
  return { delta: dropDelta(before, await rxDrops(node)), pong: p };
}
