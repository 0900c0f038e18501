// Differential test: the daemon's native pcapng packet blocks (native/core/pcapng_epb.h, via the
// test-only captureEpb export) against the reference writer src/dump/pcapng.ts recordBlock, byte for
// byte, on random capture records with and without --outer: IPv4 and IPv6 nodes, IPv4, IPv6 and absent
// VTEPs (the mixed families included); then the IPv6 outer header's fields and checksum checked on their
// own, and the mixed records' unspecified address. Reproduce a failure with
// VXTUN_SEED=<seed printed below> npx tap test/native/pcapng-epb.test.ts.
import t from 'tap';
import type { CaptureRecord } from '../../src/dump/capture.js';
import { loadTestingAddon, type NativeCaptureRecord } from '../../src/dataplane/testing.js';
import { internetChecksum } from '../../src/dataplane/codec.js';
import { pcapngHeader, recordBlock, type OuterContext } from '../../src/dump/pcapng.js';
import { PcapngReader, parseComment } from '../../src/dump/pcapng-read.js';
import { formatIP } from '../../src/net/ip.js';
import { buildIp, hex, Rng, testSeed, u16 } from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0x9ca9e9b);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);
const PREFIX = 22;
const MAX_CAP = PREFIX + 1962;

/** The record the reference writer sees for what the native side stores. */
function reference(n: NativeCaptureRecord): CaptureRecord {
  const data = Buffer.from(n.data);
  const withPrefix = n.hasPrefix && data.length >= PREFIX;
  return {
    tsNs: n.tsNs,
    dir: n.dir === 0 ? 'tx' : 'rx',
    verdict: n.verdict === 0 ? 'forward' : native.dropReasons[n.verdict - 1]!,
    peer: n.peer,
    vtep: n.vtep === 'none' ? '0.0.0.0' : n.vtep, // as the comment names it
    worker: n.worker,
    prefix: withPrefix ? data.subarray(0, PREFIX) : null,
    packet: withPrefix ? data.subarray(PREFIX) : data,
    origLen: withPrefix ? n.origLen - PREFIX : n.origLen,
    dropsBefore: n.dropsBefore,
  };
}

/** An IPv4 VTEP, an IPv6 one (as formatIP writes it, the form the native side prints), or none. */
function randomVtep(rng: Rng): string {
  return rng.weighted([
    [`${rng.byte()}.${rng.byte()}.${rng.byte()}.${rng.byte()}`, 5],
    [formatIP(Uint8Array.from([0xfd, 0x99, ...rng.bytes(14)])), 4],
    [formatIP(new Uint8Array(16)), 1],
    ['none', 1],
  ] as const);
}

function randomOuter(rng: Rng): OuterContext {
  const publicIP = rng.chance(0.5)
    ? `192.168.${rng.byte()}.${rng.byte()}`
    : formatIP(Uint8Array.from([0xfd, 0x99, ...rng.bytes(14)]));
  const o: OuterContext = { publicIP, port: rng.range(1, 65535), vni: rng.range(0, 0xffffff) };
  // A dual-stack node: an IPv4 publicIP and an IPv6 one.
  if (!publicIP.includes(':') && rng.chance(0.4))
    o.publicIPv6 = formatIP(Uint8Array.from([0xfd, 0x98, ...rng.bytes(14)]));
  return o;
}

function randomRecord(rng: Rng): NativeCaptureRecord {
  const hasPrefix = rng.chance(0.7);
  let inner: Uint8Array;
  if (rng.chance(0.6)) {
    const v6 = rng.chance(0.3);
    inner = buildIp({
      family: v6 ? 6 : 4,
      src: rng.bytes(v6 ? 16 : 4),
      dst: rng.bytes(v6 ? 16 : 4),
      proto: rng.pick([1, 6, 17, 58, 47]),
      l4: rng.bytes(rng.range(0, 1500)),
    });
  } else {
    inner = rng.bytes(rng.range(0, 60));
  }
  const full = hasPrefix ? Buffer.concat([Buffer.from(rng.bytes(PREFIX)), Buffer.from(inner)]) : Buffer.from(inner);
  // A snap length cuts the stored bytes; origLen keeps the packet's length.
  const cap = Math.min(full.length, MAX_CAP, rng.chance(0.3) ? rng.range(0, full.length) : full.length);
  const nameLen = rng.weighted([
    [0, 2],
    [rng.range(1, 20), 5],
    [rng.range(20, 255), 1],
  ] as const);
  const name = Array.from({ length: nameLen }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-.'[rng.int(38)]).join('');
  return {
    tsNs: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()),
    origLen: full.length + (rng.chance(0.1) ? rng.range(0, 64000) : 0),
    dropsBefore: rng.chance(0.2) ? rng.range(1, 100000) : 0,
    dir: rng.chance(0.5) ? 0 : 1,
    verdict: rng.chance(0.5) ? 0 : rng.range(1, native.dropReasons.length),
    vtep: randomVtep(rng),
    worker: rng.range(0, 7),
    hasPrefix,
    peer: name,
    data: full.subarray(0, cap),
  };
}

