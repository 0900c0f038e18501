// The part of benchmark.js (2.1.4, no bundled types) that bench/micro.ts uses.
declare module 'benchmark' {
  interface Target {
    name: string;
    hz: number;
    stats: { rme: number; sample: number[] };
  }
  interface Suite {
    add(name: string, fn: () => void, options?: { minSamples?: number; maxTime?: number }): Suite;
    on(event: 'cycle', cb: (e: { target: Target }) => void): Suite;
    on(event: 'complete', cb: () => void): Suite;
    run(options?: { async?: boolean }): Suite;
  }
  const Benchmark: { Suite: new (name?: string) => Suite };
  export default Benchmark;
}
