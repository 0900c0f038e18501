// Hostile requests to a running daemon's admin port (the real daemon, real addon, in a namespace lab):
// `GET //`, `GET ///`, `GET //@`, `GET http://x` and 1,000 random request lines (random methods, paths,
// versions and bytes from a seeded PRNG; the seed is printed, VXTUN_ADMIN_FUZZ_SEED replays it). Afterwards
// the process is alive, /healthz answers and the pods still reach each other.
import t from 'tap';
import { Lab, labPeer, nsExec, ping, startVxtunNode, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();
const SEED = Number(process.env['VXTUN_ADMIN_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

// Runs in node-1's namespace: argv = [port, seed, count]. Prints one JSON line: the first response line per fixed
// target and a histogram of the random ones' answers (status code, 'closed' or 'timeout').
const CLIENT = String.raw`
const net = require('node:net');
const [port, seed, count] = process.argv.slice(1).map(Number);
let s = seed >>> 0;
const rnd = () => { s = (s + 0x6d2b79f5) >>> 0; let x = s; x = Math.imul(x ^ (x >>> 15), x | 1); x ^= x + Math.imul(x ^ (x >>> 7), x | 61); return ((x ^ (x >>> 14)) >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const bytes = (n, lo = 0, hi = 256) => Buffer.from(Array.from({ length: n }, () => lo + Math.floor(rnd() * (hi - lo))));
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'PATCH', 'get', 'G\x00T', 'PRI', ''];
const PATHS = ['/', '//', '///', '//@', 'http://x', 'http://x/status', '*', '/healthz', '/readyz', '/metrics', '/status',
  '/debug/pcap', '/debug/pcap?seconds=1e10', '/debug/pcap?count=-1', '/debug/pcap?snaplen=0', '/debug/pcap?filter=%zz',
  '/%', '/%00', '/..%2f..%2f', '/?' + '&'.repeat(50), '/a#b', 'x:', '@', '\\\\', '/' + 'a'.repeat(9000)];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', 'http/1.1', '', 'HTTP/'];
const randomLine = () => {
  const kind = rnd();
  if (kind < 0.2) return bytes(1 + Math.floor(rnd() * 200));
  const method = rnd() < 0.1 ? bytes(1 + Math.floor(rnd() * 8), 32, 127).toString('latin1') : pick(METHODS);
  let path = rnd() < 0.3 ? '/' + bytes(Math.floor(rnd() * 80), 33, 256).toString('latin1') : pick(PATHS);
  if (rnd() < 0.2) path += bytes(Math.floor(rnd() * 10)).toString('latin1');
  const sep = rnd() < 0.1 ? pick(['  ', '\t', '']) : ' ';
  return Buffer.from(method + sep + path + ' ' + pick(VERSIONS), 'latin1');
};
const ask = (line) => new Promise((resolve) => {
  const sock = net.connect({ host: '127.0.0.1', port });
  let got = '';
  const timer = setTimeout(() => { sock.destroy(); resolve('timeout'); }, 30000);
  sock.on('data', (d) => { got += d.toString('latin1'); if (got.includes('\r\n')) sock.destroy(); });
  sock.on('error', () => {});
  sock.on('close', () => { clearTimeout(timer); resolve(got ? got.split('\r\n')[0] : 'closed'); });
  const headers = rnd() < 0.5 ? 'Host: x\r\n' : rnd() < 0.5 ? '' : bytes(Math.floor(rnd() * 60)).toString('latin1') + '\r\n';
  sock.write(Buffer.concat([line, Buffer.from('\r\n' + headers + '\r\n', 'latin1')]));
});
(async () => {
  const fixed = {};
  for (const target of ['//', '///', '//@', 'http://x']) fixed[target] = await ask(Buffer.from('GET ' + target + ' HTTP/1.1'));
  const lines = Array.from({ length: count }, randomLine);
  const answers = {};
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < lines.length) {
      const a = await ask(lines[next++]);
      const key = /^HTTP\/1\.[01] (\d{3})/.exec(a)?.[1] ?? a.slice(0, 40);
      answers[key] = (answers[key] ?? 0) + 1;
    }
  }));
  console.log(JSON.stringify({ fixed, answers }));
})();
`;

t.test('hostile admin requests leave the daemon forwarding', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers }));
  const [n1] = nodes as [VxtunNode];
  t.equal((await ping(lab, lab.podNs(1), lab.podIP(2), { count: 2 })).received, 2, 'pods reach each other before');

  t.comment(`random request lines: seed ${SEED} (VXTUN_ADMIN_FUZZ_SEED=${SEED} replays them)`);
  const r = await nsExec(n1.ns, process.execPath, ['-e', CLIENT, '9465', String(SEED), '1000'], { timeoutMs: 600_000 });
  const { fixed, answers } = JSON.parse(r.stdout) as { fixed: Record<string, string>; answers: Record<string, number> };
  t.comment(`answers to 1,000 random request lines: ${JSON.stringify(answers)}`);
  for (const [target, line] of Object.entries(fixed)) t.match(line, /^HTTP\/1\.1 400 /, `GET ${target} → ${line}`);
  const total = Object.values(answers).reduce((a, b) => a + b, 0);
  t.equal(total, 1000, 'every random request line was answered or closed');
  t.notOk(answers['500'], 'no 500');

  t.ok(n1.process.running(), `the daemon is alive (pid ${n1.process.pid})`);
  const health = await nsExec(n1.ns, process.execPath, [
    '-e',
    "fetch('http://127.0.0.1:9465/healthz').then((r) => console.log(r.status))",
  ]);
  t.equal(health.stdout.trim(), '200', '/healthz answers');
  for (const [a, b] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const p = await ping(lab, lab.podNs(a), lab.podIP(b), { count: 3 });
    t.equal(p.received, 3, `pod-${a} → pod-${b} after the requests: ${p.received}/${p.sent}`);
  }
});
