// The whole config document: the top-level keys in the order of the Config interface (src/config/types.ts), each
// section by its own parser. Validation stops at the first error; unknown keys are errors at every level.
import { adminOf } from './admin.js';
import { dataplaneOf, settleRemoteChecksum } from './dataplane.js';
import { handoverOf } from './handover.js';
import type { FileOverlaySettings } from '../peers/etcd-section.js';
import { peersOf, sourceKind } from './peers.js';
import { boolean, describe, fail, integer, mapping } from './readers.js';
import { securityOf } from './security.js';
import { subnetFileOf } from './subnet-file.js';
import {
  DEFAULT_DEVICE,
  DEFAULT_PORT,
  DEFAULT_VNI,
  MAX_MTU,
  MAX_NAME,
  UNSETTLED_NETWORK,
  type Config,
  type ConfigEnv,
} from './types.js';
import { checkUnderlayFamily, underlayOf } from './underlay.js';
import { ifname, podNetwork, unicastMac } from './values.js';

/** The top-level keys a config file may have. */
export const TOP_KEYS = [
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
  'handover',
  'subnetFile',
  'ipMasq',
];

/** Absent: $NODE_NAME, else the hostname. */
function nodeNameOf(v: unknown, env: ConfigEnv): string {
  const rule = `a non-empty string of at most ${MAX_NAME} characters`;
  if (v === undefined) {
    const fromEnv = env.NODE_NAME !== undefined && env.NODE_NAME !== '';
    const d = fromEnv ? (env.NODE_NAME ?? '') : env.hostname;
    const origin = fromEnv ? '$NODE_NAME' : 'the hostname';
    if (d === '' || d.length > MAX_NAME) fail('nodeName', `not set, and ${origin} (${describe(d)}) is not ${rule}`);
    return d;
  }
  if (typeof v !== 'string' || v === '' || v.length > MAX_NAME) {
    fail('nodeName', `expected ${rule}, got ${describe(v)}`);
  }
  return v;
}

function mtuOf(v: unknown, ipv6: boolean): Config['mtu'] {
  if (v === undefined || v === 'auto') return 'auto';
  // IPv6 requires links of at least 1280 bytes (RFC 8200); IPv4 hosts must accept 576 (RFC 791).
  // At most MAX_MTU: every packet must fit one UDP datagram with the 22-byte VXLAN + Ethernet prefix.
  const min = ipv6 ? 1280 : 576;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_MTU) {
    const why = ipv6 ? ' (ipv6Network is set, and IPv6 needs 1280)' : '';
    fail('mtu', `expected 'auto' or an integer ${min}..${MAX_MTU}${why}, got ${describe(v)}`);
  }
  return v;
}

/** Builds a Config from an already-parsed document (Maps for mappings, arrays for lists). */
export function configFromValue(doc: unknown, env: ConfigEnv): Config {
  const m = mapping(doc, '', TOP_KEYS);
  const nodeName = nodeNameOf(m.get('nodeName'), env);
  // In etcd mode the network may come from `<prefix>/config` alone (src/peers/etcd-network.ts).
  const etcdMode = sourceKind(m.get('peers')) === 'etcd';
  if (!m.has('network') && !etcdMode) fail('network', 'required: the cluster pod network, like 10.244.0.0/16');
  const network = m.has('network') ? podNetwork(m.get('network'), 'network', 4) : UNSETTLED_NETWORK;
  const ipv6Network = m.has('ipv6Network') ? podNetwork(m.get('ipv6Network'), 'ipv6Network', 6) : undefined;
  const vni = m.has('vni') ? integer(m.get('vni'), 'vni', 1, 0xffffff) : DEFAULT_VNI;
  const port = m.has('port') ? integer(m.get('port'), 'port', 1, 65535) : DEFAULT_PORT;
  const device = m.has('device') ? ifname(m.get('device'), 'device') : DEFAULT_DEVICE;
  const mtu = mtuOf(m.has('mtu') ? m.get('mtu') : undefined, ipv6Network !== undefined);

  let vtepMAC: Config['vtepMAC'] = 'auto';
  if (m.has('vtepMAC') && m.get('vtepMAC') !== 'auto') vtepMAC = unicastMac(m.get('vtepMAC'), 'vtepMAC', "'auto' or ");

  const underlay = underlayOf(m.get('underlay'));
  const file: FileOverlaySettings = {};
  if (m.has('network')) file.network = network;
  if (ipv6Network !== undefined) file.ipv6Network = ipv6Network;
  if (m.has('vni')) file.vni = vni;
  if (m.has('port')) file.port = port;
  if (mtu !== 'auto') file.mtu = mtu;
  const peers = peersOf(m.get('peers'), nodeName, { network, ipv6Network }, file);
  const self = peers.kind === 'static' ? peers.static.find((p) => p.name === nodeName) : undefined;
  if (peers.kind === 'static') {
    checkUnderlayFamily(underlay, peers.static, nodeName);
    // The other nodes address us with our entry's vtepMAC, so that is our device MAC.
    if (self !== undefined) {
      if (vtepMAC !== 'auto' && vtepMAC !== self.vtepMAC) {
        fail('vtepMAC', `${vtepMAC} differs from ${self.vtepMAC}, the vtepMAC of this node's entry in peers.static`);
      }
      vtepMAC = self.vtepMAC;
    }
  }

  const section = dataplaneOf(m.get('dataplane'));
  const dataplane = { ...section, remoteChecksum: settleRemoteChecksum(section, peers, self) };
  const admin = adminOf(m.get('admin'));
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
    dataplane,
    security: securityOf(m.get('security')),
    admin,
    handover: handoverOf(m.get('handover'), admin.socket),
    subnetFile: subnetFileOf(m.get('subnetFile'), peers.kind),
    ipMasq: m.has('ipMasq') ? boolean(m.get('ipMasq'), 'ipMasq') : false,
  };
  if (ipv6Network !== undefined) config.ipv6Network = ipv6Network;
  return config;
}
