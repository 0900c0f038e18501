// src/bench/latency-trace.ts: perf script text → events → each ping round trip split into the dataplane's
// wake-ups, its syscalls and its own time.
import t from 'tap';
import { parsePerfScript, splitTrips } from '../../src/bench/latency-trace.js';

const PING = 100;
const TX = 201;
// One round trip through one dataplane thread (the four hops' shape, shortened to one): ping sends at 1.000000 s,
// the thread is woken 20 µs later and on a CPU 30 µs after that, polls back, reads (5 µs), sends (100 µs), polls
// again; ping's recvmsg returns at +300 µs.
const trace = `
            ping   100 [000] 1.000000: raw_syscalls:sys_enter: NR 44 (3, 7ffe, 40, 0, 55d0, 10)
            ping   100 [000] 1.000010:  raw_syscalls:sys_exit: NR 44 = 64
         swapper     0 [001] 1.000020:     sched:sched_wakeup: comm=node pid=201 prio=120 target_cpu=001
         swapper     0 [001] 1.000050:     sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=node next_pid=201 next_prio=120
            node   201 [001] 1.000060:  raw_syscalls:sys_exit: NR 7 = 1
            node   201 [001] 1.000070: raw_syscalls:sys_enter: NR 19 (1e, 7f00, 1, 0, 0, 0)
            node   201 [001] 1.000075:  raw_syscalls:sys_exit: NR 19 = 94
            node   999 [001] 1.000076: raw_syscalls:sys_enter: NR 19 (1e, 7f00, 1, 0, 0, 0)
            node   201 [001] 1.000080: raw_syscalls:sys_enter: NR 307 (19, 7f00, 1, 0, 0, 0)
            node   201 [001] 1.000180:  raw_syscalls:sys_exit: NR 307 = 1
            node   201 [001] 1.000185: raw_syscalls:sys_enter: NR 7 (7f00, 2, ffffffff, 0, 0, 0)
some line perf prints that is not an event
            ping   100 [000] 1.000300:  raw_syscalls:sys_exit: NR 47 = 84
`;

t.test('parsePerfScript reads wake-ups, switches and the syscalls it knows, in time order', async (t) => {
  const ev = parsePerfScript(trace);
  t.equal(ev.length, 12, 'every event line but none of the rest');
  t.same(ev[2], { us: 1_000_020, tid: TX, what: 'wakeup', cpu: 1 });
  t.same(ev[3], { us: 1_000_050, tid: TX, what: 'on-cpu', cpu: 1 });
  t.same(
    ev.map((e) => e.what),
    [
      '>sendto',
      '<sendto',
      'wakeup',
      'on-cpu',
      '<poll',
      '>readv',
      '<readv',
      '>readv',
      '>sendmmsg',
      '<sendmmsg',
      '>poll',
      '<recvmsg',
    ],
  );
  t.ok(
    ev.every((e, i) => i === 0 || e.us >= ev[i - 1]!.us),
    'sorted by time',
  );
});

t.test('splitTrips: RTT, wake-up → on CPU, syscalls, its own time; other threads ignored', async (t) => {
  const { trips, splits } = splitTrips(parsePerfScript(trace), PING, new Set([TX]));
  t.same(trips, [[1_000_000, 1_000_300]]);
  t.equal(splits.length, 1);
  const s = splits[0]!;
  t.equal(Math.round(s.rtt), 300, 'sendto → recvmsg back');
  t.equal(Math.round(s.wake), 30, 'woken at +20, on a CPU at +50');
  t.equal(Math.round(s.syscalls), 105, 'readv 5 + sendmmsg 100 (thread 999 is not the dataplane)');
  t.equal(Math.round(s.user), 20, 'from each syscall return to the next call: 10 + 5 + 5');
  t.same(
    Object.fromEntries(Object.entries(s.calls).map(([k, v]) => [k, Math.round(v)])),
    { readv: 5, sendmmsg: 100 },
    'by system call',
  );
});

t.test(
  'splitTrips: a loop that sleeps in read (the floor relay), not poll: its own time counts all the same',
  async (t) => {
    const relay = `
            ping   100 [000] 2.000000: raw_syscalls:sys_enter: NR 44 (3, 7ffe, 40, 0, 55d0, 10)
         swapper     0 [001] 2.000010:     sched:sched_wakeup: comm=relay pid=301 prio=120 target_cpu=001
         swapper     0 [001] 2.000012:     sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=relay next_pid=301 next_prio=120
           relay   301 [001] 2.000020:  raw_syscalls:sys_exit: NR 0 = 94
           relay   301 [001] 2.000060: raw_syscalls:sys_enter: NR 46 (4, 7ffc, 0, 0, 0, 0)
           relay   301 [001] 2.000090:  raw_syscalls:sys_exit: NR 46 = 94
           relay   301 [001] 2.000095: raw_syscalls:sys_enter: NR 0 (3, 7ffc, 20000, 0, 0, 0)
            ping   100 [000] 2.000200:  raw_syscalls:sys_exit: NR 47 = 84
`;
    const { splits } = splitTrips(parsePerfScript(relay), PING, new Set([301]));
    t.same(
      splits.map((s) => [s.rtt, s.wake, s.syscalls, s.user].map(Math.round)),
      [[200, 2, 30, 45]],
      'rtt 200, woken → on CPU 2, sendmsg 30, read return → sendmsg 40 + sendmsg return → read 5 (the blocking read is not counted)',
    );
  },
);

t.test('splitTrips: a ping without a reply in the trace is no round trip; nothing found is empty', async (t) => {
  const lost = parsePerfScript(trace.split('\n').slice(0, -2).join('\n'));
  t.same(splitTrips(lost, PING, new Set([TX])).trips, []);
  t.same(splitTrips([], PING, new Set([TX])), { trips: [], splits: [] });
});

t.test('splitTrips: several round trips, each split from its own events only', async (t) => {
  const one = parsePerfScript(trace);
  const later = one.map((e) => ({ ...e, us: e.us + 1_000_000 }));
  const { trips, splits } = splitTrips([...later, ...one], PING, new Set([TX]));
  t.same(trips, [
    [1_000_000, 1_000_300],
    [2_000_000, 2_000_300],
  ]);
  t.same(
    splits.map((s) => [s.rtt, s.wake, s.syscalls, s.user].map(Math.round)),
    [
      [300, 30, 105, 20],
      [300, 30, 105, 20],
    ],
  );
});
