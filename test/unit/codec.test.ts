import t from 'tap';
import {
  checkRx,
  chooseEndpoint,
  peerByEndpoint,
  peerEndpoints,
  checkTx,
  DROP_REASONS,
  encap,
  ENCAP_PREFIX,
  innerInfo,
  internetChecksum,
  ipv4HeaderChecksum,
  type RxDropReason,
  type RxOptions,
  type RxResult,
  type Table,
} from '../../src/dataplane/codec.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP, type IP } from '../../src/net/ip.js';
import { parseMac } from '../../src/net/mac.js';
import { xorshift32 } from '../helpers/rng.js';

// ---- fixtures --------------------------------------------------------------------------------------------------

const ip = (s: string): IP => {
  const v = parseIP(s);
  if (v === null) throw new Error(`bad test address ${s}`);
  return v;
};
const mac = (s: string): Uint8Array => {
  const v = parseMac(s);
  if (v === null) throw new Error(`bad test MAC ${s}`);
  return v;
};

const LOCAL_MAC = mac('0a:00:00:00:01:01');
const B_MAC = mac('0a:00:00:00:02:01');

/** node-a is local; node-b and node-c are peers. */
const TABLE: Table = {
  local: { podCIDRs: [Cidr.parse('10.244.1.0/24'), Cidr.parse('fd10:244:0:1::/64')] },
  peers: [
    {
      name: 'node-b',
      publicIP: ip('192.168.99.2'),
      vtepMAC: '0a:00:00:00:02:01',
      podCIDRs: [Cidr.parse('10.244.2.0/24'), Cidr.parse('fd10:244:0:2::/64')],
    },
    {
      name: 'node-c',
      publicIP: ip('192.168.99.3'),
      vtepMAC: '0a:00:00:00:03:01',
      podCIDRs: [Cidr.parse('10.244.3.0/24')],
    },
  ],
};
/** node-b's view of the same cluster: node-a is its peer. */
const TABLE_AT_B: Table = {
  local: { podCIDRs: TABLE.peers[0]!.podCIDRs },
  peers: [
    { name: 'node-a', publicIP: ip('192.168.99.1'), vtepMAC: '0a:00:00:00:01:01', podCIDRs: TABLE.local.podCIDRs },
  ],
};
const FROM_B = ip('192.168.99.2');
const OPTS: RxOptions = { vni: 1, localMac: LOCAL_MAC, acceptUnknownVteps: false, checkInnerSource: true };

interface V4 {
  src?: string;
  dst?: string;
  payload?: number;
  ihl?: number;
  totalLength?: number;
  version?: number;
  badChecksum?: boolean;
  trailing?: number;
}

/** An IPv4/UDP-ish packet with a valid header checksum unless told otherwise. */
function v4(o: V4 = {}): Uint8Array {
  const ihl = o.ihl ?? 5;
  const hlen = Math.max(ihl, 5) * 4;
  const len = hlen + (o.payload ?? 8);
  const p = new Uint8Array(len + (o.trailing ?? 0));
  p[0] = ((o.version ?? 4) << 4) | ihl;
  const total = o.totalLength ?? len;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  p.set(ip(o.src ?? '10.244.2.2').bytes, 12);
  p.set(ip(o.dst ?? '10.244.1.2').bytes, 16);
  for (let i = hlen; i < p.length; i++) p[i] = (i * 7) & 0xff;
  if (ihl >= 5) {
    const c = ipv4HeaderChecksum(p) ^ (o.badChecksum ? 0x0101 : 0);
    p[10] = c >> 8;
    p[11] = c & 0xff;
  }
  return p;
}

/** An IPv6 packet; `payloadLength` overrides the header field. */
function v6(
  o: { src?: string; dst?: string; payload?: number; payloadLength?: number; trailing?: number } = {},
): Uint8Array {
  const payload = o.payload ?? 8;
  const p = new Uint8Array(40 + payload + (o.trailing ?? 0));
  p[0] = 0x60;
  const pl = o.payloadLength ?? payload;
  p[4] = pl >> 8;
  p[5] = pl & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(ip(o.src ?? 'fd10:244:0:2::2').bytes, 8);
  p.set(ip(o.dst ?? 'fd10:244:0:1::2').bytes, 24);
  for (let i = 40; i < p.length; i++) p[i] = (i * 13) & 0xff;
  return p;
}

