// The node's side of the device the dataplane opened: its MTU, addresses (one per pod CIDR) and the routes for the
// cluster networks; the forwarding check; and flannel's subnet file, which tells the CNI plugin the pod subnet and
// MTU. The device routes go with the device when it closes; the crash guard routes (src/device/device.ts
// guardRouteArgs) stay after a crash, and only removeNodeRoutes (the clean stop) takes them away, best effort.
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';
import {
  configureDevice,
  removeGuardRoutes,
  removeRoutes,
  type DeviceConf,
  type DeviceSetup,
  type IpRunner,
} from '../device/device.js';
import { formatSubnetEnv, writeFileAtomic } from '../device/subnet-file.js';
import type { Cidr } from '../net/cidr.js';

/** The device's settings: `<pod CIDR>.0/32` (`::/128`) addresses and routes for `network` and `ipv6Network`. */
export function deviceSetupFor(config: Config, podCIDRs: readonly Cidr[], mtu: number): DeviceSetup {
  return {
    device: config.device,
    mtu,
    addresses: podCIDRs.map((c) => `${c.hostAddress(0).text}/${c.family === 4 ? 32 : 128}`),
    routes: [config.network, ...(config.ipv6Network ? [config.ipv6Network] : [])],
  };
}

/** Configures the device; what could not be done without failing the start is logged as warnings. */
export async function configureNodeDevice(
  ip: IpRunner,
  conf: DeviceConf,
  setup: DeviceSetup,
  logger: Logger,
): Promise<void> {
  const warnings = await configureDevice(ip, conf, setup).catch((err: unknown) => {
    throw withContext(`configuring device ${setup.device}`, err);
  });
  for (const w of warnings) logger.warn(w, { device: setup.device });
}

/**
 * Removes the device's routes (errors at debug level: they go with the device anyway), then the crash guard routes
 * (errors as warnings: a guard left behind keeps the cluster network unreachable from this node).
 */
export async function removeNodeRoutes(ip: IpRunner, setup: DeviceSetup, logger: Logger): Promise<void> {
  for (const e of await removeRoutes(ip, setup)) logger.debug('route removal', { error: e.message });
  for (const e of await removeGuardRoutes(ip, setup)) logger.warn('crash guard route removal', { error: e.message });
}

/** A warning when the host does not forward IPv4: pod traffic would stop at the device. */
export async function warnIfNotForwarding(logger: Logger): Promise<void> {
  try {
    if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '0') {
      logger.warn('net.ipv4.ip_forward is 0: this node will not forward pod traffic between the device and its pods');
    }
  } catch {
    // not Linux procfs; nothing to say
  }
}

/** Writes the subnet file (config.subnetFile) when one is configured. */
export async function writeSubnetFile(config: Config, podCIDRs: readonly Cidr[], mtu: number): Promise<void> {
  if (!config.subnetFile) return;
  const env = formatSubnetEnv({ ...config, podCIDRs, mtu });
  await writeFileAtomic(config.subnetFile, env).catch((err: unknown) => {
    throw withContext(`writing subnet file ${config.subnetFile}`, err);
  });
}
