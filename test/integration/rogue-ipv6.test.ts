// The receive checks over an IPv6-only underlay (README "Receive-side rules", issue 17): a rogue host fd99::66 on
// the underlay sends crafted VXLAN datagrams to node-1 ([fd99::1]:8472) from its own address (an unknown VTEP) and
// with node-2's address spoofed as the outer source, carrying an inner source outside node-2's subnets:
//
//   pod-1 ──veth── node-1 [vxtun0] ══ fd99::/64 (no IPv4) ══ [vxtun0] node-2 ──veth── pod-2
//   capture here    ▲ :8472
//                   └─── rogue fd99::66 (raw IPv6 socket: its own address, or fd99::2 spoofed)
//
// Strict (default) switches: every datagram is dropped under unknown-vtep or spoofed-source (exact counts), none
// reaches pod-1 (a capture in pod-1 looks for the markers, and does see a legitimate one), and pod traffic keeps
// flowing. Then node-1 runs with security.acceptUnknownVteps: true and security.checkInnerSource: false, and the same
// datagrams are delivered: the drops came from those two checks, not from a malformed datagram. Every expected
// verdict is also checked against the reference codec (src/dataplane/codec.ts) with the IPv6 outer source.
import t from 'tap';
import { checkRx, encap, type RxOptions } from '../../src/dataplane/codec.js';
import {
  ipv4Udp,
  ipv6Udp,
  Lab,
  labPeer,
  ping,
  sendRawIpv6,
  startPayloadCapture,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { parseIP } from '../../src/net/ip.js';
import { parseMac } from '../../src/net/mac.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { countInjection, node1Table, noDrops, sumDrops, type Case } from '../helpers/rogue-kit.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'python3']);
const MARK = 'VXTROGUE6';
const SINK_PORT = 9999;
const REPEAT = 3;
const ROGUE_IP = 'fd99::66';

function buildCases(phase: string, mac1: Uint8Array, mac2: Uint8Array): Case[] {
  const payload = (name: string) => new TextEncoder().encode(`${MARK}-${phase}-${name}`);
  const v4 = (name: string, src: string) =>
    encap(ipv4Udp({ src, dst: '10.244.1.2', sport: 40000, dport: SINK_PORT, payload: payload(name) }), 1, mac1, mac2);
  const v6 = (name: string, src: string) =>
    encap(
      ipv6Udp({ src, dst: 'fd10:244:0:1::2', sport: 40000, dport: SINK_PORT, payload: payload(name) }),
      1,
      mac1,
      mac2,
    );
  return [
    { name: 'unknown-vtep-v4', from: 'rogue', datagram: v4('unknown-vtep-v4', '10.244.2.2'), strict: 'unknown-vtep' },
    {
      name: 'unknown-vtep-v6',
      from: 'rogue',
      datagram: v6('unknown-vtep-v6', 'fd10:244:0:2::2'),
      strict: 'unknown-vtep',
    },
    { name: 'spoofed-v4', from: 'spoofed', datagram: v4('spoofed-v4', '10.244.3.3'), strict: 'spoofed-source' },
    { name: 'spoofed-v6', from: 'spoofed', datagram: v6('spoofed-v6', 'fd10:244:0:3::3'), strict: 'spoofed-source' },
  ];
}

