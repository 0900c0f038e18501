// The generic readers every config section uses. A reader takes the parsed value (YAML/JSON mappings as Maps) and the
// key path as the user wrote it, and returns the value or throws ConfigError(field, "expected …, got …").
// Hand-written on purpose, not a schema library: zod 4 was tried on the dataplane section and kept every message only
// with an error function on each check plus an issue mapper (Maps to objects, unknown keys first with did-you-mean,
// key paths as written): 73 lines (schema 30, mapper 43) for dataplane.ts's 28, and 180-280 ms more on every start
// (the CLI imports this folder). The cross-field rules (pod CIDRs inside the networks, no duplicates, the node's own
// entry) stay hand-written either way.
import { ConfigError } from '../errors.js';

export function fail(field: string, message: string): never {
  throw new ConfigError(field, message);
}

/** How a found value is shown in a message. Strings that look like another scalar say so ("the string "1""). */
export function describe(v: unknown): string {
  if (typeof v === 'string') {
    const shown = JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
    const looksScalar = (v.trim() !== '' && !Number.isNaN(Number(v))) || /^(?:true|false|null|~)$/i.test(v);
    return looksScalar ? `the string ${shown}` : shown;
  }
  if (v === null || v === undefined) return 'nothing (null)';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a mapping';
  return `a value of type ${typeof v}`;
}

/** The key path of `key` inside `path` ('' is the top level). */
export const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Levenshtein distance, case-insensitive. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1));
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

/** The allowed key closest to `key`, if within edit distance 2. */
export function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of allowed) {
    const d = editDistance(key, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

/** Checks that `v` is a mapping with only `allowed` keys; returns it keyed by string. */
export function mapping(v: unknown, path: string, allowed: readonly string[]): Map<string, unknown> {
  const field = path === '' ? 'config' : path;
  if (!(v instanceof Map)) {
    fail(field, `expected a mapping${path === '' ? ' at the top level' : ''}, got ${describe(v)}`);
  }
  const out = new Map<string, unknown>();
  for (const [k, val] of v) {
    if (typeof k !== 'string') fail(field, `keys must be strings, got ${describe(k)}`);
    if (!allowed.includes(k)) {
      const s = suggest(k, allowed);
      fail(child(path, k), s === undefined ? 'unknown key' : `unknown key; did you mean '${s}'?`);
    }
    out.set(k, val);
  }
  return out;
}

export function integer(v: unknown, field: string, min: number, max: number, alt = ''): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(field, `expected ${alt}an integer ${min}..${max}, got ${describe(v)}`);
  }
  return v;
}

export function boolean(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(field, `expected true or false, got ${describe(v)}`);
  return v;
}

export function nonEmptyString(v: unknown, field: string, what: string): string {
  if (typeof v !== 'string' || v === '') fail(field, `expected ${what}, got ${describe(v)}`);
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, options: readonly T[]): T {
  const found = options.find((o) => o === v);
  if (found === undefined) {
    const list = options.map((o) => `'${o}'`);
    fail(field, `expected ${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}, got ${describe(v)}`);
  }
  return found;
}
