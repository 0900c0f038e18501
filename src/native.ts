// Loads the native addon and gives it a type. The only file where the addon's untyped surface is
// touched; everything else imports these interfaces. Errors thrown by the addon for failed
// syscalls carry {code, syscall}; wrapNativeError turns them into DataplaneError.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from './errors.js';

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
  txDrops: DropCounts;
  rxDrops: DropCounts;
}

export interface NativeDataplane {
  readonly workers: number;
  /** Starts the worker threads; onFatal is called (on the JS thread) if a loop dies. */
  start(onFatal: (message: string) => void): void;
  /** Publishes a new table atomically; lookups never wait. */
  setTable(table: NativeTable): void;
  stats(): NativeStats;
  /** Stops and joins the threads, closes the sockets and the device. Idempotent. */
  close(): void;
}

export interface Classification {
  verdict: string;
  peer: string | null;
  length: number;
}

export interface NativeTableHandle {
  lookup(ip: string): string | null;
  classifyTx(packet: Uint8Array): Classification;
  classifyRx(datagram: Uint8Array, srcIP: string, policy: NativePolicy): Classification;
}

export interface NativeBinding {
  Dataplane: new (opts: NativeOpenOptions) => NativeDataplane;
  Table: new (table: NativeTable) => NativeTableHandle;
  encap(packet: Uint8Array, vni: number, dstMac: string, srcMac: string): Buffer;
  /** Splits a TCP packet into segments of at most `mss` payload bytes; null if it cannot be split. */
  segmentTcp(packet: Uint8Array, mss: number): Buffer[] | null;
  /** Checks an IP packet's TCP/UDP checksum and completes a partial one in place. */
  completeChecksum(packet: Uint8Array): 'not-applicable' | 'valid' | 'completed' | 'bad';
  /** The drop reasons, in the addon's order. */
  dropReasons: string[];
}

let cached: NativeBinding | undefined;

/** Loads build/Release (then build/Debug) vxtun.node; the error lists every path tried. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tried: string[] = [];
  for (const p of ['build/Release/vxtun.node', 'build/Debug/vxtun.node']) {
    const full = path.join(root, p);
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
