// The cases of `vxtun bench micro`: the per-packet work of the dataplane, native (the test addon,
// build/Release/vxtun_testing.node) against the TypeScript reference codec. Native cases process a batch of 64
// packets per call (the loops' batch size), so the N-API call is amortised as it is in the dataplane; TypeScript
// cases run the same 64 packets in a JS loop.
import * as codec from '../dataplane/codec.js';
import type { TestingBinding } from '../dataplane/testing.js';
import type { DataplanePolicy } from '../dataplane/types.js';
import { Cidr } from '../net/cidr.js';
import { parseIP } from '../net/ip.js';
import { parseMac } from '../net/mac.js';

export interface MicroCase {
  name: string;
  fn: () => void;
  /** Packets per call. */
  packets: number;
  /** Inner bytes per call (0: a case that moves none, e.g. lookups). */
  bytes: number;
}

const BATCH = 64;
const LOCAL = '0a:00:00:00:01:01';
const PEER = '0a:00:00:00:02:01';

/** An IPv4/TCP packet 10.244.2.2:5001 → 10.244.1.2:40000 with `payload` bytes and valid checksums. */
function tcpPacket(payload: number, seq = 1): Buffer {
  const p = Buffer.alloc(20 + 20 + payload);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 6;
  p.set([10, 244, 2, 2], 12);
  p.set([10, 244, 1, 2], 16);
  p.writeUInt16BE(codec.ipv4HeaderChecksum(p.subarray(0, 20)), 10);
  const tcp = p.subarray(20);
  tcp.writeUInt16BE(5001, 0);
  tcp.writeUInt16BE(40000, 2);
  tcp.writeUInt32BE(seq, 4);
  tcp.writeUInt32BE(1, 8);
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;
  tcp.writeUInt16BE(502, 14);
  for (let i = 0; i < payload; i++) tcp[20 + i] = (i * 7) & 0xff;
  const pseudo = Buffer.alloc(12 + tcp.length);
  p.copy(pseudo, 0, 12, 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcp.length, 10);
  tcp.copy(pseudo, 12);
  tcp.writeUInt16BE(codec.internetChecksum(pseudo), 16);
  return p;
}

/** Builds every case over the test addon's functions. */
export function microCases(native: TestingBinding): MicroCase[] {
  const cases: MicroCase[] = [];
  const table: codec.Table = {
    local: { podCIDRs: [Cidr.parse('10.244.1.0/24')] },
    peers: [
      { name: 'node-2', publicIP: parseIP('192.168.99.2')!, vtepMAC: PEER, podCIDRs: [Cidr.parse('10.244.2.0/24')] },
    ],
  };
  const nativeTable = new native.Table({
    local: ['10.244.1.0/24'],
    peers: [{ name: 'node-2', publicIP: '192.168.99.2', vtepMAC: PEER, cidrs: ['10.244.2.0/24'] }],
  });
  const policy: DataplanePolicy = { vni: 1, vtepMAC: LOCAL, acceptUnknownVteps: false, checkInnerSource: true };
  const rxOpts: codec.RxOptions = {
    vni: 1,
    localMac: parseMac(LOCAL)!,
    acceptUnknownVteps: false,
    checkInnerSource: true,
  };
  const src = parseIP('192.168.99.2')!;

  for (const size of [64, 512, 1400]) {
    const pkt = tcpPacket(size - 40);
    const withRoom = Array.from({ length: BATCH }, () => Buffer.concat([Buffer.alloc(22), pkt]));
    const plain = Array.from({ length: BATCH }, () => pkt);
    const datagrams = Array.from({ length: BATCH }, () => native.encap(pkt, 1, LOCAL, PEER));
    const localMac = parseMac(LOCAL)!;
    const peerMac = parseMac(PEER)!;
    cases.push(
      {
        name: `encap ${size} B native`,
        packets: BATCH,
        bytes: BATCH * size,
        fn: () => native.encapBatch(withRoom, 1, PEER, LOCAL),
      },
      {
        name: `encap ${size} B typescript`,
        packets: BATCH,
        bytes: BATCH * size,
        fn: () => {
          for (const p of plain) codec.encap(p, 1, peerMac, localMac);
        },
      },
      {
        name: `decap+checks ${size} B native`,
        packets: BATCH,
        bytes: BATCH * size,
        fn: () => nativeTable.classifyRxBatch(datagrams, '192.168.99.2', policy),
      },
      {
        name: `decap+checks ${size} B typescript`,
        packets: BATCH,
        bytes: BATCH * size,
        fn: () => {
          for (const d of datagrams) codec.checkRx(d, src, table, rxOpts);
        },
      },
    );
  }

  // One 64 KB TSO super-packet (MSS 1398 → 47 segments), and the 46 segments of a received train.
  const superPkt = tcpPacket(46 * 1398 + 100);
  cases.push({
    name: 'TSO split 64 KB native',
    packets: 47,
    bytes: superPkt.length,
    fn: () => native.tsoPlan(superPkt, 1398),
  });
  const train = Array.from({ length: 46 }, (_, i) => tcpPacket(1398, 1 + i * 1398));
  cases.push({
    name: 'GRO coalesce 46×1398 B native',
    packets: 46,
    bytes: 46 * 1438,
    fn: () => native.groPlan(train, 1450),
  });
  // The same segments from a UDP GRO train (each inner checksum verified all the same, native/core/gro.h), and with
  // partial checksums (completed, each written alone).
  cases.push({
    name: 'GRO coalesce 46×1398 B UDP GRO train native',
    packets: 46,
    bytes: 46 * 1438,
    fn: () => native.groPlan(train, 1450, true),
  });
  const partialTrain = train.map((p) => {
    const q = Buffer.from(p);
    const pseudo = Buffer.alloc(12);
    q.copy(pseudo, 0, 12, 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(q.length - 20, 10);
    q.writeUInt16BE(~codec.internetChecksum(pseudo) & 0xffff, 36); // the pseudo-header seed (Linux CHECKSUM_PARTIAL)
    return q;
  });
  cases.push({
    name: 'GRO 46×1398 B partial checksums native',
    packets: 46,
    bytes: 46 * 1438,
    fn: () => native.groPlan(partialTrain, 1450),
  });

  for (const peers of [10, 1000, 10000]) {
    const t = new native.Table({
      local: ['10.0.0.0/24'],
      peers: Array.from({ length: peers }, (_, i) => ({
        name: `n${i}`,
        publicIP: `192.168.${i >> 8}.${i & 0xff}`,
        vtepMAC: `0a:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
        cidrs: [`10.${(i + 1) >> 8}.${(i + 1) & 0xff}.0/24`],
      })),
    });
    const addrs = Buffer.alloc(4 * 1024);
    for (let i = 0; i < 1024; i++)
      addrs.set([10, (((i * 7919) % peers) + 1) >> 8, (((i * 7919) % peers) + 1) & 0xff, 5], 4 * i);
    cases.push({ name: `FDB lookup, ${peers} peers native`, packets: 1024, bytes: 0, fn: () => t.lookupBatch(addrs) });
  }
  return cases;
}
