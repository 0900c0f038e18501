// This node as a VXLAN tunnel endpoint on the underlay: the local address the dataplane binds, the address it
// advertises, its VTEP MAC, and the device MTU that leaves room for the encapsulation. Settled once at start, after
// the peer source has named this node and before anything is opened.
import { autoMtu, type Config } from '../config/index.js';
import { ConfigError, DataplaneError } from '../errors.js';
import type { Logger } from '../log.js';
import { defaultRouteInterface, listUnderlayAddresses, type IpRunner, type UnderlayAddress } from '../device/device.js';
import { parseIP, type IP } from '../net/ip.js';
import { randomMac } from '../net/mac.js';
import type { Advertisement, LocalNode } from '../peers/peer-source.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const ENCAP_OVERHEAD_V4 = 50;
/** Outer IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const ENCAP_OVERHEAD_V6 = 70;

/** The encapsulation overhead over an underlay of that family. */
export const encapOverhead = (family: 4 | 6): number => (family === 6 ? ENCAP_OVERHEAD_V6 : ENCAP_OVERHEAD_V4);

export interface Underlay {
  /** The address peers send to (advertised to the overlay). */
  publicIP: string;
  /** The local address the dataplane binds, with its interface and that interface's MTU. */
  bind: UnderlayAddress;
  /** The address family of publicIP and bind.address (4 when v6 is set). */
  family: 4 | 6;
  /** A dual-stack node's IPv6 side: its advertised and bound IPv6 addresses (DataplaneOptions.bindIPv6). */
  v6?: { publicIP: string; bind: UnderlayAddress };
}

/** Everything the daemon settles about this node before it opens the device. */
export interface Vtep {
  vtepMAC: string;
  underlay: Underlay;
  /** The device's MTU. */
  mtu: number;
}

/**
 * Works out which local addresses to bind and which MTU the underlay has (README "Configuration", `underlay`). `own`
 * is the peer source's idea of our address (LocalNode.address): required when it names a field, else a hint that
 * is used only if it is an address of this host (on underlay.interface, when that is set). The underlay's family is
 * underlay.publicIP's, else `own`'s, else IPv4; only addresses of that family are candidates (`ip -4`/`ip -6`).
 * Dual-stack (an IPv4 side as above and an IPv6 side in `v6`) when underlay.publicIPv6 is set, or when `own6`
 * (LocalNode.address6) is and underlay.publicIP is not IPv6; the IPv6 side's address is underlay.publicIPv6, else
 * `own6` under the same rules as `own`, else the address on the IPv6 default route's interface.
 */
export async function resolveUnderlay(
  ip: IpRunner,
  config: Config,
  own: LocalNode['address'],
  own6?: LocalNode['address6'],
): Promise<Underlay> {
  const u = config.underlay;
  const dual = u.publicIPv6 !== undefined || (own6 !== undefined && u.publicIP?.family !== 6);
  if (!dual) {
    const family = u.publicIP?.family ?? own?.ip.family ?? 4;
    return resolveFamily(ip, config, family, u.publicIP, own);
  }
  const v4 = await resolveFamily(ip, config, 4, u.publicIP, own?.ip.family === 4 ? own : undefined);
  const v6 = await resolveFamily(ip, config, 6, u.publicIPv6, own6, 'underlay.publicIPv6');
  return { ...v4, v6: { publicIP: v6.publicIP, bind: v6.bind } };
}

