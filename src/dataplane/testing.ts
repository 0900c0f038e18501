// The test addon, build/Release/vxtun_testing.node (native/testing/module.cc): the pure native functions the
// differential tests (test/native), the micro benchmarks (src/bench/micro-cases.ts) and the fuzz corpus generator
// (native/fuzz/make-corpus.ts) call. The daemon never loads it: the production addon (src/dataplane/addon.ts)
// exports only what src/ uses.
import { requireAddon } from './addon.js';
import type { DataplanePeer, DataplanePolicy, DataplaneTable } from './types.js';

/** A capture record as native/core/capture_record.h lays it out (captureEpb's input). */
export interface NativeCaptureRecord {
  tsNs: bigint;
  origLen: number;
  dropsBefore: number;
  dir: 0 | 1;
  verdict: number;
  /** An IPv4 or IPv6 address, or 'none' (a transmit drop without a peer). */
  vtep: string;
  worker: number;
  /** data starts with the 22-byte VXLAN + Ethernet prefix. */
  hasPrefix: boolean;
  peer: string;
  data: Uint8Array;
}

export interface Classification {
  verdict: string;
  peer: string | null;
  length: number;
}

export interface NativeTableHandle {
  lookup(ip: string): string | null;
  /** Replaces this handle's table with the incremental update of it (Dataplane.updatePeers' semantics). */
  update(upsert: DataplanePeer[], remove: string[]): void;
  /** Tests: the peers in table order (a dual-stack peer with its second endpoint). */
  peers(): { name: string; publicIP: string; vtepMAC: string; publicIPv6?: string; vtepMACv6?: string }[];
  /**
   * Tests: the endpoint native/core/fdb.h ChooseEndpoint picks for a packet of inner family `family` to the named
   * peer from a node with an IPv4 (have4) and/or IPv6 (have6) underlay; null for none (or no such peer).
   */
  chooseEndpoint(peer: string, family: 4 | 6, have4: boolean, have6: boolean): { ip: string; mac: string } | null;
  /** Tests: the receive-side map, endpoint address (either endpoint) → peer name. */
  peerByIp(publicIP: string): string | null;
  /** Benchmarks: how many of the 4-byte IPv4 addresses in `addrs` match a peer. */
  lookupBatch(addrs: Uint8Array): number;
  /** Benchmarks: how many of the datagrams pass the receive checks. */
  classifyRxBatch(datagrams: Uint8Array[], srcIP: string, policy: DataplanePolicy): number;
  classifyTx(packet: Uint8Array): Classification;
  classifyRx(datagram: Uint8Array, srcIP: string, policy: DataplanePolicy): Classification;
}

/** One planned TUN write (groWrites): its virtio-net header and the bytes it gathers after it. */
export interface NativeGroWrite {
  kind: 'plain' | 'gso' | 'split';
  /** The index of its first packet; it covers packets first .. first + segments − 1. */
  first: number;
  segments: number;
  vnet: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number };
  /** The packet written (for 'split', the packet the receive loop segments before writing). */
  bytes: Buffer;
}

export interface TestingBinding {
  /** A standalone forwarding table (native/testing/table_wrap.h), built as setTable builds one. */
  Table: new (table: DataplaneTable) => NativeTableHandle;
  encap(packet: Uint8Array, vni: number, dstMac: string, srcMac: string): Buffer;
  /** Splits a TCP packet into segments of at most `mss` payload bytes; null if it cannot be split. */
  segmentTcp(packet: Uint8Array, mss: number): Buffer[] | null;
  /** One TSO packet through the transmit loop's scattered read with layout {h, mss} (native/core/tso.h). */
  tsoScatter(
    packet: Uint8Array,
    mss: number,
    h: number,
  ): { capture: Buffer; segments: Buffer[] | null; unscattered: Buffer | null } | null;
  /** Benchmarks: writes the 22-byte prefix in place into each buffer (22 bytes headroom + packet). */
  encapBatch(bufs: Uint8Array[], vni: number, dstMac: string, srcMac: string): number;
  /** Benchmarks: plans the transmit split of a TSO super-packet; returns the segment count. */
  tsoPlan(packet: Uint8Array, mss: number): number;
  /**
   * Benchmarks: plans the receive-side coalescing of inner packets; returns the TUN write count. `outerVerified`:
   * the packets came in a UDP GRO train (native/core/gro.h RxPkt).
   */
  groPlan(packets: Uint8Array[], mtu: number, outerVerified?: boolean): number;
  /** Tests: the TUN writes planned for copies of the packets (native/core/gro.h PlanTunWrites; the inputs are not changed). */
  groWrites(packets: Uint8Array[], mtu: number, outerVerified: boolean, coalesce?: boolean): NativeGroWrite[];
  /** Checks an IP packet's TCP/UDP checksum and completes a partial one in place. */
  completeChecksum(packet: Uint8Array): 'not-applicable' | 'valid' | 'completed' | 'bad';
  /** Tests: the folded one's-complement sum by one implementation (native/core/checksum.h); null when the CPU lacks it. */
  onesSum(bytes: Uint8Array, impl: 'auto' | 'scalar' | 'avx2'): number | null;
  /**
   * Tests: decodes a compiled `vxtun dump` filter (compileDumpFilter, src/dump/filter.ts) and matches one packet
   * (dir 0 tx / 1 rx, verdict 0 forward / k dropReasons[k-1], peer '' when unknown). Throws TypeError on a bad program.
   */
  captureFilterMatch(program: Uint8Array, dir: number, verdict: number, peer: string, packet: Uint8Array): boolean;
  /** Tests: one capture record as the daemon writes it into a pcapng stream (native/core/pcapng_epb.h). */
  captureEpb(
    record: NativeCaptureRecord,
    outer?: { publicIP: string; publicIPv6?: string; port: number; vni: number },
  ): Buffer;
  /** The drop reasons, in the addon's order (the same list as the production addon's). */
  dropReasons: string[];
}

let cached: TestingBinding | undefined;

/**
 * Loads build/Release (then build/Debug) vxtun_testing.node; the error lists every path tried. VXTUN_TESTING_ADDON,
 * when set, is the only path tried (native/sanitize/run.sh loads its instrumented build that way).
 */
export function loadTestingAddon(): TestingBinding {
  cached ??= requireAddon<TestingBinding>('vxtun_testing.node', 'VXTUN_TESTING_ADDON');
  return cached;
}
