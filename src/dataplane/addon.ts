// Loads the native addon and gives it a type: the binding's shape. The only file where the addon's untyped surface
// is touched. Its Dataplane implements the engine-neutral interface of src/dataplane/types.ts, as the js engine
// does. Errors thrown by the addon for failed syscalls carry {code, syscall}; wrapNativeError turns them into
// DataplaneError.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from '../errors.js';
import type { Dataplane, DataplaneHandover, DataplaneOptions } from './types.js';

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

/**
 * Unix stream sockets that carry fds (SCM_RIGHTS), for the handover (src/handover/). Every call is blocking with a
 * timeout (poll); failures throw errors with {code, syscall} (wrapNativeError), a timeout with code ETIMEDOUT.
 * Fds received are close-on-exec.
 */
export interface NativeFdPassing {
  /** Connects to the unix stream socket at `path`; returns the connected fd (ENOENT / ECONNREFUSED when none listens). */
  connect(path: string, timeoutMs: number): number;
  /** Writes all of `data`. */
  send(fd: number, data: Uint8Array, timeoutMs: number): void;
  /** Sends `fds` (copies: the caller keeps its own), at most 250 per message, each message one 0x0a byte. */
  sendFds(fd: number, fds: number[], timeoutMs: number): void;
  /**
   * One read of at most `maxBytes`: the bytes (empty at end of stream) and the fds that came with them (a message
   * whose fds did not all fit is an error: EMSGSIZE, and those that came are closed).
   */
  recv(fd: number, maxBytes: number, timeoutMs: number): { data: Buffer; fds: number[] };
  /** The connected peer's credentials (SO_PEERCRED). */
  peer(fd: number): { pid: number; uid: number; gid: number };
  close(fd: number): void;
}

export interface NativeBinding {
  Dataplane: new (opts: DataplaneOptions) => Dataplane & DataplaneHandover;
  /** The handover's fd passing (native/linux/fd_passing.h). */
  fdPassing: NativeFdPassing;
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
  throw new DataplaneError(
    `cannot load the native addon ${file} (run npm ci / npm run build); tried ${tried.join('; ')}`,
  );
}

/** Converts an addon error into the project's taxonomy. */
export function wrapNativeError(err: unknown): Error {
  const e = err as Error & { code?: string; syscall?: string };
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new DataplaneError(e.message, e.code, e.syscall);
  }
  return e instanceof Error ? e : new Error(String(err));
}
