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
  /** The IPv6 endpoint's (flannel's dual-stack lease: BackendV6Data, PublicIPv6). */
  backendV6Data: string;
  publicIPv6: string;
  publicIPv6Overwrite: string;
}

/** The annotation keys under `prefix` (default flannel.alpha.coreos.com): `<prefix>/backend-data` and so on. */
export function annotationKeys(prefix: string): AnnotationKeys {
  return {
    subnetManager: `${prefix}/kube-subnet-manager`,
    backendType: `${prefix}/backend-type`,
    backendData: `${prefix}/backend-data`,
    publicIP: `${prefix}/public-ip`,
    publicIPOverwrite: `${prefix}/public-ip-overwrite`,
    backendV6Data: `${prefix}/backend-v6-data`,
    publicIPv6: `${prefix}/public-ipv6`,
    publicIPv6Overwrite: `${prefix}/public-ipv6-overwrite`,
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

/**
 * A peer, or why the node is skipped. `ignored`: an endpoint left out of the peer (its annotations are malformed or
 * of another VNI) while the other one is usable; logged like a skip reason.
 */
export type NodeVerdict = { ok: true; peer: Peer; ignored?: string } | { ok: false; kind: SkipKind; reason: string };

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

/** The node's first InternalIP address of that family (IPv4 by default), if any. */
export function internalIP(node: NodeLike, family: 4 | 6 = 4): IP | undefined {
  for (const a of node.status?.addresses ?? []) {
    if (a?.type !== 'InternalIP' || typeof a.address !== 'string') continue;
    const ip = parseIP(a.address);
    if (ip?.family === family) return ip;
  }
  return undefined;
}

/** An address annotation of that family (public-ip: IPv4, public-ipv6: IPv6, as flannel parses them). */
function underlayAddress(text: string, what: string, family: 4 | 6): Result<IP> {
  const ip = parseIP(text.trim());
  if (ip === null) return skip('malformed', `${what} ${JSON.stringify(text)} is not an IP address`);
  if (ip.family !== family) {
    return skip('malformed', `${what} ${ip.text} is IPv${ip.family}, not an IPv${family} address`);
  }
  const b0 = ip.bytes[0] ?? 0;
  const notUnicast =
    family === 4
      ? ip.text === '0.0.0.0' || ip.text === '255.255.255.255' || (b0 & 0xf0) === 0xe0
      : ip.text === '::' || b0 === 0xff;
  if (notUnicast) return skip('malformed', `${what} ${ip.text} is not a unicast address`);
  return { ok: true, value: ip };
}

/** Each family's annotation names, as reasons spell them. */
function familyKeys(keys: AnnotationKeys, family: 4 | 6) {
  return family === 4
    ? { data: keys.backendData, ip: keys.publicIP, overwrite: keys.publicIPOverwrite, suffix: '' }
    : { data: keys.backendV6Data, ip: keys.publicIPv6, overwrite: keys.publicIPv6Overwrite, suffix: 'v6' };
}

/** The `public-ip-overwrite` (IPv4) or `public-ipv6-overwrite` (IPv6) annotation, when it holds a usable address. */
export function publicIPOverwrite(node: NodeLike, keys: AnnotationKeys, family: 4 | 6 = 4): IP | undefined {
  const text = annotation(node, familyKeys(keys, family).overwrite);
  if (text === undefined || text.trim() === '') return undefined;
  const r = underlayAddress(text, family === 4 ? 'public-ip-overwrite' : 'public-ipv6-overwrite', family);
  return r.ok ? r.value : undefined;
}

/** Where peers send to over that family: `public-ip[v6]-overwrite`, else `public-ip[v6]`, else the InternalIP. */
function nodePublicIP(node: NodeLike, keys: AnnotationKeys, family: 4 | 6): Result<IP> {
  const k = familyKeys(keys, family);
  const name = family === 4 ? 'public-ip' : 'public-ipv6';
  for (const [key, what] of [
    [k.overwrite, `${name}-overwrite`],
    [k.ip, name],
  ] as const) {
    const text = annotation(node, key);
    if (text !== undefined && text.trim() !== '') return underlayAddress(text, what, family);
  }
  const ip = internalIP(node, family);
  return ip
    ? { ok: true, value: ip }
    : skip('malformed', `no ${name} annotation and no IPv${family} InternalIP address`);
}

/**
 * Where this node's underlay is, as its Node says (LocalNode.address/address6; README "Running in a cluster"): the
 * InternalIP of each family (else its overwrite annotation) as a hint. Dual-stack when the node has IPv4 and either
 * a `public-ipv6-overwrite` or (with `ipv6Network` configured) an IPv6 InternalIP, as flannel enables IPv6; a node
 * without IPv4 is a single-family IPv6 node.
 */
export function localUnderlay(
  node: NodeLike,
  keys: AnnotationKeys,
  ipv6Network: Cidr | undefined,
): { address?: { ip: IP }; address6?: { ip: IP } } {
  const v4 = internalIP(node, 4) ?? publicIPOverwrite(node, keys, 4);
  const in6 = internalIP(node, 6);
  const o6 = publicIPOverwrite(node, keys, 6);
  if (v4 === undefined) {
    const v6 = in6 ?? o6;
    return v6 ? { address: { ip: v6 } } : {};
  }
  const dual = o6 !== undefined || (ipv6Network !== undefined && in6 !== undefined);
  const v6 = in6 ?? o6;
  return { address: { ip: v4 }, ...(dual && v6 ? { address6: { ip: v6 } } : {}) };
}

/**
 * flannel's vxlan backend-data (and backend-v6-data, `what`): `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`, plus vxtun's
 * `"RemoteChecksum":true` when the node accepts remote checksum offload (README "Remote checksum offload"; flannel
 * ignores the key). Anything but `true` there is false.
 */
export function parseBackendData(
  text: string,
  what = 'backend-data',
): Result<{ vni: number; vtepMAC: string; remoteChecksum: boolean }> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return skip('malformed', `${what} is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return skip('malformed', `${what} is not a JSON object: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const { VNI, VtepMAC, RemoteChecksum } = data as Record<string, unknown>;
  if (typeof VNI !== 'number' || !Number.isInteger(VNI) || VNI < 0 || VNI > 0xffffff) {
    return skip('malformed', `${what} VNI ${JSON.stringify(VNI)} is not an integer 0..16777215`);
  }
  const mac = typeof VtepMAC === 'string' ? parseMac(VtepMAC) : null;
  if (mac === null) return skip('malformed', `${what} VtepMAC ${JSON.stringify(VtepMAC)} is not a MAC address`);
  if (!isUnicast(mac)) return skip('malformed', `${what} VtepMAC ${String(VtepMAC)} is a multicast address`);
  return { ok: true, value: { vni: VNI, vtepMAC: formatMac(mac), remoteChecksum: RemoteChecksum === true } };
}

/** The VTEP MAC this node has published for the vxlan backend (backend-data, else backend-v6-data), if usable. */
export function storedVtepMAC(node: NodeLike, keys: AnnotationKeys): string | undefined {
  if (annotation(node, keys.backendType) !== 'vxlan') return undefined;
  for (const [key, what] of [
    [keys.backendData, 'backend-data'],
    [keys.backendV6Data, 'backend-v6-data'],
  ] as const) {
    const data = annotation(node, key);
    if (data === undefined) continue;
    const r = parseBackendData(data, what);
    if (r.ok) return r.value.vtepMAC;
  }
  return undefined;
}

/** One family's endpoint of a node (undefined: it has no backend data of that family). */
function nodeEndpoint(node: NodeLike, ctx: NodeParseContext, family: 4 | 6): Result<Endpoint> | undefined {
  const what = family === 4 ? 'backend-data' : 'backend-v6-data';
  const text = annotation(node, familyKeys(ctx.keys, family).data);
  if (text === undefined) return undefined;
  const data = parseBackendData(text, what);
  if (!data.ok) return data;
  if (data.value.vni !== ctx.vni) {
    return skip('foreign', `${family === 6 ? `${what} ` : ''}VNI ${data.value.vni}, ours is ${ctx.vni}`);
  }
  const ip = nodePublicIP(node, ctx.keys, family);
  if (!ip.ok) return ip;
  return { ok: true, value: { ip: ip.value, mac: data.value.vtepMAC, remoteChecksum: data.value.remoteChecksum } };
}

interface Endpoint {
  ip: IP;
  mac: string;
  remoteChecksum: boolean;
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
  // flannel's lease: backend-data + public-ip (IPv4), backend-v6-data + public-ipv6 (IPv6); either or both.
  const v4 = nodeEndpoint(node, ctx, 4);
  const v6 = nodeEndpoint(node, ctx, 6);
  if (v4 === undefined && v6 === undefined) return skip('pending', 'no backend-data annotation yet');
  const a = v4?.ok ? v4.value : undefined;
  const b = v6?.ok ? v6.value : undefined;
  // A malformed or foreign endpoint is left out while the other family's is usable (and said so in `ignored`).
  const bad = [v4, v6].find((r) => r !== undefined && !r.ok) as
    { ok: false; kind: SkipKind; reason: string } | undefined;
  const first = a ?? b;
  if (first === undefined) return bad ?? skip('malformed', 'no usable endpoint');
  const peer: Peer = { name, podCIDRs: cidrs.value, publicIP: first.ip, vtepMAC: first.mac };
  // A vxtun node has one setting for both families; a node whose first endpoint's data says so accepts it.
  if (first.remoteChecksum) peer.remoteChecksum = true;
  if (a !== undefined && b !== undefined) {
    peer.publicIPv6 = b.ip;
    peer.vtepMACv6 = b.mac;
  }
  return bad ? { ok: true, peer, ignored: bad.reason } : { ok: true, peer };
}

/** What vxtun publishes on its own Node: the families it has, each with the one VTEP MAC. */
export interface OwnAnnotationInput {
  vni: number;
  vtepMAC: string;
  /** What peers should send to over IPv4: `public-ip-overwrite` when the node has one, else the bound address. */
  publicIP?: string;
  /** Over IPv6: `public-ipv6-overwrite`, else the bound IPv6 address. */
  publicIPv6?: string;
  /** The node accepts remote checksum offload: `"RemoteChecksum":true` in its backend data. */
  remoteChecksum?: boolean;
}

/**
 * Our annotation set, in flannel's exact format (backend-data is `{"VNI":1,"VtepMAC":"…"}`, no spaces, with
 * `,"RemoteChecksum":true` after the MAC when the node accepts it): backend-data and public-ip for IPv4,
 * backend-v6-data and public-ipv6 for IPv6 (the same data in both), never the keys of a family the node does not have.
 */
export function ownAnnotations(keys: AnnotationKeys, a: OwnAnnotationInput): Record<string, string> {
  const data = JSON.stringify({
    VNI: a.vni,
    VtepMAC: a.vtepMAC,
    ...(a.remoteChecksum ? { RemoteChecksum: true } : {}),
  });
  return {
    [keys.subnetManager]: 'true',
    [keys.backendType]: 'vxlan',
    ...(a.publicIP !== undefined ? { [keys.backendData]: data, [keys.publicIP]: a.publicIP } : {}),
    ...(a.publicIPv6 !== undefined ? { [keys.backendV6Data]: data, [keys.publicIPv6]: a.publicIPv6 } : {}),
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
