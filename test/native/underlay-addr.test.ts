// The underlay address type (native/core/underlay_addr.h) through the test addon: the forwarding table's public IP
// → peer map and the receive checks take either family and compare family and bytes (an IPv4 address never equals
// its IPv4-mapped IPv6 form); bad addresses are TypeErrors naming the field; a capture record with an IPv6 VTEP
// names it in its comment and, on an IPv4 node, gets an IPv4 outer header from 0.0.0.0 (native/core/pcapng_epb.h).
import t, { type Test } from 'tap';
import type { DataplaneTable } from '../../src/dataplane/types.js';
import { loadTestingAddon, type NativeCaptureRecord } from '../../src/dataplane/testing.js';
import { parseComment } from '../../src/dump/pcapng-read.js';
import { buildIp } from './fixtures/packets.js';

const native = loadTestingAddon();
const OUR_MAC = '0a:00:00:00:00:01';
const POLICY = { vni: 1, vtepMAC: OUR_MAC, acceptUnknownVteps: false, checkInnerSource: true };

const table = (): DataplaneTable => ({
  local: ['10.244.0.0/24'],
  peers: [
    { name: 'four', publicIP: '192.0.2.1', vtepMAC: '0a:00:00:00:00:02', cidrs: ['10.244.1.0/24'] },
    { name: 'six', publicIP: '2001:db8::2', vtepMAC: '0a:00:00:00:00:03', cidrs: ['10.244.2.0/24'] },
  ],
});

/** A VXLAN datagram (VNI 1, to our MAC) carrying UDP from 10.244.<net>.7 to 10.244.0.9. */
function datagram(net: number): Uint8Array {
  const l4 = Uint8Array.from([0x9c, 0x40, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4]);
  const ip = buildIp({
    family: 4,
    src: Uint8Array.of(10, 244, net, 7),
    dst: Uint8Array.of(10, 244, 0, 9),
    proto: 17,
    l4,
  });
  const prefix = Uint8Array.from([8, 0, 0, 0, 0, 0, 1, 0, 0x0a, 0, 0, 0, 0, 1, 0x0a, 0, 0, 0, 0, 2, 0x08, 0x00]);
  return Uint8Array.from([...prefix, ...ip]);
}

t.test('public IP → peer: either family, same family and bytes only', async (t) => {
  const tab = new native.Table(table());
  t.equal(tab.peerByIp('192.0.2.1'), 'four');
  t.equal(tab.peerByIp('2001:db8::2'), 'six');
  t.equal(tab.peerByIp('2001:DB8:0:0:0:0:0:2'), 'six', 'any text form of the same address');
  t.equal(tab.peerByIp('::ffff:192.0.2.1'), null, 'the IPv4-mapped form is another address');
  t.equal(tab.peerByIp('::192.0.2.1'), null);
  t.equal(tab.peerByIp('c000:201::'), null, 'the same bytes (c0 00 02 01, then zeros) in the other family');
  t.equal(tab.peerByIp('2001:db8::1'), null);
  t.equal(tab.peerByIp('192.0.2.2'), null);
  t.same(
    tab.peers().map((p) => p.publicIP),
    ['192.0.2.1', '2001:db8::2'],
    'peers() writes each address in its canonical form',
  );
});

t.test('two peers with one IPv6 public IP (written differently) are refused', async (t) => {
  const tab = table();
  tab.peers.push({
    name: 'again',
    publicIP: '2001:0db8:0::0002',
    vtepMAC: '0a:00:00:00:00:04',
    cidrs: ['10.244.3.0/24'],
  });
  t.throws(() => new native.Table(tab), {
    name: 'RangeError',
    message: 'peer again: public IP is used by another peer',
  });
  const distinct = table();
  distinct.peers.push({
    name: 'mapped',
    publicIP: '::ffff:192.0.2.1',
    vtepMAC: '0a:00:00:00:00:04',
    cidrs: ['10.244.3.0/24'],
  });
  distinct.peers.push({
    name: 'same-bytes',
    publicIP: 'c000:201::',
    vtepMAC: '0a:00:00:00:00:05',
    cidrs: ['10.244.4.0/24'],
  });
  t.doesNotThrow(
    () => new native.Table(distinct),
    'a v4 address, its IPv4-mapped form and c000:201:: are three addresses',
  );
});

