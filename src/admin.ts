// The admin HTTP server (design.md "Admin HTTP"): GET /healthz, /readyz, /status, /metrics, /debug/pcap.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { servePcap, type PcapStreamDeps } from './pcap-stream.js';
import type { Status } from './status.js';

export interface AdminHandlers {
  status(): Status;
  ready(): boolean;
  /** Serves GET /metrics when given (else 404). */
  metrics?: Metrics;
  /** Serves GET /debug/pcap (src/pcap-stream.ts) when given (else 404). */
  pcap?: PcapStreamDeps;
}

export interface AdminServer {
  readonly address: string;
  close(): Promise<void>;
}

export async function startAdminServer(
  listen: { host: string; port: number },
  handlers: AdminHandlers,
  logger: Logger,
): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    try {
      switch (url.pathname) {
        case '/healthz':
          return send(200, 'ok\n');
        case '/readyz':
          return handlers.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
        case '/status':
          return send(200, JSON.stringify(handlers.status(), null, 2) + '\n', 'application/json');
        case '/debug/pcap':
          if (!handlers.pcap) return send(404, 'not found\n');
          return servePcap(handlers.pcap, url.searchParams, req, res);
        case '/metrics': {
          const metrics = handlers.metrics;
          if (!metrics) return send(404, 'not found\n');
          metrics.render().then(
            (text) => send(200, text, metrics.contentType),
            (err: unknown) => {
              logger.error('admin request failed', { path: url.pathname, error: (err as Error).message });
              send(500, 'internal error\n');
            },
          );
          return;
        }
        default:
          return send(404, 'not found\n');
      }
    } catch (err) {
      logger.error('admin request failed', { path: url.pathname, error: (err as Error).message });
      return send(500, 'internal error\n');
    }
  });
  server.keepAliveTimeout = 5_000;
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
