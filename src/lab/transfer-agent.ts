#!/usr/bin/env node
// Standalone TCP transfer agent for the testbed (run under `ip netns exec` by src/lab/traffic.ts).
//
//   transfer-agent recv --host IP --port N
//       listens, prints {"event":"listening",…}, accepts one connection, hashes everything it reads and, at EOF,
//       prints {"event":"done","bytes":N,"sha256":"…","seconds":S} and closes.
//   transfer-agent send --host IP --port N --bytes N [--seed S]
//       connects, sends N bytes of seeded pseudo-random data (an AES-256-CTR keystream), half-closes, waits for the
//       receiver to close, and prints {"event":"done",…} for what it sent.
//
// Output is one JSON object per line on stdout; failures print {"event":"error",…} on stderr and exit 1.

import { createCipheriv, createHash } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';

const CHUNK = 256 * 1024;

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function fail(err: unknown): never {
  process.stderr.write(
    `${JSON.stringify({ event: 'error', message: err instanceof Error ? err.message : String(err) })}\n`,
  );
  process.exit(1);
}

function keystream(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`vxtun-lab:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  return (n) => cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n));
}

async function recv(host: string, port: number): Promise<void> {
  const server = net.createServer();
  server.maxConnections = 1;
  const done = new Promise<void>((resolve, reject) => {
    server.once('connection', (sock) => {
      server.close();
      const hash = createHash('sha256');
      let bytes = 0;
      const t0 = process.hrtime.bigint();
      sock.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      sock.once('end', () => {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        emit({ event: 'done', role: 'recv', bytes, sha256: hash.digest('hex'), seconds, peer: sock.remoteAddress });
        sock.end();
      });
      sock.once('close', () => resolve());
      sock.once('error', reject);
    });
    server.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  emit({ event: 'listening', host, port });
  await done;
}

async function send(host: string, port: number, total: number, seed: string): Promise<void> {
  const next = keystream(seed);
  const hash = createHash('sha256');
  const sock = net.connect({ host, port });
  sock.setNoDelay(false);
  let failure: Error | undefined;
  const closed = new Promise<void>((resolve, reject) => {
    sock.once('error', (e) => {
      failure = e;
      reject(e);
    });
    sock.once('close', () => resolve());
  });
  closed.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < total) {
    if (failure) throw failure;
    const n = Math.min(CHUNK, total - sent);
    const buf = next(n);
    hash.update(buf);
    sent += n;
    if (!sock.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error): void => reject(e);
        sock.once('error', onErr);
        sock.once('drain', () => {
          sock.off('error', onErr);
          resolve();
        });
      });
    }
  }
  sock.end();
  sock.resume(); // the receiver sends nothing; read to see its FIN
  await closed;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  emit({ event: 'done', role: 'send', bytes: sent, sha256: hash.digest('hex'), seconds });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      bytes: { type: 'string' },
      seed: { type: 'string', default: '1' },
    },
  });
  const mode = positionals[0];
  const host = values.host;
  const port = Number(values.port);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error('need --host and --port');
  if (mode === 'recv') return recv(host, port);
  if (mode === 'send') {
    const bytes = Number(values.bytes);
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error('need --bytes N');
    return send(host, port, bytes, values.seed ?? '1');
  }
  throw new Error(`usage: transfer-agent recv|send --host IP --port N [--bytes N --seed S]`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => fail(e),
);
