// Capped exponential backoff with jitter, for reconnecting to the Kubernetes API and retrying patches.

export interface BackoffPolicy {
  /** The first delay. */
  initialMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** Each delay is scaled by a random factor in [1 − jitter, 1 + jitter] (then capped). 0..1. */
  jitter: number;
}

/** 0.5 s, 1 s, 2 s … 30 s (client-go's reflector backs off 0.8 s → 30 s). */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const base = p.initialMs * 2 ** Math.min(Math.max(0, attempt), 30);
  const scaled = base * (1 + p.jitter * (2 * random() - 1));
  return Math.round(Math.min(p.maxMs, Math.max(0, scaled)));
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
