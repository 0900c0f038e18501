// runDaemon in kubernetes mode against the fake API server (as test/unit/daemon-kube.test.ts), in a dual-stack and
// an IPv6-only cluster (issue 17 part 2): the annotations our node writes (flannel's keys and values exactly), the
// addresses the dataplane binds, and the peers it gets from flannel-style dual-stack and IPv6-only Nodes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import type { Status } from '../../src/admin/status.js';
import { runDaemon } from '../../src/daemon/daemon.js';
import type { IpRunner } from '../../src/device/device.js';
import { FakeApiServer, type Json } from '../helpers/fake-apiserver.js';
import { fakeDeviceConf, fakeNative, type FakeNative } from '../helpers/fake-dataplane.js';
import { fakeMasq } from '../helpers/fake-masq.js';
import { makeNode, PREFIX, writeKubeconfig } from '../helpers/kube-nodes.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';
import { unixGet } from '../helpers/unix-http.js';

/** `ip` on this host: eth0 with the given IPv4 (optional) and IPv6 addresses, MTU 1500, default routes via eth0. */
function hostIp(v4: string | undefined, v6: string): IpRunner {
  return async (args) => {
    const line = args.join(' ');
    if (line === '-j -4 addr show') {
      const info = v4 ? [{ family: 'inet', local: v4, prefixlen: 24 }] : [];
      return JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: info }]);
    }
    if (line === '-j -6 addr show') {
      const info = [{ family: 'inet6', local: v6, prefixlen: 64, scope: 'global' }];
      return JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: info }]);
    }
    if (line === '-j -4 route show default') return JSON.stringify(v4 ? [{ dev: 'eth0' }] : []);
    if (line === '-j -6 route show default') return JSON.stringify([{ dev: 'eth0' }]);
    return '';
  };
}

/** A Node with InternalIPs of the given addresses. */
const withIPs = (n: Json, ips: string[]): Json => {
  const status = n['status'] as Json;
  status['addresses'] = [
    ...ips.map((address) => ({ type: 'InternalIP', address })),
    { type: 'Hostname', address: 'h' },
  ];
  return n;
};

/** flannel's annotations for the families given (a v6-only flannel node writes no backend-data, no public-ip). */
function flannel(o: { v4?: [string, string]; v6?: [string, string] }): Record<string, string> {
  return {
    [`${PREFIX}/kube-subnet-manager`]: 'true',
    [`${PREFIX}/backend-type`]: 'vxlan',
    ...(o.v4
      ? { [`${PREFIX}/backend-data`]: `{"VNI":1,"VtepMAC":"${o.v4[1]}"}`, [`${PREFIX}/public-ip`]: o.v4[0] }
      : {}),
    ...(o.v6
      ? { [`${PREFIX}/backend-v6-data`]: `{"VNI":1,"VtepMAC":"${o.v6[1]}"}`, [`${PREFIX}/public-ipv6`]: o.v6[0] }
      : {}),
  };
}

async function run(
  t: Test,
  nodes: Json[],
  ip: IpRunner,
): Promise<{ api: FakeApiServer; native: FakeNative; logs: LogLine[]; config: Config; status: () => Promise<Status> }> {
  const api = await FakeApiServer.start({ token: 'test-token' });
  t.teardown(() => api.close());
  for (const n of nodes) api.upsertNode(n);
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-daemon-kube-ds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = JSON.stringify({
    nodeName: 'node-a',
    network: '10.244.0.0/16',
    ipv6Network: 'fd10:244::/56',
    peers: { kubernetes: { kubeconfig: writeKubeconfig(dir, api.url) } },
    subnetFile: join(dir, 'subnet.env'),
    admin: { listen: 'off' },
  });
  const config = parseConfigText(text, 'test.json', { hostname: 'x' });
  config.admin = { listen: null, socket: join(dir, 'admin.sock'), readyFile: null };
  config.handover = { socket: join(dir, 'handover.sock'), whenReplaced: 'exit' };
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
      ip,
      deviceConf: fakeDeviceConf(),
      deviceStats: () => undefined,
      masq: fakeMasq().run,
      onReady: (i) => onReady(i.adminSocket!),
    },
    abort.signal,
  );
  t.teardown(async () => {
    abort.abort();
    await done;
  });
  const sock = await Promise.race([
    ready,
    done.then(() => {
      throw new Error('the daemon stopped before it was ready');
    }),
  ]);
  return { api, native, logs, config, status: async () => (await unixGet(sock, '/status')).json<Status>() };
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const annotations = (api: FakeApiServer, name: string) =>
  (api.getNode(name)!['metadata'] as Json)['annotations'] as Json;
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);

