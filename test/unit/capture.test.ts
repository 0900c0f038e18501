// The capture hub: one native session per stream, drained on one timer, honouring each sink's
// count and back-pressure, and closed with the stream. The native side is a fake here; the real
// addon's sessions run in test/integration/vxtun-dump.test.ts.
import t from 'tap';
import {
  CaptureBusyError,
  createCaptureHub,
  type CaptureSessionOptions,
  type CaptureSource,
} from '../../src/dump/capture.js';

const OPTS: CaptureSessionOptions = {
  program: new Uint8Array(0),
  snaplen: 1962,
  outer: false,
  publicIP: '1.1.1.1',
  port: 8472,
  vni: 1,
};

/** A fake addon: per session a queue of 8-byte "blocks", one per record. */
function fakeSource(limit = 8) {
  const queues = new Map<number, number[]>();
  const calls: string[] = [];
  const reads: Uint8Array[] = [];
  let next = 1;
  const src: CaptureSource = {
    captureStart: () => {
      if (queues.size >= limit) return -1;
      const id = next++;
      queues.set(id, []);
      calls.push(`start ${id}`);
      return id;
    },
    captureStop: (id) => (calls.push(`stop ${id}`), queues.delete(id)),
    captureRead: (id, into, maxRecords) => {
      const q = queues.get(id) ?? [];
      const take = q.splice(0, Math.min(q.length, maxRecords, Math.floor(into.length / 8)));
      const b = Buffer.from(into.buffer, into.byteOffset, into.byteLength);
      take.forEach((v, i) => b.writeUInt32LE(v, 8 * i));
      reads.push(into);
      return { bytes: 8 * take.length, records: take.length };
    },
    captureStats: (id) => (queues.has(id) ? { matched: 100 + id, dropped: id } : null),
  };
  return { src, queues, calls, reads };
}

const tick = () => new Promise((r) => setTimeout(r, 60));
const values = (bufs: Buffer[]) =>
  bufs.flatMap((b) => Array.from({ length: b.length / 8 }, (_, i) => b.readUInt32LE(8 * i)));

t.test('each stream is its own session, drained until closed', async (t) => {
  const { src, queues, calls } = fakeSource();
  const hub = createCaptureHub(src);
  const a: Buffer[] = [];
  const b: Buffer[] = [];
  const sa = hub.open(OPTS, { onBlocks: (d, _n, release) => (a.push(Buffer.from(d)), release()) });
  const sb = hub.open(OPTS, { onBlocks: (d, _n, release) => (b.push(Buffer.from(d)), release()) });
  t.same(calls, ['start 1', 'start 2']);
  t.equal(hub.sessions, 2);
  queues.get(1)!.push(1, 2, 3);
  queues.get(2)!.push(9);
  await tick();
  t.same(values(a), [1, 2, 3]);
  t.same(values(b), [9]);
  t.same(sa.counters(), { matched: 101, dropped: 1 }, 'counters from the addon');
  sa.close();
  sa.close();
  t.same(calls, ['start 1', 'start 2', 'stop 1'], 'stopped once');
  t.same(sa.counters(), { matched: 101, dropped: 1 }, 'last counters kept after close');
  hub.close();
  t.same(calls, ['start 1', 'start 2', 'stop 1', 'stop 2']);
  t.equal(hub.sessions, 0);
  sb.close();
  t.equal(calls.length, 4, 'closing after the hub closed is a no-op');
});

t.test('count and back-pressure', async (t) => {
  const { src, queues } = fakeSource();
  const hub = createCaptureHub(src);
  t.teardown(() => hub.close());
  const got: Buffer[] = [];
  let left = 2;
  let paused = true;
  hub.open(OPTS, {
    onBlocks: (d, n, release) => (got.push(Buffer.from(d)), (left -= n), release()),
    wanted: () => left,
    paused: () => paused,
  });
  queues.get(1)!.push(1, 2, 3, 4);
  await tick();
  t.same(got, [], 'nothing drained while paused (the ring fills natively and counts drops)');
  paused = false;
  await tick();
  t.same(values(got), [1, 2], 'no more than wanted');
  t.same(queues.get(1), [3, 4], 'the rest stays queued');
});

t.test('too many sessions: CaptureBusyError', async (t) => {
  const { src } = fakeSource(1);
  const hub = createCaptureHub(src);
  t.teardown(() => hub.close());
  hub.open(OPTS, { onBlocks: () => undefined });
  t.throws(() => hub.open(OPTS, { onBlocks: () => undefined }), CaptureBusyError);
});

t.test('drain buffers are reused once released, never while a sink still holds them', async (t) => {
  const { src, queues, reads } = fakeSource();
  const hub = createCaptureHub(src);
  t.teardown(() => hub.close());
  const held: { d: Buffer; release: () => void }[] = [];
  hub.open(OPTS, { onBlocks: (d, _n, release) => void held.push({ d, release }) });
  queues.get(1)!.push(1, 2);
  await tick();
  queues.get(1)!.push(3);
  await tick();
  t.equal(held.length, 2);
  t.not(held[0]!.d.buffer, held[1]!.d.buffer, 'a buffer still held by the sink is not handed out again');
  t.same(values(held.map((h) => h.d)), [1, 2, 3], 'and so its blocks stay intact');
  held[0]!.release();
  held[0]!.release();
  queues.get(1)!.push(4);
  await tick();
  t.equal(held[2]!.d.buffer, held[0]!.d.buffer, 'a released buffer is reused for the next drain');
  t.same(values([held[2]!.d]), [4]);
  t.ok(
    reads.every((r) => r.byteLength >= 1 << 20),
    'the addon is handed whole drain buffers',
  );
});
