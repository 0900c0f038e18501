// A lab node run as flanneld's vxlan backend runs a node in etcd mode (README "etcd mode"): flannel.<VNI> made as
// kernel-vxlan.ts makes it, our lease written to etcd on a TTL lease with flannel's compare-and-create, and for
// every other vxlan lease a permanent neighbour, an FDB entry and an onlink route. flanneld watches; this node is
// driven by its test instead: sync() lists the leases again and adds or removes remotes to match (what flanneld's
// watch would have done by then). etcd is reached with etcdctl in its own namespace (the test process is in the
// root namespace and cannot reach it): test/helpers/etcd-server.ts.
import type { Lab } from './lab.js';
import {
  createIfAbsentTxn,
  flannelLeaseKey,
  flannelLeaseValue,
  FLANNEL_ETCD_PREFIX,
  leasesPrefix,
  parseLeaseGrant,
  remoteChanges,
  remotesFromLeases,
} from './etcd-flannel-lease.js';
import {
  addKernelVxlanRemote,
  labVtepMAC,
  programKernelVxlanNode,
  removeKernelVxlanRemote,
  type KernelVxlanRemote,
} from './kernel-vxlan.js';

/** The few etcdctl calls the node makes (test/helpers/etcd-server.ts EtcdServer has them). */
export interface EtcdCtl {
  /** etcdctl with these arguments (stdin `input`); the trimmed stdout. */
  ctl(args: readonly string[], input?: string): Promise<string>;
  /** Every key under prefix with its value. */
  list(prefix: string): Promise<Map<string, string>>;
  get(key: string): Promise<string | undefined>;
}

export interface EtcdFlannelNodeOptions {
  /** Default flannel's /coreos.com/network. */
  prefix?: string;
  /** The subnet to lease; default the lab's pod CIDR of the node (its pod was made on it). */
  subnet?: string;
  /** Lease TTL; default flannel's 24 h. */
  ttlSeconds?: number;
  vtepMAC?: string;
}

export interface EtcdFlannelNode {
  readonly i: number;
  readonly subnet: string;
  /** Our lease key: `<prefix>/subnets/10.244.I.0-24`. */
  readonly key: string;
  /** Our lease value, as written. */
  readonly value: string;
  readonly vtepMAC: string;
  readonly device: string;
  readonly vni: number;
  /** The etcd lease our key is attached to (hex, as etcdctl prints it). */
  readonly leaseId: string;
  /** The remotes programmed now, by lease key. */
  remotes(): ReadonlyMap<string, KernelVxlanRemote>;
  /** Lists the leases and programs the difference; resolves with the keys removed and added. */
  sync(): Promise<{ removed: string[]; added: string[]; skipped: { key: string; reason: string }[] }>;
  /** Writes our lease again on a fresh TTL lease (flannel's renewal; also: back after someone deleted it). */
  renew(): Promise<void>;
}

/** `<prefix>/config`'s vxlan VNI and port (flannel's defaults: 1, and 0 meaning the kernel's 8472). */
function backendOf(configText: string | undefined, key: string): { vni: number; port: number } {
  if (configText === undefined) throw new Error(`etcd flannel node: ${key} is missing`);
  const c = JSON.parse(configText) as { Backend?: { Type?: string; VNI?: number; Port?: number } };
  if (c.Backend?.Type !== 'vxlan') throw new Error(`etcd flannel node: ${key} has no vxlan Backend`);
  return { vni: c.Backend.VNI ?? 1, port: c.Backend.Port || 8472 };
}

async function grant(etcd: EtcdCtl, ttlSeconds: number): Promise<string> {
  return parseLeaseGrant(await etcd.ctl(['lease', 'grant', String(ttlSeconds)]));
}

/**
 * Programs lab node i as a flanneld vxlan node in etcd mode: the lease (created only if absent: a taken subnet throws
 * before anything is made; flanneld too picks its MAC before it creates the device), the device, then one sync().
 */
export async function startEtcdFlannelNode(
  lab: Lab,
  i: number,
  etcd: EtcdCtl,
  opts: EtcdFlannelNodeOptions = {},
): Promise<EtcdFlannelNode> {
  const prefix = opts.prefix ?? FLANNEL_ETCD_PREFIX;
  const subnet = opts.subnet ?? lab.podCIDR(i, 4);
  const ttl = opts.ttlSeconds ?? 86_400;
  const { vni, port } = backendOf(await etcd.get(`${prefix}/config`), `${prefix}/config`);
  const vtepMAC = (opts.vtepMAC ?? labVtepMAC(i)).toLowerCase();
  const key = flannelLeaseKey(prefix, subnet);
  const value = flannelLeaseValue({ publicIP: lab.underlayIP(i, 4), vni, vtepMAC });
  let leaseId = await grant(etcd, ttl);
  const out = await etcd.ctl(['txn'], createIfAbsentTxn(key, value, leaseId));
  if (!out.startsWith('SUCCESS')) {
    await etcd.ctl(['lease', 'revoke', leaseId]);
    throw new Error(`etcd flannel node ${i}: ${key} is taken`);
  }
  const kernel = await programKernelVxlanNode(lab, i, { vni, port, vtepMAC });
  const programmed = new Map<string, KernelVxlanRemote>();

  const node: EtcdFlannelNode = {
    i,
    subnet,
    key,
    value,
    vtepMAC: kernel.vtepMAC,
    device: kernel.device,
    vni,
    get leaseId() {
      return leaseId;
    },
    remotes: () => programmed,
    async sync() {
      const { remotes, skipped } = remotesFromLeases(prefix, await etcd.list(leasesPrefix(prefix)), key);
      const { remove, add } = remoteChanges(programmed, remotes);
      for (const [k, r] of remove) {
        await removeKernelVxlanRemote(lab, i, r, kernel.device);
        programmed.delete(k);
      }
      for (const [k, r] of add) {
        await addKernelVxlanRemote(lab, i, r, kernel.device);
        programmed.set(k, r);
      }
      if (remove.length + add.length > 0) {
        lab.logger.info('etcd flannel node synced', { node: i, removed: remove.length, added: add.length });
      }
      return { removed: remove.map(([k]) => k), added: add.map(([k]) => k), skipped };
    },
    async renew() {
      const next = await grant(etcd, ttl);
      await etcd.ctl(['put', `--lease=${next}`, key], value);
      leaseId = next;
    },
  };
  await node.sync();
  return node;
}
