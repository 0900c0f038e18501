// The `underlay` section: which interface and address the VXLAN socket uses (both optional: the route to the peers
// decides otherwise), and the one-family rule that ties it to the static peers' public IPs.
import type { Peer } from '../peers/peer.js';
import { fail, mapping } from './readers.js';
import type { Config } from './types.js';
import { ifname, underlayIP } from './values.js';

export function underlayOf(v: unknown): Config['underlay'] {
  if (v === undefined) return {};
  const m = mapping(v, 'underlay', ['interface', 'publicIP']);
  const out: Config['underlay'] = {};
  if (m.has('interface')) out.interface = ifname(m.get('interface'), 'underlay.interface');
  if (m.has('publicIP')) out.publicIP = underlayIP(m.get('publicIP'), 'underlay.publicIP');
  return out;
}

/**
 * The underlay is one address family (README "Configuration", `underlay`): every static peer's publicIP has the
 * family of this node's underlay, which is `underlay.publicIP`'s when set, else this node's own entry's. A
 * ConfigError names the first entry (`peers.static[i].publicIP`) of the other family.
 */
export function checkUnderlayFamily(underlay: Config['underlay'], peers: readonly Peer[], nodeName: string): void {
  const self = peers.find((p) => p.name === nodeName);
  const own = underlay.publicIP ?? self?.publicIP;
  if (own === undefined) return;
  const from = underlay.publicIP !== undefined ? 'underlay.publicIP' : `this node's entry`;
  peers.forEach((p, i) => {
    if (p.publicIP.family === own.family) return;
    fail(
      `peers.static[${i}].publicIP`,
      `${p.publicIP.text} is IPv${p.publicIP.family} but this node's underlay is IPv${own.family} (${from} ${own.text}); ` +
        'all public IPs must be of one family',
    );
  });
}

/**
 * The Kubernetes source reads and writes IPv4 `public-ip` annotations only (dual-stack and IPv6 nodes come with
 * issue 17's flannel annotations): an IPv6 underlay.publicIP there is refused rather than advertised to nodes that
 * would skip it.
 */
export function checkKubernetesUnderlay(underlay: Config['underlay']): void {
  const ip = underlay.publicIP;
  if (ip?.family === 6) {
    fail(
      'underlay.publicIP',
      `${ip.text}: an IPv6 underlay needs peers.static for now (peers.kubernetes is IPv4 only)`,
    );
  }
}