/** A datagram carrying `packet`, addressed to us by node-b, with one field optionally broken. */
function dgram(packet: Uint8Array, edit?: (d: Uint8Array) => void): Uint8Array {
  const d = new Uint8Array(ENCAP_PREFIX + packet.length);
  d.set([0x08, 0, 0, 0, 0, 0, 1, 0], 0);
  d.set(LOCAL_MAC, 8);
  d.set(B_MAC, 14);
  const ethertype = packet.length > 0 && packet[0]! >> 4 === 6 ? 0x86dd : 0x0800;
  d[20] = ethertype >> 8;
  d[21] = ethertype & 0xff;
  d.set(packet, ENCAP_PREFIX);
  edit?.(d);
  return d;
}

const fwd = (peer: string | null, length: number): RxResult => ({
  verdict: 'forward',
  peer,
  offset: ENCAP_PREFIX,
  length,
});
const drop = (reason: RxDropReason): RxResult => ({ verdict: 'drop', reason });

// ---- checksums -------------------------------------------------------------------------------------------------

t.test('internetChecksum and ipv4HeaderChecksum', async (t) => {
  // The classic example header 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
  const hdr = Uint8Array.from([
    0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7,
  ]);
  t.equal(internetChecksum(hdr), 0xb861);
  t.equal(ipv4HeaderChecksum(hdr), 0xb861);
  hdr[10] = 0xb8;
  hdr[11] = 0x61;
  t.equal(ipv4HeaderChecksum(hdr), 0xb861, 'the checksum field itself is ignored');
  t.equal(internetChecksum(hdr), 0, 'a correct header sums to zero');
  t.equal(internetChecksum(new Uint8Array(0)), 0xffff);
  t.equal(internetChecksum(Uint8Array.from([0x01])), 0xfeff, 'odd length pads with zero');
  t.equal(internetChecksum(Uint8Array.from([0xff, 0xff, 0x00, 0x01])), 0xfffe, 'end-around carry');
  t.throws(() => ipv4HeaderChecksum(hdr.subarray(0, 19)), RangeError);
  t.throws(
    () => ipv4HeaderChecksum(Uint8Array.from([0x46, ...new Array<number>(19).fill(0)])),
    RangeError,
    'IHL 6 needs 24 bytes',
  );
  t.throws(() => ipv4HeaderChecksum(Uint8Array.from([0x44, ...new Array<number>(19).fill(0)])), RangeError, 'IHL < 5');
  const withOptions = v4({ ihl: 6 });
  t.equal(internetChecksum(withOptions.subarray(0, 24)), 0, 'options are covered');
});

// ---- innerInfo -------------------------------------------------------------------------------------------------

t.test('innerInfo', async (t) => {
  const a = innerInfo(v4({ src: '10.244.2.2', dst: '10.244.1.9', payload: 12, trailing: 5 }));
  t.same(a, { family: 4, src: ip('10.244.2.2').bytes, dst: ip('10.244.1.9').bytes, length: 32 });
  const b = innerInfo(v6({ src: 'fd10:244:0:2::2', dst: 'fd10:244:0:1::9', payload: 3, trailing: 2 }));
  t.same(b, { family: 6, src: ip('fd10:244:0:2::2').bytes, dst: ip('fd10:244:0:1::9').bytes, length: 43 });
  t.same(innerInfo(v4({ payload: 0 })), {
    family: 4,
    src: ip('10.244.2.2').bytes,
    dst: ip('10.244.1.2').bytes,
    length: 20,
  });
  t.same(innerInfo(v6({ payload: 0 })), {
    family: 6,
    src: ip('fd10:244:0:2::2').bytes,
    dst: ip('fd10:244:0:1::2').bytes,
    length: 40,
  });

  const cases: [string, Uint8Array, 'short' | 'bad-ip'][] = [
    ['empty', new Uint8Array(0), 'short'],
    ['IPv4, 19 bytes', v4().subarray(0, 19), 'short'],
    ['IPv4, 1 byte', Uint8Array.from([0x45]), 'short'],
    ['IPv6, 39 bytes', v6().subarray(0, 39), 'short'],
    ['version 0', Uint8Array.from([0x00]), 'bad-ip'],
    ['version 5', v4({ version: 5 }), 'bad-ip'],
    ['version 15, long', new Uint8Array(64).fill(0xf5), 'bad-ip'],
    ['IHL 4', v4({ ihl: 4 }), 'bad-ip'],
    ['IHL 0', v4({ ihl: 0 }), 'bad-ip'],
    ['IHL*4 beyond the bytes', v4({ payload: 0 }).map((x, i) => (i === 0 ? 0x46 : x)), 'bad-ip'],
    ['total length beyond the bytes', v4({ totalLength: 29 }), 'bad-ip'],
    ['total length below the header', v4({ totalLength: 19 }), 'bad-ip'],
    ['total length 0', v4({ totalLength: 0 }), 'bad-ip'],
    ['IPv6 payload length beyond the bytes', v6({ payloadLength: 9 }), 'bad-ip'],
  ];
  for (const [name, p, want] of cases) t.equal(innerInfo(p), want, name);
});

