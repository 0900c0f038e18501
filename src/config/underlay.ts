// The `underlay` section: which interface and addresses the VXLAN sockets use (all optional: the route to the peers
// decides otherwise; publicIPv6 makes the node dual-stack), and the family rule that ties it to the static peers'
// endpoints.
import type { Peer } from '../peers/peer.js';
import { fail, mapping } from './readers.js';
import type { Config } from './types.js';
import { ifname, underlayIP } from './values.js';

export function underlayOf(v: unknown): Config['underlay'] {
  if (v === undefined) return {};
  const m = mapping(v, 'underlay', ['interface', 'publicIP', 'publicIPv6']);
  const out: Config['underlay'] = {};
  if (m.has('interface')) out.interface = ifname(m.get('interface'), 'underlay.interface');
  if (m.has('publicIP')) out.publicIP = underlayIP(m.get('publicIP'), 'underlay.publicIP');
  if (m.has('publicIPv6')) {
    out.publicIPv6 = underlayIP(m.get('publicIPv6'), 'underlay.publicIPv6', true);
    if (out.publicIP?.family === 6) {
      fail(
        'underlay.publicIP',
        `${out.publicIP.text} is IPv6, but with underlay.publicIPv6 set underlay.publicIP is the IPv4 address`,
      );
    }
  }
  return out;
}

/**
 * The underlay's families (README "Configuration", `underlay` and dual-stack): both when this node is dual-stack
 * (underlay.publicIPv6, or a publicIPv6 in this node's entry), else the family of underlay.publicIP, else of this
 * node's entry. Every static peer must have an endpoint (publicIP or publicIPv6) of one of those families; a
 * ConfigError names the first entry that has none (`peers.static[i].publicIP`). Also refused: a dual-stack own entry
 * with an IPv6 underlay.publicIP, and underlay.publicIPv6 while this node's entry has no publicIPv6 (other nodes
 * would drop what it sends from that address as an unknown VTEP).
 */
export function checkUnderlayFamily(underlay: Config['underlay'], peers: readonly Peer[], nodeName: string): void {
  const self = peers.find((p) => p.name === nodeName);
  if (self?.publicIPv6 !== undefined && underlay.publicIP?.family === 6) {
    fail(
      'underlay.publicIP',
      `${underlay.publicIP.text} is IPv6, but this node's entry in peers.static is dual-stack ` +
        `(${self.publicIP.text}, ${self.publicIPv6.text}): underlay.publicIP is then its IPv4 address`,
    );
  }
  if (underlay.publicIPv6 !== undefined && self !== undefined && self.publicIPv6 === undefined) {
    fail(
      'underlay.publicIPv6',
      `${underlay.publicIPv6.text}: this node's entry in peers.static has no publicIPv6, so other nodes would drop ` +
        'what it sends from that address; give the entry publicIPv6 and vtepMACv6',
    );
  }
  if (underlay.publicIPv6 !== undefined || self?.publicIPv6 !== undefined) return; // dual-stack: every peer has a family of ours
  const own = underlay.publicIP ?? self?.publicIP;
  if (own === undefined) return;
  const from = underlay.publicIP !== undefined ? 'underlay.publicIP' : `this node's entry`;
  peers.forEach((p, i) => {
    if (p.publicIP.family === own.family || (own.family === 6 && p.publicIPv6 !== undefined)) return;
    fail(
      `peers.static[${i}].publicIP`,
      `${p.publicIP.text} is IPv${p.publicIP.family} but this node's underlay is IPv${own.family} (${from} ${own.text}); ` +
        'every peer needs an endpoint of a family this node has',
    );
  });
}
