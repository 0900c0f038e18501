// `vxtun bench micro`'s harness (src/bench/micro-harness.ts) and table (micro-table.ts): a case timed for a budget
// reports its rate (exactly, with a fake clock; positive, with the real one), and a missing test addon is a clear error.
import t from 'tap';
import { loadMicroAddon } from '../../src/bench/micro.js';
import { marginOfErrorPct, timeFunction } from '../../src/bench/micro-harness.js';
import { microLine, microTable } from '../../src/bench/micro-table.js';

t.test('a fake clock: each call takes 0.5 ms → 2000 calls/s, no spread, the budget spent', (t) => {
  let now = 0;
  const r = timeFunction(
    () => {
      now += 0.5;
    },
    { budgetMs: 100, now: () => now },
  );
  t.equal(r.callsPerSecond, 2000);
  t.equal(r.spreadPct, 0);
  t.ok(r.calls >= 200 && r.calls <= 220, `calls ${r.calls}`);
  t.end();
});

t.test('a function slower than the budget still runs once and reports its rate', (t) => {
  let now = 0;
  const r = timeFunction(
    () => {
      now += 50;
    },
    { budgetMs: 10, now: () => now },
  );
  t.equal(r.calls, 1);
  t.equal(r.callsPerSecond, 20);
  t.end();
});

t.test('the real clock: a trivial case for 100 ms has a positive finite rate', (t) => {
  let x = 0;
  const t0 = performance.now();
  const r = timeFunction(
    () => {
      x = (x * 31 + 7) % 1000003;
    },
    { budgetMs: 100 },
  );
  const took = performance.now() - t0;
  t.ok(r.callsPerSecond > 0 && Number.isFinite(r.callsPerSecond), `rate ${r.callsPerSecond}`);
  t.ok(r.calls > 0);
  t.ok(took >= 100, `took ${took.toFixed(0)} ms (budget + warm-up)`);
  t.ok(x >= 0);
  t.end();
});

t.test('margin of error: 1.96 standard errors in % of the mean', (t) => {
  t.equal(marginOfErrorPct([5]), 0);
  t.equal(marginOfErrorPct([4, 4, 4]), 0);
  // mean 10, sample variance 16 / 3, n 4: 1.96 × √(16 / 3 / 4) / 10 = 22.63 %
  t.ok(Math.abs(marginOfErrorPct([8, 8, 12, 12]) - 22.632) < 0.01, String(marginOfErrorPct([8, 8, 12, 12])));
  t.end();
});

t.test('the table and progress line', (t) => {
  const rows = [
    { name: 'encap 64 B native', packetsPerSecond: 14_140_000, gbps: 7.24, spreadPct: 1.93 },
    { name: 'FDB lookup, 10 peers native', packetsPerSecond: 381_630_000, gbps: NaN, spreadPct: 0.4 },
  ];
  t.same(microTable(rows), [
    '| case | Mpackets/s | Gb/s (inner bytes) | ± |',
    '| --- | --- | --- | --- |',
    '| encap 64 B native | 14.14 | 7.2 | ±1.9% |',
    '| FDB lookup, 10 peers native | 381.63 | - | ±0.4% |',
  ]);
  t.equal(microLine(rows[0]!), 'encap 64 B native: 14.14 Mpackets/s, 7.2 Gb/s');
  t.equal(microLine(rows[1]!), 'FDB lookup, 10 peers native: 381.63 Mpackets/s');
  t.end();
});

t.test('a missing test addon: an error naming vxtun_testing.node and how to build it', (t) => {
  t.throws(
    () =>
      loadMicroAddon(() => {
        throw new Error('cannot load the native addon vxtun_testing.node');
      }),
    /needs the test addon build\/Release\/vxtun_testing\.node.*npm rebuild vxtun/,
  );
  t.end();
});
