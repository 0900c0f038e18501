// Loads the native addon and gives it a type. The only file where the addon's untyped surface is
// touched; everything else imports these interfaces. Errors thrown by the addon for failed
// syscalls carry {code, syscall}; wrapNativeError turns them into DataplaneError.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaptureSessionOptions } from '../dump/capture.js';
import { DataplaneError } from '../errors.js';

/** The forwarding table handed to the addon: remote peers and the local node's pod CIDRs. */
export interface NativeTable {
  local: string[];
  peers: { name: string; publicIP: string; vtepMAC: string; cidrs: string[] }[];
}

export interface NativePolicy {
  vni: number;
  vtepMAC: string;
  acceptUnknownVteps: boolean;
  checkInnerSource: boolean;
}

export interface NativeOpenOptions extends NativePolicy {
  device: string;
  workers: number;
  port: number;
  bindIP: string;
  /** The TUN device's MTU; received TCP packets larger than this are segmented. */
  mtu: number;
}

export type DropCounts = Record<string, number>;

export interface NativeStats {
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  /** Received packets whose partial inner TCP/UDP checksum was completed (native/checksum.h). */
  rxCsumCompleted: number;
  /** Received TCP super-packets larger than the MTU that were segmented (native/segment.h). */
  rxSuperSplit: number;
  /** Received packets merged into another packet's GSO write to the TUN. */
  rxCoalesced: number;
  /** TSO super-packets read from the TUN and split into datagrams. */
  txTsoSplit: number;
  /** Datagrams the kernel dropped at the receive sockets (buffer full) before vxtun read them (native engine only). */
  rxSocketDrops?: number;
  /** The offloads in use now (UDP GSO can turn itself off after a failed send). */
  offloads: OffloadFlags;
  txDrops: DropCounts;
  rxDrops: DropCounts;
  /** Capture records lost because a capture ring was full, all captures since start (native engine only). */
  captureDropped?: number;
  /** Packets that passed a capture's filter, all captures since start (native engine only). */
  captureMatched?: number;
  /** Captures running now (native engine only). */
  captureSessions?: number;
}

/** Kernel offloads (design.md "Performance approach"); each is probed at start. */
export interface OffloadFlags {
  /** TSO reads from the TUN (split in userspace into UDP datagrams). */
  tso: boolean;
  /** TCP coalescing into GSO writes to the TUN. */
  gro: boolean;
  /** UDP_SEGMENT sends. */
  udpGso: boolean;
  /** UDP_GRO receives. */
  udpGro: boolean;
}

export interface NativeDataplane {
  readonly workers: number;
  /**
   * Probes the wanted offloads, starts the worker threads with those that work, and returns them.
   * Call after the device is up. onFatal is called (on the JS thread) if a loop dies.
   */
  start(onFatal: (message: string) => void, want: OffloadFlags): OffloadFlags;
  /** Publishes a new table atomically; lookups never wait. */
  setTable(table: NativeTable): void;
  /**
   * The incremental verbs: the current table without the peers named in `remove` and with `upsert` in place of (or
   * added to) the peers of the same names. Throws (table unchanged) when the result would be invalid, like setTable.
   * Optional: a dataplane without it gets whole tables.
   */
  updatePeers?(upsert: NativeTable['peers'], remove: string[]): void;
  stats(): NativeStats;
  /** Stops and joins the threads, closes the sockets and the device. Idempotent. */
  close(): void;
  /**
   * Packet capture (native engine only; src/dump/capture.ts drives it). Each session filters in the loops, keeps matching
   * packets in its own bounded rings and is drained as ready pcapng packet blocks (native/capture.h).
   */
  captureStart?(o: CaptureSessionOptions): number;
  captureStop?(id: number): boolean;
  /** Writes whole pcapng packet blocks into `into` (reused by the caller) and says how many bytes and packets. */
  captureRead?(id: number, into: Uint8Array, maxRecords: number): { bytes: number; records: number };
  captureStats?(id: number): { matched: number; dropped: number } | null;
}

/** A capture record as native/capture.h stores it (captureEpb's input). */
export interface NativeCaptureRecord {
  tsNs: bigint;
  origLen: number;
  dropsBefore: number;
  dir: 0 | 1;
  verdict: number;
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
  update(upsert: NativeTable['peers'], remove: string[]): void;
  /** Tests: the peers in table order. */
  peers(): { name: string; publicIP: string; vtepMAC: string }[];
  /** Tests: the receive-side map, public IP → peer name. */
  peerByIp(publicIP: string): string | null;
  /** Benchmarks: how many of the 4-byte IPv4 addresses in `addrs` match a peer. */
  lookupBatch(addrs: Uint8Array): number;
  /** Benchmarks: how many of the datagrams pass the receive checks. */
  classifyRxBatch(datagrams: Uint8Array[], srcIP: string, policy: NativePolicy): number;
  classifyTx(packet: Uint8Array): Classification;
  classifyRx(datagram: Uint8Array, srcIP: string, policy: NativePolicy): Classification;
}

