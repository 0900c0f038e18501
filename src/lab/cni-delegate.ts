// What the flannel CNI plugin hands to its delegate (the `bridge` plugin on a kube-flannel node), rendered from a
// node's subnet.env by the plugin's rules. Pure: text in, objects and JSON out. The lab (lab.ts) runs the
// real `bridge` + `host-local` plugins with this config (cni.ts), so its pods are made as a node's are.
//
// The rules (flannel's CNI plugin, ADD):
//   name       = the network name of the plugin's own config (kube-flannel: "cbr0"); a delegate with a name is refused
//   type       = the delegate's, else "bridge"
//   ipMasq     = the delegate's, else NOT FLANNEL_IPMASQ ("if the node does not masquerade, the bridge must")
//   mtu        = the delegate's, else FLANNEL_MTU
//   isGateway  = the delegate's, else true when type is "bridge"
//   cniVersion = the plugin config's, when it has one (it wins over the delegate's)
//   ipam       = the plugin config's `ipam` (a delegate with ipam is refused), type "host-local" unless it names
//                one, `ranges` replaced by one range per family (FLANNEL_SUBNET, then FLANNEL_IPV6_SUBNET, as network
//                addresses), `routes` = its own routes followed by one route to each network (IPv4, then IPv6)
//   runtimeConfig = the plugin config's, when it has one
// The plugin serialises the delegate as a Go map, so its keys come out sorted at every level: canonicalJson does
// the same, and the saved file is byte for byte what the plugin would save.
//
// kube-flannel's conflist (KUBE_FLANNEL_NETCONF) gives the delegate {hairpinMode: true, isDefaultGateway: true}.
import { ConfigError } from '../errors.js';
import { Cidr } from '../net/cidr.js';

/** A parsed subnet.env (src/device/subnet-file.ts writes it, flanneld writes the same). */
export interface FlannelSubnetEnv {
  /** FLANNEL_NETWORK: IPv4 networks (a comma-separated list; repeats dropped). Empty when absent. */
  networks: Cidr[];
  /** FLANNEL_SUBNET as a network ("10.244.1.1/24" → 10.244.1.0/24). */
  subnet?: Cidr;
  /** FLANNEL_IPV6_NETWORK. Empty when absent. */
  ipv6Networks: Cidr[];
  /** FLANNEL_IPV6_SUBNET as a network. */
  ipv6Subnet?: Cidr;
  /** FLANNEL_MTU. */
  mtu: number;
  /** FLANNEL_IPMASQ: whether the node itself masquerades traffic that leaves the cluster network. */
  ipMasq: boolean;
}

/** The flannel plugin's own config, as it appears in a conflist's plugin entry. */
export interface FlannelNetConf {
  /** The network name: becomes the delegate's `name` (and host-local's directory name). */
  name: string;
  cniVersion?: string;
  /** Keys given to the delegate as they are (may not hold `name` or `ipam`). */
  delegate?: Readonly<Record<string, unknown>>;
  /** Completed into the delegate's ipam (e.g. `{dataDir: …}` to keep host-local's state elsewhere). */
  ipam?: Readonly<Record<string, unknown>>;
  runtimeConfig?: Readonly<Record<string, unknown>>;
}

/** The flannel plugin entry of kube-flannel's `10-flannel.conflist` (network "cbr0", CNI 0.3.1). */
export const KUBE_FLANNEL_NETCONF: FlannelNetConf = Object.freeze({
  name: 'cbr0',
  cniVersion: '0.3.1',
  delegate: Object.freeze({ hairpinMode: true, isDefaultGateway: true }),
});

const KEYS = [
  'FLANNEL_NETWORK',
  'FLANNEL_SUBNET',
  'FLANNEL_IPV6_NETWORK',
  'FLANNEL_IPV6_SUBNET',
  'FLANNEL_MTU',
  'FLANNEL_IPMASQ',
] as const;
type Key = (typeof KEYS)[number];

function cidrOf(key: Key, text: string, family: 4 | 6): Cidr {
  let c: Cidr;
  try {
    c = Cidr.parse(text.trim(), { strict: false });
  } catch (err) {
    throw new ConfigError(key, (err as Error).message);
  }
  if (c.family !== family) throw new ConfigError(key, `expected an IPv${family} CIDR, got ${JSON.stringify(text)}`);
  return c;
}

function networksOf(key: Key, text: string, family: 4 | 6): Cidr[] {
  const out: Cidr[] = [];
  for (const part of text.split(',')) {
    const c = cidrOf(key, part, family);
    if (!out.some((o) => o.equals(c))) out.push(c);
  }
  return out;
}

/**
 * Parses subnet.env text. Strict where the plugin is lenient: every known key at most once, each value well formed
 * (CIDRs of the right family, MTU 68…65535, IPMASQ exactly true or false), each subnet inside one of its networks,
 * and at least one complete family. Unknown keys and blank lines are ignored, as the plugin ignores them. Throws
 * ConfigError whose field is the offending key.
 */
