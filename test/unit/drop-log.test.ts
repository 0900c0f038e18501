import t from 'tap';
import { dropDeltas, dropLine, startDropLog, type DropSnapshot } from '../../src/admin/drop-log.js';
import type { Logger } from '../../src/log.js';

const zero = (): DropSnapshot => ({
  rx: { short: 0, 'bad-header': 0, 'unknown-vtep': 0, 'spoofed-source': 0 },
  tx: { 'no-route': 0 },
});

function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, logger: { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') } };
}

/** A fake interval timer: tick() runs the registered callback once, as one elapsed interval. */
function fakeTimers() {
  let fn: (() => void) | undefined;
  let ms = 0;
  let cleared = false;
  return {
    timers: {
      setInterval: (f: () => void, m: number) => {
        fn = f;
        ms = m;
        return 42;
      },
      clearInterval: (h: unknown) => {
        if (h === 42) cleared = true;
      },
    },
    tick: () => {
      if (!cleared) fn?.();
    },
    get ms() {
      return ms;
    },
    get cleared() {
      return cleared;
    },
  };
}

t.test('dropDeltas: only reasons that grew, rx then tx', async (t) => {
  const a = zero();
  const b: DropSnapshot = { rx: { ...a.rx, 'unknown-vtep': 5, short: 1 }, tx: { 'no-route': 2 } };
  t.same(dropDeltas(a, b), [
    { direction: 'rx', reason: 'short', count: 1 },
    { direction: 'rx', reason: 'unknown-vtep', count: 5 },
    { direction: 'tx', reason: 'no-route', count: 2 },
  ]);
  t.same(dropDeltas(b, b), [], 'nothing grew, nothing to say');
  const reset: DropSnapshot = { rx: { ...a.rx, 'unknown-vtep': 2 }, tx: { 'no-route': 0 } };
  t.same(
    dropDeltas(b, reset),
    [{ direction: 'rx', reason: 'unknown-vtep', count: 2 }],
    'a counter that went down counts from zero',
  );
  t.same(
    dropDeltas({ rx: {}, tx: {} }, { rx: { vni: 3 }, tx: {} }),
    [{ direction: 'rx', reason: 'vni', count: 3 }],
    'a new reason counts from zero',
  );
});

t.test('dropLine wording', async (t) => {
  t.equal(
    dropLine({ direction: 'rx', reason: 'unknown-vtep', count: 7 }, 10_000),
    'dropped 7 datagrams: unknown-vtep (last 10 s)',
  );
  t.equal(dropLine({ direction: 'rx', reason: 'short', count: 1 }, 10_000), 'dropped 1 datagram: short (last 10 s)');
  t.equal(
    dropLine({ direction: 'tx', reason: 'no-route', count: 3 }, 2_500),
    'dropped 3 packets: no-route (last 2.5 s)',
  );
  t.equal(dropLine({ direction: 'rx', reason: 'vni', count: 2 }, 250), 'dropped 2 datagrams: vni (last 250 ms)');
});

t.test('one line per grown reason per interval, however many drops', async (t) => {
  const { logger, lines } = recorder();
  const clock = fakeTimers();
  let cur = zero();
  const log = startDropLog({ read: () => cur, logger, intervalMs: 10_000, timers: clock.timers });
  t.equal(clock.ms, 10_000, 'timer armed with the interval');

  clock.tick();
  t.same(lines, [], 'quiet while nothing is dropped');

  // A flood: 100 000 unknown-vtep drops and 3 spoofed ones within one interval.
  cur = { rx: { ...cur.rx, 'unknown-vtep': 100_000, 'spoofed-source': 3 }, tx: cur.tx };
  clock.tick();
  t.same(lines, [
    'warn dropped 100000 datagrams: unknown-vtep (last 10 s)',
    'warn dropped 3 datagrams: spoofed-source (last 10 s)',
  ]);

  lines.length = 0;
  clock.tick();
  t.same(lines, [], 'no growth in the next interval: no lines');

  cur = { rx: { ...cur.rx, 'unknown-vtep': 100_004 }, tx: { 'no-route': 1 } };
  clock.tick();
  t.same(
    lines,
    ['warn dropped 4 datagrams: unknown-vtep (last 10 s)', 'warn dropped 1 packet: no-route (last 10 s)'],
    'counts per interval, not totals',
  );

  log.stop();
  t.ok(clock.cleared, 'stop clears the timer');
  lines.length = 0;
  cur = { rx: { ...cur.rx, short: 9 }, tx: cur.tx };
  log.check();
  t.same(lines, [], 'nothing after stop');
  log.stop();
});

t.test('counters present at start are the baseline, not news', async (t) => {
  const { logger, lines } = recorder();
  const clock = fakeTimers();
  let cur: DropSnapshot = { rx: { vni: 50 }, tx: {} };
  startDropLog({ read: () => cur, logger, timers: clock.timers });
  t.equal(clock.ms, 10_000, 'default interval 10 s');
  clock.tick();
  t.same(lines, []);
  cur = { rx: { vni: 52 }, tx: {} };
  clock.tick();
  t.same(lines, ['warn dropped 2 datagrams: vni (last 10 s)']);
});

t.test('a failing read is skipped, not fatal', async (t) => {
  const { logger, lines } = recorder();
  const clock = fakeTimers();
  let fail = false;
  let cur = zero();
  startDropLog({
    read: () => {
      if (fail) throw new Error('dataplane is closed');
      return cur;
    },
    logger,
    timers: clock.timers,
  });
  fail = true;
  clock.tick();
  t.same(lines, ['debug drop counters unavailable']);
  fail = false;
  cur = { rx: { ...cur.rx, short: 1 }, tx: cur.tx };
  clock.tick();
  t.same(lines.slice(1), ['warn dropped 1 datagram: short (last 10 s)']);
});

t.test('rejects a bad interval', async (t) => {
  const { logger } = recorder();
  t.throws(() => startDropLog({ read: zero, logger, intervalMs: 0 }), RangeError);
});

t.test('the real timer fires and is unref’d', async (t) => {
  const { logger, lines } = recorder();
  let cur = zero();
  const log = startDropLog({ read: () => cur, logger, intervalMs: 20 });
  cur = { rx: { ...cur.rx, 'bad-header': 2 }, tx: cur.tx };
  await new Promise((r) => setTimeout(r, 70));
  log.stop();
  t.same(lines, ['warn dropped 2 datagrams: bad-header (last 20 ms)'], 'one line for one growth');
});
