// A dataplane of either engine, opened directly (no daemon) in the network namespace this process runs in (started
// under `ip netns exec` by test/integration/dual-stack-dataplane.test.ts). Runs the compiled sources (dist/: compile
// with `npx tsc -p tsconfig.json`) so that it starts in a second, not in the TypeScript loader's twenty.
//
// Protocol: one JSON request per stdin line, one JSON answer per stdout line ({ok: true, …} or {ok: false, error}):
//   {cmd: 'open', engine: 'native'|'js', opts: DataplaneOptions, table: DataplaneTable, setup: string[][]}
//       opens the dataplane (a dataplane already open is closed first), runs each `setup` entry as `ip …` (addresses,
//       MTU, up, routes of the new device), starts it without offloads, sets the table
//   {cmd: 'stats'}   → {ok: true, stats}
//   {cmd: 'close'}   closes the dataplane
//   {cmd: 'captureStart', opts: CaptureSessionOptions (program as a byte array)} → {ok: true, id} (native engine)
//   {cmd: 'captureRead', id} → {ok: true, blocks: base64 of the pcapng packet blocks drained}
// End of stdin closes the dataplane and exits.
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadNative } from '../../dist/dataplane/addon.js';
import { openJsDataplane } from '../../dist/dataplane/engine-js.js';

const NO_OFFLOADS = { tso: false, gro: false, udpGso: false, udpGro: false };
let dp = null;
let fatal = null;

function closeDp() {
  if (dp) dp.close();
  dp = null;
}

async function handle(req) {
  if (req.cmd === 'open') {
    closeDp();
    fatal = null;
    const native = loadNative();
    dp = req.engine === 'js' ? await openJsDataplane(native, req.opts) : new native.Dataplane(req.opts);
    for (const args of req.setup) execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    dp.start((m) => (fatal = m), NO_OFFLOADS);
    dp.setTable(req.table);
    return {};
  }
  if (req.cmd === 'stats') {
    if (fatal) throw new Error(`dataplane died: ${fatal}`);
    return { stats: dp.stats() };
  }
  if (req.cmd === 'close') {
    closeDp();
    return {};
  }
  if (req.cmd === 'captureStart') {
    return { id: dp.captureStart({ ...req.opts, program: Uint8Array.from(req.opts.program) }) };
  }
  if (req.cmd === 'captureRead') {
    const into = new Uint8Array(1 << 20);
    const { bytes } = dp.captureRead(req.id, into, 1000);
    return { blocks: Buffer.from(into.subarray(0, bytes)).toString('base64') };
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
    closeDp();
    process.exit(0);
  });
});
process.stdout.write('{"ok":true,"ready":true}\n');
