// Kernel-side setup around the TUN device, through iproute2 and the device's own IPv6 settings: the
// device's MTU, flags, addresses and the routes that send the pod network into it, and the facts
// about the underlay we need to choose the MTU and the bind address. The TUN device itself is
// created by the addon and vanishes, with its addresses, routes and settings, when the dataplane
// closes; the crash guard routes (guardRouteArgs) do not: they stay until a clean stop removes them.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Cidr } from '../net/cidr.js';
import { DataplaneError } from '../errors.js';
import { runTool, toolError } from '../run-tool.js';

/** Runs `ip ARGS…` and returns stdout; rejects with DataplaneError naming the command. */
export type IpRunner = (args: string[]) => Promise<string>;

export const execIp: IpRunner = async (args) => {
  const r = await runTool('ip', args);
  if (r.status !== 0) throw toolError('ip', args, r);
  return r.stdout;
};

export interface UnderlayAddress {
  interface: string;
  address: string;
  /** The address's prefix length on that interface: with `address`, the directly connected subnet. */
  prefixLen: number;
  mtu: number;
}

interface IpAddrJson {
  ifname: string;
  mtu: number;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string; dadfailed?: boolean }[];
}

/**
 * The addresses an underlay of that family can bind, from `ip -j -<family> addr show` output, with their interface
 * its prefix length and the interface's MTU. IPv4: every address but loopback's (127/8). IPv6: global scope only (global and unique-local
 * unicast; not link-local, which needs a scope, nor ::1) and not failed duplicate address detection.
 */
export function parseUnderlayAddresses(json: string, family: 4 | 6): UnderlayAddress[] {
  const links = JSON.parse(json) as IpAddrJson[];
  const out: UnderlayAddress[] = [];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const usable =
        family === 4
          ? a.family === 'inet' && !a.local.startsWith('127.')
          : a.family === 'inet6' && a.scope === 'global' && a.dadfailed !== true;
      if (usable) out.push({ interface: l.ifname, address: a.local, prefixLen: a.prefixlen, mtu: l.mtu });
    }
  }
  return out;
}

/** Every address of that family this namespace could bind the underlay to (parseUnderlayAddresses). */
export async function listUnderlayAddresses(ip: IpRunner, family: 4 | 6): Promise<UnderlayAddress[]> {
  return parseUnderlayAddresses(await ip(['-j', `-${family}`, 'addr', 'show']), family);
}

/** The interface of that family's default route, if any. */
export async function defaultRouteInterface(ip: IpRunner, family: 4 | 6 = 4): Promise<string | undefined> {
  const routes = JSON.parse(await ip(['-j', `-${family}`, 'route', 'show', 'default'])) as { dev?: string }[];
  return routes.find((r) => r.dev)?.dev;
}

export interface DeviceSetup {
  device: string;
  mtu: number;
  /** Addresses to put on the device, e.g. 10.244.1.0/32 and fd10:244:0:1::/128. */
  addresses: string[];
  /** Routes into the device: the cluster pod networks. */
  routes: Cidr[];
}

/**
 * One device's IPv6 settings, /proc/sys/net/ipv6/conf/<device>/<key>. Injected, so that a test with a fake `ip`
 * runner never writes the settings of a real device. Only ever used on the device vxtun created.
 */
export interface DeviceConf {
  /** The value, or undefined when the setting does not exist (IPv6 is disabled on this host). */
  get(device: string, key: string): Promise<string | undefined>;
  set(device: string, key: string, value: string): Promise<void>;
}

const confPath = (device: string, key: string) => `/proc/sys/net/ipv6/conf/${device}/${key}`;

