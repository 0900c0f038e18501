// The admin HTTP servers (README "Admin API"). On TCP (`admin.listen`, safe to expose to Prometheus):
// GET /healthz, /readyz, /metrics, nothing else. On the unix socket (`admin.socket`, mode 0600, see
// src/admin/socket-file.ts): the same plus GET /status and /debug/pcap. Every malformed request gets a 4xx; nothing a
// request does can throw out of the server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenUnixSocket, type UnixSocketHandle } from './socket-file.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { servePcap, type PcapStreamDeps } from './pcap-stream.js';
import type { Status } from './status.js';

export interface AdminHandlers {
  status(): Status;
  ready(): boolean;
  /** Serves GET /metrics when given (else 404). */
  metrics?: Metrics;
  /** Serves GET /debug/pcap (src/admin/pcap-stream.ts) when given (else 404). */
  pcap?: PcapStreamDeps;
}

/** Request heads are small (a GET line and a few headers); a larger one is refused with 431. */
const MAX_HEADER_BYTES = 8 << 10;
/** A client must send its whole request head within this, and the whole request within REQUEST_TIMEOUT_MS (→ 408). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** Connections beyond this are refused (closed at once): a flood of idle clients cannot exhaust the daemon's fds. */
const MAX_CONNECTIONS = 128;

/**
 * The request target as a path and a query. Only origin-form ("/path?query") is served; anything else ("//",
 * "http://x", "*", "") is null (→ 400). Never throws: the path is taken as sent, without URL resolution.
 */
export function parseTarget(url: string | undefined): { pathname: string; query: URLSearchParams } | null {
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//')) return null;
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  const end = hash < 0 ? url.length : hash;
  const pathname = q < 0 || q > end ? url.slice(0, end) : url.slice(0, q);
  const query = q < 0 || q > end ? new URLSearchParams() : new URLSearchParams(url.slice(q + 1, end));
  return { pathname, query };
}

export interface AdminServer {
  /** HOST:PORT, or the socket path. */
  readonly address: string;
  close(): Promise<void>;
}

/** What a listener serves: 'public' (TCP) only the probes and metrics; 'local' (the unix socket) everything. */
export type AdminScope = 'public' | 'local';
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

function createAdminHttp(handlers: AdminHandlers, logger: Logger, scope: AdminScope): http.Server {
  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': type, 'cache-control': 'no-store' };
      if (code >= 400) headers['connection'] = 'close';
      res.writeHead(code, headers);
      res.end(body);
    };
    const target = parseTarget(req.url);
    if (!target) return send(400, 'bad request target\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const { pathname, query } = target;
    if (scope === 'public' && !PUBLIC_PATHS.has(pathname)) return send(404, 'not found\n');
    switch (pathname) {
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz':
        return handlers.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
      case '/status':
        return send(200, JSON.stringify(handlers.status(), null, 2) + '\n', 'application/json');
      case '/debug/pcap':
        if (!handlers.pcap) return send(404, 'not found\n');
        return servePcap(handlers.pcap, query, req, res);
      case '/metrics': {
        const metrics = handlers.metrics;
        if (!metrics) return send(404, 'not found\n');
        metrics.render().then(
          (text) => send(200, text, metrics.contentType),
          (err: unknown) => fail(req, res, err),
        );
        return;
      }
      default:
        return send(404, 'not found\n');
    }
  };
  // Answers 500 when nothing was sent yet, else cuts the response: nothing a handler throws leaves the server.
  const fail = (req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void => {
    logger.error('admin request failed', {
      path: String(req.url).slice(0, 200),
      error: String((err as Error)?.message ?? err).slice(0, 200),
    });
    if (res.headersSent) return void res.destroy();
    res.writeHead(500, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'close',
    });
    res.end('internal error\n');
  };
  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      try {
        route(req, res);
      } catch (err) {
        fail(req, res, err);
      }
    },
  );
  // A malformed request line or header, one too large, or one too slow: 400/431/408 and close (Node's parser
  // reports these here, never to the request handler). A socket that already failed is only destroyed.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  server.on('error', (err) => logger.error('admin server error', { error: err.message }));
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 5_000;
  return server;
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** The TCP listener (`admin.listen`): /healthz, /readyz and /metrics only. */
export async function startAdminServer(
  listen: { host: string; port: number },
  handlers: AdminHandlers,
  logger: Logger,
): Promise<AdminServer> {
  const server = createAdminHttp(handlers, logger, 'public');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () => closeServer(server),
  };
}

/**
 * The unix socket listener (`admin.socket`): everything, /status and /debug/pcap included. Throws (a runtime
 * failure, exit 1) when another daemon answers on `path` or `path` is not a socket; see src/admin/socket-file.ts.
 */
export async function startAdminSocket(path: string, handlers: AdminHandlers, logger: Logger): Promise<AdminServer> {
  const server = createAdminHttp(handlers, logger, 'local');
  const handle: UnixSocketHandle = await listenUnixSocket(server, path);
  return {
    address: path,
    close: async () => {
      await closeServer(server);
      handle.remove();
    },
  };
}
