// An in-memory etcd behind the EtcdStore seam (src/peers/etcd-store.ts), with etcd's semantics where the etcd source
// relies on them: one revision counter (a list reads the store's revision; every write or lease expiry is one
// revision), create = a transaction on version == 0, a put moves the key to a new lease (the old one keeps nothing),
// leases expire on real timers (fractional TTLs allowed), a watch delivers every event from `fromRevision` inclusive
// in order (an error `compacted` when those are gone), each revision as one response. Failure injection: while
// `down`, every call rejects and every watch ends with an error. Each client() is a view with its own close().
import {
  EtcdWatchError,
  type EtcdEvent,
  type EtcdList,
  type EtcdStore,
  type EtcdWatch,
  type EtcdWatchHandlers,
} from '../../src/peers/etcd-store.js';

interface Kv {
  value: string;
  lease?: number;
}

interface Watcher {
  prefix: string;
  next: bigint;
  handlers: EtcdWatchHandlers;
  closed: boolean;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export class MemoryEtcd {
  revision = 1n;
  compacted = 0n;
  readonly kvs = new Map<string, Kv>();
  readonly #history: { rev: bigint; events: EtcdEvent[] }[] = [];
  readonly #leases = new Map<number, NodeJS.Timeout>();
  #leaseId = 0;
  #down = false;
  readonly #watchers = new Set<Watcher>();
  /** Calls per operation, for assertions. */
  readonly calls = { get: 0, list: 0, create: 0, put: 0, delete: 0, watch: 0 };
  /** Runs before a create's transaction (a test can take the key first). */
  beforeCreate: ((key: string) => void) | undefined;

  get down(): boolean {
    return this.#down;
  }

  /** While down, calls reject and watches end (as a disconnect). */
  setDown(down: boolean): void {
    this.#down = down;
    if (down) for (const w of [...this.#watchers]) this.#end(w, new EtcdWatchError('etcd unavailable'));
  }

  // ---- direct access (an operator's etcdctl: works while "down") ----

  putNow(key: string, value: string, ttlSeconds?: number): void {
    const old = this.kvs.get(key);
    const kv: Kv = { value };
    if (ttlSeconds !== undefined) kv.lease = this.#grant(ttlSeconds);
    this.kvs.set(key, kv);
    void old;
    this.#commit([{ type: 'put', key, value }]);
  }

  deleteNow(key: string): boolean {
    if (!this.kvs.has(key)) return false;
    this.kvs.delete(key);
    this.#commit([{ type: 'delete', key, value: '' }]);
    return true;
  }

  /** Drops the history up to `rev` (default: the current revision); watches from before it end as compacted. */
  compact(rev = this.revision): void {
    this.compacted = rev;
    const keep = this.#history.filter((h) => h.rev > rev);
    this.#history.length = 0;
    this.#history.push(...keep);
    for (const w of [...this.#watchers]) {
      if (w.next <= rev)
        this.#end(w, new EtcdWatchError('etcdserver: mvcc: required revision has been compacted', true));
    }
  }

  /** Revokes every lease: their keys go, as at expiry. */
  close(): void {
    for (const t of this.#leases.values()) clearTimeout(t);
    this.#leases.clear();
    for (const w of [...this.#watchers]) w.closed = true;
    this.#watchers.clear();
  }

  // ---- internals ----

  #grant(ttlSeconds: number): number {
    const id = ++this.#leaseId;
    const t = setTimeout(() => this.#expire(id), ttlSeconds * 1000);
    t.unref();
    this.#leases.set(id, t);
    return id;
  }

  #expire(id: number): void {
    this.#leases.delete(id);
    const events: EtcdEvent[] = [];
    for (const [key, kv] of this.kvs) {
      if (kv.lease === id) {
        this.kvs.delete(key);
        events.push({ type: 'delete', key, value: '' });
      }
    }
    if (events.length > 0) this.#commit(events);
  }

  #revoke(id: number | undefined): void {
    if (id === undefined) return;
    clearTimeout(this.#leases.get(id));
    this.#leases.delete(id);
  }

  #commit(events: EtcdEvent[]): void {
    this.revision++;
    const h = { rev: this.revision, events };
    this.#history.push(h);
    for (const w of this.#watchers) this.#deliver(w);
  }

  #deliver(w: Watcher): void {
    // Asynchronously, in order: the watcher's `next` advances as responses are queued.
    for (const h of this.#history) {
      if (h.rev < w.next) continue;
      const events = h.events.filter((e) => e.key.startsWith(w.prefix));
      w.next = h.rev + 1n;
      if (events.length === 0) continue;
      setImmediate(() => {
        if (!w.closed) w.handlers.events(events, h.rev);
      });
    }
  }

  #end(w: Watcher, err: EtcdWatchError): void {
    this.#watchers.delete(w);
    setImmediate(() => {
      if (w.closed) return;
      w.closed = true;
      w.handlers.error(err);
    });
  }

  async #op<T>(name: keyof MemoryEtcd['calls'], fn: () => T): Promise<T> {
    this.calls[name]++;
    await tick();
    if (this.#down) throw new Error('etcd unavailable (connection refused)');
    const r = fn();
    await tick();
    return r;
  }

  /** A client of this etcd. */
  client(): EtcdStore & { closed: boolean } {
    const mine = new Set<Watcher>();
    const view = {
      closed: false,
      get: (key: string) => this.#op('get', () => this.kvs.get(key)?.value),
      list: (prefix: string) =>
        this.#op('list', (): EtcdList => {
          const kvs = [...this.kvs]
            .filter(([k]) => k.startsWith(prefix))
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([key, kv]) => ({ key, value: kv.value }));
          return { kvs, revision: this.revision };
        }),
      create: async (key: string, value: string, ttlSeconds: number) => {
        this.calls.create++;
        await tick();
        if (this.#down) throw new Error('etcd unavailable (connection refused)');
        this.beforeCreate?.(key);
        if (this.kvs.has(key)) return false;
        this.kvs.set(key, { value, lease: this.#grant(ttlSeconds) });
        this.#commit([{ type: 'put', key, value }]);
        await tick();
        return true;
      },
      put: (key: string, value: string, ttlSeconds: number) =>
        this.#op('put', () => {
          this.kvs.set(key, { value, lease: this.#grant(ttlSeconds) });
          this.#commit([{ type: 'put', key, value }]);
        }),
      delete: (key: string) =>
        this.#op('delete', () => {
          const kv = this.kvs.get(key);
          if (kv) {
            this.kvs.delete(key);
            this.#revoke(kv.lease);
            this.#commit([{ type: 'delete', key, value: '' }]);
          }
        }),
      watch: (prefix: string, fromRevision: bigint, handlers: EtcdWatchHandlers): EtcdWatch => {
        this.calls.watch++;
        const w: Watcher = { prefix, next: fromRevision, handlers, closed: false };
        mine.add(w);
        if (this.#down) this.#end(w, new EtcdWatchError('etcd unavailable'));
        else if (fromRevision <= this.compacted) {
          this.#end(w, new EtcdWatchError('etcdserver: mvcc: required revision has been compacted', true));
        } else {
          this.#watchers.add(w);
          this.#deliver(w);
        }
        return {
          close: async () => {
            w.closed = true;
            this.#watchers.delete(w);
            mine.delete(w);
            await tick();
          },
        };
      },
      close: async () => {
        view.closed = true;
        for (const w of mine) {
          w.closed = true;
          this.#watchers.delete(w);
        }
        await tick();
      },
    };
    return view;
  }
}
