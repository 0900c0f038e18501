// Peers that must not go into the forwarding table, and which one of two contenders does.
//
// Left out, each with a reason (a Conflict):
//   - a peer whose public IP cannot be a remote VTEP: unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), link-local
//     (169.254/16 — the cloud metadata address among them —, fe80::/10), multicast (224/4, ff00::/8), broadcast;
//   - a peer whose VTEP MAC is ours (frames to it would be ours);
//   - a peer whose pod CIDR OVERLAPS one of ours or another peer's — equal or nested, either family. Nested counts:
//     with 10.244.2.0/24 programmed, a peer claiming 10.244.2.0/25 would win longest-prefix match for half of the
//     owner's pods, and its packets sourced from them would pass the spoofed-source check;
//   - a peer whose public IP another peer holds (the addon refuses such a table as a whole). Every endpoint address
//     counts, a dual-stack peer's publicIPv6 as much as any publicIP; so do the unusable addresses and our MAC.
//
// The winner of a contest is decided in this order, and never depends on the order of the input: (1) the local
// node; (2) peers that were programmed before (a newcomer never evicts a working peer); (3) the older node, by
// creation time (unknown: newest); (4) the smaller name. Winners are taken greedily in that order: a contender is
// programmed only if none of its pod CIDRs overlaps a CIDR already taken and its public IP is not taken.
//
// This runs on every change in a 5,000-node cluster: finding the contenders is a sort of all pod CIDRs and one sweep
// (CIDRs are either disjoint or nested, so a stack of enclosing prefixes finds every overlap), O(n log n); only the
// contenders (normally none) go through the ordered pass, which checks overlaps in a binary trie (O(bits) each).
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';
import type { Peer } from './peer-source.js';

export interface Conflict {
  /** The node left out. */
  peer: string;
  /** The node that keeps the contested value (or the peer itself when the value is unusable on its own). */
  holder: string;
  what: string;
}

/** A conflict as one sentence, for logs and /status: "pod CIDR … is also claimed by node-b", "public IP … is loopback". */
export function describeConflict(c: Conflict): string {
  return c.holder === c.peer || / is (ours|unspecified|loopback|link-local|multicast|broadcast)$/.test(c.what)
    ? c.what
    : `${c.what} is also claimed by ${c.holder}`;
}

export interface ResolvedPeers {
  /** The peers that go into the table, in candidate order (contested winners last). */
  peers: Peer[];
  /** Sorted by peer name. */
  conflicts: Conflict[];
}

export interface ConflictOptions {
  self: string;
  /** Our own pod CIDRs (known before our own node is a peer). */
  selfCIDRs?: readonly Cidr[];
  /** Our VTEP MAC: a peer with the same one is left out. */
  selfMAC?: string;
  /** Whether a peer was in the previous table (asked only when there is a contest). */
  programmed?: (name: string) => boolean;
  /** Creation time of each node, ms since the epoch (missing: newest). */
  created?: ReadonlyMap<string, number>;
}

/** A peer's endpoint addresses: publicIP, and a dual-stack peer's publicIPv6. */
const endpointIPs = (p: Peer): IP[] => (p.publicIPv6 ? [p.publicIP, p.publicIPv6] : [p.publicIP]);

/** Why `ip` cannot be a remote VTEP's address, or undefined when it can. IPv4 and IPv6 (also IPv4-mapped). */
export function unusablePublicIP(ip: IP): string | undefined {
  let b = ip.bytes;
  if (b.length === 16) {
    const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    if (!mapped) {
      if (b.every((x) => x === 0)) return 'unspecified';
      if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 'loopback';
      if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'link-local';
      if (b[0] === 0xff) return 'multicast';
      return undefined;
    }
    b = b.subarray(12);
  }
  const [a = 0, c = 0] = b;
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 169 && c === 254) return 'link-local';
  if ((a & 0xf0) === 0xe0) return 'multicast';
  if (b.every((x) => x === 0xff)) return 'broadcast';
  return undefined;
}

// ---- sort keys: IPv4 as a number (address · 64 + length), IPv6 as a fixed-width string; cached per Cidr ----

const keyCache = new WeakMap<Cidr, number | string>();

