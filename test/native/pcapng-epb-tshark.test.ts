// The --outer blocks the daemon writes (native/core/pcapng_epb.h, via the test-only captureEpb export)
// decoded by the real tshark as VXLAN: an IPv6 node's records (IPv6 outer header, its UDP checksum
// verified by tshark, inner IPv4 and IPv6, a snapped record, a transmit drop without a peer) and, for
// comparison, an IPv4 node's (checksum 0: "not present"). A corrupted copy must come out "Bad", so the
// checksum check can fail. Needs tshark: skips with the reason when it is missing, fails instead under
// VXTUN_REQUIRE_NETNS (CI).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { internetChecksum } from '../../src/dataplane/codec.js';
import { loadTestingAddon, type NativeCaptureRecord } from '../../src/dataplane/testing.js';
import { outerBytes, pcapngHeader, type OuterContext } from '../../src/dump/pcapng.js';
import { run } from '../../src/lab/exec.js';
import { which } from '../../src/lab/preflight.js';
import { buildIp, fixL4Checksum } from './fixtures/packets.js';

const native = loadTestingAddon();
const missing = which('tshark') ? false : 'tshark not found (Debian: apt-get install tshark)';
if (missing && process.env['VXTUN_REQUIRE_NETNS']) t.fail(`tshark is required here (VXTUN_REQUIRE_NETNS): ${missing}`);
else if (missing) console.error(`# skipping the tshark decode: ${missing}`);

const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
const v6 = (tail: number, net = [0xfd, 0x10, 2, 0x44, 0, 0, 0, 1]) =>
  Uint8Array.from([...net, 0, 0, 0, 0, 0, 0, 0, tail]);

/** ICMP echo request 10.244.1.2 → 10.244.2.2 with a valid checksum. */
function icmp4(): Uint8Array {
  const icmp = Uint8Array.from([8, 0, 0, 0, 0x12, 0x34, 0, 1, ...Array.from({ length: 32 }, (_, i) => i)]);
  const c = internetChecksum(icmp);
  icmp[2] = c >> 8;
  icmp[3] = c & 0xff;
  return buildIp({ family: 4, src: v4('10.244.1.2'), dst: v4('10.244.2.2'), proto: 1, l4: icmp });
}

/** UDP fd10:244:0:2::2 → fd10:244:0:1::2, port 9999, with a valid checksum. */
function udp6(): Uint8Array {
  const payload = Array.from({ length: 101 }, (_, i) => (i * 7) & 0xff);
  const l4 = Uint8Array.from([0x9c, 0x41, 0x27, 0x0f, 0, 8 + payload.length, 0, 0, ...payload]);
  const p = buildIp({ family: 6, src: v6(2, [0xfd, 0x10, 2, 0x44, 0, 0, 0, 2]), dst: v6(2), proto: 17, l4 });
  fixL4Checksum(p);
  return p;
}

const prefix = (ethertype: string) =>
  Buffer.from('0800000000000100' + '0a0000000201' + '0a0000000101' + ethertype, 'hex');

function rec(over: Partial<NativeCaptureRecord> & { inner: Uint8Array; ethertype: string }): NativeCaptureRecord {
  const { inner, ethertype, ...rest } = over;
  const data = Buffer.concat([prefix(ethertype), inner]);
  return {
    tsNs: 1_700_000_000_000_000_000n,
    origLen: data.length,
    dropsBefore: 0,
    dir: 0,
    verdict: 0,
    vtep: 'fd99::2',
    worker: 0,
    hasPrefix: true,
    peer: 'node-2',
    data,
    ...rest,
  };
}

const FIELDS = [
  'frame.comment',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.hlim',
  'udp.dstport',
  'udp.length',
  'udp.checksum.status',
  'vxlan.vni',
  'eth.type',
  'ip.src',
  'ip.dst',
  'icmp.type',
  'udp.port',
  '_ws.expert.severity',
];

async function decode(file: string): Promise<Record<string, string>[]> {
  const r = await run(
    'tshark',
    [
      '-r',
      file,
      '-d',
      'udp.port==8472,vxlan',
      '-o',
      'udp.check_checksum:TRUE',
      '-T',
      'fields',
      '-E',
      'separator=|',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ],
    { timeoutMs: 60_000 },
  );
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Object.fromEntries(l.split('|').map((v, i) => [FIELDS[i]!, v])));
}

/** Expert items at warning level or above (Wireshark's PI_WARN = 0x00600000). */
const warnings = (row: Record<string, string>) =>
  (row['_ws.expert.severity'] ?? '')
    .split(',')
    .filter(Boolean)
    .filter((s) => Number(s) >= 0x00600000);

