// The successor's side of the handover (protocol in src/handover/protocol.ts). Blocking calls with timeouts: it runs
// at start-up, before this process forwards anything, while the running vxtun keeps forwarding on its own threads.
// Whatever goes wrong before `started` leaves the running vxtun forwarding: it resumes when this side goes away.
import type { NativeFdPassing } from '../dataplane/addon.js';
import { wrapNativeError } from '../dataplane/addon.js';
import type { DataplaneError } from '../errors.js';
import { HandoverError } from '../errors.js';
import { VERSION } from '../version.js';
import {
  decode,
  encode,
  identityConflict,
  LineReader,
  PROTOCOL,
  type HandoverIdentity,
  type Message,
} from './protocol.js';

/** How long each step may take: the running vxtun answers from its event loop. */
export const STEP_TIMEOUT_MS = 10_000;
const READ_BYTES = 1 << 20;

export type Offer = Extract<Message, { type: 'offer' }>;

/** A handover in progress: the offer and its fds (owned by the caller from here on). */
export interface Takeover {
  readonly offer: Offer;
  readonly fds: number[];
  /** Asks the running vxtun to stop its loops; resolves when they have. */
  pause(): void;
  /** Says our loops run; waits for the running vxtun to release its admin surface (false: it did not say so in time). */
  started(): boolean;
  /** Ends the conversation (idempotent); before started() the running vxtun resumes forwarding. */
  close(): void;
}

/** A connection that reads JSON lines and collects the fds that arrive with them. */
class Conn {
  private readonly lines: string[] = [];
  private readonly reader = new LineReader();
  readonly fds: number[] = [];
  private closed = false;
  constructor(
    private readonly fdp: NativeFdPassing,
    readonly fd: number,
  ) {}

  send(m: Message): void {
    this.fdp.send(this.fd, encode(m), STEP_TIMEOUT_MS);
  }

  next(what: string): Message {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (this.lines.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new HandoverError(`the running vxtun did not send ${what} within ${STEP_TIMEOUT_MS} ms`);
      const { data, fds } = this.fdp.recv(this.fd, READ_BYTES, left);
      this.fds.push(...fds);
      if (data.length === 0) throw new HandoverError(`the running vxtun closed the handover before ${what}`);
      this.lines.push(...this.reader.push(data));
    }
    return decode(this.lines.shift() as string);
  }

  /** Reads until `n` fds have come (they follow the offer line, one "\n" byte per batch). */
  awaitFds(n: number): void {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (this.fds.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new HandoverError(`the running vxtun sent ${this.fds.length} of ${n} fds`);
      const { data, fds } = this.fdp.recv(this.fd, 64, left);
      this.fds.push(...fds);
      if (data.length === 0) throw new HandoverError('the running vxtun closed the handover while sending fds');
      if (this.reader.push(data).length > 0) throw new HandoverError('a message among the fds');
    }
    if (this.fds.length > n) throw new HandoverError(`the running vxtun sent ${this.fds.length} fds, not ${n}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fdp.close(this.fd);
  }
}

const expect = <T extends Message['type']>(m: Message, type: T): Extract<Message, { type: T }> => {
  if (m.type !== type) throw new HandoverError(`expected ${type} from the running vxtun, got ${m.type}`);
  return m as Extract<Message, { type: T }>;
};

/** Connecting found nobody: no socket file, or a stale one (a crashed vxtun's). */
const NOBODY = new Set(['ENOENT', 'ECONNREFUSED']);

/**
 * Asks the vxtun behind `path` for its dataplane. Undefined when none runs there; a HandoverError when it refuses
 * (or we refuse what it offers: the same identity rule, both ways) or the conversation breaks. On success the fds
 * are the caller's, to adopt (or close).
 */
export function requestHandover(fdp: NativeFdPassing, path: string, identity: HandoverIdentity): Takeover | undefined {
  let fd: number;
  try {
    fd = fdp.connect(path, STEP_TIMEOUT_MS);
  } catch (err) {
    const e = wrapNativeError(err) as DataplaneError;
    if (NOBODY.has(e.code ?? '')) return undefined;
    throw new HandoverError(`connecting to the handover socket ${path}: ${e.message}`);
  }
  const conn = new Conn(fdp, fd);
  const closeFds = () => conn.fds.splice(0).forEach((f) => fdp.close(f));
  let offer: Offer;
  try {
    conn.send({ type: 'hello', protocol: PROTOCOL, version: VERSION, pid: process.pid, identity });
    const first = conn.next('an offer');
    if (first.type === 'refuse')
      throw new HandoverError(`handover refused by the running vxtun (pid ${first.pid}): ${first.error}`);
    offer = expect(first, 'offer');
    const conflict = identityConflict(offer.identity, identity);
    if (conflict) throw new HandoverError(`cannot take over from the running vxtun (pid ${offer.pid}): ${conflict}`);
    conn.awaitFds(offer.fds);
  } catch (err) {
    closeFds();
    conn.close();
    throw err instanceof HandoverError ? err : new HandoverError(`handover: ${(err as Error).message}`);
  }
  const fds = conn.fds.splice(0);
  return {
    offer,
    fds,
    pause() {
      conn.send({ type: 'pause' });
      expect(conn.next('paused'), 'paused');
    },
    started() {
      conn.send({ type: 'started' });
      try {
        expect(conn.next('released'), 'released');
        return true;
      } catch {
        return false;
      } finally {
        conn.close();
      }
    },
    close() {
      conn.close();
    },
  };
}