t.test('a dual-stack cluster: both endpoints bound, advertised and read', async (t) => {
  const own = withIPs(makeNode({ name: 'node-a', podCIDRs: ['10.244.1.0/24', 'fd10:244:0:1::/64'], ready: true }), [
    '192.168.99.1',
    'fd99::1',
  ]);
  const flannelDual = withIPs(
    makeNode({
      name: 'node-b',
      podCIDRs: ['10.244.2.0/24', 'fd10:244:0:2::/64'],
      annotations: flannel({ v4: ['192.168.99.2', '0a:00:00:00:02:01'], v6: ['fd99::2', '0a:00:00:00:02:06'] }),
    }),
    ['192.168.99.2', 'fd99::2'],
  );
  const flannelV6 = withIPs(
    makeNode({
      name: 'node-c',
      podCIDRs: ['fd10:244:0:3::/64'],
      annotations: flannel({ v6: ['fd99::3', '0a:00:00:00:03:06'] }),
    }),
    ['fd99::3'],
  );
  const v4Only = withIPs(
    makeNode({
      name: 'node-d',
      podCIDRs: ['10.244.4.0/24'],
      annotations: flannel({ v4: ['192.168.99.4', '0a:00:00:00:04:01'] }),
    }),
    ['192.168.99.4'],
  );
  const { api, native, status, config } = await run(
    t,
    [own, flannelDual, flannelV6, v4Only],
    hostIp('192.168.99.1', 'fd99::1'),
  );
  const opened = native.opened[0]!;
  t.same([opened.bindIP, opened.bindIPv6, opened.mtu], ['192.168.99.1', 'fd99::1', 1430], 'both bound; MTU 1500 − 70');
  await until(() => annotations(api, 'node-a')[`${PREFIX}/backend-v6-data`] !== undefined, 'our annotations');
  const data = `{"VNI":1,"VtepMAC":"${opened.vtepMAC}"}`;
  t.same(annotations(api, 'node-a'), {
    [`${PREFIX}/kube-subnet-manager`]: 'true',
    [`${PREFIX}/backend-type`]: 'vxlan',
    [`${PREFIX}/backend-data`]: data,
    [`${PREFIX}/public-ip`]: '192.168.99.1',
    [`${PREFIX}/backend-v6-data`]: data,
    [`${PREFIX}/public-ipv6`]: 'fd99::1',
  });
  t.same([...(native.tables.at(-1)?.table.peers ?? [])].sort(byName), [
    {
      name: 'node-b',
      publicIP: '192.168.99.2',
      vtepMAC: '0a:00:00:00:02:01',
      cidrs: ['10.244.2.0/24', 'fd10:244:0:2::/64'],
      publicIPv6: 'fd99::2',
      vtepMACv6: '0a:00:00:00:02:06',
    },
    { name: 'node-c', publicIP: 'fd99::3', vtepMAC: '0a:00:00:00:03:06', cidrs: ['fd10:244:0:3::/64'] },
    { name: 'node-d', publicIP: '192.168.99.4', vtepMAC: '0a:00:00:00:04:01', cidrs: ['10.244.4.0/24'] },
  ]);
  const s = await status();
  t.same([s.publicIP, s.publicIPv6], ['192.168.99.1', 'fd99::1']);
  t.same(
    s.peers.find((p) => p.name === 'node-b'),
    {
      name: 'node-b',
      podCIDRs: ['10.244.2.0/24', 'fd10:244:0:2::/64'],
      publicIP: '192.168.99.2',
      vtepMAC: '0a:00:00:00:02:01',
      publicIPv6: 'fd99::2',
      vtepMACv6: '0a:00:00:00:02:06',
    },
  );
  t.equal(s.controlPlane?.skipped, 0);
  t.match(readFileSync(config.subnetFile!, 'utf8'), /FLANNEL_MTU=1430\n/, 'subnet.env: the one MTU');

  // A public-ipv6-overwrite on our Node is what we publish as public-ipv6 (flannel's NAT case).
  const ownNow = api.getNode('node-a')!;
  ((ownNow['metadata'] as Json)['annotations'] as Json)[`${PREFIX}/public-ipv6-overwrite`] = '2001:db8::a';
  api.upsertNode(ownNow);
  await until(() => annotations(api, 'node-a')[`${PREFIX}/public-ipv6`] === '2001:db8::a', 'the overwrite published');
  t.equal(annotations(api, 'node-a')[`${PREFIX}/public-ip`], '192.168.99.1', 'public-ip unchanged');

  // node-b's IPv6 endpoint moves: an update of node-b.
  const b = api.getNode('node-b')!;
  ((b['metadata'] as Json)['annotations'] as Json)[`${PREFIX}/public-ipv6`] = 'fd99::22';
  api.upsertNode(b);
  const entryB = () => native.tables.at(-1)?.table.peers.find((p) => p.name === 'node-b');
  const updates = native.updates;
  await until(() => entryB()?.publicIPv6 === 'fd99::22', 'node-b updated');
  t.same([entryB()?.publicIP, entryB()?.vtepMACv6], ['192.168.99.2', '0a:00:00:00:02:06']);
  t.ok(native.updates > updates, 'as an incremental update');
  t.pass('a new publicIPv6 reaches the dataplane');
});

