// A Node informer that keeps going. @kubernetes/client-node 1.4's ListWatch (what makeInformer returns) lists, then
// watches from the list's resourceVersion, re-watches when the server ends a stream, and relists after 410 Gone —
// but on any other error (connection refused, a 5xx, a failed list) it emits `error` and stops for good, and its
// own stop() emits an error too ("The user aborted a request."). test/helpers/fake-apiserver.ts
// serves each case and test/unit/kube-source.test.ts drives them. This wrapper:
//
//   1. restarts the ListWatch after an error with capped exponential backoff (it resumes from the last
//      resourceVersion, so nothing is relisted unless the server answers 410), and ignores errors after stop();
//   2. lists in pages (limit/continue), so a 5,000-node list is not one giant response;
//   3. asks for bookmarks (which keep the resourceVersion fresh, so a resumed watch rarely meets 410) and for a
//      server-side watch timeout; a watch that stays silent past that timeout plus a margin is treated as dead;
//   4. slows down a server that ends every watch at once without sending anything (1.4 re-watches immediately,
//      kubernetes-client/javascript#1933);
//   5. tracks the connection state for /status;
//   6. leaves nothing behind once stopped: the list request is aborted (stopSignal), the watch request too, even
//      before its response headers (ListWatch cannot abort that one: its agent is destroyed), and no timer is
//      armed after the end. A request left in flight against a hung API server would keep the process alive: a
//      shutdown that hangs (see test/unit/kube-source-stop.test.ts).
import {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  Observable,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
  type V1Node,
  type V1NodeList,
} from '@kubernetes/client-node';
import { clip, type Logger } from '../log.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy } from './backoff.js';

export interface NodeInformerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Restarts after errors, and delays after watches that end at once. */
  backoff?: BackoffPolicy;
  /** Page size of the list (limit). Default 500. */
  pageSize?: number;
  /** Server-side watch timeout; each watch asks for a random value in [t, 2t). Default 300 s. */
  watchTimeoutSeconds?: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is aborted and restarted. Default 2t + 30 s. */
  idleTimeoutMs?: number;
  /** Applied to every Node before the cache keeps it (keep what you read; see trimNode). Default: keep all. */
  trim?: (node: V1Node) => V1Node;
}

export interface NodeEvents {
  /** A node was added or changed. */
  upsert(node: V1Node): void;
  /** A node was deleted (also: it vanished between two lists). */
  remove(node: V1Node): void;
  /** A full list has been applied: every upsert/remove it caused has been delivered. */
  listed(): void;
}

export interface ConnectionState {
  connected: boolean;
  lastError?: string;
}

/** A short description of a client error: "HTTP 403: nodes is forbidden…", "connect ECONNREFUSED 127.0.0.1:6443". */
export function describeKubeError(err: unknown): string {
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; type?: unknown };
  const status = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) {
    const body = e.body as { message?: unknown } | string | undefined;
    const detail = typeof body === 'object' && body && typeof body.message === 'string' ? body.message : undefined;
    const text = typeof e.message === 'string' && !e.message.startsWith('HTTP-Code') ? e.message : undefined;
    return clip(`HTTP ${status}${detail ? `: ${detail}` : text ? `: ${text}` : ''}`);
  }
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  const reason = /, reason: (.*)$/.exec(msg);
  return clip(reason?.[1] ?? msg);
}

/**
 * Request options (the generated API's second argument) that abort the request when `signal` aborts, merged with
 * `opt` (e.g. setHeaderOptions(…)).
 */
export function abortOn(signal: AbortSignal, opt?: ConfigurationOptions): ConfigurationOptions {
  const pass = <T>(x: T): Observable<T> => new Observable(Promise.resolve(x));
  const middleware = {
    pre: (request: RequestContext): Observable<RequestContext> => {
      request.setSignal(signal);
      return pass(request);
    },
    post: (response: ResponseContext): Observable<ResponseContext> => pass(response),
  };
  return { ...opt, middleware: [...(opt?.middleware ?? []), middleware], middlewareMergeStrategy: 'append' };
}

const NODES_PATH = '/api/v1/nodes';
/** A watch that ends within this time having delivered nothing counts as "ended at once". */
const QUICK_CLOSE_MS = 1_000;

export class NodeInformer {
  readonly #opts: Required<Omit<NodeInformerOptions, 'kubeConfig' | 'logger' | 'trim'>>;
  readonly trim: (node: V1Node) => V1Node;
  readonly #log: Logger;
  readonly #events: NodeEvents;
  readonly #core: CoreV1Api;
  readonly #lw: ListWatch<V1Node>;
  #started = false;
  #stopped = false;
  readonly #stopSignal = new AbortController();
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #quickCloses = 0;
  #state: ConnectionState = { connected: false };