t.test('native blocks equal the reference, byte for byte', async (t) => {
  const rng = new Rng(SEED);
  const N = 6000;
  let mismatches = 0;
  const kinds = { outer: 0, outerV6: 0, mixed: 0, dualStack: 0, vtepNone: 0, prefix: 0, drops: 0, truncated: 0 };
  for (let i = 0; i < N && mismatches < 5; i++) {
    const r = randomRecord(rng);
    const outer = rng.chance(0.6) ? randomOuter(rng) : undefined;
    const want = recordBlock(reference(r), outer);
    const got = native.captureEpb(r, outer);
    if (!got.equals(want)) {
      mismatches++;
      t.fail(
        `record ${i}: native ${hex(got, 200)} != reference ${hex(want, 200)} (peer ${r.peer.length} bytes, outer ${Boolean(outer)})`,
      );
    }
    kinds.outer += outer ? 1 : 0;
    const v6 = (ip: string) => ip.includes(':');
    kinds.outerV6 += outer && v6(outer.publicIP) ? 1 : 0;
    kinds.mixed += outer && !outer.publicIPv6 && r.vtep !== 'none' && v6(outer.publicIP) !== v6(r.vtep) ? 1 : 0;
    kinds.dualStack += outer?.publicIPv6 ? 1 : 0;
    kinds.vtepNone += r.vtep === 'none' ? 1 : 0;
    kinds.prefix += r.hasPrefix ? 1 : 0;
    kinds.drops += r.dropsBefore ? 1 : 0;
    kinds.truncated += r.origLen > r.data.length ? 1 : 0;
  }
  t.equal(mismatches, 0, `${N} random records`);
  for (const [k, n] of Object.entries(kinds)) t.ok(n > N / 30, `the records covered ${k} (${n})`);
});

t.test('a native block reads back', async (t) => {
  const r: NativeCaptureRecord = {
    tsNs: 1_700_000_000_123_456_789n,
    origLen: 22 + 1400,
    dropsBefore: 12,
    dir: 1,
    verdict: native.dropReasons.indexOf('spoofed-source') + 1,
    vtep: '192.168.99.2',
    worker: 1,
    hasPrefix: true,
    peer: 'node-2',
    data: Buffer.concat([
      Buffer.alloc(22, 1),
      Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex'),
    ]),
  };
  const reader = new PcapngReader();
  const [p] = reader.push(Buffer.concat([pcapngHeader(), native.captureEpb(r)]));
  t.equal(p?.tsNs, r.tsNs);
  t.equal(p?.origLen, 1400);
  t.equal(p?.data.length, 28);
  t.equal(p?.dropCount, 12);
  t.same(parseComment(p!.comment!), {
    dir: 'rx',
    peer: 'node-2',
    vtep: '192.168.99.2',
    verdict: 'drop:spoofed-source',
  });
});

// ---- the IPv6 outer header on its own (issue 17): fields, checksum, lengths, mixed families ----

const V6_NODE: OuterContext = { publicIP: 'fd99::1', port: 8472, vni: 1 };
const PEER6 = 'fd99::2';
const INNER6 = buildIp({
  family: 6,
  src: Uint8Array.from([0xfd, 0x10, 2, 0x44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]),
  dst: Uint8Array.from([0xfd, 0x10, 2, 0x44, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]),
  proto: 17,
  l4: Uint8Array.from([0x9c, 0x41, 0x27, 0x0f, 0, 13, 0, 0, 1, 2, 3, 4, 5]), // odd length: the sum pads
});
/** A VXLAN header with VNI 1 and an inner Ethernet header for IPv6. */
const PREFIX6 = Buffer.from('0800000000000100' + '0a0000000101' + '0a0000000201' + '86dd', 'hex');

