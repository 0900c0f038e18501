// The handover's old process sends fds on the unix socket its net.Server accepted, through the native fdPassing
// (src/dataplane/addon.ts NativeFdPassing), which needs that socket's fd: node exposes it, undocumented, as
// `socket._handle.fd` (a Pipe handle's fd). This pins that on the Node we run: a number ≥ 0 on both ends of a
// connected unix stream socket, and -1 or absent nowhere once connected.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';

const handleFd = (s: net.Socket): unknown => (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;

t.test('net.Socket._handle.fd is the fd of a connected unix socket, on both ends', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vxtun-sockfd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer(resolve);
    t.teardown(() => server.close());
    server.listen(path.join(dir, 's.sock'));
  });
  await new Promise((r) => setTimeout(r, 10));
  const client = net.connect(path.join(dir, 's.sock'));
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const server = await accepted;
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  for (const [name, s] of [
    ['accepted', server],
    ['client', client],
  ] as const) {
    const fd = handleFd(s);
    t.type(fd, 'number', `${name}: _handle.fd is a number`);
    t.ok(Number.isInteger(fd) && (fd as number) > 2, `${name}: _handle.fd ${String(fd)} is a real fd`);
  }
  t.not(handleFd(server), handleFd(client), 'two ends, two fds');
});
