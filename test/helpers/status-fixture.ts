// A Status document as the daemon builds it (src/admin/status.ts), for tests that format or serve one: every field
// present, counters zero, overridable per test.
import type { Status } from '../../src/admin/status.js';
import { perOffload } from '../../src/dataplane/offloads.js';

/** Every counter zero, no drop reasons listed. */
export function zeroCounters(): Status['counters'] {
  return {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    txErrors: 0,
    rxErrors: 0,
    drops: {},
    offload: {
      tsoSplit: 0,
      coalesced: 0,
      csumCompleted: 0,
      superSplit: 0,
      remoteChecksumSent: 0,
      remoteChecksumReceived: 0,
    },
  };
}

/** node-1 on 192.168.99.1 with 10.244.1.0/24, no peers, every offload on, zero counters; `over` replaces fields. */
export function sampleStatus(over: Partial<Status> = {}): Status {
  return {
    node: 'node-1',
    device: 'vxtun0',
    mtu: 1450,
    vni: 1,
    port: 8472,
    publicIP: '192.168.99.1',
    vtepMAC: '02:00:00:00:00:01',
    podCIDRs: ['10.244.1.0/24'],
    engine: 'native',
    workers: 2,
    offloads: perOffload(() => 'on'),
    peers: [],
    ready: true,
    version: 'test',
    counters: zeroCounters(),
    ...over,
  };
}
