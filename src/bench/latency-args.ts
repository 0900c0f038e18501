// `vxtun bench latency` options: from the strings the command line gives to a checked LatencyArgs. Pure. A bad value
// is a UsageError naming its option (exit 2, nothing built).
import { UsageError } from '../errors.js';
import { parseVariant, positiveInt } from './lab-args.js';

/** The options as the command line hands them over (commander: strings, the repeated --variant). */
export interface LatencyArgsInput {
  rounds?: string;
  count?: string;
  interval?: string;
  show?: string;
  variant?: string[];
}

export interface LatencyArgs {
  rounds: number;
  /** Pings per setup and round. */
  count: number;
  /** Seconds between pings. */
  intervalS: number;
  /** Round trips of each setup printed event by event (from the first round). */
  show: number;
  /** The vxtun setups: `native` (the default dataplane) and any --variant, name → dataplane config section. */
  variants: Record<string, Record<string, unknown>>;
}

export function parseLatencyArgs(input: LatencyArgsInput): LatencyArgs {
  const rounds = positiveInt('--rounds', input.rounds, 3, 100);
  const count = positiveInt('--count', input.count, 50, 10_000);
  let intervalS = 0.1;
  if (input.interval !== undefined) {
    const v = input.interval.trim();
    intervalS = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!(intervalS >= 0.002 && intervalS <= 10))
      throw new UsageError(`--interval: expected seconds from 0.002 to 10, got "${input.interval}"`);
  }
  let show = 0;
  if (input.show !== undefined) {
    show = /^\d+$/.test(input.show.trim()) ? Number(input.show) : NaN;
    if (!Number.isSafeInteger(show) || show > count)
      throw new UsageError(`--show: expected a whole number from 0 to --count (${count}), got "${input.show}"`);
  }
  const variants: Record<string, Record<string, unknown>> = { native: {} };
  for (const spec of input.variant ?? []) {
    const [name, config] = parseVariant(spec);
    if (name in variants) throw new UsageError(`--variant: "${name}" is given twice`);
    variants[name] = config;
  }
  return { rounds, count, intervalS, show, variants };
}
