// DirectRouting's pure part (README "DirectRouting"): which peers' pod CIDRs get a plain kernel route through the
// underlay instead of VXLAN, the `ip` arguments of those routes, and the kernel's listing of them read back.
// direct-routes.ts applies the plan through an IpRunner.
import { Cidr } from '../net/cidr.js';
import { ipEquals, parseIP, type IP } from '../net/ip.js';
import type { Peer } from '../peers/peer-source.js';
import type { Underlay } from './underlay.js';

/**
 * The routing protocol number of direct routes (`proto 119` in `ip route`): not one /etc/iproute2/rt_protos names,
 * not the crash guard's (GUARD_ROUTE_PROTO, 118, src/device/device.ts), and no routing daemon's (bird 12, babel 42,
 * bgp 186… are below or above). Every route of this proto in the main table is vxtun's: a start reconciles them.
 */
export const DIRECT_ROUTE_PROTO = 119;

/** One side of our underlay: the address we bind, its prefix length and interface (the directly connected subnet). */
export interface DirectSide {
  interface: string;
  address: string;
  prefixLen: number;
}

/** Our underlay per family: the IPv4 (or single-family IPv6) bind address and a dual-stack node's IPv6 one. */
export type DirectSides = Partial<Record<4 | 6, DirectSide>>;

/** The sides of a resolved underlay (src/daemon/underlay.ts). */
export function directSides(u: Underlay): DirectSides {
  const out: DirectSides = { [u.family]: u.bind };
  if (u.v6) out[6] = u.v6.bind;
  return out;
}

/** A kernel route `dst via via dev dev proto DIRECT_ROUTE_PROTO`; `peer` is the node it leads to (absent if read back). */
export interface DirectRoute {
  family: 4 | 6;
  /** The peer's pod CIDR, canonical text. */
  dst: string;
  /** The peer's underlay address, canonical text. */
  via: string;
  dev: string;
  peer?: string;
}

/** The peer's endpoint that carries inner packets of `family` (as the dataplane picks it; src/peers/peer.ts). */
function endpointFor(p: Peer, family: 4 | 6): IP | undefined {
  if (family === 4) return p.publicIP.family === 4 ? p.publicIP : undefined;
  return p.publicIPv6 ?? (p.publicIP.family === 6 ? p.publicIP : undefined);
}

/**
 * The direct routes for a snapshot: a peer's pod CIDR of family F gets one when the peer's endpoint of family F lies
 * in our underlay subnet of family F (our bind address/prefixLen) and is not our own address. Never for ourselves
 * (`self`) nor for a CIDR overlapping ours (`localCIDRs`). Sorted by dst; one route per dst (the first peer's, in
 * snapshot order, if two claim the same CIDR).
 */
export function planDirectRoutes(
  peers: readonly Peer[],
  self: string,
  sides: DirectSides,
  localCIDRs: readonly Cidr[],
): DirectRoute[] {
  const subnets: Partial<Record<4 | 6, { side: DirectSide; net: Cidr; own: IP }>> = {};
  for (const f of [4, 6] as const) {
    const side = sides[f];
    const own = side && parseIP(side.address);
    if (side && own && own.family === f) subnets[f] = { side, net: new Cidr(own.bytes, side.prefixLen), own };
  }
  const out = new Map<string, DirectRoute>();
  for (const p of peers) {
    if (p.name === self) continue;
    for (const cidr of p.podCIDRs) {
      const s = subnets[cidr.family];
      const via = endpointFor(p, cidr.family);
      if (!s || !via || !s.net.contains(via) || ipEquals(via, s.own)) continue;
      if (localCIDRs.some((l) => l.overlaps(cidr))) continue;
      const dst = cidr.toString();
      if (!out.has(dst)) out.set(dst, { family: cidr.family, dst, via: via.text, dev: s.side.interface, peer: p.name });
    }
  }
  return [...out.values()].sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

/** `ip` arguments that install (`replace`) or remove (`del`) one direct route; `del` matches our proto only. */
export function directRouteArgs(verb: 'replace' | 'del', r: DirectRoute): string[] {
  const fam = r.family === 6 ? ['-6'] : [];
  if (verb === 'del') return [...fam, 'route', 'del', r.dst, 'proto', String(DIRECT_ROUTE_PROTO)];
  return [...fam, 'route', 'replace', r.dst, 'via', r.via, 'dev', r.dev, 'proto', String(DIRECT_ROUTE_PROTO)];
}

/** `ip` arguments listing the main table's routes of our proto, as JSON. */
export function listDirectArgs(family: 4 | 6): string[] {
  return ['-j', `-${family}`, 'route', 'show', 'proto', String(DIRECT_ROUTE_PROTO)];
}

/**
 * The routes of `ip -j -<family> route show proto DIRECT_ROUTE_PROTO` output. A host route is listed without its
 * length ("10.244.3.5"): it gets /32 or /128. Entries that are not `dst via gateway dev` (another route type someone
 * gave our proto) come back with an empty via, so the caller replaces or removes them.
 */
export function parseDirectRoutes(json: string, family: 4 | 6): DirectRoute[] {
  const list = JSON.parse(json || '[]') as { dst?: string; gateway?: string; dev?: string }[];
  const out: DirectRoute[] = [];
  for (const e of list) {
    if (!e.dst || e.dst === 'default') continue;
    let dst: string;
    try {
      dst = Cidr.parse(e.dst.includes('/') ? e.dst : `${e.dst}/${family === 4 ? 32 : 128}`, {
        strict: false,
      }).toString();
    } catch {
      continue;
    }
    out.push({ family, dst, via: e.gateway ?? '', dev: e.dev ?? '' });
  }
  return out;
}

/** The same route as the kernel sees it (the peer it leads to does not matter). */
export function sameRoute(a: DirectRoute, b: DirectRoute): boolean {
  return a.family === b.family && a.dst === b.dst && a.via === b.via && a.dev === b.dev;
}
