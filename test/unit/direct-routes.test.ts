// DirectRouting's applier (src/daemon/direct-routes.ts) against a fake kernel that keeps the main table's routes of
// proto 119 as `ip` would: leftovers of a crashed run reconciled, changes, removal, a failure then its retry,
// coalesced snapshots, and stop with and without removal.
import t from 'tap';
import type { IpRunner } from '../../src/device/device.js';
import { directRoutes } from '../../src/daemon/direct-routes.js';
import { planDirectRoutes, type DirectSides } from '../../src/daemon/direct-routes-plan.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import type { Peer } from '../../src/peers/peer-source.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';

/** A kernel table of proto-119 routes: `dst` → `via dev`, per family, changed by the `ip` commands the applier runs. */
function fakeKernel(initial: Record<string, string> = {}) {
  const routes = new Map(Object.entries(initial));
  const calls: string[] = [];
  let failNext: RegExp | undefined;
  const ip: IpRunner = async (args) => {
    const line = args.join(' ');
    calls.push(line);
    await new Promise((r) => setImmediate(r)); // a real command takes a while: snapshots pile up meanwhile
    if (failNext?.test(line)) {
      failNext = undefined;
      throw new Error(`ip ${line}: RTNETLINK answers: Network is unreachable`);
    }
    const fam = args[0] === '-6' ? 6 : 4;
    const rest = fam === 6 ? args.slice(1) : args;
    if (args[0] === '-j') {
      const want = args[1] === '-6' ? ':' : '.';
      const list = [...routes].filter(([dst]) => dst.includes(want));
      return JSON.stringify(
        list.map(([dst, v]) => ({
          dst: dst.replace(/\/(32|128)$/, ''),
          gateway: v.split(' ')[0],
          dev: v.split(' ')[1],
        })),
      );
    }
    if (rest[1] === 'replace') routes.set(rest[2]!, `${rest[4]} ${rest[6]}`);
    else if (rest[1] === 'del') {
      if (!routes.delete(rest[2]!)) throw new Error(`ip ${line}: RTNETLINK answers: No such process`);
    }
    return '';
  };
  return {
    ip,
    routes,
    calls,
    failOnce: (re: RegExp) => (failNext = re),
  };
}

const peer = (name: string, cidr: string, publicIP: string): Peer => ({
  name,
  podCIDRs: [Cidr.parse(cidr)],
  publicIP: parseIP(publicIP)!,
  vtepMAC: '0a:00:00:00:00:01',
});
const sides: DirectSides = { 4: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24 } };
const plan = (peers: readonly Peer[]) => planDirectRoutes(peers, 'node-a', sides, [Cidr.parse('10.244.1.0/24')]);
const b = peer('node-b', '10.244.2.0/24', '192.168.99.2');
const c = peer('node-c', '10.244.3.0/24', '192.168.99.3');
const far = peer('node-f', '10.244.9.0/24', '192.168.98.9');

t.test('first pass reconciles leftovers; later passes apply only changes; stop removes', async (t) => {
  const k = fakeKernel({
    '10.244.2.0/24': '192.168.99.7 eth0', // node-b's CIDR, stale via: replaced
    '10.244.5.0/24': '192.168.99.5 eth0', // a node gone while we were down: removed
    '10.244.6.6/32': '192.168.99.6 eth0',
  });
  const logs: LogLine[] = [];
  const d = directRoutes({ ip: k.ip, logger: recordingLogger(logs), plan });
  d.update([b, c, far]);
  await d.idle();
  t.same(Object.fromEntries(k.routes), { '10.244.2.0/24': '192.168.99.2 eth0', '10.244.3.0/24': '192.168.99.3 eth0' });
  t.same(d.now().routes, 2);
  t.same([...d.now().peers].sort(), ['node-b', 'node-c'], 'node-f is on another subnet: VXLAN');
  t.ok(k.calls.includes('-j -4 route show proto 119') && k.calls.includes('-j -6 route show proto 119'));

  k.calls.length = 0;
  d.update([b, c, far]);
  await d.idle();
  t.same(k.calls, [], 'the same snapshot again: no command (the kernel is not read again either)');

  d.update([peer('node-b', '10.244.2.0/24', '192.168.99.22'), far]); // node-b moved, node-c gone
  await d.idle();
  t.same(k.calls, [
    'route del 10.244.3.0/24 proto 119',
    'route replace 10.244.2.0/24 via 192.168.99.22 dev eth0 proto 119',
  ]);
  t.same(Object.fromEntries(k.routes), { '10.244.2.0/24': '192.168.99.22 eth0' });

  await d.stop({ removeRoutes: true });
  t.same(k.routes.size, 0, 'a clean stop leaves nothing of proto 119');
  d.update([b]);
  await d.idle();
  t.same(k.routes.size, 0, 'no update after stop');
});

