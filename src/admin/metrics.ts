// Prometheus metrics for GET /metrics (README "Admin API"): the contract's series, read at
// scrape time from the same counters as /status, plus prom-client's default process metrics, all
// in a private registry (nothing is registered globally, so several daemons or tests can coexist).
import client from 'prom-client';
import type { Status } from './status.js';

/** What a scrape reads: the counters and peers of a status document (a Status is one). */
export interface MetricsSnapshot {
  counters: Pick<
    Status['counters'],
    'txPackets' | 'rxPackets' | 'txBytes' | 'rxBytes' | 'drops' | 'queueDrops' | 'socketDrops'
  >;
  peers: readonly unknown[];
  /** Absent with the js engine (no capture). */
  capture?: Status['capture'];
  /** The peer source's state; its conflicts give vxtun_peer_conflicts (0 when absent). */
  controlPlane?: Pick<NonNullable<Status['controlPlane']>, 'conflicts'>;
  /** DirectRouting's state; its routes give vxtun_direct_routes (0 when absent). */
  directRouting?: Status['directRouting'];
}
export type MetricsSource = () => MetricsSnapshot;

export interface Metrics {
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The exposition text of every metric, collected now. */
  render(): Promise<string>;
}

/** How often the event-loop lag (nodejs_eventloop_lag_*) is sampled: twice a second. */
export const EVENT_LOOP_SAMPLE_MS = 500;

/**
 * Creates the registry. Each counter's collect() hook copies the dataplane's running total (the
 * addon's counters only grow while it is open; the last values are kept after it closes).
 */
export function createMetrics(source: MetricsSource): Metrics {
  const registry = new client.Registry();
  let snapshot: MetricsSnapshot | undefined;
  // One status read per scrape: the first collect() of a scrape takes it, the others reuse it.
  const read = (): MetricsSnapshot => (snapshot ??= source());

  const total = (name: string, help: string, pick: (c: MetricsSnapshot['counters']) => number): void => {
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(read().counters));
      },
    });
  };
  total('vxtun_tx_packets_total', 'Packets read from the device and sent to a peer.', (c) => c.txPackets);
  total('vxtun_rx_packets_total', 'Datagrams received from peers and written to the device.', (c) => c.rxPackets);
  total('vxtun_tx_bytes_total', 'Inner IP bytes sent to peers.', (c) => c.txBytes);
  total('vxtun_rx_bytes_total', 'Inner IP bytes received from peers.', (c) => c.rxBytes);
  new client.Counter({
    name: 'vxtun_drops_total',
    help: 'Packets and datagrams dropped, by reason (README "Receive-side rules"; no-route on transmit).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().counters.drops)) this.inc({ reason }, n);
    },
  });
  total(
    'vxtun_queue_drops_total',
    "Packets the kernel dropped at the device's full transmit queue, before vxtun read them (the device's tx_dropped).",
    (c) => c.queueDrops ?? 0,
  );
  total(
    'vxtun_socket_drops_total',
    "Datagrams (a UDP GRO train counts once) the kernel dropped at vxtun's full receive sockets, before vxtun read them.",
    (c) => c.socketDrops ?? 0,
  );
  new client.Gauge({
    name: 'vxtun_peers',
    help: 'Remote nodes in the forwarding table.',
    registers: [registry],
    collect() {
      this.set(read().peers.length);
    },
  });
  new client.Gauge({
    name: 'vxtun_peer_conflicts',
    help: 'Nodes left out of the forwarding table by conflict resolution (overlapping pod CIDRs, shared or unusable public IP, our VTEP MAC).',
    registers: [registry],
    collect() {
      this.set(read().controlPlane?.conflicts?.length ?? 0);
    },
  });
  total(
    'vxtun_capture_packets_total',
    "Packets that passed a running capture's filter (vxtun dump).",
    () => read().capture?.packets ?? 0,
  );
  total(
    'vxtun_capture_dropped_total',
    'Of those, lost because the capture ring was full.',
    () => read().capture?.dropped ?? 0,
  );
  new client.Gauge({
    name: 'vxtun_capture_sessions',
    help: 'Packet captures running now.',
    registers: [registry],
    collect() {
      this.set(read().capture?.sessions ?? 0);
    },
  });
  new client.Gauge({
    name: 'vxtun_direct_routes',
    help: 'Direct routes installed (DirectRouting): peer pod CIDRs routed over the underlay without VXLAN.',
    registers: [registry],
    collect() {
      this.set(read().directRouting?.routes ?? 0);
    },
  });
  // The event-loop lag histogram samples with a timer: prom-client's default (every 10 ms) woke the daemon's main
  // thread 100 times a second, idle or not, beside the forwarding threads on the node's CPUs.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // prom-client names three gauges `*_total`, which promtool rejects ("non-counter metrics should
  // not have _total suffix"); the per-type gauges nodejs_active_{handles,requests,resources} remain.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  return {
    contentType: registry.contentType,
    async render() {
      snapshot = undefined;
      try {
        return await registry.metrics();
      } finally {
        snapshot = undefined;
      }
    },
  };
}
