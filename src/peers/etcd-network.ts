// flannel's network config, `<prefix>/config` (README "etcd mode"), read as flanneld reads it, and checked against what
// the config file set. Pure.
//
// Keys (any case, as Go's decoder matches them; unknown keys ignored; null = absent):
//   Network          IPv4 CIDR, required (EnableIPv4 defaults to true; false is refused: vxtun needs IPv4).
//   SubnetLen        default 24 when Network is /22 or shorter, else Network's length + 2; more than 30, or fewer than
//                    Network's length + 2 (four subnets), is refused; a Network longer than /28 is refused.
//   SubnetMin/Max    IPv4 addresses inside Network on a SubnetLen boundary; default the 2nd subnet .. the last one.
//   EnableIPv6, IPv6Network, IPv6SubnetLen (default 64 when IPv6Network is /62 or shorter, else length + 2; at most
//                    126), IPv6SubnetMin/Max — the same rules for the IPv6 pod network.
//   Backend          {Type, VNI, Port, MTU, DirectRouting, GBP, Learning}. A missing Backend is flannel's "udp";
//                    vxtun speaks vxlan only. VNI 1 by default (1..16777215); Port 0 = the kernel's 8472; MTU 0 = the
//                    underlay's, otherwise flannel's MTU is the underlay MTU and the device gets MTU − 50 (flannel's
//                    encapsulation overhead); GBP true is refused (no group policy here); Learning is accepted and has
//                    no effect (vxtun's table is programmed, never learned).
import { ConfigError } from '../errors.js';
import { Cidr } from '../net/cidr.js';
import { parseIP } from '../net/ip.js';
import { MAX_MTU } from '../config/types.js';
import type { FileOverlaySettings } from './etcd-section.js';
import { goObject, shown, type GoObject } from './etcd-json.js';
import type { OverlaySettings } from './peer-source.js';

/** The kernel's VXLAN port, which flannel leaves in place when Port is 0. */
export const FLANNEL_DEFAULT_PORT = 8472;
/** flannel's vxlan encapsulation overhead: the device MTU is the underlay's less this. */
export const FLANNEL_VXLAN_OVERHEAD = 50;

/** The subnets one family's leases are taken from: SubnetLen-long prefixes from min to max (both included). */
export interface SubnetRange {
  network: Cidr;
  len: number;
  min: Cidr;
  max: Cidr;
}

export interface EtcdNetwork {
  overlay: OverlaySettings;
  /** Backend.MTU as written (0: the underlay's): what a contradiction names. */
  backendMTU: number;
  subnets: { v4: SubnetRange; v6?: SubnetRange };
}

/** The address of `c` (or of an IP's bytes) as a number. */
export function addrBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** The `len`-long prefix at address `n` of `family`. */
export function cidrAt(n: bigint, len: number, family: 4 | 6): Cidr {
  const size = family === 4 ? 4 : 16;
  const out = new Uint8Array(size);
  let v = n;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return new Cidr(out, len);
}

/** The size of a `len`-long prefix of `family`, in addresses. */
export function blockSize(len: number, family: 4 | 6): bigint {
  return 1n << BigInt((family === 4 ? 32 : 128) - len);
}

/** Whether `c` is one of the range's subnets: inside its network and of its length (min..max is not required). */
export function subnetFits(c: Cidr, r: SubnetRange): boolean {
  return c.family === r.network.family && c.prefixLen === r.len && r.network.contains(c.bytes);
}

/** Whether `c` fits the range and lies between min and max. */
export function subnetInRange(c: Cidr, r: SubnetRange): boolean {
  const a = addrBig(c.bytes);
  return subnetFits(c, r) && a >= addrBig(r.min.bytes) && a <= addrBig(r.max.bytes);
}

