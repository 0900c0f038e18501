// Splitting ping round trips by where the time goes, from a `perf record` of raw_syscalls and sched_wakeup /
// sched_switch filtered to the dataplane's threads and ping (latency-run.ts records it). Pure: text in,
// numbers out. What each part means is in latency-run.ts's header.

/** x86-64 system call numbers (`vxtun bench latency` runs on x86-64 only: latency-run.ts). */
const SYSCALLS: Record<number, string> = {
  0: 'read',
  1: 'write',
  7: 'poll',
  19: 'readv',
  20: 'writev',
  44: 'sendto',
  46: 'sendmsg',
  47: 'recvmsg',
  299: 'recvmmsg',
  307: 'sendmmsg',
  327: 'preadv2',
};

export interface Ev {
  us: number;
  tid: number;
  what: string; // wakeup | on-cpu | >name | <name
  cpu: number;
}

/** The events of `perf script` output that this bench reads. */
export function parsePerfScript(text: string): Ev[] {
  const out: Ev[] = [];
  const re = /^\s*.+?\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
  for (const l of text.split('\n')) {
    const m = re.exec(l);
    if (!m) continue;
    const [, tid, cpu, ts, kind, rest] = m;
    // Seconds with 6 (or, with --ns, 9) decimals: exact microseconds, no binary fraction.
    const [sec, frac = ''] = ts!.split('.');
    const us = Number(sec) * 1e6 + Number(frac.padEnd(9, '0').slice(0, 9)) / 1e3;
    if (kind === 'sched:sched_wakeup') {
      out.push({ us, tid: Number(/ pid=(\d+)/.exec(rest!)![1]), what: 'wakeup', cpu: Number(cpu) });
    } else if (kind === 'sched:sched_switch') {
      out.push({ us, tid: Number(/next_pid=(\d+)/.exec(rest!)![1]), what: 'on-cpu', cpu: Number(cpu) });
    } else {
      const name = SYSCALLS[Number(/NR (\d+)/.exec(rest!)?.[1])];
      if (name)
        out.push({ us, tid: Number(tid), what: (kind!.endsWith('enter') ? '>' : '<') + name, cpu: Number(cpu) });
    }
  }
  return out.sort((a, b) => a.us - b.us);
}

export interface Split {
  rtt: number;
  wake: number;
  syscalls: number;
  user: number;
  /** Time in each syscall (by name) over the round trip, summed over the dataplane's threads; poll excluded. */
  calls: Record<string, number>;
}

/** Splits each of ping's round trips (its sendto → its recvmsg exit) as the header says. */
export function splitTrips(
  ev: Ev[],
  ping: number,
  dataplane: Set<number>,
): { splits: Split[]; trips: [number, number][] } {
  // One pass in time order: each ping sendto pairs with ping's next recvmsg return; each trip then reads only its own
  // slice of the events (from its sendto to that return).
  const sorted = [...ev].sort((a, b) => a.us - b.us);
  const trips: [number, number][] = [];
  const slices: [number, number][] = [];
  const open: number[] = [];
  sorted.forEach((e, i) => {
    if (e.tid !== ping) return;
    if (e.what === '>sendto') open.push(i);
    else if (e.what === '<recvmsg') {
      for (const j of open) {
        trips.push([sorted[j]!.us, e.us]);
        slices.push([j, i]);
      }
      open.length = 0;
    }
  });
  const splits = slices.map(([from, to]) => {
    let wake = 0;
    let syscalls = 0;
    let user = 0;
    const calls: Record<string, number> = {};
    const woke = new Map<number, number>();
    const entered = new Map<number, [string, number]>();
    const exited = new Map<number, number>(); // the thread's last syscall exit: it runs its own code from there
    for (let k = from; k <= to; k++) {
      const e = sorted[k]!;
      if (!dataplane.has(e.tid)) continue;
      if (e.what === 'wakeup') woke.set(e.tid, e.us);
      else if (e.what === 'on-cpu') {
        const w = woke.get(e.tid);
        if (w !== undefined) wake += e.us - w;
        woke.delete(e.tid);
      } else if (e.what.startsWith('>')) {
        const x = exited.get(e.tid);
        if (x !== undefined) user += e.us - x;
        exited.delete(e.tid);
        entered.set(e.tid, [e.what.slice(1), e.us]);
      } else {
        exited.set(e.tid, e.us);
        const s = entered.get(e.tid);
        // poll is where a loop sleeps (vxtun): its time is waiting, not work
        if (s && s[0] === e.what.slice(1) && s[0] !== 'poll') {
          syscalls += e.us - s[1];
          calls[s[0]] = (calls[s[0]] ?? 0) + e.us - s[1];
        }
        entered.delete(e.tid);
      }
    }
    return { rtt: sorted[to]!.us - sorted[from]!.us, wake, syscalls, user, calls };
  });
  return { splits, trips };
}