/** The `js` engine's TUN device: the addon moves bytes, TypeScript does the rest. */
export interface NativeTunDevice {
  /** Starts the reader thread: batches of packets arrive in onPackets (on the JS thread). */
  start(onPackets: (packets: Buffer[]) => void, onFatal: (message: string) => void): void;
  /** Writes one packet into the device; false when the kernel refused it. */
  write(packet: Uint8Array): boolean;
  /** Batches the reader dropped because JavaScript fell behind. */
  dropped(): number;
  close(): void;
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

export interface NativeBinding {
  Dataplane: new (opts: NativeOpenOptions) => NativeDataplane;
  TunDevice: new (name: string) => NativeTunDevice;
  Table: new (table: NativeTable) => NativeTableHandle;
  encap(packet: Uint8Array, vni: number, dstMac: string, srcMac: string): Buffer;
  /** Splits a TCP packet into segments of at most `mss` payload bytes; null if it cannot be split. */
  segmentTcp(packet: Uint8Array, mss: number): Buffer[] | null;
  /** Test export: one TSO packet through the transmit loop's scattered read with layout {h, mss} (native/tso.h). */
  tsoScatter(packet: Uint8Array, mss: number, h: number): { capture: Buffer; segments: Buffer[] | null; unscattered: Buffer | null } | null;
  /** Benchmarks: writes the 22-byte prefix in place into each buffer (22 bytes headroom + packet). */
  encapBatch(bufs: Uint8Array[], vni: number, dstMac: string, srcMac: string): number;
  /** Benchmarks: plans the transmit split of a TSO super-packet; returns the segment count. */
  tsoPlan(packet: Uint8Array, mss: number): number;
  /**
   * Benchmarks: plans the receive-side coalescing of inner packets; returns the TUN write count. `outerVerified`:
   * the packets came in a UDP GRO train (native/gro.h RxPkt).
   */
  groPlan(packets: Uint8Array[], mtu: number, outerVerified?: boolean): number;
  /** Tests: the TUN writes planned for copies of the packets (native/gro.h PlanTunWrites; the inputs are not changed). */
  groWrites(packets: Uint8Array[], mtu: number, outerVerified: boolean, coalesce?: boolean): NativeGroWrite[];
  /** Checks an IP packet's TCP/UDP checksum and completes a partial one in place. */
  completeChecksum(packet: Uint8Array): 'not-applicable' | 'valid' | 'completed' | 'bad';
  /** Tests: the folded one's-complement sum by one implementation (native/checksum.h); null when the CPU lacks it. */
  onesSum(bytes: Uint8Array, impl: 'auto' | 'scalar' | 'avx2'): number | null;
  /**
   * Tests: decodes a compiled `vxtun dump` filter (compileDumpFilter, src/dump/filter.ts) and matches one packet
   * (dir 0 tx / 1 rx, verdict 0 forward / k dropReasons[k-1], peer '' when unknown). Throws TypeError on a bad program.
   */
  captureFilterMatch(program: Uint8Array, dir: number, verdict: number, peer: string, packet: Uint8Array): boolean;
  /** Tests: one capture record as the daemon writes it into a pcapng stream (native/pcapng_epb.h). */
  captureEpb(record: NativeCaptureRecord, outer?: { publicIP: string; port: number; vni: number }): Buffer;
  /** The drop reasons, in the addon's order. */
  dropReasons: string[];
}

let cached: NativeBinding | undefined;

/**
 * Loads build/Release (then build/Debug) vxtun.node; the error lists every path tried. VXTUN_NATIVE_ADDON, when
 * set, is the only path tried (the sanitizer build, native/sanitize/run.sh, is loaded that way).
 */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tried: string[] = [];
  const override = process.env['VXTUN_NATIVE_ADDON'];
  for (const p of override ? [override] : ['build/Release/vxtun.node', 'build/Debug/vxtun.node']) {
    const full = path.resolve(root, p);
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      cached = require(full) as any as NativeBinding;
      return cached;
    } catch (err) {
      tried.push(`${full}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new DataplaneError(`cannot load the native addon (run npm ci / npm run build); tried ${tried.join('; ')}`);
}

/** Converts an addon error into the project's taxonomy. */
export function wrapNativeError(err: unknown): Error {
  const e = err as Error & { code?: string; syscall?: string };
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new DataplaneError(e.message, e.code, e.syscall);
  }
  return e instanceof Error ? e : new Error(String(err));
}
