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

/** An underlay address: IPv4 only for now, unicast. */
export function underlayIP(v: unknown, field: string): IP {
  if (typeof v !== 'string') fail(field, `expected an IPv4 address like 192.168.99.1, got ${describe(v)}`);
  const ip = parseIP(v);
  if (ip === null) fail(field, `expected an IPv4 address like 192.168.99.1, got ${describe(v)}`);
  if (ip.family === 6) fail(field, `IPv6 underlay is not supported yet (got ${ip.text})`);
  const b0 = ip.bytes[0] ?? 0;
  if (ip.text === '0.0.0.0' || ip.text === '255.255.255.255' || (b0 & 0xf0) === 0xe0) {
    fail(field, `${ip.text} is not a unicast address`);
  }
  return ip;
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
