// An IPv4 or IPv6 prefix ("10.244.1.0/24", "fd10:244::/56"): network address plus prefix length.

import { formatIP, ipFromBytes, parseIP, type IP } from './ip.js';

const PREFIX_LEN = /^(?:0|[1-9][0-9]{0,2})$/;

/** A copy of `bytes` with every bit after the first `prefixLen` cleared. */
function maskBytes(bytes: Uint8Array, prefixLen: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.min(8, Math.max(0, prefixLen - 8 * i)); // bits of byte i inside the prefix
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export class Cidr {
  readonly family: 4 | 6;
  /** The network address (host bits zero), 4 or 16 bytes. Treat as read-only. */
  readonly bytes: Uint8Array;
  readonly prefixLen: number;

  /** The prefix of `address` (4 or 16 bytes, copied; host bits are cleared) of length `prefixLen`. */
  constructor(address: Uint8Array, prefixLen: number) {
    if (address.length !== 4 && address.length !== 16) {
      throw new RangeError(`an IP address has 4 or 16 bytes, got ${address.length}`);
    }
    const bits = address.length * 8;
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > bits) {
      throw new RangeError(`prefix length must be an integer 0..${bits}, got ${prefixLen}`);
    }
    this.family = address.length === 4 ? 4 : 6;
    this.bytes = maskBytes(address, prefixLen);
    this.prefixLen = prefixLen;
  }

  /**
   * Parses "ADDRESS/LEN" (strict address forms, see ip.ts; LEN decimal without leading zeros). With `strict` (the
   * default) an address with host bits set is an error; without it they are cleared. Throws Error with a message that
   * quotes the input.
   */
  static parse(s: string, opts: { strict?: boolean } = {}): Cidr {
    const strict = opts.strict ?? true;
    const bad = (why?: string): Error =>
      new Error(`expected a CIDR like 10.244.1.0/24, got ${JSON.stringify(s)}${why ? ` (${why})` : ''}`);
    if (typeof s !== 'string') throw bad();
    const parts = s.split('/');
    if (parts.length !== 2) throw bad();
    const [addrText = '', lenText = ''] = parts;
    const addr = parseIP(addrText);
    if (addr === null) throw bad(`${JSON.stringify(addrText)} is not an IP address`);
    const bits = addr.family === 4 ? 32 : 128;
    const len = PREFIX_LEN.test(lenText) ? Number(lenText) : NaN;
    if (!(len >= 0 && len <= bits)) throw bad(`the prefix length of an IPv${addr.family} CIDR is 0..${bits}`);
    const cidr = new Cidr(addr.bytes, len);
    if (strict && formatIP(cidr.bytes) !== addr.text) {
      throw new Error(`${s} has host bits set; did you mean ${cidr.toString()}?`);
    }
    return cidr;
  }

  /** Canonical text: "10.244.1.0/24", "fd10:244::/56". */
  toString(): string {
    return `${formatIP(this.bytes)}/${this.prefixLen}`;
  }

  /** Whether `ip` lies inside this prefix. An address of the other family never does. */
  contains(ip: IP | Uint8Array): boolean {
    const b = ip instanceof Uint8Array ? ip : ip.bytes;
    if (b.length !== this.bytes.length) return false;
    const masked = maskBytes(b, this.prefixLen);
    return masked.every((x, i) => x === this.bytes[i]);
  }

  /** Whether the two prefixes share any address (one contains the other). Different families never overlap. */
  overlaps(o: Cidr): boolean {
    return this.family === o.family && (this.contains(o.bytes) || o.contains(this.bytes));
  }

  /** Same family, network and length. */
  equals(o: Cidr): boolean {
    return this.prefixLen === o.prefixLen && this.family === o.family && this.contains(o.bytes);
  }

  /**
   * The network address plus `n`: n=0 is the network address itself, n=1 the first usable address (flannel's
   * FLANNEL_SUBNET). Throws RangeError unless 0 <= n < 2^(host bits) and n is a safe integer.
   */
  hostAddress(n: number): IP {
    const hostBits = this.bytes.length * 8 - this.prefixLen;
    if (!Number.isSafeInteger(n) || n < 0 || BigInt(n) >= 1n << BigInt(hostBits)) {
      throw new RangeError(`host number ${n} is outside ${this.toString()}`);
    }
    const out = Uint8Array.from(this.bytes);
    let carry = BigInt(n);
    for (let i = out.length - 1; i >= 0 && carry > 0n; i--) {
      const sum = BigInt(out[i] ?? 0) + (carry & 0xffn);
      out[i] = Number(sum & 0xffn);
      carry = (carry >> 8n) + (sum >> 8n);
    }
    return ipFromBytes(out);
  }
}
