// DirectRouting in the node's reports and its wiring in runDaemon: /status `directRouting` and `peers[].direct`,
// the vxtun_direct_routes gauge, and a static-mode daemon (fake addon and `ip`) that installs the direct route after
// its snapshot and removes it on stop — and runs no proto-119 command at all when DirectRouting is off.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createMetrics } from '../../src/admin/metrics.js';
import { parseConfigText } from '../../src/config/index.js';
import { runDaemon } from '../../src/daemon/daemon.js';
import { buildStatus, type NodeFacts, type NodeNow } from '../../src/daemon/status-view.js';
import { NO_OFFLOADS } from '../../src/dataplane/offloads.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import { fakeDeviceConf, fakeIp, fakeNative } from '../helpers/fake-dataplane.js';
import { fakeMasq } from '../helpers/fake-masq.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';

function config(t: Test, directRouting: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-direct-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      subnetFile: join(dir, 'subnet.env'),
      admin: { listen: 'off', socket: join(dir, 'admin.sock') },
      handover: { socket: join(dir, 'handover.sock') },
      dataplane: { directRouting },
      peers: {
        static: [
          { name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1' },
          { name: 'node-b', podCIDRs: ['10.244.2.0/24'], publicIP: '192.168.99.2' },
          { name: 'node-c', podCIDRs: ['10.244.3.0/24'], publicIP: '192.168.98.3' },
        ],
      },
    }),
    'direct.json',
    { hostname: 'x' },
  );
}

const peer = (name: string, cidr: string, ip: string) => ({
  name,
  podCIDRs: [Cidr.parse(cidr)],
  publicIP: parseIP(ip)!,
  vtepMAC: '0a:00:00:00:00:01',
});

t.test('status: directRouting {enabled, routes}; direct: true on the peers routed directly', async (t) => {
  const c = config(t, true);
  const facts: NodeFacts = {
    config: c,
    vtep: {
      vtepMAC: '0a:00:00:00:01:01',
      underlay: {
        publicIP: '192.168.99.1',
        bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
        family: 4,
      },
      mtu: 1450,
    },
    podCIDRs: ['10.244.1.0/24'],
    workers: 1,
    dropReasons: [],
  };
  const zero = { txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxErrors: 0 };
  const now: NodeNow = {
    stats: {
      ...zero,
      rxCsumCompleted: 0,
      rxSuperSplit: 0,
      rxCoalesced: 0,
      txTsoSplit: 0,
      txRemoteChecksum: 0,
      rxRemoteChecksum: 0,
      offloads: NO_OFFLOADS,
      txDrops: {},
      rxDrops: {},
    },
    device: undefined,
    peers: [
      peer('node-a', '10.244.1.0/24', '192.168.99.1'),
      peer('node-b', '10.244.2.0/24', '192.168.99.2'),
      peer('node-c', '10.244.3.0/24', '192.168.98.3'),
    ],
    ready: true,
    masq: undefined,
    source: { kind: 'static', state: { connected: true, nodes: 3, skipped: 0 } },
    direct: { routes: 1, peers: new Set(['node-b']) },
  };
  const s = buildStatus(facts, now);
  t.same(s.directRouting, { enabled: true, routes: 1 });
  t.same(
    s.peers.map((p) => [p.name, p.direct ?? false]),
    [
      ['node-b', true],
      ['node-c', false],
    ],
  );
  t.notOk('direct' in s.peers[1]!, 'absent, not false, on a VXLAN peer');
  const off = buildStatus({ ...facts, config: config(t, false) }, { ...now, direct: undefined });
  t.same(off.directRouting, { enabled: false, routes: 0 });
  t.notOk(off.peers.some((p) => 'direct' in p));

  const m = createMetrics(() => s);
  t.match(await m.render(), /^vxtun_direct_routes 1$/m);
  t.match(await createMetrics(() => off).render(), /^vxtun_direct_routes 0$/m);
  t.match(await m.render(), /^# TYPE vxtun_direct_routes gauge$/m);
});

async function runOnce(t: Test, directRouting: boolean): Promise<{ calls: string[]; logs: LogLine[]; left: string[] }> {
  const ipCalls: string[][] = [];
  const logs: LogLine[] = [];
  const abort = new AbortController();
  const native = fakeNative();
  const ip = fakeIp(ipCalls);
  const kernel = new Map<string, string>();
  let installed!: () => void;
  const routed = new Promise<void>((r) => (installed = r));
  const done = runDaemon(
    {
      config: config(t, directRouting),
      logger: recordingLogger(logs),
      native: native.binding,
      // The fake `ip` keeps the IPv4 routes of proto 119 (dst → gateway) and lists them as `ip -j` does.
      ip: async (args) => {
        const line = args.join(' ');
        const out = await ip(args);
        if (line === '-j -4 route show proto 119') {
          return JSON.stringify([...kernel].map(([dst, gateway]) => ({ dst, gateway, dev: 'eth0' })));
        }
        if (line.startsWith('route replace') && line.endsWith('proto 119')) {
          kernel.set(args[2]!, args[4]!);
          installed();
        }
        if (line.startsWith('route del') && line.endsWith('proto 119')) kernel.delete(args[2]!);
        return out;
      },
      deviceConf: fakeDeviceConf(),
      deviceStats: () => undefined,
      masq: fakeMasq().run,
      onReady: () => {
        if (!directRouting) abort.abort();
      },
    },
    abort.signal,
  );
  if (directRouting) {
    await Promise.race([routed, done]);
    abort.abort();
  }
  await done;
  return { calls: ipCalls.map((c) => c.join(' ')), logs, left: [...kernel.keys()] };
}

t.test('runDaemon with directRouting: the route after the snapshot, removed on stop; off: none', async (t) => {
  const on = await runOnce(t, true);
  const ours = on.calls.filter((c) => c.includes('proto 119'));
  t.same(ours, [
    '-j -4 route show proto 119',
    '-j -6 route show proto 119',
    'route replace 10.244.2.0/24 via 192.168.99.2 dev eth0 proto 119',
    '-j -4 route show proto 119',
    '-j -6 route show proto 119',
    'route del 10.244.2.0/24 proto 119',
  ]);
  t.same(on.left, [], 'a clean stop leaves no route of proto 119');
  t.ok(on.logs.some((l) => l.msg === 'direct route' && (l.fields as { dst?: string }).dst === '10.244.2.0/24'));
  const off = await runOnce(t, false);
  t.same(
    off.calls.filter((c) => c.includes('proto 119')),
    [],
    'DirectRouting off: no direct route command',
  );
});
