// Config file loading and validation (design.md, "Interface contract" → "Config file").
// The file is YAML 1.2 (core schema) or JSON. Every problem is a ConfigError whose `field` is the key path as the user
// wrote it (`port`, `peers.static[1].podCIDRs[0]`, `admin.listen`; `config` for the file as a whole) and whose message
// says what was expected and what was found. Unknown keys are errors at every level. Validation stops at the first
// error, checking keys in the order of the Config interface below.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { Peer } from '../peers/peer.js';
import { ConfigError } from '../errors.js';
import { Cidr } from '../net/cidr.js';
import { parseIP, type IP } from '../net/ip.js';
import { formatMac, isUnicast, macFromName, parseMac } from '../net/mac.js';
import { unusablePublicIP } from '../peers/conflicts.js';

export type OffloadMode = 'auto' | 'on' | 'off';

export interface KubernetesSource {
  /** Absent: in-cluster service account. */
  kubeconfig?: string;
  annotationPrefix: string;
}

export interface Config {
  nodeName: string;
  network: Cidr;
  ipv6Network?: Cidr;
  vni: number;
  port: number;
  device: string;
  mtu: number | 'auto';
  /**
   * Lowercase colon form, or 'auto' (reuse the one in our node annotation, else generate). In static mode this is
   * always resolved to the local node's entry in `peers.static`, since that is the MAC the other nodes send to.
   */
  vtepMAC: string | 'auto';
  underlay: { interface?: string; publicIP?: IP };
  peers: { kind: 'static'; static: Peer[] } | { kind: 'kubernetes'; kubernetes: KubernetesSource };
  dataplane: {
    engine: 'native' | 'js';
    workers: number | 'auto';
    offloads: { tso: OffloadMode; gro: OffloadMode; udpGso: OffloadMode; udpGro: OffloadMode };
  };
  security: { acceptUnknownVteps: boolean; checkInnerSource: boolean };
  admin: {
    /** TCP for /healthz, /readyz, /metrics only; null when "off". `host` is an IPv4/IPv6 literal (no brackets) or "localhost". */
    listen: { host: string; port: number } | null;
    /** The unix socket that also serves /status and /debug/pcap (mode 0600); null when "off". */
    socket: string | null;
  };
  /** null when off. */
  subnetFile: string | null;
  ipMasq: boolean;
}

/** What the defaults depend on. */
export interface ConfigEnv {
  NODE_NAME?: string;
  hostname: string;
}

export const DEFAULT_VNI = 1;
export const DEFAULT_PORT = 8472;
export const DEFAULT_DEVICE = 'vxtun0';
/**
 * The largest device MTU: a packet plus the 22-byte VXLAN + Ethernet prefix must fit one UDP datagram
 * (65,507 bytes over IPv4). The transmit loop cuts super-packets into datagrams of 22 + MTU bytes at most
 * (native/engine/tx_batch.cc); above this it could fit none.
 */
export const MAX_MTU = 65507 - 22;

/** `mtu: auto`: the underlay's MTU less the encapsulation overhead, capped at MAX_MTU (an underlay of 65,536 bytes, as
 * loopback has, would otherwise give a device MTU whose packets no UDP datagram can carry). */
export function autoMtu(underlayMtu: number, overhead: number): number {
  return Math.min(underlayMtu - overhead, MAX_MTU);
}
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9465';
export const DEFAULT_ADMIN_SOCKET = '/run/vxtun/vxtun.sock';
/** sun_path holds 108 bytes with the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

const TOP_KEYS = [
  'nodeName',
  'network',
  'ipv6Network',
  'vni',
  'port',
  'device',
  'mtu',
  'vtepMAC',
  'underlay',
  'peers',
  'dataplane',
  'security',
  'admin',
  'subnetFile',
  'ipMasq',
];
const MAX_PEER_CIDRS = 4;
const MAX_NAME = 253;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

// ---- reading helpers -------------------------------------------------------------------------------------------

function fail(field: string, message: string): never {
  throw new ConfigError(field, message);
}

/** How a found value is shown in a message. Strings that look like another scalar say so ("the string "1""). */
function describe(v: unknown): string {
  if (typeof v === 'string') {
    const shown = JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
    const looksScalar = (v.trim() !== '' && !Number.isNaN(Number(v))) || /^(?:true|false|null|~)$/i.test(v);
    return looksScalar ? `the string ${shown}` : shown;
  }
  if (v === null || v === undefined) return 'nothing (null)';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a mapping';
  return `a value of type ${typeof v}`;
}

