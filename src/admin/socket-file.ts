// The admin unix socket's file (README "Admin API": `admin.socket`, mode 0600). Its parent directory is
// created (0700) when missing. What is at the path already decides what happens, without following a symlink:
// nothing → listen; a socket nobody answers on (a dead daemon's) → replaced; a socket another daemon answers on →
// an error, never stolen; anything else (a symlink, a file, a directory) → an error, left alone. On close the
// socket file is removed if it is still the one we created.
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { MAX_SOCKET_PATH_BYTES } from '../config/index.js';

export interface UnixSocketHandle {
  /** Removes the socket file if it is still ours (same inode). Idempotent; never throws. */
  remove(): void;
}

/** Only the owner (root) may connect: the socket serves captures of the pods' traffic. */
const SOCKET_MODE = 0o600;
const DIR_MODE = 0o700;
const PROBE_TIMEOUT_MS = 2_000;

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Resolves true when something accepts a connection on `path` (a live daemon), false on ECONNREFUSED. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    const timer = setTimeout(() => (sock.destroy(), resolve(true)), PROBE_TIMEOUT_MS); // accepted but silent: alive
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      if (errno(e) === 'ECONNREFUSED' || errno(e) === 'ENOENT') resolve(false);
      else reject(e);
    });
  });
}

/** Makes `path` free for a new socket (see the file comment) or throws why not. */
async function clearStale(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  if (st.isSymbolicLink()) throw new Error('it is a symbolic link; refusing to follow or replace it');
  if (!st.isSocket()) throw new Error('it exists and is not a socket; refusing to replace it');
  if (await answers(path))
    throw new Error('another process (a running vxtun?) answers on this socket; not taking it over');
  try {
    unlinkSync(path); // unlink never follows a symlink
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
}

/** Creates the parent directory (0700) when missing; a parent that exists must be a directory. */
function ensureParent(path: string): void {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    return;
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

/** Makes `server` listen on the unix socket `path` with mode 0600. */
export async function listenUnixSocket(server: Server, path: string): Promise<UnixSocketHandle> {
  // libuv would silently bind a truncated path (config.ts checks this too; this is the contract's last line).
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES)
    throw new Error(`${path}: a unix socket path has at most ${MAX_SOCKET_PATH_BYTES} bytes`);
  ensureParent(path);
  await clearStale(path);
  // bind() creates the file with the process umask: narrow it for that call so the socket is never, even
  // briefly, connectable by others (listen() binds synchronously), then set the mode explicitly.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  let ino: number;
  try {
    chmodSync(path, SOCKET_MODE);
    ino = lstatSync(path).ino;
  } catch (e) {
    server.close();
    throw e;
  }
  let removed = false;
  return {
    remove() {
      if (removed) return;
      removed = true;
      try {
        const st = lstatSync(path);
        if (st.isSocket() && st.ino === ino) unlinkSync(path);
      } catch {
        // already gone (libuv unlinks a closed pipe server's path) or replaced: nothing of ours to remove
      }
    },
  };
}
