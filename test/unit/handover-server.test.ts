// The running vxtun's side of the handover (src/handover/server.ts) against hostile and broken successors, over a
// real unix socket: garbage, a wrong first message, a successor that goes away after pause (the loops resume), a
// refused identity, and the whole conversation. Nothing a peer sends may stop forwarding: pause is called only after
// a well-formed hello and offer, and any failure after it resumes. Fds are not passed here (a fake fd passing writes
// the bytes only): the real passing is test/integration/dataplane-adopt.test.ts and handover.test.ts.
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { NativeFdPassing } from '../../src/dataplane/addon.js';
import { NO_OFFLOADS } from '../../src/dataplane/offloads.js';
import { zeroStats } from '../../src/dataplane/types.js';
import { decode, encode, LineReader, type HandoverIdentity, type Message } from '../../src/handover/protocol.js';
import { startHandoverServer, type Successor } from '../../src/handover/server.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';

const id: HandoverIdentity = {
  device: 'vxtun0',
  port: 8472,
  vni: 1,
  workers: 1,
  engine: 'native',
  bindIP: '192.168.99.1',
  bindIPv6: null,
  network: '10.244.0.0/16',
  ipv6Network: null,
  podCIDRs: ['10.244.1.0/24'],
  vtepMAC: '0a:58:0a:f4:01:01',
  vtepMACFixed: false,
};
const hello = (identity = id): Message => ({ type: 'hello', protocol: 1, version: 'next', pid: 4242, identity });

/** Writes through the connection's fd as the native passing does; fds are not passed, only their "\n" bytes. */
const fakeFdp = {
  send: (fd: number, data: Uint8Array) => void writeSync(fd, data),
  sendFds: (fd: number, fds: number[]) => void writeSync(fd, Buffer.alloc(Math.ceil(fds.length / 250), 10)),
  peer: () => ({ pid: process.pid, uid: process.geteuid?.() ?? 0, gid: 0 }),
} as unknown as NativeFdPassing;

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-handover-server-'));
  const calls: string[] = [];
  const logs: LogLine[] = [];
  const released: Successor[] = [];
  const dp = {
    workers: 1,
    start: () => NO_OFFLOADS,
    setTable: () => undefined,
    stats: () => zeroStats([]),
    close: () => undefined,
    exportFds: () => (calls.push('export'), [10, 11, 12, 13, 14, 15]),
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
  };
  const server = await startHandoverServer({
    path: join(dir, 'handover.sock'),
    fdp: fakeFdp,
    logger: recordingLogger(logs),
    identity: id,
    dp,
    state: () => ({ vtepMAC: id.vtepMAC, offloads: NO_OFFLOADS, table: { local: id.podCIDRs, peers: [] } }),
    release: async (to) => void released.push(to),
  });
  t.teardown(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** A connected client that reads messages. */
  const client = async () => {
    const sock: Socket = connect(join(dir, 'handover.sock'));
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const reader = new LineReader();
    const got: Message[] = [];
    let ended = false;
    sock.on('data', (d: Buffer) => got.push(...reader.push(d).map(decode)));
    sock.on('close', () => (ended = true));
    const until = async (pred: () => boolean, what: string) => {
      for (const end = Date.now() + 5_000; !pred();) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    return {
      sock,
      got,
      ended: () => ended,
      until,
      send: (m: Message | string) => sock.write(typeof m === 'string' ? m : encode(m)),
      next: async (type: Message['type']) => {
        await until(() => got.some((m) => m.type === type) || ended, type);
        return got.find((m) => m.type === type);
      },
    };
  };
  return { server, calls, logs, released, client };
}

t.test(
  'garbage and a wrong first message end the conversation; nothing is paused; the next one is served',
  async (t) => {
    const s = await setup(t);
    const a = await s.client();
    a.send('not json at all\n');
    await a.until(a.ended, 'the server closing');
    const b = await s.client();
    b.send({ type: 'pause' });
    await b.until(b.ended, 'the server closing');
    const c = await s.client();
    c.send('{"type":"hello","protocol":1,"version":"x","pid":0,"identity":{}}\n');
    await c.until(c.ended, 'the server closing');
    t.same(s.calls, [], 'no fds exported, nothing paused');
    const d = await s.client();
    d.send(hello());
    t.match(
      await d.next('offer'),
      { type: 'offer', fds: 6, pid: process.pid },
      'a well-formed hello still gets an offer',
    );
    d.sock.destroy();
    t.equal(s.server.handedOver, false);
  },
);

t.test('a refused identity: refuse names the field, nothing exported', async (t) => {
  const s = await setup(t);
  const a = await s.client();
  a.send(hello({ ...id, vni: 2 }));
  t.match(await a.next('refuse'), { type: 'refuse', pid: process.pid, error: 'vni differs (running: 1, new: 2)' });
  await a.until(a.ended, 'the server closing');
  t.same(s.calls, []);
  t.match(s.logs.find((l) => l.msg === 'handover refused')?.fields, { reason: 'vni differs (running: 1, new: 2)' });
});

t.test('a successor that goes away after pause: the loops resume', async (t) => {
  const s = await setup(t);
  const a = await s.client();
  a.send(hello());
  await a.next('offer');
  a.send({ type: 'pause' });
  await a.next('paused');
  a.sock.destroy();
  await a.until(() => s.calls.includes('resume'), 'resume');
  t.same(s.calls, ['export', 'pause', 'resume']);
  t.ok(s.logs.some((l) => l.msg === 'handover failed, forwarding again'));
  t.equal(s.server.handedOver, false, 'still ours');
  t.same(s.released, []);
});

t.test('a message out of order after pause: the loops resume', async (t) => {
  const s = await setup(t);
  const a = await s.client();
  a.send(hello());
  await a.next('offer');
  a.send({ type: 'pause' });
  await a.next('paused');
  a.send({ type: 'pause' });
  await a.until(() => s.calls.includes('resume'), 'resume');
  t.same(s.calls, ['export', 'pause', 'resume']);
});

t.test('the whole conversation: offer, pause, started → released, handed over', async (t) => {
  const s = await setup(t);
  const a = await s.client();
  a.send(hello());
  const offer = await a.next('offer');
  t.match(offer, { type: 'offer', protocol: 1, identity: id, state: { vtepMAC: id.vtepMAC }, fds: 6 });
  a.send({ type: 'pause' });
  await a.next('paused');
  a.send({ type: 'started' });
  t.match(await a.next('released'), { type: 'released' });
  t.same(s.calls, ['export', 'pause']);
  t.match(s.released, [{ pid: 4242, version: 'next' }]);
  t.equal(s.server.handedOver, true);
});