function sortKey(c: Cidr): number | string {
  let k = keyCache.get(c);
  if (k === undefined) {
    const b = c.bytes;
    if (c.family === 4)
      k = (((b[0] ?? 0) * 256 + (b[1] ?? 0)) * 256 + (b[2] ?? 0)) * 256 * 256 * 64 + (b[3] ?? 0) * 64 + c.prefixLen;
    else k = Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') + String(c.prefixLen).padStart(3, '0');
    keyCache.set(c, k);
  }
  return k;
}

function bit(c: Cidr, i: number): number {
  return ((c.bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
}

/** Whether `outer` contains `inner` (same family, outer no longer, same leading bits). */
function containsCidr(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefixLen > inner.prefixLen) return false;
  const bits = outer.prefixLen;
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (outer.bytes[i] !== inner.bytes[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((outer.bytes[full] ?? 0) & mask) === ((inner.bytes[full] ?? 0) & mask);
}

interface Entry {
  cidr: Cidr;
  /** Index of the candidate; our own CIDRs given as selfCIDRs count as ours (-1 when we are no candidate). */
  owner: number;
}

/** Marks every candidate with a pod CIDR that overlaps a CIDR of another candidate or of ours. */
function overlapping(entries: Entry[], mark: (owner: number) => void): void {
  for (const family of [4, 6] as const) {
    const list: { e: Entry; k: number | string }[] = [];
    for (const e of entries) if (e.cidr.family === family) list.push({ e, k: sortKey(e.cidr) });
    if (list.length < 2) continue;
    list.sort((x, y) => (x.k < y.k ? -1 : x.k > y.k ? 1 : x.e.owner - y.e.owner));
    // Sorted by network address, then by length: each prefix's enclosing prefixes are on the stack when it comes.
    const stack: Entry[] = [];
    for (const { e } of list) {
      while (stack.length > 0 && !containsCidr(stack[stack.length - 1]!.cidr, e.cidr)) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && top.owner !== e.owner) {
        mark(top.owner);
        mark(e.owner);
      }
      stack.push(e);
    }
  }
}

interface TrieNode {
  /** The node whose prefix ends here. */
  holder?: string;
  zero?: TrieNode;
  one?: TrieNode;
}

/** The prefixes taken so far (one trie per family). */
class Taken {
  readonly #roots: Record<4 | 6, TrieNode> = { 4: {}, 6: {} };

  /** The taken prefix that overlaps `c` (one containing it, or one inside it), with its holder. */
  find(c: Cidr): { holder: string; cidr: string; len: number } | undefined {
    let n: TrieNode | undefined = this.#roots[c.family];
    let i = 0;
    for (; n !== undefined; i++) {
      if (n.holder !== undefined) return { holder: n.holder, cidr: prefixText(c, i), len: i };
      if (i === c.prefixLen) break;
      n = bit(c, i) ? n.one : n.zero;
    }
    if (n === undefined) return undefined;
    // Something taken lies inside c: walk down to it.
    const path: number[] = [];
    let m: TrieNode = n;
    while (m.holder === undefined) {
      const next: TrieNode | undefined = m.zero ?? m.one;
      if (next === undefined) return undefined; // not reached: every leaf holds a prefix
      path.push(next === m.zero ? 0 : 1);
      m = next;
    }
    return { holder: m.holder, cidr: prefixText(c, i, path), len: i + path.length };
  }

  add(c: Cidr, holder: string): void {
    let n = this.#roots[c.family];
    for (let i = 0; i < c.prefixLen; i++) n = bit(c, i) ? (n.one ??= {}) : (n.zero ??= {});
    n.holder ??= holder;
  }
}

/** The text of the first `len` bits of `c`, followed by `tail` bits. */
function prefixText(c: Cidr, len: number, tail: readonly number[] = []): string {
  const bytes = new Uint8Array(c.bytes.length);
  for (let i = 0; i < len; i++) if (bit(c, i)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  tail.forEach((b, k) => {
    const i = len + k;
    if (b) bytes[i >> 3]! |= 0x80 >> (i & 7);
  });
  const total = len + tail.length;
  if (c.family === 4) return `${bytes.join('.')}/${total}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // Compressed like RFC 5952 (longest run of zero groups).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text =
    best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  return `${text}/${total}`;
}

const normMac = (m: string): string => m.toLowerCase().replace(/-/g, ':');

export function resolveConflicts(candidates: readonly Peer[], o: ConflictOptions): ResolvedPeers {
  const out: ResolvedPeers = { peers: [], conflicts: [] };
  const selfMAC = o.selfMAC !== undefined ? normMac(o.selfMAC) : undefined;
  // 1. Unusable on their own: public IP, our VTEP MAC.
  const usable: Peer[] = [];
  for (const p of candidates) {
    if (p.name !== o.self) {
      const unusable = endpointIPs(p)
        .map((ip) => ({ ip, bad: unusablePublicIP(ip) }))
        .find((x) => x.bad !== undefined);
      if (unusable !== undefined) {
        out.conflicts.push({ peer: p.name, holder: p.name, what: `public IP ${unusable.ip.text} is ${unusable.bad}` });
        continue;
      }
      const ours = [p.vtepMAC, p.vtepMACv6].find(
        (m) => m !== undefined && selfMAC !== undefined && normMac(m) === selfMAC,
      );
      if (ours !== undefined) {
        out.conflicts.push({ peer: p.name, holder: o.self, what: `VTEP MAC ${ours} is ours` });
        continue;
      }
    }
    usable.push(p);
  }
  // 2. Who contends with whom: overlapping pod CIDRs (ours included), shared public IPs.
  const contested = new Uint8Array(usable.length);
  const entries: Entry[] = [];
  const selfIndex = usable.findIndex((p) => p.name === o.self);
  for (const c of o.selfCIDRs ?? []) entries.push({ cidr: c, owner: selfIndex });
  const ips = new Map<string, number>();
  usable.forEach((p, i) => {
    for (const c of p.podCIDRs) entries.push({ cidr: c, owner: i });
    for (const ip of endpointIPs(p)) {
      const other = ips.get(ip.text);
      if (other !== undefined && other !== i) contested[other] = contested[i] = 1;
      else ips.set(ip.text, i);
    }
  });
  overlapping(entries, (i) => {
    if (i >= 0) contested[i] = 1;
  });
  const rivals: Peer[] = [];
  usable.forEach((p, i) => (contested[i] ? rivals.push(p) : out.peers.push(p)));
  // 3. The contenders, in the order of the rule, each taken if nothing it claims is taken.
  if (rivals.length > 0) {
    const rank = (p: Peer): number => (p.name === o.self ? 0 : o.programmed?.(p.name) ? 1 : 2);
    const born = (p: Peer): number => o.created?.get(p.name) ?? Number.MAX_SAFE_INTEGER;
    const ranked = rivals.map((p) => ({ p, r: rank(p), b: born(p) }));
    ranked.sort((x, y) => x.r - y.r || x.b - y.b || (x.p.name < y.p.name ? -1 : x.p.name > y.p.name ? 1 : 0));
    const taken = new Taken();
    const selfPeer = usable.find((p) => p.name === o.self);
    for (const c of [...(o.selfCIDRs ?? []), ...(selfPeer?.podCIDRs ?? [])]) taken.add(c, o.self);
    const ipOwner = new Map<string, string>();
    for (const { p } of ranked) {
      let clash: Conflict | undefined;
      if (p.name !== o.self) {
        for (const ip of endpointIPs(p)) {
          const ipHolder = ipOwner.get(ip.text);
          if (ipHolder !== undefined && !clash)
            clash = { peer: p.name, holder: ipHolder, what: `public IP ${ip.text}` };
        }
        for (const c of p.podCIDRs) {
          if (clash) break;
          const hit = taken.find(c);
          if (hit === undefined) continue;
          const same = hit.len === c.prefixLen;
          const what =
            hit.holder === o.self
              ? `pod CIDR ${c.toString()} (overlaps ours)`
              : same
                ? `pod CIDR ${c.toString()}`
                : `pod CIDR ${c.toString()} (overlaps ${hit.cidr})`;
          clash = { peer: p.name, holder: hit.holder, what };
        }
      }
      if (clash) {
        out.conflicts.push(clash);
        continue;
      }
      for (const c of p.podCIDRs) taken.add(c, p.name);
      for (const ip of endpointIPs(p)) ipOwner.set(ip.text, p.name);
      out.peers.push(p);
    }
  }
  out.conflicts.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
  return out;
}
