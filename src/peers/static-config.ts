// The config's `peers.static` section: the list of nodes, this one included, each a Peer (src/peers/peer.ts). Besides
// each entry's own fields it refuses what would make the forwarding table ambiguous: duplicate names, public IPs and
// VTEP MACs, pod CIDRs outside the cluster networks or overlapping another's, and public IPs other nodes cannot send
// to (src/peers/conflicts.ts). A dual-stack entry adds publicIPv6 (publicIP is then IPv4) and
// vtepMACv6 (default: its vtepMAC), and remoteChecksum: true when the node accepts remote checksum offload. The list must hold an entry named after this node, whose vtepMACv6, when given, is its vtepMAC (a vxtun node
// has one VTEP MAC for both underlays).
import { boolean, describe, fail, mapping } from '../config/readers.js';
import { MAX_NAME } from '../config/types.js';
import { anyCidr, underlayIP, unicastMac } from '../config/values.js';
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';
import { macFromName } from '../net/mac.js';
import { unusablePublicIP } from './conflicts.js';
import type { Peer } from './peer.js';

const MAX_PEER_CIDRS = 4;
const ENTRY_KEYS = ['name', 'podCIDR', 'podCIDRs', 'publicIP', 'vtepMAC', 'publicIPv6', 'vtepMACv6', 'remoteChecksum'];

interface CidrOwner {
  cidr: Cidr;
  peer: string;
  field: string;
}

/** What the whole list must not repeat, filled entry by entry; each value names the entry that has it ("publicIP of b"). */
interface Seen {
  names: Map<string, string>;
  ips: Map<string, string>;
  macs: Map<string, string>;
  cidrs: CidrOwner[];
}

/** The networks pod CIDRs must lie in. */
export interface PodNetworks {
  network: Cidr;
  ipv6Network: Cidr | undefined;
}

export function staticPeersOf(v: unknown, nodeName: string, nets: PodNetworks): Peer[] {
  const path = 'peers.static';
  if (!Array.isArray(v)) {
    fail(path, `expected a list of peers ({name, podCIDR, publicIP, vtepMAC}), got ${describe(v)}`);
  }
  const entries: unknown[] = v;
  const seen: Seen = { names: new Map(), ips: new Map(), macs: new Map(), cidrs: [] };
  const peers = entries.map((entry, i) => peerOf(entry, `${path}[${i}]`, nets, seen));
  if (!seen.names.has(nodeName)) fail(path, `no entry named ${JSON.stringify(nodeName)} (nodeName)`);
  const i = peers.findIndex((p) => p.name === nodeName);
  const self = peers[i];
  if (self?.vtepMACv6 !== undefined && self.vtepMACv6 !== self.vtepMAC) {
    fail(
      `${path}[${i}].vtepMACv6`,
      `${self.vtepMACv6} differs from this node's vtepMAC ${self.vtepMAC}: a vxtun node has one VTEP MAC for both underlays`,
    );
  }
  return peers;
}

function peerOf(entry: unknown, at: string, nets: PodNetworks, seen: Seen): Peer {
  const m = mapping(entry, at, ENTRY_KEYS);

  if (!m.has('name')) fail(`${at}.name`, 'required');
  const name = m.get('name');
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME) {
    fail(`${at}.name`, `expected a non-empty string of at most ${MAX_NAME} characters, got ${describe(name)}`);
  }
  const sameName = seen.names.get(name);
  if (sameName !== undefined) fail(`${at}.name`, `duplicate name ${describe(name)} (also ${sameName})`);
  seen.names.set(name, `${at}.name`);

  const podCIDRs = podCIDRsOf(m, at, name, nets, seen.cidrs);

  if (!m.has('publicIP')) fail(`${at}.publicIP`, 'required: the underlay address other nodes send to');
  const publicIP = underlayIP(m.get('publicIP'), `${at}.publicIP`);
  const unusable = unusablePublicIP(publicIP);
  if (unusable !== undefined)
    fail(`${at}.publicIP`, `${publicIP.text} is ${unusable}, not an address other nodes can send to`);
  const sameIP = seen.ips.get(publicIP.text);
  if (sameIP !== undefined) fail(`${at}.publicIP`, `${publicIP.text} is also the ${sameIP}`);
  seen.ips.set(publicIP.text, `publicIP of ${name}`);

  const vtepMAC = m.has('vtepMAC') ? unicastMac(m.get('vtepMAC'), `${at}.vtepMAC`) : macFromName(name);
  const sameMac = seen.macs.get(vtepMAC);
  if (sameMac !== undefined) fail(`${at}.vtepMAC`, `${vtepMAC} is also the vtepMAC of ${sameMac}`);
  seen.macs.set(vtepMAC, name);

  const peer: Peer = { name, podCIDRs, publicIP, vtepMAC };
  const v6 = v6EndpointOf(m, at, publicIP, vtepMAC, seen, name);
  if (v6 !== undefined) {
    peer.publicIPv6 = v6.ip;
    peer.vtepMACv6 = v6.mac;
  }
  if (m.has('remoteChecksum') && boolean(m.get('remoteChecksum'), `${at}.remoteChecksum`)) peer.remoteChecksum = true;
  return peer;
}

