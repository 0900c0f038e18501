// `vxtun bench latency`: its options (src/bench/latency-args.ts: defaults, each bad value a UsageError naming its
// option, exit 2 from the CLI before any root check) and its table (src/bench/latency-table.ts, exact text).
import t from 'tap';
import { parseLatencyArgs } from '../../src/bench/latency-args.js';
import type { LatencyResults } from '../../src/bench/latency-run.js';
import { latencyTable } from '../../src/bench/latency-table.js';
import { checkCliExit2, checkRefusals } from '../helpers/usage-checks.js';

t.test('defaults: 3 rounds × 50 pings 0.1 s apart, native only, no timelines', (t) => {
  t.same(parseLatencyArgs({}), { rounds: 3, count: 50, intervalS: 0.1, show: 0, variants: { native: {} } });
  t.same(parseLatencyArgs({ rounds: '1', count: '20', interval: '0.05', show: '2', variant: ['w1={"workers":1}'] }), {
    rounds: 1,
    count: 20,
    intervalS: 0.05,
    show: 2,
    variants: { native: {}, w1: { workers: 1 } },
  });
  t.equal(parseLatencyArgs({ interval: ' 2 ' }).intervalS, 2);
  t.equal(parseLatencyArgs({ show: '0' }).show, 0);
  t.end();
});

const refusals: { input: Parameters<typeof parseLatencyArgs>[0]; option: string }[] = [
  { input: { rounds: '0' }, option: '--rounds' },
  { input: { rounds: '101' }, option: '--rounds' },
  { input: { count: 'x' }, option: '--count' },
  { input: { count: '10001' }, option: '--count' },
  { input: { interval: '0' }, option: '--interval' },
  { input: { interval: '0.001' }, option: '--interval' },
  { input: { interval: '11' }, option: '--interval' },
  { input: { interval: '1e-1' }, option: '--interval' },
  { input: { interval: '-1' }, option: '--interval' },
  { input: { interval: '' }, option: '--interval' },
  { input: { show: '-1' }, option: '--show' },
  { input: { show: '51' }, option: '--show' },
  { input: { count: '5', show: '6' }, option: '--show' },
  { input: { variant: ['native={}'] }, option: '--variant' },
  { input: { variant: ['floor={}'] }, option: '--variant' },
  { input: { variant: ['v={}', 'v={}'] }, option: '--variant' },
  { input: { variant: ['v=[]'] }, option: '--variant' },
];

t.test('bad values: a UsageError naming the option', (t) => {
  checkRefusals(t, parseLatencyArgs, refusals);
  t.end();
});

t.test('the CLI: bad arguments exit 2 with one line naming the option', (t) => {
  const cases: [string[], RegExp][] = [
    [['bench', 'latency', '--interval', '0'], /^vxtun: --interval: /],
    [['bench', 'latency', '--count', '3', '--show', '4'], /^vxtun: --show: /],
    [['bench', 'latency', '--seconds', '3'], /unknown option '--seconds'/],
  ];
  checkCliExit2(t, cases);
  t.end();
});

t.test('the table: medians per setup (of two: their mean), other = RTT − the parts, each call by name', (t) => {
  const split = (rtt: number, wake: number, syscalls: number, user: number, calls: Record<string, number>) => ({
    rtt,
    wake,
    syscalls,
    user,
    calls,
  });
  const res: LatencyResults = {
    rounds: 1,
    count: 3,
    intervalS: 0.05,
    machine: { cpus: 2, cpuModel: 'AMD EPYC', kernel: '6.18.44' },
    splits: {
      floor: [
        split(300, 40, 130, 90, { sendmsg: 60, writev: 70 }),
        split(340, 44, 150, 95, { sendmsg: 70, writev: 80 }),
      ],
      native: [
        split(420, 43, 266, 62, { readv: 17, sendmmsg: 156 }),
        split(400, 41, 250, 60, { readv: 15, sendmmsg: 150 }),
        split(500, 50, 300, 70, { readv: 20, sendmmsg: 200, recvmmsg: 10 }),
      ],
    },
  };
  t.equal(
    latencyTable(res).join('\n'),
    `vxtun bench latency — 1 interleaved rounds × 3 pings every 0.05 s, medians in µs; 2 CPUs (AMD EPYC), Linux 6.18.44

| setup | round trips | RTT | dataplane wake-up → on CPU | dataplane syscalls | dataplane user | other |
| --- | --- | --- | --- | --- | --- | --- |
| floor | 2 | 320 | 42 | 140 | 93 | 46 |
| native | 3 | 420 | 43 | 266 | 62 | 49 |

Time in each system call per round trip (all the dataplane's threads), median µs:

| setup | readv | recvmmsg | sendmmsg | sendmsg | writev |
| --- | --- | --- | --- | --- | --- |
| floor | 0 | 0 | 0 | 65 | 75 |
| native | 17 | 0 | 156 | 0 | 0 |`,
  );
  t.end();
});
