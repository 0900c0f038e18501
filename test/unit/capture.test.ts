// The addon's packed capture records (native/capture.h) and the fan-out hub.
import t from 'tap';
import { createCaptureHub, decodeCaptureRecords, type CaptureRecord, type CaptureSource } from '../../src/capture.js';

const REASONS = ['short', 'bad-header', 'vni', 'unknown-vtep', 'bad-mac', 'ethertype', 'bad-ip', 'spoofed-source', 'not-local', 'no-route'];

function packed(o: { ts: bigint; dir: number; verdict: number; vtep: number[]; worker: number; prefix: boolean; name: string; data: Buffer; orig?: number }): Buffer {
  const h = Buffer.alloc(64);
  h.writeBigUInt64LE(o.ts, 0);
  h.writeUInt32LE(o.orig ?? o.data.length, 8);
  h.writeUInt16LE(o.data.length, 12);
  h[14] = o.dir;
  h[15] = o.verdict;
  h.set(o.vtep, 16);
  h.writeUInt16LE(o.worker, 20);
  h[22] = o.prefix ? 1 : 0;
  h[23] = o.name.length;
  h.write(o.name, 24);
  const pad = Buffer.alloc((4 - (o.data.length % 4)) % 4);
  return Buffer.concat([h, o.data, pad]);
}

t.test('decode', async (t) => {
  const prefix = Buffer.alloc(22, 7);
  const inner = Buffer.from([0x45, 1, 2, 3, 4]);
  const buf = Buffer.concat([
    packed({ ts: 123n, dir: 0, verdict: 0, vtep: [192, 168, 99, 2], worker: 1, prefix: true, name: 'node-2', data: Buffer.concat([prefix, inner]), orig: 22 + 1400 }),
    packed({ ts: 124n, dir: 0, verdict: 10, vtep: [0, 0, 0, 0], worker: 0, prefix: false, name: '', data: inner }),
    packed({ ts: 125n, dir: 1, verdict: 4, vtep: [10, 0, 0, 9], worker: 3, prefix: true, name: '', data: Buffer.alloc(3) }),
  ]);
  const r = decodeCaptureRecords(buf, REASONS);
  t.equal(r.length, 3);
  t.match(r[0], { tsNs: 123n, dir: 'tx', verdict: 'forward', vtep: '192.168.99.2', worker: 1, peer: 'node-2', origLen: 1400 });
  t.same(r[0]?.prefix, prefix);
  t.same(r[0]?.packet, inner);
  t.match(r[1], { dir: 'tx', verdict: 'no-route', peer: '', vtep: '0.0.0.0', prefix: null, origLen: 5 });
  t.match(r[2], { dir: 'rx', verdict: 'unknown-vtep', worker: 3, prefix: null }, 'a datagram shorter than the prefix keeps its bytes');
});

t.test('hub: one native capture for many subscribers, stopped with the last', async (t) => {
  const calls: string[] = [];
  let queued: Buffer | null = null;
  const src: CaptureSource = {
    captureStart: () => (calls.push('start'), 7),
    captureStop: (id) => (calls.push(`stop ${id}`), true),
    captureRead: () => {
      const b = queued;
      queued = null;
      return b;
    },
  };
  const hub = createCaptureHub(src, REASONS);
  const a: CaptureRecord[] = [];
  const b: CaptureRecord[] = [];
  const sa = hub.subscribe((r) => a.push(...r));
  const sb = hub.subscribe((r) => b.push(...r));
  t.same(calls, ['start'], 'started once');
  // Ring after ring: worker 0's records, then worker 1's; delivered in time order.
  queued = Buffer.concat([
    packed({ ts: 1n, dir: 1, verdict: 0, vtep: [1, 2, 3, 4], worker: 0, prefix: false, name: 'x', data: Buffer.from([0x45]) }),
    packed({ ts: 3n, dir: 1, verdict: 0, vtep: [1, 2, 3, 4], worker: 0, prefix: false, name: 'x', data: Buffer.from([0x45]) }),
    packed({ ts: 2n, dir: 0, verdict: 0, vtep: [1, 2, 3, 4], worker: 1, prefix: false, name: 'x', data: Buffer.from([0x45]) }),
  ]);
  await new Promise((r) => setTimeout(r, 80));
  t.same(a.map((r) => r.tsNs), [1n, 2n, 3n], 'first subscriber got them, in time order');
  t.equal(b.length, 3, 'second subscriber got them');
  sa.close();
  sa.close();
  t.same(calls, ['start'], 'still running for the second');
  sb.close();
  t.same(calls, ['start', 'stop 7'], 'stopped with the last');
  hub.subscribe(() => undefined);
  hub.close();
  t.same(calls, ['start', 'stop 7', 'start', 'stop 7']);
  t.equal(hub.subscribers, 0);
});
