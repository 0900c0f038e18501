// Dataplanes of either engine, opened directly (no daemon) in the network namespace this process runs in (started
// under `ip netns exec` by test/integration/dual-stack-dataplane.test.ts and dataplane-adopt.test.ts). Runs the
// compiled sources (dist/: compile with `npx tsc -p tsconfig.json`) so that it starts in a second, not in the
// TypeScript loader's twenty.
//
// Protocol: one JSON request per stdin line, one JSON answer per stdout line ({ok: true, …} or {ok: false, error}).
// Every request may name a dataplane with `dp` (default 'main'): an agent can hold several.
//   {cmd: 'open', engine: 'native'|'js', opts: DataplaneOptions, table: DataplaneTable, setup: string[][], want?}
//       opens the dataplane (a dataplane already open is closed first), runs each `setup` entry as `ip …` (addresses,
//       MTU, up, routes of the new device), starts it with the offloads `want` (default none), sets the table
//       → {ok: true, offloads}
//   {cmd: 'stats'}   → {ok: true, stats}
//   {cmd: 'close'}   closes the dataplane
// The handover verbs (native engine, src/dataplane/types.ts DataplaneHandover):
//   {cmd: 'serveFds', path}  listens on the unix socket `path`; each connection gets the dataplane's exportFds()
//       (fdPassing.sendFds on the net.Socket's fd, as src/handover/ does), then is closed
//   {cmd: 'adopt', path, opts, offloads, table, count, drop?: number}  connects to `path`, receives `count` fds,
//       drops `drop` of them from the end (closing them: a wrong count), and constructs the dataplane with
//       {...opts, adopt: {fds, offloads}}, then sets the table (not started). → {ok: true, adopted: true, fds} or,
//       when the constructor throws, {ok: true, adopted: false, error: {name, code, message}, fdsBefore, fdsAfter}
//       (this process's open fds before connecting and after the failure: equal when every fd received was closed)
//   {cmd: 'start', want?} → {ok: true, offloads}     {cmd: 'pause'}, {cmd: 'resume'}, {cmd: 'exportFds'} → {fds}
//   {cmd: 'queuesOwned'}
//   {cmd: 'tunModes', queues} → {ok: true, nonBlocking: boolean[], waits: number[]}: whether each of the first
//       `queues` exported fds (the TUN queues) is O_NONBLOCK (/proc/self/fdinfo), and the system call each thread of
//       this process is blocked in (/proc/self/task/*/syscall)
//   {cmd: 'captureStart', opts: CaptureSessionOptions (program as a byte array)} → {ok: true, id} (native engine)
//   {cmd: 'captureRead', id} → {ok: true, blocks: base64 of the pcapng packet blocks drained}
// End of stdin closes the dataplane and exits.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { loadNative, wrapNativeError } from '../../dist/dataplane/addon.js';
import { openJsDataplane } from '../../dist/dataplane/engine-js.js';

const NO_OFFLOADS = { tso: false, gro: false, udpGso: false, udpGro: false };
/** The open dataplanes by id, and the fatal message of each that died. */
const dps = new Map();
const fatals = new Map();
const servers = [];

function closeDp(id) {
  dps.get(id)?.close();
  dps.delete(id);
}
function getDp(id) {
  const dp = dps.get(id);
  if (!dp) throw new Error(`no dataplane ${id}`);
  return dp;
}
const openFds = () => readdirSync('/proc/self/fd').length;

/** Receives `count` fds on a fresh connection to `path` (blocking calls: the event loop does not run meanwhile). */
function receiveFds(fdPassing, path, count) {
  const sock = fdPassing.connect(path, 5_000);
  const fds = [];
  try {
    while (fds.length < count) {
      const got = fdPassing.recv(sock, 64, 10_000);
      fds.push(...got.fds);
      if (got.data.length === 0) throw new Error(`end of stream after ${fds.length} of ${count} fds`);
    }
  } catch (err) {
    for (const fd of fds) fdPassing.close(fd);
    throw err;
  } finally {
    fdPassing.close(sock);
  }
  return fds;
}

