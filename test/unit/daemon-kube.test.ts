// runDaemon in kubernetes mode with its real wiring (config → kubeconfig → kube source → table, admin, subnet
// file) against the fake API server on 127.0.0.1, with the addon, `ip` and the packet filter tools (ipMasq) replaced
// by recording doubles: no root, no namespaces. What the dataplane itself does with a table is covered by the native and namespace tests.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import { runDaemon } from '../../src/daemon/daemon.js';
import { ConfigError } from '../../src/errors.js';
import { parseMac, isLocallyAdministered, isUnicast } from '../../src/net/mac.js';
import { formatStatus, type Status } from '../../src/admin/status.js';
import { FakeApiServer, type Json } from '../helpers/fake-apiserver.js';
import { fakeDeviceConf, fakeIp, fakeNative, type FakeNative } from '../helpers/fake-dataplane.js';
import { fakeMasq } from '../helpers/fake-masq.js';
import { flannelAnnotations, makeNode, PREFIX, writeKubeconfig } from '../helpers/kube-nodes.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';
import { unixGet } from '../helpers/unix-http.js';

const ownNode = (podCIDRs = ['10.244.1.0/24']) =>
  makeNode({ name: 'node-a', podCIDRs, internalIP: '192.168.99.1', ready: true });
const peerNode = (i: number) =>
  makeNode({
    name: `node-${String.fromCharCode(96 + i)}`,
    podCIDRs: [`10.244.${i}.0/24`],
    internalIP: `192.168.99.${i}`,
    annotations: flannelAnnotations({ vtepMAC: `0a:00:00:00:0${i}:01`, publicIP: `192.168.99.${i}` }),
  });

interface Running {
  done: Promise<void>;
  abort: AbortController;
  native: FakeNative;
  logs: LogLine[];
  ready: Promise<string>;
  status(): Promise<Status>;
}

async function setup(t: Test, nodes: Json[]): Promise<{ api: FakeApiServer; config: Config; dir: string }> {
  const api = await FakeApiServer.start({ token: 'test-token' });
  t.teardown(() => api.close());
  for (const n of nodes) api.upsertNode(n);
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-daemon-kube-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = writeKubeconfig(dir, api.url);
  const text = JSON.stringify({
    nodeName: 'node-a',
    network: '10.244.0.0/16',
    peers: { kubernetes: { kubeconfig } },
    subnetFile: join(dir, 'run', 'flannel', 'subnet.env'),
    admin: { listen: 'off' },
  });
  const config = parseConfigText(text, 'test.json', { hostname: 'x' });
  config.admin = { listen: null, socket: join(dir, 'admin.sock'), readyFile: null };
  config.handover = { socket: join(dir, 'handover.sock'), whenReplaced: 'exit' };
  return { api, config, dir };
}