t.test('tshark decodes an IPv6 node’s --outer capture as VXLAN over IPv6', { skip: missing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-epb-tshark-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const node: OuterContext = { publicIP: 'fd99::1', port: 8472, vni: 1 };
  const ping = icmp4();
  const u6 = udp6();
  const records: NativeCaptureRecord[] = [
    rec({ inner: ping, ethertype: '0800' }), // tx, IPv4 inside
    rec({ inner: u6, ethertype: '86dd', dir: 1 }), // rx, IPv6 inside
    // Snapped: 60 inner bytes kept of the same datagram.
    {
      ...rec({ inner: u6, ethertype: '86dd', dir: 1 }),
      data: Buffer.concat([prefix('86dd'), u6]).subarray(0, 22 + 60),
    },
    // A transmit drop without a peer: no captured prefix (synthesised with zero MACs), VTEP none.
    {
      ...rec({ inner: ping, ethertype: '0800', vtep: 'none', peer: '', verdict: 1 }),
      hasPrefix: false,
      data: ping,
      origLen: ping.length,
    },
  ];
  const file = join(dir, 'v6.pcapng');
  const blocks = records.map((r) => native.captureEpb(r, node));
  const snaplen = 1962 + outerBytes(node.publicIP);
  writeFileSync(file, Buffer.concat([pcapngHeader({ snaplen, ifName: 'vxtun0' }), ...blocks]));
  const rows = await decode(file);
  t.equal(rows.length, 4, 'four packets');
  const [tx, rx, snapped, drop] = rows as [Record<string, string>, ...Record<string, string>[]];
  t.match(tx, {
    'ipv6.src': 'fd99::1',
    'ipv6.dst': 'fd99::2',
    'ipv6.hlim': '64',
    'udp.dstport': '8472',
    'udp.length': String(8 + 22 + ping.length),
    'udp.checksum.status': '1',
    'vxlan.vni': '1',
    'eth.type': '0x0800',
    'ip.src': '10.244.1.2',
    'ip.dst': '10.244.2.2',
    'icmp.type': '8',
  });
  t.match(rx, {
    'ipv6.src': 'fd99::2,fd10:244:0:2::2',
    'ipv6.dst': 'fd99::1,fd10:244:0:1::2',
    'udp.checksum.status': '1',
    'vxlan.vni': '1',
    'eth.type': '0x86dd',
  });
  t.match(
    rx!['udp.port'],
    /^8472,\d+,40001,9999$/,
    'outer ports (as outerDatagram writes a receive), then the inner ones',
  );
  t.match(snapped, { 'ipv6.src': 'fd99::2,fd10:244:0:2::2', 'udp.length': String(8 + 22 + u6.length) });
  t.equal(snapped!['udp.checksum.status']?.split(',')[0], '2', 'a snapped record: the outer checksum unverified');
  t.match(drop, {
    'frame.comment': 'dir=tx peer=- vtep=0.0.0.0 verdict=drop:' + native.dropReasons[0],
    'ipv6.src': 'fd99::1',
    'ipv6.dst': '::',
    'udp.checksum.status': '1',
    'vxlan.vni': '1',
    'ip.dst': '10.244.2.2',
  });
  for (const [i, row] of rows.entries()) t.same(warnings(row), [], `packet ${i + 1}: no expert warnings`);

  // The check can fail: one inner byte changed after the checksum was written.
  const bad = Buffer.from(blocks[0]!);
  bad[28 + 70 + 30]! ^= 0x01;
  const badFile = join(dir, 'bad.pcapng');
  writeFileSync(badFile, Buffer.concat([pcapngHeader({ snaplen }), bad]));
  const [b] = await decode(badFile);
  t.equal(b?.['udp.checksum.status'], '0', 'a corrupted datagram: tshark says Bad');
  t.not(warnings(b!).length, 0, '…with an expert warning');
});

t.test('tshark decodes an IPv4 node’s --outer capture (checksum 0: not present)', { skip: missing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-epb-tshark-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const node: OuterContext = { publicIP: '192.168.99.1', port: 8472, vni: 1 };
  const ping = icmp4();
  const file = join(dir, 'v4.pcapng');
  const block = native.captureEpb(rec({ inner: ping, ethertype: '0800', vtep: '192.168.99.2' }), node);
  writeFileSync(file, Buffer.concat([pcapngHeader({ snaplen: 1962 + outerBytes(node.publicIP) }), block]));
  const [row] = await decode(file);
  t.match(row, {
    'ip.src': '192.168.99.1,10.244.1.2',
    'ip.dst': '192.168.99.2,10.244.2.2',
    'udp.checksum.status': '3',
    'vxlan.vni': '1',
    'icmp.type': '8',
  });
  t.same(warnings(row!), [], 'no expert warnings');
});
