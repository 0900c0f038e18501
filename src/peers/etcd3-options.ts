// How src/peers/etcd3-store.ts configures the npm `etcd3` client (README "etcd mode"), as pure functions of the
// `peers.etcd` section: every unary call carries a deadline; no circuit breaker (etcd3's default keeps a host shut for
// 5 s after three failures, so list() would fail for seconds after etcd is back); a failed call moves on to the next
// endpoint once each, then rejects (the peer source retries with its own backoff); grpc-js reconnects within 1 s.
import type { IOptions } from 'etcd3';
import { ConfigError } from '../errors.js';
import type { EtcdSection } from './etcd-section.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
/** etcd3 types its policies as cockatiel's; it only ever calls execute() and ignores the context. */
type Policy = NonNullable<FaultHandling['global']>;

/** The PEM files of `peers.etcd.tls`, read. */
export interface EtcdTlsPem {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** grpc-js channel options (names as in grpc's channel arguments). */
export const ETCD_GRPC_OPTIONS = {
  // After etcd returns, a channel in backoff would wait up to grpc-js's 120 s maximum before trying again.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // A watch on a connection that died silently (no RST) is noticed within ~15 s. etcd refuses pings more often than
  // every 5 s (its --grpc-keepalive-min-time).
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  // A list of many leases in one response (grpc-js's default limit is 4 MiB).
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
} as const;

/** Runs the call once. */
export const passThroughPolicy: Policy = policyOf((fn) => fn());

/**
 * Runs the call, and again on the next endpoint (etcd3 picks a new host per attempt) while it fails with an error
 * etcd3 counts as transient, at most `attempts` times in all.
 */
export function nextEndpointPolicy(attempts: number, transient: (err: unknown) => boolean): Policy {
  return policyOf(async (fn) => {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (i >= attempts || !transient(err)) throw err;
      }
    }
  });
}

function policyOf(execute: (fn: () => unknown) => Promise<unknown> | unknown): Policy {
  const never = { dispose() {} };
  const policy = {
    onSuccess: () => never,
    onFailure: () => never,
    execute: (fn: (context: { signal: AbortSignal; attempt: number }) => unknown) =>
      Promise.resolve().then(() => execute(() => fn({ signal: new AbortController().signal, attempt: 0 }))),
  };
  return policy as unknown as Policy;
}

/** The client options for `section`; `transient` is etcd3's isRecoverableError (passed in to keep this pure). */
export function etcd3ClientOptions(
  section: EtcdSection,
  pem: EtcdTlsPem,
  callTimeoutMs: number,
  transient: (err: unknown) => boolean,
): IOptions {
  const https = section.endpoints.filter((e) => e.startsWith('https:')).length;
  if (https > 0 && https < section.endpoints.length) {
    throw new ConfigError('peers.etcd.endpoints', 'mixes http:// and https:// endpoints; use one scheme');
  }
  const options: IOptions = {
    hosts: [...section.endpoints],
    grpcOptions: { ...ETCD_GRPC_OPTIONS },
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      host: () => passThroughPolicy,
      global: nextEndpointPolicy(section.endpoints.length, transient),
    },
  };
  if (pem.ca || pem.cert) {
    options.credentials = {
      // grpc-js's createSsl takes a missing root certificate as "the system's roots".
      rootCertificate: pem.ca as Buffer,
      ...(pem.key ? { privateKey: pem.key } : {}),
      ...(pem.cert ? { certChain: pem.cert } : {}),
    };
  }
  if (section.auth) options.auth = { username: section.auth.username, password: section.auth.password };
  return options;
}

/** The end of etcd's key range for every key starting with `prefix` (etcd's "prefix end"). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte 0xff (or empty): to the end of the keyspace.
  return Buffer.from([0]);
}
