// The admin HTTP server against hostile requests: every malformed request gets a 4xx (or the connection is
// closed) and the server keeps answering. A throw that escaped a handler would end this test process.
import { connect } from 'node:net';
import t from 'tap';
import { startAdminServer } from '../../src/admin.js';
import { silentLogger } from '../../src/log.js';

/** Sends `raw` on a fresh connection and resolves with the first response line ('' when closed without one). */
export function rawRequest(port: number, raw: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no answer within ${timeoutMs} ms`))), timeoutMs);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) sock.destroy();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got.split('\r\n')[0] ?? '');
    });
    sock.write(raw);
  });
}

t.test('malformed requests get 4xx and the server keeps answering', async (t) => {
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { status: () => ({}) as never, ready: () => true }, silentLogger);
  t.teardown(() => admin.close());
  const port = Number(admin.address.split(':').pop());
  for (const target of ['//', '///', '//@', 'http://x', 'http://x/healthz', '*', '/%', '/healthz?%%%']) {
    const line = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.match(line, target.startsWith('/') && !target.startsWith('//') ? /^HTTP\/1\.1 (200|404)/ : /^HTTP\/1\.1 400 /, `GET ${target} → ${line}`);
  }
  t.match(await rawRequest(port, 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'), /^HTTP\/1\.1 405 /, 'POST → 405');
  t.match(await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nX: ' + 'a'.repeat(20_000) + '\r\n\r\n'), /^HTTP\/1\.1 431 /, 'a 20 kB header → 431');
  t.match(await rawRequest(port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /, 'a garbage request line → 400');
  t.match(await rawRequest(port, Buffer.from([0, 1, 2, 0xff, 13, 10, 13, 10])), /^(HTTP\/1\.1 400 .*|)$/, 'binary → 400 or closed');
  t.match(await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 200 /, '/healthz still answers');
});
