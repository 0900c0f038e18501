// pcapng bytes checked field by field against the specification (draft-ietf-opsawg-pcapng
// sections 4.1 SHB, 4.2 IDB, 4.3 EPB), read back with our reader, and the --outer datagram layout
// (IPv4 and IPv6 outer headers; the native writer is compared with this one in test/native/pcapng-epb.test.ts).
import t from 'tap';
import { internetChecksum } from '../../src/dataplane/codec.js';
import type { CaptureRecord } from '../../src/dump/capture.js';
import {
  enhancedPacketBlock,
  interfaceStatisticsBlock,
  outerBytes,
  outerBytesOf,
  outerDatagram,
  pcapngHeader,
  recordBlock,
  recordComment,
} from '../../src/dump/pcapng.js';
import { PcapngScanner, parseComment, PcapngReader } from '../../src/dump/pcapng-read.js';

// IPv4 ICMP echo request 10.244.1.2 → 10.244.2.2, 28 bytes.
const ICMP = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');

const rec = (over: Partial<CaptureRecord> = {}): CaptureRecord => ({
  tsNs: 1_700_000_000_123_456_789n,
  dir: 'tx',
  verdict: 'forward',
  peer: 'node-2',
  vtep: '192.168.99.2',
  worker: 0,
  prefix: null,
  packet: ICMP,
  origLen: ICMP.length,
  ...over,
});

t.test('section header and interface description blocks', async (t) => {
  const h = pcapngHeader({ ifName: 'vxtun0' });
  // SHB: type, length, byte-order magic, version 1.0, section length -1, no options.
  t.equal(h.readUInt32LE(0), 0x0a0d0d0a, 'SHB type');
  const shbLen = h.readUInt32LE(4);
  t.equal(shbLen, 28, 'SHB without options is 28 bytes');
  t.equal(h.readUInt32LE(8), 0x1a2b3c4d, 'byte-order magic');
  t.equal(h.readUInt16LE(12), 1, 'major version');
  t.equal(h.readUInt16LE(14), 0, 'minor version');
  t.equal(h.readBigInt64LE(16), -1n, 'section length unspecified');
  t.equal(h.readUInt32LE(shbLen - 4), shbLen, 'trailing SHB length');
  // IDB: type 1, linktype 101 (raw IP), reserved 0, snaplen, if_name, if_tsresol = 9, opt_endofopt.
  const idb = h.subarray(shbLen);
  t.equal(idb.readUInt32LE(0), 1, 'IDB type');
  const idbLen = idb.readUInt32LE(4);
  t.equal(idbLen, idb.length, 'one IDB follows');
  t.equal(idbLen % 4, 0, 'IDB padded to 4');
  t.equal(idb.readUInt16LE(8), 101, 'LINKTYPE_RAW');
  t.equal(idb.readUInt16LE(10), 0, 'reserved');
  t.same(
    [idb.readUInt16LE(16), idb.readUInt16LE(18), idb.toString('utf8', 20, 26)],
    [2, 6, 'vxtun0'],
    'if_name option',
  );
  t.same([idb.readUInt16LE(28), idb.readUInt16LE(30), idb[32]], [9, 1, 9], 'if_tsresol option: 10^-9 s');
  t.same([idb.readUInt16LE(36), idb.readUInt16LE(38)], [0, 0], 'opt_endofopt');
  t.equal(idb.readUInt32LE(idbLen - 4), idbLen, 'trailing IDB length');
});

t.test('enhanced packet block', async (t) => {
  const b = enhancedPacketBlock(0x0000000123456789n, Buffer.from([1, 2, 3, 4, 5]), 9, 'hi');
  t.equal(b.readUInt32LE(0), 6, 'EPB type');
  // 8 + 20 fixed + 8 data (5 padded) + 8 comment option (2 padded) + 4 end of options + 4 trailing length.
  t.equal(b.readUInt32LE(4), 52, 'block length');
  t.equal(b.length, 52);
  t.equal(b.readUInt32LE(8), 0, 'interface 0');
  t.equal(b.readUInt32LE(12), 0x1, 'timestamp high');
  t.equal(b.readUInt32LE(16), 0x23456789, 'timestamp low');
  t.equal(b.readUInt32LE(20), 5, 'captured length');
  t.equal(b.readUInt32LE(24), 9, 'original length');
  t.same([...b.subarray(28, 36)], [1, 2, 3, 4, 5, 0, 0, 0], 'data padded with zeros');
  t.same([b.readUInt16LE(36), b.readUInt16LE(38), b.toString('utf8', 40, 42)], [1, 2, 'hi'], 'opt_comment');
  t.same([b.readUInt32LE(44), b.readUInt32LE(48)], [0, 52], 'end of options, trailing length');
});

