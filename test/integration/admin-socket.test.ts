// The admin surface of a running daemon (real addon, namespace lab): on TCP only /healthz, /readyz and /metrics
// (404 for /status and /debug/pcap); /status and captures on the unix socket (mode 0600), which `vxtun status`
// and `vxtun dump` use; a second daemon pointed at a live socket exits 1 and leaves it alone; a clean stop
// removes the socket file.
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cliPath, Lab, labPeer, nsExec, ping, startVxtunNode, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import type { Status } from '../../src/admin/status.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();

/** GET over TCP from inside `ns`: "<status> <first line of the body>". */
const tcpGet = async (ns: string, path: string) =>
  (
    await nsExec(ns, process.execPath, [
      '-e',
      `fetch('http://127.0.0.1:9465${path}').then(async (r) => console.log(r.status, (await r.text()).split('\\n')[0]))`,
    ])
  ).stdout.trim();

t.test('admin surface: TCP for probes and metrics, the unix socket for status and captures', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers }));
  const [n1, n2] = nodes as [VxtunNode, VxtunNode];
  const cli = cliPath();

  await t.test('TCP answers 404 for /status and /debug/pcap', async (t) => {
    t.match(await tcpGet(n1.ns, '/healthz'), /^200 ok/);
    t.match(await tcpGet(n1.ns, '/readyz'), /^200 ready/);
    t.match(await tcpGet(n1.ns, '/metrics'), /^200 /);
    t.match(await tcpGet(n1.ns, '/status'), /^404 /);
    t.match(await tcpGet(n1.ns, '/debug/pcap'), /^404 /);
    t.match(await tcpGet(n1.ns, '/debug/pcap?count=1'), /^404 /);
  });

  await t.test('the socket: mode 0600; vxtun status and vxtun dump work through it', async (t) => {
    const st = lstatSync(n1.socket);
    t.ok(st.isSocket(), `${n1.socket} is a socket`);
    t.equal(st.mode & 0o777, 0o600, 'mode 0600');
    const s = JSON.parse(
      (await nsExec(n1.ns, process.execPath, [cli, 'status', '--json', '--socket', n1.socket])).stdout,
    ) as Status;
    t.equal(s.node, 'node-1', 'vxtun status --socket');
    const text = await nsExec(n1.ns, process.execPath, [cli, 'status', '--socket', n1.socket]);
    t.match(text.stdout, /node-2/, 'the text status lists the peer');
    const dump = lab.spawn(n1.ns, process.execPath, [cli, 'dump', '--socket', n1.socket, '-c', '2', 'icmp']);
    await dump.waitForOutput(/listening on /, 20_000);
    await ping(lab, lab.podNs(1), lab.podIP(2), { count: 2 });
    const exit = await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 20_000)).then(() => null)]);
    if (!exit) await dump.stop('SIGKILL', 1_000);
    t.same(exit, { code: 0, signal: null }, 'vxtun dump -c 2 exits 0');
    t.equal(
      dump
        .stdout()
        .trim()
        .split('\n')
        .filter((l) => / ICMP echo/.test(l)).length,
      2,
      `two packet lines:\n${dump.stdout()}`,
    );
    const missing = await nsExec(n1.ns, process.execPath, [cli, 'status', '--socket', '/nonexistent/vxtun.sock'], {
      okExitCodes: [1],
    });
    t.match(
      missing.stderr,
      /cannot reach the admin socket \/nonexistent\/vxtun\.sock: ENOENT \(is vxtun running\?/,
      'no daemon: exit 1, says why',
    );
  });

  await t.test('a second daemon on a live socket: exit 1, the socket not taken', async (t) => {
    const config = JSON.parse(readFileSync(n2.configPath, 'utf8')) as Record<string, unknown>;
    await n2.stop(); // (its temporary directory goes with it)
    const dir = mkdtempSync(join(tmpdir(), 'vxtun-steal-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'steal.json');
    writeFileSync(path, JSON.stringify({ ...config, admin: { socket: n1.socket, listen: 'off' } }));
    const r = await nsExec(n2.ns, process.execPath, [cli, 'run', '--config', path], {
      okExitCodes: [0, 1, 2],
      timeoutMs: 30_000,
    });
    t.equal(r.code, 1, 'exit 1');
    t.match(
      r.stderr,
      /admin socket .*another process \(a running vxtun\?\) answers on this socket/,
      r.stderr.trim().split('\n').pop() ?? '',
    );
    t.notMatch((await lab.ip(n2.ns, ['-br', 'link', 'show'])).stdout, /vxtun0/, 'its device is gone again');
    t.equal((await n1.status()).node, 'node-1', 'node-1 still answers on its socket');
  });

  await t.test('a clean stop removes the socket', async (t) => {
    t.same(await n1.stop(), { code: 0, signal: null });
    t.notOk(existsSync(n1.socket), 'socket file removed');
  });
});