function rec6(over: Partial<NativeCaptureRecord> = {}): NativeCaptureRecord {
  const data = Buffer.concat([PREFIX6, INNER6]);
  return {
    tsNs: 1_700_000_000_000_000_000n,
    origLen: data.length,
    dropsBefore: 0,
    dir: 0,
    verdict: 0,
    vtep: PEER6,
    worker: 0,
    hasPrefix: true,
    peer: 'node-2',
    data,
    ...over,
  };
}

/** The one packet of a native block with this outer context, read back. */
function nativePacket(r: NativeCaptureRecord, outer: OuterContext) {
  const [p] = new PcapngReader().push(Buffer.concat([pcapngHeader(), native.captureEpb(r, outer)]));
  return p!;
}

/** The UDP checksum over the IPv6 pseudo-header and the datagram (0 when the field is right). */
function udp6Sum(d: Buffer): number {
  const pseudo = Buffer.alloc(40);
  d.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(u16(d, 44), 32);
  pseudo[39] = 17;
  return internetChecksum(Buffer.concat([pseudo, d.subarray(40)]));
}

t.test('an IPv6 node: 40-byte IPv6 + UDP with its checksum, 70 bytes before the inner packet', async (t) => {
  for (const dir of [0, 1] as const) {
    const p = nativePacket(rec6({ dir }), V6_NODE);
    const d = p.data;
    const udpLen = 8 + 22 + INNER6.length;
    t.equal(d.length, 70 + INNER6.length, 'captured: outer 70 + inner');
    t.equal(p.origLen, 70 + INNER6.length, 'original length: the same, nothing cut');
    t.equal(d[0], 0x60, 'version 6, traffic class 0');
    t.equal(d.readUInt32BE(0) & 0x0fffffff, 0, 'flow label 0');
    t.equal(u16(d, 4), udpLen, 'payload length = UDP length');
    t.equal(d[6], 17, 'next header UDP');
    t.equal(d[7], 64, 'hop limit 64');
    const [src, dst] = [formatIP(d.subarray(8, 24)), formatIP(d.subarray(24, 40))];
    t.same([src, dst], dir === 0 ? ['fd99::1', PEER6] : [PEER6, 'fd99::1'], `dir ${dir}: addresses`);
    t.equal(u16(d, dir === 0 ? 42 : 40), 8472, 'the VXLAN port on the node-to-peer side');
    t.equal(u16(d, 44), udpLen, 'UDP length');
    t.not(u16(d, 46), 0, 'a UDP checksum (IPv6 requires one)');
    t.equal(udp6Sum(d), 0, 'the UDP checksum verifies over the pseudo-header and the whole datagram');
    t.same(d.subarray(48, 70), PREFIX6, 'then the VXLAN + Ethernet prefix as captured');
    t.same(d.subarray(70), Buffer.from(INNER6), 'then the inner packet');
  }
});

t.test('an IPv6 node: a snapped record keeps 70 + snap bytes and the full original length', async (t) => {
  const full = Buffer.concat([PREFIX6, INNER6]);
  const p = nativePacket(rec6({ data: full.subarray(0, 22 + 41), origLen: full.length + 1000 }), V6_NODE);
  t.equal(p.data.length, 70 + 41);
  t.equal(p.origLen, 70 + INNER6.length + 1000);
  t.equal(u16(p.data, 4), 8 + 22 + INNER6.length + 1000, 'lengths in the header are the datagram’s, not the snap’s');
  t.not(u16(p.data, 46), 0, 'a checksum is written (over the bytes kept)');
  const train = nativePacket(rec6({ origLen: 22 + 66_000 }), V6_NODE);
  t.equal(u16(train.data, 4), 0xffff, 'a GRO train of 66,000 inner bytes: payload length clamped to 65535');
  t.equal(u16(train.data, 44), 0xffff, '…and the UDP length');
});

t.test('an IPv6 UDP checksum that sums to 0 is written 0xffff (0 means none)', async (t) => {
  // Choose the last two inner bytes (at an even offset of the UDP data) so that the checksum comes out 0.
  const inner = Buffer.from(INNER6.subarray(0, INNER6.length - 1)); // even length
  const base = rec6({ data: Buffer.concat([PREFIX6, inner]), origLen: 22 + inner.length });
  inner.writeUInt16BE(0, inner.length - 2);
  const c0 = u16(nativePacket({ ...base, data: Buffer.concat([PREFIX6, inner]) }, V6_NODE).data, 46);
  inner.writeUInt16BE(c0, inner.length - 2); // sum + ~sum = 0xffff: the checksum becomes 0
  const r = { ...base, data: Buffer.concat([PREFIX6, inner]) };
  const d = nativePacket(r, V6_NODE).data;
  t.equal(u16(d, 46), 0xffff, 'written as 0xffff');
  t.equal(udp6Sum(d), 0, 'which verifies (0xffff and 0 are the same one’s-complement value)');
  t.ok(native.captureEpb(r, V6_NODE).equals(recordBlock(reference(r), V6_NODE)), 'the reference agrees');
});