/**
 * A dual-stack entry's IPv6 endpoint: publicIPv6 (publicIP then IPv4) and vtepMACv6, which defaults to the entry's
 * vtepMAC (a vxtun node has one MAC for both underlays; a kernel node has one per device).
 */
function v6EndpointOf(
  m: Map<string, unknown>,
  at: string,
  publicIP: IP,
  vtepMAC: string,
  seen: Seen,
  name: string,
): { ip: IP; mac: string } | undefined {
  if (!m.has('publicIPv6')) {
    if (m.has('vtepMACv6')) fail(`${at}.vtepMACv6`, 'given without publicIPv6 (the endpoint it is the MAC of)');
    return undefined;
  }
  const field = `${at}.publicIPv6`;
  const ip = underlayIP(m.get('publicIPv6'), field, true);
  if (publicIP.family !== 4) {
    fail(field, `a dual-stack entry's publicIP is its IPv4 address, got ${publicIP.text} (publicIP)`);
  }
  const unusable = unusablePublicIP(ip);
  if (unusable !== undefined) fail(field, `${ip.text} is ${unusable}, not an address other nodes can send to`);
  const sameIP = seen.ips.get(ip.text);
  if (sameIP !== undefined) fail(field, `${ip.text} is also the ${sameIP}`);
  seen.ips.set(ip.text, `publicIPv6 of ${name}`);
  const mac = m.has('vtepMACv6') ? unicastMac(m.get('vtepMACv6'), `${at}.vtepMACv6`) : vtepMAC;
  const sameMac = seen.macs.get(mac);
  if (sameMac !== undefined && sameMac !== name) fail(`${at}.vtepMACv6`, `${mac} is also a VTEP MAC of ${sameMac}`);
  seen.macs.set(mac, name);
  return { ip, mac };
}

/** Exactly one of podCIDR (a string) and podCIDRs (a list of 1..MAX_PEER_CIDRS), each inside its family's network. */
function podCIDRsOf(m: Map<string, unknown>, at: string, name: string, nets: PodNetworks, owners: CidrOwner[]): Cidr[] {
  if (m.has('podCIDR') === m.has('podCIDRs')) {
    fail(at, m.has('podCIDR') ? 'give podCIDR or podCIDRs, not both' : 'podCIDR or podCIDRs is required');
  }
  let items: { value: unknown; field: string }[];
  if (m.has('podCIDR')) {
    items = [{ value: m.get('podCIDR'), field: `${at}.podCIDR` }];
  } else {
    const list = m.get('podCIDRs');
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PEER_CIDRS) {
      const got = !Array.isArray(list) ? describe(list) : list.length === 0 ? 'an empty list' : `${list.length}`;
      fail(`${at}.podCIDRs`, `expected a list of 1..${MAX_PEER_CIDRS} CIDRs, got ${got}`);
    }
    const values: unknown[] = list;
    items = values.map((value, k) => ({ value, field: `${at}.podCIDRs[${k}]` }));
  }
  return items.map(({ value, field }) => {
    const c = anyCidr(value, field, '10.244.1.0/24');
    const net = c.family === 4 ? nets.network : nets.ipv6Network;
    if (net === undefined) fail(field, `${c.toString()} is an IPv6 CIDR but ipv6Network is not set`);
    if (!net.contains(c.bytes) || c.prefixLen < net.prefixLen) {
      fail(field, `${c.toString()} is outside ${c.family === 4 ? 'network' : 'ipv6Network'} ${net.toString()}`);
    }
    const other = owners.find((o) => o.cidr.overlaps(c));
    if (other !== undefined) {
      fail(field, `${c.toString()} overlaps ${other.cidr.toString()} of ${other.peer} (${other.field})`);
    }
    owners.push({ cidr: c, peer: name, field });
    return c;
  });
}