// ---- encap -----------------------------------------------------------------------------------------------------

t.test('encap', async (t) => {
  const p = v4({ payload: 2 });
  const d = encap(p, 0x123456, B_MAC, LOCAL_MAC);
  t.same(
    Array.from(d.subarray(0, ENCAP_PREFIX)),
    [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0x0a, 0, 0, 0, 0x02, 0x01, 0x0a, 0, 0, 0, 0x01, 0x01, 0x08, 0x00],
  );
  t.same(d.subarray(ENCAP_PREFIX), p, 'the packet follows unchanged');
  t.equal(d.length, ENCAP_PREFIX + p.length);
  const d6 = encap(v6(), 1, B_MAC, LOCAL_MAC);
  t.same(Array.from(d6.subarray(0, 8)), [0x08, 0, 0, 0, 0, 0, 1, 0]);
  t.same(Array.from(d6.subarray(20, 22)), [0x86, 0xdd]);
  t.same(Array.from(encap(p, 0xffffff, B_MAC, LOCAL_MAC).subarray(4, 8)), [0xff, 0xff, 0xff, 0]);
  t.throws(() => encap(new Uint8Array(0), 1, B_MAC, LOCAL_MAC), RangeError);
  t.throws(() => encap(v4({ version: 5 }), 1, B_MAC, LOCAL_MAC), RangeError);
  t.throws(() => encap(p, 0x1000000, B_MAC, LOCAL_MAC), RangeError);
  t.throws(() => encap(p, -1, B_MAC, LOCAL_MAC), RangeError);
  t.throws(() => encap(p, 1, new Uint8Array(5), LOCAL_MAC), RangeError, 'a short destination MAC');
  t.throws(() => encap(p, 1, B_MAC, new Uint8Array(7)), RangeError, 'a long source MAC');
});

// ---- transmit --------------------------------------------------------------------------------------------------

