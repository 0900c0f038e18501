// The `admin` section: the TCP listen address (health and metrics) and the unix socket (status and pcap). Both
// parsers also read the command line's flags: errors are ConfigErrors on the `field` given.
import { parseHostPort, type HostPort } from '../net/host-port.js';
import { describe, fail, mapping } from './readers.js';
import { DEFAULT_ADMIN_LISTEN, DEFAULT_ADMIN_SOCKET, MAX_SOCKET_PATH_BYTES, type Config } from './types.js';

/** A listen address "HOST:PORT" (src/net/host-port.ts: IPv4, [IPv6] or localhost, port 1..65535); "off" gives null. */
export function parseListenAddress(v: unknown, field: string): HostPort | null {
  const what = `"HOST:PORT" (like ${DEFAULT_ADMIN_LISTEN} or [::1]:9465) or "off"`;
  if (v === 'off') return null;
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  const r = parseHostPort(v);
  if (!r.ok) fail(field, r.reason ?? `expected ${what}, got ${describe(v)}`);
  return { host: r.host, port: r.port };
}

/**
 * A unix socket path: absolute, at most MAX_SOCKET_PATH_BYTES bytes (sun_path), no NUL, not a directory ("…/");
 * "off" gives null.
 */
export function parseSocketPath(v: unknown, field: string): string | null {
  if (v === 'off') return null;
  if (typeof v !== 'string' || !v.startsWith('/') || v.endsWith('/') || v.includes('\0')) {
    fail(
      field,
      `expected an absolute path of a unix socket (like ${DEFAULT_ADMIN_SOCKET}) or "off", got ${describe(v)}`,
    );
  }
  const bytes = Buffer.byteLength(v);
  if (bytes > MAX_SOCKET_PATH_BYTES)
    fail(field, `a unix socket path has at most ${MAX_SOCKET_PATH_BYTES} bytes, got ${bytes}`);
  return v;
}

/** An absolute file path, or "off" (null). */
function readyFileOf(v: unknown): string | null {
  if (v === 'off') return null;
  if (typeof v !== 'string' || !v.startsWith('/') || v.endsWith('/') || v.includes('\0'))
    fail('admin.readyFile', `expected an absolute file path or "off", got ${describe(v)}`);
  return v;
}

export function adminOf(v: unknown): Config['admin'] {
  const m = v === undefined ? new Map<string, unknown>() : mapping(v, 'admin', ['listen', 'socket', 'readyFile']);
  return {
    listen: parseListenAddress(m.has('listen') ? m.get('listen') : DEFAULT_ADMIN_LISTEN, 'admin.listen'),
    socket: parseSocketPath(m.has('socket') ? m.get('socket') : DEFAULT_ADMIN_SOCKET, 'admin.socket'),
    readyFile: m.has('readyFile') ? readyFileOf(m.get('readyFile')) : null,
  };
}
