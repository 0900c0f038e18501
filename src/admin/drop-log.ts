// Rate-limited drop logs. The native hot path only counts drops (per reason, never logging); this
// module looks at those counters every `intervalMs` and writes at most one line per reason per
// interval, for the reasons whose counter grew:
//
//   warn dropped 3 datagrams: unknown-vtep (last 10 s)
//
// Receive-side reasons count datagrams from the underlay; transmit-side ones count packets read
// from the device. A counter that went down (a new dataplane) counts from zero again.
import type { DropCounts } from '../dataplane/types.js';
import type { Logger } from '../log.js';

export interface DropSnapshot {
  rx: Readonly<DropCounts>;
  tx: Readonly<DropCounts>;
}

export interface DropDelta {
  direction: 'rx' | 'tx';
  reason: string;
  count: number;
}

/** How much each reason grew from `prev` to `next`, in `next`'s key order; reasons that did not grow are left out. */
export function dropDeltas(prev: DropSnapshot, next: DropSnapshot): DropDelta[] {
  const out: DropDelta[] = [];
  for (const direction of ['rx', 'tx'] as const) {
    for (const [reason, n] of Object.entries(next[direction])) {
      const before = prev[direction][reason] ?? 0;
      const grew = n >= before ? n - before : n;
      if (grew > 0) out.push({ direction, reason, count: grew });
    }
  }
  return out;
}

/** The log line for one delta: `dropped 3 datagrams: unknown-vtep (last 10 s)`. */
export function dropLine(d: DropDelta, intervalMs: number): string {
  const unit = d.direction === 'rx' ? 'datagram' : 'packet';
  const span = intervalMs < 1000 ? `${intervalMs} ms` : `${Math.round(intervalMs / 100) / 10} s`;
  return `dropped ${d.count} ${unit}${d.count === 1 ? '' : 's'}: ${d.reason} (last ${span})`;
}

export interface DropLogOptions {
  /** Reads the current counters (the same ones /status shows). */
  read: () => DropSnapshot;
  logger: Logger;
  /** Default 10 000 ms. */
  intervalMs?: number;
  /** Timer functions; tests inject fakes. Default the global setInterval/clearInterval (the timer is unref'd). */
  timers?: {
    setInterval: (fn: () => void, ms: number) => unknown;
    clearInterval: (handle: unknown) => void;
  };
}

export interface DropLog {
  /** Compares the counters with the previous check and logs what grew. Called by the timer; tests call it directly. */
  check(): void;
  /** Stops the timer (a final check is not made). Idempotent. */
  stop(): void;
}

/** Takes a baseline now and starts checking every `intervalMs`. */
export function startDropLog(opts: DropLogOptions): DropLog {
  const intervalMs = opts.intervalMs ?? 10_000;
  if (!(intervalMs > 0)) throw new RangeError(`Expected intervalMs to be a positive number, got ${intervalMs}`);
  const timers = opts.timers ?? {
    setInterval: (fn: () => void, ms: number) => setInterval(fn, ms).unref(),
    clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout),
  };
  let last = opts.read();
  let stopped = false;
  const check = (): void => {
    if (stopped) return;
    let now: DropSnapshot;
    try {
      now = opts.read();
    } catch (err) {
      opts.logger.debug('drop counters unavailable', { error: (err as Error).message });
      return;
    }
    for (const d of dropDeltas(last, now)) opts.logger.warn(dropLine(d, intervalMs));
    last = now;
  };
  const handle = timers.setInterval(check, intervalMs);
  return {
    check,
    stop() {
      if (stopped) return;
      stopped = true;
      timers.clearInterval(handle);
    },
  };
}
