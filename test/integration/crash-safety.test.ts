// Crash safety (issue 18): while no vxtun forwards on a node, no pod packet for another node leaves it
// unencapsulated. Two vxtun nodes on a dual-stack underlay; node-1 also has default routes (IPv4 and IPv6) via
// another underlay host, so a pod packet that misses the cluster network's routes would go there, onto the underlay.
// pod-1 pings pod-2 (both families, every 10 ms) while node-1's daemon is killed with SIGKILL:
//   - the crash guard routes (src/device/device.ts guardRouteArgs) stay: for ~2 s a capture on every underlay port
//     sees no packet with a pod address outside UDP 8472, and pod-1 gets ICMP unreachable (the first try);
//   - a restarted vxtun forwards again soon: the outage from its exec to the first reply, over 10 tries (the others
//     restart at once, without the capture), is printed (p50/max) and held to the targets of issue 18;
//   - a clean stop (SIGTERM) removes the guard routes;
//   - negative control: the same kill with the guard routes deleted by the test leaks pod packets onto the underlay.
import t, { type Test } from 'tap';
import {
  Lab,
  labPeer,
  processCpuSeconds,
  startVxtunNode,
  type NsProcess,
  type StaticPeer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { GUARD_ROUTE_METRIC, GUARD_ROUTE_PROTO } from '../../src/device/device.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { firstReplyAfter, median, startTimeline } from '../helpers/restart-timing.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'tcpdump']);
const FAMILIES = [4, 6] as const;
const GATEWAY = { 4: '192.168.99.200', 6: 'fd99::200' } as const;
const CAPTURE_MS = 2_000;
const TRIES = 10;
// Issue 18's target: a restarted vxtun forwards within 2 s of its exec, on a quiet 2-vCPU machine (README "Upgrades
// and restarts" quotes that run). Here, beside other tests and a CPU hog, wall-clock time is the machine's: the test
// holds the start's own CPU time to a budget (load-independent: about 0.5 s), and the wall clock to twice the target
// (p50) and to a ceiling that catches a hang.
const P50_MS = 4_000;
const MAX_MS = 15_000;
const CPU_S = 1.0;

/** `ping -D` error lines: `[<unix seconds>] From … Destination … Unreachable`. */
const UNREACHABLE =
  /^\[(\d+\.\d+)\] From \S+ icmp_seq=\d+ Destination (?:Host Unreachable|Net Unreachable|unreachable: No route)/gm;