t.test('checkTx', async (t) => {
  const cases: [string, Uint8Array, ReturnType<typeof checkTx>][] = [
    [
      'IPv4 to node-b',
      v4({ src: '10.244.1.2', dst: '10.244.2.2', payload: 100 }),
      { verdict: 'forward', peer: 'node-b', length: 120 },
    ],
    [
      'IPv4 to node-c',
      v4({ src: '10.244.1.2', dst: '10.244.3.200' }),
      { verdict: 'forward', peer: 'node-c', length: 28 },
    ],
    [
      'IPv6 to node-b',
      v6({ src: 'fd10:244:0:1::2', dst: 'fd10:244:0:2::2', payload: 10 }),
      { verdict: 'forward', peer: 'node-b', length: 50 },
    ],
    [
      'trailing bytes are not counted',
      v4({ dst: '10.244.2.2', trailing: 7 }),
      { verdict: 'forward', peer: 'node-b', length: 28 },
    ],
    [
      'the IPv4 checksum is not checked on transmit',
      v4({ dst: '10.244.2.2', badChecksum: true }),
      { verdict: 'forward', peer: 'node-b', length: 28 },
    ],
    ['to the local node', v4({ src: '10.244.1.2', dst: '10.244.1.3' }), { verdict: 'drop', reason: 'no-route' }],
    ['to the local node, IPv6', v6({ dst: 'fd10:244:0:1::3' }), { verdict: 'drop', reason: 'no-route' }],
    ['outside the pod network', v4({ dst: '8.8.8.8' }), { verdict: 'drop', reason: 'no-route' }],
    ['IPv6 to node-c, which has no IPv6 CIDR', v6({ dst: 'fd10:244:0:3::2' }), { verdict: 'drop', reason: 'no-route' }],
    ['empty', new Uint8Array(0), { verdict: 'drop', reason: 'short' }],
    ['IPv4, 19 bytes', v4({ dst: '10.244.2.2' }).subarray(0, 19), { verdict: 'drop', reason: 'short' }],
    ['IPv6, 39 bytes', v6({ dst: 'fd10:244:0:2::2' }).subarray(0, 39), { verdict: 'drop', reason: 'short' }],
    ['version 5', v4({ dst: '10.244.2.2', version: 5 }), { verdict: 'drop', reason: 'bad-ip' }],
    ['IHL 4', v4({ dst: '10.244.2.2', ihl: 4 }), { verdict: 'drop', reason: 'bad-ip' }],
    [
      'total length beyond the bytes',
      v4({ dst: '10.244.2.2', totalLength: 100 }),
      { verdict: 'drop', reason: 'bad-ip' },
    ],
    [
      'IPv6 payload length beyond the bytes',
      v6({ dst: 'fd10:244:0:2::2', payloadLength: 100 }),
      { verdict: 'drop', reason: 'bad-ip' },
    ],
  ];
  for (const [name, p, want] of cases) t.same(checkTx(p, TABLE), want, name);
});

t.test('checkTx picks the longest prefix, whatever the peer order', async (t) => {
  const wide = {
    name: 'wide',
    publicIP: ip('192.168.99.4'),
    vtepMAC: '0a:00:00:00:04:01',
    podCIDRs: [Cidr.parse('10.244.128.0/17')],
  };
  const narrow = {
    name: 'narrow',
    publicIP: ip('192.168.99.5'),
    vtepMAC: '0a:00:00:00:05:01',
    podCIDRs: [Cidr.parse('10.244.200.0/24')],
  };
  for (const peers of [
    [wide, narrow],
    [narrow, wide],
  ]) {
    const table: Table = { local: { podCIDRs: [Cidr.parse('10.244.1.0/24')] }, peers };
    const order = peers.map((p) => p.name).join(',');
    t.same(checkTx(v4({ dst: '10.244.200.7' }), table), { verdict: 'forward', peer: 'narrow', length: 28 }, order);
    t.same(checkTx(v4({ dst: '10.244.201.7' }), table), { verdict: 'forward', peer: 'wide', length: 28 }, order);
    t.same(checkTx(v4({ dst: '10.244.1.7' }), table), { verdict: 'drop', reason: 'no-route' }, order);
  }
  // Equal prefix lengths (only possible with an invalid, overlapping table): the earlier peer wins.
  const twin = { ...narrow, name: 'twin' };
  t.same(checkTx(v4({ dst: '10.244.200.7' }), { local: { podCIDRs: [] }, peers: [narrow, twin] }), {
    verdict: 'forward',
    peer: 'narrow',
    length: 28,
  });
  t.same(checkTx(v4({ dst: '10.244.200.7' }), { local: { podCIDRs: [] }, peers: [twin, narrow] }), {
    verdict: 'forward',
    peer: 'twin',
    length: 28,
  });
  const empty: Table = { local: { podCIDRs: [] }, peers: [] };
  t.same(checkTx(v4(), empty), { verdict: 'drop', reason: 'no-route' }, 'empty table');
});

// ---- receive ---------------------------------------------------------------------------------------------------

interface RxCase {
  name: string;
  datagram: Uint8Array;
  from?: IP;
  opts?: Partial<RxOptions>;
  want: RxResult;
}