function start(config: Config): Running {
  const logs: LogLine[] = [];
  const native = fakeNative();
  const abort = new AbortController();
  let onReady!: (addr: string) => void;
  const ready = new Promise<string>((r) => (onReady = r));
  const done = runDaemon(
    {
      config,
      logger: recordingLogger(logs),
      native: native.binding,
      ip: fakeIp(),
      deviceConf: fakeDeviceConf(),
      deviceStats: () => undefined,
      masq: fakeMasq().run,
      onReady: (i) => onReady(i.adminSocket!),
    },
    abort.signal,
  );
  return {
    done,
    abort,
    native,
    logs,
    ready,
    async status() {
      return (await unixGet(await ready, '/status')).json<Status>();
    },
  };
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tablePeers = (n: FakeNative) =>
  n.tables
    .at(-1)
    ?.table.peers.map((p) => p.name)
    .sort();

t.test(
  'kubernetes mode: identity from the Node, table from the informer, annotations, subnet file, status',
  async (t) => {
    const { api, config } = await setup(t, [ownNode(), peerNode(2)]);
    const d = start(config);
    t.teardown(() => d.abort.abort());
    await d.ready;
    const opened = d.native.opened[0]!;
    t.equal(d.native.opened.length, 1, 'one device');
    t.equal(opened.bindIP, '192.168.99.1', 'bound to the InternalIP (a local address)');
    const mac = parseMac(opened.vtepMAC)!;
    t.ok(isUnicast(mac) && isLocallyAdministered(mac), `generated VTEP MAC ${opened.vtepMAC}`);
    t.ok(
      d.logs.some((l) => l.msg === 'generated a VTEP MAC'),
      'says so',
    );
    t.same(d.native.tables.at(-1)?.table, {
      local: ['10.244.1.0/24'],
      peers: [{ name: 'node-b', publicIP: '192.168.99.2', vtepMAC: '0a:00:00:00:02:01', cidrs: ['10.244.2.0/24'] }],
    });
    t.equal(
      readFileSync(config.subnetFile!, 'utf8'),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
      'subnet file',
    );
    await until(
      () =>
        ((api.getNode('node-a')!['metadata'] as Json)['annotations'] as Json)[`${PREFIX}/backend-data`] !== undefined,
      'annotations',
    );
    t.same((api.getNode('node-a')!['metadata'] as Json)['annotations'], {
      [`${PREFIX}/kube-subnet-manager`]: 'true',
      [`${PREFIX}/backend-type`]: 'vxlan',
      [`${PREFIX}/backend-data`]: `{"VNI":1,"VtepMAC":"${opened.vtepMAC}"}`,
      [`${PREFIX}/public-ip`]: '192.168.99.1',
    });
    let s = await d.status();
    t.same(s.controlPlane, { source: 'kubernetes', connected: true, nodes: 2, skipped: 0 }, 'status.controlPlane');
    t.same([s.podCIDRs, s.vtepMAC, s.publicIP], [['10.244.1.0/24'], opened.vtepMAC, '192.168.99.1']);
    t.same(
      s.peers.map((p) => p.name),
      ['node-b'],
    );

    api.upsertNode(peerNode(3));
    await until(() => tablePeers(d.native)?.join() === 'node-b,node-c', 'node-c in the table');
    t.pass('a new Node reaches the table');
    api.deleteNode('node-b');
    await until(() => tablePeers(d.native)?.join() === 'node-c', 'node-b gone');
    t.pass('a deleted Node leaves the table');
    t.ok(d.native.updates >= 2, `node events reach the addon as incremental updates (${d.native.updates})`);

    const tables = d.native.tables.length;
    await api.stop();
    await until(async () => (await d.status()).controlPlane?.connected === false, 'disconnected');
    s = await d.status();
    t.match(
      s.controlPlane,
      { connected: false, lastError: /Premature close|ECONNREFUSED|socket hang up/ },
      `status says why: ${s.controlPlane?.lastError}`,
    );
    t.equal(s.ready, true, 'still ready: forwarding goes on');
    t.match(
      formatStatus(s),
      /^control plane kubernetes: NOT CONNECTED \(.+\), 2 nodes, 0 skipped$/m,
      '`vxtun status` says so',
    );
    t.same(
      s.peers.map((p) => p.name),
      ['node-c'],
      'with the last table',
    );
    await new Promise((r) => setTimeout(r, 300));
    t.equal(d.native.tables.length, tables, 'no table change during the outage');
    await api.resume();
    await until(async () => (await d.status()).controlPlane?.connected === true, 'connected again', 20_000);
    api.upsertNode(peerNode(4));
    await until(() => tablePeers(d.native)?.join() === 'node-c,node-d', 'node-d after the outage', 20_000);
    t.pass('events flow again after the outage');

    d.abort.abort();
    await d.done;
    t.equal(d.native.closed, 1, 'device closed on stop');
  },
);

t.test('restart: the VTEP MAC comes back from our annotation; nodes deleted meanwhile are gone', async (t) => {
  const { api, config } = await setup(t, [ownNode(), peerNode(2), peerNode(3)]);
  const first = start(config);
  await first.ready;
  const mac = first.native.opened[0]!.vtepMAC;
  await until(() => JSON.stringify(api.getNode('node-a')).includes(mac), 'published');
  t.same(tablePeers(first.native), ['node-b', 'node-c']);
  first.abort.abort();
  await first.done;

  api.deleteNode('node-c');
  const second = start(config);
  t.teardown(() => second.abort.abort());
  await second.ready;
  t.equal(second.native.opened[0]!.vtepMAC, mac, `same VTEP MAC ${mac}`);
  t.notOk(
    second.logs.some((l) => l.msg === 'generated a VTEP MAC'),
    'nothing generated',
  );
  t.same(
    second.native.tables[0]?.table.peers.map((p) => p.name),
    ['node-b'],
    'the first table already lacks node-c',
  );
  t.equal(
    api.requests.filter((r) => r.method === 'PATCH' && r.contentType === 'application/merge-patch+json').length,
    1,
    'annotations unchanged: not patched again',
  );
});

t.test('waiting for the podCIDR: no device until it comes; a stop meanwhile exits cleanly', async (t) => {
  const { api, config } = await setup(t, [ownNode([])]);
  const d = start(config);
  await until(
    () =>
      d.logs.some(
        (l) =>
          l.msg === 'waiting for this node in the kubernetes API' && l.fields['reason'] === 'no podCIDR assigned yet',
      ),
    'waiting',
  );
  t.equal(d.native.opened.length, 0, 'no device yet');
  api.patchNode('node-a', { spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] } });
  await d.ready;
  t.same(d.native.tables.at(-1)?.table.local, ['10.244.7.0/24'], 'the device came with the pod CIDR');
  d.abort.abort();
  await d.done;

  const { config: c2 } = await setup(t, [ownNode([])]);
  const d2 = start(c2);
  await until(() => d2.logs.some((l) => l.msg === 'waiting for this node in the kubernetes API'), 'waiting');
  d2.abort.abort();
  await d2.done;
  t.equal(d2.native.opened.length, 0, 'stopped while waiting: resolved, nothing created');
});

