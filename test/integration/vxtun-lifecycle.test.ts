// Start-up and shutdown paths of `vxtun run` in a lab node: bad input exits 2 with one line that
// names the field, runtime failures exit 1, and whatever happens — including SIGKILL — no device,
// address or device route is left behind (after SIGKILL only the crash guard routes, which the next clean stop
// removes: test/integration/crash-safety.test.ts), and nothing that was there before is touched.
import { join } from 'node:path';
import t from 'tap';
import { GUARD_ROUTE_METRIC, GUARD_ROUTE_PROTO } from '../../src/device/device.js';
import { nsExec, ping, startVxtunNode } from '../../src/lab/index.js';
import { createCliLab } from '../helpers/cli-lab.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();

t.test('vxtun run failure paths', { skip }, async (t) => {
  const { lab, ns, dir, cli, peers, good, snapshot, runConfig } = await createCliLab(t, 'vxtun-lifecycle-');
  const runWith = (config: unknown, name: string, raw?: string) =>
    runConfig(`${name}.yaml`, raw ?? JSON.stringify(config));
  const baseline = await snapshot();

  await t.test('bad configs: exit 2, one line naming the field, nothing created', async (t) => {
    const cases: [string, unknown, string][] = [
      ['port out of range', { ...good, port: 99999 }, 'port'],
      ['vni as a string', { ...good, vni: '1' }, 'vni'],
      ['unknown key', { ...good, prot: 8472 }, 'prot'],
      [
        'bad pod CIDR',
        { ...good, peers: { static: [{ ...peers[0], podCIDRs: ['10.244.1.5/24'] }, peers[1]] } },
        'peers.static[0].podCIDRs[0]',
      ],
      ['no entry for this node', { ...good, nodeName: 'node-9' }, 'peers.static'],
      ['two peer sources', { ...good, peers: { static: peers, kubernetes: {} } }, 'peers'],
      ['bad admin address', { ...good, admin: { listen: 'nowhere' } }, 'admin.listen'],
      ['relative admin socket', { ...good, admin: { socket: 'vxtun.sock' } }, 'admin.socket'],
      ['bad MTU', { ...good, mtu: 100 }, 'mtu'],
      ['public IP not on this host', { ...good, underlay: { publicIP: '192.168.99.77' } }, 'underlay.publicIP'],
      ['no such underlay interface', { ...good, underlay: { interface: 'nope0' } }, 'underlay.interface'],
    ];
    for (const [name, config, field] of cases) {
      const r = await runWith(config, name.replace(/\W+/g, '-'));
      const lines = r.stderr.trim().split('\n');
      t.equal(r.code, 2, `${name}: exit 2`);
      t.equal(lines.length, 1, `${name}: one line (${r.stderr.trim()})`);
      t.match(
        lines[0],
        new RegExp(`^vxtun: invalid config: ${field.replace(/[[\].]/g, '\\$&')}: `),
        `${name}: names ${field}`,
      );
    }
    const r = await runWith(undefined, 'not-yaml', 'port: [unclosed');
    t.equal(r.code, 2, 'YAML syntax error: exit 2');
    t.match(r.stderr, /^vxtun: invalid config: config: /, 'YAML syntax error names the file');
    const missing = await nsExec(ns, process.execPath, [cli, 'run', '--config', join(dir, 'absent.yaml')], {
      okExitCodes: [2],
    });
    t.equal(missing.code, 2, 'missing file: exit 2');
    t.equal(await snapshot(), baseline, 'links, addresses and routes are unchanged');
  });

  await t.test('bad arguments: exit 2', async (t) => {
    for (const args of [
      ['run'],
      ['frobnicate'],
      ['status', '--socket', 'relative.sock'],
      ['status', '--admin', '127.0.0.1:9465'],
      ['dump', '--socket', '/' + 'a'.repeat(200)],
      ['run', '--config', 'x', '--bogus'],
    ]) {
      const r = await nsExec(ns, process.execPath, [cli, ...args], { okExitCodes: [0, 1, 2] });
      t.equal(r.code, 2, `vxtun ${args.join(' ')}: exit 2 (${r.stderr.trim().split('\n')[0]})`);
    }
  });

  await t.test('runtime failures: exit 1 with the errno, nothing left, nothing foreign touched', async (t) => {
    // The UDP port is taken (a kernel VXLAN device listens on 8472 in this namespace).
    await lab.ip(ns, [
      'link',
      'add',
      'kvx0',
      'type',
      'vxlan',
      'id',
      '7',
      'dstport',
      '8472',
      'local',
      lab.underlayIP(1),
      'dev',
      'eth0',
    ]);
    await lab.ip(ns, ['link', 'set', 'kvx0', 'up']);
    const withKernel = await snapshot();
    let r = await runWith(good, 'port-taken');
    t.equal(r.code, 1, 'port in use: exit 1');
    t.match(r.stderr, /EADDRINUSE/, 'names EADDRINUSE');
    t.equal(await snapshot(), withKernel, 'nothing left behind, the kernel device untouched');
    await lab.ip(ns, ['link', 'del', 'kvx0']);

    // A device with our name exists and is not ours.
    await lab.ip(ns, ['link', 'add', 'vxtun0', 'type', 'veth', 'peer', 'name', 'vxtpeer0']);
    const withVeth = await snapshot();
    r = await runWith(good, 'device-exists');
    t.equal(r.code, 1, 'device exists: exit 1');
    t.match(r.stderr, /vxtun0.*EBUSY/, 'says the device exists (EBUSY)');
    t.equal(await snapshot(), withVeth, 'the existing vxtun0 is left alone');
    await lab.ip(ns, ['link', 'del', 'vxtun0']);

    // The admin port is taken: the failure comes after the device was created, which must go again.
    const holder = lab.spawn(ns, process.execPath, [
      '-e',
      "require('net').createServer().listen(9465,'127.0.0.1',()=>console.log('listening'))",
    ]);
    await holder.waitForOutput(/listening/);
    r = await runWith(good, 'admin-taken');
    t.equal(r.code, 1, 'admin port in use: exit 1');
    t.match(r.stderr, /admin server on 127\.0\.0\.1:9465.*EADDRINUSE/, 'names the admin address');
    await holder.stop();
    t.equal(await snapshot(), baseline, 'the device created before the failure is gone, with its routes');
  });

  await t.test(
    'SIGKILL leaves no device and no device routes (the kernel removes them with the last fd)',
    async (t) => {
      const node = await startVxtunNode(lab, 1, { peers });
      t.match((await lab.ip(ns, ['-br', 'link', 'show'])).stdout, /vxtun0/, 'device exists while running');
      const exit = await node.stop('SIGKILL');
      t.equal(exit.signal, 'SIGKILL');
      // The crash guard stays, one route per network: src/device/device.ts guardRouteArgs.
      const guard = new RegExp(
        `^unreachable (\\S+) .*proto ${GUARD_ROUTE_PROTO} metric ${GUARD_ROUTE_METRIC}\\b.*\\n`,
        'gm',
      );
      const after = await snapshot();
      t.same(
        [...after.matchAll(guard)].map((m) => m[1]),
        [lab.podNetwork(4), lab.podNetwork(6)],
        'the crash guard routes stay',
      );
      t.equal(after.replace(guard, ''), baseline, 'nothing else left behind');
      // The next run takes the guard over, and its clean stop removes it.
      t.same(await (await startVxtunNode(lab, 1, { peers })).stop('SIGTERM'), { code: 0, signal: null });
      t.equal(await snapshot(), baseline, 'a clean stop leaves nothing');
    },
  );

  await t.test('SIGINT: exit 0 and clean', async (t) => {
    const n2 = await startVxtunNode(lab, 2, { peers });
    const n1 = await startVxtunNode(lab, 1, { peers });
    const r = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 2 });
    t.equal(r.received, 2, 'traffic flows before the signal');
    t.same(await n1.stop('SIGINT'), { code: 0, signal: null }, 'exit 0');
    t.equal(await snapshot(), baseline, 'nothing left behind');
    await n2.stop();
  });
});
