// The static peer source: the list from the config file, delivered once. Config validation already refuses
// overlapping pod CIDRs, shared public IPs and MACs and unusable public IPs (src/peers/static-config.ts); conflict resolution
// runs here too (src/peers/conflicts.ts), since only run() knows our VTEP MAC, and a source never hands the table
// a peer the kubernetes source would leave out.
import { ConfigError } from '../errors.js';
import { clip, silentLogger, type Logger } from '../log.js';
import { describeConflict, resolveConflicts } from './conflicts.js';
import { AbortedError, type Peer, type PeerConflict, type PeerSource } from './peer-source.js';

export function staticPeerSource(peers: readonly Peer[], nodeName: string, logger: Logger = silentLogger): PeerSource {
  let conflicts: PeerConflict[] = [];
  return {
    kind: 'static',
    async local(signal) {
      if (signal.aborted) throw new AbortedError();
      const own = peers.find((p) => p.name === nodeName);
      if (!own) throw new ConfigError('peers.static', `no entry named "${nodeName}" (nodeName)`);
      const address = { ip: own.publicIP, field: 'peers.static' };
      const v6 = own.publicIPv6 ? { address6: { ip: own.publicIPv6, field: 'peers.static' } } : {};
      return { podCIDRs: own.podCIDRs, vtepMAC: own.vtepMAC, address, ...v6 };
    },
    run(signal, self, onSnapshot) {
      const r = resolveConflicts(peers, { self: nodeName, selfMAC: self.vtepMAC });
      conflicts = r.conflicts.map((c) => ({
        node: c.peer,
        holder: c.holder,
        reason: clip(describeConflict(c)),
      }));
      for (const c of conflicts) logger.warn('node skipped: conflicting', { node: c.node, reason: c.reason });
      onSnapshot(r.peers);
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    },
    state: () => ({
      connected: true,
      nodes: peers.length,
      skipped: conflicts.length,
      ...(conflicts.length > 0 ? { conflicts } : {}),
    }),
  };
}