t.test('the API is down at start: vxtun waits and comes up when it answers', async (t) => {
  const { api, config } = await setup(t, [ownNode(), peerNode(2)]);
  await api.stop();
  const d = start(config);
  t.teardown(() => d.abort.abort());
  await until(
    () => d.logs.some((l) => l.level === 'warn' && /ECONNREFUSED/.test(String(l.fields['error']))),
    'a connection failure',
  );
  t.equal(d.native.opened.length, 0, 'no device while we do not know our pod CIDR');
  await api.resume();
  await d.ready;
  t.same(tablePeers(d.native), ['node-b']);
});

t.test('our pod CIDR outside network: ConfigError, nothing created', async (t) => {
  const { config } = await setup(t, [ownNode(['10.9.1.0/24'])]);
  const d = start(config);
  await t.rejects(d.done, ConfigError);
  await t.rejects(d.done, /^network: this node \(node-a\)/);
  t.equal(d.native.opened.length, 0);
});

t.test('static mode reports its control plane too', async (t) => {
  const config = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      admin: { listen: 'off' },
      peers: {
        static: [
          { name: 'node-a', podCIDR: '10.244.1.0/24', publicIP: '192.168.99.1' },
          { name: 'node-b', podCIDR: '10.244.2.0/24', publicIP: '192.168.99.2' },
        ],
      },
    }),
    'static.json',
    { hostname: 'x' },
  );
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-daemon-static-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  config.admin = { listen: null, socket: join(dir, 'admin.sock'), readyFile: null };
  config.handover = { socket: join(dir, 'handover.sock'), whenReplaced: 'exit' };
  const d = start(config);
  t.teardown(() => d.abort.abort());
  const s = await d.status();
  t.same(s.controlPlane, { source: 'static', connected: true, nodes: 2, skipped: 0 });
  t.match(formatStatus(s), /^control plane static: connected, 2 nodes, 0 skipped$/m);
  t.equal(config.subnetFile, null, 'no subnet file by default in static mode');
});
