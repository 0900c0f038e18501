// `vxtun bench lab` options (src/bench/lab-args.ts): the defaults and setup selection as bench:e2e had them, and each
// bad value refused with a UsageError naming its option; the CLI turns that into exit 2 before building anything.
import t from 'tap';
import { DEFAULT_SETUPS, parseLabArgs, reportFormat } from '../../src/bench/lab-args.js';
import { checkCliExit2, checkRefusals } from '../helpers/usage-checks.js';

t.test('defaults: 5 rounds × 5 s, the README table setups, no files', (t) => {
  const a = parseLabArgs({});
  t.equal(a.rounds, 5);
  t.equal(a.seconds, 5);
  t.same(a.setups, ['kernel', 'native', 'js', 'plain', 'direct', 'kernel6', 'native6']);
  t.same(a.setups, DEFAULT_SETUPS);
  t.same(a.variants, {});
  t.same(a.captureArgs, []);
  t.equal(a.json, undefined);
  t.equal(a.report, undefined);
  t.equal(a.perfDir, undefined);
  t.end();
});

t.test('flags add their setups after the defaults, variants last', (t) => {
  const a = parseLabArgs({
    floor: true,
    floorIovecs: true,
    floorVxlan: true,
    capture: true,
    variant: ['noudpgso={"offloads":{"udpGso":"off"}}'],
  });
  t.same(a.setups, [...DEFAULT_SETUPS, 'capture', 'floor', 'floor-iov', 'floor-vxlan', 'noudpgso']);
  t.same(a.variants, { noudpgso: { offloads: { udpGso: 'off' } } });
  t.end();
});

t.test('--only: table order whatever the order given; naming floor asks for it; flags do not add to it', (t) => {
  t.same(parseLabArgs({ only: 'floor,native,kernel' }).setups, ['kernel', 'native', 'floor']);
  t.same(parseLabArgs({ only: 'kernel,native', floor: true }).setups, ['kernel', 'native'], 'as bench:e2e did');
  t.same(parseLabArgs({ only: 'kernel, native6 ,capture' }).setups, ['kernel', 'native6', 'capture']);
  t.same(parseLabArgs({ only: 'v1,kernel', variant: ['v1={}'] }).setups, ['kernel', 'v1']);
  t.end();
});

t.test('numbers, capture args, files', (t) => {
  const a = parseLabArgs({
    rounds: '1',
    seconds: '12',
    captureArgs: ' -s 96  host 10.244.2.2 ',
    json: 'out.json',
    perf: '/tmp/p',
    report: 'r.SVG',
  });
  t.equal(a.rounds, 1);
  t.equal(a.seconds, 12);
  t.same(a.captureArgs, ['-s', '96', 'host', '10.244.2.2']);
  t.equal(a.json, 'out.json');
  t.equal(a.perfDir, '/tmp/p');
  t.same(a.report, { file: 'r.SVG', format: 'svg' });
  t.equal(reportFormat('dir.v2/report.html'), 'html');
  t.equal(reportFormat('x.htm'), 'html');
  t.end();
});

const refusals: { input: Parameters<typeof parseLabArgs>[0]; option: string }[] = [
  { input: { rounds: '0' }, option: '--rounds' },
  { input: { rounds: '-1' }, option: '--rounds' },
  { input: { rounds: '1.5' }, option: '--rounds' },
  { input: { rounds: 'five' }, option: '--rounds' },
  { input: { rounds: '' }, option: '--rounds' },
  { input: { rounds: '1001' }, option: '--rounds' },
  { input: { seconds: '0' }, option: '--seconds' },
  { input: { seconds: '2s' }, option: '--seconds' },
  { input: { only: 'kernel,nativ' }, option: '--only' },
  { input: { only: '' }, option: '--only' },
  { input: { variant: ['x'] }, option: '--variant' },
  { input: { variant: ['Bad Name={}'] }, option: '--variant' },
  { input: { variant: ['v={not json'] }, option: '--variant' },
  { input: { variant: ['v=[1]'] }, option: '--variant' },
  { input: { variant: ['v=3'] }, option: '--variant' },
  { input: { variant: ['native={}'] }, option: '--variant' },
  { input: { variant: ['v={}', 'v={}'] }, option: '--variant' },
  { input: { report: 'out.pdf' }, option: '--report' },
  { input: { report: 'out' }, option: '--report' },
  { input: { report: 'out.html/' }, option: '--report' },
];

t.test('bad values: a UsageError naming the option', (t) => {
  checkRefusals(t, parseLabArgs, refusals);
  t.end();
});

t.test('the CLI: bad arguments exit 2 with one line naming the option (before any root check)', (t) => {
  const cases: [string[], RegExp][] = [
    [['bench', 'lab', '--rounds', '0'], /^vxtun: --rounds: /],
    [['bench', 'lab', '--report', 'x.png'], /^vxtun: --report: /],
    [['bench', 'lab', '--only', 'kernel,bogus'], /^vxtun: --only: unknown setup "bogus"/],
    [['bench', 'lab', '--no-such-flag'], /unknown option '--no-such-flag'/],
    [['bench', 'micro', '--rounds', '3'], /unknown option '--rounds'/],
  ];
  checkCliExit2(t, cases);
  t.end();
});
