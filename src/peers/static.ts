// The static peer source: the list from the config file, delivered once.
import { ConfigError } from '../errors.js';
import { AbortedError, type Peer, type PeerSource } from './peer-source.js';

export function staticPeerSource(peers: readonly Peer[], nodeName: string): PeerSource {
  return {
    kind: 'static',
    async local(signal) {
      if (signal.aborted) throw new AbortedError();
      const own = peers.find((p) => p.name === nodeName);
      if (!own) throw new ConfigError('peers.static', `no entry named "${nodeName}" (nodeName)`);
      return { podCIDRs: own.podCIDRs, vtepMAC: own.vtepMAC, address: { ip: own.publicIP, field: 'peers.static' } };
    },
    run(signal, _self, onSnapshot) {
      onSnapshot([...peers]);
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    },
    state: () => ({ connected: true, nodes: peers.length, skipped: 0 }),
  };
}
