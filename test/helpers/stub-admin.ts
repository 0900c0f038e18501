// A real admin server (src/admin/server.ts) for CLI tests that need no dataplane: it serves a generated Status with any
// number of peers and a capture source that hands out ready packet blocks (made by src/dump/pcapng.ts's reference
// writer), so `vxtun status` and `vxtun dump` can be run against it as against a daemon.
import { startAdminSocket, type AdminServer } from '../../src/admin/server.js';
import { createCaptureHub, type CaptureRecord, type CaptureSource } from '../../src/dump/capture.js';
import { silentLogger } from '../../src/log.js';
import { recordBlock } from '../../src/dump/pcapng.js';
import type { Status } from '../../src/admin/status.js';
import { DROP_REASONS } from '../../src/dataplane/codec.js';
import { sampleStatus, zeroCounters } from './status-fixture.js';

/** The reasons the stub's pcap stream names: the daemon's own list. */
export const STUB_REASONS: readonly string[] = DROP_REASONS;

/** A Status as the daemon builds it, with `peers` peers (10.<hi>.<lo>.0/24 pod CIDRs, 192.168.<hi>.<lo> VTEPs). */
export function bigStatus(peers: number): Status {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return sampleStatus({
    node: 'node-0',
    publicIP: '192.168.0.1',
    vtepMAC: '0a:00:00:00:00:01',
    podCIDRs: ['10.0.0.0/24'],
    peers: Array.from({ length: peers }, (_, k) => {
      const [hi, lo] = [1 + (k >> 8), k & 255];
      return {
        name: `node-${k + 1}`,
        podCIDRs: [`10.${hi}.${lo}.0/24`],
        publicIP: `192.168.${hi}.${lo}`,
        vtepMAC: `0a:00:00:00:${hex(hi)}:${hex(lo)}`,
      };
    }),
    counters: {
      ...zeroCounters(),
      txPackets: 1,
      txBytes: 2,
      rxPackets: 3,
      rxBytes: 4,
      drops: Object.fromEntries(STUB_REASONS.map((r) => [r, 0])),
    },
  });
}

/** `packets` captured records (an ICMP packet padded to `size` bytes), handed out as fast as they are read. */
export function stubCaptureSource(packets: number, size = 1000): CaptureSource {
  const packet = Buffer.alloc(size);
  Buffer.from('4500000000004000400100000af401020af402020800f7ff00000000', 'hex').copy(packet);
  packet.writeUInt16BE(size, 2);
  const block = (i: number) => {
    const r: CaptureRecord = {
      tsNs: 1_000_000_000n + BigInt(i),
      dir: 'tx',
      verdict: 'forward',
      peer: 'node-2',
      vtep: '192.168.0.2',
      worker: 0,
      prefix: null,
      packet,
      origLen: size,
    };
    return recordBlock(r);
  };
  const sessions = new Map<number, number>(); // id → records handed out
  let next = 1;
  return {
    captureStart: () => (sessions.set(next, 0), next++),
    captureStop: (id) => sessions.delete(id),
    captureRead: (id, into, maxRecords) => {
      let done = sessions.get(id);
      if (done === undefined) return { bytes: 0, records: 0 };
      let bytes = 0;
      let records = 0;
      while (done < packets && records < maxRecords) {
        const b = block(done);
        if (bytes + b.length > into.length) break;
        into.set(b, bytes);
        bytes += b.length;
        records++;
        done++;
      }
      sessions.set(id, done);
      return { bytes, records };
    },
    captureStats: (id) => (sessions.has(id) ? { matched: sessions.get(id)!, dropped: 0 } : null),
  };
}

/** An admin server on the unix socket `socket` serving bigStatus(peers) and stubCaptureSource(packets). */
export function startStubAdmin(socket: string, o: { peers: number; packets: number }): Promise<AdminServer> {
  const status = bigStatus(o.peers);
  const hub = createCaptureHub(stubCaptureSource(o.packets));
  const outer = () => ({ publicIP: '192.168.0.1', port: 8472, vni: 1 });
  return startAdminSocket(
    socket,
    { status: () => status, ready: () => true, pcap: { hub, outer, device: 'vxtun0', reasons: STUB_REASONS } },
    silentLogger,
  );
}
