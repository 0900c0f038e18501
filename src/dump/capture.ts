// Packet capture on the TypeScript side: one native capture session per `vxtun dump` stream.
//
// The addon runs each session's filter in the forwarding loops, keeps matching packets in bounded
// per-loop rings and drains them as ready pcapng Enhanced Packet Blocks (native/engine/capture.h,
// native/core/pcapng_epb.h). This module only opens and closes sessions and, on one timer, hands each
// session's blocks to its stream — no per-packet JavaScript. While no session runs, the loops copy
// nothing.

/** One captured packet with what the dataplane decided about it: the model the filter and the pcapng reference use. */
export interface CaptureRecord {
  /** Wall-clock time in nanoseconds since the epoch. */
  tsNs: bigint;
  dir: 'tx' | 'rx';
  /** 'forward' or the drop reason (the contract's names, e.g. 'no-route'). */
  verdict: string;
  /** The peer's name, '' when unknown (a transmit drop, an unknown VTEP). */
  peer: string;
  /** The peer's underlay address, IPv4 or IPv6 (tx: destination, rx: outer source); '0.0.0.0' when none. */
  vtep: string;
  worker: number;
  /** The 22-byte VXLAN + inner Ethernet prefix as it was on the wire, when there was one. */
  prefix: Buffer | null;
  /** The inner IP packet (up to the snap length). */
  packet: Buffer;
  /** The inner packet's full length. */
  origLen: number;
  /** Records of the same ring lost (ring full) just before this one. */
  dropsBefore?: number;
}

/** The most inner bytes a capture keeps per packet (native/core/capture_record.h kCaptureMaxSnap): an MTU-sized packet whole. */
export const MAX_SNAPLEN = 1962;

/** What one capture keeps and how it is written. */
export interface CaptureSessionOptions {
  /** compileDumpFilter's program; empty: everything. */
  program: Uint8Array;
  /** Inner bytes kept per packet. */
  snaplen: number;
  /** Write whole datagrams (synthesised outer IPv4 or IPv6 + UDP + VXLAN + Ethernet + packet; pcapng.ts outerDatagram). */
  outer: boolean;
  /** This node's underlay facts (for outer): its address of each family it has (publicIPv6: dual-stack only). */
  publicIP: string;
  publicIPv6?: string;
  port: number;
  vni: number;
}

export interface CaptureCounters {
  /** Packets that passed the filter. */
  matched: number;
  /** Of those, lost because the ring was full (the stream was not read fast enough). */
  dropped: number;
}

/** What the hub needs from the dataplane: the addon's capture methods. */
export interface CaptureSource {
  /** → session id, or -1 when the addon's session limit is reached. */
  captureStart(o: CaptureSessionOptions): number;
  captureStop(id: number): boolean;
  /** Fills `into` with whole pcapng packet blocks, oldest first; nothing when the id is not running. */
  captureRead(id: number, into: Uint8Array, maxRecords: number): { bytes: number; records: number };
  captureStats(id: number): CaptureCounters | null;
}

export interface CaptureSink {
  /**
   * Whole pcapng packet blocks, oldest first, and how many packets they hold. `blocks` lives in a pooled buffer: call
   * `release` once nothing refers to it any more (e.g. from the socket write's callback) so that the next drain can
   * reuse it; a sink that never calls it only costs an allocation later.
   */
  onBlocks(blocks: Buffer, records: number, release: () => void): void;
  /** How many more packets it wants (the rest stay queued); undefined: no limit. */
  wanted?(): number | undefined;
  /** True while it cannot take more (a slow client): the session is not drained, its ring fills and drops count. */
  paused?(): boolean;
}

export interface CaptureSession {
  /** The counters so far (the last known ones once closed). */
  counters(): CaptureCounters;
  /** Stops the native session. Idempotent. */
  close(): void;
}

export interface CaptureHub {
  /** Starts a session; throws CaptureBusyError when too many run. */
  open(o: CaptureSessionOptions, sink: CaptureSink): CaptureSession;
  readonly sessions: number;
  /** Ends every session (daemon shutdown). */
  close(): void;
}

export class CaptureBusyError extends Error {
  override name = 'CaptureBusyError';
}

const POLL_MS = 20;
/** One drain buffer: at 20 ms per tick it holds 50 MB/s of packet blocks; a busier session takes several per tick. */
const READ_BYTES = 1 << 20;
/** Buffers kept for reuse (those still being written to a socket are not in the pool). */
const POOL_MAX = 4;

