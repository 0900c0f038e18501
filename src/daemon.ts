// The daemon's wiring: config → underlay facts → dataplane + device → peer source → table, with
// the admin server alongside. One root AbortSignal stops everything; every task started here is
// awaited here. Whatever fails, the device is closed on the way out, and with it go its
// addresses and routes: a failed start leaves nothing behind.
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import type { Config, PeerSpec } from './config.js';
import { ConfigError, DataplaneError, withContext } from './errors.js';
import type { Logger } from './log.js';
import { loadNative, wrapNativeError, type NativeBinding, type NativeDataplane, type NativeTable } from './native.js';
import {
  configureDevice,
  defaultRouteInterface,
  execIp,
  listIPv4Addresses,
  removeRoutes,
  type DeviceSetup,
  type IpRunner,
  type UnderlayAddress,
} from './device.js';
import { startAdminServer, type AdminServer } from './admin.js';
import { diffPeers } from './peers/diff.js';
import type { Peer, PeerSource } from './peers/peer-source.js';
import { staticPeerSource } from './peers/static.js';
import { mergeDrops, peerView, type Status } from './status.js';
import { VERSION } from './version.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const ENCAP_OVERHEAD_V4 = 50;

export interface DaemonDeps {
  config: Config;
  logger: Logger;
  native?: NativeBinding;
  ip?: IpRunner;
  peerSource?: PeerSource;
  /** Called once the table is programmed and traffic flows. */
  onReady?: (info: { adminAddress?: string; device: string }) => void;
}

interface Underlay {
  publicIP: string;
  bind: UnderlayAddress;
}

