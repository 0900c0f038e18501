// GET /metrics: the contract's series with the values /status shows, default process metrics, and
// an exposition that `promtool check metrics` (Debian's prometheus package) accepts.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { startAdminServer } from '../../src/admin/server.js';
import { silentLogger } from '../../src/log.js';
import { createMetrics, type MetricsSnapshot, type MetricsSource } from '../../src/admin/metrics.js';
import type { Status } from '../../src/admin/status.js';

const REASONS = [
  'short',
  'bad-header',
  'vni',
  'unknown-vtep',
  'bad-mac',
  'ethertype',
  'bad-ip',
  'spoofed-source',
  'not-local',
  'no-route',
];

function fakeStatus(): {
  source: MetricsSource;
  counters: MetricsSnapshot['counters'];
  peers: Status['peers'];
  reads: () => number;
} {
  const counters: MetricsSnapshot['counters'] = {
    txPackets: 75_034,
    txBytes: 108_760_080,
    rxPackets: 9_670,
    rxBytes: 550_744,
    drops: Object.fromEntries(REASONS.map((r) => [r, 0])),
  };
  const peers: Status['peers'] = [
    { name: 'node-2', podCIDRs: ['10.244.2.0/24'], publicIP: '192.168.99.2', vtepMAC: '0a:00:00:00:02:01' },
    { name: 'node-3', podCIDRs: ['10.244.3.0/24'], publicIP: '192.168.99.3', vtepMAC: '0a:00:00:00:03:01' },
  ];
  let n = 0;
  return {
    counters,
    peers,
    source: () => {
      n++;
      return { counters, peers };
    },
    reads: () => n,
  };
}

/** The samples of the exposition text: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** promtool's path, or why there is none. */
function promtool(): { found: true } | { missing: string } {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    return {
      missing: `promtool is not installed (${(r.error as NodeJS.ErrnoException).code}); apt-get install prometheus`,
    };
  }
  return { found: true };
}

t.test('series and values follow the status counters', async (t) => {
  const f = fakeStatus();
  const m = createMetrics(f.source);
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  let s = samples(await m.render());
  t.equal(s.get('vxtun_tx_packets_total'), 75_034);
  t.equal(s.get('vxtun_rx_packets_total'), 9_670);
  t.equal(s.get('vxtun_tx_bytes_total'), 108_760_080);
  t.equal(s.get('vxtun_rx_bytes_total'), 550_744);
  t.equal(s.get('vxtun_peers'), 2);
  for (const r of REASONS) t.equal(s.get(`vxtun_drops_total{reason="${r}"}`), 0, `drops{${r}} present at 0`);
  t.equal(f.reads(), 1, 'one status read per scrape');

  f.counters.txPackets += 10;
  f.counters.drops['unknown-vtep'] = 12;
  f.counters.drops['no-route'] = 3;
  f.peers.pop();
  s = samples(await m.render());
  t.equal(s.get('vxtun_tx_packets_total'), 75_044, 'a scrape reads the current value');
  t.equal(s.get('vxtun_drops_total{reason="unknown-vtep"}'), 12);
  t.equal(s.get('vxtun_drops_total{reason="no-route"}'), 3);
  t.equal(s.get('vxtun_drops_total{reason="short"}'), 0);
  t.equal(s.get('vxtun_peers'), 1);
  t.equal(f.reads(), 2);
  t.equal(s.get('vxtun_queue_drops_total'), 0, 'queue drops 0 while the kernel counter is unknown');
  f.counters.queueDrops = 4_321;
  s = samples(await m.render());
  t.equal(s.get('vxtun_queue_drops_total'), 4_321, "queue drops follow the device's tx_dropped");
});

t.test('capture series', async (t) => {
  const m = createMetrics(() => ({
    counters: fakeStatus().counters,
    peers: [],
    capture: { sessions: 2, packets: 1234, dropped: 56 },
  }));
  const s = samples(await m.render());
  t.equal(s.get('vxtun_capture_packets_total'), 1234);
  t.equal(s.get('vxtun_capture_dropped_total'), 56);
  t.equal(s.get('vxtun_capture_sessions'), 2);
  const js = samples(await createMetrics(fakeStatus().source).render());
  t.equal(js.get('vxtun_capture_packets_total'), 0, 'zero without a capture-capable engine');
});

