// The daemon's start order: the peer source says who this node is → the VTEP on the underlay → the dataplane → the
// device → masquerading → the admin surface → the subnet file → the peer source's snapshots into the table. One stop
// scope ends it all (the caller's signal or the first failure); every task started here is awaited here, and the
// teardown runs in the order written below. Whatever fails, the device is closed on the way out, and with it go
// its addresses and routes: a failed start leaves nothing behind. Each part lives in its own file in this folder.
import type { Config } from '../config/index.js';
import { settledConfig } from '../config/overlay.js';
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
import type { Peer, PeerSource } from '../peers/peer-source.js';
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
import { statusView, upLogFields, type HandoverFacts, type NodeFacts } from './status-view.js';
import { stopScope } from './stop-scope.js';
import { buildTable, tableSync } from './table-sync.js';
import { handoverIdentity, offerHandover, takeOver } from './handover-wiring.js';
import { readyFile } from './ready-file.js';
import type { HandoverServer, Successor } from '../handover/server.js';
import type { Dataplane, DataplaneHandover, OffloadFlags } from '../dataplane/types.js';
import { advertisedIPs, resolveVtep } from './underlay.js';
import { directRoutesFor } from './direct-routes.js';

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
  const { logger } = deps;
  const ip = deps.ip ?? execIp;
  // Who we are comes from the peer source (it may wait, e.g. for our Node's podCIDR); no device before that.
  const source = deps.peerSource ?? (await peerSourceFor(deps.config, logger, ip));
  const local = await localNode(source, signal);
  if (!local) return; // stopped while waiting
  // A source that holds the overlay's settings (etcd's `<prefix>/config`) settles them for this run.
  const config = settledConfig(deps.config, local.overlay);
  const resolved = await resolveVtep(ip, config, local, logger);
  const native = deps.native ?? loadNative();
  const podCIDRs = local.podCIDRs.map((c) => c.toString());
  // A vxtun already running here hands us its dataplane (README "Upgrades and restarts"): we run on its device and
  // sockets, with its VTEP MAC and, until our peer source speaks, its table.
  const identity0 = handoverIdentity(config, resolved, podCIDRs);
  const taken = takeOver(native, config, identity0);
  const vtep = taken ? { ...resolved, vtepMAC: taken.offer.state.vtepMAC } : resolved;
  const identity = { ...identity0, vtepMAC: vtep.vtepMAC };
  let dp: Dataplane & Partial<DataplaneHandover>;
  try {
    dp = await openDataplane(native, config, vtep, taken && { fds: taken.fds, offloads: taken.offer.state.offloads });
  } catch (err) {
    taken?.close(); // the predecessor keeps forwarding
    throw err;
  }

  // From here on the device exists: everything below is torn down in the finally block, in its order (all but the
  // dataplane's fds are left alone once a successor took them over).
  const facts: NodeFacts = { config, vtep, podCIDRs, workers: dp.workers, dropReasons: native.dropReasons };
  const setup = deviceSetupFor(config, local.podCIDRs, vtep.mtu);
  let masq: Masq | undefined;
  let dropLog: DropLog | undefined;
  const onReady = () =>
    deps.onReady?.({ adminAddress: admin.address, adminSocket: admin.socketAddress, device: config.device });
  const families: (4 | 6)[] = vtep.underlay.v6 ? [4, 6] : [vtep.underlay.family];
  const sync = tableSync({ dp, self: config.nodeName, localCIDRs: podCIDRs, families, logger, onReady });
  // DirectRouting (README "DirectRouting"): each snapshot, once in the table, also sets the direct routes.
  const direct = directRoutesFor({ config, underlay: vtep.underlay, podCIDRs: local.podCIDRs, ip, logger });
  const applySnapshot = (snapshot: Peer[]) => {
    sync.apply(snapshot);
    direct?.update(sync.peers);
  };
  const readDevice = deps.deviceStats ?? procNetDevStats;
  const view = statusView({
    facts,
    dp,
    readDevice,
    sync,
    source,
    masq: () => masq?.state,
    handover: () => tookOver,
    direct: direct?.now,
  });
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
  let tookOver: HandoverFacts | null = null;
  const run = stopScope(signal);
  const forwarding = readyFile(config.admin.readyFile);
  let handover: HandoverServer | undefined;
  let successor: Successor | undefined;
  const adminClosed = deferred();
  // A successor runs on our fds: stop like a clean stop, but leave it the device, routes, masquerading, subnet file.
  const release = async (to: Successor) => {
    successor = to;
    run.close();
    await adminClosed.promise;
  };
  try {
    await configureNodeDevice(ip, deps.deviceConf ?? procDeviceConf, setup, logger);
    let offloads: OffloadFlags;
    if (taken) {
      // Forward with the predecessor's table until our own source's first snapshot replaces it.
      dp.setTable(taken.offer.state.table);
      const t0 = performance.now();
      try {
        taken.pause();
        offloads = startDataplane(dp, config, run.fail);
      } catch (err) {
        taken.close(); // the predecessor resumes: it never heard `started`
        throw err;
      }
      tookOver = {
        fromPid: taken.offer.pid,
        fromVersion: taken.offer.version,
        pausedMs: Math.round(performance.now() - t0),
      };
      const from = { from: tookOver.fromPid, fromVersion: tookOver.fromVersion, pausedMs: tookOver.pausedMs };
      if (taken.started()) dp.queuesOwned?.();
      else logger.warn('the predecessor did not confirm it released the admin surface', from);
      logger.info('took over', from);
    } else {
      offloads = startDataplane(dp, config, run.fail);
    }
    await forwarding.set();
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
    // Until our own source's first snapshot is programmed we forward with the predecessor's table: a successor that
    // takes over from us before then gets that table, not our empty one.
    const state = () => ({
      vtepMAC: vtep.vtepMAC,
      offloads: dp.stats().offloads,
      table: taken && !sync.ready ? taken.offer.state.table : buildTable(config.nodeName, sync.peers, podCIDRs),
    });
    handover = await offerHandover({ config, native, logger, identity, dp, state, release }).catch((err: unknown) => {
      logger.warn('no handover socket: a successor cannot take over without an outage', {
        socket: config.handover.socket,
        error: (err as Error).message,
      });
      return undefined;
    });

    const self = {
      vni: config.vni,
      vtepMAC: vtep.vtepMAC,
      ...advertisedIPs(vtep.underlay),
      ...(config.dataplane.remoteChecksum ? { remoteChecksum: true } : {}),
    };
    const sourceDone = source
      .run(run.signal, self, applySnapshot)
      .catch((err: unknown) => run.fail(withContext(`peer source ${source.kind}`, err)));
    await run.stopped();
    await sourceDone;
  } catch (err) {
    run.fail(err as Error);
  } finally {
    run.close();
    await forwarding.clear();
    dropLog?.stop();
    admin.closeCaptures();
    sync.stopping();
    const last = view.close();
    await admin.close();
    adminClosed.resolve();
    await handover?.close();
    const handedOver = handover?.handedOver === true;
    if (!handedOver) {
      await masq?.stop();
      await removeNodeRoutes(ip, setup, logger);
    }
    await direct?.stop({ removeRoutes: !handedOver }); // after a handover the successor keeps (reconciles) them
    dp.close(); // after a handover, only our copies of the fds: the device stays with the successor
    const counters = { txPackets: last.txPackets, rxPackets: last.rxPackets };
    if (handedOver) logger.info('replaced', { device: config.device, to: successor?.pid ?? null, ...counters });
    else logger.info('stopped', { device: config.device, ...counters });
    if (handedOver && config.handover.whenReplaced === 'wait' && !run.failure) {
      logger.info('waiting for a signal to exit (handover.whenReplaced: wait)');
      await aborted(signal);
    }
  }
  if (run.failure) throw run.failure;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
