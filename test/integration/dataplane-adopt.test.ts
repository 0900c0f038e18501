// The native engine's handover verbs (src/dataplane/types.ts DataplaneHandover, DataplaneOptions.adopt) on the
// standard two-node lab, without a daemon: each node's dataplane is opened by a dataplane agent
// (test/helpers/dataplane-agent.mjs) in its node namespace, its vxtun0 routing the other node's pod CIDR.
//   - takeover: node-1's dataplane A (every offload wanted) serves its fds on a unix socket; a second agent process
//     receives them (fdPassing over the real socket), adopts them with A's offloads and its table; under a 100/s
//     ping pod-1 → pod-2, A.pause(), B.start(), A.close(): no echo lost, vxtun0 still there, B forwarding with A's
//     offloads;
//   - TUN queue modes (native/engine/dataplane.h): A's transmit loops wait in readv on blocking queues; B, adopted,
//     polls on non-blocking ones until queuesOwned(), then waits in readv; pause leaves the queues non-blocking (what
//     a successor of any version expects), resume waits again;
//   - pause stops forwarding (no echo, no transmit counted), resume forwards again;
//   - adopting a wrong count, a queue of another device, a socket bound to another port: a DataplaneError naming
//     the fd, and every fd received closed (the adopting process's /proc/self/fd count is back where it was);
//   - fdPassing itself (no namespace): more than 250 fds in chunks, peer credentials, ETIMEDOUT, ENOENT, ECONNREFUSED.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { DataplaneOptions, DataplaneStats, DataplaneTable, OffloadFlags } from '../../src/dataplane/types.js';
import { TX_SOCKETS_PER_WORKER } from '../../src/dataplane/types.js';
import { Lab, ping, type NsProcess } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { countOf, LOOP_SYSCALLS as sys, settle } from '../helpers/blocked-in.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();
const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/dataplane-agent.mjs');
const ALL_OFFLOADS: OffloadFlags = { tso: true, gro: true, udpGso: true, udpGro: true };
const WORKERS = 2;
/** exportFds' count for one family: the TUN queues, the receive sockets, the transmit sockets. */
const FD_COUNT = WORKERS + WORKERS + WORKERS * TX_SOCKETS_PER_WORKER;
const MAC = (i: number) => `02:00:00:00:0${i}:01`;

/** A dataplane agent in a namespace: one JSON request per line, one answer per line. */
class Agent {
  private readonly answers: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  constructor(readonly proc: NsProcess) {
    createInterface({ input: proc.child.stdout! }).on('line', (line) => {
      const w = this.waiting;
      this.waiting = null;
      if (w) w(line);
      else this.answers.push(line);
    });
  }
  private next(): Promise<string> {
    const l = this.answers.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      void this.proc.exited.then((e) => reject(new Error(`agent exited (${e.code}): ${this.proc.stderr()}`)));
    });
  }
  async ready(): Promise<void> {
    await this.next();
  }
  async request(req: object): Promise<Record<string, unknown>> {
    this.proc.child.stdin!.write(`${JSON.stringify(req)}\n`);
    const a = JSON.parse(await this.next()) as { ok: boolean; error?: string };
    if (!a.ok) throw new Error(`agent in ${this.proc.ns}: ${a.error}`);
    return a;
  }
  async stats(dp?: string): Promise<DataplaneStats> {
    return (await this.request({ cmd: 'stats', dp }))['stats'] as DataplaneStats;
  }
}

interface AdoptAnswer {
  adopted: boolean;
  fds?: number[];
  error?: { name: string; code: string; message: string };
  fdsBefore?: number;
  fdsAfter?: number;
}

