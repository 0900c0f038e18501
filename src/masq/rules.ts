// The ipMasq rule set, the semantics of flanneld's --ip-masq, and its text for each backend. Pure: no I/O here;
// src/masq/nft.ts and src/masq/iptables.ts hand the text to the tools.
//
// In the nat table's POSTROUTING, for each family whose cluster network is configured (N = network or ipv6Network,
// S = this node's own pod subnets of that family), first match wins:
//
//   1. marked by kube-proxy for masquerade (mark 0x4000/0x4000)  → leave alone (kube-proxy NATs it; no double NAT)
//   2. src in N, dst in N                                          → no NAT: pod ↔ pod, on any node
//   3. src not in N, dst in S                                      → no NAT: to our own pods from outside
//   4. src in N, dst not multicast (224.0.0.0/4, ff00::/8)        → masquerade: a pod reaching outside the cluster
//   5. src not in N, dst in N                                      → masquerade: this host (or a host it routes for)
//                                                                    reaching remote pods, which route replies back
//                                                                    to the node's address
// Masquerade uses fully random source ports (as flanneld's --random-fully), so two pods' flows to the same
// destination never race for one port.
import type { Cidr } from '../net/cidr.js';

export type MasqFamily = 4 | 6;

export interface MasqInput {
  /** The cluster pod network (config `network`). */
  network: Cidr;
  /** The IPv6 cluster pod network (config `ipv6Network`), when set. */
  ipv6Network?: Cidr;
  /** This node's own pod subnets (either family; those of a family without a network are ignored). */
  podCIDRs: readonly Cidr[];
}

/** A prefix match on one address: `in` the prefix, or (negate) outside it. */
export interface AddrMatch {
  cidr: string;
  negate: boolean;
}

export interface MasqRule {
  family: MasqFamily;
  /** Matches packets carrying kube-proxy's masquerade mark. */
  kubeProxyMark?: true;
  src?: AddrMatch;
  dst?: AddrMatch;
  verdict: 'return' | 'masquerade';
}

/** kube-proxy marks packets it wants masqueraded with this bit (KUBE-MARK-MASQ). */
export const KUBE_PROXY_MASQ_MARK = 0x4000;

/** vxtun's nftables table and chain, and its iptables chain in the nat table. */
export const NFT_TABLE = 'vxtun';
export const NFT_CHAIN = 'postrouting';
export const IPT_CHAIN = 'VXTUN-POSTRTG';
/** The comment on the POSTROUTING jump and on every rule of the iptables chain: marks them as vxtun's. */
export const IPT_COMMENT = 'vxtun masq';

const MULTICAST: Record<MasqFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

const inside = (c: Cidr | string): AddrMatch => ({ cidr: c.toString(), negate: false });
const outside = (c: Cidr | string): AddrMatch => ({ cidr: c.toString(), negate: true });

/** The rules for one family's cluster network, in order (see the table above). */
function familyRules(family: MasqFamily, net: Cidr, own: readonly Cidr[]): MasqRule[] {
  return [
    { family, kubeProxyMark: true, verdict: 'return' },
    { family, src: inside(net), dst: inside(net), verdict: 'return' },
    ...own.map((s): MasqRule => ({ family, src: outside(net), dst: inside(s), verdict: 'return' })),
    { family, src: inside(net), dst: outside(MULTICAST[family]), verdict: 'masquerade' },
    { family, src: outside(net), dst: inside(net), verdict: 'masquerade' },
  ];
}

/** The whole rule set: IPv4 rules for `network`, then IPv6 rules for `ipv6Network` when it is set. */
export function masqRules(input: MasqInput): MasqRule[] {
  const own = (f: MasqFamily) => input.podCIDRs.filter((c) => c.family === f);
  return [
    ...familyRules(4, input.network, own(4)),
    ...(input.ipv6Network ? familyRules(6, input.ipv6Network, own(6)) : []),
  ];
}

