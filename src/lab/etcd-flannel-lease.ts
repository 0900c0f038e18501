// flannel's etcd layout as the lab's kernel node (etcd-flannel-node.ts) speaks it (README "etcd mode"), written
// independently of vxtun's own reading in src/peers/, so a test that mixes the two checks one against the other:
// pure functions, no I/O.
//
//   key    <prefix>/subnets/10.244.3.0-24
//   value  {"PublicIP":"192.168.99.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"…"}}
//          (flannel's LeaseAttrs field order; PublicIPv6 null when unset; BackendV6Data left out, as omitempty does)
import type { KernelVxlanRemote } from './kernel-vxlan-plan.js';

/** flannel's default etcd prefix (--etcd-prefix). */
export const FLANNEL_ETCD_PREFIX = '/coreos.com/network';

/** What a vxlan lease holds. */
export interface FlannelLeaseAttrs {
  publicIP: string;
  vni: number;
  vtepMAC: string;
}

const SUBNET_KEY_RE = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})$/;
const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** `<prefix>/subnets/`: where the leases live. */
export const leasesPrefix = (prefix: string): string => `${prefix}/subnets/`;

/** The lease key of an IPv4 subnet: 10.244.3.0/24 → `<prefix>/subnets/10.244.3.0-24`. */
export function flannelLeaseKey(prefix: string, subnet: string): string {
  const [ip, len] = subnet.split('/');
  if (ip === undefined || len === undefined || !SUBNET_KEY_RE.test(`${ip}-${len}`)) {
    throw new Error(`flannel lease key: not an IPv4 subnet: ${JSON.stringify(subnet)}`);
  }
  return `${leasesPrefix(prefix)}${ip}-${len}`;
}

/** The subnet a lease key names (`…/subnets/10.244.3.0-24` → 10.244.3.0/24), or undefined for any other key. */
export function subnetOfLeaseKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(leasesPrefix(prefix))) return undefined;
  const m = SUBNET_KEY_RE.exec(key.slice(leasesPrefix(prefix).length));
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** A lease value byte for byte as flanneld's vxlan backend writes it on an IPv4-only node. */
export function flannelLeaseValue(a: FlannelLeaseAttrs): string {
  return JSON.stringify({
    PublicIP: a.publicIP,
    PublicIPv6: null,
    BackendType: 'vxlan',
    BackendData: { VNI: a.vni, VtepMAC: a.vtepMAC },
  });
}

/** A lease value read back: the attributes, or why flanneld's vxlan backend would skip it. */
export function parseFlannelLease(value: string): FlannelLeaseAttrs | { skip: string } {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return { skip: 'not JSON' };
  }
  const o = v as { PublicIP?: unknown; BackendType?: unknown; BackendData?: { VNI?: unknown; VtepMAC?: unknown } };
  if (typeof o !== 'object' || o === null) return { skip: 'not an object' };
  if (o.BackendType !== 'vxlan') return { skip: `BackendType ${JSON.stringify(o.BackendType)}` };
  if (typeof o.PublicIP !== 'string' || !IPV4_RE.test(o.PublicIP)) return { skip: 'no IPv4 PublicIP' };
  const mac = o.BackendData?.VtepMAC;
  if (typeof mac !== 'string' || !MAC_RE.test(mac.toLowerCase())) return { skip: 'no VtepMAC' };
  const vni = o.BackendData?.VNI;
  return { publicIP: o.PublicIP, vni: typeof vni === 'number' ? vni : 1, vtepMAC: mac.toLowerCase() };
}

/** The remotes a kernel node programs from a listing of the prefix: every vxlan lease but `ownKey`, by key. */
export function remotesFromLeases(
  prefix: string,
  kvs: ReadonlyMap<string, string>,
  ownKey: string,
): { remotes: Map<string, KernelVxlanRemote>; skipped: { key: string; reason: string }[] } {
  const remotes = new Map<string, KernelVxlanRemote>();
  const skipped: { key: string; reason: string }[] = [];
  for (const [key, value] of [...kvs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const subnet = subnetOfLeaseKey(prefix, key);
    if (key === ownKey || subnet === undefined) continue;
    const a = parseFlannelLease(value);
    if ('skip' in a) skipped.push({ key, reason: a.skip });
    else remotes.set(key, { podCIDR: subnet, publicIP: a.publicIP, vtepMAC: a.vtepMAC });
  }
  return { remotes, skipped };
}

const sameRemote = (a: KernelVxlanRemote, b: KernelVxlanRemote): boolean =>
  a.podCIDR === b.podCIDR && a.publicIP === b.publicIP && a.vtepMAC === b.vtepMAC;

/** What to remove and add to go from `current` to `desired` (a changed lease: removed, then added again). */
export function remoteChanges(
  current: ReadonlyMap<string, KernelVxlanRemote>,
  desired: ReadonlyMap<string, KernelVxlanRemote>,
): { remove: [string, KernelVxlanRemote][]; add: [string, KernelVxlanRemote][] } {
  const remove = [...current].filter(([k, r]) => {
    const d = desired.get(k);
    return d === undefined || !sameRemote(d, r);
  });
  const add = [...desired].filter(([k, r]) => {
    const c = current.get(k);
    return c === undefined || !sameRemote(c, r);
  });
  return { remove, add };
}

/** The lease id `etcdctl lease grant` printed (`lease 694d7a1d2c0b8f05 granted with TTL(86400s)`). */
export function parseLeaseGrant(out: string): string {
  const m = /^lease ([0-9a-f]+) granted with TTL\(\d+s\)/m.exec(out);
  if (!m?.[1]) throw new Error(`etcdctl lease grant: unexpected output ${JSON.stringify(out.slice(0, 200))}`);
  return m[1];
}

/**
 * `etcdctl txn` input that creates `key` on lease `leaseId` only if it does not exist (flannel's compare-and-create:
 * the key's version is 0). The value must hold no whitespace (compact JSON), as etcdctl splits txn lines on it.
 */
export function createIfAbsentTxn(key: string, value: string, leaseId: string): string {
  if (/\s/.test(key) || /\s/.test(value)) throw new Error('createIfAbsentTxn: key and value must hold no whitespace');
  return `version("${key}") = "0"\n\nput --lease=${leaseId} ${key} ${value}\n\n\n`;
}

/** `etcdctl txn` input putting every key/value with no compare; ≤ 128 pairs (etcd's default --max-txn-ops). */
export function putAllTxn(kvs: readonly (readonly [string, string])[], leaseId?: string): string {
  if (kvs.length > 128) throw new Error(`putAllTxn: ${kvs.length} puts, etcd takes at most 128 per transaction`);
  const lease = leaseId ? `--lease=${leaseId} ` : '';
  const lines = kvs.map(([k, v]) => {
    if (/\s/.test(k) || /\s/.test(v)) throw new Error('putAllTxn: keys and values must hold no whitespace');
    return `put ${lease}${k} ${v}`;
  });
  return `\n${lines.join('\n')}\n\n\n`;
}
