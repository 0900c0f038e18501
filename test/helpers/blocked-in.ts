// Where a process's threads sleep: the system call each is blocked in (/proc/PID/task/TID/syscall), and the numbers
// of the calls the forwarding loops wait in (native/engine/worker.h): a transmit loop in readv (waiting mode) or poll,
// a receive loop in recvmmsg. x86-64 and arm64 (whose libc's poll is ppoll); other architectures: undefined.
import { readdirSync, readFileSync } from 'node:fs';

export interface LoopSyscalls {
  readv: number;
  recvmmsg: number;
  poll: number;
}

export const LOOP_SYSCALLS: LoopSyscalls | undefined = (
  { x64: { readv: 19, recvmmsg: 299, poll: 7 }, arm64: { readv: 65, recvmmsg: 243, poll: 73 } } as Record<
    string,
    LoopSyscalls | undefined
  >
)[process.arch];

/** The system call number each thread of `pid` is blocked in (a running thread shows -1 or "running"). */
export function blockedIn(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const n = Number(readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]);
      if (Number.isInteger(n)) out.push(n);
    } catch {
      // the thread ended
    }
  }
  return out;
}

export const countOf = (calls: number[], n: number): number => calls.filter((c) => c === n).length;

/**
 * `read()` until `done` holds or `tries` reads 100 ms apart have passed (a loop woken by something — an IPv6 router
 * solicitation, a stray packet — shows as running for a moment); the last reading either way.
 */
export async function settle<T>(read: () => T | Promise<T>, done: (v: T) => boolean, tries = 20): Promise<T> {
  let v = await read();
  for (let i = 0; i < tries && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}
