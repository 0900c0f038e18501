// Opening and starting the dataplane: the engine the config names (native: the addon's Dataplane; js: the
// TypeScript engine over the addon's TUN device), how many workers, and which offloads to ask for and to insist on.
// Open binds the underlay socket and creates the TUN device; start (after the device is configured) probes the
// offloads and starts the loops.
import os from 'node:os';
import type { Config } from '../config/index.js';
import { DataplaneError, withContext } from '../errors.js';
import { wrapNativeError, type NativeBinding } from '../dataplane/addon.js';
import { openJsDataplane } from '../dataplane/engine-js.js';
import { OFFLOADS, perOffload, type OffloadFlags } from '../dataplane/offloads.js';
import type { Dataplane, DataplaneOptions } from '../dataplane/types.js';
import type { Vtep } from './underlay.js';

/** One worker per CPU this process may use, 1..64. */
export function defaultWorkers(): number {
  return Math.max(
    1,
    Math.min(64, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length),
  );
}

/** The dataplane's options from the config and the settled VTEP. */
export function dataplaneOptions(config: Config, vtep: Vtep): DataplaneOptions {
  return {
    device: config.device,
    workers: config.dataplane.workers === 'auto' ? defaultWorkers() : config.dataplane.workers,
    port: config.port,
    bindIP: vtep.underlay.bind.address,
    // Only on a dual-stack node: a single-family node's options stay what an addon without IPv6 sockets takes.
    ...(vtep.underlay.v6 ? { bindIPv6: vtep.underlay.v6.bind.address } : {}),
    mtu: vtep.mtu,
    vni: config.vni,
    vtepMAC: vtep.vtepMAC,
    acceptUnknownVteps: config.security.acceptUnknownVteps,
    checkInnerSource: config.security.checkInnerSource,
    remoteChecksum: config.dataplane.remoteChecksum,
  };
}

/**
 * Opens the configured engine; an addon error becomes a DataplaneError naming the device. With `adopt` (a
 * handover), the native engine runs on a predecessor's fds instead of creating the device.
 */
export async function openDataplane(
  native: NativeBinding,
  config: Config,
  vtep: Vtep,
  adopt?: DataplaneOptions['adopt'],
): Promise<Dataplane> {
  const opts = { ...dataplaneOptions(config, vtep), ...(adopt ? { adopt } : {}) };
  try {
    return config.dataplane.engine === 'js' ? await openJsDataplane(native, opts) : new native.Dataplane(opts);
  } catch (err) {
    throw withContext(`opening device ${config.device}`, wrapNativeError(err));
  }
}

/** What to ask the addon for: every offload not switched off (each has its own switch, README "Performance"). */
export function wantedOffloads(config: Config): OffloadFlags {
  return perOffload((o) => config.dataplane.offloads[o] !== 'off');
}

/** An offload set to "on" that the kernel refused is a start-up failure; "auto" just goes without. */
export function checkRequiredOffloads(config: Config, got: OffloadFlags): void {
  for (const k of OFFLOADS) {
    if (config.dataplane.offloads[k] === 'on' && !got[k]) {
      throw new DataplaneError(`dataplane.offloads.${k} is "on" but this kernel refused it (set it to auto or off)`);
    }
  }
}

/** Starts the loops with the wanted offloads and returns those in use; `onFatal` hears of a loop that died. */
export function startDataplane(dp: Dataplane, config: Config, onFatal: (err: DataplaneError) => void): OffloadFlags {
  const offloads = dp.start(
    (message) => onFatal(new DataplaneError(`dataplane stopped: ${message}`)),
    wantedOffloads(config),
  );
  checkRequiredOffloads(config, offloads);
  return offloads;
}
