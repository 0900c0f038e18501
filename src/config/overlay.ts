// The config for one run once the peer source has said what it owns of the overlay (LocalNode.overlay: etcd's
// `<prefix>/config`). The source has already checked its values against the file's (FileOverlaySettings).
import type { OverlaySettings } from '../peers/peer-source.js';
import type { Config } from './types.js';

export function settledConfig(config: Config, overlay: OverlaySettings | undefined): Config {
  if (overlay === undefined) return config;
  const out: Config = {
    ...config,
    network: overlay.network,
    vni: overlay.vni,
    port: overlay.port,
    mtu: overlay.mtu,
    dataplane: { ...config.dataplane, directRouting: config.dataplane.directRouting || overlay.directRouting },
  };
  if (overlay.ipv6Network !== undefined) out.ipv6Network = overlay.ipv6Network;
  else delete out.ipv6Network;
  return out;
}