t.test('types, help and process metrics', async (t) => {
  const text = await createMetrics(fakeStatus().source).render();
  for (const name of [
    'vxtun_tx_packets_total',
    'vxtun_rx_packets_total',
    'vxtun_tx_bytes_total',
    'vxtun_rx_bytes_total',
    'vxtun_drops_total',
  ]) {
    t.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'), `${name} is a counter`);
    t.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has help`);
  }
  t.match(text, /^# TYPE vxtun_peers gauge$/m);
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_open_fds',
    'nodejs_heap_size_used_bytes',
  ]) {
    t.match(text, new RegExp(`^${name} \\d`, 'm'), `process metric ${name}`);
  }
  t.notMatch(text, /^nodejs_active_handles_total/m, 'the gauges promtool rejects are left out');
});

t.test('two registries do not collide (no global registration)', async (t) => {
  const a = fakeStatus();
  const b = fakeStatus();
  b.counters.rxPackets = 1;
  const [ta, tb] = await Promise.all([createMetrics(a.source).render(), createMetrics(b.source).render()]);
  t.equal(samples(ta).get('vxtun_rx_packets_total'), 9_670);
  t.equal(samples(tb).get('vxtun_rx_packets_total'), 1);
});

t.test('GET /metrics on the admin server passes promtool check metrics', async (t) => {
  const f = fakeStatus();
  f.counters.drops['spoofed-source'] = 4;
  const status = (): Status => ({ counters: f.counters, peers: f.peers }) as unknown as Status;
  const admin = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    { status, ready: () => true, metrics: createMetrics(status) },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const res = await fetch(`http://${admin.address}/metrics`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  t.equal(samples(text).get('vxtun_drops_total{reason="spoofed-source"}'), 4);

  const without = await startAdminServer({ host: '127.0.0.1', port: 0 }, { status, ready: () => true }, silentLogger);
  t.equal((await fetch(`http://${without.address}/metrics`)).status, 404, 'no metrics handler: 404');
  await without.close();

  const tool = promtool();
  if ('missing' in tool) console.error(`# skipping the promtool check: ${tool.missing}`);
  await t.test('promtool check metrics', { skip: 'missing' in tool ? tool.missing : false }, async (t) => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.equal(r.status, 0, `promtool check metrics exits 0${r.status === 0 ? '' : `: ${r.stdout}${r.stderr}`}`);
    t.equal((r.stdout + r.stderr).trim(), '', 'no lint findings');
  });
});

const tool = promtool();
t.test(
  'promtool does reject a broken exposition (the check can fail)',
  { skip: 'missing' in tool ? tool.missing : false },
  async (t) => {
    const bad = '# HELP vxtun_thing help\n# TYPE vxtun_thing counter\nvxtun_thing 1\n';
    const r = spawnSync('promtool', ['check', 'metrics'], { input: bad, encoding: 'utf8' });
    t.not(r.status, 0, `a counter without _total is flagged: ${(r.stdout + r.stderr).trim()}`);
  },
);

t.test('vxtun_peer_conflicts: the nodes left out by conflict resolution (0 without any)', async (t) => {
  const { counters, peers } = fakeStatus();
  const conflicts = [
    {
      node: 'n-nested',
      holder: 'node-2',
      reason: 'pod CIDR 10.244.2.0/25 (overlaps 10.244.2.0/24) is also claimed by node-2',
    },
    { node: 'n-meta', holder: 'n-meta', reason: 'public IP 169.254.169.254 is link-local' },
  ];
  let withConflicts = true;
  const m = createMetrics(() => ({ counters, peers, controlPlane: withConflicts ? { conflicts } : {} }));
  t.equal(samples(await m.render()).get('vxtun_peer_conflicts'), 2);
  withConflicts = false;
  t.equal(samples(await m.render()).get('vxtun_peer_conflicts'), 0);
});