t.test('a failure is logged, the kernel is read again and the next snapshot retries', async (t) => {
  const k = fakeKernel();
  const logs: LogLine[] = [];
  const d = directRoutes({ ip: k.ip, logger: recordingLogger(logs), plan, retryMs: 60_000 });
  k.failOnce(/replace 10\.244\.2\.0/);
  d.update([b, c]);
  await d.idle();
  t.same([...k.routes.keys()], ['10.244.3.0/24'], 'the failed one is missing, the other installed');
  t.equal(d.now().routes, 1);
  t.match(
    logs.find((l) => l.level === 'warn'),
    { msg: /could not install a route/, fields: { dst: '10.244.2.0/24', error: /unreachable/ } },
  );
  k.calls.length = 0;
  d.update([b, c]);
  await d.idle();
  t.equal(k.calls[0], '-j -4 route show proto 119', 'after a failure the pass starts from the kernel');
  t.same([...k.routes.keys()].sort(), ['10.244.2.0/24', '10.244.3.0/24']);
  t.equal(d.now().routes, 2);
  await d.stop({ removeRoutes: false });
  t.equal(k.routes.size, 2, 'stop without removal (after a handover) leaves them to the successor');
});

t.test('with no new snapshot, a failed pass is retried after retryMs', async (t) => {
  const k = fakeKernel();
  const d = directRoutes({ ip: k.ip, logger: recordingLogger([]), plan, retryMs: 20 });
  k.failOnce(/replace/);
  d.update([b]);
  await d.idle();
  t.equal(k.routes.size, 0);
  const t0 = Date.now();
  while (k.routes.size === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  t.same([...k.routes.keys()], ['10.244.2.0/24'], 'installed by the timed retry');
  await d.stop({ removeRoutes: true });
});

t.test('snapshots arriving during a pass are coalesced: only the newest is applied next', async (t) => {
  const k = fakeKernel();
  const d = directRoutes({ ip: k.ip, logger: recordingLogger([]), plan });
  d.update([b]);
  d.update([b, c]); // while the first pass lists the kernel
  d.update([c]);
  await d.idle();
  t.same([...k.routes.keys()], ['10.244.3.0/24']);
  t.same(
    k.calls.filter((l) => !l.startsWith('-j')),
    [
      'route replace 10.244.2.0/24 via 192.168.99.2 dev eth0 proto 119',
      'route del 10.244.2.0/24 proto 119',
      'route replace 10.244.3.0/24 via 192.168.99.3 dev eth0 proto 119',
    ],
    'two passes: the first snapshot, then only the newest of the two that came during it',
  );
  await d.stop({ removeRoutes: true });
});

t.test('a route removed behind our back: the del fails, the kernel is read again, nothing is stuck', async (t) => {
  const k = fakeKernel();
  const d = directRoutes({ ip: k.ip, logger: recordingLogger([]), plan, retryMs: 60_000 });
  d.update([b, c]);
  await d.idle();
  k.routes.delete('10.244.3.0/24'); // someone ran `ip route del`
  d.update([b]);
  await d.idle();
  t.equal(d.now().routes, 1);
  d.update([b, c]);
  await d.idle();
  t.same([...k.routes.keys()].sort(), ['10.244.2.0/24', '10.244.3.0/24'], 'reinstalled from a fresh reading');
  await d.stop({ removeRoutes: true });
  t.equal(k.routes.size, 0);
});
