// runDaemon's ipMasq wiring (static mode) with the addon, `ip` and the packet filter tools replaced by recording
// doubles: the rules go in after the device is up and before the subnet file and "ready", come out on a clean stop
// (before the device closes) and on a failed start; ipMasq false installs nothing but removes a stale set; a
// backend that fails fails the start with the device closed. The rules' text is checked in test/unit/masq.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import { runDaemon } from '../../src/daemon/daemon.js';
import { DataplaneError } from '../../src/errors.js';
import type { ToolRunner } from '../../src/run-tool.js';
import type { Status } from '../../src/admin/status.js';
import { fakeDeviceConf, fakeIp, fakeNative, type FakeNative } from '../helpers/fake-dataplane.js';
import { fakeMasq, type FakeMasq, type FakeMasqOptions } from '../helpers/fake-masq.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';
import { unixGet } from '../helpers/unix-http.js';

function makeConfig(t: Test, ipMasq: boolean): { config: Config; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-daemon-masq-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      ipv6Network: 'fd10:244::/56',
      ipMasq,
      subnetFile: join(dir, 'subnet.env'),
      admin: { listen: 'off', socket: join(dir, 'admin.sock') },
      peers: {
        static: [
          { name: 'node-a', podCIDRs: ['10.244.1.0/24', 'fd10:244:0:1::/64'], publicIP: '192.168.99.1' },
          { name: 'node-b', podCIDRs: ['10.244.2.0/24'], publicIP: '192.168.99.2' },
        ],
      },
    }),
    'masq.json',
    { hostname: 'x' },
  );
  return { config, dir };
}

interface Run {
  done: Promise<void>;
  abort: AbortController;
  native: FakeNative;
  masq: FakeMasq;
  logs: LogLine[];
  /** What happened, in order: `ready`, and each tool call as `cmd args` (+ `closed=N`: device closes so far). */
  events: string[];
  ready: Promise<string>;
}

function start(config: Config, masqOpts: FakeMasqOptions = {}): Run {
  const logs: LogLine[] = [];
  const native = fakeNative();
  const masq = fakeMasq(masqOpts);
  const events: string[] = [];
  const run: ToolRunner = (cmd, args, input) => {
    const what = input?.includes('{') ? 'apply' : input !== undefined ? 'script' : '';
    const subnet = config.subnetFile && existsSync(config.subnetFile) ? ' subnet.env' : '';
    events.push(`${cmd} ${args.join(' ')}${what ? ` (${what})` : ''} closed=${native.closed}${subnet}`);
    return masq.run(cmd, args, input);
  };
  const abort = new AbortController();
  let onReady!: (s: string) => void;
  const ready = new Promise<string>((r) => (onReady = r));
  const done = runDaemon(
    {
      config,
      logger: recordingLogger(logs),
      native: native.binding,
      ip: fakeIp(),
      deviceConf: fakeDeviceConf(),
      deviceStats: () => undefined,
      masq: run,
      onReady: (i) => {
        events.push('ready');
        onReady(i.adminSocket!);
      },
    },
    abort.signal,
  );
  return { done, abort, native, masq, logs, events, ready };
}

t.test(
  'ipMasq true: installed before the subnet file and ready, removed on a clean stop before the device closes',
  async (t) => {
    const { config } = makeConfig(t, true);
    const d = start(config);
    t.teardown(() => d.abort.abort());
    const socket = await d.ready;
    t.same(
      d.events,
      ['nft --version closed=0', 'nft -f - (apply) closed=0', 'ready'],
      'probe, one transaction, then ready (no subnet file yet when applied)',
    );
    t.match(
      d.masq.nftTable,
      /ip saddr 10\.244\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade fully-random/,
      'IPv4 rules',
    );
    t.match(
      d.masq.nftTable,
      /ip6 saddr != fd10:244::\/56 ip6 daddr fd10:244:0:1::\/64 return/,
      'IPv6 rules with the own IPv6 subnet',
    );
    t.match(readFileSync(config.subnetFile!, 'utf8'), /^FLANNEL_IPMASQ=true$/m, 'subnet.env: vxtun masquerades');
    t.match(
      d.logs.find((l) => l.msg === 'masquerading what leaves the cluster network'),
      { level: 'info', fields: { backend: 'nftables', ipv6Network: 'fd10:244::/56', rules: 10 } },
      'says which backend',
    );
    const s = await (await unixGet(socket, '/status')).json<Status>();
    t.same(s.ipMasq, { enabled: true, backend: 'nftables' }, '/status says so');
    d.abort.abort();
    await d.done;
    t.equal(
      d.events.at(-1),
      'nft -f - (script) closed=0 subnet.env',
      'removed on stop, while the device was still open',
    );
    t.equal(d.masq.nftTable, null, 'no vxtun table left');
    t.equal(d.native.closed, 1, 'device closed');
    t.ok(
      d.logs.some((l) => l.msg === 'masquerade rules removed'),
      'says so',
    );
  },
);

