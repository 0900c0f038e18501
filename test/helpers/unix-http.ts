// HTTP GET over a unix socket (fetch() has no socket option), with a fetch-like response: for tests that talk to
// the daemon's admin socket (admin.socket) the way `vxtun status` and `vxtun dump` do.
import http from 'node:http';

export interface UnixResponse {
  status: number;
  headers: { get(name: string): string | null };
  /** The whole body (waits for its end). */
  arrayBuffer(): Promise<Buffer>;
  text(): Promise<string>;
  json<T>(): Promise<T>;
}

/**
 * GETs `path` from the HTTP server on the unix socket `socketPath`; resolves once the response head has arrived
 * (the body streams on, as with fetch), rejects on connection errors or when no head arrives within `timeoutMs`.
 */
export function unixGet(socketPath: string, path: string, timeoutMs = 30_000): Promise<UnixResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, agent: false, headers: { host: 'localhost' } }, (res) => {
      clearTimeout(timer);
      const parts: Buffer[] = [];
      const body = new Promise<Buffer>((done, fail) => {
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('error', fail);
        res.on('end', () => done(Buffer.concat(parts)));
      });
      body.catch(() => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: { get: (name) => (res.headers[name.toLowerCase()] as string | undefined) ?? null },
        arrayBuffer: () => body,
        text: async () => (await body).toString('utf8'),
        json: async <T>() => JSON.parse((await body).toString('utf8')) as T,
      });
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`GET ${path} on ${socketPath}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
}
