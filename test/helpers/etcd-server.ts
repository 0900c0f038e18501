// A real etcd (Debian's etcd-server 3.4) for tests, inside a lab namespace: data in a directory under the lab's own,
// started and stopped by PID through the lab (so the lab's teardown stops it too), driven with etcdctl in the same
// namespace. Clients in other lab namespaces reach it at `url` over the underlay.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, NsProcess } from '../../src/lab/index.js';

export interface EtcdServerOptions {
  /** The namespace etcd runs in (a lab node or a lab host on the underlay). */
  ns: string;
  /** The address it listens on inside `ns` (clients: http://ADDRESS:2379). */
  address: string;
  /** Directory name under lab.dir; default 'etcd'. */
  name?: string;
  /**
   * Serve clients over TLS (https://ADDRESS:2379) and require a client certificate signed by `ca`; PEM file paths.
   * etcdctl then uses `cert`/`key` (a certificate good for both server and client auth).
   */
  tls?: { ca: string; cert: string; key: string };
}

export interface EtcdServer {
  readonly url: string;
  readonly ns: string;
  readonly dataDir: string;
  running(): boolean;
  /** Starts it (again, on the same data), and waits until `endpoint health` passes. */
  start(): Promise<void>;
  /** Stops it by PID (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** etcdctl in the namespace against this server; the trimmed stdout. */
  ctl(args: readonly string[], input?: string): Promise<string>;
  /** The current revision. */
  revision(): Promise<bigint>;
  /** Compacts up to the current revision (physically); returns it. */
  compact(): Promise<bigint>;
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Every key under prefix with its value. */
  list(prefix: string): Promise<Map<string, string>>;
  del(key: string, opts?: { prefix?: boolean }): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 20_000;

export async function startEtcd(lab: Lab, opts: EtcdServerOptions): Promise<EtcdServer> {
  const host = opts.address.includes(':') ? `[${opts.address}]` : opts.address;
  const client = `${opts.tls ? 'https' : 'http'}://${host}:2379`;
  const peer = `http://${host}:2380`;
  const dataDir = join(lab.dir, opts.name ?? 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let proc: NsProcess | undefined;
  const env = { ...process.env, ETCDCTL_API: '3' };

  const ctl = async (args: readonly string[], input?: string): Promise<string> => {
    const tlsArgs = opts.tls ? ['--cacert', opts.tls.ca, '--cert', opts.tls.cert, '--key', opts.tls.key] : [];
    const r = await lab.exec(opts.ns, 'etcdctl', ['--endpoints', client, '--command-timeout=5s', ...tlsArgs, ...args], {
      env,
      ...(input !== undefined ? { input } : {}),
    });
    return r.stdout.trim();
  };

  const start = async (): Promise<void> => {
    if (proc?.running()) return;
    proc = lab.spawn(
      opts.ns,
      'etcd',
      [
        '--name',
        'n1',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `n1=${peer}`,
        '--log-level',
        'warn',
        ...(opts.tls
          ? [
              '--cert-file',
              opts.tls.cert,
              '--key-file',
              opts.tls.key,
              '--client-cert-auth',
              '--trusted-ca-file',
              opts.tls.ca,
            ]
          : []),
      ],
      // etcd 3.4 refuses to start on arm64 unless told it may.
      process.arch === 'arm64' ? { env: { ...process.env, ETCD_UNSUPPORTED_ARCH: 'arm64' } } : {},
    );
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    for (;;) {
      if (!proc.running()) throw new Error(`etcd exited: ${proc.stderr().slice(-500)}`);
      try {
        await ctl(['endpoint', 'health']);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd not healthy after ${HEALTH_TIMEOUT_MS} ms: ${String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const revision = async (): Promise<bigint> => {
    const out = JSON.parse(await ctl(['endpoint', 'status', '-w', 'json'])) as {
      Status: { header: { revision: number } };
    }[];
    return BigInt(out[0]?.Status.header.revision ?? 0);
  };

  const server: EtcdServer = {
    url: client,
    ns: opts.ns,
    dataDir,
    running: () => proc?.running() === true,
    start,
    async stop() {
      await proc?.stop('SIGTERM', 3000);
    },
    ctl,
    revision,
    async compact() {
      const rev = await revision();
      await ctl(['compact', '--physical', String(rev)]);
      return rev;
    },
    async put(key, value) {
      // The value on stdin: it may start with '-' or hold anything.
      await ctl(['put', key], value);
    },
    async get(key) {
      const out = await ctl(['get', key, '--print-value-only']);
      return out === '' ? undefined : out;
    },
    async list(prefix) {
      const out = JSON.parse(await ctl(['get', prefix, '--prefix', '-w', 'json'])) as {
        kvs?: { key: string; value: string }[];
      };
      const m = new Map<string, string>();
      for (const kv of out.kvs ?? []) {
        m.set(Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString());
      }
      return m;
    },
    async del(key, o = {}) {
      await ctl(['del', key, ...(o.prefix ? ['--prefix'] : [])]);
    },
    async close() {
      await proc?.stop('SIGTERM', 3000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await start();
  return server;
}
