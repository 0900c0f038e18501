// A podman of the test's own: storage (vfs), runtime state, networks and volumes all under one temporary directory,
// chosen through CONTAINERS_STORAGE_CONF and CONTAINERS_CONF written there, so nothing of the machine's podman is
// read or changed. The runtime is runc with default_ulimits: crun fails in VMs whose root lacks CAP_SYS_RESOURCE
// (it sets rlimits it may not raise; README "Container image"). remove() force-removes the containers it was told
// about (by ID), unmounts whatever is still mounted below the directory and deletes it. (Not `podman system reset`:
// it also clears machine-wide state such as the image blob cache.)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunOptions, type RunResult } from '../../src/lab/index.js';

/** storage.conf for a vfs storage under `dir` (vfs: no overlay mounts, works on any file system). */
export function storageConf(dir: string): string {
  return [
    '[storage]',
    'driver = "vfs"',
    `graphroot = "${join(dir, 'storage')}"`,
    `runroot = "${join(dir, 'run')}"`,
    '',
  ].join('\n');
}

/** containers.conf: runc with explicit ulimits; every path podman writes to (besides storage) under `dir`. */
export function containersConf(dir: string): string {
  return [
    '[containers]',
    'default_ulimits = ["nofile=20000:20000", "nproc=1024:1024"]',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${join(dir, 'events.log')}"`,
    `tmp_dir = "${join(dir, 'libpod')}"`,
    `static_dir = "${join(dir, 'libpod-static')}"`,
    `volume_path = "${join(dir, 'volumes')}"`,
    '[network]',
    `network_config_dir = "${join(dir, 'networks')}"`,
    '',
  ].join('\n');
}

/** Mount points strictly below `dir` in a /proc/PID/mountinfo text, deepest first (the order to unmount them). */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unescape)
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

export interface PodmanSandbox {
  readonly dir: string;
  /** process.env plus CONTAINERS_CONF and CONTAINERS_STORAGE_CONF pointing into `dir`. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `podman args…` against this sandbox (default timeout 120 s). */
  podman(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts `podman run -d args…` and remembers the container ID for remove(). */
  runDetached(args: readonly string[]): Promise<string>;
  /** Removes the containers started here, the storage and the directory. Never throws; returns what went wrong. */
  remove(): Promise<string[]>;
}

export function createPodmanSandbox(): PodmanSandbox {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-podman-'));
  const storage = join(dir, 'storage.conf');
  const containers = join(dir, 'containers.conf');
  writeFileSync(storage, storageConf(dir));
  writeFileSync(containers, containersConf(dir));
  const env = { ...process.env, CONTAINERS_STORAGE_CONF: storage, CONTAINERS_CONF: containers };
  const ids: string[] = [];
  const podman = (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    run('podman', args, { timeoutMs: 120_000, ...opts, env });
  return {
    dir,
    env,
    podman,
    async runDetached(args) {
      const r = await podman(['run', '-d', ...args]);
      const id = r.stdout.trim().split('\n').pop() ?? '';
      if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run -d printed no container ID: ${r.stdout} ${r.stderr}`);
      ids.push(id);
      return id;
    },
    async remove() {
      const problems: string[] = [];
      if (ids.length) {
        await podman(['rm', '-f', '-t', '2', ...ids]).catch((e: Error) => problems.push(e.message));
      }
      for (const m of mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), dir)) {
        await run('umount', ['-l', m]).catch((e: Error) => problems.push(e.message));
      }
      rmSync(dir, { recursive: true, force: true });
      if (existsSync(dir)) problems.push(`${dir} is still there`);
      return problems;
    },
  };
}