t.test('handover of a native dataplane between two processes', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  const agents: Agent[] = [];
  t.teardown(async () => {
    for (const a of agents) {
      a.proc.child.stdin?.end();
      await a.proc.stop('SIGTERM', 5_000);
    }
    await lab.destroy();
  });
  const agent = async (i: number) => {
    const a = new Agent(lab.spawn(lab.nodeNs(i), process.execPath, [AGENT], { stdin: 'pipe' }));
    agents.push(a);
    await a.ready();
    return a;
  };
  const options = (i: number, over: Partial<DataplaneOptions> = {}): DataplaneOptions => ({
    device: 'vxtun0',
    workers: WORKERS,
    port: 8472,
    bindIP: lab.underlayIP(i),
    mtu: 1400,
    vni: 1,
    vtepMAC: MAC(i),
    acceptUnknownVteps: false,
    checkInnerSource: true,
    ...over,
  });
  const table = (i: number): DataplaneTable => {
    const j = 3 - i;
    return {
      local: [lab.podCIDR(i)],
      peers: [{ name: `node-${j}`, publicIP: lab.underlayIP(j), vtepMAC: MAC(j), cidrs: [lab.podCIDR(j)] }],
    };
  };
  const setup = (i: number, device = 'vxtun0') => [
    ['link', 'set', device, 'mtu', '1400', 'up'],
    ['route', 'add', lab.podCIDR(3 - i), 'dev', device],
  ];

  /** Whether each of an agent's TUN queues is non-blocking, and how many of its threads wait in readv. */
  const modes = async (a: Agent) => {
    const m = (await a.request({ cmd: 'tunModes', queues: WORKERS })) as unknown as {
      nonBlocking: boolean[];
      waits: number[];
    };
    return { nonBlocking: m.nonBlocking, inReadv: sys ? countOf(m.waits, sys.readv) : -1 };
  };
  /** The agent's queues are all blocking (waiting) or all non-blocking, and `inReadv` threads wait in readv. */
  const checkModes = async (t: Test, a: Agent, waiting: boolean, what: string) => {
    const want = waiting ? WORKERS : 0;
    const m = await settle(
      () => modes(a),
      (m) => m.nonBlocking.every((nb) => nb === !waiting) && (!sys || m.inReadv === want),
    );
    t.same(m.nonBlocking, Array(WORKERS).fill(!waiting), `${what}: queues ${waiting ? 'blocking' : 'non-blocking'}`);
    if (sys) t.equal(m.inReadv, want, `${what}: ${want} transmit loops wait in readv`);
    else t.comment(`no system call numbers for ${process.arch}: where the loops wait is not checked`);
  };

  const a1 = await agent(1); // holds A, the running dataplane (and the wrong ones the adopt checks get)
  const b1 = await agent(1); // the new process: adopts A's fds
  const a2 = await agent(2);
  await a2.request({ cmd: 'open', engine: 'native', opts: options(2), table: table(2), setup: setup(2) });
  const { offloads } = (await a1.request({
    cmd: 'open',
    engine: 'native',
    opts: options(1),
    table: table(1),
    setup: setup(1),
    want: ALL_OFFLOADS,
  })) as unknown as { offloads: OffloadFlags };
  t.comment(`A's offloads: ${JSON.stringify(offloads)}`);
  const warm = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 3, waitS: 5 });
  t.equal(warm.received, 3, `pod-1 → pod-2 through A: ${warm.received}/3`);
  await checkModes(t, a1, true, 'A, a fresh dataplane');
  const sock = path.join(lab.dir, `handover-${randomBytes(3).toString('hex')}.sock`);
  await a1.request({ cmd: 'serveFds', path: sock });

  await t.test('a second process adopts A under a 100/s ping: nothing lost, the device stays', async (t) => {
    const adopt = (await b1.request({
      cmd: 'adopt',
      path: sock,
      opts: options(1),
      offloads,
      table: table(1),
      count: FD_COUNT,
    })) as unknown as AdoptAnswer;
    t.ok(adopt.adopted, `B adopted ${adopt.fds?.length} fds: ${JSON.stringify(adopt.error ?? '')}`);
    const before = await a1.stats();
    const pinging = ping(lab, lab.podNs(1), lab.podIP(2), { count: 300, intervalS: 0.01, waitS: 5 });
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = Date.now();
    await a1.request({ cmd: 'pause' });
    const started = (await b1.request({ cmd: 'start' }))['offloads']; // wants none
    const pausedMs = Date.now() - t0;
    const atPause = await a1.stats();
    await checkModes(t, b1, false, 'B, adopted, before queuesOwned');
    await a1.request({ cmd: 'close' });
    const r = await pinging;
    await b1.request({ cmd: 'queuesOwned' });
    await checkModes(t, b1, true, 'B after queuesOwned');
    t.comment(`handover: no loop ran for ${pausedMs} ms`);
    t.equal(r.sent, 300, 'ping sent 300 echoes');
    t.equal(r.received, 300, `no echo lost across the handover: ${r.received}/${r.sent}`);
    t.same(started, offloads, "B runs with A's offloads (its own want ignored)");
    t.ok(
      atPause.txPackets > before.txPackets,
      `A forwarded before the pause (${atPause.txPackets - before.txPackets})`,
    );
    const sb = await b1.stats();
    t.ok(sb.txPackets > 0 && sb.rxPackets > 0, `B forwards (tx ${sb.txPackets}, rx ${sb.rxPackets})`);
    t.same(sb.offloads, offloads, "B's stats show A's offloads");
    const link = await lab.ip(lab.nodeNs(1), ['-br', 'link', 'show', 'vxtun0'], { okExitCodes: [0, 1] });
    t.match(link.stdout, /^vxtun0\s+\S+\s+<[^>]*\bUP\b/, 'vxtun0 still exists, up, after A closed');
  });

  await t.test('pause stops forwarding, resume forwards again', async (t) => {
    await b1.request({ cmd: 'pause' });
    await b1.request({ cmd: 'pause' }); // idempotent
    const s0 = await b1.stats();
    const paused = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 2, intervalS: 0.2, waitS: 1 });
    const s1 = await b1.stats();
    t.equal(paused.received, 0, 'no echo answered while paused');
    t.equal(s1.txPackets, s0.txPackets, 'nothing transmitted while paused');
    await checkModes(t, b1, false, 'B paused');
    await b1.request({ cmd: 'resume' });
    await b1.request({ cmd: 'resume' }); // no-op when running
    await checkModes(t, b1, true, 'B resumed');
    const again = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 3, waitS: 5 });
    t.equal(again.received, 3, `after resume: ${again.received}/3`);
    t.ok((await b1.stats()).txPackets > s1.txPackets, 'transmitting again, counters kept');
  });

  await t.test('a wrong adoption throws a DataplaneError naming the fd and closes every fd', async (t) => {
    // A dataplane of another device on another port, whose fds the wrong adoptions get.
    const other = 'vxtunx';
    await a1.request({
      cmd: 'open',
      dp: other,
      engine: 'native',
      opts: options(1, { device: other, port: 8473 }),
      table: table(1),
      setup: [['link', 'set', other, 'up']],
    });
    const otherSock = path.join(lab.dir, `other-${randomBytes(3).toString('hex')}.sock`);
    await a1.request({ cmd: 'serveFds', path: otherSock, dp: other });
    // The fds of B (A is closed): served by B's agent.
    const bSock = path.join(lab.dir, `b-${randomBytes(3).toString('hex')}.sock`);
    await b1.request({ cmd: 'serveFds', path: bSock });
    const cases: { name: string; path: string; opts: DataplaneOptions; drop?: number; message: RegExp }[] = [
      {
        name: 'one fd short',
        path: bSock,
        opts: options(1),
        drop: 1,
        message: new RegExp(`adopting ${FD_COUNT - 1} fds, but 2 workers, 1 underlay families .* take ${FD_COUNT}`),
      },
      {
        name: 'a queue of another device',
        path: otherSock,
        opts: options(1),
        message: /adopted fd \d+ \(TUN queue 0\) is a queue of vxtunx, not vxtun0/,
      },
      {
        name: 'a receive socket bound to another port',
        path: otherSock,
        opts: options(1, { device: other }),
        message: new RegExp(
          `adopted fd \\d+ \\(receive socket 0 of IPv4\\) is bound to ${lab.underlayIP(1)}:8473, not ${lab.underlayIP(1)}:8472`,
        ),
      },
    ];
    const checker = await agent(1); // a third process: B keeps forwarding untouched
    for (const c of cases) {
      const r = (await checker.request({
        cmd: 'adopt',
        dp: 'wrong',
        path: c.path,
        opts: c.opts,
        offloads,
        table: table(1),
        count: FD_COUNT,
        drop: c.drop ?? 0,
      })) as unknown as AdoptAnswer;
      t.notOk(r.adopted, `${c.name}: refused`);
      t.equal(r.error?.name, 'DataplaneError', `${c.name}: a DataplaneError`);
      t.equal(r.error?.code, 'EINVAL', `${c.name}: code EINVAL`);
      t.match(r.error?.message, c.message, `${c.name}: ${r.error?.message}`);
      t.equal(
        r.fdsAfter,
        r.fdsBefore,
        `${c.name}: every fd received closed (${r.fdsBefore} open before, ${r.fdsAfter} after)`,
      );
    }
    await a1.request({ cmd: 'close', dp: other });
    const after = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 3, waitS: 5 });
    t.equal(after.received, 3, `B still forwards after the refused adoptions: ${after.received}/3`);
  });
});

