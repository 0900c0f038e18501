// Loads the native addon and gives it a type: the binding's shape. The only file where the addon's untyped surface
// is touched. Its Dataplane implements the engine-neutral interface of src/dataplane/types.ts, as the js engine
// does. Errors thrown by the addon for failed syscalls carry {code, syscall}; wrapNativeError turns them into
// DataplaneError.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from '../errors.js';
import type { Dataplane, DataplaneOptions } from './types.js';

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
  Dataplane: new (opts: DataplaneOptions) => Dataplane;
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
