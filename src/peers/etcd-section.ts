// The config's `peers.etcd` section (README "etcd mode"): where etcd is (endpoints, TLS, user), and the key prefix of
// flannel's layout. The network itself comes from `<prefix>/config` (src/peers/etcd-network.ts); what the rest of the
// config file sets explicitly is kept beside it (FileOverlaySettings) so a contradiction names both.
import { describe, fail, mapping, nonEmptyString } from '../config/readers.js';
import type { Cidr } from '../net/cidr.js';

export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
/** flanneld's default endpoints. */
export const DEFAULT_ETCD_ENDPOINTS = ['http://127.0.0.1:2379'];

export interface EtcdSection {
  /** http:// or https:// URLs with host and port, no path. */
  endpoints: string[];
  /** Starts with '/', no trailing '/'. */
  prefix: string;
  /** File paths (PEM); cert and key together; ca alone verifies the server only. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** etcd's own authentication; username and password together. */
  auth?: { username: string; password: string };
}

/** The overlay values the config file set itself; in etcd mode `<prefix>/config` settles the rest. */
export interface FileOverlaySettings {
  network?: Cidr;
  ipv6Network?: Cidr;
  vni?: number;
  port?: number;
  mtu?: number;
}

const URL_RE = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})\/?$/;
const PREFIX_RE = /^(?:\/[A-Za-z0-9._-]+)+$/;

function endpointOf(v: unknown, field: string): string {
  const what = 'a URL like http://10.0.0.5:2379';
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const m = URL_RE.exec(v);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) fail(field, `expected ${what}, got ${describe(v)}`);
  return v.replace(/\/$/, '');
}

export function etcdOf(v: unknown): EtcdSection {
  const path = 'peers.etcd';
  // `etcd:` with no value (YAML null) means all defaults (flanneld's endpoint and prefix).
  if (v === null) return { endpoints: [...DEFAULT_ETCD_ENDPOINTS], prefix: DEFAULT_ETCD_PREFIX };
  const m = mapping(v, path, ['endpoints', 'prefix', 'tls', 'username', 'password']);
  const out: EtcdSection = { endpoints: [...DEFAULT_ETCD_ENDPOINTS], prefix: DEFAULT_ETCD_PREFIX };
  if (m.has('endpoints')) {
    const e = m.get('endpoints');
    const list = typeof e === 'string' ? [e] : e;
    if (!Array.isArray(list) || list.length === 0 || list.length > 16) {
      fail(`${path}.endpoints`, `expected a list of 1..16 URLs like http://10.0.0.5:2379, got ${describe(e)}`);
    }
    out.endpoints = list.map((x, i) => endpointOf(x, `${path}.endpoints[${i}]`));
  }
  if (m.has('prefix')) {
    const p = m.get('prefix');
    if (typeof p !== 'string' || p.length > 200 || !PREFIX_RE.test(p)) {
      fail(`${path}.prefix`, `expected a key prefix like ${DEFAULT_ETCD_PREFIX} (no trailing /), got ${describe(p)}`);
    }
    out.prefix = p;
  }
  if (m.has('tls')) {
    const t = mapping(m.get('tls'), `${path}.tls`, ['ca', 'cert', 'key']);
    const tls: NonNullable<EtcdSection['tls']> = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      if (t.has(k)) tls[k] = nonEmptyString(t.get(k), `${path}.tls.${k}`, 'a file path');
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      fail(`${path}.tls.${tls.cert === undefined ? 'cert' : 'key'}`, 'cert and key go together');
    }
    out.tls = tls;
  }
  if (m.has('username') !== m.has('password')) {
    fail(`${path}.${m.has('username') ? 'password' : 'username'}`, 'username and password go together');
  }
  if (m.has('username')) {
    out.auth = {
      username: nonEmptyString(m.get('username'), `${path}.username`, 'a user name'),
      password: nonEmptyString(m.get('password'), `${path}.password`, 'a password'),
    };
  }
  const https = out.endpoints.some((e) => e.startsWith('https:'));
  if (out.tls && !https) fail(`${path}.tls`, 'set, but no endpoint is https://');
  return out;
}
