// A streaming GET against the admin server (its unix socket, or HOST:PORT) for `vxtun dump`, cheap enough to run next to a busy
// dataplane. It speaks HTTP/1.0 over a plain socket, so the daemon sends the body unchunked and ends
// it by closing, and it reads into one reused buffer (net's `onread`): a long capture allocates
// nothing per read. Body chunks are views into that buffer, valid only during the callback.
import { connect, type Socket } from 'node:net';
import { UsageError } from '../errors.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net/host-port.js';

export interface StreamResponse {
  status: number;
  /** Header names in lower case. */
  headers: Map<string, string>;
  /**
   * Delivers the body until the server closes the connection. `chunk` is reused after the callback returns; return a
   * promise to hold further reads until it settles (back-pressure). Rejects on a socket error (not after destroy()).
   */
  body(onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void>;
  /** The whole body as text (for error answers). */
  text(): Promise<string>;
  destroy(): void;
}

const READ_BUFFER = 1 << 20;
const MAX_HEAD = 16 << 10;

/** Where to connect: the admin unix socket ({ path }) or a TCP address. */
export type AdminTarget = { path: string } | HostPort;

/** Splits "HOST:PORT" / "[V6]:PORT" (src/net/host-port.ts); a UsageError naming `addr` when it is neither. */
export function splitHostPort(addr: string): HostPort {
  const r = parseHostPort(addr);
  if (!r.ok) throw new UsageError(`${JSON.stringify(addr)}: ${r.reason ?? 'expected HOST:PORT or [IPv6]:PORT'}`);
  return { host: r.host, port: r.port };
}

/** Parses a response head (status line and headers, without the blank line); throws on a malformed one. */
export function parseResponseHead(head: string): { status: number; headers: Map<string, string> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new Error(`malformed status line "${statusLine.slice(0, 80)}"`);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) throw new Error(`malformed header line "${l.slice(0, 80)}"`);
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/** GETs `path` from `target`; resolves once the response head has arrived. Rejects on connection errors and on abort. */
export function streamGet(target: AdminTarget, path: string, signal: AbortSignal): Promise<StreamResponse> {
  const host = 'path' in target ? 'localhost' : formatHostPort(target);
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0); // until the head is complete
    let rest: Buffer | undefined; // body bytes read with the head, delivered first
    let onChunk: ((chunk: Buffer) => void | Promise<void>) | undefined;
    let done: { resolve: () => void; reject: (e: Error) => void } | undefined;
    let closed: { error?: Error } | undefined;
    let destroyed = false;
    const settle = () => {
      if (!closed || !done) return;
      if (closed.error && !destroyed) done.reject(closed.error);
      else done.resolve();
    };
    const fail = (e: Error) => {
      sock.destroy();
      closed ??= { error: e };
      settle();
    };
    // Hands one chunk over; false pauses the socket until the consumer's promise settles.
    const deliver = (chunk: Buffer): boolean => {
      const p = onChunk!(chunk);
      if (!p) return true;
      p.then(
        () => void (!destroyed && sock.resume()),
        (e: unknown) => fail(e as Error),
      );
      return false;
    };
    const onRead = (n: number, buf: Buffer): boolean => {
      if (head === undefined) return deliver(buf.subarray(0, n));
      head = Buffer.concat([head, buf.subarray(0, n)]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) sock.destroy(new Error('response head too large'));
        return true;
      }
      let parsed: { status: number; headers: Map<string, string> };
      try {
        parsed = parseResponseHead(head.subarray(0, end).toString('latin1'));
        if (/chunked/i.test(parsed.headers.get('transfer-encoding') ?? '')) throw new Error('unexpected chunked body');
      } catch (e) {
        sock.destroy(e as Error);
        return false;
      }
      if (head.length > end + 4) rest = head.subarray(end + 4);
      head = undefined;
      resolve(response(parsed));
      return false; // paused until body() is called
    };
    const sock: Socket = connect({ ...target, onread: { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: onRead } });
    const abort = () => sock.destroy();
    signal.addEventListener('abort', abort, { once: true });
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: vxtun-dump\r\n\r\n`));
    sock.on('error', (e) => (closed ??= { error: e }));
    sock.on('close', () => {
      signal.removeEventListener('abort', abort);
      closed ??= {};
      if (head !== undefined)
        reject(
          closed.error ?? new Error(signal.aborted ? 'aborted' : 'the connection closed before a response arrived'),
        );
      settle();
    });
    function response(h: { status: number; headers: Map<string, string> }): StreamResponse {
      return {
        ...h,
        body(cb) {
          if (onChunk) throw new Error('body() called twice');
          onChunk = cb;
          return new Promise<void>((res, rej) => {
            done = { resolve: res, reject: rej };
            void Promise.resolve(rest ? cb(rest) : undefined).then(
              () => {
                rest = undefined;
                if (closed) settle();
                else sock.resume();
              },
              (e: unknown) => fail(e as Error),
            );
          });
        },
        async text() {
          const parts: Buffer[] = [];
          await this.body((c) => void parts.push(Buffer.from(c)));
          return Buffer.concat(parts).toString('utf8').trim();
        },
        destroy() {
          destroyed = true;
          sock.destroy();
        },
      };
    }
  });
}
