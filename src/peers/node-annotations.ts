// Node objects ⇄ flannel's kube-subnet-manager annotations (README "Running in a cluster" and
// "What flannel reads and writes").
// Pure functions: a Node becomes a Peer or a reason to skip it, and our own advertisement becomes the annotation
// set and the patch bodies vxtun sends. They accept the client's V1Node objects and raw watch JSON alike.
import { Cidr } from '../net/cidr.js';
import { parseIP, type IP } from '../net/ip.js';
import { formatMac, isUnicast, parseMac } from '../net/mac.js';
import type { Peer } from './peer-source.js';
import { clip } from '../log.js';

/** The parts of a v1 Node that vxtun reads. */
export interface NodeLike {
  metadata?: { name?: string; annotations?: Record<string, string> | null; resourceVersion?: string };
  spec?: { podCIDR?: string | null; podCIDRs?: string[] | null } | null;
  status?: { addresses?: { type?: string; address?: string }[] | null } | null;
}

export interface AnnotationKeys {
  subnetManager: string;
  backendType: string;
  backendData: string;
  publicIP: string;
  publicIPOverwrite: string;
}

/** The annotation keys under `prefix` (default flannel.alpha.coreos.com): `<prefix>/backend-data` and so on. */
export function annotationKeys(prefix: string): AnnotationKeys {
  return {
    subnetManager: `${prefix}/kube-subnet-manager`,
    backendType: `${prefix}/backend-type`,
    backendData: `${prefix}/backend-data`,
    publicIP: `${prefix}/public-ip`,
    publicIPOverwrite: `${prefix}/public-ip-overwrite`,
  };
}

export interface NodeParseContext {
  keys: AnnotationKeys;
  /** Our VNI: a node with another one cannot talk to us. */
  vni: number;
  network: Cidr;
  ipv6Network?: Cidr;
}

/**
 * Why a node is not a peer:
 * - pending: it has no pod CIDR or no vxlan annotations yet (normal while a node joins);
 * - foreign: it runs another backend type or VNI;
 * - malformed: something is there but unusable (bad CIDR, bad JSON, bad MAC, no address).
 */
export type SkipKind = 'pending' | 'foreign' | 'malformed';

export type NodeVerdict = { ok: true; peer: Peer } | { ok: false; kind: SkipKind; reason: string };

type Result<T> = { ok: true; value: T } | { ok: false; kind: SkipKind; reason: string };
// Reasons quote annotation values, which can be 250 KB: clipped here, once, so verdicts and log lines stay small.
const skip = (kind: SkipKind, reason: string): { ok: false; kind: SkipKind; reason: string } => ({
  ok: false,
  kind,
  reason: clip(reason),
});

