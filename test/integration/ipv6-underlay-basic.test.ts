// Two vxtun nodes over an IPv6 underlay (README "Configuration", `underlay`; "Wire format", "IPv6 underlay"):
//
//   pod-1 ──veth── node-1 [vxtun0] ══ UDP 8472 over fd99::/64 ══ [vxtun0] node-2 ──veth── pod-2
//   10.244.1.2     eth0 fd99::1 (also 192.168.99.1)      eth0 fd99::2 (also 192.168.99.2)     10.244.2.2
//                  fe80::99:1                            fe80::99:2
//   fd10:244:0:1::2                                                                           fd10:244:0:2::2
//
// The node eth0s get fd99::I/64 besides the lab's IPv4 address and both daemons are configured with IPv6
// publicIPs (node-1 through underlay.publicIP, node-2 through its own peers.static entry): the sockets are IPv6
// ones, /status shows the IPv6 underlay and an MTU of 1500 − 70, inner IPv4 and IPv6 pings and sha256-checked
// transfers go both ways. The outer UDP checksum is mandatory: a VXLAN datagram from node-2's address with a zero
// UDP checksum never reaches pod-1, the same datagram with its checksum does; from IPv6 sources that are no peer
// (a global one, and node-2's link-local one) it is an unknown-vtep drop. Once per engine.
import t from 'tap';
import { encap } from '../../src/dataplane/codec.js';
import {
  ipv4Udp,
  ipv6Udp,
  Lab,
  labPeer,
  nsExec,
  ping,
  sendRawIpv6,
  startPayloadCapture,
  startVxtunNode,
  tcpTransfer,
  type VxtunNode,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { parseMac } from '../../src/net/mac.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { podIP } from '../../src/lab/lab-addresses.js';

const MB = 1024 * 1024;
const MARK = 'VXTCSUM6';
const SINK_PORT = 9998;
const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'python3', 'ss']);
const u6 = (i: number): string => `fd99::${i}`;
const ll6 = (i: number): string => `fe80::99:${i}`;

/**
 * A VXLAN datagram to node-1 (fd99::1) from `src` (node-2 or anyone posing as it): pod-2 → pod-1, UDP to the
 * capture's sink, carrying `token`; with zeroChecksum its outer UDP checksum is 0.
 */
function toPod1(mac1: Uint8Array, mac2: Uint8Array, token: string, src: string, zeroChecksum: boolean): Uint8Array {
  const inner = ipv4Udp({
    src: podIP(2, 4),
    dst: podIP(1, 4),
    sport: 40_001,
    dport: SINK_PORT,
    payload: new TextEncoder().encode(token),
  });
  return ipv6Udp(
    { src, dst: u6(1), sport: 40_000, dport: 8472, payload: encap(inner, 1, mac1, mac2) },
    { zeroChecksum },
  );
}

