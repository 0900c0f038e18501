// A fake Kubernetes API server for the tests: Nodes only, over plain HTTP, speaking the protocol the real one
// speaks to @kubernetes/client-node 1.4 (the requests and replies below were
// captured from 1.4; test/unit/kube-source.test.ts runs the real client against this server):
//
//   GET   /api/v1/nodes[?limit=&continue=]          NodeList with metadata.resourceVersion (and continue)
//   GET   /api/v1/nodes?watch=true&resourceVersion=N  200, chunked, one {"type","object"} JSON per line:
//                                                    ADDED/MODIFIED/DELETED after N, BOOKMARK when asked,
//                                                    ERROR 410 Expired when N is older than the history kept
//   GET   /api/v1/nodes/NAME                         one Node
//   PATCH /api/v1/nodes/NAME/status                  JSON merge patch; strategic merge patch (status.conditions
//                                                    and status.addresses merge by type); JSON patch (RFC 6902);
//                                                    anything else 415. As the status subresource does: metadata
//                                                    (annotations, labels) and status changes are kept, spec
//                                                    changes ignored; resourceVersion bumped, a MODIFIED event sent
//   PATCH /api/v1/nodes/NAME                         403, as RBAC answers vxtun's ClusterRole (deploy/rbac.yaml:
//                                                    nodes get/list/watch, nodes/status patch); with
//                                                    `allowNodePatch`, the main resource (status changes ignored)
//
// Every JSON reply carries Content-Type: application/json (the client refuses to parse without it); errors are
// Status objects. Faults on demand: compaction (old resourceVersions → 410), ERROR 410 on open watches, clean ends
// and hard drops of watches, failing requests, silent watches, expired continue tokens, and outages (stop/resume
// on the same port). Every request is recorded.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

export interface FakeApiServerOptions {
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** How a watch from a too-old resourceVersion is refused: an ERROR event (what real servers do) or HTTP 410. */
  expiredAs?: 'event' | 'http';
  /** Serve PATCH on /api/v1/nodes/NAME (a ClusterRole with `patch` on nodes) instead of answering 403. */
  allowNodePatch?: boolean;
}

/** The identity the fake server's RBAC answers for (deploy/rbac.yaml's ServiceAccount). */
export const FAKE_USER = 'system:serviceaccount:kube-system:vxtun';

interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
}

interface Watcher {
  res: http.ServerResponse;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

interface Pager {
  rv: number;
  items: Json[];
}

type FailKind = 'list' | 'watch' | 'patch' | 'get';

const clone = <T>(v: T): T => structuredClone(v);

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Json =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * RFC 6902 JSON patch (add, remove, replace, test; move/copy are not needed by anyone here and are refused).
 * Throws an Error with the reason on a bad operation (the server answers 422 or 400 then).
 */
export function jsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new Error('a JSON patch is a list of operations');
  const doc = clone(target);
  for (const op of ops as Json[]) {
    const path = typeof op?.['path'] === 'string' ? (op['path'] as string) : undefined;
    if (path === undefined || (path !== '' && !path.startsWith('/')))
      throw new Error(`bad path ${JSON.stringify(op?.['path'])}`);
    const keys =
      path === ''
        ? []
        : path
            .slice(1)
            .split('/')
            .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error('the document root cannot be patched here');
    let parent: unknown = doc;
    for (const k of keys) {
      parent = Array.isArray(parent) ? parent[Number(k)] : (parent as Json | undefined)?.[k];
      if (typeof parent !== 'object' || parent === null) throw new Error(`path ${path} does not exist`);
    }
    const obj = parent as Json;
    const has = Object.prototype.hasOwnProperty.call(obj, last);
    switch (op['op']) {
      case 'add':
        if (Array.isArray(obj)) obj.splice(last === '-' ? obj.length : Number(last), 0, clone(op['value']));
        else obj[last] = clone(op['value']);
        break;
      case 'replace':
        if (!has) throw new Error(`path ${path} does not exist`);
        obj[last] = clone(op['value']);
        break;
      case 'remove':
        if (!has) throw new Error(`path ${path} does not exist`);
        if (Array.isArray(obj)) obj.splice(Number(last), 1);
        else delete obj[last];
        break;
      case 'test':
        if (JSON.stringify(obj[last]) !== JSON.stringify(op['value'])) throw new Error(`test failed at ${path}`);
        break;
      default:
        throw new Error(`unsupported op ${JSON.stringify(op['op'])}`);
    }
  }
  return doc;
}

