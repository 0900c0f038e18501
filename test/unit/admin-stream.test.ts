// The dump reader's streaming GET: HTTP/1.0 over a plain socket into one reused buffer. Tested
// against node:http (what the admin server is) and against raw sockets that split or garble the
// response head.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import t from 'tap';
import { parseResponseHead, splitHostPort, streamGet } from '../../src/dump/admin-stream.js';

const addrOf = (s: Server | HttpServer) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
const listen = async <S extends Server | HttpServer>(s: S): Promise<S> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
};
const never = () => new AbortController().signal;

t.test('parseResponseHead and splitHostPort', async (t) => {
  const h = parseResponseHead('HTTP/1.1 200 OK\r\nContent-Type: application/x-pcapng\r\nX-A:  b ');
  t.equal(h.status, 200);
  t.equal(h.headers.get('content-type'), 'application/x-pcapng');
  t.equal(h.headers.get('x-a'), 'b');
  t.equal(parseResponseHead('HTTP/1.0 503').status, 503, 'no reason phrase');
  t.throws(() => parseResponseHead('HTTP/2 200 OK'), /malformed status line/);
  t.throws(() => parseResponseHead('SSH-2.0-OpenSSH'), /malformed status line/);
  t.throws(() => parseResponseHead('HTTP/1.1 200 OK\r\nno colon here'), /malformed header line/);
  t.same(splitHostPort('127.0.0.1:9090'), { host: '127.0.0.1', port: 9090 });
  t.same(splitHostPort('[::1]:9090'), { host: '::1', port: 9090 });
  t.same(splitHostPort('localhost:1'), { host: 'localhost', port: 1 });
});

t.test('a long body from node:http arrives whole, in order, unchunked', async (t) => {
  // 64 writes of 64 KiB with distinct contents, as the pcap stream writes blocks.
  const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 << 10, i + 1));
  let version = '';
  const srv = await listen(
    createHttpServer((req, res) => {
      version = req.httpVersion;
      res.writeHead(200, { 'content-type': 'application/x-pcapng' });
      let i = 0;
      const next = () => {
        while (i < parts.length) if (!res.write(parts[i++]!)) return void res.once('drain', next);
        res.end();
      };
      next();
    }),
  );
  t.teardown(() => srv.close());
  const r = await streamGet(splitHostPort(addrOf(srv)), '/debug/pcap?count=1', never());
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/x-pcapng');
  t.notOk(r.headers.has('transfer-encoding'), 'HTTP/1.0: the server does not chunk');
  const got: Buffer[] = [];
  const views = new Set<ArrayBuffer>();
  let slow = 0;
  await r.body((c) => {
    got.push(Buffer.from(c));
    views.add(c.buffer as ArrayBuffer);
    // Every 5th chunk the consumer is slow: reads must wait for it (and keep their order).
    if (++slow % 5 === 0) return new Promise((res) => setTimeout(res, 5));
  });
  t.equal(version, '1.0');
  t.ok(Buffer.concat(got).equals(Buffer.concat(parts)), 'byte for byte');
  t.ok(views.size <= 2, `body chunks are views into the reused read buffer (${views.size} backing buffers)`);
});

t.test('an error answer is read as text', async (t) => {
  const srv = await listen(
    createHttpServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('filter: unknown word "hots"\n');
    }),
  );
  t.teardown(() => srv.close());
  const r = await streamGet(splitHostPort(addrOf(srv)), '/debug/pcap?filter=hots', never());
  t.equal(r.status, 400);
  t.equal(await r.text(), 'filter: unknown word "hots"');
});

t.test('a head split into single bytes, with body bytes in its last read', async (t) => {
  const head = 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nBODY-';
  const srv = await listen(
    createNetServer((s) => {
      s.setNoDelay(true);
      let i = 0;
      const tick = setInterval(() => {
        if (i < head.length) return void s.write(head[i++]!);
        clearInterval(tick);
        s.end('REST');
      }, 1);
    }),
  );
  t.teardown(() => srv.close());
  const r = await streamGet(splitHostPort(addrOf(srv)), '/', never());
  t.equal(r.status, 200);
  t.equal(await r.text(), 'BODY-REST');
});

t.test('failures: refused, garbled, chunked, closed early, aborted, consumer error', async (t) => {
  const refusedSrv = await listen(createNetServer());
  const refused = addrOf(refusedSrv);
  await new Promise((r) => refusedSrv.close(r));
  await t.rejects(streamGet(splitHostPort(refused), '/', never()), { code: 'ECONNREFUSED' });

  const reply = (text: string, end = true) => listen(createNetServer((s) => (end ? s.end(text) : s.write(text))));
  const garbled = await reply('SSH-2.0-OpenSSH_9.2\r\n\r\n');
  const chunked = await reply('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  const early = await reply('HTTP/1.1 200 O');
  const silent = await reply('', false);
  const streaming = await reply('HTTP/1.1 200 OK\r\n\r\nsome body', false);
  t.teardown(() => [garbled, chunked, early, silent, streaming].forEach((s) => s.close()));
  await t.rejects(streamGet(splitHostPort(addrOf(garbled)), '/', never()), /malformed status line/);
  await t.rejects(streamGet(splitHostPort(addrOf(chunked)), '/', never()), /unexpected chunked body/);
  await t.rejects(streamGet(splitHostPort(addrOf(early)), '/', never()), /closed before a response/);

  const ac = new AbortController();
  const pending = streamGet(splitHostPort(addrOf(silent)), '/', ac.signal);
  setTimeout(() => ac.abort(), 20);
  await t.rejects(pending, /aborted/, 'abort while waiting for the head');

  const ac2 = new AbortController();
  const r = await streamGet(splitHostPort(addrOf(streaming)), '/', ac2.signal);
  const seen: string[] = [];
  const body = r.body((c) => void seen.push(c.toString()));
  setTimeout(() => ac2.abort(), 20);
  await t.resolves(body, 'abort during the body ends it quietly');
  t.same(seen, ['some body']);

  const r2 = await streamGet(splitHostPort(addrOf(streaming)), '/', never());
  await t.rejects(
    r2.body(() => Promise.reject(new Error('disk full'))),
    /disk full/,
    'a failing consumer ends the read with its error',
  );
});
