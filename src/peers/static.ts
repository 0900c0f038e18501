// The static peer source: the list from the config file, delivered once.
import type { Peer, PeerSource } from './peer-source.js';

export function staticPeerSource(peers: readonly Peer[]): PeerSource {
  return {
    kind: 'static',
    run(signal, onSnapshot) {
      onSnapshot([...peers]);
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    },
  };
}
