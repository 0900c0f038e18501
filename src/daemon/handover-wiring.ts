// The daemon's two sides of the handover (README "Upgrades and restarts"; protocol in src/handover/protocol.ts):
// at start, asking a vxtun already running on this node for its dataplane (takeOver); once up, offering ours to a
// successor (offerHandover). The identity both compare comes from the config and the settled VTEP.
import type { Config } from '../config/index.js';
import type { NativeBinding } from '../dataplane/addon.js';
import type { Dataplane, DataplaneHandover } from '../dataplane/types.js';
import type { Logger } from '../log.js';
import { requestHandover, type Takeover } from '../handover/client.js';
import type { HandoverIdentity, HandoverState } from '../handover/protocol.js';
import { startHandoverServer, type HandoverServer, type Successor } from '../handover/server.js';
import { dataplaneOptions } from './dataplane-open.js';
import type { Vtep } from './underlay.js';

/** This process's identity for the handover: what a predecessor and we must agree on. */
export function handoverIdentity(config: Config, vtep: Vtep, podCIDRs: readonly string[]): HandoverIdentity {
  const o = dataplaneOptions(config, vtep);
  return {
    device: config.device,
    port: config.port,
    vni: config.vni,
    workers: o.workers,
    engine: config.dataplane.engine,
    bindIP: o.bindIP,
    bindIPv6: o.bindIPv6 ?? null,
    network: config.network.toString(),
    ipv6Network: config.ipv6Network?.toString() ?? null,
    podCIDRs: [...podCIDRs],
    vtepMAC: vtep.vtepMAC,
    vtepMACFixed: config.vtepMAC !== 'auto',
  };
}

/** A running vxtun's dataplane, or undefined when none runs (handover.socket off, no socket, a stale one). */
export function takeOver(native: NativeBinding, config: Config, identity: HandoverIdentity): Takeover | undefined {
  if (!config.handover.socket) return undefined;
  return requestHandover(native.fdPassing, config.handover.socket, identity);
}

export interface OfferOptions {
  config: Config;
  native: NativeBinding;
  logger: Logger;
  identity: HandoverIdentity;
  dp: Dataplane & Partial<DataplaneHandover>;
  state: () => HandoverState;
  release: (to: Successor) => Promise<void>;
}

/** Listens for a successor on handover.socket (undefined when off). */
export async function offerHandover(o: OfferOptions): Promise<HandoverServer | undefined> {
  const path = o.config.handover.socket;
  if (!path) return undefined;
  return startHandoverServer({
    path,
    fdp: o.native.fdPassing,
    logger: o.logger,
    identity: o.identity,
    dp: o.config.dataplane.engine === 'native' ? o.dp : undefined,
    state: o.state,
    release: o.release,
  });
}