/** Udp6InErrors and Udp6InCsumErrors of a namespace (/proc/net/snmp6 is per namespace). */
async function udp6Errors(ns: string): Promise<{ inErrors: number; csumErrors: number }> {
  const text = (await nsExec(ns, 'cat', ['/proc/net/snmp6'])).stdout;
  const get = (key: string) => Number(new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { inErrors: get('Udp6InErrors'), csumErrors: get('Udp6InCsumErrors') };
}

for (const engine of ['native', 'js'] as const)
  t.test(`two vxtun nodes over an IPv6 underlay, ${engine} engine`, { skip }, async (t) => {
    const lab = await Lab.create({
      nodes: 2,
      logger: lineLogger((l) => t.comment(l)),
      setupNode: async (lab, i) => {
        await lab.ip(lab.nodeNs(i), ['-6', 'addr', 'add', `${u6(i)}/64`, 'dev', 'eth0', 'nodad']);
        // The lab's links have no link-local address of their own; a rogue source below needs one.
        await lab.ip(lab.nodeNs(i), ['-6', 'addr', 'add', `${ll6(i)}/64`, 'dev', 'eth0', 'nodad']);
      },
    });
    t.teardown(() => lab.destroy());
    const peers = [1, 2].map((i) => ({ ...labPeer(lab, i), publicIP: u6(i) }));
    const n1 = await startVxtunNode(lab, 1, {
      peers,
      extra: { dataplane: { engine }, underlay: { publicIP: u6(1) } },
    });
    const n2 = await startVxtunNode(lab, 2, { peers, extra: { dataplane: { engine } } });
    const nodes: VxtunNode[] = [n1, n2];

    await t.test('status shows the IPv6 underlay and MTU 1500 − 70; the sockets are IPv6 ones', async (t) => {
      for (const [n, i, other] of [
        [n1, 1, 2],
        [n2, 2, 1],
      ] as const) {
        const s = await n.status();
        t.equal(s.publicIP, u6(i), `${n.name}: publicIP ${u6(i)}`);
        t.equal(s.mtu, 1430, `${n.name}: MTU 1430 on a 1500 underlay`);
        t.equal(s.engine, engine);
        t.same(
          s.peers.map((p) => [p.name, p.publicIP]),
          [[`node-${other}`, u6(other)]],
          `${n.name}: its peer by its IPv6 address`,
        );
        const mtu = (await lab.ip(n.ns, ['-j', 'link', 'show', 'dev', 'vxtun0'])).stdout;
        t.equal((JSON.parse(mtu) as { mtu: number }[])[0]?.mtu, 1430, `${n.name}: vxtun0 has MTU 1430`);
        // Every UDP socket in the node's namespace is the daemon's: receive sockets on :8472, transmit sockets on
        // kernel-chosen ports, all bound to the IPv6 publicIP.
        const sockets = (await nsExec(n.ns, 'ss', ['-Hnua'])).stdout.trim().split('\n').filter(Boolean);
        const local = sockets.map((l) => l.trim().split(/\s+/)[3] ?? '');
        t.ok(
          local.some((a) => a === `[${u6(i)}]:8472`),
          `${n.name}: a socket on [${u6(i)}]:8472 (${local.join(' ')})`,
        );
        t.ok(
          local.length > 0 && local.every((a) => a.startsWith(`[${u6(i)}]:`)),
          `${n.name}: every UDP socket is bound to ${u6(i)}`,
        );
      }
    });

    for (const fam of [4, 6] as const) {
      await t.test(`inner IPv${fam}: ping both ways, a sha256-checked transfer each way`, async (t) => {
        for (const [a, b] of [
          [1, 2],
          [2, 1],
        ] as const) {
          const r = await ping(lab, lab.podNs(a), lab.podIP(b, fam), { count: 3 });
          t.equal(r.received, 3, `pod-${a} → pod-${b} ${lab.podIP(b, fam)}: ${r.received}/${r.sent}`);
        }
        for (const [a, b] of [
          [1, 2],
          [2, 1],
        ] as const) {
          const r = await tcpTransfer(lab.podNs(b), lab.podIP(b, fam), lab.podNs(a), { bytes: 10 * MB });
          t.equal(r.bytes, 10 * MB, `pod-${a} → pod-${b}: all bytes arrived`);
          t.equal(r.sha256Received, r.sha256Sent, `pod-${a} → pod-${b}: sha256 matches`);
        }
      });
    }

    await t.test('the traffic crossed the underlay as IPv6: counters moved, nothing dropped', async (t) => {
      const s = await n1.status();
      t.comment(`node-1 offloads ${JSON.stringify(s.offloads)}, counters ${JSON.stringify(s.counters)}`);
      t.ok(s.counters.rxBytes > 20 * MB, `node-1 rxBytes ${s.counters.rxBytes}`);
      t.ok(s.counters.txBytes > 20 * MB, `node-1 txBytes ${s.counters.txBytes}`);
      for (const reason of ['unknown-vtep', 'spoofed-source', 'bad-mac', 'not-local']) {
        t.equal(s.counters.drops[reason], 0, `no ${reason} drops`);
      }
    });

    await t.test('a zero outer UDP checksum is refused on receive, a correct one is delivered', async (t) => {
      const s1 = await n1.status();
      const mac1 = parseMac(s1.vtepMAC)!;
      const mac2 = parseMac(s1.peers[0]!.vtepMAC)!;
      const capture = await startPayloadCapture(lab, lab.podNs(1), MARK, SINK_PORT);
      t.teardown(() => capture.stop());
      const datagram = (token: string, zeroChecksum: boolean) => toPod1(mac1, mac2, token, u6(2), zeroChecksum);
      const errorsBefore = await udp6Errors(n1.ns);
      const before = (await n1.status()).counters;
      // The zero-checksum datagrams first, then the good one: had the first been delivered, they would be seen
      // before it (one path, one order).
      await sendRawIpv6(lab, lab.nodeNs(2), [
        datagram(`${MARK}-zero-1`, true),
        datagram(`${MARK}-zero-2`, true),
        datagram(`${MARK}-zero-3`, true),
      ]);
      await sendRawIpv6(lab, lab.nodeNs(2), [datagram(`${MARK}-good`, false)]);
      await capture.waitFor(`${MARK}-good`, 10_000);
      t.pass('the datagram with its checksum reached pod-1');
      await new Promise((r) => setTimeout(r, 300));
      t.same(
        capture.seen().filter((s) => s.token.startsWith(`${MARK}-zero`)),
        [],
        'no zero-checksum datagram reached pod-1',
      );
      const after = (await n1.status()).counters;
      t.equal(after.rxPackets - before.rxPackets, 1, 'vxtun received exactly the good datagram');
      t.same(after.drops, before.drops, 'and dropped nothing: the kernel refused the others before vxtun saw them');
      const errorsAfter = await udp6Errors(n1.ns);
      t.ok(
        errorsAfter.inErrors - errorsBefore.inErrors >= 3 || errorsAfter.csumErrors - errorsBefore.csumErrors >= 3,
        `node-1's kernel counted them as UDP errors (Udp6InErrors ${errorsBefore.inErrors} → ${errorsAfter.inErrors}, ` +
          `Udp6InCsumErrors ${errorsBefore.csumErrors} → ${errorsAfter.csumErrors})`,
      );
    });

    await t.test('IPv6 sources that are no peer: unknown-vtep, never delivered', async (t) => {
      const s1 = await n1.status();
      const mac1 = parseMac(s1.vtepMAC)!;
      const mac2 = parseMac(s1.peers[0]!.vtepMAC)!;
      const capture = await startPayloadCapture(lab, lab.podNs(1), MARK, SINK_PORT);
      t.teardown(() => capture.stop());
      const linkLocal = ll6(2);
      const shown = (await lab.ip(lab.nodeNs(2), ['-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout;
      t.match(shown, `inet6 ${linkLocal}/64`, `node-2 has the link-local address ${linkLocal}`);
      const rogue = (token: string, src: string) => toPod1(mac1, mac2, token, src, false);
      const before = s1.counters.drops['unknown-vtep'] ?? 0;
      // Raw sockets may use any source: node-2 sends as fd99::66 (no node) and from its own link-local address.
      await sendRawIpv6(lab, lab.nodeNs(2), [
        rogue(`${MARK}-rogue-global`, 'fd99::66'),
        rogue(`${MARK}-rogue-ll`, linkLocal),
      ]);
      let after = before;
      for (let i = 0; i < 50 && after < before + 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = (await n1.status()).counters.drops['unknown-vtep'] ?? 0;
      }
      t.equal(after - before, 2, 'both counted as unknown-vtep');
      await new Promise((r) => setTimeout(r, 300));
      t.same(
        capture.seen().filter((s) => s.token.startsWith(`${MARK}-rogue`)),
        [],
        'neither reached pod-1',
      );
      const r = await ping(lab, lab.podNs(1), lab.podIP(2, 6), { count: 2 });
      t.equal(r.received, 2, 'the overlay still works afterwards');
    });

    await t.test('SIGTERM: both exit 0', async (t) => {
      for (const n of nodes) t.same(await n.stop('SIGTERM'), { code: 0, signal: null }, `${n.name} exited 0`);
    });
  });