  constructor(opts: NodeInformerOptions, events: NodeEvents) {
    const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
    this.#opts = {
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds,
      idleTimeoutMs: opts.idleTimeoutMs ?? (2 * watchTimeoutSeconds + 30) * 1000,
    };
    this.trim = opts.trim ?? ((n) => n);
    this.#log = opts.logger;
    this.#events = events;
    this.#core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#lw = new ListWatch<V1Node>(NODES_PATH, new GuardedWatch(opts.kubeConfig, this), () => this.#list(), false);
    this.#lw.on('add', (n) => this.#events.upsert(n));
    this.#lw.on('update', (n) => this.#events.upsert(n));
    this.#lw.on('delete', (n) => this.#events.remove(n));
    this.#lw.on('error', (err: unknown) => this.#onError(err));
  }

  /** Lists and starts watching. Idempotent. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#startListWatch();
  }

  /** Stops for good: no more events, no more requests. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopSignal.abort();
    clearTimeout(this.#restartTimer);
    void this.#lw.stop();
  }

  get state(): ConnectionState {
    return { ...this.#state };
  }

  /** The cached node, as last listed or watched. */
  get(name: string): V1Node | undefined {
    return this.#lw.get(name);
  }

  // ---- internals, also used by GuardedWatch ----

  get stopped(): boolean {
    return this.#stopped;
  }

  get stopSignal(): AbortSignal {
    return this.#stopSignal.signal;
  }

  get idleTimeoutMs(): number {
    return this.#opts.idleTimeoutMs;
  }

  watchTimeoutSeconds(): number {
    const t = this.#opts.watchTimeoutSeconds;
    return t + Math.floor(Math.random() * t);
  }

  /** The delay before the next watch: grows while the server keeps ending watches at once. */
  nextWatchDelay(): number {
    return this.#quickCloses === 0 ? 0 : backoffDelay(this.#quickCloses - 1, this.#opts.backoff);
  }

  watchOpened(): void {
    this.#connected();
  }

  watchEnded(err: unknown, events: number, ms: number): void {
    if (err) return; // errors go through #onError
    this.#quickCloses = events === 0 && ms < QUICK_CLOSE_MS ? this.#quickCloses + 1 : 0;
    if (this.#quickCloses > 0 && (this.#quickCloses === 1 || this.#quickCloses % 10 === 0)) {
      this.#log.debug('node watch ended at once; slowing down', { times: this.#quickCloses });
    }
  }

  #startListWatch(): void {
    this.#lw.start().catch((err: unknown) => this.#onError(err));
  }

  async #list(): Promise<V1NodeList> {
    const t0 = performance.now();
    const items: V1Node[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    let pages = 0;
    do {
      const page = await this.#core.listNode(
        { limit: this.#opts.pageSize, _continue: cont },
        abortOn(this.#stopSignal.signal),
      );
      pages++;
      for (const n of page.items) items.push(this.trim(n));
      cont = page.metadata?._continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (cont !== undefined && !this.#stopped);
    // Throwing keeps a stopped ListWatch from going on to watch (it does not check on its own).
    if (this.#stopped) throw new Error('informer stopped');
    this.#connected();
    // Once at start and after a 410: worth an info line (the benchmark times programming from it, too).
    this.#log.info('node list received', {
      nodes: items.length,
      pages,
      resourceVersion,
      ms: Math.round(performance.now() - t0),
    });
    // ListWatch applies the list synchronously once this promise settles; setImmediate runs after that.
    setImmediate(() => {
      if (!this.#stopped) this.#events.listed();
    });
    return { apiVersion: 'v1', kind: 'NodeList', items, metadata: { resourceVersion } };
  }

  #connected(): void {
    this.#failures = 0;
    if (!this.#state.connected) {
      if (this.#state.lastError !== undefined) this.#log.info('kubernetes API reachable again');
      this.#state = { connected: true };
    }
  }

  #onError(err: unknown): void {
    if (this.#stopped) return; // stop() aborts the request, and ListWatch reports that as an error
    if (this.#restartTimer !== undefined) return;
    const error = describeKubeError(err);
    const delay = backoffDelay(this.#failures, this.#opts.backoff);
    this.#failures++;
    this.#state = { connected: false, lastError: error };
    const log = this.#failures <= 1 || this.#failures % 10 === 0 ? this.#log.warn : this.#log.debug;
    log('kubernetes API: node watch failed; forwarding goes on with the last table', {
      error,
      retryInMs: delay,
      attempt: this.#failures,
    });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#startListWatch();
    }, delay);
  }
}

/**
 * The Watch that ListWatch uses, with the extras listed at the top: bookmarks, a server-side timeout, an idle
 * watchdog, a delay after watches that end at once, and no watch left running after stop().
 */
class GuardedWatch extends Watch {
  readonly #informer: NodeInformer;

  constructor(kc: KubeConfig, informer: NodeInformer) {
    // Watch.watch gives fetch its own AbortController, which ListWatch learns of only once the response headers
    // have come: until then stop() could not abort the request. Each request gets a new agent from the
    // KubeConfig; the one of the request in flight is destroyed on stop, which ends its connection.
    let agent: { destroy?: () => void } | undefined;
    const tracked = Object.create(kc) as KubeConfig;
    tracked.applyToFetchOptions = async (opts) => {
      const init = await kc.applyToFetchOptions(opts);
      agent = init.agent as typeof agent;
      if (informer.stopped) agent?.destroy?.();
      return init;
    };
    informer.stopSignal.addEventListener('abort', () => agent?.destroy?.(), { once: true });
    super(tracked);
    this.#informer = informer;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const inf = this.#informer;
    const delay = inf.nextWatchDelay();
    if (delay > 0) await sleep(delay, inf.stopSignal);
    if (inf.stopped) {
      // Never throw here: ListWatch calls this from a callback chain that does not catch.
      const c = new AbortController();
      c.abort();
      return c;
    }
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: inf.watchTimeoutSeconds() };
    const started = performance.now();
    let events = 0;
    let ended = false;
    let controller: AbortController | undefined;
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(idle);
      if (ended || inf.stopped) return; // never a timer after the end
      idle = setTimeout(() => controller?.abort(), inf.idleTimeoutMs);
    };
    controller = await super.watch(
      path,
      params,
      (phase, obj, raw) => {
        events++;
        arm();
        const object = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? inf.trim(obj as V1Node) : obj;
        callback(phase, object, raw);
      },
      (err) => {
        ended = true;
        clearTimeout(idle);
        inf.watchEnded(err, events, performance.now() - started);
        done(err);
      },
    );
    if (inf.stopped) controller.abort();
    else if (!ended) {
      inf.watchOpened();
      arm();
    }
    return controller;
  }
}