t.test('crash safety: no pod packet leaves node-1 unencapsulated while its vxtun is down', { skip }, async (t) => {
  const t0 = Date.now();
  const lab = await Lab.create({ nodes: 2, underlay: 'dual', logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const n1ns = lab.nodeNs(1);

  // The underlay host the node's default routes point at (it answers ARP and neighbour discovery, drops the rest).
  const gw = await lab.addHost('gw', GATEWAY[4]);
  await lab.ip(gw, ['-6', 'addr', 'add', `${GATEWAY[6]}/64`, 'dev', 'eth0', 'nodad']);
  for (const f of FAMILIES) await lab.ip(n1ns, [`-${f}`, 'route', 'add', 'default', 'via', GATEWAY[f], 'dev', 'eth0']);

  // The kernel sends ICMP unreachable for a forwarded packet at most once a second per source, and its ICMP rate
  // limit draws on the same per-source token bucket: under 100 pings/s pod-1 would see almost none. Node-1's own
  // namespace leaves destination unreachable (ICMP type 3) out of the ICMP rate limit, so the test can see them.
  const mask = Number((await lab.exec(n1ns, 'sysctl', ['-n', 'net.ipv4.icmp_ratemask'])).stdout.trim());
  await lab.exec(n1ns, 'sysctl', ['-qw', `net.ipv4.icmp_ratemask=${mask & ~(1 << 3)}`]);

  const peers: StaticPeer[] = [labPeer(lab, 1), labPeer(lab, 2)];
  const n2 = await startVxtunNode(lab, 2, { peers });
  let n1: VxtunNode = await startVxtunNode(lab, 1, { peers });
  t.teardown(async () => {
    await n1.stop();
    await n2.stop();
  });

  /** Everything on the underlay (every bridge port, incoming) with a pod address, other than VXLAN. */
  const startCapture = async (): Promise<NsProcess> => {
    const filter = `(net ${lab.podNetwork(4)} or net ${lab.podNetwork(6)}) and not udp port 8472`;
    const p = lab.spawn(lab.underlayNs, 'tcpdump', [
      '-i',
      'any',
      '-Q',
      'in',
      '-n',
      '-t',
      '-l',
      '--immediate-mode',
      filter,
    ]);
    await p.waitForOutput(/listening on /, 15_000);
    return p;
  };
  const captured = async (p: NsProcess): Promise<string[]> => {
    await p.stop('SIGTERM', 3_000);
    return p
      .stdout()
      .split('\n')
      .filter((l) => l.trim() !== '');
  };
  /** pod-1 → pod-2 of that family every 10 ms, replies and errors timestamped (-D), until stopped. */
  const startPing = async (f: 4 | 6): Promise<NsProcess> => {
    const p = lab.spawn(lab.podNs(1), 'ping', [`-${f}`, '-n', '-D', '-i', '0.01', '-W', '1', lab.podIP(2, f)]);
    await p.waitForOutput(/ bytes from /, 15_000);
    return p;
  };
  const guardRoutes = async (): Promise<string> => {
    let out = '';
    for (const f of FAMILIES)
      out += (await lab.ip(n1ns, [`-${f}`, 'route', 'show', 'proto', String(GUARD_ROUTE_PROTO)])).stdout;
    return out;
  };
  const expectedGuards = (t: Test, routes: string, what: string) => {
    for (const f of FAMILIES) {
      t.match(
        routes,
        new RegExp(`unreachable ${lab.podNetwork(f).replace(/[.]/g, '\\.')} .*metric ${GUARD_ROUTE_METRIC}`),
        `${what}: the IPv${f} guard route is there`,
      );
    }
  };
  await t.test(`kill -9 under ping, ${TRIES} times: no leak, ICMP unreachable, a restart forwards again`, async (t) => {
    expectedGuards(t, await guardRoutes(), 'running');
    const outages: Record<4 | 6, number[]> = { 4: [], 6: [] };
    const cpu: number[] = [];
    for (let k = 1; k <= TRIES; k++) {
      // The first try watches the outage for CAPTURE_MS; the others restart at once and only time the restart.
      const first = k === 1;
      const pings = { 4: await startPing(4), 6: await startPing(6) };
      const capture = first ? await startCapture() : undefined;
      const killedAt = Date.now();
      t.equal((await n1.stop('SIGKILL')).signal, 'SIGKILL', `try ${k}: node-1's vxtun killed`);
      if (capture) {
        await new Promise((r) => setTimeout(r, CAPTURE_MS));
        const leaked = await captured(capture);
        t.same(leaked.slice(0, 5), [], `try ${k}: no pod packet on the underlay outside UDP 8472 (${leaked.length})`);
      }
      expectedGuards(t, await guardRoutes(), `try ${k} after SIGKILL`);
      const execAt = Date.now();
      n1 = await startVxtunNode(lab, 1, { peers });
      cpu.push(processCpuSeconds(n1.pid));
      const timeline = startTimeline(n1.process, execAt);
      for (const f of FAMILIES) {
        const at = await firstReplyAfter(pings[f], execAt, 30_000);
        outages[f].push(Math.round(at - execAt));
        await pings[f].stop('SIGINT', 3_000);
        if (!first) continue;
        // Read once ping has exited: it does not flush its error lines to a pipe as it prints them.
        const out = pings[f].stdout();
        const errors = [...out.matchAll(UNREACHABLE)].map((m) => Number(m[1]) * 1000);
        t.ok(
          errors.some((x) => x >= killedAt && x < execAt),
          `try ${k}: pod-1 got ICMP unreachable for IPv${f} while vxtun was down (${errors.length})`,
          { tail: out.slice(-1500) },
        );
      }
      t.comment(
        `try ${k}: exec → first reply: IPv4 ${outages[4].at(-1)} ms, IPv6 ${outages[6].at(-1)} ms (${timeline})`,
      );
    }
    for (const f of FAMILIES) {
      const xs = outages[f];
      const p50 = median(xs);
      const max = Math.max(...xs);
      t.comment(`restart outage IPv${f} over ${TRIES} tries: p50 ${p50} ms, max ${max} ms`);
      t.ok(p50 <= P50_MS, `IPv${f}: p50 ${p50} ms ≤ ${P50_MS} ms`);
      t.ok(max <= MAX_MS, `IPv${f}: max ${max} ms ≤ ${MAX_MS} ms`);
    }
    t.comment(
      `CPU time of a start, exec to ready: p50 ${median(cpu).toFixed(2)} s, max ${Math.max(...cpu).toFixed(2)} s`,
    );
    t.ok(median(cpu) <= CPU_S, `a start costs ≤ ${CPU_S} CPU s (p50 ${median(cpu).toFixed(2)} s)`);
  });

  await t.test('a clean stop (SIGTERM) removes the guard routes', async (t) => {
    t.same(await n1.stop('SIGTERM'), { code: 0, signal: null }, 'exit 0');
    t.equal(await guardRoutes(), '', `no route with proto ${GUARD_ROUTE_PROTO} is left`);
    n1 = await startVxtunNode(lab, 1, { peers });
    expectedGuards(t, await guardRoutes(), 'after a restart');
  });

  await t.test('negative control: without the guard routes the same kill leaks pod packets', async (t) => {
    const pings = { 4: await startPing(4), 6: await startPing(6) };
    const capture = await startCapture();
    t.equal((await n1.stop('SIGKILL')).signal, 'SIGKILL', "node-1's vxtun killed");
    for (const f of FAMILIES) {
      await lab.ip(n1ns, [
        `-${f}`,
        'route',
        'del',
        'unreachable',
        lab.podNetwork(f),
        'metric',
        String(GUARD_ROUTE_METRIC),
        'proto',
        String(GUARD_ROUTE_PROTO),
      ]);
    }
    await new Promise((r) => setTimeout(r, CAPTURE_MS));
    const leaked = await captured(capture);
    for (const f of FAMILIES) await pings[f].stop('SIGINT', 3_000);
    for (const f of FAMILIES) {
      const ofFamily = leaked.filter(
        (l) => (f === 4 ? /(^|\s)IP / : /(^|\s)IP6 /).test(l) && l.includes(lab.podIP(2, f)),
      );
      t.ok(ofFamily.length > 0, `IPv${f}: ${ofFamily.length} pod packets leaked onto the underlay`);
    }
  });
  t.comment(`took ${Date.now() - t0} ms`);
});
