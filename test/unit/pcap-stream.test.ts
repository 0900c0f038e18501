// GET /debug/pcap on a real admin server on 127.0.0.1, fed by a fake capture source.
import t from 'tap';
import { startAdminServer } from '../../src/admin.js';
import { createCaptureHub, type CaptureSource } from '../../src/capture.js';
import { silentLogger } from '../../src/log.js';
import { parseComment, PcapngReader } from '../../src/pcapng.js';

const REASONS = ['short', 'bad-header', 'vni', 'unknown-vtep', 'bad-mac', 'ethertype', 'bad-ip', 'spoofed-source', 'not-local', 'no-route'];
const ICMP = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');

function packed(verdict: number, name: string): Buffer {
  const h = Buffer.alloc(64);
  h.writeBigUInt64LE(1_000_000_000n, 0);
  h.writeUInt32LE(ICMP.length, 8);
  h.writeUInt16LE(ICMP.length, 12);
  h[15] = verdict;
  h.set([192, 168, 99, 2], 16);
  h[23] = name.length;
  h.write(name, 24);
  return Buffer.concat([h, ICMP]);
}

t.test('streams pcapng, ends by count, rejects bad parameters', async (t) => {
  const queue: Buffer[] = [];
  let running = 0;
  const src: CaptureSource = {
    captureStart: () => (running++, 1),
    captureStop: () => (running--, true),
    captureRead: () => queue.shift() ?? null,
  };
  const hub = createCaptureHub(src, REASONS);
  const outer = () => ({ publicIP: '192.168.99.1', port: 8472, vni: 1 });
  const admin = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    { status: () => ({}) as never, ready: () => true, pcap: { hub, outer, device: 'vxtun0' } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const base = `http://${admin.address}/debug/pcap`;

  const a = fetch(`${base}?count=2&filter=drops`);
  const b = fetch(`${base}?count=1&outer=1`);
  const [ra, rb] = await Promise.all([a, b]);
  t.equal(ra.status, 200);
  t.equal(ra.headers.get('content-type'), 'application/x-pcapng');
  t.equal(running, 1, 'one native capture for two streams');
  queue.push(Buffer.concat([packed(0, 'node-2'), packed(10, ''), packed(10, '')]));
  const [ba, bb] = await Promise.all([ra.arrayBuffer(), rb.arrayBuffer()]);
  const pa = new PcapngReader().push(Buffer.from(ba));
  t.same(pa.map((p) => parseComment(p.comment!)['verdict']), ['drop:no-route', 'drop:no-route'], 'filtered, ended after 2');
  const pb = new PcapngReader().push(Buffer.from(bb));
  t.equal(pb.length, 1, 'ended after 1');
  t.equal(pb[0]?.data.length, 50 + ICMP.length, '--outer datagram');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(running, 0, 'native capture stopped with the last stream');

  for (const [q, re] of [
    ['filter=port+x', /^bad filter "port x": expected a port/],
    ['count=0', /^count: expected a positive integer/],
    ['seconds=abc', /^seconds: expected a positive number/],
    ['outer=maybe', /^outer: expected/],
  ] as const) {
    const r = await fetch(`${base}?${q}`);
    t.equal(r.status, 400, q);
    t.match(await r.text(), re);
  }
  const started = Date.now();
  const timed = await fetch(`${base}?seconds=0.3`);
  const body = Buffer.from(await timed.arrayBuffer());
  t.ok(Date.now() - started >= 250, 'ended by time');
  t.same(new PcapngReader().push(body), [], 'headers only, no packets');
});

t.test('the js engine cannot capture: 501', async (t) => {
  const admin = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    { status: () => ({}) as never, ready: () => true, pcap: { outer: () => ({ publicIP: '1.1.1.1', port: 8472, vni: 1 }), device: 'vxtun0' } },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const r = await fetch(`http://${admin.address}/debug/pcap`);
  t.equal(r.status, 501);
  t.match(await r.text(), /needs the native engine/);
});
