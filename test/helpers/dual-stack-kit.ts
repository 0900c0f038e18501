// What the dual-stack tests share: pings between pods in both inner families with the VXLAN datagrams captured on
// the underlay (src/lab/vxlan-capture.ts), the check that each direction rode the expected underlay family between
// the expected node addresses, and sha256-checked transfers.
import type { Test } from 'tap';
import { ping, startVxlanCapture, tallyVxlan, tcpTransfer, type Family, type Lab } from '../../src/lab/index.js';

export const MB = 1024 * 1024;
export const FAMILIES: readonly Family[] = [4, 6];

/** Every ordered pair of the given nodes. */
export const pairsOf = (nodes: readonly number[]): [number, number][] =>
  nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b): [number, number] => [a, b]));

/**
 * Pings pod b from pod a for every pair and inner family (all at once), with the underlay captured; asserts every ping
 * answered and that the echo requests a → b of inner family F went as `outer(a, b, F)` says: one outer family, from
 * a's address of that family to b's, nothing over the other family.
 */
export async function pingAndCheckUnderlay(
  t: Test,
  lab: Lab,
  pairs: readonly (readonly [number, number])[],
  outer: (a: number, b: number, inner: Family) => Family,
): Promise<void> {
  const cap = await startVxlanCapture(lab);
  let records;
  try {
    const pings = await Promise.all(
      FAMILIES.flatMap((f) =>
        pairs.map(async ([a, b]) => ({
          a,
          b,
          f,
          r: await ping(lab, lab.podNs(a), lab.podIP(b, f), { count: 3, intervalS: 0.2, waitS: 5 }),
        })),
      ),
    );
    for (const { a, b, f, r } of pings) t.equal(r.received, r.sent, `ping IPv${f} pod-${a} → pod-${b}`);
    // The last replies are in; give tcpdump a moment to print them.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    records = await cap.stop();
  }
  for (const f of FAMILIES) {
    for (const [a, b] of pairs) {
      const o = outer(a, b, f);
      const want = `IPv${o} ${lab.underlayIP(a, o)} > ${lab.underlayIP(b, o)}`;
      const got = tallyVxlan(records, f, lab.podIP(a, f), lab.podIP(b, f));
      const what = `inner IPv${f} pod-${a} → pod-${b}`;
      t.same([...got.keys()], [want], `${what} rode ${want} only (saw ${JSON.stringify(Object.fromEntries(got))})`);
      t.ok((got.get(want) ?? 0) >= 3, `${what}: every echo request was seen on the underlay`);
    }
  }
}

/** A sha256-checked transfer of `bytes` for every pair, the pairs of one family at once, family by family. */
export async function transferAll(
  t: Test,
  lab: Lab,
  pairs: readonly (readonly [number, number])[],
  bytes: number,
  between?: (f: Family, phase: 'before' | 'after') => Promise<void>,
): Promise<void> {
  for (const f of FAMILIES) {
    await between?.(f, 'before');
    const results = await Promise.all(
      pairs.map(([a, b], k) =>
        tcpTransfer(lab.podNs(b), lab.podIP(b, f), lab.podNs(a), { bytes, port: 7000 + 100 * f + k }),
      ),
    );
    for (const [k, r] of results.entries()) {
      const [a, b] = pairs[k]!;
      t.equal(r.bytes, bytes, `IPv${f} pod-${a} → pod-${b}: all bytes`);
      t.equal(r.sha256Received, r.sha256Sent, `IPv${f} pod-${a} → pod-${b}: sha256 matches`);
    }
    await between?.(f, 'after');
  }
}