/** Strategic merge patch, as far as Nodes need it: lists under status.conditions/addresses merge by `type`. */
export function strategicMergePatch(target: Json, patch: Json): Json {
  const merged = mergePatch(target, patch) as Json;
  const ps = patch['status'] as Json | undefined;
  const ts = target['status'] as Json | undefined;
  for (const key of ['conditions', 'addresses']) {
    const items = ps?.[key];
    if (!Array.isArray(items)) continue;
    const list = Array.isArray(ts?.[key]) ? clone(ts[key] as Json[]) : [];
    for (const item of items as Json[]) {
      const i = list.findIndex((x) => x['type'] === item['type']);
      if (i >= 0) list[i] = mergePatch(list[i], item) as Json;
      else list.push(clone(item));
    }
    (merged['status'] as Json)[key] = list;
  }
  return merged;
}

export class FakeApiServer {
  readonly host: string;
  port: number;
  readonly token: string | undefined;
  expiredAs: 'event' | 'http';
  allowNodePatch: boolean;
  /** Watches stay open and silent; timeoutSeconds is ignored. */
  stall = false;
  /** Every watch is ended as soon as it has been answered (kubernetes-client/javascript#1933). */
  endWatchesAtOnce = false;
  /** Requests of these kinds are never answered (a hung API server); their connections end only at stop(). */
  readonly hold = new Set<FailKind>();
  /** Called with each request before it is answered (tests use it to inject faults at a precise moment). */
  beforeRequest: ((r: RecordedRequest) => void) | undefined;
  readonly requests: RecordedRequest[] = [];
  #server: http.Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #nodes = new Map<string, Json>();
  #rv = 1000;
  /** Watches from a resourceVersion below this get 410. */
  #historyStart = 1000;
  #history: HistoryEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #pagers = new Map<string, Pager>();
  #pagerSeq = 0;
  readonly #fail: { kind: FailKind; code: number; count: number }[] = [];
  #uid = 0;

