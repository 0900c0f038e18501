// Kernel-side setup around the TUN device, through iproute2: the device's MTU, addresses and the
// routes that send the pod network into it, and the facts about the underlay we need to choose
// the MTU and the bind address. The TUN device itself is created by the addon and vanishes,
// with its addresses and routes, when the dataplane closes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Cidr } from './net/cidr.js';
import { DataplaneError } from './errors.js';

const execFileP = promisify(execFile);

/** Runs `ip ARGS…` and returns stdout; rejects with DataplaneError naming the command. */
export type IpRunner = (args: string[]) => Promise<string>;

export const execIp: IpRunner = async (args) => {
  try {
    const { stdout } = await execFileP('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: string | number; message: string };
    if (e.code === 'ENOENT') throw new DataplaneError('the ip command (iproute2) is not installed', 'ENOENT', 'exec');
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new DataplaneError(`ip ${args.join(' ')}: ${detail}`, undefined, 'ip');
  }
};

export interface UnderlayAddress {
  interface: string;
  address: string;
  mtu: number;
}

interface IpAddrJson {
  ifname: string;
  mtu: number;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Every IPv4 address of this namespace with its interface and MTU (loopback excluded). */
export async function listIPv4Addresses(ip: IpRunner): Promise<UnderlayAddress[]> {
  const links = JSON.parse(await ip(['-j', '-4', 'addr', 'show'])) as IpAddrJson[];
  const out: UnderlayAddress[] = [];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      if (a.family === 'inet' && !a.local.startsWith('127.')) out.push({ interface: l.ifname, address: a.local, mtu: l.mtu });
    }
  }
  return out;
}

/** The interface of the IPv4 default route, if any. */
export async function defaultRouteInterface(ip: IpRunner): Promise<string | undefined> {
  const routes = JSON.parse(await ip(['-j', '-4', 'route', 'show', 'default'])) as { dev?: string }[];
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

/** Brings the device up with its MTU, addresses and routes. */
export async function configureDevice(ip: IpRunner, s: DeviceSetup): Promise<void> {
  // No link-local address: otherwise the kernel sends MLD reports and router solicitations into
  // the device, which have no peer and would show up as no-route drops.
  await ip(['link', 'set', 'dev', s.device, 'addrgenmode', 'none']).catch(() => undefined);
  await ip(['link', 'set', 'dev', s.device, 'mtu', String(s.mtu), 'up']);
  // TSO reads are split into at most 128 segments; the stack segments anything larger itself.
  await ip(['link', 'set', 'dev', s.device, 'gso_max_segs', '128']).catch(() => undefined);
  for (const a of s.addresses) {
    const v6 = a.includes(':');
    await ip([...(v6 ? ['-6'] : []), 'addr', 'replace', a, 'dev', s.device, ...(v6 ? ['nodad'] : [])]);
  }
  for (const r of s.routes) {
    await ip([...(r.family === 6 ? ['-6'] : []), 'route', 'replace', r.toString(), 'dev', s.device]);
  }
}

/** Removes the routes configureDevice added; errors are returned, not thrown (best effort). */
export async function removeRoutes(ip: IpRunner, s: DeviceSetup): Promise<Error[]> {
  const errors: Error[] = [];
  for (const r of s.routes) {
    try {
      await ip([...(r.family === 6 ? ['-6'] : []), 'route', 'del', r.toString(), 'dev', s.device]);
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