/** One family's side of the underlay: `configured` (its config field) if set, else `own` as resolveUnderlay says. */
async function resolveFamily(
  ip: IpRunner,
  config: Config,
  family: 4 | 6,
  configured: IP | undefined,
  own: LocalNode['address'],
  configuredField = 'underlay.publicIP',
): Promise<Underlay> {
  const addrs = await listUnderlayAddresses(ip, family);
  const usable = (a: string) =>
    addrs.some((x) => x.address === a && (!config.underlay.interface || x.interface === config.underlay.interface));
  const ownIP = own && (own.field !== undefined || usable(own.ip.text)) ? own.ip.text : undefined;
  const wanted = configured?.text ?? ownIP;
  const iface = config.underlay.interface ?? (wanted ? undefined : await defaultRouteInterface(ip, family));
  if (config.underlay.interface && !addrs.some((a) => a.interface === config.underlay.interface)) {
    const what = family === 6 ? 'global IPv6 address' : 'IPv4 address';
    throw new ConfigError('underlay.interface', `${config.underlay.interface} does not exist or has no ${what}`);
  }
  const exact = wanted ? addrs.find((a) => a.address === wanted && (!iface || a.interface === iface)) : undefined;
  const bind = exact ?? addrs.find((a) => a.interface === iface);
  if (!bind) {
    if (wanted) {
      throw new ConfigError(
        configured ? configuredField : (own?.field ?? 'underlay'),
        `${wanted} is not an address of this host; set underlay.interface to bind another address`,
      );
    }
    throw new ConfigError(
      'underlay',
      `no IPv${family} default route to pick the underlay interface from; set underlay.interface`,
    );
  }
  return { publicIP: wanted ?? bind.address, bind, family };
}

/**
 * The device MTU: the configured one, or the underlay interface's less the encapsulation (50 bytes over IPv4, 70
 * over IPv6; dual-stack: the smaller of the two sides', since a packet may leave by either). A ConfigError (`mtu`)
 * below what the overlay's IP versions need (1280 with an IPv6 network, else 576).
 */
export function deviceMtu(config: Config, underlay: Underlay): number {
  const auto4 = autoMtu(underlay.bind.mtu, encapOverhead(underlay.family));
  const auto = underlay.v6 ? Math.min(auto4, autoMtu(underlay.v6.bind.mtu, ENCAP_OVERHEAD_V6)) : auto4;
  const mtu = config.mtu === 'auto' ? auto : config.mtu;
  const minMtu = config.ipv6Network ? 1280 : 576;
  if (mtu < minMtu) {
    const v6 = underlay.v6 ? `, ${underlay.v6.bind.interface} MTU ${underlay.v6.bind.mtu}` : '';
    throw new ConfigError(
      'mtu',
      `${mtu} is below ${minMtu} (underlay ${underlay.bind.interface} has MTU ${underlay.bind.mtu}${v6})`,
    );
  }
  return mtu;
}

/**
 * The VTEP MAC (the configured one; with `auto`, the one the overlay already knows us by, else a new random one, which
 * is logged), the underlay and the device MTU.
 */
export async function resolveVtep(ip: IpRunner, config: Config, local: LocalNode, logger: Logger): Promise<Vtep> {
  const vtepMAC = config.vtepMAC !== 'auto' ? config.vtepMAC : (local.vtepMAC ?? randomMac());
  if (config.vtepMAC === 'auto' && local.vtepMAC === undefined) logger.info('generated a VTEP MAC', { vtepMAC });
  const underlay = await resolveUnderlay(ip, config, local.address, local.address6);
  return { vtepMAC, underlay, mtu: deviceMtu(config, underlay) };
}

/** The advertised address as the peer source takes it. */
export function advertisedIP(underlay: Underlay): IP {
  return parsed(underlay.publicIP);
}

/** What the peer source publishes about our underlay (Advertisement's addresses): a dual-stack node's both. */
export function advertisedIPs(underlay: Underlay): Pick<Advertisement, 'publicIP' | 'publicIPv6'> {
  return { publicIP: parsed(underlay.publicIP), ...(underlay.v6 ? { publicIPv6: parsed(underlay.v6.publicIP) } : {}) };
}

function parsed(text: string): IP {
  const ip = parseIP(text);
  if (!ip) throw new DataplaneError(`bad underlay address ${text}`);
  return ip;
}
