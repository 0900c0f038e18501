// `vxtun bench micro`: times each case of micro-cases.ts for a fixed budget (micro-harness.ts) and returns packets/s
// and Gbit/s of inner bytes. Prints nothing: the caller (src/cli.ts) prints micro-table.ts's table.
import { loadTestingAddon, type TestingBinding } from '../dataplane/testing.js';
import { microCases } from './micro-cases.js';
import { timeFunction } from './micro-harness.js';
import type { MicroResult } from './micro-table.js';

export interface MicroOptions {
  /** About 0.25 s per case instead of 2 s. */
  quick?: boolean;
  /** Called as each case finishes, with its progress line's result. */
  onResult?: (r: MicroResult) => void;
  /** Called as each case starts. */
  onStep?: (step: string) => void;
}

/** Per-case time budgets, ms. */
export const MICRO_BUDGET_MS = { quick: 250, full: 2_000 } as const;

/**
 * The test addon (binding.gyp builds it on install, next to the production addon); a clear error when it is missing,
 * e.g. after an install with --ignore-scripts.
 */
export function loadMicroAddon(load: () => TestingBinding = loadTestingAddon): TestingBinding {
  try {
    return load();
  } catch (e) {
    throw new Error(
      `bench micro needs the test addon build/Release/vxtun_testing.node, which the package builds when it installs ` +
        `(npm rebuild vxtun; it needs python3, make and g++): ${(e as Error).message}`,
    );
  }
}

export function runMicro(opts: MicroOptions = {}): MicroResult[] {
  const cases = microCases(loadMicroAddon());
  const budgetMs = opts.quick ? MICRO_BUDGET_MS.quick : MICRO_BUDGET_MS.full;
  const results: MicroResult[] = [];
  for (const [i, c] of cases.entries()) {
    opts.onStep?.(`case ${i + 1}/${cases.length} · ${c.name}`);
    const t = timeFunction(c.fn, { budgetMs });
    const r: MicroResult = {
      name: c.name,
      packetsPerSecond: t.callsPerSecond * c.packets,
      gbps: c.bytes ? (t.callsPerSecond * c.bytes * 8) / 1e9 : NaN,
      spreadPct: t.spreadPct,
    };
    results.push(r);
    opts.onResult?.(r);
  }
  return results;
}