t.test('comments, and reading a stream back in arbitrary chunks', async (t) => {
  t.equal(recordComment(rec()), 'dir=tx peer=node-2 vtep=192.168.99.2 verdict=forward');
  t.equal(
    recordComment(rec({ dir: 'tx', verdict: 'no-route', peer: '', vtep: '0.0.0.0' })),
    'dir=tx peer=- vtep=0.0.0.0 verdict=drop:no-route',
  );
  const stream = Buffer.concat([pcapngHeader(), recordBlock(rec()), recordBlock(rec({ dir: 'rx', tsNs: 5n }))]);
  for (const step of [1, 7, stream.length]) {
    const r = new PcapngReader();
    const got = [];
    for (let i = 0; i < stream.length; i += step) got.push(...r.push(stream.subarray(i, i + step)));
    t.equal(got.length, 2, `two packets (chunks of ${step})`);
    t.same(got[0]?.data, ICMP);
    t.equal(got[0]?.tsNs, 1_700_000_000_123_456_789n, 'ns timestamp survives');
    t.equal(got[0]?.linktype, 101);
    t.same(parseComment(got[1]!.comment!), { dir: 'rx', peer: 'node-2', vtep: '192.168.99.2', verdict: 'forward' });
  }
  t.throws(() => new PcapngReader().push(enhancedPacketBlock(0n, ICMP, 28)), /section header/);
});

t.test('--outer datagram: IPv4/UDP + VXLAN + Ethernet + inner', async (t) => {
  const ctx = { publicIP: '192.168.99.1', port: 8472, vni: 7 };
  const tx = outerDatagram(rec(), ctx);
  const d = tx.data;
  t.equal(d.length, 28 + 22 + ICMP.length);
  t.equal(tx.origLen, d.length);
  t.equal(d[0], 0x45, 'IPv4, IHL 5');
  t.equal(d.readUInt16BE(2), d.length, 'total length');
  t.equal(d[9], 17, 'UDP');
  t.same([...d.subarray(12, 16)], [192, 168, 99, 1], 'tx: source is us');
  t.same([...d.subarray(16, 20)], [192, 168, 99, 2], 'tx: destination is the VTEP');
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += d.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  t.equal(sum, 0xffff, 'IPv4 header checksum verifies');
  t.equal(d.readUInt16BE(22), 8472, 'tx: destination port');
  t.equal(d.readUInt16BE(24), 8 + 22 + ICMP.length, 'UDP length');
  t.equal(d[28], 0x08, 'VXLAN I flag');
  t.equal(d.readUIntBE(32, 3), 7, 'VNI (synthesised for a prefix-less record)');
  t.equal(d.readUInt16BE(28 + 8 + 12), 0x0800, 'inner ethertype IPv4');
  t.same(d.subarray(50), ICMP, 'inner packet');
  const prefix = Buffer.alloc(22, 0xab);
  const rx = outerDatagram(rec({ dir: 'rx', prefix }), ctx).data;
  t.same([...rx.subarray(12, 16)], [192, 168, 99, 2], 'rx: source is the VTEP');
  t.equal(rx.readUInt16BE(20), 8472, 'rx: source port is ours');
  t.same(rx.subarray(28, 50), prefix, 'the captured prefix is used as is');
});