t.test('crafted datagrams from a rogue host on an IPv6 underlay', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, underlay: 6, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const rogue = await lab.addHost('rogue', ROGUE_IP);
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const n2 = await startVxtunNode(lab, 2, { peers });
  let n1 = await startVxtunNode(lab, 1, { peers });
  const s1 = await n1.status();
  t.equal(s1.publicIP, 'fd99::1', 'node-1 listens on its IPv6 underlay address');
  const mac1 = parseMac(s1.vtepMAC)!;
  const mac2 = parseMac(s1.peers[0]!.vtepMAC)!;
  const node1 = lab.underlayIP(1);
  const node2 = lab.underlayIP(2);

  const table = node1Table(lab, s1);

  const expected = (c: Case, opts: Omit<RxOptions, 'vni' | 'localMac'>): string => {
    const r = checkRx(c.datagram, parseIP(c.from === 'rogue' ? ROGUE_IP : node2)!, table, {
      vni: 1,
      localMac: mac1,
      ...opts,
    });
    return r.verdict === 'forward' ? 'forward' : r.reason;
  };
  const onWire = (c: Case) =>
    ipv6Udp({ src: c.from === 'rogue' ? ROGUE_IP : node2, dst: node1, sport: 50000, dport: 8472, payload: c.datagram });

  const capture = await startPayloadCapture(lab, lab.podNs(1), MARK, SINK_PORT);
  t.teardown(() => capture.stop());

  await t.test('the capture in pod-1 sees a legitimate marker sent through the overlay', async (t) => {
    const send =
      'import socket,sys; socket.socket(socket.AF_INET6,socket.SOCK_DGRAM).sendto(sys.argv[1].encode(),(sys.argv[2],int(sys.argv[3])))';
    await lab.exec(lab.podNs(2), 'python3', ['-c', send, `${MARK}-legit-1`, lab.podIP(1, 6), String(SINK_PORT)]);
    await capture.waitFor(`${MARK}-legit-1`);
    t.pass('pod-2 → pod-1 IPv6 marker captured in pod-1');
  });

  /** Injects every case REPEAT times while pods ping each other; returns the rx drop deltas and the ping. */
  const inject = (node: VxtunNode, cases: Case[], expectDrops: number) =>
    countInjection(
      node,
      () => ping(lab, lab.podNs(1), lab.podIP(2, 6), { count: 20, intervalS: 0.05 }),
      () =>
        sendRawIpv6(
          lab,
          rogue,
          cases.flatMap((c) => Array.from({ length: REPEAT }, () => onWire(c))),
        ),
      expectDrops,
    );

  await t.test('strict (default) switches: unknown-vtep and spoofed-source, nothing reaches pod-1', async (t) => {
    const cases = buildCases('strict', mac1, mac2);
    const want: Record<string, number> = noDrops();
    for (const c of cases) {
      t.equal(expected(c, { acceptUnknownVteps: false, checkInnerSource: true }), c.strict, `${c.name}: reference`);
      want[c.strict]! += REPEAT;
    }
    const { delta, pong } = await inject(n1, cases, sumDrops(want));
    t.same(delta, want, `exact drop counts per reason: ${JSON.stringify(delta)}`);
    t.equal(pong.received, pong.sent, `pod-1 ⇄ pod-2 IPv6 ping during the injection: ${pong.received}/${pong.sent}`);
    t.same(
      capture.seen().filter((s) => s.token.startsWith(`${MARK}-strict`)),
      [],
      'no injected marker reached pod-1',
    );
    const r = await tcpTransfer(lab.podNs(1), lab.podIP(1, 6), lab.podNs(2), { bytes: 2 * 1024 * 1024 });
    t.equal(r.sha256Received, r.sha256Sent, 'a 2 MB IPv6 transfer pod-2 → pod-1 afterwards is intact');
  });

  await t.test('relaxed switches: the same datagrams are delivered', async (t) => {
    await n1.stop();
    n1 = await startVxtunNode(lab, 1, {
      peers,
      extra: { security: { acceptUnknownVteps: true, checkInnerSource: false } },
    });
    const cases = buildCases('relaxed', mac1, mac2);
    for (const c of cases) {
      t.equal(expected(c, { acceptUnknownVteps: true, checkInnerSource: false }), 'forward', `${c.name}: reference`);
    }
    const { delta, pong } = await inject(n1, cases, 0);
    t.equal(sumDrops(delta), 0, `no drops: ${JSON.stringify(delta)}`);
    t.equal(pong.received, pong.sent, `ping during the injection: ${pong.received}/${pong.sent}`);
    for (const c of cases) await capture.waitFor(`${MARK}-relaxed-${c.name}`);
    const arrived = [
      ...new Set(
        capture
          .seen()
          .filter((s) => s.token.startsWith(`${MARK}-relaxed`))
          .map((s) => s.token),
      ),
    ].sort();
    t.same(arrived, cases.map((c) => `${MARK}-relaxed-${c.name}`).sort(), 'pod-1 received each of them');
  });

  await t.test('both daemons still forward and stop cleanly', async (t) => {
    const r = await ping(lab, lab.podNs(2), lab.podIP(1, 4), { count: 3 });
    t.equal(r.received, 3, 'ping pod-2 → pod-1 (IPv4 inside)');
    t.same(await n1.stop(), { code: 0, signal: null }, 'node-1 exits 0');
    t.same(await n2.stop(), { code: 0, signal: null }, 'node-2 exits 0');
  });
});
