// runDaemon's start order and stop (static mode) with the addon, `ip` and the packet filter tools replaced by
// recording doubles: a stop while the peer source names the node opens nothing; a stop while the node is being set
// up still ends the run, with the device closed and its routes removed; a dataplane that dies stops the node with
// that failure. The parts themselves are tested in test/unit/daemon-parts.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import { runDaemon, type DaemonDeps } from '../../src/daemon/daemon.js';
import { DataplaneError } from '../../src/errors.js';
import { AbortedError, type PeerSource } from '../../src/peers/peer-source.js';
import { fakeDeviceConf, fakeIp, fakeNative, type FakeNative } from '../helpers/fake-dataplane.js';
import { fakeMasq } from '../helpers/fake-masq.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';

function makeConfig(t: Test): Config {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-daemon-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      subnetFile: join(dir, 'subnet.env'),
      admin: { listen: 'off', socket: join(dir, 'admin.sock') },
      peers: {
        static: [
          { name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1' },
          { name: 'node-b', podCIDRs: ['10.244.2.0/24'], publicIP: '192.168.99.2' },
        ],
      },
    }),
    'start.json',
    { hostname: 'x' },
  );
}

/** Settles with the run's outcome, or rejects after `ms` (the run hung). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Started {
  done: Promise<void>;
  abort: AbortController;
  native: FakeNative;
  logs: LogLine[];
  ipCalls: string[][];
}

function start(
  config: Config,
  over: (abort: AbortController, native: FakeNative, ipCalls: string[][]) => Partial<DaemonDeps> = () => ({}),
): Started {
  const logs: LogLine[] = [];
  const native = fakeNative();
  const abort = new AbortController();
  const ipCalls: string[][] = [];
  const deps: DaemonDeps = {
    config,
    logger: recordingLogger(logs),
    native: native.binding,
    ip: fakeIp(ipCalls),
    deviceConf: fakeDeviceConf(),
    deviceStats: () => undefined,
    masq: fakeMasq().run,
    ...over(abort, native, ipCalls),
  };
  return { done: runDaemon(deps, abort.signal), abort, native, logs, ipCalls };
}

t.test('a stop while the peer source names the node: nothing is opened', async (t) => {
  let asked!: () => void;
  const waiting = new Promise<void>((r) => (asked = r));
  const source: PeerSource = {
    kind: 'test',
    local: (signal) =>
      new Promise((_, reject) => {
        asked();
        signal.addEventListener('abort', () => reject(new AbortedError()), { once: true });
      }),
    run: async () => {
      t.fail('run() is never called');
    },
    state: () => ({ connected: true, nodes: 0, skipped: 0 }),
  };
  const s = start(makeConfig(t), () => ({ peerSource: source }));
  await waiting;
  s.abort.abort();
  await within(s.done, 20_000, 'runDaemon');
  t.equal(s.native.opened.length, 0, 'no dataplane opened');
  t.same(s.ipCalls, [], 'no ip command run');
});

t.test(
  'a stop while the node is being set up ends the run, with the device closed and its routes removed',
  async (t) => {
    // The stop comes while the underlay is being resolved: after local(), before the dataplane opens.
    const s = start(makeConfig(t), (abort, _native, calls) => {
      const ip = fakeIp(calls);
      return {
        ip: async (args) => {
          if (args.join(' ') === '-j -4 addr show') abort.abort();
          return ip(args);
        },
      };
    });
    await within(s.done, 20_000, 'runDaemon');
    t.equal(s.native.opened.length, 1, 'the dataplane was opened');
    t.equal(s.native.closed, 1, 'and closed');
    t.ok(
      s.ipCalls.some((c) => c.join(' ') === 'route del 10.244.0.0/16 dev vxtun0'),
      'the route was removed',
    );
    t.ok(
      s.logs.some((l) => l.msg === 'stopped'),
      'stopped is logged',
    );
  },
);

t.test('a dataplane that dies stops the node with its failure', async (t) => {
  let die!: (message: string) => void;
  const s = start(makeConfig(t), (_abort, native) => {
    const Base = native.binding.Dataplane;
    class Dying extends Base {
      override start(onFatal: (message: string) => void, want: Parameters<InstanceType<typeof Base>['start']>[1]) {
        die = onFatal;
        return super.start(onFatal, want);
      }
    }
    return { native: { ...native.binding, Dataplane: Dying }, onReady: () => die('tx loop: EIO') };
  });
  const err = await within(s.done, 20_000, 'runDaemon').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DataplaneError);
  t.equal((err as Error).message, 'dataplane stopped: tx loop: EIO');
  t.equal(s.native.closed, 1, 'the device was closed');
  t.ok(
    s.logs.some((l) => l.msg === 'ready'),
    'it had been ready',
  );
});
