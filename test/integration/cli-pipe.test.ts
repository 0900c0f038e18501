// `vxtun status --json` and `vxtun dump -w -` through a pipe to a deliberately slow reader: every byte arrives.
// The CLI (dist/cli.js) runs against a real admin server serving a 5,000-peer status and a capture of 2,000
// 1,000-byte packets (test/helpers/stub-admin.ts); the CLI is what is under test, so no dataplane is needed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cliPath } from '../../src/lab/index.js';
import { PcapngReader } from '../../src/dump/pcapng-read.js';
import type { Status } from '../../src/admin/status.js';
import { startStubAdmin } from '../helpers/stub-admin.js';

const PEERS = 5_000;
const PACKETS = 2_000;
// Reads stdin 4 KiB at a time with a pause before each read and a longer one after every 64 KiB (so the writer
// often finds the pipe full), and saves what it read (all of it) to argv[1].
const SLOW_READER = String.raw`
import sys, time
out = open(sys.argv[1], 'wb')
time.sleep(0.3)
n = 0
while True:
    b = sys.stdin.buffer.read1(4096)
    if not b:
        break
    out.write(b)
    n += 1
    time.sleep(0.05 if n % 16 == 0 else 0.001)
out.close()
`;

/** Runs `cli args… | slow reader > file`; resolves with the pipeline's exit codes and the file's bytes. */
function throughSlowPipe(
  args: string[],
  file: string,
): Promise<{ cli: number | null; reader: number | null; stderr: string; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const cli = spawn(process.execPath, [cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reader = spawn('python3', ['-c', SLOW_READER, file], { stdio: [cli.stdout, 'ignore', 'inherit'] });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const codes: { cli?: number | null; reader?: number | null } = {};
    const timer = setTimeout(
      () => (cli.kill('SIGKILL'), reader.kill('SIGKILL'), reject(new Error(`timed out; stderr: ${stderr}`))),
      120_000,
    );
    const done = () => {
      if (!('cli' in codes) || !('reader' in codes)) return;
      clearTimeout(timer);
      resolve({ cli: codes.cli!, reader: codes.reader!, stderr, data: readFileSync(file) });
    };
    cli.on('exit', (c) => ((codes.cli = c), done()));
    reader.on('exit', (c) => ((codes.reader = c), done()));
  });
}

t.test('status --json and dump -w - deliver every byte through a slow pipe', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-cli-pipe-'));
  const admin = await startStubAdmin(join(dir, 'admin.sock'), { peers: PEERS, packets: PACKETS });
  t.teardown(async () => {
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const where = ['--socket', admin.address];

  await t.test(`status --json with ${PEERS} peers`, async (t) => {
    const r = await throughSlowPipe(['status', '--json', ...where], join(dir, 'status.json'));
    t.equal(r.cli, 0, `vxtun status exit 0 ${r.stderr}`);
    t.ok(r.data.length > 4 * 65_536, `${r.data.length} bytes (more than a pipe holds)`);
    let s: Status | undefined;
    t.doesNotThrow(() => (s = JSON.parse(r.data.toString('utf8')) as Status), 'the whole JSON parses');
    t.equal(s?.peers.length, PEERS, `${PEERS} peers`);
  });

  await t.test(`dump -w - -c ${PACKETS}`, async (t) => {
    const r = await throughSlowPipe(['dump', ...where, '-w', '-', '-c', String(PACKETS)], join(dir, 'dump.pcapng'));
    t.equal(r.cli, 0, `vxtun dump exit 0 ${r.stderr}`);
    t.ok(r.data.length > 4 * 65_536, `${r.data.length} bytes`);
    const reader = new PcapngReader();
    let packets = -1;
    t.doesNotThrow(() => (packets = reader.push(r.data).length), 'the pcapng stream parses');
    t.equal(packets, PACKETS, `${PACKETS} packet blocks`);
    t.match(reader.stats, { delivered: PACKETS }, 'the closing statistics block arrived');
  });
});
