// The daemon's wiring: config → underlay facts → dataplane + device → peer source → table, with
// the admin server alongside. One root AbortSignal stops everything; every task started here is
// awaited here. Whatever fails, the device is closed on the way out, and with it go its
// addresses and routes: a failed start leaves nothing behind.
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { autoMtu, type Config } from '../config/config.js';
import { ConfigError, DataplaneError, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { loadNative, wrapNativeError, type NativeBinding } from '../dataplane/addon.js';
import { NO_OFFLOADS, OFFLOADS, perOffload, type OffloadFlags } from '../dataplane/offloads.js';
import type { Dataplane } from '../dataplane/types.js';
import {
  configureDevice,
  defaultRouteInterface,
  execIp,
  listIPv4Addresses,
  procDeviceConf,
  procNetDevStats,
  removeRoutes,
  type DeviceConf,
  type DeviceSetup,
  type DeviceStats,
  type DeviceStatsReader,
  type IpRunner,
  type UnderlayAddress,
} from '../device/device.js';
import { openJsDataplane } from '../dataplane/engine-js.js';
import { startAdminServer, startAdminSocket, type AdminServer } from '../admin/server.js';
import { startDropLog, type DropLog } from '../admin/drop-log.js';
import { createMetrics } from '../admin/metrics.js';
import { captureHubFor, type CaptureHub } from '../dump/capture.js';
import { diffPeers } from '../peers/diff.js';
import { planTableUpdate } from './table-sync.js';
import { AbortedError, type LocalNode, type Peer, type PeerSource } from '../peers/peer-source.js';
import { staticPeerSource } from '../peers/static.js';
import { parseIP } from '../net/ip.js';
import { randomMac } from '../net/mac.js';
import { formatSubnetEnv, writeFileAtomic } from '../device/subnet-file.js';
import { mergeDrops, offloadStates, peerView, type Status } from '../admin/status.js';
import { execMasqTool, startMasq, type Masq, type MasqRunner } from '../masq/index.js';
import { VERSION } from '../version.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const ENCAP_OVERHEAD_V4 = 50;

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
  masq?: MasqRunner;
  /** Called once the table is programmed and traffic flows. */
  onReady?: (info: { adminAddress?: string; adminSocket?: string; device: string }) => void;
}

interface Underlay {
  publicIP: string;
  bind: UnderlayAddress;
}

/**
 * Works out which local address to bind and which MTU the underlay has (design.md "underlay"). `own` is the
 * peer source's idea of our address (LocalNode.address): required when it names a field, else a hint that is
 * used only if it is an address of this host (on underlay.interface, when that is set).
 */
export async function resolveUnderlay(ip: IpRunner, config: Config, own: LocalNode['address']): Promise<Underlay> {
  const addrs = await listIPv4Addresses(ip);
  const usable = (a: string) => addrs.some((x) => x.address === a && (!config.underlay.interface || x.interface === config.underlay.interface));
  const ownIP = own && (own.field !== undefined || usable(own.ip.text)) ? own.ip.text : undefined;
  const wanted = config.underlay.publicIP?.text ?? ownIP;
  const iface = config.underlay.interface ?? (wanted ? undefined : await defaultRouteInterface(ip));
  if (config.underlay.interface && !addrs.some((a) => a.interface === config.underlay.interface)) {
    throw new ConfigError('underlay.interface', `${config.underlay.interface} does not exist or has no IPv4 address`);
  }
  const exact = wanted ? addrs.find((a) => a.address === wanted && (!iface || a.interface === iface)) : undefined;
  const bind = exact ?? addrs.find((a) => a.interface === iface);
  if (!bind) {
    if (wanted) {
      throw new ConfigError(
        config.underlay.publicIP ? 'underlay.publicIP' : (own?.field ?? 'underlay'),
        `${wanted} is not an address of this host; set underlay.interface to bind another address`,
      );
    }
    throw new ConfigError('underlay', 'no default route to pick the underlay interface from; set underlay.interface');
  }
  return { publicIP: wanted ?? bind.address, bind };
}

