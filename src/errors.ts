// One error taxonomy for vxtun. Everything below src/cli.ts throws one of these;
// cli.ts maps them to exit codes (ConfigError and UsageError → 2, anything else → 1).

/** A bad config value or a bad command-line argument. `field` names the offending key path. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Bad command-line usage that is not about a config field (unknown flag, bad filter…). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failed syscall or device operation in the dataplane or in device setup. */
export class DataplaneError extends Error {
  override name = 'DataplaneError';
  constructor(
    message: string,
    readonly code?: string,
    readonly syscall?: string,
  ) {
    super(message);
  }
}

/** Wraps an error with context ("creating device vxtun0: …") while keeping its class and code. */
export function withContext(context: string, err: unknown): Error {
  if (err instanceof DataplaneError) return new DataplaneError(`${context}: ${err.message}`, err.code, err.syscall);
  if (err instanceof ConfigError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const out = new Error(`${context}: ${e.message}`);
  (out as Error & { cause?: unknown }).cause = e;
  return out;
}

/** A handover that did not happen (README "Upgrades and restarts"): refused by the running vxtun, or broken off. */
export class HandoverError extends Error {
  override name = 'HandoverError';
}
