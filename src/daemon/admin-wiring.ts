// The daemon's admin surface: the TCP listener (admin.listen: probes and metrics) and the unix socket (admin.socket:
// also /status and packet captures, src/admin/server.ts), both serving the node's status view. Started late in the
// start order and closed early on the way out; whatever part started is closed by close(), also after a failed start.
import type { Config } from '../config/index.js';
import { withContext } from '../errors.js';
import type { Logger } from '../log.js';
import { startAdminServer, startAdminSocket, type AdminHandlers, type AdminServer } from '../admin/server.js';
import { createMetrics } from '../admin/metrics.js';
import type { Status } from '../admin/status.js';
import { captureHubFor, type CaptureHub } from '../dump/capture.js';
import type { Dataplane } from '../dataplane/types.js';
import type { Underlay } from './underlay.js';

export interface AdminWiringOptions {
  config: Config;
  logger: Logger;
  /** Captures are served on the socket only, by a dataplane that has them (src/dump/capture.ts captureHubFor). */
  dp: Dataplane;
  dropReasons: readonly string[];
  underlay: Underlay;
  status: () => Status;
  ready: () => boolean;
}

export interface AdminWiring {
  /** HOST:PORT of the TCP listener, once started. */
  readonly address: string | undefined;
  /** The socket path, once started. */
  readonly socketAddress: string | undefined;
  /** Starts what the config asks for: the listener, then the socket. */
  start(): Promise<void>;
  /** Ends the running captures (their streams end with the counts so far). */
  closeCaptures(): void;
  /** Closes the listener, then the socket. */
  close(): Promise<void>;
}

export function adminWiring(o: AdminWiringOptions): AdminWiring {
  const { config, logger } = o;
  let server: AdminServer | undefined;
  let socketServer: AdminServer | undefined;
  let hub: CaptureHub | undefined;
  return {
    get address() {
      return server?.address;
    },
    get socketAddress() {
      return socketServer?.address;
    },
    async start() {
      const { listen, socket } = config.admin;
      if (!listen && !socket) return;
      hub = socket ? captureHubFor(o.dp) : undefined; // captures are served on the socket only
      const v6 = o.underlay.v6 ? { publicIPv6: o.underlay.v6.publicIP } : {};
      const outer = () => ({ publicIP: o.underlay.publicIP, ...v6, port: config.port, vni: config.vni });
      const pcap = { hub, outer, device: config.device, reasons: o.dropReasons };
      const h: AdminHandlers = { status: o.status, ready: o.ready, metrics: createMetrics(o.status), pcap };
      if (listen) {
        server = await startAdminServer(listen, h, logger).catch((err: unknown) => {
          throw withContext(`admin server on ${listen.host}:${listen.port}`, err);
        });
      }
      if (socket) {
        socketServer = await startAdminSocket(socket, h, logger).catch((err: unknown) => {
          throw withContext(`admin socket ${socket}`, err);
        });
      }
    },
    closeCaptures() {
      hub?.close();
    },
    async close() {
      await server?.close();
      await socketServer?.close();
    },
  };
}