/** Works out which local address to bind and which MTU the underlay has (design.md "underlay"). */
export async function resolveUnderlay(ip: IpRunner, config: Config, ownPublicIP: string | undefined): Promise<Underlay> {
  const addrs = await listIPv4Addresses(ip);
  const wanted = config.underlay.publicIP?.text ?? ownPublicIP;
  const iface = config.underlay.interface ?? (wanted ? undefined : await defaultRouteInterface(ip));
  if (config.underlay.interface && !addrs.some((a) => a.interface === config.underlay.interface)) {
    throw new ConfigError('underlay.interface', `${config.underlay.interface} does not exist or has no IPv4 address`);
  }
  const exact = wanted ? addrs.find((a) => a.address === wanted && (!iface || a.interface === iface)) : undefined;
  const bind = exact ?? addrs.find((a) => a.interface === iface);
  if (!bind) {
    if (wanted) {
      throw new ConfigError(
        config.underlay.publicIP ? 'underlay.publicIP' : 'peers.static',
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

/** The table the addon gets: every peer but ourselves, plus our own pod CIDRs. */
export function buildNativeTable(self: string, peers: readonly Peer[], localCIDRs: readonly string[]): NativeTable {
  return {
    local: [...localCIDRs],
    peers: peers
      .filter((p) => p.name !== self)
      .map((p) => ({ name: p.name, publicIP: p.publicIP.text, vtepMAC: p.vtepMAC, cidrs: p.podCIDRs.map((c) => c.toString()) })),
  };
}

function specToPeer(p: PeerSpec): Peer {
  return { name: p.name, podCIDRs: p.podCIDRs, publicIP: p.publicIP, vtepMAC: p.vtepMAC };
}

async function warnIfNotForwarding(logger: Logger): Promise<void> {
  try {
    if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '0') {
      logger.warn('net.ipv4.ip_forward is 0: this node will not forward pod traffic between the device and its pods');
    }
  } catch {
    // not Linux procfs; nothing to say
  }
}

export async function runDaemon(deps: DaemonDeps, signal: AbortSignal): Promise<void> {
  const { config, logger } = deps;
  const ip = deps.ip ?? execIp;
  if (config.dataplane.engine !== 'native') {
    throw new ConfigError('dataplane.engine', `engine "${config.dataplane.engine}" is not available in this version; use native`);
  }
  if (config.peers.kind !== 'static') {
    throw new ConfigError('peers.kubernetes', 'the kubernetes peer source is not available in this version; use peers.static');
  }
  const own = config.peers.static.find((p) => p.name === config.nodeName);
  if (!own) throw new ConfigError('peers.static', `no entry named "${config.nodeName}" (nodeName)`);
  if (config.vtepMAC !== 'auto' && config.vtepMAC !== own.vtepMAC) {
    throw new ConfigError('vtepMAC', `${config.vtepMAC} differs from ${own.vtepMAC} in peers.static entry "${own.name}"`);
  }
  const vtepMAC = own.vtepMAC;
  const podCIDRs = own.podCIDRs.map((c) => c.toString());
  const underlay = await resolveUnderlay(ip, config, own.publicIP.text);
  const mtu = config.mtu === 'auto' ? underlay.bind.mtu - ENCAP_OVERHEAD_V4 : config.mtu;
  const minMtu = config.ipv6Network ? 1280 : 576;
  if (mtu < minMtu) {
    throw new ConfigError('mtu', `${mtu} is below ${minMtu} (underlay ${underlay.bind.interface} has MTU ${underlay.bind.mtu})`);
  }
  const workers = config.dataplane.workers === 'auto' ? defaultWorkers() : config.dataplane.workers;
  const source = deps.peerSource ?? staticPeerSource(config.peers.static.map(specToPeer));
  const native = deps.native ?? loadNative();

  let dp: NativeDataplane;
  try {
    dp = new native.Dataplane({
      device: config.device,
      workers,
      port: config.port,
      bindIP: underlay.bind.address,
      mtu,
      vni: config.vni,
      vtepMAC,
      acceptUnknownVteps: config.security.acceptUnknownVteps,
      checkInnerSource: config.security.checkInnerSource,
    });
  } catch (err) {
    throw withContext(`opening device ${config.device}`, wrapNativeError(err));
  }

  const setup: DeviceSetup = {
    device: config.device,
    mtu,
    addresses: own.podCIDRs.map((c) => `${c.hostAddress(0).text}/${c.family === 4 ? 32 : 128}`),
    routes: [config.network, ...(config.ipv6Network ? [config.ipv6Network] : [])],
  };
  let peers: Peer[] = [];
  let ready = false;
  let admin: AdminServer | undefined;
  let closed = false;
  let lastStats = dp.stats();
  const stats = () => (closed ? lastStats : (lastStats = dp.stats()));
  const status = (): Status => {
    const s = stats();
    return {
      node: config.nodeName,
      device: config.device,
      mtu,
      vni: config.vni,
      port: config.port,
      publicIP: underlay.publicIP,
      vtepMAC,
      podCIDRs,
      engine: 'native',
      workers: dp.workers,
      offloads: { tso: 'off', gro: 'off', udpGso: 'off', udpGro: 'off' },
      peers: peers.filter((p) => p.name !== config.nodeName).map(peerView),
      counters: {
        txPackets: s.txPackets,
        txBytes: s.txBytes,
        rxPackets: s.rxPackets,
        rxBytes: s.rxBytes,
        txErrors: s.txErrors,
        rxErrors: s.rxErrors,
        drops: mergeDrops(native.dropReasons, s),
      },
      ready,
      version: VERSION,
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
    await configureDevice(ip, setup).catch((err: unknown) => {
      throw withContext(`configuring device ${config.device}`, err);
    });
    dp.start((message) => fail(new DataplaneError(`dataplane stopped: ${message}`)));
    if (config.admin) {
      admin = await startAdminServer(config.admin, { status, ready: () => ready }, logger).catch((err: unknown) => {
        throw withContext(`admin server on ${config.admin!.host}:${config.admin!.port}`, err);
      });
    }
    await warnIfNotForwarding(logger);
    logger.info('dataplane up', {
      device: config.device,
      mtu,
      bind: `${underlay.bind.address}:${config.port}`,
      publicIP: underlay.publicIP,
      vtepMAC,
      workers: dp.workers,
      admin: admin?.address ?? 'off',
    });

    const sourceDone = source
      .run(stop.signal, (snapshot) => {
        try {
          const d = diffPeers(peers, snapshot);
          dp.setTable(buildNativeTable(config.nodeName, snapshot, podCIDRs));
          peers = snapshot;
          for (const p of d.added) if (p.name !== config.nodeName) logger.info('peer added', peerView(p));
          for (const p of d.updated) if (p.name !== config.nodeName) logger.info('peer updated', peerView(p));
          for (const p of d.removed) logger.info('peer removed', { name: p.name });
          if (!ready) {
            ready = true;
            logger.info('ready', { peers: peers.length - 1 });
            deps.onReady?.({ adminAddress: admin?.address, device: config.device });
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
    ready = false;
    lastStats = dp.stats();
    closed = true;
    await admin?.close();
    for (const e of await removeRoutes(ip, setup)) logger.debug('route removal', { error: e.message });
    dp.close();
    logger.info('stopped', { device: config.device, txPackets: lastStats.txPackets, rxPackets: lastStats.rxPackets });
  }
  if (failure) throw failure;
}