t.test('mixed families: the outer is the node’s family, the other end its unspecified address', async (t) => {
  const v4 = (d: Buffer) => [formatIP(d.subarray(12, 16)), formatIP(d.subarray(16, 20))];
  const v6 = (d: Buffer) => [formatIP(d.subarray(8, 24)), formatIP(d.subarray(24, 40))];
  const noPeer = nativePacket(rec6({ vtep: 'none', peer: '', verdict: 1 }), V6_NODE);
  t.same(v6(noPeer.data), ['fd99::1', '::'], 'an IPv6 node, a transmit drop without a peer: to ::');
  t.equal(parseComment(noPeer.comment!)['vtep'], '0.0.0.0', 'the comment names the VTEP as it is');
  const v4Peer = nativePacket(rec6({ dir: 1, vtep: '192.168.99.2' }), V6_NODE);
  t.same(v6(v4Peer.data), ['::', 'fd99::1'], 'an IPv6 node, an IPv4 VTEP: from ::');
  t.equal(udp6Sum(v4Peer.data), 0, 'its checksum verifies');
  t.equal(parseComment(v4Peer.comment!)['vtep'], '192.168.99.2');
  const v4Node = { publicIP: '192.168.99.1', port: 8472, vni: 1 };
  const v6Peer = nativePacket(rec6({ vtep: PEER6 }), v4Node);
  t.same(v4(v6Peer.data), ['192.168.99.1', '0.0.0.0'], 'an IPv4 node, an IPv6 VTEP: to 0.0.0.0, 50 bytes of outer');
  t.equal(v6Peer.data.length, 50 + INNER6.length);
  t.equal(u16(v6Peer.data, 26), 0, 'IPv4: UDP checksum 0 (none)');
  t.equal(parseComment(v6Peer.comment!)['vtep'], PEER6);
  for (const [r, o] of [
    [rec6({ vtep: 'none', peer: '' }), V6_NODE],
    [rec6({ vtep: '192.168.99.2' }), V6_NODE],
    [rec6({ vtep: PEER6 }), v4Node],
  ] as const)
    t.ok(
      native.captureEpb(r, o).equals(recordBlock(reference(r), o)),
      `the reference agrees (${r.vtep} on ${o.publicIP})`,
    );
});

t.test('a dual-stack node: the outer family is the VTEP’s, from this node’s address of that family', async (t) => {
  const v4 = (d: Buffer) => [formatIP(d.subarray(12, 16)), formatIP(d.subarray(16, 20))];
  const v6 = (d: Buffer) => [formatIP(d.subarray(8, 24)), formatIP(d.subarray(24, 40))];
  const dual: OuterContext = { publicIP: '192.168.99.1', publicIPv6: 'fd99::1', port: 8472, vni: 1 };
  const tx6 = nativePacket(rec6({ vtep: PEER6 }), dual);
  t.same(v6(tx6.data), ['fd99::1', PEER6], 'an IPv6 VTEP: IPv6 outer from publicIPv6');
  t.equal(tx6.data.length, 70 + INNER6.length);
  t.equal(udp6Sum(tx6.data), 0, 'its checksum verifies');
  const rx4 = nativePacket(rec6({ dir: 1, vtep: '192.168.99.2' }), dual);
  t.same(v4(rx4.data), ['192.168.99.2', '192.168.99.1'], 'an IPv4 VTEP: IPv4 outer from publicIP');
  t.equal(rx4.data.length, 50 + INNER6.length);
  const none = nativePacket(rec6({ vtep: 'none', peer: '', verdict: 1 }), dual);
  t.same(v4(none.data), ['192.168.99.1', '0.0.0.0'], 'no VTEP: the outer of publicIP');
  for (const r of [rec6({ vtep: PEER6 }), rec6({ dir: 1, vtep: '192.168.99.2' }), rec6({ vtep: 'none', peer: '' })])
    t.ok(native.captureEpb(r, dual).equals(recordBlock(reference(r), dual)), `the reference agrees (${r.vtep})`);
});
