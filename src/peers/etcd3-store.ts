// EtcdStore (src/peers/etcd-store.ts) over the npm `etcd3` client. Owns that client's traps (README "etcd mode"):
// the client options are in src/peers/etcd3-options.ts (deadlines, no circuit breaker, short reconnect backoff), the
// watch in src/peers/etcd3-watch.ts (its own stream, never etcd3's resuming Watcher). Only the raw KV and Lease RPCs
// are used, so every revision comes from a response header.
import { readFile } from 'node:fs/promises';
import { Etcd3, isRecoverableError } from 'etcd3';
import { ConfigError, withContext } from '../errors.js';
import type { EtcdSection } from './etcd-section.js';
import type { EtcdList, EtcdStore, EtcdWatch } from './etcd-store.js';
import { etcd3ClientOptions, prefixRangeEnd, type EtcdTlsPem } from './etcd3-options.js';
import { etcd3Watch } from './etcd3-watch.js';

export interface Etcd3StoreOptions {
  /** The deadline of every call (default 5 s). */
  callTimeoutMs?: number;
}

export const DEFAULT_ETCD_CALL_TIMEOUT_MS = 5000;

/** Reads the PEM files of `peers.etcd.tls`; a ConfigError naming the field of one that cannot be read or is empty. */
export async function readEtcdTls(tls: EtcdSection['tls']): Promise<EtcdTlsPem> {
  const out: EtcdTlsPem = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const path = tls?.[k];
    if (path === undefined) continue;
    let pem: Buffer;
    try {
      pem = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(`peers.etcd.tls.${k}`, `cannot read ${path}: ${code}`);
    }
    if (!pem.toString('latin1').includes('-----BEGIN ')) {
      throw new ConfigError(`peers.etcd.tls.${k}`, `${path} holds no PEM block`);
    }
    out[k] = pem;
  }
  return out;
}

/** Connects lazily; reads the TLS files now (a ConfigError naming `peers.etcd.tls.*` when one cannot be read). */
export async function etcd3Store(section: EtcdSection, options: Etcd3StoreOptions = {}): Promise<EtcdStore> {
  const timeoutMs = options.callTimeoutMs ?? DEFAULT_ETCD_CALL_TIMEOUT_MS;
  const pem = await readEtcdTls(section.tls);
  const client = new Etcd3(etcd3ClientOptions(section, pem, timeoutMs, transient));
  const watches = new Set<EtcdWatch>();
  let closed = false;

  /**
   * Runs one operation under the store's deadline. etcd3 sets the same deadline on each gRPC call, but an operation
   * may be several calls (authentication, the next endpoint), so the whole is bounded here too.
   */
  const call = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    if (closed) throw new Error(`etcd ${what}: the store is closed`);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`etcd ${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([op(), deadline]);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(`etcd ${what}:`)) throw err;
      throw withContext(`etcd ${what}`, err);
    } finally {
      clearTimeout(timer);
    }
  };

  const grant = async (ttlSeconds: number): Promise<string> => {
    if (ttlSeconds === 0) return '0';
    const res = await client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
    if (res.error) throw new Error(`lease grant: ${res.error}`);
    return res.ID;
  };

  const store: EtcdStore = {
    get(key) {
      return call(`get ${key}`, async () => {
        const res = await client.kv.range({ key: Buffer.from(key) });
        return res.kvs[0]?.value.toString();
      });
    },

    list(prefix) {
      return call(`list ${prefix}`, async (): Promise<EtcdList> => {
        const key = Buffer.from(prefix);
        const res = await client.kv.range({ key, range_end: prefixRangeEnd(key) });
        return {
          kvs: res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })),
          revision: BigInt(res.header.revision),
        };
      });
    },

    create(key, value, ttlSeconds) {
      return call(`create ${key}`, async () => {
        checkTtl(ttlSeconds);
        const lease = await grant(ttlSeconds);
        const k = Buffer.from(key);
        const res = await client.kv.txn({
          compare: [{ key: k, target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_put: { key: k, value: Buffer.from(value), lease } }],
          failure: [],
        });
        // Only a transaction known to have failed frees its lease: after an error it may have committed.
        if (!res.succeeded && lease !== '0') await client.leaseClient.leaseRevoke({ ID: lease });
        return res.succeeded;
      });
    },

    put(key, value, ttlSeconds) {
      return call(`put ${key}`, async () => {
        checkTtl(ttlSeconds);
        const lease = await grant(ttlSeconds);
        await client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease });
      });
    },

    delete(key) {
      return call(`delete ${key}`, async () => {
        await client.kv.deleteRange({ key: Buffer.from(key) });
      });
    },

    watch(prefix, fromRevision, handlers) {
      if (closed) throw new Error(`etcd watch ${prefix}: the store is closed`);
      const w: EtcdWatch = etcd3Watch(
        client,
        { prefix, fromRevision, createTimeoutMs: timeoutMs, onEnd: () => watches.delete(w) },
        handlers,
      );
      watches.add(w);
      return w;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...watches].map((w) => w.close()));
      client.close();
    },
  };
  return store;
}

function transient(err: unknown): boolean {
  return err instanceof Error && isRecoverableError(err);
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new RangeError(`etcd lease ttl: expected a whole number of seconds ≥ 0, got ${ttlSeconds}`);
  }
}
