// The running vxtun's side of the handover (protocol in src/handover/protocol.ts): a unix socket (mode 0600, only
// our own uid may talk) where a successor asks for the dataplane. One conversation at a time. The offer and the fds
// are sent with the native fd passing on the connection's own fd (Node's sockets cannot carry fds); nothing is
// written through the Node socket, so the two never interleave.
// What it guarantees: until the successor says `started`, this vxtun forwards (it resumes its loops if the successor
// goes away after `pause`); after `started` it releases (the daemon stops everything but the device, its routes,
// masquerading and the subnet file, which are the successor's now) and only then says `released`.
import { createServer, type Server, type Socket } from 'node:net';
import type { NativeFdPassing } from '../dataplane/addon.js';
import type { Dataplane, DataplaneHandover } from '../dataplane/types.js';
import type { Logger } from '../log.js';
import { listenUnixSocket, type UnixSocketHandle } from '../admin/socket-file.js';
import { VERSION } from '../version.js';
import {
  decode,
  encode,
  identityConflict,
  LineReader,
  PROTOCOL,
  type HandoverIdentity,
  type HandoverState,
  type Message,
} from './protocol.js';

/** How long the successor may take for each step (its start-up runs between hello and pause). */
export const SERVER_STEP_TIMEOUT_MS = 20_000;

export interface Successor {
  pid: number;
  version: string;
  /** From our loops' stop to the successor's `started`. */
  pausedMs: number;
}

export interface HandoverServerOptions {
  path: string;
  fdp: NativeFdPassing;
  logger: Logger;
  identity: HandoverIdentity;
  /** The dataplane when its engine can hand over (the native one); otherwise every successor is refused. */
  dp: (Dataplane & Partial<DataplaneHandover>) | undefined;
  state: () => HandoverState;
  /** The successor runs: stop everything but what it now owns; resolves once the admin surface is closed. */
  release: (to: Successor) => Promise<void>;
}

export interface HandoverServer {
  /** A successor said `started`: the device and its routes are no longer ours to remove. */
  readonly handedOver: boolean;
  /**
   * Stops listening; a conversation in progress ends: before `pause` it is broken off, after it the successor is
   * taken to run (handedOver). Resolves once the conversation has ended.
   */
  close(): Promise<void>;
}

type Phase = 'idle' | 'talking' | 'paused' | 'released';

export async function startHandoverServer(o: HandoverServerOptions): Promise<HandoverServer> {
  const { fdp, logger } = o;
  let phase: Phase = 'idle';
  let conversation: Promise<void> = Promise.resolve();
  let current: Socket | undefined;
  let handle: UnixSocketHandle | undefined;
  let closing = false;

  const server: Server = createServer((sock) => {
    sock.on('error', () => undefined);
    if (phase !== 'idle' || closing) {
      sock.destroy();
      return;
    }
    phase = 'talking';
    current = sock;
    conversation = converse(sock)
      .catch((err: unknown) => {
        if (phase === 'paused') {
          o.dp?.resume?.();
          logger.warn('handover failed, forwarding again', { error: (err as Error).message });
        } else if (phase === 'talking') logger.info('handover not made', { error: (err as Error).message });
        if (phase !== 'released') phase = 'idle';
      })
      .finally(() => {
        sock.destroy();
        current = undefined;
      });
  });

  async function converse(sock: Socket): Promise<void> {
    const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) throw new Error('this Node cannot pass fds on its unix sockets');
    const peer = fdp.peer(fd);
    if (peer.uid !== process.geteuid?.()) throw new Error(`refusing uid ${peer.uid}`);
    const lines = lineQueue(sock);
    const send = (m: Message) => fdp.send(fd, encode(m), SERVER_STEP_TIMEOUT_MS);
    const hello = await lines.next();
    if (hello === null) return; // a probe: something checked that we answer
    if (hello.type !== 'hello') throw new Error(`expected hello, got ${hello.type}`);
    const dp = o.dp;
    const refusal =
      hello.protocol !== PROTOCOL
        ? `protocol ${hello.protocol} is not ${PROTOCOL} (this vxtun is ${VERSION})`
        : !dp?.exportFds || !dp.pause || !dp.resume
          ? `engine ${o.identity.engine} cannot hand over its dataplane`
          : identityConflict(o.identity, hello.identity);
    if (refusal !== undefined || !dp?.exportFds || !dp.pause || !dp.resume) {
      send({ type: 'refuse', pid: process.pid, error: refusal ?? 'cannot hand over' });
      logger.warn('handover refused', { to: hello.pid, toVersion: hello.version, reason: refusal });
      return;
    }
    const fds = dp.exportFds();
    send({
      type: 'offer',
      protocol: PROTOCOL,
      version: VERSION,
      pid: process.pid,
      identity: o.identity,
      state: o.state(),
      fds: fds.length,
    });
    fdp.sendFds(fd, fds, SERVER_STEP_TIMEOUT_MS);
    logger.info('handover offered', { to: hello.pid, toVersion: hello.version, fds: fds.length });
    const pause = await lines.next();
    if (pause === null) throw new Error('the successor went away before pausing');
    if (pause.type !== 'pause') throw new Error(`expected pause, got ${pause.type}`);
    const t0 = performance.now();
    dp.pause();
    phase = 'paused';
    send({ type: 'paused' });
    const started = await lines.next();
    if (started === null) throw new Error('the successor went away before it started');
    if (started.type !== 'started') throw new Error(`expected started, got ${started.type}`);
    phase = 'released';
    const to: Successor = { pid: hello.pid, version: hello.version, pausedMs: Math.round(performance.now() - t0) };
    logger.info('handed over', { to: to.pid, toVersion: to.version, pausedMs: to.pausedMs });
    await o.release(to);
    await stopListening();
    send({ type: 'released' });
  }

  /** Lines as messages, with the step timeout; null at end of stream. */
  function lineQueue(sock: Socket) {
    const reader = new LineReader();
    const queue: (Message | Error | null)[] = [];
    let wake: (() => void) | undefined;
    const put = (m: Message | Error | null) => {
      queue.push(m);
      wake?.();
    };
    sock.on('data', (d: Buffer) => {
      try {
        for (const line of reader.push(d)) put(decode(line));
      } catch (err) {
        put(err as Error);
      }
    });
    sock.on('end', () => put(null));
    sock.on('close', () => put(null));
    return {
      async next(): Promise<Message | null> {
        if (queue.length === 0) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`the successor was silent for ${SERVER_STEP_TIMEOUT_MS} ms`)),
              SERVER_STEP_TIMEOUT_MS,
            );
            wake = () => {
              clearTimeout(timer);
              wake = undefined;
              resolve();
            };
          });
        }
        const m = queue.shift() as Message | Error | null;
        if (m instanceof Error) throw m;
        return m;
      },
    };
  }

  let stopped: Promise<void> | undefined;
  function stopListening(): Promise<void> {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // close() waits for open connections; ours ends by itself, a silent prober's is cut.
      setImmediate(resolve);
    }).then(() => handle?.remove());
    return stopped;
  }

  handle = await listenUnixSocket(server, o.path);
  return {
    get handedOver() {
      return phase === 'released' || (closing && phase === 'paused');
    },
    async close() {
      closing = true;
      await stopListening();
      const was = phase;
      if (was === 'paused') phase = 'released'; // the successor is about to run on the fds: leave them to it
      if (was === 'talking' || was === 'paused') current?.destroy();
      await conversation;
    },
  };
}
