// startVxtunNode (src/lab/vxtun-node.ts) for a start that is timed: the daemon runs without the test runner's
// instrumentation. tap's @tapjs/processinfo wraps child_process.spawn and puts its module loader hooks into every
// child's NODE_OPTIONS, whatever `env` says; on Node 20 each module load is then a round trip to a hooks thread.
// Kubernetes mode loads some 3,000 modules of the client: a start there took 6–8 CPU seconds instead of about 2.5.
// So the daemon is started through `env -u NODE_OPTIONS -u NODE_V8_COVERAGE`, which `ip netns exec` and env both
// exec in place: the PID is still the daemon's.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../../src/admin/status.js';
import { cliPath, labConfig, nsExec, type Lab, type VxtunNode, type VxtunNodeOptions } from '../../src/lab/index.js';

export async function startPlainVxtunNode(lab: Lab, i: number, opts: VxtunNodeOptions): Promise<VxtunNode> {
  const name = opts.name ?? `node-${i}`;
  const ns = lab.nodeNs(i);
  const dir = mkdtempSync(join(tmpdir(), `vxtun-${lab.prefix}-`));
  const configPath = join(dir, `${name}.json`);
  const config = labConfig(lab, i, opts);
  const subnetFile =
    typeof config['subnetFile'] === 'string' && config['subnetFile'] !== 'off' ? config['subnetFile'] : null;
  const admin = { socket: join(dir, 'admin.sock'), ...(config['admin'] as Record<string, unknown> | undefined) };
  config['admin'] = admin;
  const socket = String(admin.socket);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const cli = cliPath();
  const argv = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, cli, 'run', '--config', configPath];
  const proc = lab.spawn(ns, 'env', argv, opts.env ? { env: opts.env } : {});
  void proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await proc.waitForOutput(/ info ready /, opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop('SIGKILL', 1_000);
    throw new Error(`vxtun on ${name} did not become ready: ${(err as Error).message}\n${proc.stderr()}`);
  }
  return {
    name,
    ns,
    configPath,
    subnetFile,
    socket,
    process: proc,
    async status() {
      const r = await nsExec(ns, process.execPath, [cli, 'status', '--json', '--socket', socket]);
      return JSON.parse(r.stdout) as Status;
    },
    stop: (signal = 'SIGTERM') => proc.stop(signal, 5_000),
  };
}