/**
 * The memory all capture sessions together may hold (README "Admin API": bounded in sessions, time and
 * memory). A session costs its native rings — one per forwarding loop (2 per worker), each CAPTURE_RING_BYTES, all
 * touched once a client stops reading — plus what its stream may buffer in the daemon (SESSION_BUFFER_BYTES, see
 * src/admin/pcap-stream.ts); the drain pool (POOL_MAX buffers) is shared. The hub runs as many sessions as fit, at least
 * one: with many workers one session alone can exceed the budget (16 workers: 32 rings, 73 MiB), since the ring size
 * is fixed by the addon.
 */
export const CAPTURE_MEMORY_BUDGET = 64 << 20;
/** native/engine/capture.h: kCaptureSlots (1,024) × kCaptureSlot (2,288 bytes: a 48-byte record header). */
export const CAPTURE_RING_BYTES = 1024 * 2288;
/** What one stream may buffer in the daemon before its session stops being drained (src/admin/pcap-stream.ts). */
export const SESSION_BUFFER_BYTES = 2 << 20;
/** The addon's own limit (native/engine/capture.h kMaxCaptures). */
const ADDON_MAX_SESSIONS = 8;

/** How many sessions fit the budget with `loops` forwarding loops (2 per worker): at least 1, at most the addon's 8. */
export function maxCaptureSessions(loops: number): number {
  const perSession = loops * CAPTURE_RING_BYTES + SESSION_BUFFER_BYTES + READ_BYTES;
  const fit = Math.floor((CAPTURE_MEMORY_BUDGET - POOL_MAX * READ_BYTES) / perSession);
  return Math.max(1, Math.min(ADDON_MAX_SESSIONS, fit));
}

export interface CaptureHubOptions {
  /** Sessions allowed at once (default: the addon's limit). */
  maxSessions?: number;
}

export function createCaptureHub(source: CaptureSource, opts: CaptureHubOptions = {}): CaptureHub {
  const maxSessions = opts.maxSessions ?? ADDON_MAX_SESSIONS;
  const live = new Map<number, CaptureSink>();
  let timer: NodeJS.Timeout | undefined;
  // Drain buffers are reused: a steady capture allocates nothing (no page faults, no GC pressure in the daemon).
  const pool: Buffer[] = [];
  const drainOne = (id: number, sink: CaptureSink) => {
    for (let i = 0; i < 16 && !sink.paused?.(); i++) {
      const want = sink.wanted?.() ?? 0xffffffff;
      if (want <= 0) return;
      const buf = pool.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
      const { bytes, records } = source.captureRead(id, buf, want);
      if (records === 0) {
        pool.push(buf);
        return;
      }
      let released = false;
      sink.onBlocks(buf.subarray(0, bytes), records, () => {
        if (!released && pool.length < POOL_MAX) pool.push(buf);
        released = true;
      });
      if (!live.has(id) || bytes < READ_BYTES / 2) return;
    }
  };
  const tick = () => {
    for (const [id, sink] of [...live]) drainOne(id, sink);
  };
  const stopTimer = () => {
    if (timer && live.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    get sessions() {
      return live.size;
    },
    open(o, sink) {
      const busy = () =>
        new CaptureBusyError(
          `too many captures are running (at most ${maxSessions}, a memory budget); stop one and retry`,
        );
      if (live.size >= maxSessions) throw busy();
      const id = source.captureStart(o);
      if (id < 0) throw busy();
      live.set(id, sink);
      timer ??= setInterval(tick, POLL_MS);
      let last: CaptureCounters = { matched: 0, dropped: 0 };
      const counters = () => (live.has(id) ? (last = source.captureStats(id) ?? last) : last);
      return {
        counters,
        close() {
          if (!live.has(id)) return;
          counters();
          live.delete(id);
          source.captureStop(id);
          stopTimer();
        },
      };
    },
    close() {
      for (const id of live.keys()) source.captureStop(id);
      live.clear();
      stopTimer();
    },
  };
}

/**
 * A hub over the dataplane's capture methods, or undefined when it has none (the js engine); `workers` sizes the
 * session limit (maxCaptureSessions).
 */
export function captureHubFor(dp: Partial<CaptureSource> & { workers: number }): CaptureHub | undefined {
  if (!dp.captureStart || !dp.captureStop || !dp.captureRead || !dp.captureStats) return undefined;
  return createCaptureHub(dp as CaptureSource, { maxSessions: maxCaptureSessions(2 * dp.workers) });
}
