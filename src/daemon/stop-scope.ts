// A stop signal for one run of the daemon: it follows an outer signal (also one that aborted already) and is tripped
// by the first failure, which it keeps for the caller to throw once everything is torn down.
export interface StopScope {
  readonly signal: AbortSignal;
  /** The first failure, if any. */
  readonly failure: Error | undefined;
  /** Keeps `err` unless a failure came first, and stops. */
  fail(err: Error): void;
  /** Resolves once stopped, by the outer signal, a failure or close(). */
  stopped(): Promise<void>;
  /** Stops, and stops following the outer signal. */
  close(): void;
}

export function stopScope(outer: AbortSignal): StopScope {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  if (outer.aborted) ctl.abort();
  else outer.addEventListener('abort', onAbort, { once: true });
  let failure: Error | undefined;
  return {
    signal: ctl.signal,
    get failure() {
      return failure;
    },
    fail(err) {
      failure ??= err;
      ctl.abort();
    },
    stopped() {
      if (ctl.signal.aborted) return Promise.resolve();
      return new Promise((resolve) => ctl.signal.addEventListener('abort', () => resolve(), { once: true }));
    },
    close() {
      outer.removeEventListener('abort', onAbort);
      ctl.abort();
    },
  };
}
