// A known peer floods node-1 with UDP GRO trains longer than one receive batch was sized for (issue 14 item 2):
//
//   pod-1 ──veth── node-1 [vxtun0, SIGSTOPped] ══ 192.168.99.0/24 ══ [vxtun0] node-2 ──veth── pod-2
//                   ▲ :8472                                   │
//                   └── 64 UDP_SEGMENT messages × 128 valid VXLAN datagrams, sent from node-2's address
//
// While node-1's daemon is stopped (SIGSTOP) the trains queue at its receive sockets; after SIGCONT one
// recvmmsg returns up to 64 trains of 128 datagrams (8,192), twice what the old receive arrays held: the old addon
// died with "double free or corruption". Now every datagram must be counted exactly once: as a received packet
// (rx packets), under a drop reason, as a write error, or in a train the kernel dropped at the full socket
// (socketDrops, SO_MEMINFO: one per train) — and the daemon keeps forwarding (pod-1 ⇄ pod-2 ping afterwards).
//
// Runs against whatever addon src/dataplane/addon.ts loads: native/sanitize/run.sh runs it with VXTUN_NATIVE_ADDON set to
// its ASan build (and ASan's log_path), so the same flood runs under the sanitizer.
import t, { type Test } from 'tap';
import { encap } from '../../src/dataplane/codec.js';
import { ipv4Udp, Lab, labPeer, ping, startVxtunNode, type VxtunNode } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { parseMac } from '../../src/net/mac.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'python3']);
const MESSAGES = 64;
const SEGMENTS = 128;
const SINK_PORT = 9;
const PAYLOAD = 18; // every datagram the same size: UDP_SEGMENT cuts at gso_size

// Sends the message on stdin (hex) `argv[3]` times to argv[2]:8472 from an ephemeral port of argv[1], as
// UDP_SEGMENT messages of argv[4]-byte datagrams (SOL_UDP 17, UDP_SEGMENT 103). Prints how many went out.
const SENDER = `
import socket, sys
src, dst, count, seg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = bytes.fromhex(sys.stdin.read().strip())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setsockopt(17, 103, seg)
n = 0
for _ in range(count):
    s.sendto(data, (dst, 8472))
    n += 1
print(n)
`;

interface Tally {
  rxPackets: number;
  rxErrors: number;
  drops: number;
  socketDrops: number;
}

async function tally(n: VxtunNode): Promise<Tally> {
  const s = await n.status();
  const c = s.counters;
  return {
    rxPackets: c.rxPackets,
    rxErrors: c.rxErrors,
    // Receive-side reasons only (no-route is the transmit side's).
    drops: Object.entries(c.drops).reduce((sum, [k, v]) => (k === 'no-route' ? sum : sum + v), 0),
    socketDrops: c.socketDrops ?? Number.NaN,
  };
}

// The kernel counts a socket drop per buffer it discards (SO_MEMINFO): a UDP GRO train counts once. Every
// message here arrives as one train of SEGMENTS datagrams, so a socket drop is SEGMENTS datagrams.
const accounted = (a: Tally, b: Tally) =>
  b.rxPackets -
  a.rxPackets +
  (b.rxErrors - a.rxErrors) +
  (b.drops - a.drops) +
  (b.socketDrops - a.socketDrops) * SEGMENTS;