function defaultWorkers(): number {
  return Math.max(1, Math.min(64, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length));
}

/** What to ask the addon for: every offload not switched off (design.md: each has its own switch). */
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

/** The peer source the config asks for. The Kubernetes client is loaded only when used (it takes a second). */
export async function peerSourceFor(config: Config, logger: Logger): Promise<PeerSource> {
  if (config.peers.kind === 'static') return staticPeerSource(config.peers.static, config.nodeName, logger);
  const k = config.peers.kubernetes;
  const [{ kubePeerSource }, { loadKubeConfig }] = await Promise.all([import('../peers/kube.js'), import('../peers/kube-config.js')]);
  return kubePeerSource({
    kubeConfig: loadKubeConfig(k.kubeconfig),
    nodeName: config.nodeName,
    annotationPrefix: k.annotationPrefix,
    vni: config.vni,
    network: config.network,
    ipv6Network: config.ipv6Network,
    logger,
  });
}

/** Above this many changes in one snapshot, peers are logged as one summary line (per peer at debug level). */
const PEER_LOG_LIMIT = 20;

async function warnIfNotForwarding(logger: Logger): Promise<void> {
  try {
    if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '0') {
      logger.warn('net.ipv4.ip_forward is 0: this node will not forward pod traffic between the device and its pods');
    }
  } catch {
    // not Linux procfs; nothing to say
  }
}

/**
 * Runs the node until `signal` aborts or something fails. Whatever a peer source opened (a watch on the
 * Kubernetes API) is tied to a signal that is aborted on the way out, however the node ends.
 */
export async function runDaemon(deps: DaemonDeps, signal: AbortSignal): Promise<void> {
  const life = new AbortController();
  const onAbort = () => life.abort();
  if (signal.aborted) life.abort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    await runNode(deps, life.signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
    life.abort();
  }
}

