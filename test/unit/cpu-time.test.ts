// CPU time parsing for the benchmarks' cost per GB (src/lab/cpu-time.ts): /proc/stat and /proc/PID/stat layouts,
// old kernels without steal, process names with spaces and parentheses, malformed text; and the delta arithmetic.
import t from 'tap';
import { machineCpuDelta, parseMachineCpu, parseProcessCpuSeconds } from '../../src/lab/cpu-time.js';

const STAT_6_18 =
  'cpu  1000 20 3000 40000 500 60 700 80 0 0\n' +
  'cpu0 500 10 1500 20000 250 30 350 40 0 0\n' +
  'intr 123 4 5\nctxt 99\n';

const machineCases: { name: string; text: string; want: ReturnType<typeof parseMachineCpu> }[] = [
  {
    name: 'Linux 6.x: ten columns',
    text: STAT_6_18,
    want: { busy: 1000 + 20 + 3000 + 60 + 700, idle: 40500, steal: 80 },
  },
  {
    name: 'Linux 2.6.9: seven columns, no steal',
    text: 'cpu  1 2 3 4 5 6 7\n',
    want: { busy: 1 + 2 + 3 + 6 + 7, idle: 9, steal: 0 },
  },
  {
    name: 'the aggregate line is found after others',
    text: 'btime 5\ncpu  1 1 1 1 1 1 1 1\n',
    want: { busy: 5, idle: 2, steal: 1 },
  },
  { name: 'only per-CPU lines: none', text: 'cpu0 1 2 3 4 5 6 7 8\n', want: undefined },
  { name: 'too few columns', text: 'cpu  1 2 3 4 5 6\n', want: undefined },
  { name: 'a non-numeric column', text: 'cpu  1 2 x 4 5 6 7 8\n', want: undefined },
  { name: 'a negative column', text: 'cpu  1 2 -3 4 5 6 7 8\n', want: undefined },
  { name: 'empty', text: '', want: undefined },
];
for (const c of machineCases) t.same(parseMachineCpu(c.text), c.want, c.name);

// utime is field 14 and stime field 15 of /proc/PID/stat; the name (field 2) is whatever the process chose.
const procStat = (comm: string, utime: number | string, stime: number | string) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 3000 0 12 0 ${utime} ${stime} 0 0 20 0 9 0 777 1234567 890 18446744073709551615\n`;
const processCases: { name: string; text: string; want: number | undefined }[] = [
  { name: 'a plain name', text: procStat('node', 250, 150), want: 4 },
  { name: 'a name with spaces', text: procStat('vxtun worker 1', 1, 2), want: 0.03 },
  { name: 'a name with ") " inside', text: procStat('a) S 1 2 3 (b', 100, 0), want: 1 },
  { name: 'truncated before stime', text: '4242 (node) S 1 4242 4242 0 -1 4194560 3000 0 12 0 250\n', want: undefined },
  { name: 'non-numeric utime', text: procStat('node', 'x', 1), want: undefined },
  { name: 'no parenthesis', text: '4242 node S 1', want: undefined },
];
for (const c of processCases) t.equal(parseProcessCpuSeconds(c.text), c.want, c.name);

t.test('machineCpuDelta: busy seconds, idle share of the runnable time, steal share of all time', async (t) => {
  const d = machineCpuDelta({ busy: 1000, idle: 500, steal: 10 }, { busy: 1900, idle: 600, steal: 110 });
  t.equal(d.busySeconds, 9);
  t.equal(d.idleShare, 100 / 1000);
  t.equal(d.stealShare, 100 / 1100);
  t.same(
    machineCpuDelta({ busy: 5, idle: 5, steal: 5 }, { busy: 5, idle: 5, steal: 5 }),
    { busySeconds: 0, idleShare: 0, stealShare: 0 },
    'no time passed: no division by zero',
  );
});

t.test('the readers agree with a real /proc', async (t) => {
  const { readMachineCpu, processCpuSeconds } = await import('../../src/lab/cpu-time.js');
  const a = readMachineCpu();
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i % 7; // some CPU time for this process and the machine
  const b = readMachineCpu();
  t.ok(x > 0);
  t.ok(b.busy > a.busy, `the machine was busy: ${b.busy - a.busy} ticks`);
  t.ok(processCpuSeconds(process.pid) > 0, 'this process has used CPU time');
  t.ok(
    processCpuSeconds(process.pid) <= process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 + 0.05,
    'no more than Node itself counts',
  );
});
