// A two-node lab for tests that run the real CLI (`vxtun run --config FILE`) in node-1 and check what it leaves
// behind: the lab, a temporary directory for the config files (both removed when the test ends), node-1's valid
// config, and a snapshot of node-1's links, addresses and routes to compare before and after.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { cliPath, Lab, labConfig, labPeer, nsExec, type RunResult, type StaticPeer } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';

export interface CliLab {
  lab: Lab;
  /** node-1's namespace, where the CLI runs. */
  ns: string;
  /** The temporary directory the config files go to. */
  dir: string;
  /** dist/cli.js. */
  cli: string;
  /** node-1 and node-2 as static peers. */
  peers: [StaticPeer, StaticPeer];
  /** A valid config for node-1 with those peers (its admin socket in `dir`, never the host's /run/vxtun). */
  good: Record<string, unknown>;
  /** node-1's links, addresses and routes, as one string to compare. */
  snapshot(): Promise<string>;
  /** Writes `text` to `dir/file` and runs `vxtun run --config` on it in node-1; exit codes 0, 1 and 2 are results. */
  runConfig(file: string, text: string, timeoutMs?: number): Promise<RunResult>;
}

/** Builds the lab (logging into `t`'s comments) and removes it and the directory `<tmpdir>/<tmpPrefix>…` in `t`'s teardown. */
export async function createCliLab(t: Test, tmpPrefix: string): Promise<CliLab> {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  t.teardown(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const ns = lab.nodeNs(1);
  const cli = cliPath();
  const peers: [StaticPeer, StaticPeer] = [labPeer(lab, 1), labPeer(lab, 2)];
  return {
    lab,
    ns,
    dir,
    cli,
    peers,
    good: { ...labConfig(lab, 1, { peers }), admin: { socket: join(dir, 'admin.sock') } },
    snapshot: async () =>
      [
        (await lab.ip(ns, ['-br', 'link', 'show'])).stdout.replace(/\s+/g, ' '),
        (await lab.ip(ns, ['-br', 'addr', 'show'])).stdout.replace(/\s+/g, ' '),
        (await lab.ip(ns, ['route', 'show'])).stdout,
        (await lab.ip(ns, ['-6', 'route', 'show'])).stdout,
      ].join('\n'),
    runConfig: async (file, text, timeoutMs = 20_000) => {
      const path = join(dir, file);
      writeFileSync(path, text);
      return nsExec(ns, process.execPath, [cli, 'run', '--config', path], { okExitCodes: [0, 1, 2], timeoutMs });
    },
  };
}
