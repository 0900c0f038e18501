// Reading JSON the way flannel's Go decoder does: object keys match struct fields without regard to case (the last
// matching key of an object wins), unknown keys are ignored, and a null leaves the field at its default.

/** The JSON object in `v` as a case-insensitive field reader; undefined when `v` is not an object. */
export function goObject(v: unknown): GoObject | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  return new GoObject(v as Record<string, unknown>);
}

export class GoObject {
  readonly #byLower = new Map<string, unknown>();

  constructor(obj: Record<string, unknown>) {
    for (const [k, v] of Object.entries(obj)) {
      // A null leaves the field as it was (Go), so a later null never undoes an earlier value.
      if (v !== null) this.#byLower.set(k.toLowerCase(), v);
    }
  }

  /** The value of field `name` (any case); undefined when absent or null. */
  get(name: string): unknown {
    return this.#byLower.get(name.toLowerCase());
  }
}

/** A short rendering of a JSON value for an error message. */
export function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
