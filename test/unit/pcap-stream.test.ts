// GET /debug/pcap on a real admin server on a unix socket (its only listener), fed by a fake capture source that hands out
// packet blocks made by the reference writer (src/dump/pcapng.ts). Filters, snap length and the block
// bytes themselves are native: test/native/pcapng-epb.test.ts, test/native/capture-filter.test.ts
// and test/integration/vxtun-dump.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startAdminSocket } from '../../src/admin/server.js';
import { connect, type Socket } from 'node:net';
import {
  CAPTURE_MEMORY_BUDGET,
  CAPTURE_RING_BYTES,
  createCaptureHub,
  maxCaptureSessions,
  SESSION_BUFFER_BYTES,
  type CaptureRecord,
  type CaptureSessionOptions,
  type CaptureSource,
} from '../../src/dump/capture.js';
import { IDLE_TIMEOUT_MS } from '../../src/admin/pcap-stream.js';
import { silentLogger } from '../../src/log.js';
import { recordBlock } from '../../src/dump/pcapng.js';
import { parseComment, PcapngReader } from '../../src/dump/pcapng-read.js';
import { stubCaptureSource } from '../helpers/stub-admin.js';
import { unixGet } from '../helpers/unix-http.js';

/** A temporary directory with a short path (a socket path has at most 107 bytes; tap's fixture paths are longer). */
function shortDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

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
const ICMP = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');

const rec = (verdict: string, peer: string, dropsBefore = 0): CaptureRecord => ({
  tsNs: 1_000_000_000n,
  dir: 'tx',
  verdict,
  peer,
  vtep: '192.168.99.2',
  worker: 0,
  prefix: null,
  packet: ICMP,
  origLen: ICMP.length,
  dropsBefore,
});

