// "HOST:PORT" text, the one parser for every address vxtun reads in that form (the config's admin.listen, a TCP
// admin target): HOST is an IPv4 literal, an IPv6 literal in brackets ("[::1]:9465") or "localhost"; PORT is
// 1..65535 in decimal without a sign or leading zeros. Hosts come back in canonical text (src/net/ip.ts), IPv6
// without brackets. Words like "off" are the caller's to handle before calling.
import { parseIP } from './ip.js';

export interface HostPort {
  /** An IPv4 or IPv6 literal in canonical text (no brackets), or "localhost". */
  host: string;
  port: number;
}

/**
 * The address, or why not: `reason` names the part that is wrong; no reason means the text is not HOST:PORT at all
 * (no ":", or more than one outside brackets), and the caller says what it expected.
 */
export type HostPortResult = ({ ok: true } & HostPort) | { ok: false; reason?: string };

const SHAPE = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/;
const PORT = /^[1-9][0-9]{0,4}$/;

export function parseHostPort(text: string): HostPortResult {
  const m = SHAPE.exec(text);
  if (m === null) return { ok: false };
  const [, v6, plain = '', portText = ''] = m;
  let host: string;
  if (v6 !== undefined) {
    const ip = parseIP(v6);
    if (ip === null || ip.family !== 6) {
      return { ok: false, reason: `expected an IPv6 address inside [brackets], got ${JSON.stringify(v6)}` };
    }
    host = ip.text;
  } else if (plain === 'localhost') {
    host = plain;
  } else {
    const ip = parseIP(plain);
    if (ip === null || ip.family !== 4) {
      return {
        ok: false,
        reason: `expected an IPv4 address, [IPv6 address] or localhost before ":", got ${JSON.stringify(plain)}`,
      };
    }
    host = ip.text;
  }
  const port = PORT.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535))
    return { ok: false, reason: `expected a port 1..65535 after ":", got ${JSON.stringify(portText)}` };
  return { ok: true, host, port };
}

/** The text form parseHostPort reads back: IPv6 hosts in brackets (also an HTTP Host header's form). */
export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
