// IP address values. Parsing accepts only strict textual forms, so a config value means exactly one address:
//   IPv4: dotted quad, four decimal octets 0..255, no leading zeros ("010.0.0.1" is rejected, as it is ambiguous
//         with octal in inet_aton), no shorthand ("10.1"), no surrounding whitespace.
//   IPv6: RFC 4291 text form: eight groups of 1..4 hex digits, at most one "::", optionally ending in a dotted quad
//         (IPv4-mapped "::ffff:192.0.2.1" and the like); no zone ids ("fe80::1%eth0"), no brackets, no prefix.
// Canonical text (IP.text): IPv4 dotted quad; IPv6 per RFC 5952 (lowercase, leading zeros dropped, the longest run of
// two or more zero groups compressed to "::", the first such run on a tie), with IPv4-mapped addresses written as
// "::ffff:a.b.c.d" (RFC 5952 section 5).

export interface IP {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. Treat as read-only. */
  readonly bytes: Uint8Array;
  /** Canonical text form. */
  readonly text: string;
}

const V4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4Bytes(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!V4_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseV6Groups(part: string): number[] | null {
  if (part === '') return [];
  const groups: number[] = [];
  for (const g of part.split(':')) {
    if (!V6_GROUP.test(g)) return null;
    groups.push(parseInt(g, 16));
  }
  return groups;
}

function parseV6Bytes(input: string): Uint8Array | null {
  let s = input;
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return null;
  // A trailing dotted quad stands for the last two groups.
  if (s.indexOf('.', lastColon) >= 0) {
    const v4 = parseV4Bytes(s.slice(lastColon + 1));
    if (v4 === null) return null;
    const hi = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0);
    const lo = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0);
    s = `${s.slice(0, lastColon + 1)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl < 0) {
    const all = parseV6Groups(s);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    if (s.indexOf('::', dbl + 1) >= 0) return null; // two "::", or ":::"
    const left = parseV6Groups(s.slice(0, dbl));
    const right = parseV6Groups(s.slice(dbl + 2));
    // "::" stands for one or more zero groups.
    if (left === null || right === null || left.length + right.length > 7) return null;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function formatV4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function formatV6(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `::ffff:${formatV4(b.subarray(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text of a 4- or 16-byte address. Throws RangeError for any other length. */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatV4(bytes);
  if (bytes.length === 16) return formatV6(bytes);
  throw new RangeError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
}

/** An IP value from raw bytes (copied). Throws RangeError unless there are 4 or 16 bytes. */
export function ipFromBytes(bytes: Uint8Array): IP {
  const text = formatIP(bytes);
  return { family: bytes.length === 4 ? 4 : 6, bytes: Uint8Array.from(bytes), text };
}

/** Parses a strict IPv4 or IPv6 literal (see the top of this file); null when `s` is not one. */
export function parseIP(s: string): IP | null {
  if (typeof s !== 'string') return null;
  const bytes = s.includes(':') ? parseV6Bytes(s) : parseV4Bytes(s);
  return bytes === null ? null : ipFromBytes(bytes);
}

/** Same family and same bytes. An IPv4 address never equals its IPv4-mapped IPv6 form. */
export function ipEquals(a: IP | Uint8Array, b: IP | Uint8Array): boolean {
  const x = a instanceof Uint8Array ? a : a.bytes;
  const y = b instanceof Uint8Array ? b : b.bytes;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