t.test('the receive checks match the outer source by family and bytes', async (t) => {
  const tab = new native.Table(table());
  t.match(tab.classifyRx(datagram(2), '2001:db8::2', POLICY), { verdict: 'forward', peer: 'six' });
  t.match(tab.classifyRx(datagram(1), '192.0.2.1', POLICY), { verdict: 'forward', peer: 'four' });
  t.match(tab.classifyRx(datagram(1), '::ffff:192.0.2.1', POLICY), { verdict: 'unknown-vtep', peer: null });
  t.match(tab.classifyRx(datagram(2), '2001:db8::9', POLICY), { verdict: 'unknown-vtep', peer: null });
  // The inner source must lie in the sending peer's pod CIDRs: the IPv6 VTEP's, not the IPv4 one's.
  t.match(tab.classifyRx(datagram(1), '2001:db8::2', POLICY), { verdict: 'spoofed-source' });
  t.equal(tab.classifyRxBatch([datagram(2), datagram(2), datagram(1)], '2001:db8::2', POLICY), 2);
});

t.test('a bad underlay address is a TypeError naming the field', async (t) => {
  for (const bad of ['nope', '192.0.2', '2001:db8::2/64', '[2001:db8::2]', '']) {
    const tab = table();
    tab.peers[0]!.publicIP = bad;
    t.throws(() => new native.Table(tab), {
      name: 'TypeError',
      message: `expected an IPv4 or IPv6 address for publicIP: ${bad}`,
    });
  }
  const tab = new native.Table(table());
  t.throws(() => tab.peerByIp('fe80::1%eth0'), { name: 'TypeError', message: /publicIP/ });
  t.throws(() => tab.classifyRx(datagram(1), 'x', POLICY), { name: 'TypeError', message: /srcIP: x$/ });
});

/** The packet bytes and the comment of one EPB (native/core/pcapng_epb.h layout). */
function readEpb(t: Test, b: Buffer): { data: Buffer; origLen: number; comment: string } {
  t.equal(b.readUInt32LE(0), 6, 'an Enhanced Packet Block');
  t.equal(b.readUInt32LE(4), b.length, 'total length');
  const capLen = b.readUInt32LE(20);
  const data = b.subarray(28, 28 + capLen);
  const opt = 28 + ((capLen + 3) & ~3);
  t.equal(b.readUInt16LE(opt), 1, 'opt_comment first');
  const comment = b.subarray(opt + 4, opt + 4 + b.readUInt16LE(opt + 2)).toString('utf8');
  return { data, origLen: b.readUInt32LE(24), comment };
}

t.test('capture records: an IPv6 VTEP is named; on an IPv4 node its outer header has 0.0.0.0', async (t) => {
  const d = Buffer.from(datagram(2));
  const record = (vtep: string, peer: string): NativeCaptureRecord => ({
    tsNs: 1_700_000_000_000_000_000n,
    origLen: d.length,
    dropsBefore: 0,
    dir: 1,
    verdict: 0,
    vtep,
    worker: 0,
    hasPrefix: true,
    peer,
    data: d,
  });
  const outer = { publicIP: '192.0.2.100', port: 8472, vni: 1 };

  const v4 = readEpb(t, native.captureEpb(record('192.0.2.1', 'four'), outer));
  t.equal(v4.comment, 'dir=rx peer=four vtep=192.0.2.1 verdict=forward');
  t.equal(v4.data.length, 28 + d.length, 'IPv4 ends: outer IPv4 + UDP synthesised');
  t.same([...v4.data.subarray(12, 20)], [192, 0, 2, 1, 192, 0, 2, 100], 'outer source = the VTEP, destination = us');

  // The outer family is the node's (core/pcapng_epb.h): a VTEP of the other family is the unspecified address.
  const v6 = readEpb(t, native.captureEpb(record('2001:db8::2', 'six'), outer));
  t.equal(v6.comment, 'dir=rx peer=six vtep=2001:db8::2 verdict=forward', 'the comment names the IPv6 VTEP');
  t.equal(v6.data.length, 28 + d.length, 'an IPv6 VTEP on an IPv4 node: still 50 bytes of outer');
  t.same([...v6.data.subarray(12, 20)], [0, 0, 0, 0, 192, 0, 2, 100], '… from 0.0.0.0');
  t.same(v6.data.subarray(28), d, '… then the datagram as captured');

  const mapped = readEpb(t, native.captureEpb(record('::ffff:192.0.2.1', 'four'), outer));
  t.equal(mapped.comment, 'dir=rx peer=four vtep=::ffff:192.0.2.1 verdict=forward', 'an IPv4-mapped VTEP is IPv6');
  t.same([...mapped.data.subarray(12, 16)], [0, 0, 0, 0], '… so it is not the outer source either');

  // The longest comment: a 255-byte name, the longest IPv6 text (39 bytes) and a drop reason.
  const name = 'n'.repeat(255);
  const reasons = native.dropReasons;
  const longest = reasons.reduce((a, r) => (r.length > a.length ? r : a), '');
  const big = { ...record('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', name), verdict: reasons.indexOf(longest) + 1 };
  const c = parseComment(readEpb(t, native.captureEpb(big, outer)).comment);
  t.same(c, { dir: 'rx', peer: name, vtep: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', verdict: `drop:${longest}` });
});
