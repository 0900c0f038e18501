// `vxtun run` needs CAP_NET_ADMIN and nothing else (deploy/daemonset.yaml drops every other capability): node-1's
// vxtun runs under setpriv (util-linux) with only CAP_NET_ADMIN in its bounding, inheritable, ambient — hence
// permitted and effective — sets and no_new_privs, as the DaemonSet's securityContext leaves it, and must come up
// (TUN device, addresses, routes, sysctls, subnet.env, the admin listener) and forward both ways.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cliPath, Lab, labConfig, labPeer, nsExec, ping, startVxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'setpriv']);
const CAP_NET_ADMIN = 12;

/** The capability sets and no_new_privs of a process, from /proc/PID/status. */
function capsOf(pid: number): Record<string, bigint | number> {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const out: Record<string, bigint | number> = {};
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
    out[k] = BigInt(`0x${new RegExp(`^${k}:\\s*([0-9a-f]+)$`, 'm').exec(text)![1]}`);
  out['NoNewPrivs'] = Number(/^NoNewPrivs:\s*(\d)$/m.exec(text)![1]);
  return out;
}

t.test('vxtun run with CAP_NET_ADMIN only (setpriv, no_new_privs) comes up and forwards', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), `vxtun-${lab.prefix}-lp-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const n2 = await startVxtunNode(lab, 2, { peers });
  t.teardown(() => n2.stop());

  const subnetFile = join(dir, 'flannel', 'subnet.env');
  const configPath = join(dir, 'node-1.json');
  // Never the default /run/vxtun/vxtun.sock: the namespaces share the host's file system.
  const adminSocket = join(dir, 'admin.sock');
  writeFileSync(
    configPath,
    JSON.stringify(labConfig(lab, 1, { peers, extra: { subnetFile, admin: { socket: adminSocket } } })),
  );
  const only = '-all,+net_admin';
  const args = [
    `--bounding-set=${only}`,
    `--inh-caps=${only}`,
    `--ambient-caps=${only}`,
    '--no-new-privs',
    '--',
    process.execPath,
    cliPath(),
    'run',
    '--config',
    configPath,
  ];
  const n1 = lab.spawn(lab.nodeNs(1), 'setpriv', args);
  t.teardown(() => n1.stop('SIGTERM', 5_000));
  try {
    await n1.waitForOutput(/ info ready /, 30_000);
  } catch (err) {
    t.fail(`vxtun with CAP_NET_ADMIN only did not become ready: ${(err as Error).message}\n${n1.stderr()}`);
    return;
  }
  const caps = capsOf(n1.pid);
  const bit = 1n << BigInt(CAP_NET_ADMIN);
  t.same(
    caps,
    { CapInh: bit, CapPrm: bit, CapEff: bit, CapBnd: bit, CapAmb: bit, NoNewPrivs: 1 },
    'the running daemon holds CAP_NET_ADMIN and nothing else, no_new_privs',
  );
  t.notMatch(n1.stderr(), /EPERM|EACCES|permission denied|operation not permitted/i, 'no permission error logged');
  t.match(readFileSync(subnetFile, 'utf8'), /^FLANNEL_NETWORK=/, 'subnet.env written');

  for (const [a, b] of [
    [1, 2],
    [2, 1],
  ] as const) {
    for (const fam of [4, 6] as const) {
      const r = await ping(lab, lab.podNs(a), lab.podIP(b, fam), { count: 3 });
      t.equal(r.received, 3, `pod-${a} → pod-${b} ${lab.podIP(b, fam)}: ${r.received}/${r.sent}`);
    }
  }
  const status = await nsExec(lab.nodeNs(1), process.execPath, [
    cliPath(),
    'status',
    '--json',
    '--socket',
    adminSocket,
  ]);
  t.equal((JSON.parse(status.stdout) as { peers: unknown[] }).peers.length, 1, 'status over the admin socket');

  const exit = await n1.stop('SIGTERM', 5_000);
  t.match(exit, { code: 0 }, 'stops cleanly (routes removed, device closed) with CAP_NET_ADMIN only');
});
