// What a benchmark report says about where it ran: the CPUs, the kernel, the day and the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../version.js';
import type { LabMachine } from './lab-results.js';

export function machineInfo(): LabMachine {
  return { cpus: os.cpus().length, cpuModel: String(os.cpus()[0]?.model.trim()), kernel: os.release() };
}

/** The package's root: two levels above this module (src/bench/ or dist/bench/). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `git describe --always --dirty` when this package is a git checkout of its own (not a package installed inside some
 * other repository), else `vxtun <version>`.
 */
export function buildId(): string {
  if (existsSync(`${PACKAGE_ROOT}.git`)) {
    const r = spawnSync('git', ['-C', PACKAGE_ROOT, 'describe', '--tags', '--always', '--dirty'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (r.status === 0 && r.stdout.trim()) return `git ${r.stdout.trim()}`;
  }
  return `vxtun ${VERSION}`;
}

/** Today, YYYY-MM-DD (UTC). */
export const today = (): string => new Date().toISOString().slice(0, 10);
