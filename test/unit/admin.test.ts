// The admin HTTP server against hostile requests: every malformed request gets a 4xx (or the connection is
// closed) and the server keeps answering. A throw that escaped a handler would end this test process.
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { startAdminServer, startAdminSocket } from '../../src/admin/server.js';
import { silentLogger } from '../../src/log.js';
import { unixGet } from '../helpers/unix-http.js';

/** Sends `raw` on a fresh connection and resolves with the first response line ('' when closed without one). */
function rawRequest(port: number, raw: string | Buffer, timeoutMs = 10_000): Promise<string> {
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
  const admin = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    { status: () => ({}) as never, ready: () => true },
    silentLogger,
  );
  t.teardown(() => admin.close());
  const port = Number(admin.address.split(':').pop());
  for (const target of ['//', '///', '//@', 'http://x', 'http://x/healthz', '*', '/%', '/healthz?%%%']) {
    const line = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.match(
      line,
      target.startsWith('/') && !target.startsWith('//') ? /^HTTP\/1\.1 (200|404)/ : /^HTTP\/1\.1 400 /,
      `GET ${target} → ${line}`,
    );
  }
  t.match(
    await rawRequest(port, 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'),
    /^HTTP\/1\.1 405 /,
    'POST → 405',
  );
  t.match(
    await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nX: ' + 'a'.repeat(20_000) + '\r\n\r\n'),
    /^HTTP\/1\.1 431 /,
    'a 20 kB header → 431',
  );
  t.match(await rawRequest(port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /, 'a garbage request line → 400');
  t.match(
    await rawRequest(port, Buffer.from([0, 1, 2, 0xff, 13, 10, 13, 10])),
    /^(HTTP\/1\.1 400 .*|)$/,
    'binary → 400 or closed',
  );
  t.match(
    await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
    /^HTTP\/1\.1 200 /,
    '/healthz still answers',
  );
});

/** A temporary directory with a short path (a socket path has at most 107 bytes; tap's fixture paths are longer). */
function shortDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-admin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const handlers = { status: () => ({ node: 'n' }) as never, ready: () => true };

t.test('TCP serves /healthz, /readyz and /metrics only; the unix socket serves /status too', async (t) => {
  const metrics = { contentType: 'text/plain; version=0.0.4', render: async () => 'vxtun_peers 0\n' };
  const tcp = await startAdminServer({ host: '127.0.0.1', port: 0 }, { ...handlers, metrics }, silentLogger);
  t.teardown(() => tcp.close());
  const port = Number(tcp.address.split(':').pop());
  for (const [path, code] of [
    ['/healthz', 200],
    ['/readyz', 200],
    ['/metrics', 200],
    ['/status', 404],
    ['/debug/pcap', 404],
    ['/debug/pcap?count=1', 404],
  ] as const) {
    t.match(
      await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
      new RegExp(`^HTTP/1\\.1 ${code} `),
      `TCP ${path} → ${code}`,
    );
  }
  const sock = await startAdminSocket(join(shortDir(t), 'admin.sock'), { ...handlers, metrics }, silentLogger);
  t.teardown(() => sock.close());
  for (const path of ['/healthz', '/readyz', '/metrics', '/status'])
    t.equal((await unixGet(sock.address, path)).status, 200, `socket ${path} → 200`);
  t.equal(
    (await unixGet(sock.address, '/debug/pcap')).status,
    404,
    'socket /debug/pcap without a capture source → 404',
  );
});

t.test(
  'the unix socket: 0600 in a created 0700 directory, stale replaced, live kept, symlinks refused, removed on close',
  async (t) => {
    const dir = shortDir(t);
    writeFileSync(join(dir, 'target.txt'), 'keep me');
    const path = join(dir, 'run', 'vxtun', 'vxtun.sock');
    const a = await startAdminSocket(path, handlers, silentLogger);
    t.equal(lstatSync(path).mode & 0o777, 0o600, 'socket mode 0600');
    t.ok(lstatSync(path).isSocket(), 'a socket');
    t.equal(statSync(dirname(path)).mode & 0o777, 0o700, 'created parent directory mode 0700');
    t.equal((await unixGet(path, '/status')).status, 200);

    await t.rejects(
      startAdminSocket(path, handlers, silentLogger),
      /another process \(a running vxtun\?\) answers/,
      'a live socket is not taken over',
    );
    t.equal((await unixGet(path, '/healthz')).status, 200, 'the first server still answers');
    await a.close();
    t.throws(() => lstatSync(path), { code: 'ENOENT' }, 'removed on close');

    // A dead daemon's socket: bound, never listened on, never removed.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    t.ok(lstatSync(path).isSocket(), 'a stale socket file');
    const b = await startAdminSocket(path, handlers, silentLogger);
    t.equal((await unixGet(path, '/healthz')).status, 200, 'the stale socket was replaced');
    await b.close();

    symlinkSync(join(dir, 'target.txt'), path);
    await t.rejects(
      startAdminSocket(path, handlers, silentLogger),
      /is a symbolic link; refusing/,
      'a symlink at the path: refused',
    );
    t.ok(lstatSync(path).isSymbolicLink(), 'the symlink is left alone');
    t.equal(readFileSync(join(dir, 'target.txt'), 'utf8'), 'keep me', 'its target untouched');
    unlinkSync(path);
    writeFileSync(path, 'a file');
    await t.rejects(
      startAdminSocket(path, handlers, silentLogger),
      /exists and is not a socket/,
      'a regular file: refused',
    );
    t.equal(readFileSync(path, 'utf8'), 'a file', 'and left alone');
  },
);