const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Levenshtein distance, case-insensitive. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1));
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

/** The allowed key closest to `key`, if within edit distance 2. */
function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of allowed) {
    const d = editDistance(key, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

/** Checks that `v` is a mapping with only `allowed` keys; returns it keyed by string. */
function mapping(v: unknown, path: string, allowed: readonly string[]): Map<string, unknown> {
  const field = path === '' ? 'config' : path;
  if (!(v instanceof Map)) {
    fail(field, `expected a mapping${path === '' ? ' at the top level' : ''}, got ${describe(v)}`);
  }
  const out = new Map<string, unknown>();
  for (const [k, val] of v) {
    if (typeof k !== 'string') fail(field, `keys must be strings, got ${describe(k)}`);
    if (!allowed.includes(k)) {
      const s = suggest(k, allowed);
      fail(child(path, k), s === undefined ? 'unknown key' : `unknown key; did you mean '${s}'?`);
    }
    out.set(k, val);
  }
  return out;
}

function integer(v: unknown, field: string, min: number, max: number, alt = ''): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(field, `expected ${alt}an integer ${min}..${max}, got ${describe(v)}`);
  }
  return v;
}

function boolean(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(field, `expected true or false, got ${describe(v)}`);
  return v;
}

function nonEmptyString(v: unknown, field: string, what: string): string {
  if (typeof v !== 'string' || v === '') fail(field, `expected ${what}, got ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, options: readonly T[]): T {
  const found = options.find((o) => o === v);
  if (found === undefined) {
    const list = options.map((o) => `'${o}'`);
    fail(field, `expected ${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}, got ${describe(v)}`);
  }
  return found;
}

// ---- value types -----------------------------------------------------------------------------------------------

/** Linux interface name rules (dev_valid_name): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
function ifname(v: unknown, field: string): string {
  const what = 'an interface name (1..15 characters, no "/", ":" or whitespace)';
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const ok =
    v.length > 0 && Buffer.byteLength(v, 'utf8') <= 15 && v !== '.' && v !== '..' && !/[/:\s]/u.test(v);
  if (!ok) fail(field, `expected ${what}, got ${describe(v)}`);
  return v;
}

function cidr(v: unknown, field: string, family: 4 | 6): Cidr {
  const example = family === 4 ? '10.244.0.0/16' : 'fd10:244::/56';
  if (typeof v !== 'string') fail(field, `expected an IPv${family} CIDR like ${example}, got ${describe(v)}`);
  let c: Cidr;
  try {
    c = Cidr.parse(v);
  } catch (e) {
    fail(field, e instanceof Error ? e.message : String(e));
  }
  if (c.family !== family) fail(field, `expected an IPv${family} CIDR like ${example}, got ${describe(v)}`);
  return c;
}

/** A pod network: a CIDR of the given family that is not the whole address space (it is routed into the device). */
function podNetwork(v: unknown, field: string, family: 4 | 6): Cidr {
  const c = cidr(v, field, family);
  if (c.prefixLen === 0) fail(field, `${c.toString()} would route every address into the device`);
  return c;
}

/** An underlay address: IPv4 only for now, unicast. */
function underlayIP(v: unknown, field: string): IP {
  if (typeof v !== 'string') fail(field, `expected an IPv4 address like 192.168.99.1, got ${describe(v)}`);
  const ip = parseIP(v);
  if (ip === null) fail(field, `expected an IPv4 address like 192.168.99.1, got ${describe(v)}`);
  if (ip.family === 6) fail(field, `IPv6 underlay is not supported yet (got ${ip.text})`);
  const b0 = ip.bytes[0] ?? 0;
  if (ip.text === '0.0.0.0' || ip.text === '255.255.255.255' || (b0 & 0xf0) === 0xe0) {
    fail(field, `${ip.text} is not a unicast address`);
  }
  return ip;
}

function unicastMac(v: unknown, field: string, alt = ''): string {
  const what = `${alt}a unicast MAC like 0a:00:00:00:01:01`;
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const mac = parseMac(v);
  if (mac === null) fail(field, `expected ${what}, got ${describe(v)}`);
  if (!isUnicast(mac)) fail(field, `${v} is a multicast address; a VTEP MAC must be unicast (even first byte)`);
  return formatMac(mac);
}

/**
 * Parses a listen address "HOST:PORT" where HOST is an IPv4 literal, a bracketed IPv6 literal ("[::1]:9465") or
 * "localhost", and PORT is 1..65535; "off" gives null. Errors are ConfigErrors on `field` (e.g. "admin.listen", or a
 * command-line flag name).
 */
export function parseListenAddress(v: unknown, field: string): { host: string; port: number } | null {
  const what = `"HOST:PORT" (like ${DEFAULT_ADMIN_LISTEN} or [::1]:9465) or "off"`;
  if (v === 'off') return null;
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(v);
  if (m === null) fail(field, `expected ${what}, got ${describe(v)}`);
  const [, v6 = '', plain = '', portText = ''] = m;
  let host: string;
  if (m[1] !== undefined) {
    const ip = parseIP(v6);
    if (ip === null || ip.family !== 6) {
      fail(field, `expected an IPv6 address inside [brackets], got ${JSON.stringify(v6)}`);
    }
    host = ip.text;
  } else if (plain === 'localhost') {
    host = plain;
  } else {
    const ip = parseIP(plain);
    if (ip === null || ip.family !== 4) {
      fail(field, `expected an IPv4 address, [IPv6 address] or localhost before ":", got ${JSON.stringify(plain)}`);
    }
    host = ip.text;
  }
  const port = /^[1-9][0-9]{0,4}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) fail(field, `expected a port 1..65535 after ":", got ${JSON.stringify(portText)}`);
  return { host, port };
}

// ---- sections --------------------------------------------------------------------------------------------------

function nodeNameOf(v: unknown, env: ConfigEnv): string {
  const rule = `a non-empty string of at most ${MAX_NAME} characters`;
  if (v === undefined) {
    const fromEnv = env.NODE_NAME !== undefined && env.NODE_NAME !== '';
    const d = fromEnv ? env.NODE_NAME ?? '' : env.hostname;
    const origin = fromEnv ? '$NODE_NAME' : 'the hostname';
    if (d === '' || d.length > MAX_NAME) fail('nodeName', `not set, and ${origin} (${describe(d)}) is not ${rule}`);
    return d;
  }
  if (typeof v !== 'string' || v === '' || v.length > MAX_NAME) {
    fail('nodeName', `expected ${rule}, got ${describe(v)}`);
  }
  return v;
}

function underlayOf(v: unknown): Config['underlay'] {
  if (v === undefined) return {};
  const m = mapping(v, 'underlay', ['interface', 'publicIP']);
  const out: Config['underlay'] = {};
  if (m.has('interface')) out.interface = ifname(m.get('interface'), 'underlay.interface');
  if (m.has('publicIP')) out.publicIP = underlayIP(m.get('publicIP'), 'underlay.publicIP');
  return out;
}

interface CidrOwner {
  cidr: Cidr;
  peer: string;
  field: string;
}

function staticPeersOf(v: unknown, nodeName: string, network: Cidr, ipv6Network: Cidr | undefined): Peer[] {
  const path = 'peers.static';
  if (!Array.isArray(v)) {
    fail(path, `expected a list of peers ({name, podCIDR, publicIP, vtepMAC}), got ${describe(v)}`);
  }
  const entries: unknown[] = v;
  const names = new Map<string, string>();
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  const cidrs: CidrOwner[] = [];
  const peers: Peer[] = [];

  entries.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    const m = mapping(entry, at, ['name', 'podCIDR', 'podCIDRs', 'publicIP', 'vtepMAC']);

    if (!m.has('name')) fail(`${at}.name`, 'required');
    const name = m.get('name');
    if (typeof name !== 'string' || name === '' || name.length > MAX_NAME) {
      fail(`${at}.name`, `expected a non-empty string of at most ${MAX_NAME} characters, got ${describe(name)}`);
    }
    const sameName = names.get(name);
    if (sameName !== undefined) fail(`${at}.name`, `duplicate name ${describe(name)} (also ${sameName})`);
    names.set(name, `${at}.name`);

    // Pod CIDRs: exactly one of podCIDR (a string) and podCIDRs (a list).
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
    const podCIDRs = items.map(({ value, field }) => {
      if (typeof value !== 'string') fail(field, `expected a CIDR like 10.244.1.0/24, got ${describe(value)}`);
      let c: Cidr;
      try {
        c = Cidr.parse(value);
      } catch (e) {
        fail(field, e instanceof Error ? e.message : String(e));
      }
      const net = c.family === 4 ? network : ipv6Network;
      if (net === undefined) fail(field, `${c.toString()} is an IPv6 CIDR but ipv6Network is not set`);
      if (!net.contains(c.bytes) || c.prefixLen < net.prefixLen) {
        fail(field, `${c.toString()} is outside ${c.family === 4 ? 'network' : 'ipv6Network'} ${net.toString()}`);
      }
      const other = cidrs.find((o) => o.cidr.overlaps(c));
      if (other !== undefined) {
        fail(field, `${c.toString()} overlaps ${other.cidr.toString()} of ${other.peer} (${other.field})`);
      }
      cidrs.push({ cidr: c, peer: name, field });
      return c;
    });

    if (!m.has('publicIP')) fail(`${at}.publicIP`, 'required: the underlay address other nodes send to');
    const publicIP = underlayIP(m.get('publicIP'), `${at}.publicIP`);
    const unusable = unusablePublicIP(publicIP);
    if (unusable !== undefined) fail(`${at}.publicIP`, `${publicIP.text} is ${unusable}, not an address other nodes can send to`);
    const sameIP = ips.get(publicIP.text);
    if (sameIP !== undefined) fail(`${at}.publicIP`, `${publicIP.text} is also the publicIP of ${sameIP}`);
    ips.set(publicIP.text, name);

    const vtepMAC = m.has('vtepMAC') ? unicastMac(m.get('vtepMAC'), `${at}.vtepMAC`) : macFromName(name);
    const sameMac = macs.get(vtepMAC);
    if (sameMac !== undefined) fail(`${at}.vtepMAC`, `${vtepMAC} is also the vtepMAC of ${sameMac}`);
    macs.set(vtepMAC, name);

    peers.push({ name, podCIDRs, publicIP, vtepMAC });
  });

  if (!names.has(nodeName)) fail(path, `no entry named ${JSON.stringify(nodeName)} (nodeName)`);
  return peers;
}

function kubernetesOf(v: unknown): KubernetesSource {
  // `kubernetes:` with no value (YAML null) means all defaults (in-cluster, flannel's prefix).
  if (v === null) return { annotationPrefix: DEFAULT_ANNOTATION_PREFIX };
  const path = 'peers.kubernetes';
  const m = mapping(v, path, ['kubeconfig', 'annotationPrefix']);
  const out: KubernetesSource = { annotationPrefix: DEFAULT_ANNOTATION_PREFIX };
  if (m.has('kubeconfig')) out.kubeconfig = nonEmptyString(m.get('kubeconfig'), `${path}.kubeconfig`, 'a file path');
  if (m.has('annotationPrefix')) {
    const p = m.get('annotationPrefix');
    if (typeof p !== 'string' || p.length > MAX_NAME || !DNS_SUBDOMAIN.test(p)) {
      const what = `a DNS subdomain like ${DEFAULT_ANNOTATION_PREFIX}`;
      fail(`${path}.annotationPrefix`, `expected ${what}, got ${describe(p)}`);
    }
    out.annotationPrefix = p;
  }
  return out;
}

function peersOf(v: unknown, nodeName: string, network: Cidr, ipv6Network: Cidr | undefined): Config['peers'] {
  if (v === undefined) fail('peers', 'required: a static list or kubernetes');
  const m = mapping(v, 'peers', ['static', 'kubernetes']);
  const hasStatic = m.has('static');
  if (hasStatic === m.has('kubernetes')) {
    fail(
      'peers',
      hasStatic
        ? 'expected exactly one source, got both static and kubernetes'
        : 'expected exactly one source: static or kubernetes',
    );
  }
  if (hasStatic) return { kind: 'static', static: staticPeersOf(m.get('static'), nodeName, network, ipv6Network) };
  return { kind: 'kubernetes', kubernetes: kubernetesOf(m.get('kubernetes')) };
}

function offloadMode(v: unknown, field: string): OffloadMode {
  if (v === true) return 'on';
  if (v === false) return 'off';
  return oneOf(v, field, ['auto', 'on', 'off'] as const);
}

function dataplaneOf(v: unknown): Config['dataplane'] {
  const out: Config['dataplane'] = {
    engine: 'native',
    workers: 'auto',
    offloads: { tso: 'auto', gro: 'auto', udpGso: 'auto', udpGro: 'auto' },
  };
  if (v === undefined) return out;
  const m = mapping(v, 'dataplane', ['engine', 'workers', 'offloads']);
  if (m.has('engine')) out.engine = oneOf(m.get('engine'), 'dataplane.engine', ['native', 'js'] as const);
  if (m.has('workers')) {
    const w = m.get('workers');
    out.workers = w === 'auto' ? 'auto' : integer(w, 'dataplane.workers', 1, 64, "'auto' or ");
  }
  if (m.has('offloads')) {
    const keys = ['tso', 'gro', 'udpGso', 'udpGro'] as const;
    const o = mapping(m.get('offloads'), 'dataplane.offloads', keys);
    for (const k of keys) if (o.has(k)) out.offloads[k] = offloadMode(o.get(k), `dataplane.offloads.${k}`);
  }
  return out;
}

function securityOf(v: unknown): Config['security'] {
  const out = { acceptUnknownVteps: false, checkInnerSource: true };
  if (v === undefined) return out;
  const m = mapping(v, 'security', ['acceptUnknownVteps', 'checkInnerSource']);
  for (const k of ['acceptUnknownVteps', 'checkInnerSource'] as const) {
    if (m.has(k)) out[k] = boolean(m.get(k), `security.${k}`);
  }
  return out;
}

function adminOf(v: unknown): Config['admin'] {
  const m = v === undefined ? new Map<string, unknown>() : mapping(v, 'admin', ['listen', 'socket']);
  return {
    listen: parseListenAddress(m.has('listen') ? m.get('listen') : DEFAULT_ADMIN_LISTEN, 'admin.listen'),
    socket: parseSocketPath(m.has('socket') ? m.get('socket') : DEFAULT_ADMIN_SOCKET, 'admin.socket'),
  };
}

/**
 * A unix socket path: absolute, at most MAX_SOCKET_PATH_BYTES bytes (sun_path), no NUL, not a directory ("…/");
 * "off" gives null. Errors are ConfigErrors on `field` ("admin.socket", or a command-line flag name).
 */
export function parseSocketPath(v: unknown, field: string): string | null {
  if (v === 'off') return null;
  if (typeof v !== 'string' || !v.startsWith('/') || v.endsWith('/') || v.includes('\0')) {
    fail(field, `expected an absolute path of a unix socket (like ${DEFAULT_ADMIN_SOCKET}) or "off", got ${describe(v)}`);
  }
  const bytes = Buffer.byteLength(v);
  if (bytes > MAX_SOCKET_PATH_BYTES) fail(field, `a unix socket path has at most ${MAX_SOCKET_PATH_BYTES} bytes, got ${bytes}`);
  return v;
}

function subnetFileOf(v: unknown, kind: Config['peers']['kind']): string | null {
  if (v === undefined) return kind === 'kubernetes' ? DEFAULT_SUBNET_FILE : null;
  if (v === null || v === 'off') return null;
  if (typeof v !== 'string' || v === '' || v.includes('\0')) {
    fail('subnetFile', `expected a file path or "off", got ${describe(v)}`);
  }
  return v;
}

// ---- entry points ----------------------------------------------------------------------------------------------

/** Builds a Config from an already-parsed document (Maps for mappings, arrays for lists). */
function configFromValue(doc: unknown, env: ConfigEnv): Config {
  const m = mapping(doc, '', TOP_KEYS);
  const nodeName = nodeNameOf(m.get('nodeName'), env);
  if (!m.has('network')) fail('network', 'required: the cluster pod network, like 10.244.0.0/16');
  const network = podNetwork(m.get('network'), 'network', 4);
  const ipv6Network = m.has('ipv6Network') ? podNetwork(m.get('ipv6Network'), 'ipv6Network', 6) : undefined;
  const vni = m.has('vni') ? integer(m.get('vni'), 'vni', 1, 0xffffff) : DEFAULT_VNI;
  const port = m.has('port') ? integer(m.get('port'), 'port', 1, 65535) : DEFAULT_PORT;
  const device = m.has('device') ? ifname(m.get('device'), 'device') : DEFAULT_DEVICE;

  let mtu: Config['mtu'] = 'auto';
  if (m.has('mtu') && m.get('mtu') !== 'auto') {
    // IPv6 requires links of at least 1280 bytes (RFC 8200); IPv4 hosts must accept 576 (RFC 791).
    // At most MAX_MTU: every packet must fit one UDP datagram with the 22-byte VXLAN + Ethernet prefix.
    const v = m.get('mtu');
    const min = ipv6Network === undefined ? 576 : 1280;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_MTU) {
      const why = ipv6Network === undefined ? '' : ' (ipv6Network is set, and IPv6 needs 1280)';
      fail('mtu', `expected 'auto' or an integer ${min}..${MAX_MTU}${why}, got ${describe(v)}`);
    }
    mtu = v;
  }

  let vtepMAC: Config['vtepMAC'] = 'auto';
  if (m.has('vtepMAC') && m.get('vtepMAC') !== 'auto') vtepMAC = unicastMac(m.get('vtepMAC'), 'vtepMAC', "'auto' or ");

  const underlay = underlayOf(m.get('underlay'));
  const peers = peersOf(m.get('peers'), nodeName, network, ipv6Network);
  if (peers.kind === 'static') {
    // The other nodes address us with our entry's vtepMAC, so that is our device MAC.
    const self = peers.static.find((p) => p.name === nodeName);
    if (self !== undefined) {
      if (vtepMAC !== 'auto' && vtepMAC !== self.vtepMAC) {
        fail('vtepMAC', `${vtepMAC} differs from ${self.vtepMAC}, the vtepMAC of this node's entry in peers.static`);
      }
      vtepMAC = self.vtepMAC;
    }
  }

  const config: Config = {
    nodeName,
    network,
    vni,
    port,
    device,
    mtu,
    vtepMAC,
    underlay,
    peers,
    dataplane: dataplaneOf(m.get('dataplane')),
    security: securityOf(m.get('security')),
    admin: adminOf(m.get('admin')),
    subnetFile: subnetFileOf(m.get('subnetFile'), peers.kind),
    ipMasq: m.has('ipMasq') ? boolean(m.get('ipMasq'), 'ipMasq') : false,
  };
  if (ipv6Network !== undefined) config.ipv6Network = ipv6Network;
  return config;
}

/** "line L, column C" of a 0-based offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - (before.lastIndexOf('\n') + 1) + 1;
  return `line ${line}, column ${col}`;
}

/**
 * Parses and validates config text (YAML 1.2 or JSON). `source` names it in syntax-error messages (a file path).
 * Throws ConfigError: field 'config' for syntax errors and a non-mapping top level, else the offending key path.
 */
export function parseConfigText(text: string, source: string, env: ConfigEnv): Config {
  // logLevel 'error': yaml prints nothing at that level, yet still reports a second document as an error.
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: false,
    logLevel: 'error',
  });
  const err = doc.errors[0];
  if (err !== undefined) {
    const msg = err.code === 'MULTIPLE_DOCS' ? 'more than one YAML document' : (err.message.split('\n')[0] ?? '');
    throw new ConfigError('config', `cannot parse ${source}: ${msg} (${lineCol(text, err.pos[0])})`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError('config', `cannot parse ${source}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return configFromValue(value, env);
}

/** Reads and validates a config file. An unreadable file is ConfigError('config', "cannot read FILE: ENOENT: …"). */
export async function loadConfigFile(path: string, env: ConfigEnv): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError('config', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseConfigText(text, path, env);
}
