// The table `vxtun bench micro` prints (and `npm run bench`). Pure.

/** One micro case's result. */
export interface MicroResult {
  name: string;
  packetsPerSecond: number;
  /** Gbit/s of inner bytes; NaN for cases that move no bytes (lookups). */
  gbps: number;
  spreadPct: number;
}

export function microTable(results: readonly MicroResult[]): string[] {
  return [
    '| case | Mpackets/s | Gb/s (inner bytes) | ± |',
    '| --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${(r.packetsPerSecond / 1e6).toFixed(2)} | ${Number.isFinite(r.gbps) ? r.gbps.toFixed(1) : '-'} | ±${r.spreadPct.toFixed(1)}% |`,
    ),
  ];
}

/** One case's progress line: "encap 64 B native: 12.34 Mpackets/s, 6.3 Gb/s". */
export function microLine(r: MicroResult): string {
  return `${r.name}: ${(r.packetsPerSecond / 1e6).toFixed(2)} Mpackets/s${Number.isFinite(r.gbps) ? `, ${r.gbps.toFixed(1)} Gb/s` : ''}`;
}
