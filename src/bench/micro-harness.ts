// The timing harness of `vxtun bench micro`: runs a function for a fixed time budget and reports calls per second.
// The clock is passed in (tests use a fake one).

export interface TimingResult {
  /** Median over the slices of calls per second. */
  callsPerSecond: number;
  /** The 95 % margin of error of the slices' mean rate, in % of that mean (as benchmark.js's "rme"). */
  spreadPct: number;
  /** Calls made while timing (the warm-up excluded). */
  calls: number;
}

export interface TimingOptions {
  /** Total time to spend timing, after the warm-up. */
  budgetMs: number;
  /** Timed slices the budget is cut into (default 10): the median of their rates is reported. */
  slices?: number;
  /** Milliseconds, monotonic (default performance.now). */
  now?: () => number;
}

/**
 * Warms `fn` up (about a tenth of the budget), picks a batch of calls that takes about budget/slices, then times
 * batches until the budget is spent. At least one call, and one slice, however slow `fn` is.
 */
export function timeFunction(fn: () => void, opts: TimingOptions): TimingResult {
  const now = opts.now ?? (() => performance.now());
  const slices = Math.max(1, opts.slices ?? 10);
  const sliceMs = opts.budgetMs / slices;
  // Warm-up, and a first estimate of one call's cost.
  let n = 0;
  const w0 = now();
  do {
    fn();
    n++;
  } while (now() - w0 < opts.budgetMs / 10);
  const perCallMs = Math.max((now() - w0) / n, 1e-6);
  const batch = Math.max(1, Math.round(sliceMs / perCallMs));
  const rates: number[] = [];
  let calls = 0;
  const t0 = now();
  do {
    const s0 = now();
    for (let i = 0; i < batch; i++) fn();
    const ms = now() - s0;
    calls += batch;
    rates.push(ms > 0 ? (batch * 1000) / ms : Infinity);
  } while (now() - t0 < opts.budgetMs);
  rates.sort((a, b) => a - b);
  const mid = Math.floor(rates.length / 2);
  const median = rates.length % 2 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  return { callsPerSecond: median, spreadPct: marginOfErrorPct(rates), calls };
}

/** 1.96 standard errors of the mean, in % of the mean; 0 for fewer than two finite rates. */
export function marginOfErrorPct(rates: readonly number[]): number {
  const xs = rates.filter(Number.isFinite);
  if (xs.length < 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return mean > 0 ? ((1.96 * Math.sqrt(variance / xs.length)) / mean) * 100 : 0;
}