const RX: RxCase[] = [
  // Happy paths
  { name: 'IPv4 from node-b', datagram: dgram(v4({ payload: 100 })), want: fwd('node-b', 120) },
  { name: 'IPv6 from node-b', datagram: dgram(v6({ payload: 10 })), want: fwd('node-b', 50) },
  {
    name: 'IPv4 from node-c',
    datagram: dgram(v4({ src: '10.244.3.9' })),
    from: ip('192.168.99.3'),
    want: fwd('node-c', 28),
  },
  { name: 'IPv4 with options', datagram: dgram(v4({ ihl: 7, payload: 4 })), want: fwd('node-b', 32) },
  { name: 'IPv4 header only', datagram: dgram(v4({ payload: 0 })), want: fwd('node-b', 20) },
  { name: 'trailing bytes trimmed (IPv4)', datagram: dgram(v4({ payload: 8, trailing: 18 })), want: fwd('node-b', 28) },
  { name: 'trailing bytes trimmed (IPv6)', datagram: dgram(v6({ payload: 8, trailing: 3 })), want: fwd('node-b', 48) },
  { name: 'source MAC is not checked', datagram: dgram(v4(), (d) => d.fill(0xff, 14, 20)), want: fwd('node-b', 28) },
  // short
  { name: 'empty datagram', datagram: new Uint8Array(0), want: drop('short') },
  { name: '21 bytes', datagram: dgram(v4()).subarray(0, 21), want: drop('short') },
  { name: '21 bytes of garbage', datagram: new Uint8Array(21).fill(0xff), want: drop('short') },
  // bad-header
  { name: 'I flag missing', datagram: dgram(v4(), (d) => (d[0] = 0x00)), want: drop('bad-header') },
  { name: 'extra flag bit', datagram: dgram(v4(), (d) => (d[0] = 0x0c)), want: drop('bad-header') },
  { name: 'reserved byte 1', datagram: dgram(v4(), (d) => (d[1] = 1)), want: drop('bad-header') },
  { name: 'reserved byte 3', datagram: dgram(v4(), (d) => (d[3] = 0x80)), want: drop('bad-header') },
  { name: 'reserved byte 7', datagram: dgram(v4(), (d) => (d[7] = 1)), want: drop('bad-header') },
  { name: 'exactly 22 bytes, bad header', datagram: new Uint8Array(22), want: drop('bad-header') },
  // vni
  { name: 'VNI 2', datagram: dgram(v4(), (d) => (d[6] = 2)), want: drop('vni') },
  { name: 'VNI 0x010001', datagram: dgram(v4(), (d) => (d[4] = 1)), want: drop('vni') },
  {
    name: 'VNI matches a non-default setting',
    datagram: dgram(v4(), (d) => d.set([0xab, 0xcd, 0xef], 4)),
    opts: { vni: 0xabcdef },
    want: fwd('node-b', 28),
  },
  { name: 'default VNI against a non-default setting', datagram: dgram(v4()), opts: { vni: 4096 }, want: drop('vni') },
  // unknown-vtep
  { name: 'unknown outer source', datagram: dgram(v4()), from: ip('192.168.99.9'), want: drop('unknown-vtep') },
  {
    name: 'our own public IP is not a peer',
    datagram: dgram(v4()),
    from: ip('192.168.99.1'),
    want: drop('unknown-vtep'),
  },
  {
    name: 'IPv4-mapped source is a different address',
    datagram: dgram(v4()),
    from: ip('::ffff:192.168.99.2'),
    want: drop('unknown-vtep'),
  },
  {
    name: 'unknown outer source accepted',
    datagram: dgram(v4({ src: '10.244.77.1' })),
    from: ip('192.168.99.9'),
    opts: { acceptUnknownVteps: true },
    want: fwd(null, 28),
  },
  // bad-mac
  {
    name: 'inner destination MAC is another node',
    datagram: dgram(v4(), (d) => d.set(B_MAC, 8)),
    want: drop('bad-mac'),
  },
  {
    name: 'inner destination MAC is broadcast',
    datagram: dgram(v4(), (d) => d.fill(0xff, 8, 14)),
    want: drop('bad-mac'),
  },
  { name: 'last MAC byte differs', datagram: dgram(v4(), (d) => (d[13] = 0x02)), want: drop('bad-mac') },
  // ethertype
  { name: 'ARP', datagram: dgram(v4(), (d) => d.set([0x08, 0x06], 20)), want: drop('ethertype') },
  { name: 'VLAN tag', datagram: dgram(v4(), (d) => d.set([0x81, 0x00], 20)), want: drop('ethertype') },
  { name: 'zero ethertype', datagram: dgram(v4(), (d) => d.set([0, 0], 20)), want: drop('ethertype') },
  // bad-ip
  { name: 'no inner packet', datagram: dgram(new Uint8Array(0)), want: drop('bad-ip') },
  { name: 'inner IPv4 truncated', datagram: dgram(v4()).subarray(0, ENCAP_PREFIX + 19), want: drop('bad-ip') },
  { name: 'inner IPv6 truncated', datagram: dgram(v6()).subarray(0, ENCAP_PREFIX + 39), want: drop('bad-ip') },
  { name: 'IPv4 total length beyond the datagram', datagram: dgram(v4({ totalLength: 29 })), want: drop('bad-ip') },
  { name: 'IPv4 total length below the header', datagram: dgram(v4({ totalLength: 12 })), want: drop('bad-ip') },
  { name: 'IPv4 IHL 4', datagram: dgram(v4({ ihl: 4 })), want: drop('bad-ip') },
  { name: 'IPv4 bad header checksum', datagram: dgram(v4({ badChecksum: true })), want: drop('bad-ip') },
  {
    name: 'IPv4 checksum broken by a TTL change',
    datagram: dgram(v4(), (d) => (d[ENCAP_PREFIX + 8] = 63)),
    want: drop('bad-ip'),
  },
  { name: 'IPv6 payload length beyond the datagram', datagram: dgram(v6({ payloadLength: 9 })), want: drop('bad-ip') },
  {
    name: 'IPv6 packet under the IPv4 ethertype',
    datagram: dgram(v6(), (d) => d.set([0x08, 0x00], 20)),
    want: drop('bad-ip'),
  },
  {
    name: 'IPv4 packet under the IPv6 ethertype',
    datagram: dgram(v4({ payload: 40 }), (d) => d.set([0x86, 0xdd], 20)),
    want: drop('bad-ip'),
  },
  { name: 'inner version 5', datagram: dgram(v4({ version: 5 })), want: drop('bad-ip') },
  // spoofed-source
  {
    name: "inner source in node-c's CIDR, sent by node-b",
    datagram: dgram(v4({ src: '10.244.3.2' })),
    want: drop('spoofed-source'),
  },
  {
    name: 'inner source outside the pod network',
    datagram: dgram(v4({ src: '8.8.8.8' })),
    want: drop('spoofed-source'),
  },
  {
    name: "inner source is the local node's own pod",
    datagram: dgram(v4({ src: '10.244.1.9' })),
    want: drop('spoofed-source'),
  },
  { name: 'IPv6 inner source spoofed', datagram: dgram(v6({ src: 'fd10:244:0:3::2' })), want: drop('spoofed-source') },
  {
    name: 'IPv6 from node-c, which has no IPv6 CIDR',
    datagram: dgram(v6({ src: 'fd10:244:0:3::2' })),
    from: ip('192.168.99.3'),
    want: drop('spoofed-source'),
  },
  {
    name: 'spoofed source allowed when not checking',
    datagram: dgram(v4({ src: '10.244.3.2' })),
    opts: { checkInnerSource: false },
    want: fwd('node-b', 28),
  },
  // not-local
  { name: 'inner destination is node-b', datagram: dgram(v4({ dst: '10.244.2.9' })), want: drop('not-local') },
  {
    name: 'inner destination outside the pod network',
    datagram: dgram(v4({ dst: '1.1.1.1' })),
    want: drop('not-local'),
  },
  {
    name: 'IPv6 inner destination elsewhere',
    datagram: dgram(v6({ dst: 'fd10:244:0:3::1' })),
    want: drop('not-local'),
  },
  {
    name: 'not-local even from an accepted unknown VTEP',
    datagram: dgram(v4({ dst: '10.244.2.9' })),
    from: ip('10.0.0.1'),
    opts: { acceptUnknownVteps: true },
    want: drop('not-local'),
  },
  // First failure wins
  { name: 'bad header before VNI', datagram: dgram(v4(), (d) => ((d[0] = 0), (d[6] = 9))), want: drop('bad-header') },
  {
    name: 'VNI before unknown VTEP',
    datagram: dgram(v4(), (d) => (d[6] = 9)),
    from: ip('10.9.9.9'),
    want: drop('vni'),
  },
  {
    name: 'unknown VTEP before bad MAC',
    datagram: dgram(v4(), (d) => d.fill(0, 8, 14)),
    from: ip('10.9.9.9'),
    want: drop('unknown-vtep'),
  },
  {
    name: 'bad MAC before ethertype',
    datagram: dgram(v4(), (d) => (d.fill(0, 8, 14), d.fill(0, 20, 22))),
    want: drop('bad-mac'),
  },
  {
    name: 'ethertype before bad IP',
    datagram: dgram(v4({ ihl: 4 }), (d) => d.fill(0, 20, 22)),
    want: drop('ethertype'),
  },
  {
    name: 'bad IP before spoofed source',
    datagram: dgram(v4({ src: '10.244.3.2', badChecksum: true })),
    want: drop('bad-ip'),
  },
  {
    name: 'spoofed source before not-local',
    datagram: dgram(v4({ src: '10.244.3.2', dst: '10.244.3.3' })),
    want: drop('spoofed-source'),
  },
];