t.test('64 UDP_SEGMENT messages of 128 VXLAN datagrams while the receiver is stopped', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  // One worker: every train lands on the one receive socket (with several, SO_REUSEPORT spreads them by source
  // port, and the one sender port would still pick one socket).
  const extra = { dataplane: { workers: 1, offloads: { udpGro: 'on' } } };
  await startVxtunNode(lab, 2, { peers, extra });
  const n1 = await startVxtunNode(lab, 1, { peers, extra });
  const s1 = await n1.status();
  t.equal(s1.offloads.udpGro, 'on', 'node-1 receives UDP GRO trains');
  t.type(s1.counters.socketDrops, 'number', '/status counts the datagrams dropped at the receive sockets');
  const mac1 = parseMac(s1.vtepMAC)!;
  const mac2 = parseMac(s1.peers[0]!.vtepMAC)!;

  const podIP2 = lab.podIP(2);
  const podIP1 = lab.podIP(1);
  const pid = n1.process.pid;
  let stopped = false;
  t.teardown(() => {
    if (stopped) process.kill(pid, 'SIGCONT');
  });

  /**
   * Stops node-1, sends `messages` UDP_SEGMENT messages of 128 datagrams with `payload` bytes of inner UDP
   * payload each (pod-2 → pod-1, to the discard port: nobody listens, the kernel answers with ICMP through the
   * overlay), continues node-1 and waits until every datagram is counted (bounded: 20 s) or the daemon is gone.
   */
  const flood = async (t: Test, messages: number, payloadBytes: number) => {
    const datagrams: Uint8Array[] = [];
    for (let i = 0; i < SEGMENTS; i++) {
      const payload = new Uint8Array(payloadBytes).fill(i & 0xff);
      const inner = ipv4Udp({ src: podIP2, dst: podIP1, sport: 40000, dport: SINK_PORT, payload }, { id: i });
      datagrams.push(encap(inner, 1, mac1, mac2));
    }
    const seg = datagrams[0]!.length;
    const message = Buffer.concat(datagrams.map((d) => Buffer.from(d)));
    t.equal(message.length, seg * SEGMENTS, `one message: ${SEGMENTS} datagrams of ${seg} bytes`);
    const before = await tally(n1);
    process.kill(pid, 'SIGSTOP');
    stopped = true;
    try {
      const sent = await lab.exec(
        lab.nodeNs(2),
        'python3',
        ['-c', SENDER, lab.underlayIP(2), lab.underlayIP(1), String(messages), String(seg)],
        { input: message.toString('hex') },
      );
      t.equal(Number(sent.stdout.trim()), messages, `node-2 sent ${messages} UDP_SEGMENT messages`);
    } finally {
      process.kill(pid, 'SIGCONT');
      stopped = false;
    }
    const total = messages * SEGMENTS;
    // Until every datagram is counted, or the counts stop moving, or 30 s have passed, or the daemon is gone.
    let after: Tally | undefined;
    let last = -1;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && n1.process.exitInfo === null;) {
      after = await tally(n1).catch(() => undefined);
      const now = after ? accounted(before, after) : -1;
      if (now >= total || (now === last && now > 0)) break;
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    const exit = n1.process.exitInfo;
    t.equal(
      exit,
      null,
      `node-1's daemon is still running${exit ? ` (exit ${JSON.stringify(exit)}): ${n1.process.stderr().slice(-1500)}` : ''}`,
    );
    if (exit || !after) return undefined;
    const delta = {
      rxPackets: after.rxPackets - before.rxPackets,
      rxErrors: after.rxErrors - before.rxErrors,
      drops: after.drops - before.drops,
      socketDrops: after.socketDrops - before.socketDrops,
    };
    t.equal(
      accounted(before, after),
      total,
      `every one of the ${total} datagrams is counted once: ${JSON.stringify(delta)}`,
    );
    t.ok(delta.rxPackets > 0, 'datagrams were forwarded to pod-1');
    return delta;
  };

  await t.test(`${MESSAGES} messages × ${SEGMENTS} small datagrams: a batch of ${MESSAGES * SEGMENTS}`, async (t) => {
    await flood(t, MESSAGES, PAYLOAD);
  });

  // 256 messages of about 64 KiB are more than the socket's buffer (kSocketBufBytes, 4 MiB): the kernel drops
  // the rest, and /status says how many.
  await t.test("more than the receive buffer holds: the kernel's drops are counted too", async (t) => {
    const delta = await flood(t, 256, 460); // 128 × 510 bytes: as much as one UDP_SEGMENT message holds
    if (delta)
      t.ok(
        delta.socketDrops > 0,
        `the kernel dropped ${delta.socketDrops} trains at the full socket, counted in socketDrops`,
      );
  });

  const pong = await ping(lab, lab.podNs(1), podIP2, { count: 5, intervalS: 0.2 });
  t.ok(pong.received > 0, `pod-1 → pod-2 ping after the flood: ${pong.received}/${pong.sent}`);
  const pong2 = await ping(lab, lab.podNs(2), podIP1, { count: 5, intervalS: 0.2 });
  t.ok(pong2.received > 0, `pod-2 → pod-1 ping after the flood: ${pong2.received}/${pong2.sent}`);
});
