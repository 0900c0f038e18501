// Readers for the network values in a config: interface names, CIDRs, underlay addresses, MACs. Same contract as
// src/config/readers.ts: the value, or ConfigError(field, …).
import { Cidr } from '../net/cidr.js';
import { parseIP, type IP } from '../net/ip.js';
import { formatMac, isUnicast, parseMac } from '../net/mac.js';
import { describe, fail } from './readers.js';

/** Linux interface name rules (dev_valid_name): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
export function ifname(v: unknown, field: string): string {
  const what = 'an interface name (1..15 characters, no "/", ":" or whitespace)';
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const ok = v.length > 0 && Buffer.byteLength(v, 'utf8') <= 15 && v !== '.' && v !== '..' && !/[/:\s]/u.test(v);
  if (!ok) fail(field, `expected ${what}, got ${describe(v)}`);
  return v;
}

/** Any CIDR; Cidr.parse's message (host bits set, no prefix length…) on text that is not one. */
export function anyCidr(v: unknown, field: string, example: string): Cidr {
  if (typeof v !== 'string') fail(field, `expected a CIDR like ${example}, got ${describe(v)}`);
  try {
    return Cidr.parse(v);
  } catch (e) {
    fail(field, e instanceof Error ? e.message : String(e));
  }
}

export function cidr(v: unknown, field: string, family: 4 | 6): Cidr {
  const example = family === 4 ? '10.244.0.0/16' : 'fd10:244::/56';
  if (typeof v !== 'string') fail(field, `expected an IPv${family} CIDR like ${example}, got ${describe(v)}`);
  const c = anyCidr(v, field, example);
  if (c.family !== family) fail(field, `expected an IPv${family} CIDR like ${example}, got ${describe(v)}`);
  return c;
}

/** A pod network: a CIDR of the given family that is not the whole address space (it is routed into the device). */
export function podNetwork(v: unknown, field: string, family: 4 | 6): Cidr {
  const c = cidr(v, field, family);
  if (c.prefixLen === 0) fail(field, `${c.toString()} would route every address into the device`);
  return c;
}

/**
 * An underlay address (README "Configuration", `underlay`): a unicast IPv4 address, or a global or unique-local
 * unicast IPv6 address. Refused on IPv6: the unspecified address, loopback, multicast, link-local (it means nothing
 * without a scope, and a config address has none) and IPv4-mapped (write the IPv4 address). `only6`: an IPv6
 * address is expected (a dual-stack node's or peer's `publicIPv6`).
 */
export function underlayIP(v: unknown, field: string, only6 = false): IP {
  const what = only6 ? 'an IPv6 address like fd99::1' : 'an IPv4 or IPv6 address like 192.168.99.1 or fd99::1';
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const ip = parseIP(v);
  if (ip === null || (only6 && ip.family !== 6)) fail(field, `expected ${what}, got ${describe(v)}`);
  const why = ip.family === 6 ? unusableV6Underlay(ip.bytes) : unusableV4Underlay(ip);
  if (why !== undefined) fail(field, `${ip.text} ${why}`);
  return ip;
}

function unusableV4Underlay(ip: IP): string | undefined {
  const b0 = ip.bytes[0] ?? 0;
  if (ip.text === '0.0.0.0' || ip.text === '255.255.255.255' || (b0 & 0xf0) === 0xe0) return 'is not a unicast address';
  return undefined;
}

/** Why a 16-byte address cannot be an IPv6 underlay address, or undefined when it can. */
function unusableV6Underlay(b: Uint8Array): string | undefined {
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 16)) return 'is the unspecified address, not a unicast address';
  if (zeros(0, 15) && b[15] === 1) return 'is the loopback address, not an address other nodes can send to';
  if (b[0] === 0xff) return 'is a multicast address, not a unicast address';
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) {
    return 'is link-local: it needs a scope (an interface), which a config address cannot give; use a global or unique-local (fd00::/8) address';
  }
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) {
    return `is IPv4-mapped; write the IPv4 address (${b.subarray(12).join('.')}) instead`;
  }
  return undefined;
}

/** A unicast MAC in lowercase colon form; `alt` names another accepted value in the message ("'auto' or "). */
export function unicastMac(v: unknown, field: string, alt = ''): string {
  const what = `${alt}a unicast MAC like 0a:00:00:00:01:01`;
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const mac = parseMac(v);
  if (mac === null) fail(field, `expected ${what}, got ${describe(v)}`);
  if (!isUnicast(mac)) fail(field, `${v} is a multicast address; a VTEP MAC must be unicast (even first byte)`);
  return formatMac(mac);
}