t.test('checkRx', async (t) => {
  const seen = new Set<string>();
  for (const c of RX) {
    const got = checkRx(c.datagram, c.from ?? FROM_B, TABLE, { ...OPTS, ...c.opts });
    t.same(got, c.want, c.name);
    seen.add(got.verdict === 'drop' ? got.reason : 'forward');
  }
  const rxReasons = DROP_REASONS.filter((r) => r !== 'no-route');
  t.same(
    [...seen].filter((r) => r !== 'forward').sort(),
    [...rxReasons].sort(),
    'every receive drop reason is covered',
  );
});

// ---- round trip and robustness ---------------------------------------------------------------------------------

const rng = xorshift32;

t.test('encap → checkRx round trip', async (t) => {
  const next = rng(0xc0ffee);
  let ok = 0;
  for (let i = 0; i < 500; i++) {
    const host = 1 + (next() % 254);
    const p =
      i % 2 === 0
        ? v4({ src: `10.244.2.${host}`, dst: `10.244.1.${host}`, payload: next() % 1400, trailing: next() % 4 })
        : v6({
            src: `fd10:244:0:2::${host.toString(16)}`,
            dst: `fd10:244:0:1::${host.toString(16)}`,
            payload: next() % 1400,
          });
    const tx = checkTx(p, TABLE_AT_B);
    if (tx.verdict !== 'forward' || tx.peer !== 'node-a') {
      t.fail(`tx ${i}: ${JSON.stringify(tx)}`);
      continue;
    }
    const d = encap(p, 1, LOCAL_MAC, B_MAC);
    const rx = checkRx(d, FROM_B, TABLE, OPTS);
    if (rx.verdict !== 'forward') {
      t.fail(`rx ${i}: ${JSON.stringify(rx)}`);
      continue;
    }
    const out = d.subarray(rx.offset, rx.offset + rx.length);
    if (rx.length === tx.length && out.every((x, k) => x === p[k])) ok++;
  }
  t.equal(ok, 500, 'every packet comes back out unchanged');
});

