// A FakeApiServer in its own process (test/helpers/fixtures/fake-apiserver-main.ts), driven over a unix socket:
// inside a lab node namespace (where vxtun reaches it on that namespace's 127.0.0.1), or in the root namespace on
// 127.0.0.1 for the benchmark.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, NsProcess } from '../../src/lab/index.js';
import type { Json, RecordedRequest } from './fake-apiserver.js';

const MAIN = fileURLToPath(new URL('./fixtures/fake-apiserver-main.ts', import.meta.url));

export class RemoteFakeApi {
  constructor(
    readonly port: number,
    readonly socketPath: string,
    readonly stopProcess: () => Promise<void>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const body = JSON.stringify({ method, args });
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, method: 'POST', path: '/call', headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { result?: T; error?: string };
            if (r.error !== undefined) reject(new Error(`fake API ${method}: ${r.error}`));
            else resolve(r.result as T);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  upsertNode = (n: Json) => this.call<Json>('upsertNode', n);
  upsertNodes = (ns: Json[]) => this.call<number>('upsertNodes', ns);
  patchNode = (name: string, p: Json) => this.call<Json>('patchNode', name, p);
  deleteNode = (name: string) => this.call<boolean>('deleteNode', name);
  getNode = (name: string) => this.call<Json | null>('getNode', name);
  stop = () => this.call('stop');
  resume = (opts?: { compact?: boolean }) => this.call('resume', opts);
  requests = () => this.call<RecordedRequest[]>('requests');
}

async function waitListening(proc: NsProcess | { waitForOutput: NsProcess['waitForOutput'] }): Promise<number> {
  const text = await proc.waitForOutput(/"event":"listening","port":\d+/, 30_000);
  const m = /"event":"listening","port":(\d+)/.exec(text);
  return Number(m![1]);
}

/** Starts a fake API server inside namespace `ns` of `lab`, listening on 127.0.0.1 there. */
export async function startFakeApiInNs(lab: Lab, ns: string, opts: { token?: string } = {}): Promise<RemoteFakeApi> {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-fakeapi-'));
  const sock = join(dir, 'control.sock');
  const args = ['--import=@tapjs/typescript/import', MAIN, '--control', sock, '--host', '127.0.0.1'];
  if (opts.token) args.push('--token', opts.token);
  const proc = lab.spawn(ns, process.execPath, args);
  void proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  const port = await waitListening(proc);
  return new RemoteFakeApi(port, sock, async () => void (await proc.stop('SIGTERM', 5_000)));
}

/** Starts a fake API server as a child process in this namespace, on 127.0.0.1. */
export async function startFakeApiProcess(opts: { token?: string } = {}): Promise<RemoteFakeApi> {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-fakeapi-'));
  const sock = join(dir, 'control.sock');
  const args = ['--import=@tapjs/typescript/import', MAIN, '--control', sock, '--host', '127.0.0.1'];
  if (opts.token) args.push('--token', opts.token);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake API server did not start: ${out}`)), 30_000);
    const check = () => {
      const m = /"event":"listening","port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`fake API server exited: ${out}`)));
  });
  return new RemoteFakeApi(port, sock, async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
}
