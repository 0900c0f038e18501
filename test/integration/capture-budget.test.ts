// Capture sessions of a running daemon (real addon, 2 workers, namespace lab) against clients that never read:
// eight of them ask for /debug/pcap on the admin socket while bulk traffic fills the capture rings. Only as many
// get a session as the memory budget allows (src/dump/capture.ts maxCaptureSessions; the rest 503), the daemon's RSS
// grows by at most the budget (plus slack for the JS heap), the stuck sessions are cut off after the idle timeout
// (src/admin/pcap-stream.ts IDLE_TIMEOUT_MS) and a new capture works afterwards. The RSS numbers are printed.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { CAPTURE_MEMORY_BUDGET, maxCaptureSessions } from '../../src/dump/capture.js';
import { Lab, labPeer, ping, startVxtunNode, tcpTransfer, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { IDLE_TIMEOUT_MS } from '../../src/admin/pcap-stream.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();
const MiB = 1 << 20;
const WORKERS = 2;
const CLIENTS = 8;
/** The JS heap and allocator of a daemon moving traffic vary by this much on their own. */
const SLACK = 32 * MiB;

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

/** Connects, sends the request, reads the status line, then stops reading for good. */
function stuckClient(path: string): Promise<{ sock: Socket; status: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path }, () => sock.write('GET /debug/pcap HTTP/1.1\r\nHost: x\r\n\r\n'));
    sock.once('data', (d: Buffer) => {
      sock.pause();
      resolve({ sock, status: d.toString('latin1').split('\r\n')[0] ?? '' });
    });
    sock.once('error', reject);
  });
}

t.test(`${CLIENTS} capture clients that never read`, { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2])
    nodes.push(await startVxtunNode(lab, i, { peers, extra: { dataplane: { workers: WORKERS } } }));
  const [n1] = nodes as [VxtunNode];
  // Warm up (JIT, pools, socket buffers) so that the baseline is a forwarding daemon's.
  await tcpTransfer(lab.podNs(2), lab.podIP(2), lab.podNs(1), { bytes: 50 * MiB });
  const rss0 = rssOf(n1.process.pid);

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => stuckClient(n1.socket)));
  t.teardown(() => clients.forEach((c) => c.sock.destroy()));
  const granted = clients.filter((c) => / 200 /.test(c.status)).length;
  const expected = maxCaptureSessions(2 * WORKERS);
  t.equal(granted, expected, `${granted} sessions granted (the budget allows ${expected})`);
  t.equal(clients.filter((c) => / 503 /.test(c.status)).length, CLIENTS - expected, 'the others: 503');

  let peak = rssOf(n1.process.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(n1.process.pid))), 100);
  try {
    const r = await tcpTransfer(lab.podNs(2), lab.podIP(2), lab.podNs(1), { bytes: 300 * MiB });
    t.equal(
      r.sha256Received,
      r.sha256Sent,
      `300 MB forwarded while the stuck captures run (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
    );
    const s = await n1.status();
    t.equal(s.capture?.sessions, expected, `${expected} sessions running`);
    t.ok((s.capture?.dropped ?? 0) > 0, `their rings filled: ${s.capture?.dropped} capture records dropped`);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, rssOf(n1.process.pid));
  t.comment(
    `RSS: ${mib(rss0)} before the clients, ${mib(peak)} at most with them (+${mib(peak - rss0)}; budget ${mib(CAPTURE_MEMORY_BUDGET)})`,
  );
  t.ok(
    peak - rss0 <= CAPTURE_MEMORY_BUDGET + SLACK,
    `RSS grew by ${mib(peak - rss0)} ≤ budget ${mib(CAPTURE_MEMORY_BUDGET)} + ${mib(SLACK)}`,
  );

  const end = Date.now() + IDLE_TIMEOUT_MS + 60_000;
  let sessions = -1;
  while (Date.now() < end && (sessions = (await n1.status()).capture?.sessions ?? -1) !== 0)
    await new Promise((r) => setTimeout(r, 500));
  t.equal(sessions, 0, 'the stuck sessions were cut off (idle timeout)');
  const dump = lab.spawn(n1.ns, process.execPath, [
    (await import('../../src/lab/index.js')).cliPath(),
    'dump',
    '--socket',
    n1.socket,
    '-c',
    '2',
    'icmp',
  ]);
  await dump.waitForOutput(/listening on /, 20_000);
  t.equal((await ping(lab, lab.podNs(1), lab.podIP(2), { count: 2 })).received, 2, 'forwarding goes on');
  const exit = await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 20_000)).then(() => null)]);
  if (!exit) await dump.stop('SIGKILL', 1_000);
  t.same(exit, { code: 0, signal: null }, 'a new capture gets a session and ends by count');
  t.comment(`RSS after the cut-off: ${mib(rssOf(n1.process.pid))}`);
});
