// The daemon's start order: the peer source says who this node is → the VTEP on the underlay → the dataplane → the
// device → masquerading → the admin surface → the subnet file → the peer source's snapshots into the table. One stop
// scope ends it all (the caller's signal or the first failure); every task started here is awaited here, and the
// teardown runs in the order written below. Whatever fails, the device is closed on the way out, and with it go
// its addresses and routes: a failed start leaves nothing behind. Each part lives in its own file in this folder.
import type { Config } from '../config/index.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { loadNative, type NativeBinding } from '../dataplane/addon.js';
import {
  execIp,
  procDeviceConf,
  procNetDevStats,
  type DeviceConf,
  type DeviceStatsReader,
  type IpRunner,
} from '../device/device.js';
import { startDropLog, type DropLog } from '../admin/drop-log.js';
import { startMasq, type Masq } from '../masq/index.js';
import { runTool, type ToolRunner } from '../run-tool.js';
import type { PeerSource } from '../peers/peer-source.js';
import { adminWiring } from './admin-wiring.js';
import { openDataplane, startDataplane } from './dataplane-open.js';
import {
  configureNodeDevice,
  deviceSetupFor,
  removeNodeRoutes,
  warnIfNotForwarding,
  writeSubnetFile,
} from './node-device.js';
import { localNode, peerSourceFor } from './peer-source-choice.js';
import { statusView, upLogFields, type NodeFacts } from './status-view.js';
import { stopScope } from './stop-scope.js';
import { tableSync } from './table-sync.js';
import { advertisedIPs, resolveVtep } from './underlay.js';

export interface DaemonDeps {
  config: Config;
  logger: Logger;
  native?: NativeBinding;
  ip?: IpRunner;
  /** The device's IPv6 settings (default: /proc/sys/net/ipv6/conf/<device>/); give a fake along with a fake `ip`. */
  deviceConf?: DeviceConf;
  peerSource?: PeerSource;
  /** The device's kernel counters (default: /proc/net/dev). */
  deviceStats?: DeviceStatsReader;
  /** Runs nft / iptables for ipMasq (default: the real tools); give a fake along with a fake `ip`. */
  masq?: ToolRunner;
  /** Called once the table is programmed and traffic flows. */
  onReady?: (info: { adminAddress?: string; adminSocket?: string; device: string }) => void;
}

/**
 * Runs the node until `signal` aborts or something fails. Whatever a peer source opened (a watch on the
 * Kubernetes API) is tied to a signal that is aborted on the way out, however the node ends.
 */
export async function runDaemon(deps: DaemonDeps, signal: AbortSignal): Promise<void> {
  const life = stopScope(signal);
  try {
    await runNode(deps, life.signal);
  } finally {
    life.close();
  }
}

async function runNode(deps: DaemonDeps, signal: AbortSignal): Promise<void> {
  const { config, logger } = deps;
  const ip = deps.ip ?? execIp;
  // Who we are comes from the peer source (it may wait, e.g. for our Node's podCIDR); no device before that.
  const source = deps.peerSource ?? (await peerSourceFor(config, logger));
  const local = await localNode(source, signal);
  if (!local) return; // stopped while waiting
  const vtep = await resolveVtep(ip, config, local, logger);
  const native = deps.native ?? loadNative();
  const dp = await openDataplane(native, config, vtep);

  // From here on the device exists: everything below is torn down in the finally block, in its order.
  const podCIDRs = local.podCIDRs.map((c) => c.toString());
  const facts: NodeFacts = { config, vtep, podCIDRs, workers: dp.workers, dropReasons: native.dropReasons };
  const setup = deviceSetupFor(config, local.podCIDRs, vtep.mtu);
  let masq: Masq | undefined;
  let dropLog: DropLog | undefined;
  const onReady = () =>
    deps.onReady?.({ adminAddress: admin.address, adminSocket: admin.socketAddress, device: config.device });
  const families: (4 | 6)[] = vtep.underlay.v6 ? [4, 6] : [vtep.underlay.family];
  const sync = tableSync({ dp, self: config.nodeName, localCIDRs: podCIDRs, families, logger, onReady });
  const readDevice = deps.deviceStats ?? procNetDevStats;
  const view = statusView({ facts, dp, readDevice, sync, source, masq: () => masq?.state });
  const ready = () => sync.ready;
  const admin = adminWiring({
    config,
    logger,
    dp,
    dropReasons: native.dropReasons,
    underlay: vtep.underlay,
    status: view.status,
    ready,
  });
  const run = stopScope(signal);
  try {
    await configureNodeDevice(ip, deps.deviceConf ?? procDeviceConf, setup, logger);
    const offloads = startDataplane(dp, config, run.fail);
    // Before the subnet file: FLANNEL_IPMASQ=true tells the CNI plugin that these rules are in place.
    const masqOptions = {
      enabled: config.ipMasq,
      network: config.network,
      ipv6Network: config.ipv6Network,
      podCIDRs: local.podCIDRs,
    };
    masq = await startMasq(deps.masq ?? runTool, masqOptions, logger);
    dropLog = startDropLog({ read: view.drops, logger });
    await admin.start();
    await warnIfNotForwarding(logger);
    await writeSubnetFile(config, local.podCIDRs, vtep.mtu);
    logger.info('dataplane up', upLogFields(facts, offloads, admin));

    const self = { vni: config.vni, vtepMAC: vtep.vtepMAC, ...advertisedIPs(vtep.underlay) };
    const sourceDone = source
      .run(run.signal, self, sync.apply)
      .catch((err: unknown) => run.fail(withContext(`peer source ${source.kind}`, err)));
    await run.stopped();
    await sourceDone;
  } catch (err) {
    run.fail(err as Error);
  } finally {
    run.close();
    dropLog?.stop();
    admin.closeCaptures();
    sync.stopping();
    const last = view.close();
    await admin.close();
    await masq?.stop();
    await removeNodeRoutes(ip, setup, logger);
    dp.close();
    logger.info('stopped', { device: config.device, txPackets: last.txPackets, rxPackets: last.rxPackets });
  }
  if (run.failure) throw run.failure;
}