t.test('--outer datagram on an IPv6 underlay: IPv6/UDP (checksummed) + VXLAN + Ethernet + inner', async (t) => {
  const ctx = { publicIP: 'fd99::1', port: 8472, vni: 7 };
  t.equal(outerBytes(ctx.publicIP), 70);
  t.equal(outerBytes('192.168.99.1'), 50);
  const prefix = Buffer.alloc(22, 0xab);
  const tx = outerDatagram(rec({ vtep: 'fd99::2', prefix, origLen: ICMP.length + 1 }), ctx);
  const d = tx.data;
  t.equal(d.length, 70 + ICMP.length);
  t.equal(tx.origLen, 70 + ICMP.length + 1, 'original length: outer + the inner packet’s own');
  t.equal(outerBytesOf(d), 70, 'the reader finds 70 bytes of outer from the version');
  t.same([d[0], d[1], d[2], d[3]], [0x60, 0, 0, 0], 'version 6, traffic class and flow label 0');
  const udpLen = 8 + 22 + ICMP.length + 1;
  t.equal(d.readUInt16BE(4), udpLen, 'payload length = UDP length');
  t.same([d[6], d[7]], [17, 64], 'next header UDP, hop limit 64');
  t.equal(d.subarray(8, 24).toString('hex'), 'fd990000000000000000000000000001', 'tx: source is us');
  t.equal(d.subarray(24, 40).toString('hex'), 'fd990000000000000000000000000002', 'tx: destination is the VTEP');
  t.equal(d.readUInt16BE(42), 8472, 'tx: destination port');
  t.equal(d.readUInt16BE(44), udpLen, 'UDP length');
  // The checksum field holds the sum over the pseudo-header (with the datagram's UDP length) and the bytes written.
  const pseudo = Buffer.concat([d.subarray(8, 40), Buffer.from([0, 0, udpLen >> 8, udpLen & 0xff, 0, 0, 0, 17])]);
  t.equal(internetChecksum(Buffer.concat([pseudo, d.subarray(40)])), 0, 'UDP checksum over what the record holds');
  t.same(d.subarray(48, 70), prefix);
  t.same(d.subarray(70), ICMP);
  const rx = outerDatagram(rec({ dir: 'rx', vtep: 'fd99::2', prefix }), ctx).data;
  t.equal(rx.subarray(8, 24).toString('hex'), 'fd990000000000000000000000000002', 'rx: source is the VTEP');
  t.equal(rx.readUInt16BE(40), 8472, 'rx: source port is ours');
  const none = outerDatagram(rec({ vtep: '0.0.0.0', verdict: 'no-route', peer: '' }), ctx).data;
  t.equal(none.subarray(24, 40).toString('hex'), '0'.repeat(32), 'no VTEP (0.0.0.0) on an IPv6 node: to ::');
  const v6OnV4 = outerDatagram(rec({ vtep: 'fd99::2' }), { ...ctx, publicIP: '192.168.99.1' }).data;
  t.equal(outerBytesOf(v6OnV4), 50);
  t.same([...v6OnV4.subarray(16, 20)], [0, 0, 0, 0], 'an IPv6 VTEP on an IPv4 node: to 0.0.0.0');
});

t.test('epb_dropcount and the interface statistics block (section 4.6)', async (t) => {
  const b = enhancedPacketBlock(5n, ICMP, 28, 'c', 42);
  // EPB body: 20 fixed + 28 data, then comment (4 + 4), drop count (4 + 8), end (4), trailing length.
  const o = 28 + 28 + 8;
  t.same([b.readUInt16LE(o), b.readUInt16LE(o + 2), b.readBigUInt64LE(o + 4)], [4, 8, 42n], 'epb_dropcount = 42');
  t.equal(b.readUInt32LE(4), b.length);
  const isb = interfaceStatisticsBlock(1_000n, (1n << 32n) + 7n, { matched: 10, dropped: 3, delivered: 7 });
  t.equal(isb.readUInt32LE(0), 5, 'ISB type');
  t.equal(isb.readUInt32LE(4), isb.length);
  t.equal(isb.readUInt32LE(isb.length - 4), isb.length, 'trailing length');
  t.same(
    [isb.readUInt32LE(8), isb.readUInt32LE(12), isb.readUInt32LE(16)],
    [0, 1, 7],
    'interface 0, timestamp high/low',
  );
  const codes: number[] = [];
  for (let off = 20; off < isb.length - 4;) {
    const code = isb.readUInt16LE(off);
    codes.push(code);
    if (code === 0) break;
    off += 4 + isb.readUInt16LE(off + 2);
  }
  t.same(codes, [2, 3, 6, 7, 8, 0], 'starttime, endtime, filteraccept, osdrop, usrdeliv, end');
  const reader = new PcapngReader();
  const pk = reader.push(Buffer.concat([pcapngHeader(), b, isb]));
  t.equal(pk[0]?.dropCount, 42);
  t.same(reader.stats, { matched: 10, dropped: 3, delivered: 7 });
});

t.test('the scanner counts packets and keeps the last statistics, across any chunking', async (t) => {
  const stream = Buffer.concat([
    pcapngHeader({ ifName: 'vxtun0' }),
    enhancedPacketBlock(1n, ICMP, 28, 'a'),
    interfaceStatisticsBlock(0n, 1n, { matched: 1, dropped: 0, delivered: 1 }),
    enhancedPacketBlock(2n, Buffer.alloc(1500, 1), 1500, 'b', 3),
    enhancedPacketBlock(3n, ICMP, 28),
    interfaceStatisticsBlock(0n, 2n, { matched: 9, dropped: 4, delivered: 3 }),
  ]);
  for (const size of [1, 3, 7, 64, 1000, stream.length]) {
    const s = new PcapngScanner();
    for (let o = 0; o < stream.length; o += size) s.push(stream.subarray(o, o + size));
    t.same([s.packets, s.stats], [3, { matched: 9, dropped: 4, delivered: 3 }], `chunks of ${size}`);
  }
  t.throws(() => new PcapngScanner().push(Buffer.from([6, 0, 0, 0, 13, 0, 0, 0])), /bad block length 13/);
});
