// Which peer source the daemon runs (config `peers`), and the first thing it asks of it: who this node is
// (src/peers/peer-source.ts). The Kubernetes client is loaded only in kubernetes mode: it takes a second.
import type { Config } from '../config/index.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { AbortedError, type LocalNode, type PeerSource } from '../peers/peer-source.js';
import { staticPeerSource } from '../peers/static.js';

/** The peer source the config asks for. */
export async function peerSourceFor(config: Config, logger: Logger): Promise<PeerSource> {
  if (config.peers.kind === 'static') return staticPeerSource(config.peers.static, config.nodeName, logger);
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

/** The local node once the source knows it (it may wait, e.g. for our Node's podCIDR); undefined when stopped first. */
export async function localNode(source: PeerSource, signal: AbortSignal): Promise<LocalNode | undefined> {
  try {
    return await source.local(signal);
  } catch (err) {
    if (err instanceof AbortedError) return undefined;
    throw withContext(`peer source ${source.kind}`, err);
  }
}