t.test('random and mutated datagrams never throw and always get a verdict', async (t) => {
  const next = rng(42);
  const rxReasons = new Set<string>(DROP_REASONS.filter((r) => r !== 'no-route'));
  const base = [dgram(v4({ payload: 30 })), dgram(v6({ payload: 30 }))];
  let bad = 0;
  const N = 3000;
  for (let i = 0; i < N; i++) {
    let d: Uint8Array;
    if (i % 3 === 0) {
      d = Uint8Array.from({ length: next() % 120 }, () => next() & 0xff);
    } else {
      d = Uint8Array.from(base[i % 2]!);
      for (let k = 0, n = 1 + (next() % 3); k < n; k++) d[next() % d.length] = next() & 0xff;
      d = d.subarray(0, d.length - (next() % 8));
    }
    const r = checkRx(d, FROM_B, TABLE, { ...OPTS, acceptUnknownVteps: next() % 2 === 0 });
    const sane =
      r.verdict === 'forward'
        ? r.offset === ENCAP_PREFIX && r.length >= 20 && ENCAP_PREFIX + r.length <= d.length
        : rxReasons.has(r.reason);
    if (!sane) bad++;
    const tr = checkTx(d.subarray(ENCAP_PREFIX), TABLE);
    if (
      tr.verdict === 'forward'
        ? tr.length > d.length - ENCAP_PREFIX
        : !['short', 'bad-ip', 'no-route'].includes(tr.reason)
    )
      bad++;
  }
  t.equal(bad, 0, `${N} random datagrams`);
});

