// Which subnet lease this node takes (README "etcd mode"), in flannel's order. Pure; src/peers/etcd.ts does the I/O.
//
//   1. A lease whose PublicIP is ours: reused when it fits the config (its subnet inside Network and SubnetLen long,
//      dual-stack exactly when the config is); one that does not fit is to be deleted (`stale`).
//   2. Our previous subnet (subnet.env), when it lies in SubnetMin..SubnetMax and no lease holds or overlaps it.
//   3. A random one among the first 100 free subnets from SubnetMin to SubnetMax.
// Dual-stack: the IPv6 subnet is the one at the same position in IPv6SubnetMin..Max as the IPv4 one in its range, when
// free (so racing nodes contend for the same key, and create-if-absent settles it); otherwise a random free one, as
// flannel picks. Names that lost a race (`exclude`) are not chosen again.
import type { Cidr } from '../net/cidr.js';
import { ipEquals, type IP } from '../net/ip.js';
import { addrBig, blockSize, cidrAt, subnetFits, subnetInRange, type SubnetRange } from './etcd-network.js';
import {
  parseLeaseAttrs,
  parseSubnetKeyName,
  subnetKeyName,
  type LeaseAttrs,
  type LeaseSubnets,
} from './etcd-lease.js';

/** How many free subnets the random choice picks from (flannel's). */
export const FREE_CANDIDATES = 100;

export interface AcquireInput {
  /** The leases listed, by name (the key below `<prefix>/subnets/`). */
  leases: readonly { name: string; value: string }[];
  ranges: { v4: SubnetRange; v6?: SubnetRange };
  publicIP: IP;
  previous?: { v4?: Cidr; v6?: Cidr };
  /** Names not to choose again (lost races). */
  exclude?: ReadonlySet<string>;
  random: () => number;
}

export type AcquireChoice = (
  | { kind: 'reuse'; name: string; subnets: LeaseSubnets; attrs: LeaseAttrs }
  | { kind: 'create'; name: string; subnets: LeaseSubnets; how: 'previous' | 'random' }
  | { kind: 'full' }
) & {
  /** Our leases that do not fit the config: to be deleted. */
  stale: string[];
  /** The VTEP MAC of a lease of ours (reused or stale), to keep our MAC across restarts. */
  ownMAC?: string;
};

/** The prefixes the listed leases hold, one family. */
class Holdings {
  readonly #exact = new Set<string>();
  readonly #others: Cidr[] = [];
  constructor(readonly len: number) {}
  add(c: Cidr): void {
    if (c.prefixLen === this.len) this.#exact.add(c.toString());
    else this.#others.push(c);
  }
  free(c: Cidr): boolean {
    return !this.#exact.has(c.toString()) && !this.#others.some((o) => o.overlaps(c));
  }
}

function fitsConfig(s: LeaseSubnets, r: AcquireInput['ranges']): boolean {
  if (!subnetFits(s.v4, r.v4)) return false;
  if (r.v6 === undefined) return s.v6 === undefined;
  return s.v6 !== undefined && subnetFits(s.v6, r.v6);
}

/** Up to FREE_CANDIDATES free subnets of `r` from min to max, each accepted by `ok`. */
function freeSubnets(r: SubnetRange, held: Holdings, ok: (c: Cidr) => boolean = () => true): Cidr[] {
  const out: Cidr[] = [];
  const fam = r.network.family;
  const size = blockSize(r.len, fam);
  const end = addrBig(r.max.bytes);
  for (let a = addrBig(r.min.bytes); a <= end && out.length < FREE_CANDIDATES; a += size) {
    const c = cidrAt(a, r.len, fam);
    if (held.free(c) && ok(c)) out.push(c);
  }
  return out;
}

const pick = <T>(list: readonly T[], random: () => number): T | undefined =>
  list[Math.min(list.length - 1, Math.floor(random() * list.length))];

/** The IPv6 subnet to pair with `v4`: the same position in the IPv6 range when free, else a random free one. */
function pairedV6(v4: Cidr, input: AcquireInput, held6: Holdings): Cidr | undefined {
  const r4 = input.ranges.v4;
  const r6 = input.ranges.v6!;
  const index = (addrBig(v4.bytes) - addrBig(r4.min.bytes)) / blockSize(r4.len, 4);
  const at = addrBig(r6.min.bytes) + index * blockSize(r6.len, 6);
  if (at <= addrBig(r6.max.bytes)) {
    const c = cidrAt(at, r6.len, 6);
    if (held6.free(c)) return c;
  }
  return pick(freeSubnets(r6, held6), input.random);
}

export function chooseLease(input: AcquireInput): AcquireChoice {
  const { ranges, exclude } = input;
  const stale: string[] = [];
  let ownMAC: string | undefined;
  let reuse: { name: string; subnets: LeaseSubnets; attrs: LeaseAttrs } | undefined;
  const held4 = new Holdings(ranges.v4.len);
  const held6 = new Holdings(ranges.v6?.len ?? 64);
  const sorted = [...input.leases].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const l of sorted) {
    const subnets = parseSubnetKeyName(l.name);
    if (!subnets) continue;
    held4.add(subnets.v4);
    if (subnets.v6) held6.add(subnets.v6);
    const v = parseLeaseAttrs(l.value);
    if (!v.ok || !ipEquals(v.attrs.publicIP, input.publicIP)) continue;
    ownMAC ??= v.attrs.vtepMAC;
    if (reuse === undefined && fitsConfig(subnets, ranges)) reuse = { name: l.name, subnets, attrs: v.attrs };
    else if (!fitsConfig(subnets, ranges)) stale.push(l.name);
  }
  if (reuse) {
    return { kind: 'reuse', ...reuse, stale, ...(reuse.attrs.vtepMAC ? { ownMAC: reuse.attrs.vtepMAC } : {}) };
  }
  const extra = { stale, ...(ownMAC ? { ownMAC } : {}) };
  const usable = (s: LeaseSubnets): boolean => !exclude?.has(subnetKeyName(s));

  const prev = input.previous;
  if (prev?.v4 && subnetInRange(prev.v4, ranges.v4) && held4.free(prev.v4)) {
    let v6: Cidr | undefined;
    if (ranges.v6) {
      v6 =
        prev.v6 && subnetInRange(prev.v6, ranges.v6) && held6.free(prev.v6) ? prev.v6 : pairedV6(prev.v4, input, held6);
    }
    const subnets: LeaseSubnets = v6 ? { v4: prev.v4, v6 } : { v4: prev.v4 };
    if ((!ranges.v6 || v6) && usable(subnets)) {
      return { kind: 'create', name: subnetKeyName(subnets), subnets, how: 'previous', ...extra };
    }
  }

  // The subnets that lost a race are held by now (the winner's lease); `exclude` guards against a stale list.
  const lost = new Set([...(exclude ?? [])].map((n) => parseSubnetKeyName(n)?.v4.toString()));
  const v4 = pick(
    freeSubnets(ranges.v4, held4, (c) => !lost.has(c.toString())),
    input.random,
  );
  const v6 = v4 && ranges.v6 ? pairedV6(v4, input, held6) : undefined;
  if (v4 && (!ranges.v6 || v6)) {
    const subnets: LeaseSubnets = v6 ? { v4, v6 } : { v4 };
    return { kind: 'create', name: subnetKeyName(subnets), subnets, how: 'random', ...extra };
  }
  return { kind: 'full', ...extra };
}