export const procDeviceConf: DeviceConf = {
  async get(device, key) {
    try {
      return (await readFile(confPath(device, key), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw confError('reading', device, key, err);
    }
  },
  async set(device, key, value) {
    try {
      await writeFile(confPath(device, key), value);
    } catch (err) {
      throw confError('writing', device, key, err);
    }
  },
};

function confError(verb: string, device: string, key: string, err: unknown): DataplaneError {
  const e = err as NodeJS.ErrnoException;
  return new DataplaneError(`${verb} ${confPath(device, key)}: ${e.code ?? e.message}`, e.code, 'sysctl');
}

/**
 * Keeps the kernel's own multicast signalling out of the device, which must still be down. The overlay carries no
 * multicast, but a TUN device is created with IFF_MULTICAST and, on a router (IPv6 forwarding on, as on every
 * Kubernetes node), joins the all-routers group ff02::2 as it is registered; bringing it up then makes the kernel
 * send MLDv2 reports for that group (from ::, to ff02::16; two to four over the first second) into the device,
 * where no peer owns the destination: `no-route` drops on every start that say nothing about pod traffic. So:
 *  1. leave ff02::2 (forwarding 0) in MLDv1 mode (force_mld_version 1): a group that was never reported is then
 *     left silently, with no pending MLDv2 state-change record that would be sent once the device is up;
 *  2. clear IFF_MULTICAST: the kernel joins ff02::2 on a device only while it has the flag, so it is not joined
 *     again when forwarding is switched on later (writing net.ipv6.conf.all.forwarding sets every device's), and
 *     multicast applications (mDNS, SSDP…) leave the device alone;
 *  3. restore both settings: the device keeps its router behaviour and the MLD version its default.
 * Step 2 alone does not do: the group is joined before vxtun can clear the flag. Resolves with null, or with why
 * step 1 could not be done (e.g. /proc/sys is read-only in an unprivileged container): the device then works as
 * before, and the kernel's reports show up as a few no-route drops at start.
 */
export async function quietMulticast(ip: IpRunner, conf: DeviceConf, device: string): Promise<string | null> {
  const restore: [key: string, value: string][] = [];
  let problem: string | null = null;
  try {
    const forwarding = await conf.get(device, 'forwarding');
    const mldVersion = await conf.get(device, 'force_mld_version');
    // Not a router here, or no IPv6 at all: the device is in no group that is ever reported.
    if (forwarding !== undefined && forwarding !== '0' && mldVersion !== undefined) {
      await conf.set(device, 'force_mld_version', '1');
      restore.unshift(['force_mld_version', mldVersion]);
      await conf.set(device, 'forwarding', '0');
      restore.unshift(['forwarding', forwarding]);
    }
  } catch (err) {
    problem =
      `could not leave the all-routers group ff02::2 (${(err as Error).message}): ` +
      "the kernel's MLD reports for it will show as a few no-route drops at start";
  }
  try {
    await ip(['link', 'set', 'dev', device, 'multicast', 'off']);
  } finally {
    for (const [key, value] of restore) await conf.set(device, key, value);
  }
  return problem;
}

/**
 * The device's transmit queue: the ring of packets the kernel has routed into the TUN and vxtun has not read yet.
 * The kernel's default for a TUN is 500 packets, which a burst of MTU-sized packets fills before the reader runs
 * again (with TSO off, or from a pod without it: 13,690 drops and as many TCP retransmissions in a 5 s 1-stream
 * iperf3 on the lab, none at 4096). Kernel VXLAN has no such queue; it transmits in the sender's context.
 */
export const TUN_TX_QUEUE_LEN = 4096;

/** The kernel's own counters of one device that vxtun reports. */
export interface DeviceStats {
  /** Packets routed into the device and dropped because its transmit queue was full: vxtun did not read them in time. */
  txDropped: number;
}

/**
 * Reads a device's counters from /proc/net/dev text (one line per device: `name: ` then 8 receive and 8 transmit
 * columns — bytes packets errs drop fifo frame compressed multicast | bytes packets errs drop fifo colls carrier
 * compressed). Undefined when the device is not listed or its line is malformed.
 */
export function parseProcNetDev(text: string, device: string): DeviceStats | undefined {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== device) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (f.length < 16 || !f.every((x) => /^\d+$/.test(x))) return undefined;
    return { txDropped: Number(f[11]) };
  }
  return undefined;
}

/** A device's counters now, from /proc/net/dev (always the reader's own network namespace); undefined if unknown. */
export type DeviceStatsReader = (device: string) => DeviceStats | undefined;

export const procNetDevStats: DeviceStatsReader = (device) => {
  try {
    return parseProcNetDev(readFileSync('/proc/net/dev', 'utf8'), device);
  } catch {
    return undefined;
  }
};

