// A rogue host on the underlay sends crafted VXLAN datagrams to node-1:8472 (README "Receive-side rules"):
//
//   pod-1 ──veth── node-1 [vxtun0] ══ 192.168.99.0/24 ══ [vxtun0] node-2 ──veth── pod-2
//   capture here    ▲ :8472                 │
//                   └─── rogue 192.168.99.66 (raw socket: its own address, or node-2's spoofed)
//
// Each datagram must be dropped under exactly its reason (exact counts in /status, the same in /metrics),
// nothing may reach pod-1 (a capture in pod-1's namespace looks for the injected marker payloads, and does see
// a legitimate one), and pod traffic keeps flowing during and after the injection. Then node-1 is restarted with
// security.acceptUnknownVteps: true and security.checkInnerSource: false, and exactly the unknown-vtep and
// spoofed-source datagrams get through. Every expected verdict is also checked against the reference codec.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { checkRx, ENCAP_PREFIX, encap, type RxOptions } from '../../src/dataplane/codec.js';
import {
  ipv4Udp,
  ipv6Udp,
  Lab,
  labPeer,
  nsExec,
  ping,
  sendRawIpv4,
  startPayloadCapture,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { parseIP, type IP } from '../../src/net/ip.js';
import { parseMac } from '../../src/net/mac.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { countInjection, node1Table, noDrops, RX_REASONS, sumDrops, type Case } from '../helpers/rogue-kit.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'python3']);
const MARK = 'VXTROGUE';
const SINK_PORT = 9999;
const REPEAT = 3;
const ROGUE_IP = '192.168.99.66';

