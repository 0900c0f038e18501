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
  /** Received packets whose partial inner TCP/UDP checksum was completed (native/core/checksum.h). */
  rxCsumCompleted: number;
  /** Received TCP super-packets larger than the MTU that were segmented (native/core/segment.h). */
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
   * packets in its own bounded rings and is drained as ready pcapng packet blocks (native/engine/capture.h).
   */
  captureStart?(o: CaptureSessionOptions): number;
  captureStop?(id: number): boolean;
  /** Writes whole pcapng packet blocks into `into` (reused by the caller) and says how many bytes and packets. */
  captureRead?(id: number, into: Uint8Array, maxRecords: number): { bytes: number; records: number };
  captureStats?(id: number): { matched: number; dropped: number } | null;
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

export interface NativeBinding {
  Dataplane: new (opts: NativeOpenOptions) => NativeDataplane;
  TunDevice: new (name: string) => NativeTunDevice;
  /** The drop reasons, in the addon's order. */
  dropReasons: string[];
}

let cached: NativeBinding | undefined;

/**
 * Loads build/Release (then build/Debug) vxtun.node, the production addon (native/node/module.cc); the error lists
 * every path tried. VXTUN_NATIVE_ADDON, when set, is the only path tried (the sanitizer build,
 * native/sanitize/run.sh, is loaded that way). Tests and benches load the test addon with loadTestingAddon
 * (src/dataplane/testing.ts).
 */
export function loadNative(): NativeBinding {
  cached ??= requireAddon<NativeBinding>('vxtun.node', 'VXTUN_NATIVE_ADDON');
  return cached;
}

/**
 * Requires build/Release/<file> (then build/Debug/<file>), or only the path in the environment variable `override`
 * when it is set; throws a DataplaneError listing every path tried.
 */
export function requireAddon<T>(file: string, override: string): T {
  const require = createRequire(import.meta.url);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tried: string[] = [];
  const only = process.env[override];
  for (const p of only ? [only] : [`build/Release/${file}`, `build/Debug/${file}`]) {
    const full = path.resolve(root, p);
    try {
      return require(full) as T;
    } catch (err) {
      tried.push(`${full}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new DataplaneError(`cannot load the native addon ${file} (run npm ci / npm run build); tried ${tried.join('; ')}`);
}

/** Converts an addon error into the project's taxonomy. */
export function wrapNativeError(err: unknown): Error {
  const e = err as Error & { code?: string; syscall?: string };
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new DataplaneError(e.message, e.code, e.syscall);
  }
  return e instanceof Error ? e : new Error(String(err));
}