export function parseSubnetEnv(text: string): FlannelSubnetEnv {
  const seen = new Map<Key, string>();
  text.split('\n').forEach((raw, n) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(`subnet.env line ${n + 1}`, `expected KEY=VALUE, got ${JSON.stringify(line)}`);
    const key = line.slice(0, eq) as Key;
    if (!KEYS.includes(key)) return;
    if (seen.has(key)) throw new ConfigError(key, 'appears more than once');
    seen.set(key, line.slice(eq + 1));
  });

  const get = (k: Key): string | undefined => seen.get(k);
  const networks =
    get('FLANNEL_NETWORK') === undefined ? [] : networksOf('FLANNEL_NETWORK', get('FLANNEL_NETWORK')!, 4);
  const ipv6Networks =
    get('FLANNEL_IPV6_NETWORK') === undefined
      ? []
      : networksOf('FLANNEL_IPV6_NETWORK', get('FLANNEL_IPV6_NETWORK')!, 6);
  const subnet = get('FLANNEL_SUBNET') === undefined ? undefined : cidrOf('FLANNEL_SUBNET', get('FLANNEL_SUBNET')!, 4);
  const ipv6Subnet =
    get('FLANNEL_IPV6_SUBNET') === undefined
      ? undefined
      : cidrOf('FLANNEL_IPV6_SUBNET', get('FLANNEL_IPV6_SUBNET')!, 6);

  const pair = (netKey: Key, nets: Cidr[], subKey: Key, sub: Cidr | undefined): boolean => {
    if (nets.length === 0 && sub === undefined) return false;
    if (nets.length === 0) throw new ConfigError(netKey, `missing (${subKey} is set)`);
    if (sub === undefined) throw new ConfigError(subKey, `missing (${netKey} is set)`);
    if (!nets.some((nw) => nw.prefixLen <= sub.prefixLen && nw.contains(sub.bytes))) {
      throw new ConfigError(subKey, `${sub.toString()} is not inside ${netKey} (${nets.join(',')})`);
    }
    return true;
  };
  const v4 = pair('FLANNEL_NETWORK', networks, 'FLANNEL_SUBNET', subnet);
  const v6 = pair('FLANNEL_IPV6_NETWORK', ipv6Networks, 'FLANNEL_IPV6_SUBNET', ipv6Subnet);
  if (!v4 && !v6) {
    throw new ConfigError(
      'FLANNEL_NETWORK',
      'missing: need FLANNEL_NETWORK + FLANNEL_SUBNET or FLANNEL_IPV6_NETWORK + FLANNEL_IPV6_SUBNET',
    );
  }

  const mtuText = get('FLANNEL_MTU');
  if (mtuText === undefined) throw new ConfigError('FLANNEL_MTU', 'missing');
  const mtu = /^[0-9]{1,5}$/.test(mtuText) ? Number(mtuText) : NaN;
  if (!(mtu >= 68 && mtu <= 65535))
    throw new ConfigError('FLANNEL_MTU', `expected an MTU 68…65535, got ${JSON.stringify(mtuText)}`);

  const masqText = get('FLANNEL_IPMASQ');
  if (masqText === undefined) throw new ConfigError('FLANNEL_IPMASQ', 'missing');
  if (masqText !== 'true' && masqText !== 'false') {
    throw new ConfigError('FLANNEL_IPMASQ', `expected true or false, got ${JSON.stringify(masqText)}`);
  }

  return {
    networks,
    ipv6Networks,
    ...(subnet ? { subnet } : {}),
    ...(ipv6Subnet ? { ipv6Subnet } : {}),
    mtu,
    ipMasq: masqText === 'true',
  };
}

const has = (o: Readonly<Record<string, unknown>>, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The delegate config the flannel plugin passes to its delegate on ADD (rules at the top of this file), with its
 * keys sorted at every level. Throws ConfigError naming the offending field of `conf`.
 */
export function renderDelegate(env: FlannelSubnetEnv, conf: FlannelNetConf): Record<string, unknown> {
  if (typeof conf.name !== 'string' || conf.name === '')
    throw new ConfigError('name', 'expected the network name (like "cbr0")');
  const given = conf.delegate ?? {};
  if (!isPlainObject(given)) throw new ConfigError('delegate', 'expected a mapping');
  if (has(given, 'type') && typeof given['type'] !== 'string') {
    throw new ConfigError('delegate.type', "'delegate' dictionary, if present, must have (string) 'type' field");
  }
  if (has(given, 'name'))
    throw new ConfigError('delegate.name', "'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  if (has(given, 'ipam'))
    throw new ConfigError('delegate.ipam', "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");

  const d: Record<string, unknown> = { ...given };
  if (conf.runtimeConfig !== undefined) d['runtimeConfig'] = conf.runtimeConfig;
  d['name'] = conf.name;
  if (!has(d, 'type')) d['type'] = 'bridge';
  if (!has(d, 'ipMasq')) d['ipMasq'] = !env.ipMasq;
  if (!has(d, 'mtu')) d['mtu'] = env.mtu;
  if (d['type'] === 'bridge' && !has(d, 'isGateway')) d['isGateway'] = true;
  if (conf.cniVersion) d['cniVersion'] = conf.cniVersion;
  d['ipam'] = renderIpam(env, conf.ipam);
  return sortKeys(d) as Record<string, unknown>;
}

function renderIpam(
  env: FlannelSubnetEnv,
  given: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  if (given !== undefined && !isPlainObject(given)) throw new ConfigError('ipam', 'expected a mapping');
  const ipam: Record<string, unknown> = { ...given };
  if (!has(ipam, 'type')) ipam['type'] = 'host-local';
  ipam['ranges'] = [env.subnet, env.ipv6Subnet]
    .filter((s): s is Cidr => s !== undefined)
    .map((s) => [{ subnet: s.toString() }]);
  const routes: unknown[] = [];
  if (has(ipam, 'routes')) {
    const r = ipam['routes'];
    if (!Array.isArray(r) || !r.every((x) => isPlainObject(x) && typeof x['dst'] === 'string')) {
      throw new ConfigError('ipam.routes', 'expected a list of {dst, gw?}');
    }
    routes.push(...r);
  }
  for (const nw of [...env.networks, ...env.ipv6Networks]) routes.push({ dst: nw.toString() });
  ipam['routes'] = routes;
  return ipam;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
  return out;
}

/** JSON with the keys of every object sorted (what Go's encoding/json makes of a map): the plugin's bytes. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}
