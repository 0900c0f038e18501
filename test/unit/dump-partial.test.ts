// A dump stopped while a block is still arriving (Ctrl-C, SIGTERM, a test's SIGINT on a loaded machine) must leave a
// valid pcapng file and a valid stream: only whole blocks are written. Before src/dump/command.ts held the partial block
// back, the file ended mid-block and tshark refused it ("cut short in the middle of a packet").
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { runDump } from '../../src/dump/command.js';
import { enhancedPacketBlock, pcapngHeader } from '../../src/dump/pcapng.js';
import { PcapngReader } from '../../src/dump/pcapng-read.js';

const ICMP = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');

/** A capture stream: header, `whole` packet blocks, then the first `cut` bytes of one more, and the stream stays open. */
function stream(whole: number, cut: number): { bytes: Buffer; completeLen: number } {
  const blocks = [pcapngHeader()];
  for (let i = 0; i < whole; i++)
    blocks.push(enhancedPacketBlock(1_700_000_000_000_000_000n + BigInt(i), ICMP, ICMP.length, `dir=tx n=${i}`));
  const completeLen = blocks.reduce((n, b) => n + b.length, 0);
  const last = enhancedPacketBlock(1_800_000_000_000_000_000n, ICMP, ICMP.length, 'dir=tx n=last');
  return { bytes: Buffer.concat([...blocks, last.subarray(0, cut)]), completeLen };
}

async function serve(t: Test, send: (res: ServerResponse) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-dump-partial-'));
  const socket = join(dir, 's.sock');
  const open: ServerResponse[] = [];
  const srv = createServer((req, res) => {
    if (!req.url?.startsWith('/debug/pcap')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    open.push(res);
    send(res);
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  t.teardown(async () => {
    for (const r of open) r.destroy();
    await new Promise((r) => srv.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return socket;
}

const until = async (pred: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

for (const cut of [3, 8, 30]) {
  t.test(`-w FILE stopped ${cut} bytes into a block: the file holds exactly the whole blocks`, async (t) => {
    const { bytes, completeLen } = stream(5, cut);
    let sent = false;
    // Sent in small pieces, so blocks straddle chunks too.
    const socket = await serve(t, (res) => {
      for (let off = 0; off < bytes.length; off += 37) res.write(bytes.subarray(off, off + 37));
      sent = true;
    });
    const dir = mkdtempSync(join(tmpdir(), 'vxtun-dump-out-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'x.pcapng');
    const abort = new AbortController();
    const done = runDump(
      { socket, write: file, filter: [] },
      { line: () => {}, status: () => {}, stdout: new PassThrough(), signal: abort.signal },
    );
    await until(() => sent, 'the stream');
    await until(() => {
      try {
        return readFileSync(file).length >= completeLen;
      } catch {
        return false;
      }
    }, 'the whole blocks on disk');
    await new Promise((r) => setTimeout(r, 100)); // the partial block has arrived too
    abort.abort();
    const r = await done;
    const saved = readFileSync(file);
    t.equal(
      saved.length,
      completeLen,
      `the file ends at the last whole block (${saved.length} bytes kept of ${bytes.length} received)`,
    );
    t.same(saved, bytes.subarray(0, completeLen), 'byte for byte what the daemon sent');
    const packets = new PcapngReader().push(saved);
    t.equal(packets.length, 5, 'it reads back as 5 packets');
    t.equal(r.packets, 5, 'and the summary counts 5');
  });
}

t.test('-w - (stdout) stopped mid-block: the stream carries only whole blocks', async (t) => {
  const { bytes, completeLen } = stream(3, 20);
  const socket = await serve(t, (res) => res.write(bytes));
  const out = new PassThrough();
  const got: Buffer[] = [];
  out.on('data', (b: Buffer) => got.push(b));
  const abort = new AbortController();
  const done = runDump(
    { socket, write: '-', filter: [] },
    { line: () => {}, status: () => {}, stdout: out, signal: abort.signal },
  );
  await until(() => Buffer.concat(got).length >= completeLen, 'the whole blocks on stdout');
  await new Promise((r) => setTimeout(r, 100));
  abort.abort();
  await done;
  t.same(Buffer.concat(got), bytes.subarray(0, completeLen), 'exactly the whole blocks');
});
