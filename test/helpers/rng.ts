// A seeded generator (xorshift32) for property and robustness tests, so a failure replays from the printed seed.

/** Returns a generator of uint32 values; seed 0 is taken as 1 (xorshift has no zero state). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** The same sequence as fractions in [0, 1). */
export function uniform(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32;
}
