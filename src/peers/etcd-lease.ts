// flannel's subnet leases (README "etcd mode"), read and written exactly as flanneld does. Pure.
//
//   key    `<prefix>/subnets/10.244.1.0-24`, dual-stack `<prefix>/subnets/10.244.1.0-24&fd00:10:244:1::-64`
//   value  {"PublicIP":"192.168.1.5","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"…"}}
//          in that field order; a dual-stack lease has PublicIPv6 set and "BackendV6Data":{"VNI":1,"VtepMAC":"…"}
//          after BackendData (flannel leaves out BackendType and the data fields when empty, and always writes
//          PublicIP and PublicIPv6). vxtun serves both families with one VTEP MAC, so both data fields carry it,
//          and `"RemoteChecksum":true` after it when the node accepts remote checksum offload (README "Remote checksum
//          offload"; flannel ignores the key, and anything but true there is false).
//
// A lease becomes a Peer named by its key's subnet text (`10.244.1.0-24`); keys match without regard to case, as
// Go's decoder does. A lease that cannot be a peer of ours is refused with a reason for the log (clipped).
import { Cidr } from '../net/cidr.js';
import { parseIP, type IP } from '../net/ip.js';
import { formatMac, isUnicast, parseMac } from '../net/mac.js';
import { clip } from '../log.js';
import { goObject, shown } from './etcd-json.js';
import { subnetFits, type SubnetRange } from './etcd-network.js';
import type { Peer } from './peer.js';

export interface LeaseSubnets {
  v4: Cidr;
  v6?: Cidr;
}

/** The attributes of a lease, as flannel's LeaseAttrs hold them. */
export interface LeaseAttrs {
  publicIP: IP;
  publicIPv6?: IP;
  backendType: string;
  vni?: number;
  vtepMAC?: string;
  vtepMACv6?: string;
  remoteChecksum?: boolean;
}

/** The subnets directory of a prefix: `<prefix>/subnets/`. */
export const subnetsDir = (prefix: string): string => `${prefix}/subnets/`;

const cidrText = (c: Cidr): string => c.toString().replace('/', '-');

/** `10.244.1.0-24` or `10.244.1.0-24&fd00:10:244:1::-64`: a lease's name (its key below the subnets directory). */
export function subnetKeyName(s: LeaseSubnets): string {
  return s.v6 ? `${cidrText(s.v4)}&${cidrText(s.v6)}` : cidrText(s.v4);
}

function cidrOfKey(text: string, family: 4 | 6): Cidr | undefined {
  const dash = text.lastIndexOf('-');
  if (dash < 0) return undefined;
  const ip = parseIP(text.slice(0, dash));
  const len = text.slice(dash + 1);
  if (ip === null || ip.family !== family || !/^(?:0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const n = Number(len);
  if (n > (family === 4 ? 32 : 128)) return undefined;
  const c = new Cidr(ip.bytes, n);
  return c.toString().split('/')[0] === ip.text ? c : undefined; // host bits set: not a subnet
}

/** The subnets a lease name stands for; undefined when it is not one. */
export function parseSubnetKeyName(name: string): LeaseSubnets | undefined {
  const parts = name.split('&');
  if (parts.length > 2) return undefined;
  const v4 = cidrOfKey(parts[0] ?? '', 4);
  if (!v4) return undefined;
  if (parts.length === 1) return { v4 };
  const v6 = cidrOfKey(parts[1] ?? '', 6);
  return v6 ? { v4, v6 } : undefined;
}

/** A lease's value as flanneld writes it (see the top of this file). */
export function leaseValue(a: {
  publicIP: IP;
  publicIPv6?: IP;
  vni: number;
  vtepMAC: string;
  remoteChecksum?: boolean;
  v6: boolean;
}): string {
  const data = { VNI: a.vni, VtepMAC: a.vtepMAC, ...(a.remoteChecksum ? { RemoteChecksum: true } : {}) };
  const value: Record<string, unknown> = {
    PublicIP: a.publicIP.text,
    PublicIPv6: a.publicIPv6 ? a.publicIPv6.text : null,
    BackendType: 'vxlan',
    BackendData: data,
  };
  if (a.v6 && a.publicIPv6) value['BackendV6Data'] = data;
  return JSON.stringify(value);
}

export type LeaseVerdict =
  { ok: true; attrs: LeaseAttrs } | { ok: false; kind: 'malformed' | 'foreign'; reason: string };

/** A lease value's attributes (no judgement of the backend data beyond its shape). */
export function parseLeaseAttrs(text: string): LeaseVerdict {
  const malformed = (reason: string): LeaseVerdict => ({ ok: false, kind: 'malformed', reason: clip(reason) });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return malformed(`value is not JSON: ${shown(text)}`);
  }
  const o = goObject(doc);
  if (!o) return malformed(`value is not a JSON object: ${shown(doc)}`);
  const ipText = o.get('PublicIP');
  const publicIP = typeof ipText === 'string' ? parseIP(ipText) : null;
  if (publicIP === null || publicIP.family !== 4) return malformed(`PublicIP ${shown(ipText)} is not an IPv4 address`);
  const attrs: LeaseAttrs = { publicIP, backendType: '' };
  const ip6Text = o.get('PublicIPv6');
  if (ip6Text !== undefined) {
    const ip6 = typeof ip6Text === 'string' ? parseIP(ip6Text) : null;
    if (ip6 === null || ip6.family !== 6) return malformed(`PublicIPv6 ${shown(ip6Text)} is not an IPv6 address`);
    attrs.publicIPv6 = ip6;
  }
  const type = o.get('BackendType');
  if (type !== undefined && typeof type !== 'string') return malformed(`BackendType ${shown(type)} is not a string`);
  attrs.backendType = (type as string | undefined) ?? '';
  for (const [field, which] of [
    ['BackendData', 'vtepMAC'],
    ['BackendV6Data', 'vtepMACv6'],
  ] as const) {
    const d = o.get(field);
    if (d === undefined) continue;
    const data = goObject(d);
    if (!data) return malformed(`${field} ${shown(d)} is not a JSON object`);
    const vni = data.get('VNI');
    if (vni !== undefined) {
      if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
        return malformed(`${field}.VNI ${shown(vni)} is not an integer 0..16777215`);
      }
      if (field === 'BackendData' || attrs.vni === undefined) attrs.vni = vni;
    }
    const macText = data.get('VtepMAC');
    const mac = typeof macText === 'string' ? parseMac(macText) : null;
    if (mac === null || !isUnicast(mac)) return malformed(`${field}.VtepMAC ${shown(macText)} is not a unicast MAC`);
    attrs[which] = formatMac(mac);
    if (data.get('RemoteChecksum') === true) attrs.remoteChecksum = true;
  }
  return { ok: true, attrs };
}