t.test('an IPv6-only cluster: one IPv6 endpoint, IPv6 annotations only, IPv4-only peers left out', async (t) => {
  const own = withIPs(makeNode({ name: 'node-a', podCIDRs: ['fd10:244:0:1::/64'], ready: true }), ['fd99::1']);
  const flannelV6 = withIPs(
    makeNode({
      name: 'node-b',
      podCIDRs: ['fd10:244:0:2::/64'],
      annotations: flannel({ v6: ['fd99::2', '0a:00:00:00:02:06'] }),
    }),
    ['fd99::2'],
  );
  const flannelDual = withIPs(
    makeNode({
      name: 'node-c',
      podCIDRs: ['10.244.3.0/24', 'fd10:244:0:3::/64'],
      annotations: flannel({ v4: ['192.168.99.3', '0a:00:00:00:03:01'], v6: ['fd99::3', '0a:00:00:00:03:06'] }),
    }),
    ['192.168.99.3', 'fd99::3'],
  );
  const v4Only = withIPs(
    makeNode({
      name: 'node-d',
      podCIDRs: ['10.244.4.0/24'],
      annotations: flannel({ v4: ['192.168.99.4', '0a:00:00:00:04:01'] }),
    }),
    ['192.168.99.4'],
  );
  const { api, native, status, logs } = await run(
    t,
    [own, flannelV6, flannelDual, v4Only],
    hostIp(undefined, 'fd99::1'),
  );
  const opened = native.opened[0]!;
  t.equal(opened.bindIP, 'fd99::1', 'bound to the IPv6 InternalIP');
  t.notOk('bindIPv6' in opened, 'single-family: no bindIPv6');
  t.equal(opened.mtu, 1430);
  await until(() => annotations(api, 'node-a')[`${PREFIX}/backend-v6-data`] !== undefined, 'our annotations');
  t.same(annotations(api, 'node-a'), {
    [`${PREFIX}/kube-subnet-manager`]: 'true',
    [`${PREFIX}/backend-type`]: 'vxlan',
    [`${PREFIX}/backend-v6-data`]: `{"VNI":1,"VtepMAC":"${opened.vtepMAC}"}`,
    [`${PREFIX}/public-ipv6`]: 'fd99::1',
  });
  t.same([...(native.tables.at(-1)?.table.peers ?? [])].sort(byName), [
    { name: 'node-b', publicIP: 'fd99::2', vtepMAC: '0a:00:00:00:02:06', cidrs: ['fd10:244:0:2::/64'] },
    {
      name: 'node-c',
      publicIP: '192.168.99.3',
      vtepMAC: '0a:00:00:00:03:01',
      cidrs: ['10.244.3.0/24', 'fd10:244:0:3::/64'],
      publicIPv6: 'fd99::3',
      vtepMACv6: '0a:00:00:00:03:06',
    },
  ]);
  t.ok(
    logs.some((l) => l.msg === 'peer skipped: no underlay family in common' && l.fields['name'] === 'node-d'),
    'the IPv4-only node is logged',
  );
  const s = await status();
  t.notOk('publicIPv6' in s);
  t.equal(s.publicIP, 'fd99::1');
  t.same(s.controlPlane, { source: 'kubernetes', connected: true, nodes: 4, skipped: 1 }, 'node-d counted as skipped');
});