// ---- dual-stack peers: the endpoint choice and the receive lookup by either endpoint ------------------------------

t.test(
  'chooseEndpoint: the endpoint of the inner family when both ends have it, else the first shared family',
  async (t) => {
    const dual = {
      name: 'dual',
      publicIP: ip('192.0.2.1'),
      vtepMAC: '02:00:00:00:00:01',
      publicIPv6: ip('2001:db8::1'),
      vtepMACv6: '02:00:00:00:06:01',
      podCIDRs: [Cidr.parse('10.244.1.0/24')],
    };
    const v4 = { name: 'v4', publicIP: ip('192.0.2.2'), vtepMAC: '02:00:00:00:00:02', podCIDRs: [] };
    const v6 = { name: 'v6', publicIP: ip('2001:db8::3'), vtepMAC: '02:00:00:00:00:03', podCIDRs: [] };
    const L = (...f: (4 | 6)[]) => new Set(f);
    const pick = (p: Parameters<typeof chooseEndpoint>[0], f: 4 | 6, l: Set<4 | 6>) => {
      const e = chooseEndpoint(p, f, l);
      return e && `${e.ip.text} ${e.mac}`;
    };
    t.equal(pick(dual, 4, L(4, 6)), '192.0.2.1 02:00:00:00:00:01');
    t.equal(pick(dual, 6, L(4, 6)), '2001:db8::1 02:00:00:00:06:01');
    t.equal(pick(dual, 6, L(4)), '192.0.2.1 02:00:00:00:00:01', 'no IPv6 underlay here: inner IPv6 over IPv4');
    t.equal(pick(dual, 4, L(6)), '2001:db8::1 02:00:00:00:06:01', 'no IPv4 underlay here: inner IPv4 over IPv6');
    t.equal(pick(dual, 4, L()), null);
    t.equal(pick(v4, 6, L(4, 6)), '192.0.2.2 02:00:00:00:00:02', 'a v4-only peer gets both inner families over v4');
    t.equal(pick(v4, 4, L(6)), null, 'no shared family');
    t.equal(pick(v6, 4, L(4, 6)), '2001:db8::3 02:00:00:00:00:03');
    t.equal(pick(v6, 6, L(4)), null);
    t.same(
      peerEndpoints(dual).map((e) => e.ip.text),
      ['192.0.2.1', '2001:db8::1'],
    );
    t.same(
      peerEndpoints({ ...dual, vtepMACv6: undefined }).map((e) => e.ip.text),
      ['192.0.2.1'],
      'a half second endpoint is none',
    );
    // The receive lookup: either endpoint is the peer; anything else is unknown.
    const table: Table = { local: { podCIDRs: [Cidr.parse('10.244.0.0/24')] }, peers: [v4, dual] };
    t.equal(peerByEndpoint(table, ip('2001:db8::1'))?.name, 'dual');
    t.equal(peerByEndpoint(table, ip('192.0.2.1'))?.name, 'dual');
    t.equal(peerByEndpoint(table, ip('2001:db8::2')), null);
    const inner = Uint8Array.from([0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 244, 1, 9, 10, 244, 0, 9]);
    const sum = ipv4HeaderChecksum(inner);
    inner[10] = sum >> 8;
    inner[11] = sum & 0xff;
    const d = encap(inner, 7, mac('02:00:00:00:00:aa'), mac('02:00:00:00:06:01'));
    const opts = { vni: 7, localMac: mac('02:00:00:00:00:aa'), acceptUnknownVteps: false, checkInnerSource: true };
    t.match(checkRx(d, ip('2001:db8::1'), table, opts), { verdict: 'forward', peer: 'dual' });
    t.match(checkRx(d, ip('2001:db8::9'), table, opts), { verdict: 'drop', reason: 'unknown-vtep' });
  },
);