t.test('streams pcapng, ends by count, rejects bad parameters', async (t) => {
  const queues = new Map<number, Buffer[]>();
  const opened: CaptureSessionOptions[] = [];
  let next = 1;
  const src: CaptureSource = {
    captureStart: (o) => (opened.push(o), queues.set(next, []), next++),
    captureStop: (id) => queues.delete(id),
    captureRead: (id, into, maxRecords) => {
      const q = queues.get(id) ?? [];
      const take = q.splice(0, Math.min(q.length, maxRecords));
      const data = Buffer.concat(take);
      into.set(data);
      return { bytes: data.length, records: take.length };
    },
    captureStats: (id) => (queues.has(id) ? { matched: 7, dropped: 3 } : null),
  };
  const hub = createCaptureHub(src);
  const outer = () => ({ publicIP: '192.168.99.1', port: 8472, vni: 1 });
  const admin = await startAdminSocket(
    `${shortDir(t)}/admin.sock`,
    { status: () => ({}) as never, ready: () => true, pcap: { hub, outer, device: 'vxtun0', reasons: REASONS } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const base = `/debug/pcap`;
  const fetch = (path: string) => unixGet(admin.address, path);

  const ra = await fetch(`${base}?count=2&filter=drops&snaplen=100`);
  const rb = await fetch(`${base}?count=1&outer=1`);
  t.equal(ra.status, 200);
  t.equal(ra.headers.get('content-type'), 'application/x-pcapng');
  t.equal(queues.size, 2, 'one native session per stream');
  t.match(opened[0], { snaplen: 100, outer: false, publicIP: '192.168.99.1', port: 8472, vni: 1 });
  t.ok(opened[0]!.program.length > 0, 'the filter is compiled for the addon');
  t.equal(opened[1]!.program.length, 0, 'no filter: an empty program');
  t.match(opened[1], { snaplen: 1962, outer: true });
  queues
    .get(1)!
    .push(recordBlock(rec('no-route', '')), recordBlock(rec('no-route', '', 5)), recordBlock(rec('no-route', '')));
  queues.get(2)!.push(recordBlock(rec('forward', 'node-2')));
  const [ba, bb] = await Promise.all([ra.arrayBuffer(), rb.arrayBuffer()]);
  const reader = new PcapngReader();
  const pa = reader.push(Buffer.from(ba));
  t.same(
    pa.map((p) => parseComment(p.comment!)['verdict']),
    ['drop:no-route', 'drop:no-route'],
    'ended after 2',
  );
  t.same(
    pa.map((p) => p.dropCount),
    [undefined, 5],
    'drop counts travel with the packets',
  );
  t.same(reader.stats, { matched: 7, dropped: 3, delivered: 2 }, 'a statistics block ends the stream');
  const pb = new PcapngReader().push(Buffer.from(bb));
  t.equal(pb.length, 1, 'ended after 1');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(queues.size, 0, 'sessions stopped with their streams');

  for (const [q, re] of [
    ['filter=port+x', /^bad filter "port x": expected a port/],
    ['count=0', /^count: expected a positive integer/],
    ['seconds=abc', /^seconds: expected a positive number/],
    ['outer=maybe', /^outer: expected/],
    ['snaplen=0', /^snaplen: expected a positive integer \(at most 1962\)/],
    ['snaplen=5000', /^snaplen: expected a positive integer \(at most 1962\)/],
  ] as const) {
    const r = await fetch(`${base}?${q}`);
    t.equal(r.status, 400, q);
    t.match(await r.text(), re);
  }
  t.equal(queues.size, 0, 'no session for a rejected request');
  const started = Date.now();
  const timed = await fetch(`${base}?seconds=1.3`);
  const body = Buffer.from(await timed.arrayBuffer());
  t.ok(Date.now() - started >= 1250, 'ended by time');
  const tr = new PcapngReader();
  t.same(tr.push(body), [], 'no packets');
  t.same(tr.stats, { matched: 7, dropped: 3, delivered: 0 }, 'periodic and final statistics blocks');
});

t.test('busy: 503; js engine: 501', async (t) => {
  const src: CaptureSource = {
    captureStart: () => -1,
    captureStop: () => false,
    captureRead: () => ({ bytes: 0, records: 0 }),
    captureStats: () => null,
  };
  const outer = () => ({ publicIP: '1.1.1.1', port: 8472, vni: 1 });
  const dir = shortDir(t);
  const busy = await startAdminSocket(
    `${dir}/busy.sock`,
    {
      status: () => ({}) as never,
      ready: () => true,
      pcap: { hub: createCaptureHub(src), outer, device: 'vxtun0', reasons: REASONS },
    },
    silentLogger,
  );
  t.teardown(() => busy.close());
  const rb = await unixGet(busy.address, '/debug/pcap');
  t.equal(rb.status, 503);
  t.match(await rb.text(), /too many captures/);
  const admin = await startAdminSocket(
    `${dir}/js.sock`,
    { status: () => ({}) as never, ready: () => true, pcap: { outer, device: 'vxtun0', reasons: REASONS } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const r = await unixGet(admin.address, '/debug/pcap');
  t.equal(r.status, 501);
  t.match(await r.text(), /needs the native engine/);
});

t.test('out-of-range and unknown parameters: 400, no session', async (t) => {
  const hub = createCaptureHub(stubCaptureSource(1_000_000));
  const outer = () => ({ publicIP: '192.168.99.1', port: 8472, vni: 1 });
  const admin = await startAdminSocket(
    `${shortDir(t)}/admin.sock`,
    { status: () => ({}) as never, ready: () => true, pcap: { hub, outer, device: 'vxtun0', reasons: REASONS } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  for (const [q, re] of [
    ['seconds=1e10', /^seconds: expected a positive number \(at most 86400\), got "1e10"/],
    ['seconds=86401', /^seconds: expected a positive number \(at most 86400\)/],
    ['seconds=-1', /^seconds: expected a positive number/],
    ['seconds=NaN', /^seconds: expected a positive number/],
    ['seconds=Infinity', /^seconds: expected a positive number/],
    ['count=-3', /^count: expected a positive integer/],
    ['count=1e10', /^count: expected a positive integer \(at most 1000000000\)/],
    ['count=2.5', /^count: expected a positive integer/],
    ['snaplen=abc', /^snaplen: expected a positive integer/],
    ['count=1&count=2', /^count: given twice/],
    ['cuont=1', /^unknown parameter "cuont"/],
    ['x=%zz', /^unknown parameter "x"/],
  ] as const) {
    const r = await unixGet(admin.address, `/debug/pcap?${q}`);
    t.equal(r.status, 400, q);
    t.match(await r.text(), re, q);
  }
  t.equal(hub.sessions, 0, 'no session for a rejected request');
});

t.test('the session limit follows the memory budget', async (t) => {
  t.equal(maxCaptureSessions(2), 8, "1 worker (2 loops): 8 sessions (the addon's limit)");
  t.equal(maxCaptureSessions(4), 5, '2 workers: 5 sessions');
  t.equal(maxCaptureSessions(8), 2, '4 workers: 2');
  t.equal(maxCaptureSessions(32), 1, '16 workers: still 1 (one session alone exceeds the budget)');
  for (const loops of [2, 4, 8]) {
    const n = maxCaptureSessions(loops);
    t.ok(
      n * (loops * CAPTURE_RING_BYTES + SESSION_BUFFER_BYTES) <= CAPTURE_MEMORY_BUDGET,
      `${loops} loops: ${n} sessions fit ${CAPTURE_MEMORY_BUDGET >> 20} MiB`,
    );
  }
  const hub = createCaptureHub(stubCaptureSource(0), { maxSessions: 2 });
  const opts = { program: new Uint8Array(0), snaplen: 100, outer: false, publicIP: '1.1.1.1', port: 8472, vni: 1 };
  const sink = { onBlocks: (_b: Buffer, _r: number, release: () => void) => release() };
  const a = hub.open(opts, sink);
  hub.open(opts, sink);
  t.throws(() => hub.open(opts, sink), { name: 'CaptureBusyError', message: /at most 2/ });
  a.close();
  t.doesNotThrow(() => hub.open(opts, sink), 'a freed slot can be taken');
  hub.close();
});

t.test('clients that stop reading are cut off and their sessions freed', async (t) => {
  const hub = createCaptureHub(stubCaptureSource(Number.MAX_SAFE_INTEGER), { maxSessions: 3 });
  const outer = () => ({ publicIP: '192.168.99.1', port: 8472, vni: 1 });
  const admin = await startAdminSocket(
    `${shortDir(t)}/admin.sock`,
    { status: () => ({}) as never, ready: () => true, pcap: { hub, outer, device: 'vxtun0', reasons: REASONS } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  // Three clients that send a request and never read.
  const stuck = await Promise.all(
    [1, 2, 3].map(
      () =>
        new Promise<Socket>((resolve) => {
          const s = connect({ path: admin.address }, () => {
            s.pause();
            s.write('GET /debug/pcap HTTP/1.1\r\nHost: x\r\n\r\n');
            resolve(s);
          });
        }),
    ),
  );
  const closed = stuck.map((s) => new Promise<void>((r) => s.once('close', () => r())));
  t.teardown(() => stuck.forEach((s) => s.destroy()));
  const started = Date.now();
  await until(() => hub.sessions === 3, 'three sessions', 10_000);
  t.equal((await unixGet(admin.address, '/debug/pcap')).status, 503, 'a fourth client: 503 while they hold the slots');
  await until(() => hub.sessions === 0, 'the stuck sessions to be cut off', IDLE_TIMEOUT_MS + 50_000);
  const took = Date.now() - started;
  t.ok(took >= IDLE_TIMEOUT_MS - 1_000, `cut off after ${took} ms without progress (timeout ${IDLE_TIMEOUT_MS} ms)`);
  stuck.forEach((s) => s.resume()); // (a paused socket does not see the end)
  await Promise.all(closed);
  t.pass('their connections were closed');
  const r = await unixGet(admin.address, '/debug/pcap?count=3');
  t.equal(r.status, 200, 'a new client gets a session');
  t.equal(new PcapngReader().push(await r.arrayBuffer()).length, 3, 'and its packets');
});

async function until(pred: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('--outer: the interface snap length adds the node’s outer bytes (50 on IPv4, 70 on IPv6)', async (t) => {
  const idbSnaplen = (b: Buffer) => b.readUInt32LE(b.readUInt32LE(4) + 12); // after the SHB: type, length, linktype+reserved
  for (const [publicIP, outerLen] of [
    ['192.168.99.1', 50],
    ['fd99::1', 70],
  ] as const) {
    const opened: CaptureSessionOptions[] = [];
    const stub = stubCaptureSource(1);
    const src: CaptureSource = { ...stub, captureStart: (o) => (opened.push(o), stub.captureStart(o)) };
    const outer = () => ({ publicIP, port: 8472, vni: 1 });
    const admin = await startAdminSocket(
      `${shortDir(t)}/admin.sock`,
      {
        status: () => ({}) as never,
        ready: () => true,
        pcap: { hub: createCaptureHub(src), outer, device: 'vxtun0', reasons: REASONS },
      },
      silentLogger,
    );
    t.teardown(() => admin.close());
    for (const [q, want] of [
      ['count=1&outer=1&snaplen=96', 96 + outerLen],
      ['count=1&snaplen=96', 96],
    ] as const) {
      const r = await unixGet(admin.address, `/debug/pcap?${q}`);
      t.equal(idbSnaplen(Buffer.from(await r.arrayBuffer())), want, `${publicIP} ${q}: snaplen ${want}`);
    }
    t.match(opened[0], { publicIP, outer: true }, 'the session gets the node’s address');
  }
});