t.test('ipMasq true with only iptables: the iptables chains, removed on stop', async (t) => {
  const { config } = makeConfig(t, true);
  const d = start(config, { tools: ['iptables', 'ip6tables'] });
  await d.ready;
  t.same(
    Object.entries(d.masq.ipt).map(([k, v]) => [k, v.jumps, v.chain !== null]),
    [
      ['iptables', 1, true],
      ['ip6tables', 1, true],
    ],
    'a chain and one jump per family',
  );
  t.equal(d.events[0], 'nft --version closed=0', 'nft looked for first');
  d.abort.abort();
  await d.done;
  t.same(d.masq.ipt, { iptables: { chain: null, jumps: 0 }, ip6tables: { chain: null, jumps: 0 } }, 'removed on stop');
});

t.test('ipMasq false: nothing installed, a stale table removed, nothing done on stop', async (t) => {
  const { config } = makeConfig(t, false);
  const d = start(config);
  d.masq.nftTable = 'left by a run with ipMasq true that was killed';
  await d.ready;
  t.same(d.events, ['nft --version closed=0', 'nft -f - (script) closed=0', 'ready'], 'only the removal');
  t.equal(d.masq.nftTable, null, 'stale table gone');
  t.match(readFileSync(config.subnetFile!, 'utf8'), /^FLANNEL_IPMASQ=false$/m);
  d.abort.abort();
  await d.done;
  t.equal(d.events.length, 3, 'no tool runs on stop');

  const bare = start(makeConfig(t, false).config, { tools: [] });
  await bare.ready;
  bare.abort.abort();
  await bare.done;
  t.pass('false on a node with neither tool: runs');
});

t.test('the backend fails: the start fails (exit 1) with the device closed and no subnet file', async (t) => {
  const { config } = makeConfig(t, true);
  const d = start(config, {
    fail: (c) =>
      c.args[0] === '-f' && c.input?.includes('{')
        ? { status: 1, stdout: '', stderr: 'Error: Could not process rule: No such file or directory\n' }
        : undefined,
  });
  const err = await d.done.catch((e: unknown) => e);
  t.ok(err instanceof DataplaneError, 'a DataplaneError');
  t.equal(
    (err as Error).message,
    'ipMasq: installing masquerade rules with nftables: nft -f -: Error: Could not process rule: No such file or directory',
  );
  t.equal(d.native.closed, 1, 'device closed');
  t.notOk(d.events.includes('ready'), 'never ready');
  t.notOk(existsSync(config.subnetFile!), 'no subnet file');

  const none = start(makeConfig(t, true).config, { tools: [] });
  await t.rejects(none.done, {
    name: 'DataplaneError',
    message: /^ipMasq is true but neither nft \(nftables\) nor iptables is installed/,
  });
  t.equal(none.native.closed, 1, 'no tools: device closed too');
});

t.test('a start that fails after the rules went in removes them', async (t) => {
  const { config, dir } = makeConfig(t, true);
  writeFileSync(join(dir, 'admin.sock'), 'not a socket'); // the admin socket refuses a regular file at its path
  const d = start(config);
  await t.rejects(d.done, /admin socket/);
  t.same(
    d.events.map((e) => e.replace(/ closed=.*/, '')),
    ['nft --version', 'nft -f - (apply)', 'nft -f - (script)'],
    'installed, then removed',
  );
  t.equal(d.masq.nftTable, null);
  t.equal(d.native.closed, 1);
});
