// Pure snapshot → events diff (flannel's LeaseWatcher idea): what changed between two peer lists.
import type { Peer } from './peer-source.js';

export interface PeerDiff {
  added: Peer[];
  removed: Peer[];
  updated: Peer[];
}

/**
 * What a peer amounts to for the table: both endpoints (a change of either is a peer change), the pod CIDRs and
 * whether it accepts remote checksum offload.
 */
export function peerKey(p: Peer): string {
  const v6 = p.publicIPv6 ? `|${p.publicIPv6.text}|${p.vtepMACv6 ?? ''}` : '';
  const rco = p.remoteChecksum === true ? '|rco' : '';
  return `${p.publicIP.text}|${p.vtepMAC}${v6}|${p.podCIDRs.map((c) => c.toString()).join(',')}${rco}`;
}

export function diffPeers(prev: readonly Peer[], next: readonly Peer[]): PeerDiff {
  const before = new Map(prev.map((p) => [p.name, p]));
  const after = new Map(next.map((p) => [p.name, p]));
  const out: PeerDiff = { added: [], removed: [], updated: [] };
  for (const [name, p] of after) {
    const old = before.get(name);
    if (!old) out.added.push(p);
    else if (old !== p && peerKey(old) !== peerKey(p)) out.updated.push(p); // same object: unchanged, no key needed
  }
  for (const [name, p] of before) if (!after.has(name)) out.removed.push(p);
  return out;
}

export function isEmptyDiff(d: PeerDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.updated.length === 0;
}
