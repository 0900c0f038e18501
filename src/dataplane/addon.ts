// Loads the native addon and gives it a type: the binding's shape. The only file where the addon's untyped surface
// is touched. Its Dataplane implements the engine-neutral interface of src/dataplane/types.ts, as the js engine
// does. Errors thrown by the addon for failed syscalls carry {code, syscall}; wrapNativeError turns them into
// DataplaneError.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from '../errors.js';
import type { Dataplane, DataplaneOptions, DataplanePeer, DataplanePolicy, DataplaneTable } from './types.js';

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
  update(upsert: DataplanePeer[], remove: string[]): void;
  /** Tests: the peers in table order. */
  peers(): { name: string; publicIP: string; vtepMAC: string }[];
  /** Tests: the receive-side map, public IP → peer name. */
  peerByIp(publicIP: string): string | null;
  /** Benchmarks: how many of the 4-byte IPv4 addresses in `addrs` match a peer. */
  lookupBatch(addrs: Uint8Array): number;
  /** Benchmarks: how many of the datagrams pass the receive checks. */
  classifyRxBatch(datagrams: Uint8Array[], srcIP: string, policy: DataplanePolicy): number;
  classifyTx(packet: Uint8Array): Classification;
  classifyRx(datagram: Uint8Array, srcIP: string, policy: DataplanePolicy): Classification;
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
  Dataplane: new (opts: DataplaneOptions) => Dataplane;
  TunDevice: new (name: string) => NativeTunDevice;
  Table: new (table: DataplaneTable) => NativeTableHandle;
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
