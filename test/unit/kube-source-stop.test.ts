// A stopped kubernetes peer source leaves nothing running: no timer, no socket, no request in flight — in the
// daemon, anything left is a shutdown that hangs (and in CI a test file that never exits). Each case runs the
// source in a child process (test/helpers/fixtures/kube-source-stop-main.mjs, on the built dist/), stops it at a chosen moment, and
// requires the child to exit by itself while the fake API server is still up (a hung server: requests held).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { FakeApiServer } from '../helpers/fake-apiserver.js';
import { flannelAnnotations, makeNode } from '../helpers/kube-nodes.js';

const MAIN = fileURLToPath(new URL('../helpers/fixtures/kube-source-stop-main.mjs', import.meta.url));
/** Generous: the child needs well under a second once stopped; a loaded 2-vCPU machine is slow, not this slow. */
const EXIT_DEADLINE_MS = 10_000;

const nodes = [
  makeNode({ name: 'node-a', podCIDRs: ['10.244.1.0/24'], internalIP: '192.168.99.1', ready: true }),
  makeNode({
    name: 'node-b',
    podCIDRs: ['10.244.2.0/24'],
    internalIP: '192.168.99.2',
    annotations: flannelAnnotations({ vtepMAC: '0a:00:00:00:02:01', publicIP: '192.168.99.2' }),
  }),
];

interface Case {
  name: string;
  run: boolean;
  /** Prepares the server; resolves when the moment to stop has come. */
  setup(api: FakeApiServer, child: Child): Promise<void>;
}

interface Child {
  output(): string;
  waitFor(re: RegExp, ms: number): Promise<void>;
  exited: Promise<number | null>;
  stop(): void;
  pid: number;
}

function startChild(t: Test, url: string, run: boolean): Child {
  const args = [MAIN, '--url', url, ...(run ? ['--run'] : [])];
  // `env -u NODE_OPTIONS` (which execs node, same PID): without tap's process tracking and coverage, which it adds
  // to every node child and which make one take 15 s to start on a loaded machine.
  const p = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  t.teardown(() => {
    if (!done) p.kill('SIGKILL'); // by PID: only the child this test started
  });
  return {
    output: () => out,
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (done) throw new Error(`child exited before ${re}: ${out}`);
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${re}: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exited,
    stop: () => p.kill('SIGUSR2'),
    pid: p.pid!,
  };
}

const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const got = (api: FakeApiServer, pred: (r: FakeApiServer['requests'][number]) => boolean) => api.requests.some(pred);

const CASES: Case[] = [
  {
    name: 'running normally (list, watch, patches answered)',
    run: true,
    async setup(api, child) {
      await child.waitFor(/"event":"local"/, 30_000);
      await until(
        () => got(api, (r) => r.method === 'PATCH' && r.contentType === 'application/strategic-merge-patch+json'),
        30_000,
        'the condition patch',
      );
    },
  },
  {
    name: 'the list is in flight (the API server does not answer)',
    run: false,
    async setup(api) {
      api.hold.add('list');
      await until(
        () => got(api, (r) => r.method === 'GET' && r.query['watch'] === undefined),
        30_000,
        'the list request',
      );
    },
  },
  {
    name: 'a watch request is in flight (no response headers yet)',
    run: false,
    async setup(api, child) {
      api.hold.add('watch');
      await child.waitFor(/"event":"local"/, 30_000);
      await until(() => got(api, (r) => r.query['watch'] === 'true'), 30_000, 'the watch request');
    },
  },
  {
    name: 'our annotation patch is in flight',
    run: true,
    async setup(api) {
      api.hold.add('patch');
      await until(() => got(api, (r) => r.method === 'PATCH'), 30_000, 'the patch request');
    },
  },
  {
    name: 'the API server is gone (restart and retry timers pending)',
    run: true,
    async setup(api, child) {
      api.failNext('patch', 500, 1000);
      await child.waitFor(/"event":"local"/, 30_000);
      await until(() => got(api, (r) => r.method === 'PATCH'), 30_000, 'a failing patch');
      await api.stop();
      await new Promise((r) => setTimeout(r, 300)); // a reconnect attempt or two (backoff 50 ms …)
    },
  },
];

// The cases run side by side, each with its own server and child; the assertions follow, case by case.
t.test('a stopped source leaves nothing running', async (t) => {
  const results = await Promise.all(
    CASES.map(async (c) => {
      const api = await FakeApiServer.start({ token: 'test-token' });
      t.teardown(() => api.close());
      for (const n of nodes) api.upsertNode(n);
      const child = startChild(t, api.url, c.run);
      await child.waitFor(/"event":"started"/, 30_000);
      await c.setup(api, child);
      child.stop();
      await child.waitFor(/"event":"stopped"/, 30_000);
      const t0 = Date.now();
      let deadline: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((r) => (deadline = setTimeout(() => r('hung'), EXIT_DEADLINE_MS)));
      const code = await Promise.race([child.exited, hung]);
      clearTimeout(deadline);
      return { c, code, ms: Date.now() - t0, output: child.output() };
    }),
  );
  for (const { c, code, ms, output } of results) {
    const still = /"event":"still-active".*/.exec(output)?.[0];
    t.equal(
      code,
      0,
      `stopped while ${c.name}: the process exited by itself (${code === 'hung' ? `still running after ${EXIT_DEADLINE_MS} ms: ${still ?? ''}` : `${ms} ms`})`,
    );
    t.notMatch(
      output,
      /"event":"still-active"/,
      `stopped while ${c.name}: nothing was still active 3 s after the stop`,
    );
  }
});