/** A deterministic byte generator (xorshift32), so the "random" datagrams are the same on every run. */
function randomBytes(seed: number, n: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const patched = (d: Uint8Array, at: number, value: number): Uint8Array => {
  const c = Uint8Array.from(d);
  c[at] = value;
  return c;
};

function buildCases(phase: string, mac1: Uint8Array, mac2: Uint8Array): Case[] {
  const token = (name: string) => bytes(`${MARK}-${phase}-${name}`);
  const udp4 = (name: string, src: string, dst: string) =>
    ipv4Udp({ src, dst, sport: 40000, dport: SINK_PORT, payload: token(name) });
  const wrap = (pkt: Uint8Array, vni = 1, dst = mac1) => encap(pkt, vni, dst, mac2);
  const good = (name: string) => wrap(udp4(name, '10.244.2.2', '10.244.1.2'));
  const header = wrap(udp4('x', '10.244.2.2', '10.244.1.2')).subarray(0, 20); // VXLAN header + our MAC + src MAC
  return [
    { name: 'unknown-vtep', from: 'rogue', datagram: good('unknown-vtep'), strict: 'unknown-vtep' },
    {
      name: 'spoofed-v4',
      from: 'spoofed',
      datagram: wrap(udp4('spoofed-v4', '10.244.3.3', '10.244.1.2')),
      strict: 'spoofed-source',
    },
    {
      name: 'spoofed-v6',
      from: 'spoofed',
      datagram: wrap(
        ipv6Udp({
          src: 'fd10:244:0:3::3',
          dst: 'fd10:244:0:1::2',
          sport: 40000,
          dport: SINK_PORT,
          payload: token('spoofed-v6'),
        }),
      ),
      strict: 'spoofed-source',
    },
    {
      name: 'wrong-vni',
      from: 'spoofed',
      datagram: wrap(udp4('wrong-vni', '10.244.2.2', '10.244.1.2'), 2),
      strict: 'vni',
    },
    {
      name: 'wrong-mac',
      from: 'spoofed',
      datagram: wrap(udp4('wrong-mac', '10.244.2.2', '10.244.1.2'), 1, parseMac('0a:00:00:00:99:99')!),
      strict: 'bad-mac',
    },
    { name: 'bad-flags', from: 'spoofed', datagram: patched(good('bad-flags'), 0, 0x0c), strict: 'bad-header' },
    { name: 'reserved-bits', from: 'spoofed', datagram: patched(good('reserved-bits'), 7, 0x01), strict: 'bad-header' },
    { name: 'truncated-header', from: 'spoofed', datagram: good('truncated-header').subarray(0, 14), strict: 'short' },
    { name: 'empty', from: 'spoofed', datagram: new Uint8Array(0), strict: 'short' },
    {
      name: 'truncated-inner',
      from: 'spoofed',
      datagram: good('truncated-inner').subarray(0, ENCAP_PREFIX + 16),
      strict: 'bad-ip',
    },
    {
      name: 'ip-checksum',
      from: 'spoofed',
      datagram: patched(good('ip-checksum'), ENCAP_PREFIX + 10, 0x00),
      strict: 'bad-ip',
    },
    {
      name: 'non-ip',
      from: 'spoofed',
      datagram: patched(patched(good('non-ip'), 20, 0x08), 21, 0x06),
      strict: 'ethertype',
    },
    {
      name: 'not-local',
      from: 'spoofed',
      datagram: wrap(udp4('not-local', '10.244.2.2', '10.244.3.9')),
      strict: 'not-local',
    },
    { name: 'random', from: 'spoofed', datagram: concat(randomBytes(7, 90), token('random')), strict: 'bad-header' },
    {
      name: 'random-after-header',
      from: 'spoofed',
      datagram: concat(header, randomBytes(11, 70), token('random-after-header')),
      strict: 'ethertype',
    },
    {
      name: 'random-ipv4',
      from: 'spoofed',
      datagram: concat(header, Uint8Array.of(0x08, 0x00, 0x45), randomBytes(13, 60), token('random-ipv4')),
      strict: 'bad-ip',
    },
  ];
}

/** The IPv4 packet the rogue puts on the wire for a case (outer UDP to node-1:8472). */
function onWire(c: Case, node1: string, node2: string): Uint8Array {
  return ipv4Udp({
    src: c.from === 'rogue' ? ROGUE_IP : node2,
    dst: node1,
    sport: 50000,
    dport: 8472,
    payload: c.datagram,
  });
}

t.test('crafted datagrams from a rogue underlay host', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const rogue = await lab.addHost('rogue', ROGUE_IP);
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const n2 = await startVxtunNode(lab, 2, { peers });
  let n1 = await startVxtunNode(lab, 1, { peers });
  const s1 = await n1.status();
  const mac1 = parseMac(s1.vtepMAC)!;
  const mac2 = parseMac(s1.peers[0]!.vtepMAC)!;
  const node1 = lab.underlayIP(1);
  const node2 = lab.underlayIP(2);

  // The reference's view of node-1, for the expected verdicts.
  const table = node1Table(lab, s1);

  const expected = (c: Case, opts: Omit<RxOptions, 'vni' | 'localMac'>): string => {
    const src: IP = parseIP(c.from === 'rogue' ? ROGUE_IP : node2)!;
    const r = checkRx(c.datagram, src, table, { vni: 1, localMac: mac1, ...opts });
    return r.verdict === 'forward' ? 'forward' : r.reason;
  };

  const capture = await startPayloadCapture(lab, lab.podNs(1), MARK, SINK_PORT);
  t.teardown(() => capture.stop());

  await t.test('the capture in pod-1 sees a legitimate marker sent through the overlay', async (t) => {
    const send =
      'import socket,sys; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(sys.argv[1].encode(),(sys.argv[2],int(sys.argv[3])))';
    await lab.exec(lab.podNs(2), 'python3', ['-c', send, `${MARK}-legit-1`, lab.podIP(1), String(SINK_PORT)]);
    await capture.waitFor(`${MARK}-legit-1`);
    t.pass('pod-2 → pod-1 marker captured in pod-1');
  });

  /** Injects every case REPEAT times while pods ping each other; returns the rx drop deltas and the ping. */
  const inject = (node: VxtunNode, cases: Case[], expectDrops: number) =>
    countInjection(
      node,
      () => ping(lab, lab.podNs(1), lab.podIP(2), { count: 30, intervalS: 0.05 }),
      () =>
        sendRawIpv4(
          lab,
          rogue,
          cases.flatMap((c) => Array.from({ length: REPEAT }, () => onWire(c, node1, node2))),
        ),
      expectDrops,
    );

  const strictCases = buildCases('strict', mac1, mac2);
  await t.test('strict (default) switches: every datagram dropped under its own reason', async (t) => {
    const want: Record<string, number> = noDrops();
    for (const c of strictCases) {
      t.equal(
        expected(c, { acceptUnknownVteps: false, checkInnerSource: true }),
        c.strict,
        `${c.name}: the reference codec agrees (${c.strict})`,
      );
      want[c.strict]! += REPEAT;
    }
    const { delta, pong } = await inject(n1, strictCases, sumDrops(want));
    t.same(delta, want, `exact drop counts per reason: ${JSON.stringify(delta)}`);
    t.equal(pong.received, pong.sent, `pod-1 ⇄ pod-2 ping during the injection: ${pong.received}/${pong.sent}`);
    const leaked = capture.seen().filter((s) => s.token.startsWith(`${MARK}-strict`));
    t.same(leaked, [], 'no injected marker reached pod-1');

    const r = await tcpTransfer(lab.podNs(2), lab.podIP(2), lab.podNs(1), { bytes: 5 * 1024 * 1024 });
    t.equal(r.sha256Received, r.sha256Sent, 'a 5 MB transfer pod-1 → pod-2 afterwards is intact');
    const r6 = await tcpTransfer(lab.podNs(1), lab.podIP(1, 6), lab.podNs(2), { bytes: 5 * 1024 * 1024 });
    t.equal(r6.sha256Received, r6.sha256Sent, 'a 5 MB IPv6 transfer pod-2 → pod-1 afterwards is intact');
  });

  await t.test('/metrics shows the same drop counters as /status, and passes promtool', async (t) => {
    const metrics = await nsExec(n1.ns, process.execPath, [
      '-e',
      "fetch('http://127.0.0.1:9465/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))",
    ]);
    const [code, ...lines] = metrics.stdout.split('\n');
    t.equal(code, '200', 'GET /metrics: 200');
    const status = await n1.status();
    for (const reason of [...RX_REASONS, 'no-route']) {
      const line = lines.find((l) => l.startsWith(`vxtun_drops_total{reason="${reason}"} `));
      t.equal(
        Number(line?.split(' ')[1]),
        status.counters.drops[reason],
        `vxtun_drops_total{reason="${reason}"} = /status`,
      );
    }
    t.ok(lines.includes('vxtun_peers 1'), 'vxtun_peers 1');
    t.ok(
      lines.some((l) => /^vxtun_rx_packets_total \d+$/.test(l)),
      'vxtun_rx_packets_total present',
    );
    t.ok(
      lines.some((l) => /^process_resident_memory_bytes \d+$/.test(l)),
      'process metrics present',
    );
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: lines.join('\n'), encoding: 'utf8' });
    if (promtool.error) {
      t.comment(`promtool not installed, exposition not linted here (test/unit/metrics.test.ts reports it)`);
    } else {
      t.equal(promtool.status, 0, `promtool check metrics: ${(promtool.stdout + promtool.stderr).trim() || 'ok'}`);
    }
  });

  await t.test('drop logs: rate-limited lines that add up to the counts', async (t) => {
    // One line per reason per 10 s interval: wait for the interval that holds the injection to end.
    const strictWant = new Map<string, number>();
    for (const c of strictCases) strictWant.set(c.strict, (strictWant.get(c.strict) ?? 0) + REPEAT);
    const logged = () => {
      const m = new Map<string, number>();
      for (const [, n, reason] of n1.process.stderr().matchAll(/ dropped (\d+) datagrams?: (\S+) \(last 10 s\)/g)) {
        m.set(reason!, (m.get(reason!) ?? 0) + Number(n));
      }
      return m;
    };
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && [...strictWant].some(([r, n]) => (logged().get(r) ?? 0) < n)) {
      await new Promise((r) => setTimeout(r, 500));
    }
    t.same(Object.fromEntries(logged()), Object.fromEntries(strictWant), 'the logged counts per reason match');
  });

  await t.test('relaxed switches: exactly the unknown-vtep and spoofed-source datagrams get through', async (t) => {
    await n1.stop();
    n1 = await startVxtunNode(lab, 1, {
      peers,
      extra: { security: { acceptUnknownVteps: true, checkInnerSource: false } },
    });
    const cases = buildCases('relaxed', mac1, mac2);
    const want: Record<string, number> = noDrops();
    const changed: string[] = [];
    for (const c of cases) {
      const v = expected(c, { acceptUnknownVteps: true, checkInnerSource: false });
      if (v !== c.strict) changed.push(`${c.name}:${v}`);
      if (v !== 'forward') want[v]! += REPEAT;
    }
    t.same(
      changed,
      ['unknown-vtep:forward', 'spoofed-v4:forward', 'spoofed-v6:forward'],
      'the reference: only these verdicts change',
    );
    const { delta, pong } = await inject(n1, cases, sumDrops(want));
    t.same(delta, want, `exact drop counts per reason: ${JSON.stringify(delta)}`);
    t.equal(pong.received, pong.sent, `ping during the injection: ${pong.received}/${pong.sent}`);
    for (const name of ['unknown-vtep', 'spoofed-v4', 'spoofed-v6']) await capture.waitFor(`${MARK}-relaxed-${name}`);
    await new Promise((r) => setTimeout(r, 300));
    const arrived = [
      ...new Set(
        capture
          .seen()
          .filter((s) => s.token.startsWith(`${MARK}-relaxed`))
          .map((s) => s.token),
      ),
    ].sort();
    t.same(
      arrived,
      [`${MARK}-relaxed-spoofed-v4`, `${MARK}-relaxed-spoofed-v6`, `${MARK}-relaxed-unknown-vtep`],
      'pod-1 received exactly those',
    );
    const counts = capture
      .seen()
      .filter((s) => s.token === `${MARK}-relaxed-unknown-vtep` && s.iface === 'eth0').length;
    t.equal(counts, REPEAT, `each of the ${REPEAT} copies arrived once`);
  });

  await t.test('both daemons still forward and stop cleanly', async (t) => {
    const r = await ping(lab, lab.podNs(2), lab.podIP(1), { count: 3 });
    t.equal(r.received, 3, 'ping pod-2 → pod-1');
    t.same(await n1.stop(), { code: 0, signal: null }, 'node-1 exits 0');
    t.same(await n2.stop(), { code: 0, signal: null }, 'node-2 exits 0');
  });
});
