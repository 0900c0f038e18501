// The seam between the etcd peer source (src/peers/etcd.ts) and etcd itself: the few calls flannel's layout needs,
// batch-shaped, with revisions as bigints. The implementation over the npm `etcd3` client is src/peers/etcd3-store.ts;
// it owns every trap of that client (README "etcd mode"), so the source sees one rule: a watch either delivers every
// event after `fromRevision`, in order, or reports one error and stops; the source then lists again.

export interface EtcdKeyValue {
  key: string;
  value: string;
}

export interface EtcdEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value of a put; '' for a delete. */
  value: string;
}

export interface EtcdList {
  kvs: EtcdKeyValue[];
  /** The store's revision the list was read at: watch from revision + 1. */
  revision: bigint;
}

export interface EtcdWatchHandlers {
  /** The events of one watch response, in order, and that response's header revision. */
  events(events: EtcdEvent[], revision: bigint): void;
  /**
   * The watch has ended and will not resume: compaction (`compacted` true: the events after fromRevision are gone),
   * a disconnect, a cancel by the server. Called at most once, never after close().
   */
  error(err: EtcdWatchError): void;
}

export class EtcdWatchError extends Error {
  override name = 'EtcdWatchError';
  constructor(
    message: string,
    readonly compacted = false,
  ) {
    super(message);
  }
}

export interface EtcdWatch {
  /** Stops the watch; no handler is called after it resolves. */
  close(): Promise<void>;
}

/**
 * Every call rejects (never hangs longer than the store's call deadline) when etcd cannot be reached; the caller
 * retries with its own backoff.
 */
export interface EtcdStore {
  get(key: string): Promise<string | undefined>;
  /** Every key under `prefix`, at one revision. */
  list(prefix: string): Promise<EtcdList>;
  /**
   * Grants a lease of `ttlSeconds` and creates `key` on it only if the key does not exist (a transaction comparing
   * its version with 0). false when it existed (the lease is then revoked).
   */
  create(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Grants a new lease of `ttlSeconds` and puts `key` on it (flannel's renewal is this, not a keep-alive). */
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Watches every key under `prefix` from `fromRevision` (inclusive). */
  watch(prefix: string, fromRevision: bigint, handlers: EtcdWatchHandlers): EtcdWatch;
  close(): Promise<void>;
}
