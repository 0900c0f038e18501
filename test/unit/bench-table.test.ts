// `vxtun bench lab`'s stdout (src/bench/lab-table.ts over src/bench/lab-results.ts): medians over rounds, the ratio
// columns against kernel and kernel6, and the comparison lines, as exact text — scripts and the README read it.
import t from 'tap';
import { median, summarize } from '../../src/bench/lab-results.js';
import { labTable } from '../../src/bench/lab-table.js';
import { FIXTURE_NAMES, FIXTURE_SAMPLES, fixtureResults } from '../helpers/bench-results.js';

t.test('median: odd, even, none', (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  t.end();
});

t.test('summarize: medians per setup, ratios against the kernel of the same family, NaN without one', (t) => {
  const rows = summarize(FIXTURE_NAMES, FIXTURE_SAMPLES);
  t.same(
    rows.map((r) => r.setup),
    FIXTURE_NAMES,
    'rows in the order asked',
  );
  const native = rows.find((r) => r.setup === 'native')!;
  t.equal(native.tcp1, 6);
  t.equal(native.cpuPerGB, 1.5);
  t.equal(native.tcp1VsKernel, 0.6);
  t.equal(native.costVsKernel, 0.5);
  const native6 = rows.find((r) => r.setup === 'native6')!;
  t.equal(native6.costVsKernel, 0.5, 'native6 against kernel6 (1.1 / 2.2)');
  t.ok(Number.isNaN(rows.find((r) => r.setup === 'kernel')!.cpuPerGB), 'kernel VXLAN has no daemon CPU');
  const alone = summarize(['native'], FIXTURE_SAMPLES)[0]!;
  t.ok(Number.isNaN(alone.tcp1VsKernel), 'no kernel setup measured: no ratio');
  t.end();
});

const EXPECTED = `vxtun bench:e2e — 3 interleaved rounds × 5 s, medians; 2 CPUs (Test CPU <Model> & Co), Linux 6.18.0-test, 2026-12-07
vxtun offloads in use: {"tso":"on","gro":"on","udpGso":"on","udpGro":"on"}

| setup | TCP 1 stream Gbit/s | ×kernel | TCP 4 streams Gbit/s | ×kernel | UDP 64 B kpps | ×kernel | ping RTT ms | daemon CPU s/GB | machine CPU s/GB | idle | kernel ÷ cost |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| kernel | 10.00 | 1.00 | 12.00 | 1.00 | 100 | 1.00 | 0.100 | - | 1.00 | 5 % | 1.00 |
| native | 6.00 | 0.60 | 7.20 | 0.60 | 80 | 0.80 | 0.200 | 1.50 | 2.00 | 10 % | 0.50 |
| kernel6 | 9.00 | 1.00 | 10.00 | 1.00 | 90 | 1.00 | 0.120 | - | 1.10 | 4 % | 1.00 |
| native6 | 5.40 | 0.60 | 5.00 | 0.50 | 72 | 0.80 | 0.250 | 1.70 | 2.20 | 10 % | 0.50 |
| floor | 8.00 | 0.80 | 9.00 | 0.75 | 90 | 0.90 | 0.150 | 0.80 | 1.25 | 8 % | 0.80 |
| floor-iov | 6.00 | 0.60 | 9.00 | 0.75 | 90 | 0.90 | 0.150 | 1.20 | 1.25 | 8 % | 0.80 |
| floor-vxlan | 7.20 | 0.72 | 8.00 | 0.67 | 96 | 0.96 | 0.150 | 1.00 | 1.40 | 6 % | 0.71 |

ping RTT: the median of 20 pings 50 ms apart, 1 s after the UDP test. machine CPU s/GB: busy seconds of all CPUs together per GB, during the 1-stream TCP test (steal excluded); idle: the CPUs' idle share then. kernel ÷ cost: kernel VXLAN's machine CPU per GB over the setup's, the throughput ratio its cost per byte allows when the CPUs are the limit (idle ≈ 0). ×kernel and kernel ÷ cost compare kernel6 and native6 (IPv6-only underlay) with kernel6, every other row with kernel.

vxtun ÷ kernel VXLAN, IPv6 underlay (native6 ÷ kernel6) beside IPv4 (native ÷ kernel): TCP 1 stream 0.60 vs 0.60 (within 10 %), TCP 4 streams 0.50 vs 0.60 (NOT within 10 %), UDP 64 B 0.80 vs 0.80, kernel ÷ cost 0.50 vs 0.50

native ÷ floor: TCP 1 stream 0.75, TCP 4 streams 0.80, UDP 64 B 0.89
floor-vxlan ÷ floor (what valid VXLAN costs): TCP 1 stream 0.90, TCP 4 streams 0.89, CPU s/GB 1.25
native ÷ floor-vxlan: TCP 1 stream 0.83, TCP 4 streams 0.90, UDP 64 B 0.83
floor-iov ÷ floor (the cost of gathering): TCP 1 stream 0.75, TCP 4 streams 1.00, CPU s/GB 1.50`;

t.test('the table, exactly as bench:e2e printed it', (t) => {
  t.equal(labTable(fixtureResults()).join('\n'), EXPECTED);
  t.end();
});

t.test('without floor, native6 or offloads: no comparison lines, no offloads line', (t) => {
  const res = fixtureResults();
  delete res.offloads;
  res.rows = summarize(['kernel', 'native'], FIXTURE_SAMPLES);
  const text = labTable(res).join('\n');
  t.notMatch(text, /offloads in use/);
  t.notMatch(text, /native ÷ floor/);
  t.notMatch(text, /IPv6 underlay \(native6/);
  t.equal(text.split('\n').filter((l) => /^\| (?!---)/.test(l)).length, 3, 'header and two rows');
  t.end();
});

t.test('a floor row without native: no native ÷ floor line; a row without kernel: "-" ratios', (t) => {
  const res = fixtureResults();
  res.rows = summarize(['floor'], FIXTURE_SAMPLES);
  const lines = labTable(res);
  t.notOk(lines.some((l) => l.startsWith('native ÷ floor')));
  t.ok(lines.includes('| floor | 8.00 | - | 9.00 | - | 90 | - | 0.150 | 0.80 | 1.25 | 8 % | - |'), lines.join('\n'));
  t.end();
});

t.test('floor and floor-vxlan without native: what valid VXLAN costs, no native ÷ lines', (t) => {
  const res = fixtureResults();
  res.rows = summarize(['floor', 'floor-vxlan'], FIXTURE_SAMPLES);
  const lines = labTable(res);
  t.notOk(lines.some((l) => l.startsWith('native ÷')));
  const at = lines.indexOf(
    'floor-vxlan ÷ floor (what valid VXLAN costs): TCP 1 stream 0.90, TCP 4 streams 0.89, CPU s/GB 1.25',
  );
  t.ok(at > 0, lines.join('\n'));
  t.equal(lines[at - 1], '', 'after a blank line');
  t.end();
});
