// The testbed library itself: teardown is complete even when creation fails half-way, processes started in the
// lab are gone after destroy(), and a crashing or signalled process still removes its namespaces.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { median } from '../../src/bench/lab-results.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import {
  cidrNetworkAddress,
  cniDel,
  Lab,
  labVtepMAC,
  listNamespaces,
  parsePing,
  run,
  spawnInNs,
} from '../../src/lab/index.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl']);

const newPrefix = (): string => `vxtl${randomBytes(3).toString('hex')}`;
const ours = async (prefix: string): Promise<string[]> =>
  (await listNamespaces()).filter((n) => n === prefix || n.startsWith(`${prefix}-`));

/** True while `pid` exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

t.test('pure helpers', async (t) => {
  t.equal(labVtepMAC(1), '0a:00:00:00:01:01');
  t.equal(labVtepMAC(200), '0a:00:00:00:c8:01');
  t.throws(() => labVtepMAC(0));
  t.equal(cidrNetworkAddress('10.244.2.0/24'), '10.244.2.0');
  t.equal(cidrNetworkAddress('10.244.2.77/23'), '10.244.2.0');
  t.throws(() => cidrNetworkAddress('fd10::/64'));
  t.same(
    parsePing(
      '3 packets transmitted, 2 received, 33.3333% packet loss, time 402ms\nrtt min/avg/max/mdev = 0.041/0.055/0.071/0.012 ms\n',
    ),
    { sent: 3, received: 2, rttAvgMs: 0.055, rttsMs: [] },
  );
  t.same(parsePing('1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n'), {
    sent: 1,
    received: 0,
    rttAvgMs: Number.NaN,
    rttsMs: [],
  });
  // Each reply's time, for the bench's RTT (src/bench/lab-measure.ts: their median): one reply queued behind a flood
  // (7.93 ms) moves the average, not the median.
  const replies = [0.41, 7.93, 0.38, 0.44, 0.36]
    .map((ms, i) => `64 bytes from 10.244.2.2: icmp_seq=${i + 1} ttl=62 time=${ms} ms`)
    .join('\n');
  const five = parsePing(
    `${replies}\n\n--- 10.244.2.2 ping statistics ---\n5 packets transmitted, 5 received, 0% packet loss, time 201ms\nrtt min/avg/max/mdev = 0.360/1.904/7.930/3.014 ms\n`,
  );
  t.same(five?.rttsMs, [0.41, 7.93, 0.38, 0.44, 0.36]);
  t.equal(median(five!.rttsMs), 0.41);
  t.equal(five?.rttAvgMs, 1.904);
  const four = parsePing(`${replies.split('\n').slice(0, 4).join('\n')}\n4 packets transmitted, 4 received`);
  t.same(four?.rttsMs, [0.41, 7.93, 0.38, 0.44]);
  t.ok(Math.abs(median(four!.rttsMs) - 0.425) < 1e-9, 'an even count: the mean of the middle two');
  t.equal(parsePing('garbage'), null);
});

t.test('bad options are rejected before anything is created', async (t) => {
  await t.rejects(Lab.create({ nodes: 0 }), /nodes must be/);
  await t.rejects(Lab.create({ nodes: 1, prefix: 'bad/name' }), /bad prefix/);
  await t.rejects(Lab.create({ nodes: 1, podMTU: 100 }), /podMTU/);
});

t.test('run() reports the command and its stderr', async (t) => {
  await t.rejects(
    run('ip', ['link', 'show', 'dev', 'no-such-device-xyz']),
    /`ip link show dev no-such-device-xyz` exited with code 1: .*no-such-device-xyz/,
  );
  await t.rejects(run('/nonexistent/tool', []), /could not start: ENOENT/);
  await t.rejects(run('sleep', ['5'], { timeoutMs: 200 }), /timed out after 200 ms/);
  t.equal((await run('sh', ['-c', 'exit 1'], { okExitCodes: [0, 1] })).code, 1);
});

t.test('a failure half-way through create removes what was created', { skip }, async (t) => {
  const prefix = newPrefix();
  t.teardown(() => Lab.sweep(prefix));
  let seenDuringCreate: string[] = [];
  await t.rejects(
    Lab.create({
      nodes: 3,
      prefix,
      setupNode: async (_lab, i) => {
        if (i === 2) {
          seenDuringCreate = await ours(prefix);
          throw new Error('injected failure at node 2');
        }
      },
    }),
    { message: new RegExp(`creating lab ${prefix}: injected failure at node 2`) },
  );
  t.same(seenDuringCreate.sort(), [`${prefix}-n1`, `${prefix}-n2`, `${prefix}-p1`, `${prefix}-p2`, `${prefix}-ul`]);
  t.same(await ours(prefix), [], 'no namespace left after the failed create');
});

t.test('a failing command in create names the command; foreign namespaces are left alone', { skip }, async (t) => {
  const prefix = newPrefix();
  // Someone else's namespace that happens to collide with node 1's name.
  await run('ip', ['netns', 'add', `${prefix}-n1`]);
  t.teardown(() => Lab.sweep(prefix));
  await t.rejects(Lab.create({ nodes: 2, prefix }), { message: /`ip netns add \S+-n1` exited with code 1: .*exists/i });
  t.same(await ours(prefix), [`${prefix}-n1`], 'only the pre-existing namespace remains');
  t.same(await Lab.sweep(prefix), [`${prefix}-n1`], 'sweep removes it');
  t.same(await ours(prefix), []);
});

t.test('destroy stops processes (also stubborn ones) and deletes namespaces; it is idempotent', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, stopTimeoutMs: 500 });
  t.teardown(() => lab.destroy());
  t.equal(lab.namespaces().length, 5);
  t.equal(lab.podIP(2, 6), 'fd10:244:0:2::2');
  t.equal(lab.podCIDR(2, 6), 'fd10:244:0:2::/64');
  t.throws(() => lab.nodeNs(3), RangeError);

  // Started with the plain spawnInNs (not lab.spawn): destroy still finds it by namespace.
  const sleeper = spawnInNs(lab.nodeNs(1), 'sleep', ['1000']);
  // Ignores SIGTERM: destroy must escalate to SIGKILL.
  const stubborn = lab.spawn(lab.podNs(2), process.execPath, [
    '-e',
    "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);",
  ]);
  await stubborn.waitForOutput(/ready/);
  // The processes really run inside the namespaces.
  const inNode = (await run('ip', ['netns', 'pids', lab.nodeNs(1)])).stdout.split(/\s+/);
  t.ok(inNode.includes(String(sleeper.pid)), 'sleep runs in node 1 namespace');
  t.ok(alive(sleeper.pid) && alive(stubborn.pid));

  const [errors, again] = await Promise.all([lab.destroy(), lab.destroy()]);
  t.same(errors, []);
  t.equal(again, errors, 'concurrent destroy() calls share one teardown');
  t.same(await lab.destroy(), [], 'destroy() again is a no-op');
  t.ok(lab.destroyed);
  t.same(sleeper.exitInfo, { code: null, signal: 'SIGTERM' });
  t.same(stubborn.exitInfo, { code: null, signal: 'SIGKILL' }, 'SIGTERM-ignoring process was SIGKILLed');
  t.notOk(alive(sleeper.pid) || alive(stubborn.pid), 'both processes are gone');
  t.same(await ours(lab.prefix), [], 'namespaces are gone');
  t.throws(() => lab.spawn(lab.nodeNs(1), 'true', []), /destroyed/);
});

t.test(
  'pods come from CNI; addPod adds another; destroy runs DEL and removes the lab directory',
  { skip },
  async (t) => {
    const lab = await Lab.create({ nodes: 1, podMTU: 1400 });
    t.teardown(() => lab.destroy());
    const node = lab.nodeNs(1);
    t.equal(readFileSync(lab.subnetEnvPath(1), 'utf8'), lab.subnetEnvText(1));
    t.match(lab.subnetEnvText(1), /FLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n/);
    const link = JSON.parse((await lab.ip(lab.podNs(1), ['-j', 'link', 'show', 'dev', 'eth0'])).stdout) as {
      mtu: number;
    }[];
    t.equal(link[0]?.mtu, 1400, 'the pod MTU is FLANNEL_MTU');
    const ports = (await lab.ip(node, ['-br', 'link', 'show', 'master', 'cni0'])).stdout.trim().split('\n');
    t.equal(ports.length, 1, 'one veth on cni0');
    const leases = join(lab.nodeDir(1), 'networks', 'cbr0');
    t.equal(
      readFileSync(join(leases, lab.podIP(1, 4)), 'utf8').split(/\s+/)[0],
      lab.podNs(1),
      'host-local leased .2 to the pod, under the lab directory',
    );

    const extra = await lab.addPod(1, 'q');
    t.equal(extra.ns, `${lab.prefix}-q`);
    t.same(
      extra.result.ips.map((x) => x.address),
      ['10.244.1.3/24', 'fd10:244:0:1::3/64'],
      'the next addresses',
    );
    t.equal((await lab.ip(node, ['-br', 'link', 'show', 'master', 'cni0'])).stdout.trim().split('\n').length, 2);
    await t.rejects(lab.addPod(1, 'q'), /exists/);
    await t.rejects(lab.addPod(1, 'n1'), /bad pod name/);

    // DEL runs while the node still exists: afterwards host-local holds no lease.
    t.same(await lab.destroy(), []);
    t.notOk(existsSync(lab.dir), 'lab directory removed');
    t.same(await ours(lab.prefix), []);
  },
);

t.test('DEL really releases: leases and veths go before the namespaces', { skip }, async (t) => {
  // The DEL destroy() runs, done here by hand so its effect can be seen while the node still exists.
  const lab = await Lab.create({ nodes: 1 });
  t.teardown(() => lab.destroy());
  const leases = join(lab.nodeDir(1), 'networks', 'cbr0');
  t.ok(readdirSync(leases).includes(lab.podIP(1, 4)));
  const pod = { nodeNs: lab.nodeNs(1), podNs: lab.podNs(1), containerId: lab.podNs(1) };
  t.equal(await cniDel(pod, { stateDir: join(lab.nodeDir(1), 'flannel') }), true);
  t.notOk(
    readdirSync(leases).some((f) => f.startsWith('10.') || f.startsWith('fd10')),
    'no lease left',
  );
  t.equal(
    (await lab.ip(lab.nodeNs(1), ['-br', 'link', 'show', 'master', 'cni0'])).stdout.trim(),
    '',
    'no veth left on cni0',
  );
  t.same(await lab.destroy(), [], 'destroy after an external DEL: nothing saved, nothing to do');
});

const fixture = fileURLToPath(new URL('./fixtures/lab-crash.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

for (const mode of ['throw', 'exit', 'signal'] as const) {
  t.test(`namespaces are removed when the process dies (${mode})`, { skip }, async (t) => {
    const prefix = newPrefix();
    t.teardown(() => Lab.sweep(prefix));
    const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', fixture, mode, prefix], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let report: { pid: number; namespaces: string[]; dir: string } | undefined;
    await eventually(() => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) report = JSON.parse(line) as typeof report;
      return report !== undefined || child.exitCode !== null;
    }, 60_000);
    t.ok(report, `child reported ready (stderr: ${err.slice(-500)})`);
    if (!report) {
      child.kill('SIGKILL');
      return;
    }
    t.equal(report.namespaces.length, 3);
    if (mode === 'signal') child.kill('SIGTERM');
    const how = await exited;
    if (mode === 'throw') t.equal(how.code, 1, 'uncaught exception exits 1');
    if (mode === 'exit') t.equal(how.code, 3, 'exit code is kept');
    if (mode === 'signal') t.equal(how.signal, 'SIGTERM', 'the process still dies by SIGTERM');
    t.same(await ours(prefix), [], 'namespaces removed');
    t.notOk(existsSync(report.dir), 'the lab directory (subnet.env, CNI state) is removed too');
    t.ok(await eventually(() => !alive(report!.pid)), 'the lab process was killed');
  });
}