/**
 * The crash guard's metric: worse than the device's routes (metric 0 for IPv4, 1024 for IPv6, as `ip` adds them), so
 * the device's route wins while it exists.
 */
export const GUARD_ROUTE_METRIC = 65000;
/** The crash guard's routing protocol number (`proto 118` in `ip route`; not one /etc/iproute2/rt_protos names). */
export const GUARD_ROUTE_PROTO = 118;

/**
 * `ip` arguments that install (`replace`) or remove (`del`) the crash guard for one cluster network:
 * `unreachable <network> metric GUARD_ROUTE_METRIC proto GUARD_ROUTE_PROTO`. It has no device, so it outlives a
 * vxtun that dies without cleaning up (kill -9, OOM kill) and takes over from the device's route, which the kernel
 * removes with the device: a pod packet for another node then gets ICMP unreachable instead of following the
 * node's default route onto the underlay unencapsulated. The node's own pod subnets (e.g. a /24 on cni0) are more
 * specific and stay reachable. `replace` takes over a guard a crashed run left; `del` matches ours only (metric
 * and proto).
 */
export function guardRouteArgs(verb: 'replace' | 'del', network: Cidr): string[] {
  return [
    ...(network.family === 6 ? ['-6'] : []),
    'route',
    verb,
    'unreachable',
    network.toString(),
    'metric',
    String(GUARD_ROUTE_METRIC),
    'proto',
    String(GUARD_ROUTE_PROTO),
  ];
}

/**
 * Brings the device up with its MTU, transmit queue length, addresses and routes. Nothing the kernel itself sends reaches the device:
 * only packets routed into it, so every `no-route` drop is a packet for an address no node owns. Resolves with
 * warnings about what could not be done without failing the start.
 */
export async function configureDevice(ip: IpRunner, conf: DeviceConf, s: DeviceSetup): Promise<string[]> {
  // No link-local address: otherwise the kernel sends router solicitations, and MLD reports from
  // that address, into the device.
  await ip(['link', 'set', 'dev', s.device, 'addrgenmode', 'none']).catch(() => undefined);
  const quiet = await quietMulticast(ip, conf, s.device);
  await ip(['link', 'set', 'dev', s.device, 'mtu', String(s.mtu), 'txqueuelen', String(TUN_TX_QUEUE_LEN), 'up']);
  // TSO reads are split into at most 128 segments; the stack segments anything larger itself.
  await ip(['link', 'set', 'dev', s.device, 'gso_max_segs', '128']).catch(() => undefined);
  for (const a of s.addresses) {
    const v6 = a.includes(':');
    await ip([...(v6 ? ['-6'] : []), 'addr', 'replace', a, 'dev', s.device, ...(v6 ? ['nodad'] : [])]);
  }
  for (const r of s.routes) {
    await ip([...(r.family === 6 ? ['-6'] : []), 'route', 'replace', r.toString(), 'dev', s.device]);
    await ip(guardRouteArgs('replace', r));
  }
  return quiet ? [quiet] : [];
}

/** Removes the device routes configureDevice added; errors are returned, not thrown (best effort). */
export async function removeRoutes(ip: IpRunner, s: DeviceSetup): Promise<Error[]> {
  return bestEffort(
    ip,
    s.routes.map((r) => [...(r.family === 6 ? ['-6'] : []), 'route', 'del', r.toString(), 'dev', s.device]),
  );
}

/**
 * Removes the crash guard routes configureDevice added (a clean stop leaves nothing); errors are returned, not
 * thrown (best effort).
 */
export async function removeGuardRoutes(ip: IpRunner, s: DeviceSetup): Promise<Error[]> {
  return bestEffort(
    ip,
    s.routes.map((r) => guardRouteArgs('del', r)),
  );
}

async function bestEffort(ip: IpRunner, commands: string[][]): Promise<Error[]> {
  const errors: Error[] = [];
  for (const args of commands) {
    try {
      await ip(args);
    } catch (err) {
      errors.push(err as Error);
    }
  }
  return errors;
}

/** True when a link of that name exists. */
export async function linkExists(ip: IpRunner, name: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}