function annotation(node: NodeLike, key: string): string | undefined {
  const v = node.metadata?.annotations?.[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The node's pod CIDRs: `spec.podCIDRs`, else `spec.podCIDR`; at most one per family. An IPv6 CIDR is dropped when
 * `ipv6Network` is not configured (vxtun then carries IPv4 only); any CIDR outside the configured networks makes the
 * node malformed.
 */
export function nodePodCIDRs(node: NodeLike, ctx: Pick<NodeParseContext, 'network' | 'ipv6Network'>): Result<Cidr[]> {
  const list = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  if (list.length === 0) return skip('pending', 'no podCIDR assigned yet');
  if (list.length > 2) return skip('malformed', `${list.length} podCIDRs (expected one per address family)`);
  const out: Cidr[] = [];
  const families = new Set<number>();
  for (const text of list) {
    let c: Cidr;
    try {
      c = Cidr.parse(String(text));
    } catch (e) {
      return skip('malformed', `bad podCIDR: ${(e as Error).message}`);
    }
    if (families.has(c.family)) return skip('malformed', `two IPv${c.family} podCIDRs (${list.join(', ')})`);
    families.add(c.family);
    const net = c.family === 4 ? ctx.network : ctx.ipv6Network;
    if (net === undefined) continue; // IPv6 pods while ipv6Network is off: not carried
    if (!net.contains(c.bytes) || c.prefixLen < net.prefixLen) {
      return skip(
        'malformed',
        `podCIDR ${c.toString()} is outside ${c.family === 4 ? 'network' : 'ipv6Network'} ${net.toString()}`,
      );
    }
    out.push(c);
  }
  if (out.length === 0)
    return skip('malformed', `no IPv4 podCIDR (${list.join(', ')}) and ipv6Network is not configured`);
  return { ok: true, value: out };
}

/**
 * The part of a Node that vxtun reads — name, resourceVersion, creation time, the annotations under `prefix`,
 * pod CIDRs, addresses — so a 5,000-node informer cache does not hold every node's images, conditions and labels.
 */
export function trimNode(
  node: NodeLike & { metadata?: { creationTimestamp?: unknown; uid?: string } },
  prefix: string,
): NodeLike {
  const m = node.metadata ?? {};
  const annotations: Record<string, string> = {};
  const p = `${prefix}/`;
  for (const [k, v] of Object.entries(m.annotations ?? {})) if (k.startsWith(p)) annotations[k] = v;
  const out: NodeLike & { metadata: Record<string, unknown> } = {
    metadata: {
      name: m.name,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
      uid: m.uid,
      annotations,
    },
  };
  if (node.spec) out.spec = { podCIDR: node.spec.podCIDR, podCIDRs: node.spec.podCIDRs };
  if (node.status) out.status = { addresses: node.status.addresses };
  return out;
}

/** The node's first IPv4 InternalIP address, if any. */
export function internalIP(node: NodeLike): IP | undefined {
  for (const a of node.status?.addresses ?? []) {
    if (a?.type !== 'InternalIP' || typeof a.address !== 'string') continue;
    const ip = parseIP(a.address);
    if (ip?.family === 4) return ip;
  }
  return undefined;
}

function underlayAddress(text: string, what: string): Result<IP> {
  const ip = parseIP(text.trim());
  if (ip === null) return skip('malformed', `${what} ${JSON.stringify(text)} is not an IP address`);
  if (ip.family === 6) return skip('malformed', `${what} ${ip.text} is IPv6; vxtun needs an IPv4 underlay`);
  const b0 = ip.bytes[0] ?? 0;
  if (ip.text === '0.0.0.0' || ip.text === '255.255.255.255' || (b0 & 0xf0) === 0xe0) {
    return skip('malformed', `${what} ${ip.text} is not a unicast address`);
  }
  return { ok: true, value: ip };
}

/** The `public-ip-overwrite` annotation, when it holds a usable address. */
export function publicIPOverwrite(node: NodeLike, keys: AnnotationKeys): IP | undefined {
  const text = annotation(node, keys.publicIPOverwrite);
  if (text === undefined || text.trim() === '') return undefined;
  const r = underlayAddress(text, 'public-ip-overwrite');
  return r.ok ? r.value : undefined;
}

/** Where peers send to: `public-ip-overwrite`, else `public-ip`, else the InternalIP. */
function nodePublicIP(node: NodeLike, keys: AnnotationKeys): Result<IP> {
  for (const [key, what] of [
    [keys.publicIPOverwrite, 'public-ip-overwrite'],
    [keys.publicIP, 'public-ip'],
  ] as const) {
    const text = annotation(node, key);
    if (text !== undefined && text.trim() !== '') return underlayAddress(text, what);
  }
  const ip = internalIP(node);
  return ip ? { ok: true, value: ip } : skip('malformed', 'no public-ip annotation and no IPv4 InternalIP address');
}

/** flannel's vxlan backend-data: `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`. */
export function parseBackendData(text: string): Result<{ vni: number; vtepMAC: string }> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return skip('malformed', `backend-data is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return skip('malformed', `backend-data is not a JSON object: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const { VNI, VtepMAC } = data as Record<string, unknown>;
  if (typeof VNI !== 'number' || !Number.isInteger(VNI) || VNI < 0 || VNI > 0xffffff) {
    return skip('malformed', `backend-data VNI ${JSON.stringify(VNI)} is not an integer 0..16777215`);
  }
  const mac = typeof VtepMAC === 'string' ? parseMac(VtepMAC) : null;
  if (mac === null) return skip('malformed', `backend-data VtepMAC ${JSON.stringify(VtepMAC)} is not a MAC address`);
  if (!isUnicast(mac)) return skip('malformed', `backend-data VtepMAC ${String(VtepMAC)} is a multicast address`);
  return { ok: true, value: { vni: VNI, vtepMAC: formatMac(mac) } };
}

/** The VTEP MAC this node has published for the vxlan backend, if it has a usable one. */
export function storedVtepMAC(node: NodeLike, keys: AnnotationKeys): string | undefined {
  if (annotation(node, keys.backendType) !== 'vxlan') return undefined;
  const data = annotation(node, keys.backendData);
  if (data === undefined) return undefined;
  const r = parseBackendData(data);
  return r.ok ? r.value.vtepMAC : undefined;
}

/** A Node → the peer it describes, or why it is skipped. Never throws. */
export function parseNode(node: NodeLike, ctx: NodeParseContext): NodeVerdict {
  const name = node.metadata?.name;
  if (typeof name !== 'string' || name === '') return skip('malformed', 'no metadata.name');
  const cidrs = nodePodCIDRs(node, ctx);
  if (!cidrs.ok) return cidrs;
  const type = annotation(node, ctx.keys.backendType);
  if (type === undefined) return skip('pending', 'no backend-type annotation yet');
  if (type !== 'vxlan') return skip('foreign', `backend type ${JSON.stringify(type)}, not "vxlan"`);
  const dataText = annotation(node, ctx.keys.backendData);
  if (dataText === undefined) return skip('pending', 'no backend-data annotation yet');
  const data = parseBackendData(dataText);
  if (!data.ok) return data;
  if (data.value.vni !== ctx.vni) return skip('foreign', `VNI ${data.value.vni}, ours is ${ctx.vni}`);
  const ip = nodePublicIP(node, ctx.keys);
  if (!ip.ok) return ip;
  return { ok: true, peer: { name, podCIDRs: cidrs.value, publicIP: ip.value, vtepMAC: data.value.vtepMAC } };
}

/** What vxtun publishes on its own Node. */
export interface OwnAnnotationInput {
  vni: number;
  vtepMAC: string;
  /** What peers should send to: `public-ip-overwrite` when the node has one, else the bound address. */
  publicIP: string;
}

/** Our annotation set, in flannel's exact format (backend-data is `{"VNI":1,"VtepMAC":"…"}`, no spaces). */
export function ownAnnotations(keys: AnnotationKeys, a: OwnAnnotationInput): Record<string, string> {
  return {
    [keys.subnetManager]: 'true',
    [keys.backendType]: 'vxlan',
    [keys.backendData]: JSON.stringify({ VNI: a.vni, VtepMAC: a.vtepMAC }),
    [keys.publicIP]: a.publicIP,
  };
}

/** The JSON merge patch (RFC 7386) that sets `desired` on the node, or null when it already has them all. */
export function annotationsPatch(node: NodeLike | undefined, desired: Record<string, string>): object | null {
  const current = node?.metadata?.annotations ?? {};
  const same = Object.entries(desired).every(([k, v]) => current[k] === v);
  return same ? null : { metadata: { annotations: { ...desired } } };
}

export const CONDITION_REASON = 'VxtunIsUp';

/**
 * The strategic merge patch for nodes/status that sets NetworkUnavailable=False (as flannel's CompleteLease does).
 * Strategic, not JSON merge: `status.conditions` merges by `type` there, where a JSON merge patch would replace the
 * whole list (Ready, MemoryPressure… included).
 */
export function networkAvailablePatch(now: Date): object {
  const t = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    status: {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: CONDITION_REASON,
          message: 'vxtun is running on this node',
          lastTransitionTime: t,
          lastHeartbeatTime: t,
        },
      ],
    },
  };
}
