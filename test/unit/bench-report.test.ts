// `vxtun bench lab --report` (src/bench/report.ts): the SVG parses as XML and the HTML is balanced; one bar per setup
// and metric, each labelled with its value and ratio to kernel VXLAN (kernel6 for the IPv6 rows); the CPU seconds
// per GB, the machine, kernel, date and build are there; text from the machine is escaped; nothing external.
import t, { type Test } from 'tap';
import { REPORT_METRICS, reportHtml, reportSvg } from '../../src/bench/report.js';
import { fixtureResults } from '../helpers/bench-results.js';
import { checkXml } from '../helpers/xml-check.js';

const res = fixtureResults();
const setups = res.rows.map((r) => r.setup);

t.test('the checker itself refuses what is not well-formed', (t) => {
  t.same(checkXml('<a><b x="1"/>t &amp; u</a>').problems, []);
  t.not(checkXml('<a><b></a>').problems.length, 0, 'misnested');
  t.not(checkXml('<a x=1></a>').problems.length, 0, 'unquoted attribute');
  t.not(checkXml('<a>R&D</a>').problems.length, 0, 'bare &');
  t.not(checkXml('<a></a><b></b>').problems.length, 0, 'two roots');
  t.not(checkXml('<a>').problems.length, 0, 'unclosed');
  t.same(checkXml('<!DOCTYPE html><html><head><meta charset="utf-8"></head></html>', { html: true }).problems, []);
  t.end();
});

function checkContent(t: Test, doc: string, elements: ReturnType<typeof checkXml>['elements']) {
  const bars = elements.filter((e) => e.name === 'rect' && e.attrs['class'] === 'bar');
  t.equal(bars.length, setups.length * REPORT_METRICS.length, 'one bar per setup and metric');
  for (const s of setups)
    for (const m of REPORT_METRICS)
      t.equal(
        bars.filter((b) => b.attrs['data-setup'] === s && b.attrs['data-metric'] === m.key).length,
        1,
        `${s} ${m.key}`,
      );
  const width = (s: string, m: string) =>
    Number(bars.find((b) => b.attrs['data-setup'] === s && b.attrs['data-metric'] === m)!.attrs['width']);
  t.equal(width('kernel', 'tcp1'), 560, 'the largest value fills the scale');
  t.equal(width('native', 'tcp1'), 336, 'native at 6 of 10 Gbit/s');
  t.equal(width('kernel', 'cpuPerGB'), 0, 'kernel VXLAN has no daemon: no bar length');
  // Values with their ratio to kernel VXLAN, next to the bars.
  for (const label of [
    '6.00 · ×0.60 kernel', // native TCP 1 stream
    '7.20 · ×0.60 kernel', // native TCP 4 streams
    '80 · ×0.80 kernel', // native UDP 64 B, kpps
    '0.200 · ×2.00 kernel', // native ping RTT
    '2.00 · ×2.00 kernel', // native machine CPU s/GB
    '5.00 · ×0.50 kernel', // native6 TCP 4 streams: against kernel6
    '10.00 · ×1.00 kernel',
  ])
    t.ok(doc.includes(`>${label}<`), label);
  t.ok(doc.includes('>1.50<'), "native's daemon CPU s/GB");
  t.ok(doc.includes('>0.80<'), "floor's relay CPU s/GB");
  t.match(doc, /daemon CPU per GB/);
  t.match(doc, /machine CPU per GB/);
  t.ok(doc.includes('2 CPUs (Test CPU &lt;Model&gt; &amp; Co), Linux 6.18.0-test'), 'machine and kernel, escaped');
  t.ok(doc.includes('2026-12-07'), 'date');
  t.ok(doc.includes('git v0.1.0-5-gabcdef0'), 'build');
  t.ok(doc.includes('3 interleaved rounds × 5 s'), 'rounds and seconds');
  // Self-contained: nothing fetched, nothing run.
  t.notMatch(doc, /<script/i);
  t.notMatch(doc, /\b(?:href|src)\s*=/i);
  t.notMatch(doc, /url\(|@import/i);
  t.same(
    [...doc.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]),
    doc.startsWith('<?xml') ? ['http://www.w3.org/2000/svg'] : [],
    'no URL but the SVG namespace',
  );
}

t.test('SVG: a well-formed document with every bar and label', (t) => {
  const svg = reportSvg(res);
  t.ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'));
  const { problems, elements } = checkXml(svg);
  t.same(problems, [], 'well-formed');
  t.equal(elements[0]!.name, 'svg');
  checkContent(t, svg, elements);
  t.end();
});

t.test('HTML: balanced, the chart inline and the figures as a table', (t) => {
  const html = reportHtml(res);
  t.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  const { problems, elements } = checkXml(html, { html: true });
  t.same(problems, [], 'balanced');
  t.ok(
    elements.some((e) => e.name === 'svg' && e.path.join('>') === 'html>body'),
    'the chart inline in the body',
  );
  const tableRows = elements.filter((e) => e.name === 'tr');
  t.equal(tableRows.length, setups.length + 1, 'a header and one table row per setup');
  checkContent(t, html, elements);
  t.end();
});

t.test('a variant setup with an odd name gets a colour and escaped text', (t) => {
  const r = fixtureResults();
  r.rows = [...r.rows, { ...r.rows[1]!, setup: 'v<1>' }];
  const svg = reportSvg(r);
  t.same(checkXml(svg).problems, []);
  t.match(svg, /data-setup="v&lt;1&gt;"[^>]*fill="#[0-9a-f]{6}"/);
  t.end();
});
