// A fixed `vxtun bench lab` result (src/bench/lab-results.ts) for the table and report tests: kernel, native (three
// rounds: its medians are the middle values), floor, floor-iov, floor-vxlan, kernel6 and native6, with round numbers so every
// ratio is known by hand.
import { summarize, type LabResults, type LabSample } from '../../src/bench/lab-results.js';

const s = (
  tcp1: number,
  tcp4: number,
  udp64: number,
  rttMs: number,
  machinePerGB: number,
  idleShare: number,
  cpuPerGB?: number,
): LabSample => ({
  tcp1,
  tcp4,
  udp64,
  rttMs,
  machinePerGB,
  idleShare,
  ...(cpuPerGB !== undefined ? { cpuPerGB } : {}),
});

export const FIXTURE_SAMPLES: Record<string, LabSample[]> = {
  kernel: [s(10, 12, 100_000, 0.1, 1.0, 0.05)],
  // medians: tcp1 6, tcp4 7.2, udp64 80 k, rtt 0.2, machine 2.0, idle 0.1, daemon 1.5
  native: [
    s(9, 7.2, 70_000, 0.3, 1.9, 0.2, 1.4),
    s(5, 8, 80_000, 0.2, 2.0, 0.1, 1.5),
    s(6, 6, 90_000, 0.1, 2.1, 0.0, 1.6),
  ],
  floor: [s(8, 9, 90_000, 0.15, 1.25, 0.08, 0.8)],
  'floor-iov': [s(6, 9, 90_000, 0.15, 1.25, 0.08, 1.2)],
  'floor-vxlan': [s(7.2, 8, 96_000, 0.15, 1.4, 0.06, 1.0)],
  kernel6: [s(9, 10, 90_000, 0.12, 1.1, 0.04)],
  native6: [s(5.4, 5, 72_000, 0.25, 2.2, 0.1, 1.7)],
};

export const FIXTURE_NAMES = ['kernel', 'native', 'kernel6', 'native6', 'floor', 'floor-iov', 'floor-vxlan'];

export function fixtureResults(): LabResults {
  return {
    rounds: 3,
    seconds: 5,
    machine: { cpus: 2, cpuModel: 'Test CPU <Model> & Co', kernel: '6.18.0-test' },
    date: '2026-12-07',
    build: 'git v0.1.0-5-gabcdef0',
    offloads: { tso: 'on', gro: 'on', udpGso: 'on', udpGro: 'on' },
    rows: summarize(FIXTURE_NAMES, FIXTURE_SAMPLES),
    samples: FIXTURE_SAMPLES,
  };
}