  private constructor(opts: FakeApiServerOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.token = opts.token;
    this.expiredAs = opts.expiredAs ?? 'event';
    this.allowNodePatch = opts.allowNodePatch ?? false;
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.resume();
    return s;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  // ---- state ----

  /** Creates or replaces a Node (metadata.name required); returns it as stored. */
  upsertNode(node: Json): Json {
    const meta = (node['metadata'] ?? {}) as Json;
    const name = meta['name'];
    if (typeof name !== 'string' || name === '') throw new Error('upsertNode: metadata.name is required');
    const old = this.#nodes.get(name);
    const stored = clone(node);
    stored['kind'] = 'Node';
    stored['apiVersion'] = 'v1';
    const oldMeta = (old?.['metadata'] ?? {}) as Json;
    stored['metadata'] = {
      ...meta,
      uid: oldMeta['uid'] ?? `uid-${++this.#uid}`,
      creationTimestamp:
        oldMeta['creationTimestamp'] ?? meta['creationTimestamp'] ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    return this.#commit(old ? 'MODIFIED' : 'ADDED', stored);
  }

  /** Changes a Node with a JSON merge patch; returns it as stored. */
  patchNode(name: string, patch: Json): Json {
    const old = this.#nodes.get(name);
    if (!old) throw new Error(`patchNode: no node ${name}`);
    return this.#commit('MODIFIED', mergePatch(old, patch) as Json);
  }

  deleteNode(name: string): boolean {
    const old = this.#nodes.get(name);
    if (!old) return false;
    this.#nodes.delete(name);
    const rv = ++this.#rv;
    const object = clone(old);
    (object['metadata'] as Json)['resourceVersion'] = String(rv);
    this.#emit({ rv, type: 'DELETED', object });
    return true;
  }

  getNode(name: string): Json | undefined {
    const n = this.#nodes.get(name);
    return n ? clone(n) : undefined;
  }

  nodeNames(): string[] {
    return [...this.#nodes.keys()].sort();
  }

  // ---- faults ----

  /** Forgets the event history: watches from any older resourceVersion now get 410 Gone. */
  compact(): void {
    this.#history = [];
    this.#historyStart = this.#rv + 1;
  }

  /** Sends ERROR 410 Expired on every open watch, then ends it (as a real server does). */
  expireWatches(): void {
    for (const w of [...this.#watchers]) {
      this.#write(w, { type: 'ERROR', object: status(410, 'Expired', 'too old resource version: 1 (2)') });
      this.#endWatch(w);
    }
  }

  /** Ends every open watch cleanly (the server's watch timeout). */
  closeWatches(): void {
    for (const w of [...this.#watchers]) this.#endWatch(w);
  }

  /** Destroys every connection without a clean end. */
  dropConnections(): void {
    for (const s of this.#sockets) s.destroy();
  }

  /** A BOOKMARK at the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.#watchers) {
      if (w.bookmarks) {
        this.#write(w, {
          type: 'BOOKMARK',
          object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) } },
        });
      }
    }
  }

  /** Moves the resourceVersion on by `n`, as changes to other kinds of objects do. */
  advance(n = 1): void {
    this.#rv += n;
  }

  /** The next `count` requests of `kind` fail with HTTP `code`. */
  failNext(kind: FailKind, code: number, count = 1): void {
    this.#fail.push({ kind, code, count });
  }

  /** Continue tokens handed out so far stop working (410 Expired). */
  expireContinueTokens(): void {
    this.#pagers.clear();
  }

  setStall(on: boolean): void {
    this.stall = on;
  }

  /** An outage: stop listening and drop every connection. State is kept. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const w of this.#watchers) clearTimeout(w.timer);
    this.#watchers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  /** Listens again (on the same port after stop()). With `compact`, history is lost as after a restart. */
  async resume(opts?: { compact?: boolean } | null): Promise<void> {
    if (this.#server) return;
    if (opts?.compact) this.compact();
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async close(): Promise<void> {
    await this.stop();
  }

  // ---- internals ----

  #commit(type: 'ADDED' | 'MODIFIED', node: Json): Json {
    const rv = ++this.#rv;
    (node['metadata'] as Json)['resourceVersion'] = String(rv);
    const name = (node['metadata'] as Json)['name'] as string;
    this.#nodes.set(name, node);
    this.#emit({ rv, type, object: clone(node) });
    return clone(node);
  }

  #emit(e: HistoryEvent): void {
    this.#history.push(e);
    if (this.#history.length > 100_000) this.compactBefore(this.#history[50_000]!.rv);
    for (const w of this.#watchers) this.#write(w, { type: e.type, object: e.object });
  }

  compactBefore(rv: number): void {
    this.#history = this.#history.filter((e) => e.rv >= rv);
    this.#historyStart = rv;
  }

  #write(w: Watcher, event: Json): void {
    if (!w.res.writableEnded) w.res.write(`${JSON.stringify(event)}\n`);
  }

  #endWatch(w: Watcher): void {
    clearTimeout(w.timer);
    this.#watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  #takeFailure(kind: FailKind): number | undefined {
    const f = this.#fail.find((x) => x.kind === kind);
    if (!f) return undefined;
    if (--f.count <= 0) this.#fail.splice(this.#fail.indexOf(f), 1);
    return f.code;
  }

  #json(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const rec: RecordedRequest = { method: req.method ?? '', path: url.pathname, query };
      if (req.headers['content-type']) rec.contentType = req.headers['content-type'];
      if (req.headers.authorization) rec.authorization = req.headers.authorization;
      if (raw !== '') {
        try {
          rec.body = JSON.parse(raw);
        } catch {
          rec.body = raw;
        }
      }
      this.requests.push(rec);
      try {
        this.beforeRequest?.(rec);
        this.#route(req, res, url, query, rec);
      } catch (e) {
        this.#json(res, 500, status(500, 'InternalError', (e as Error).message));
      }
    });
  }

  #route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    q: Record<string, string>,
    rec: RecordedRequest,
  ): void {
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return this.#json(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const m = /^\/api\/v1\/nodes(?:\/([^/]+)(\/status)?)?$/.exec(url.pathname);
    if (!m) return this.#json(res, 404, status(404, 'NotFound', `the server could not find the requested resource`));
    const [, name, sub] = m;
    const kind: FailKind =
      req.method === 'PATCH'
        ? 'patch'
        : name !== undefined
          ? 'get'
          : q['watch'] === 'true' || q['watch'] === '1'
            ? 'watch'
            : 'list';
    if (this.hold.has(kind)) return; // never answered: the response stays open until stop() drops the connection
    if (req.method === 'GET' && name === undefined) {
      return q['watch'] === 'true' || q['watch'] === '1' ? this.#watch(res, q) : this.#list(res, q);
    }
    if (req.method === 'GET' && name !== undefined && sub === undefined) {
      const code = this.#takeFailure('get');
      if (code) return this.#json(res, code, status(code, 'InternalError', 'injected failure'));
      const n = this.#nodes.get(decodeURIComponent(name));
      return n ? this.#json(res, 200, n) : this.#json(res, 404, status(404, 'NotFound', `nodes "${name}" not found`));
    }
    if (req.method === 'PATCH' && name !== undefined)
      return this.#patch(res, decodeURIComponent(name), sub !== undefined, rec);
    return this.#json(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported here`));
  }

  #list(res: http.ServerResponse, q: Record<string, string>): void {
    const code = this.#takeFailure('list');
    if (code) return this.#json(res, code, status(code, 'InternalError', 'injected failure'));
    const limit = q['limit'] ? Number(q['limit']) : 0;
    let pager: Pager;
    let offset = 0;
    let id: string;
    if (q['continue']) {
      let token: { id?: string; offset?: number } = {};
      try {
        token = JSON.parse(Buffer.from(q['continue'], 'base64url').toString('utf8')) as typeof token;
      } catch {
        return this.#json(res, 400, status(400, 'BadRequest', 'invalid continue token'));
      }
      const p = token.id !== undefined ? this.#pagers.get(token.id) : undefined;
      if (!p) {
        const msg = 'The provided continue parameter is too old to display a consistent list result.';
        return this.#json(res, 410, status(410, 'Expired', msg));
      }
      pager = p;
      id = token.id!;
      offset = token.offset ?? 0;
    } else {
      const items = [...this.#nodes.keys()].sort().map((n) => this.#nodes.get(n)!);
      pager = { rv: this.#rv, items };
      id = String(++this.#pagerSeq);
    }
    const end = limit > 0 ? Math.min(pager.items.length, offset + limit) : pager.items.length;
    const metadata: Json = { resourceVersion: String(pager.rv) };
    if (end < pager.items.length) {
      this.#pagers.set(id, pager);
      metadata['continue'] = Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url');
      metadata['remainingItemCount'] = pager.items.length - end;
    } else {
      this.#pagers.delete(id);
    }
    this.#json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata, items: pager.items.slice(offset, end) });
  }

  #watch(res: http.ServerResponse, q: Record<string, string>): void {
    const code = this.#takeFailure('watch');
    if (code) return this.#json(res, code, status(code, 'InternalError', 'injected failure'));
    const from = q['resourceVersion'] ?? '';
    const start = from === '' || from === '0' ? undefined : Number(from);
    if (start !== undefined && (!Number.isInteger(start) || start < this.#historyStart - 1)) {
      const body = status(410, 'Expired', `too old resource version: ${from} (${this.#historyStart})`);
      if (this.expiredAs === 'http') return this.#json(res, 410, body);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: body })}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const w: Watcher = { res, bookmarks: q['allowWatchBookmarks'] === 'true' };
    if (start === undefined) {
      for (const n of this.#nodes.values()) this.#write(w, { type: 'ADDED', object: n });
    } else {
      for (const e of this.#history) if (e.rv > start) this.#write(w, { type: e.type, object: e.object });
    }
    this.#watchers.add(w);
    res.on('close', () => {
      clearTimeout(w.timer);
      this.#watchers.delete(w);
    });
    if (res.destroyed || this.#server === undefined) return this.#endWatch(w); // the client left, or an outage began
    const timeout = Number(q['timeoutSeconds'] ?? 0);
    // unref: a watch the server would end in 5-10 minutes must not keep a test process alive on its own.
    if (timeout > 0 && !this.stall) w.timer = setTimeout(() => this.#endWatch(w), timeout * 1000).unref();
    if (this.stall) this.#watchers.delete(w); // silent: it never hears of changes
    if (this.endWatchesAtOnce) this.#endWatch(w);
  }

  #patch(res: http.ServerResponse, name: string, statusSub: boolean, rec: RecordedRequest): void {
    if (!statusSub && !this.allowNodePatch) {
      const msg = `nodes "${name}" is forbidden: User "${FAKE_USER}" cannot patch resource "nodes" in API group "" at the cluster scope`;
      return this.#json(res, 403, status(403, 'Forbidden', msg));
    }
    const code = this.#takeFailure('patch');
    if (code) return this.#json(res, code, status(code, 'InternalError', 'injected failure'));
    const old = this.#nodes.get(name);
    if (!old) return this.#json(res, 404, status(404, 'NotFound', `nodes "${name}" not found`));
    const type = (rec.contentType ?? '').split(';')[0]!.trim();
    const types = [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
    ];
    if (!types.includes(type)) {
      return this.#json(
        res,
        415,
        status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${types.join(', ')} (got ${JSON.stringify(type)})`,
        ),
      );
    }
    const patch = rec.body;
    let next: Json;
    if (type === 'application/json-patch+json') {
      try {
        next = jsonPatch(old, patch);
      } catch (e) {
        return this.#json(
          res,
          422,
          status(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: ${(e as Error).message}`,
          ),
        );
      }
    } else {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        return this.#json(res, 400, status(400, 'BadRequest', 'the patch is not a JSON object'));
      }
      next =
        type === 'application/merge-patch+json'
          ? (mergePatch(old, patch) as Json)
          : strategicMergePatch(old, patch as Json);
    }
    // The status subresource keeps metadata and status changes and ignores spec; the main resource ignores status.
    // Name and resourceVersion are the server's.
    if (statusSub) next['spec'] = clone(old['spec']);
    else next['status'] = clone(old['status']);
    if (next['spec'] === undefined) delete next['spec'];
    if (next['status'] === undefined) delete next['status'];
    const meta = (
      typeof next['metadata'] === 'object' && next['metadata'] !== null ? next['metadata'] : (next['metadata'] = {})
    ) as Json;
    meta['name'] = name;
    meta['uid'] = (old['metadata'] as Json)['uid'];
    this.#json(res, 200, this.#commit('MODIFIED', next));
  }
}