// The production addon's fdPassing in this process (no namespace, no root): the sender is a net.Socket's fd (libuv's,
// non-blocking, as in src/handover/), the receiver a socket of fdPassing.connect.
t.test('fdPassing: > 250 fds in chunks, peer credentials, timeouts and errors', async (t) => {
  const { loadNative } = await import('../../src/dataplane/addon.js');
  const fdPassing = loadNative().fdPassing;
  const dir = mkdtempSync(path.join(tmpdir(), 'vxtun-fdpass-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sockPath = path.join(dir, 'h.sock');
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer(resolve);
    t.teardown(() => server.close());
    server.listen(sockPath);
  });
  await new Promise((r) => setTimeout(r, 20));
  const c = fdPassing.connect(sockPath, 2_000);
  t.teardown(() => fdPassing.close(c));
  const server = await accepted;
  t.teardown(() => server.destroy());
  const serverFd = (server as unknown as { _handle: { fd: number } })._handle.fd;

  t.same(
    fdPassing.peer(c),
    { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() },
    'peer(): our pid, uid, gid',
  );

  const file = path.join(dir, 'f');
  writeFileSync(file, 'x');
  const fd = openSync(file, 'r');
  t.teardown(() => closeSync(fd));
  const N = 300;
  fdPassing.sendFds(serverFd, Array<number>(N).fill(fd), 5_000);
  const got: number[] = [];
  const perRead: number[] = [];
  while (got.length < N) {
    const r = fdPassing.recv(c, 1, 2_000);
    t.equal(r.data.toString(), '\n', 'each fd message is one newline byte');
    perRead.push(r.fds.length);
    got.push(...r.fds);
  }
  t.same(perRead, [250, 50], `${N} fds in messages of at most 250: ${perRead.join(' + ')}`);
  const ino = fstatSync(fd).ino;
  t.ok(
    got.every((g) => fstatSync(g).ino === ino),
    'every fd received is the file sent',
  );
  t.equal(new Set(got).size, N, 'each a new fd');
  for (const g of got) closeSync(g);

  fdPassing.send(serverFd, Buffer.from('still usable\n'), 1_000);
  t.equal(fdPassing.recv(c, 100, 2_000).data.toString(), 'still usable\n', "the libuv socket's fd works as before");
  server.write('from node\n');
  t.equal(fdPassing.recv(c, 100, 2_000).data.toString(), 'from node\n', 'and node still writes on it');

  const t0 = Date.now();
  t.throws(() => fdPassing.recv(c, 100, 150), { code: 'ETIMEDOUT', syscall: 'poll' }, 'recv timeout: ETIMEDOUT');
  t.ok(Date.now() - t0 >= 140, `after the timeout (${Date.now() - t0} ms)`);
  t.throws(() => fdPassing.connect(path.join(dir, 'none.sock'), 500), { code: 'ENOENT' }, 'no socket file: ENOENT');
  const stale = path.join(dir, 'stale.sock');
  // A socket file nobody listens on (as a crashed daemon leaves it): bound by a process that then exited.
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  t.throws(() => fdPassing.connect(stale, 500), { code: 'ECONNREFUSED' }, 'stale socket file: ECONNREFUSED');
  t.throws(() => fdPassing.sendFds(serverFd, [-1], 100), TypeError, 'sendFds: a negative fd is a TypeError');
  t.throws(() => fdPassing.recv(c, 0, 100), RangeError, 'recv: maxBytes 0 is a RangeError');
  t.throws(() => fdPassing.send(c, 'text' as unknown as Uint8Array, 100), TypeError, 'send: data must be bytes');
});
