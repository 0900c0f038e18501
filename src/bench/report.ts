// `vxtun bench lab --report FILE.html|FILE.svg`: the results (src/bench/lab-results.ts) as a self-contained picture —
// one bar per setup and metric, each with its value and its ratio to kernel VXLAN over the same underlay family,
// and where it ran (CPUs, kernel), when and which build. Pure. No external resources and no scripts: it views as
// it is, in a browser or an image viewer.
import { kernelOf, type LabResults, type LabRow } from './lab-results.js';

interface Metric {
  key: 'tcp1' | 'tcp4' | 'udp64' | 'rttMs' | 'cpuPerGB' | 'machinePerGB';
  title: string;
  unit: string;
  /** Shown value = row value × scale. */
  scale: number;
  decimals: number;
  /** "higher is better" or "lower is better", said under the title. */
  better: 'higher' | 'lower';
}

export const REPORT_METRICS: readonly Metric[] = [
  { key: 'tcp1', title: 'TCP 1 stream', unit: 'Gbit/s', scale: 1, decimals: 2, better: 'higher' },
  { key: 'tcp4', title: 'TCP 4 streams', unit: 'Gbit/s', scale: 1, decimals: 2, better: 'higher' },
  { key: 'udp64', title: 'UDP 64 B packets', unit: 'kpps', scale: 1e-3, decimals: 0, better: 'higher' },
  { key: 'rttMs', title: 'ping RTT', unit: 'ms', scale: 1, decimals: 3, better: 'lower' },
  {
    key: 'cpuPerGB',
    title: 'daemon CPU per GB (vxtun daemons or floor relays)',
    unit: 's/GB',
    scale: 1,
    decimals: 2,
    better: 'lower',
  },
  {
    key: 'machinePerGB',
    title: 'machine CPU per GB (all CPUs, 1-stream TCP)',
    unit: 's/GB',
    scale: 1,
    decimals: 2,
    better: 'lower',
  },
];

const COLORS: Record<string, string> = {
  kernel: '#6b6b6b',
  kernel6: '#9a9a9a',
  native: '#1f77b4',
  native6: '#6baed6',
  js: '#ff7f0e',
  plain: '#2ca02c',
  direct: '#9467bd',
  floor: '#8c564b',
  'floor-iov': '#c49c94',
  'floor-vxlan': '#bf812d',
  capture: '#e377c2',
};
const VARIANT_COLORS = ['#17becf', '#bcbd22', '#d62728', '#7f3c8d', '#11a579'];

function colorOf(setup: string, rows: readonly LabRow[]): string {
  if (COLORS[setup]) return COLORS[setup];
  const variants = rows.map((r) => r.setup).filter((s) => !COLORS[s]);
  return VARIANT_COLORS[Math.max(0, variants.indexOf(setup)) % VARIANT_COLORS.length]!;
}

/** Text and attribute values escaped for XML and HTML. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** The row's value of a metric over its kernel row's (×kernel), NaN without one. */
export function ratioToKernel(rows: readonly LabRow[], row: LabRow, key: Metric['key']): number {
  const k = rows.find((r) => r.setup === kernelOf(row.setup));
  return k ? row[key] / k[key] : NaN;
}

/** "Intel Xeon · 2 CPUs · Linux 6.1 · 2026-12-07 · git v1-2-gabc · 5 rounds × 5 s" */
function describeRun(res: LabResults): string[] {
  return [
    `${res.machine.cpus} CPUs (${res.machine.cpuModel}), Linux ${res.machine.kernel}`,
    `${res.date} · build ${res.build} · ${res.rounds} interleaved rounds × ${res.seconds} s, medians`,
  ];
}

const TITLE = 'vxtun bench lab: pod-to-pod through two-node testbeds, against kernel VXLAN';
const NOTE =
  '×kernel: the setup over kernel VXLAN on the same underlay family (kernel6 for kernel6 and native6). ' +
  'Bars of one metric share a scale.';

const W = 1000;
const LABEL_X = 20;
const BAR_X = 150;
const BAR_MAX = 560;
const ROW_H = 22;

/** The chart as an <svg> element; with `standalone`, a whole SVG document (XML declaration, namespace). */
export function reportSvg(res: LabResults, standalone = true): string {
  const parts: string[] = [];
  let y = 34;
  const text = (x: number, yy: number, s: string, cls: string) =>
    parts.push(`<text x="${x}" y="${yy}" class="${cls}">${escapeXml(s)}</text>`);
  text(LABEL_X, y, TITLE, 'title');
  for (const l of describeRun(res)) text(LABEL_X, (y += 20), l, 'meta');
  y += 16;
  for (const m of REPORT_METRICS) {
    y += 26;
    text(LABEL_X, y, `${m.title}, ${m.unit} (${m.better} is better)`, 'metric');
    y += 8;
    const values = res.rows.map((r) => r[m.key] * m.scale);
    const max = Math.max(0, ...values.filter(Number.isFinite));
    for (const r of res.rows) {
      const v = r[m.key] * m.scale;
      const w = Number.isFinite(v) && max > 0 ? Math.max(1, (v / max) * BAR_MAX) : 0;
      const ratio = ratioToKernel(res.rows, r, m.key);
      const label = `${fmt(v, m.decimals)}${Number.isFinite(ratio) ? ` · ×${ratio.toFixed(2)} kernel` : ''}`;
      text(LABEL_X, y + 15, r.setup, 'setup');
      parts.push(
        `<rect class="bar" data-setup="${escapeXml(r.setup)}" data-metric="${m.key}" x="${BAR_X}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${colorOf(r.setup, res.rows)}"/>`,
      );
      text(BAR_X + w + 6, y + 15, label, 'value');
      y += ROW_H;
    }
  }
  y += 26;
  text(LABEL_X, y, NOTE, 'note');
  const height = y + 20;
  const style =
    '<style>text{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;fill:#222}.title{font-size:18px;font-weight:bold}' +
    '.meta{font-size:13px;fill:#444}.metric{font-size:14px;font-weight:bold}.setup{font-size:13px}' +
    '.value{font-size:12px}.note{font-size:11px;fill:#555}</style>';
  const open = standalone
    ? `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">`
    : `<svg width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${escapeXml(TITLE)}">`;
  const body = [
    open,
    `<title>${escapeXml(TITLE)}</title>`,
    style,
    `<rect x="0" y="0" width="${W}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
  ].join('\n');
  return standalone ? `<?xml version="1.0" encoding="UTF-8"?>\n${body}\n` : body;
}

/** A whole HTML page: the chart inline, then the figures as a table. */
export function reportHtml(res: LabResults): string {
  const cell = (s: string) => `<td>${escapeXml(s)}</td>`;
  const head = ['setup', ...REPORT_METRICS.flatMap((m) => [`${m.title} ${m.unit}`, '×kernel'])];
  const rows = res.rows.map(
    (r) =>
      `<tr>${cell(r.setup)}${REPORT_METRICS.map((m) => cell(fmt(r[m.key] * m.scale, m.decimals)) + cell(fmt(ratioToKernel(res.rows, r, m.key), 2))).join('')}</tr>`,
  );
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeXml(TITLE)}</title>`,
    '<style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:16px;color:#222;background:#fff}' +
      'table{border-collapse:collapse;font-size:12px;margin-top:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}' +
      'td:first-child,th:first-child{text-align:left}</style>',
    '</head>',
    '<body>',
    reportSvg(res, false),
    '<table>',
    `<tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`,
    ...rows,
    '</table>',
    `<p>${escapeXml(NOTE)}</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