/** Parses `<prefix>/config` (its text; `key` is its name, the field of every ConfigError). */
export function parseNetworkConfig(text: string, key: string): EtcdNetwork {
  const bad = (what: string, why: string): never => {
    throw new ConfigError(key, `${what}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    bad('JSON', `not valid JSON (${(err as Error).message})`);
  }
  const cfg = goObject(doc) ?? bad('JSON', `expected an object like {"Network": "10.244.0.0/16"}, got ${shown(doc)}`);

  const enable4 = bool(cfg, 'EnableIPv4', true, bad);
  if (!enable4) bad('EnableIPv4', 'false, but vxtun needs an IPv4 network');
  const v4 = family(cfg, 4, bad);
  const enable6 = bool(cfg, 'EnableIPv6', false, bad);
  const v6 = enable6 ? family(cfg, 6, bad) : undefined;

  const backendValue = cfg.get('Backend');
  if (backendValue === undefined) {
    bad('Backend', 'missing, which flannel takes for Type "udp"; vxtun speaks vxlan only: set {"Type": "vxlan"}');
  }
  const backend =
    goObject(backendValue) ?? bad('Backend', `expected an object like {"Type": "vxlan"}, got ${shown(backendValue)}`);
  const type = backend.get('Type');
  if (typeof type !== 'string') bad('Backend.Type', `expected a string like "vxlan", got ${shown(type)}`);
  if ((type as string).toLowerCase() !== 'vxlan') {
    bad('Backend.Type', `${shown(type)}, but vxtun speaks vxlan only`);
  }
  const vni = int(backend, 'Backend.VNI', 1, 1, 0xffffff, bad);
  const port = int(backend, 'Backend.Port', 0, 0, 65535, bad);
  const backendMTU = int(backend, 'Backend.MTU', 0, 0, MAX_MTU + FLANNEL_VXLAN_OVERHEAD, bad);
  const minDevice = v6 ? 1280 : 576;
  if (backendMTU !== 0 && backendMTU - FLANNEL_VXLAN_OVERHEAD < minDevice) {
    bad(
      'Backend.MTU',
      `${backendMTU} leaves a device MTU of ${backendMTU - FLANNEL_VXLAN_OVERHEAD}, below ${minDevice}`,
    );
  }
  const directRouting = bool(backend, 'Backend.DirectRouting', false, bad);
  if (bool(backend, 'Backend.GBP', false, bad)) bad('Backend.GBP', 'true, but vxtun does not speak VXLAN group policy');
  bool(backend, 'Backend.Learning', false, bad); // accepted: vxtun's table is programmed, never learned

  const overlay: OverlaySettings = {
    network: v4.network,
    vni,
    port: port === 0 ? FLANNEL_DEFAULT_PORT : port,
    mtu: backendMTU === 0 ? 'auto' : backendMTU - FLANNEL_VXLAN_OVERHEAD,
    directRouting,
  };
  if (v6) overlay.ipv6Network = v6.network;
  return { overlay, backendMTU, subnets: v6 ? { v4, v6 } : { v4 } };
}

type Bad = (what: string, why: string) => never;

function bool(o: GoObject, path: string, dflt: boolean, bad: Bad): boolean {
  const v = o.get(path.split('.').pop()!);
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') bad(path, `expected true or false, got ${shown(v)}`);
  return v as boolean;
}

function int(o: GoObject, path: string, dflt: number, min: number, max: number, bad: Bad): number {
  const v = o.get(path.split('.').pop()!);
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(path, `expected an integer ${min}..${max}, got ${shown(v)}`);
  }
  return v as number;
}

/** One family's Network, SubnetLen, SubnetMin and SubnetMax (IPv6: the IPv6-prefixed keys). */
function family(cfg: GoObject, fam: 4 | 6, bad: Bad): SubnetRange {
  const k = (name: string): string => (fam === 4 ? name : `IPv6${name}`);
  const bits = fam === 4 ? 32 : 128;
  const netKey = k('Network');
  const netValue = cfg.get(netKey);
  const example = fam === 4 ? '"10.244.0.0/16"' : '"fd00:10:244::/56"';
  if (netValue === undefined) {
    bad(netKey, fam === 4 ? `missing: the pod network, like ${example}` : `missing, but EnableIPv6 is true`);
  }
  if (typeof netValue !== 'string') bad(netKey, `expected a CIDR like ${example}, got ${shown(netValue)}`);
  let network: Cidr;
  try {
    network = Cidr.parse(netValue as string, { strict: false }); // flannel clears host bits
  } catch {
    return bad(netKey, `expected a CIDR like ${example}, got ${shown(netValue)}`);
  }
  if (network.family !== fam) bad(netKey, `expected an IPv${fam} CIDR like ${example}, got ${shown(netValue)}`);

  const maxLen = bits - 2; // a subnet needs room for the device address and pods
  const lenKey = k('SubnetLen');
  let len = int(cfg, lenKey, 0, 0, bits, bad);
  if (len === 0) {
    if (network.prefixLen > maxLen - 2) {
      bad(netKey, `/${network.prefixLen} is too small: the longest useful network is /${maxLen - 2}`);
    }
    const roomy = fam === 4 ? 22 : 62;
    len = network.prefixLen <= roomy ? (fam === 4 ? 24 : 64) : network.prefixLen + 2;
  } else {
    if (len > maxLen) bad(lenKey, `${len} is longer than /${maxLen}`);
    if (len < network.prefixLen + 2) {
      bad(
        lenKey,
        `${len} leaves fewer than four subnets in ${netKey} ${network.toString()} (use ${network.prefixLen + 2} or more)`,
      );
    }
  }
  const size = blockSize(len, fam);
  const base = addrBig(network.bytes);
  const last = base + blockSize(network.prefixLen, fam) - size;
  const bound = (name: string, dflt: bigint): Cidr => {
    const key = k(name);
    const v = cfg.get(key);
    if (v === undefined) return cidrAt(dflt, len, fam);
    const ip = typeof v === 'string' ? parseIP(v) : null;
    if (ip === null || ip.family !== fam) bad(key, `expected an IPv${fam} address, got ${shown(v)}`);
    if (!network.contains(ip!)) bad(key, `${ip!.text} is outside ${netKey} ${network.toString()}`);
    const at = cidrAt(addrBig(ip!.bytes), len, fam);
    if (addrBig(at.bytes) !== addrBig(ip!.bytes)) {
      bad(key, `${ip!.text} is not on a /${len} boundary (${lenKey}); did you mean ${at.toString().split('/')[0]}?`);
    }
    return at;
  };
  const min = bound('SubnetMin', base + size);
  const max = bound('SubnetMax', last);
  if (addrBig(min.bytes) > addrBig(max.bytes)) {
    bad(k('SubnetMin'), `${min.toString()} is after ${k('SubnetMax')} ${max.toString()}`);
  }
  return { network, len, min, max };
}

/**
 * The overlay settings of this run: `<prefix>/config`'s, checked against what the config file set. A value the file
 * set that differs is a ConfigError naming both (on the file's field); an MTU the file set where Backend.MTU is 0
 * (flannel: the underlay's) is the file's, since a device MTU is the node's own.
 */
export function checkAgainstFile(net: EtcdNetwork, file: FileOverlaySettings, key: string): OverlaySettings {
  const o = net.overlay;
  const clash = (field: string, ours: string, theirs: string): never => {
    throw new ConfigError(field, `${ours} in the config file, but ${key} has ${theirs}`);
  };
  if (file.network !== undefined && !file.network.equals(o.network)) {
    clash('network', file.network.toString(), `Network ${o.network.toString()}`);
  }
  if (file.ipv6Network !== undefined) {
    if (o.ipv6Network === undefined)
      clash('ipv6Network', file.ipv6Network.toString(), 'no IPv6Network (EnableIPv6 is not true)');
    else if (!file.ipv6Network.equals(o.ipv6Network)) {
      clash('ipv6Network', file.ipv6Network.toString(), `IPv6Network ${o.ipv6Network.toString()}`);
    }
  }
  if (file.vni !== undefined && file.vni !== o.vni) clash('vni', String(file.vni), `Backend.VNI ${o.vni}`);
  if (file.port !== undefined && file.port !== o.port) {
    clash('port', String(file.port), `Backend.Port ${o.port === FLANNEL_DEFAULT_PORT ? `${o.port} (or 0)` : o.port}`);
  }
  if (file.mtu !== undefined) {
    if (o.mtu === 'auto') return { ...o, mtu: file.mtu };
    if (file.mtu !== o.mtu) clash('mtu', String(file.mtu), `Backend.MTU ${net.backendMTU} (a device MTU of ${o.mtu})`);
  }
  return o;
}
