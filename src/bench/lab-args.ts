// `vxtun bench lab` options: from the strings the command line gives to a checked LabArgs. Pure. A bad value is a
// UsageError naming its option (exit 2, nothing built).
import { UsageError } from '../errors.js';
import { IPV6_SETUPS } from './lab-results.js';

/** The options as the command line hands them over (commander: strings, flags, the repeated --variant). */
export interface LabArgsInput {
  rounds?: string;
  seconds?: string;
  only?: string;
  capture?: boolean;
  captureArgs?: string;
  floor?: boolean;
  floorIovecs?: boolean;
  floorVxlan?: boolean;
  variant?: string[];
  json?: string;
  perf?: string;
  report?: string;
}

export type ReportFormat = 'html' | 'svg';

export interface LabArgs {
  rounds: number;
  /** Each iperf3 test's length (the UDP test runs max(2, ⌊seconds / 2⌋)). */
  seconds: number;
  /** The setups to measure, in table order. */
  setups: string[];
  /** Extra vxtun setups: name → the dataplane config section their daemons run with. */
  variants: Record<string, Record<string, unknown>>;
  /** Extra `vxtun dump` arguments for the capture setup (e.g. "-s 96" or a filter). */
  captureArgs: string[];
  json?: string;
  /** A whole-machine `perf record -a -g` of each 1-stream TCP test, DIR/<setup>-<round>.data. */
  perfDir?: string;
  report?: { file: string; format: ReportFormat };
}

/** Measured when neither --only nor a flag says otherwise (the README's Performance table). */
export const DEFAULT_SETUPS: readonly string[] = ['kernel', 'native', 'js', 'plain', 'direct', ...IPV6_SETUPS];
/** Measured only when asked: by their flag (--capture, --floor, --floor-iovecs, --floor-vxlan) or by naming them in --only. */
export const OPTIONAL_SETUPS: readonly string[] = ['capture', 'floor', 'floor-iov', 'floor-vxlan'];
/** The vxtun setups that are a dataplane config of their own. */
export const BUILT_IN_VARIANTS: Readonly<Record<string, Record<string, unknown>>> = {
  js: { engine: 'js' },
  direct: { directRouting: true },
};

const VARIANT_NAME = /^[a-z][a-z0-9-]{0,15}$/;

/** A whole number option from 1 to max (dflt when absent). */
export function positiveInt(option: string, value: string | undefined, dflt: number, max: number): number {
  if (value === undefined) return dflt;
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new UsageError(`${option}: expected a whole number from 1 to ${max}, got "${value}"`);
  return n;
}

/** `--variant NAME=JSON`: a name of its own and a dataplane config section. */
export function parseVariant(spec: string): [string, Record<string, unknown>] {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? spec : spec.slice(0, eq);
  if (!VARIANT_NAME.test(name))
    throw new UsageError(
      `--variant: expected NAME=JSON with NAME of lowercase letters, digits and '-' (at most 16), got "${spec}"`,
    );
  if ([...DEFAULT_SETUPS, ...OPTIONAL_SETUPS].includes(name))
    throw new UsageError(`--variant: "${name}" is a built-in setup; choose another name`);
  let value: unknown;
  try {
    value = JSON.parse(eq < 0 ? '' : spec.slice(eq + 1));
  } catch (e) {
    throw new UsageError(
      `--variant ${name}: expected a JSON object (a dataplane config section): ${(e as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(
      `--variant ${name}: expected a JSON object (a dataplane config section), got ${spec.slice(eq + 1)}`,
    );
  return [name, value as Record<string, unknown>];
}

/** The report's format from the file's extension: .html/.htm or .svg. */
export function reportFormat(file: string): ReportFormat {
  const ext = /\.([^./]+)$/.exec(file)?.[1]?.toLowerCase();
  if (ext === 'html' || ext === 'htm') return 'html';
  if (ext === 'svg') return 'svg';
  throw new UsageError(`--report: expected a file ending in .html or .svg, got "${file}"`);
}

export function parseLabArgs(input: LabArgsInput): LabArgs {
  const rounds = positiveInt('--rounds', input.rounds, 5, 1000);
  const seconds = positiveInt('--seconds', input.seconds, 5, 3600);
  const variants: Record<string, Record<string, unknown>> = {};
  for (const spec of input.variant ?? []) {
    const [name, config] = parseVariant(spec);
    if (name in variants) throw new UsageError(`--variant: "${name}" is given twice`);
    variants[name] = config;
  }
  const all = [...DEFAULT_SETUPS, ...OPTIONAL_SETUPS, ...Object.keys(variants)];
  let setups: string[];
  if (input.only !== undefined) {
    const only = input.only.split(',').map((s) => s.trim());
    for (const n of only)
      if (!all.includes(n))
        throw new UsageError(`--only: unknown setup "${n}" (known: ${all.join(', ')}; add others with --variant)`);
    // Naming an optional setup in --only asks for it; the flags alone do not add to an --only list.
    setups = all.filter((n) => only.includes(n));
  } else {
    setups = [
      ...DEFAULT_SETUPS,
      ...(input.capture ? ['capture'] : []),
      ...(input.floor ? ['floor'] : []),
      ...(input.floorIovecs ? ['floor-iov'] : []),
      ...(input.floorVxlan ? ['floor-vxlan'] : []),
      ...Object.keys(variants),
    ];
  }
  return {
    rounds,
    seconds,
    setups,
    variants,
    captureArgs: (input.captureArgs ?? '').split(/\s+/).filter(Boolean),
    ...(input.json !== undefined ? { json: input.json } : {}),
    ...(input.perf !== undefined ? { perfDir: input.perf } : {}),
    ...(input.report !== undefined ? { report: { file: input.report, format: reportFormat(input.report) } } : {}),
  };
}