async function runNode(deps: DaemonDeps, signal: AbortSignal): Promise<void> {
  const { config, logger } = deps;
  const ip = deps.ip ?? execIp;
  // Who we are comes from the peer source (it may wait, e.g. for our Node's podCIDR); no device before that.
  const source = deps.peerSource ?? (await peerSourceFor(config, logger));
  let local: LocalNode;
  try {
    local = await source.local(signal);
  } catch (err) {
    if (err instanceof AbortedError) return; // stopped while waiting
    throw withContext(`peer source ${source.kind}`, err);
  }
  const vtepMAC = config.vtepMAC !== 'auto' ? config.vtepMAC : (local.vtepMAC ?? randomMac());
  if (config.vtepMAC === 'auto' && local.vtepMAC === undefined) logger.info('generated a VTEP MAC', { vtepMAC });
  const podCIDRs = local.podCIDRs.map((c) => c.toString());
  const underlay = await resolveUnderlay(ip, config, local.address);
  const mtu = config.mtu === 'auto' ? autoMtu(underlay.bind.mtu, ENCAP_OVERHEAD_V4) : config.mtu;
  const minMtu = config.ipv6Network ? 1280 : 576;
  if (mtu < minMtu) {
    throw new ConfigError('mtu', `${mtu} is below ${minMtu} (underlay ${underlay.bind.interface} has MTU ${underlay.bind.mtu})`);
  }
  const workers = config.dataplane.workers === 'auto' ? defaultWorkers() : config.dataplane.workers;
  const native = deps.native ?? loadNative();

  let dp: Dataplane;
  try {
    const opts = {
      device: config.device,
      workers,
      port: config.port,
      bindIP: underlay.bind.address,
      mtu,
      vni: config.vni,
      vtepMAC,
      acceptUnknownVteps: config.security.acceptUnknownVteps,
      checkInnerSource: config.security.checkInnerSource,
    };
    dp = config.dataplane.engine === 'js' ? await openJsDataplane(native, opts) : new native.Dataplane(opts);
  } catch (err) {
    throw withContext(`opening device ${config.device}`, wrapNativeError(err));
  }

  const setup: DeviceSetup = {
    device: config.device,
    mtu,
    addresses: local.podCIDRs.map((c) => `${c.hostAddress(0).text}/${c.family === 4 ? 32 : 128}`),
    routes: [config.network, ...(config.ipv6Network ? [config.ipv6Network] : [])],
  };
  let peers: Peer[] = [];
  let programmed = false; // the addon holds the table of `peers`
  let ready = false;
  let admin: AdminServer | undefined;
  let adminSocket: AdminServer | undefined;
  let dropLog: DropLog | undefined;
  let captureHub: CaptureHub | undefined;
  let masq: Masq | undefined;
  let closed = false;
  let offloads: OffloadFlags = NO_OFFLOADS;
  let lastStats = dp.stats();
  const stats = () => (closed ? lastStats : (lastStats = dp.stats()));
  const readDevice = deps.deviceStats ?? procNetDevStats;
  let lastDevice: DeviceStats | undefined;
  const deviceStats = () => (closed ? lastDevice : (lastDevice = readDevice(config.device) ?? lastDevice));
  const status = (): Status => {
    const s = stats();
    const dev = deviceStats();
    return {
      node: config.nodeName,
      device: config.device,
      mtu,
      vni: config.vni,
      port: config.port,
      publicIP: underlay.publicIP,
      vtepMAC,
      podCIDRs,
      engine: config.dataplane.engine,
      workers: dp.workers,
      offloads: offloadStates(s.offloads),
      peers: peers.filter((p) => p.name !== config.nodeName).map(peerView),
      counters: {
        txPackets: s.txPackets,
        txBytes: s.txBytes,
        rxPackets: s.rxPackets,
        rxBytes: s.rxBytes,
        txErrors: s.txErrors,
        rxErrors: s.rxErrors,
        drops: mergeDrops(native.dropReasons, s),
        offload: {
          tsoSplit: s.txTsoSplit,
          coalesced: s.rxCoalesced,
          csumCompleted: s.rxCsumCompleted,
          superSplit: s.rxSuperSplit,
        },
        ...(dev ? { queueDrops: dev.txDropped } : {}),
        ...(s.rxSocketDrops !== undefined ? { socketDrops: s.rxSocketDrops } : {}),
      },
      ready,
      version: VERSION,
      ipMasq: masq?.state ?? { enabled: config.ipMasq, backend: null },
      controlPlane: { source: source.kind, ...source.state() },
      ...(s.captureMatched !== undefined
        ? { capture: { sessions: s.captureSessions ?? 0, packets: s.captureMatched, dropped: s.captureDropped ?? 0 } }
        : {}),
    };
  };

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    stop.abort();
  };
  try {
    const warnings = await configureDevice(ip, deps.deviceConf ?? procDeviceConf, setup).catch((err: unknown) => {
      throw withContext(`configuring device ${config.device}`, err);
    });
    for (const w of warnings) logger.warn(w, { device: config.device });
    offloads = dp.start((message) => fail(new DataplaneError(`dataplane stopped: ${message}`)), wantedOffloads(config));
    checkRequiredOffloads(config, offloads);
    // Before the subnet file: FLANNEL_IPMASQ=true tells the CNI plugin that these rules are in place.
    masq = await startMasq(
      deps.masq ?? execMasqTool,
      { enabled: config.ipMasq, network: config.network, ipv6Network: config.ipv6Network, podCIDRs: local.podCIDRs },
      logger,
    );
    const readDrops = () => {
      const s = stats();
      return { rx: s.rxDrops, tx: s.txDrops };
    };
    dropLog = startDropLog({ read: readDrops, logger });
    const { listen, socket } = config.admin;
    if (listen || socket) {
      captureHub = socket ? captureHubFor(dp) : undefined; // captures are served on the socket only
      const outer = () => ({ publicIP: underlay.publicIP, port: config.port, vni: config.vni });
      const pcap = { hub: captureHub, outer, device: config.device, reasons: native.dropReasons };
      const handlers = { status, ready: () => ready, metrics: createMetrics(status), pcap };
      if (listen) {
        admin = await startAdminServer(listen, handlers, logger).catch((err: unknown) => {
          throw withContext(`admin server on ${listen.host}:${listen.port}`, err);
        });
      }
      if (socket) {
        adminSocket = await startAdminSocket(socket, handlers, logger).catch((err: unknown) => {
          throw withContext(`admin socket ${socket}`, err);
        });
      }
    }
    await warnIfNotForwarding(logger);
    if (config.subnetFile) {
      const env = formatSubnetEnv({ ...config, podCIDRs: local.podCIDRs, mtu });
      await writeFileAtomic(config.subnetFile, env).catch((err: unknown) => {
        throw withContext(`writing subnet file ${config.subnetFile}`, err);
      });
    }
    logger.info('dataplane up', {
      device: config.device,
      mtu,
      bind: `${underlay.bind.address}:${config.port}`,
      publicIP: underlay.publicIP,
      vtepMAC,
      workers: dp.workers,
      offloads: OFFLOADS.filter((k) => offloads[k]).join(',') || 'none',
      admin: admin?.address ?? 'off',
      adminSocket: adminSocket?.address ?? 'off',
    });

    const publicIP = parseIP(underlay.publicIP);
    if (!publicIP) throw new DataplaneError(`bad underlay address ${underlay.publicIP}`);
    const sourceDone = source
      .run(stop.signal, { vni: config.vni, vtepMAC, publicIP }, (snapshot) => {
        try {
          const t0 = performance.now();
          const d = diffPeers(peers, snapshot);
          const incremental = typeof dp.updatePeers === 'function';
          const plan = planTableUpdate({ self: config.nodeName, programmed, incremental, diff: d, next: snapshot, localCIDRs: podCIDRs });
          const t1 = performance.now();
          programmed = false; // until the addon has taken it (a throw keeps the previous table, and the next plan is whole)
          if (plan.kind === 'full') dp.setTable(plan.table);
          else if (plan.kind === 'delta') dp.updatePeers!(plan.upsert, plan.remove);
          programmed = true;
          const t2 = performance.now();
          peers = snapshot;
          const size = plan.kind === 'full' ? { peers: plan.table.peers.length } : plan.kind === 'delta' ? { upsert: plan.upsert.length, remove: plan.remove.length } : {};
          logger.debug('table programmed', { how: plan.kind, ...size, planMs: +(t1 - t0).toFixed(2), addonMs: +(t2 - t1).toFixed(2) });
          const others = (list: Peer[]) => list.filter((p) => p.name !== config.nodeName);
          const [added, updated] = [others(d.added), others(d.updated)];
          const few = added.length + updated.length + d.removed.length <= PEER_LOG_LIMIT;
          const each = (msg: string, fields: Record<string, unknown>) => (few ? logger.info(msg, fields) : logger.debug(msg, fields));
          for (const p of added) each('peer added', peerView(p));
          for (const p of updated) each('peer updated', peerView(p));
          for (const p of d.removed) each('peer removed', { name: p.name });
          if (!few) logger.info('peers changed', { added: added.length, updated: updated.length, removed: d.removed.length });
          if (!ready) {
            ready = true;
            logger.info('ready', { peers: others(peers).length });
            deps.onReady?.({ adminAddress: admin?.address, adminSocket: adminSocket?.address, device: config.device });
          }
        } catch (err) {
          logger.error('could not apply a peer snapshot; keeping the previous table', { error: (err as Error).message });
        }
      })
      .catch((err: unknown) => fail(withContext(`peer source ${source.kind}`, err)));

    if (!stop.signal.aborted) await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    await sourceDone;
  } catch (err) {
    failure ??= err as Error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stop.abort();
    dropLog?.stop();
    captureHub?.close();
    ready = false;
    lastStats = dp.stats();
    closed = true;
    await admin?.close();
    await adminSocket?.close();
    await masq?.stop();
    for (const e of await removeRoutes(ip, setup)) logger.debug('route removal', { error: e.message });
    dp.close();
    logger.info('stopped', { device: config.device, txPackets: lastStats.txPackets, rxPackets: lastStats.rxPackets });
  }
  if (failure) throw failure;
}