// ---- nftables ----

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** One rule as nft lists it (`nft list table inet vxtun` shows these lines, tab-indented). */
export function nftRule(r: MasqRule): string {
  const proto = r.family === 4 ? 'ip' : 'ip6';
  const parts: string[] = [];
  // In an inet table a mark match alone would apply to both families; the family qualifier keeps one rule per family.
  if (r.kubeProxyMark)
    parts.push(
      `meta nfproto ${r.family === 4 ? 'ipv4' : 'ipv6'}`,
      `meta mark & ${hex8(KUBE_PROXY_MASQ_MARK)} == ${hex8(KUBE_PROXY_MASQ_MARK)}`,
    );
  if (r.src) parts.push(`${proto} saddr ${r.src.negate ? '!= ' : ''}${r.src.cidr}`);
  if (r.dst) parts.push(`${proto} daddr ${r.dst.negate ? '!= ' : ''}${r.dst.cidr}`);
  parts.push(r.verdict === 'return' ? 'return' : 'masquerade fully-random');
  return parts.join(' ');
}

/** The nat chain's header line, as nft lists it. */
export const NFT_CHAIN_HOOK = 'type nat hook postrouting priority srcnat; policy accept;';

/** Creates the table if absent, so that the delete that follows never fails: together, "remove if present". */
const NFT_RESET = `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`;

/**
 * The `nft -f -` input that replaces vxtun's table with `rules`, in one transaction: the kernel applies all of it or
 * none. Replacing (not adding) makes it idempotent, and drops whatever a crashed earlier run left.
 */
export function nftApplyScript(rules: readonly MasqRule[]): string {
  const body = rules.map((r) => `\t\t${nftRule(r)}\n`).join('');
  return `${NFT_RESET}table inet ${NFT_TABLE} {\n\tchain ${NFT_CHAIN} {\n\t\t${NFT_CHAIN_HOOK}\n${body}\t}\n}\n`;
}

/** The `nft -f -` input that removes vxtun's table; nothing happens when there is none. */
export function nftRemoveScript(): string {
  return NFT_RESET;
}

// ---- iptables ----

/** One rule's arguments after `-A VXTUN-POSTRTG` (the family is the tool's: iptables or ip6tables). */
export function iptablesRuleArgs(r: MasqRule): string[] {
  const args: string[] = [];
  if (r.kubeProxyMark)
    args.push('-m', 'mark', '--mark', `0x${KUBE_PROXY_MASQ_MARK.toString(16)}/0x${KUBE_PROXY_MASQ_MARK.toString(16)}`);
  if (r.src) args.push(...(r.src.negate ? ['!'] : []), '-s', r.src.cidr);
  if (r.dst) args.push(...(r.dst.negate ? ['!'] : []), '-d', r.dst.cidr);
  args.push('-m', 'comment', '--comment', IPT_COMMENT);
  args.push(...(r.verdict === 'return' ? ['-j', 'RETURN'] : ['-j', 'MASQUERADE', '--random-fully']));
  return args;
}

const quote = (a: string) => (/^[\w./:!-]+$/.test(a) ? a : `"${a}"`);

/**
 * The `iptables-restore --noflush` (or ip6tables-restore) input for one family: declaring the chain creates it, or
 * empties it when it exists, and the rules fill it, in one commit. Nothing else in the nat table is touched.
 */
export function iptablesRestoreInput(rules: readonly MasqRule[], family: MasqFamily): string {
  const lines = rules
    .filter((r) => r.family === family)
    .map((r) => `-A ${IPT_CHAIN} ${iptablesRuleArgs(r).map(quote).join(' ')}`);
  return `*nat\n:${IPT_CHAIN} - [0:0]\n${lines.map((l) => `${l}\n`).join('')}COMMIT\n`;
}

/** The arguments that check (-C), append (-A) or delete (-D) the jump from POSTROUTING to vxtun's chain. */
export function iptablesJumpArgs(op: '-C' | '-A' | '-D'): string[] {
  return ['-t', 'nat', op, 'POSTROUTING', '-m', 'comment', '--comment', IPT_COMMENT, '-j', IPT_CHAIN];
}
