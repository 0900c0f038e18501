// Ethernet MAC addresses (the VTEP MACs of the inner Ethernet header).
// Text form: six two-digit hex bytes separated by colons, case-insensitive on input, lowercase on output.
// Bit rules (IEEE 802), first byte: bit 0 (I/G) set = multicast/broadcast; bit 1 (U/L) set = locally administered.

import { createHash, randomBytes } from 'node:crypto';

const MAC_TEXT = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/** Six bytes from "aa:bb:cc:dd:ee:ff" (any case); null for anything else. */
export function parseMac(s: string): Uint8Array | null {
  if (typeof s !== 'string' || !MAC_TEXT.test(s)) return null;
  return Uint8Array.from(s.split(':'), (h) => parseInt(h, 16));
}

/** "aa:bb:cc:dd:ee:ff" (lowercase). Throws RangeError unless there are exactly 6 bytes. */
export function formatMac(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${bytes.length}`);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The I/G bit is clear: the address names one station (not multicast, not broadcast). */
export function isUnicast(bytes: Uint8Array): boolean {
  return bytes.length === 6 && ((bytes[0] ?? 1) & 0x01) === 0;
}

/** The U/L bit is set: the address was assigned locally, not by a vendor. */
export function isLocallyAdministered(bytes: Uint8Array): boolean {
  return bytes.length === 6 && ((bytes[0] ?? 0) & 0x02) !== 0;
}

/** Forces unicast + locally administered on the first byte. */
function localUnicast(b: Uint8Array): string {
  const out = Uint8Array.from(b.subarray(0, 6));
  out[0] = ((out[0] ?? 0) & 0xfe) | 0x02;
  return formatMac(out);
}

/** A stable locally administered unicast MAC for `name`: the first 6 bytes of sha256(name) with the bits forced. */
export function macFromName(name: string): string {
  return localUnicast(createHash('sha256').update(name, 'utf8').digest());
}

/** A random locally administered unicast MAC. */
export function randomMac(): string {
  return localUnicast(randomBytes(6));
}