export interface LeaseContext {
  /** The IPv4 subnets; the IPv6 ones when the overlay is dual-stack (otherwise a lease's IPv6 part is not used). */
  v4: SubnetRange;
  v6?: SubnetRange;
  vni: number;
}

export type PeerVerdict = { ok: true; peer: Peer } | { ok: false; kind: 'malformed' | 'foreign'; reason: string };

/**
 * The peer a lease stands for (`name` is the key below the subnets directory). Refused: a name that is no subnet
 * key, a subnet outside the network or not SubnetLen long, a bad value, another BackendType or VNI, no VtepMAC, an
 * IPv6 subnet with an IPv6 endpoint but no BackendV6Data (or the reverse). A dual-stack lease without PublicIPv6
 * (a node whose underlay is IPv4 only) is a single-endpoint peer: both pod families go over its IPv4 address.
 */
export function leasePeer(name: string, value: string, ctx: LeaseContext): PeerVerdict {
  const refuse = (kind: 'malformed' | 'foreign', reason: string): PeerVerdict => ({
    ok: false,
    kind,
    reason: clip(reason),
  });
  const subnets = parseSubnetKeyName(name);
  if (!subnets) return refuse('malformed', `key ${shown(name)} is not a subnet like 10.244.1.0-24`);
  if (!subnetFits(subnets.v4, ctx.v4)) {
    return refuse(
      'malformed',
      `subnet ${subnets.v4.toString()} is not a /${ctx.v4.len} of Network ${ctx.v4.network.toString()}`,
    );
  }
  const v = parseLeaseAttrs(value);
  if (!v.ok) return v;
  const a = v.attrs;
  if (a.backendType !== 'vxlan') return refuse('foreign', `BackendType ${shown(a.backendType)}, not "vxlan"`);
  if (a.vtepMAC === undefined) return refuse('malformed', 'BackendData has no VtepMAC');
  if (a.vni !== undefined && a.vni !== ctx.vni) return refuse('foreign', `VNI ${a.vni}, ours is ${ctx.vni}`);
  const peer: Peer = { name, podCIDRs: [subnets.v4], publicIP: a.publicIP, vtepMAC: a.vtepMAC };
  if (a.remoteChecksum) peer.remoteChecksum = true;
  if (ctx.v6 && subnets.v6) {
    if (!subnetFits(subnets.v6, ctx.v6)) {
      return refuse(
        'malformed',
        `subnet ${subnets.v6.toString()} is not a /${ctx.v6.len} of IPv6Network ${ctx.v6.network.toString()}`,
      );
    }
    if ((a.publicIPv6 === undefined) !== (a.vtepMACv6 === undefined)) {
      return refuse(
        'malformed',
        a.publicIPv6 ? 'PublicIPv6 is set but BackendV6Data is missing' : 'BackendV6Data is set but PublicIPv6 is null',
      );
    }
    peer.podCIDRs.push(subnets.v6);
    if (a.publicIPv6 && a.vtepMACv6) {
      peer.publicIPv6 = a.publicIPv6;
      peer.vtepMACv6 = a.vtepMACv6;
    }
  }
  return { ok: true, peer };
}
