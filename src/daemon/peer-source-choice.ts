// Which peer source the daemon runs (config `peers`), and the first thing it asks of it: who this node is
// (src/peers/peer-source.ts). The Kubernetes and etcd clients are loaded only in their modes: each takes a while.
import type { Config } from '../config/index.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { AbortedError, type LocalNode, type PeerSource } from '../peers/peer-source.js';
import { staticPeerSource } from '../peers/static.js';
import type { EtcdSection, FileOverlaySettings } from '../peers/etcd-section.js';
import type { IpRunner } from '../device/device.js';
import { previousSubnets } from '../device/subnet-file.js';
import { parseIP } from '../net/ip.js';
import { resolveUnderlay } from './underlay.js';

/** The peer source the config asks for. `ip` finds our underlay address (etcd mode acquires its lease with it). */
export async function peerSourceFor(config: Config, logger: Logger, ip: IpRunner): Promise<PeerSource> {
  if (config.peers.kind === 'static') return staticPeerSource(config.peers.static, config.nodeName, logger);
  if (config.peers.kind === 'etcd') return etcdSourceFor(config, config.peers.etcd, config.peers.file, logger, ip);
  const k = config.peers.kubernetes;
  const [{ kubePeerSource }, { loadKubeConfig }] = await Promise.all([
    import('../peers/kube.js'),
    import('../peers/kube-config.js'),
  ]);
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

async function etcdSourceFor(
  config: Config,
  section: EtcdSection,
  file: FileOverlaySettings,
  logger: Logger,
  ip: IpRunner,
): Promise<PeerSource> {
  const [{ etcdPeerSource }, { etcd3Store }] = await Promise.all([
    import('../peers/etcd.js'),
    import('../peers/etcd3-store.js'),
  ]);
  return etcdPeerSource({
    store: await etcd3Store(section),
    prefix: section.prefix,
    nodeName: config.nodeName,
    file,
    vtepMAC: config.vtepMAC,
    ...(config.dataplane.remoteChecksum ? { remoteChecksum: true } : {}),
    underlay: async () => {
      const u = await resolveUnderlay(ip, config, undefined);
      const publicIP = parseIP(u.publicIP);
      if (!publicIP) throw new Error(`underlay address ${u.publicIP} is not an IP address`);
      const publicIPv6 = u.v6 ? (parseIP(u.v6.publicIP) ?? undefined) : undefined;
      return publicIPv6 ? { publicIP, publicIPv6 } : { publicIP };
    },
    previousSubnets: () => previousSubnets(config.subnetFile),
    logger,
  });
}

/** The local node once the source knows it (it may wait, e.g. for our Node's podCIDR); undefined when stopped first. */
export async function localNode(source: PeerSource, signal: AbortSignal): Promise<LocalNode | undefined> {
  try {
    return await source.local(signal);
  } catch (err) {
    if (err instanceof AbortedError) return undefined;
    throw withContext(`peer source ${source.kind}`, err);
  }
}