async function handle(req) {
  const id = req.dp ?? 'main';
  const native = loadNative();
  if (req.cmd === 'open') {
    closeDp(id);
    fatals.delete(id);
    const dp = req.engine === 'js' ? await openJsDataplane(native, req.opts) : new native.Dataplane(req.opts);
    dps.set(id, dp);
    for (const args of req.setup) execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const offloads = dp.start((m) => fatals.set(id, m), req.want ?? NO_OFFLOADS);
    dp.setTable(req.table);
    return { offloads };
  }
  if (req.cmd === 'stats') {
    if (fatals.has(id)) throw new Error(`dataplane died: ${fatals.get(id)}`);
    return { stats: getDp(id).stats() };
  }
  if (req.cmd === 'close') {
    closeDp(id);
    return {};
  }
  if (req.cmd === 'captureStart') {
    return { id: getDp(id).captureStart({ ...req.opts, program: Uint8Array.from(req.opts.program) }) };
  }
  if (req.cmd === 'captureRead') {
    const into = new Uint8Array(1 << 20);
    const { bytes } = getDp(id).captureRead(req.id, into, 1000);
    return { blocks: Buffer.from(into.subarray(0, bytes)).toString('base64') };
  }
  if (req.cmd === 'serveFds') {
    rmSync(req.path, { force: true });
    const server = net.createServer((sock) => {
      try {
        native.fdPassing.sendFds(sock._handle.fd, getDp(id).exportFds(), 5_000);
      } finally {
        sock.end();
      }
    });
    servers.push(server);
    await new Promise((resolve, reject) => server.once('error', reject).listen(req.path, resolve));
    return {};
  }
  if (req.cmd === 'adopt') {
    closeDp(id);
    fatals.delete(id);
    const fdsBefore = openFds();
    const fds = receiveFds(native.fdPassing, req.path, req.count);
    for (const fd of fds.splice(fds.length - (req.drop ?? 0))) native.fdPassing.close(fd);
    let dp;
    try {
      dp = new native.Dataplane({ ...req.opts, adopt: { fds, offloads: req.offloads } });
    } catch (err) {
      const e = wrapNativeError(err);
      return {
        adopted: false,
        error: { name: e.name, code: e.code, message: e.message },
        fdsBefore,
        fdsAfter: openFds(),
      };
    }
    dps.set(id, dp);
    dp.setTable(req.table);
    return { adopted: true, fds };
  }
  if (req.cmd === 'start') return { offloads: getDp(id).start((m) => fatals.set(id, m), req.want ?? NO_OFFLOADS) };
  if (req.cmd === 'pause') {
    getDp(id).pause();
    return {};
  }
  if (req.cmd === 'resume') {
    getDp(id).resume();
    return {};
  }
  if (req.cmd === 'exportFds') return { fds: getDp(id).exportFds() };
  if (req.cmd === 'queuesOwned') {
    getDp(id).queuesOwned();
    return {};
  }
  if (req.cmd === 'tunModes') {
    const O_NONBLOCK = 0o4000;
    const nonBlocking = getDp(id)
      .exportFds()
      .slice(0, req.queues)
      .map((fd) => {
        const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
        return (parseInt(flags[1], 8) & O_NONBLOCK) !== 0;
      });
    const waits = [];
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const n = Number(readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').split(' ')[0]);
        if (Number.isInteger(n)) waits.push(n);
      } catch {
        // the thread ended
      }
    }
    return { nonBlocking, waits };
  }
  throw new Error(`unknown command ${req.cmd}`);
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = { ok: true, ...(await handle(JSON.parse(line))) };
    } catch (err) {
      answer = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  });
});
lines.on('close', () => {
  void queue.then(() => {
    for (const server of servers) server.close();
    for (const id of [...dps.keys()]) closeDp(id);
    process.exit(0);
  });
});
process.stdout.write('{"ok":true,"ready":true}\n');
