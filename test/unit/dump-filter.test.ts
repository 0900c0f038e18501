import t from 'tap';
import type { CaptureRecord } from '../../src/capture.js';
import { parseDumpFilter } from '../../src/dump-filter.js';
import { UsageError } from '../../src/errors.js';

// 10.244.1.2:40000 → 10.244.2.2:5201 TCP SYN; ICMP echo; an IPv6 UDP packet.
const tcp = Buffer.from('45000028000040004006000' + '00af401020af40202' + '9c4014510000000000000000500200000000000', 'hex');
const icmp = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');
const udp6 = Buffer.alloc(48);
udp6[0] = 0x60;
udp6[6] = 17;
udp6.set(Buffer.from('fd100244000000010000000000000002', 'hex'), 8);
udp6.set(Buffer.from('fd100244000000020000000000000002', 'hex'), 24);
udp6.writeUInt16BE(53, 40);
udp6.writeUInt16BE(1234, 42);

const rec = (packet: Buffer, over: Partial<CaptureRecord> = {}): CaptureRecord => ({
  tsNs: 0n, dir: 'tx', verdict: 'forward', peer: 'node-2', vtep: '192.168.99.2', worker: 0, prefix: null, packet, origLen: packet.length, ...over,
});

const cases: [string, CaptureRecord, boolean][] = [
  ['', rec(tcp), true],
  ['host 10.244.2.2', rec(tcp), true],
  ['host 10.244.1.2', rec(icmp), true],
  ['host 10.244.9.9', rec(tcp), false],
  ['host fd10:244:0:2::2', rec(udp6), true],
  ['net 10.244.2.0/24', rec(tcp), true],
  ['net 10.245.0.0/16', rec(tcp), false],
  ['net fd10:244::/56', rec(udp6), true],
  ['proto tcp', rec(tcp), true],
  ['proto udp', rec(tcp), false],
  ['proto 1', rec(icmp), true],
  ['icmp', rec(icmp), true],
  ['port 5201', rec(tcp), true],
  ['port 53', rec(udp6), true],
  ['port 80', rec(tcp), false],
  ['port 80', rec(icmp), false],
  ['peer node-2', rec(tcp), true],
  ['peer node-3', rec(tcp), false],
  ['drops', rec(tcp), false],
  ['drops', rec(tcp, { verdict: 'no-route', peer: '' }), true],
  ['verdict no-route', rec(tcp, { verdict: 'no-route' }), true],
  ['rx', rec(tcp), false],
  ['tx and port 5201', rec(tcp), true],
  ['not drops', rec(tcp), true],
  ['! proto tcp', rec(tcp), false],
  ['tcp and not port 22', rec(tcp), true],
  ['icmp or port 5201', rec(tcp), true],
  ['(icmp or udp) and peer node-2', rec(tcp), false],
  ['(icmp or tcp) and (peer node-2 or drops)', rec(tcp), true],
  ['not (icmp or tcp)', rec(udp6), true],
  ['host 10.244.2.2 and port 5201 or drops', rec(icmp), false],
  ['drops or host 10.244.2.2 and port 80', rec(tcp), false], // and binds tighter
  ['PROTO TCP', rec(tcp), true],
  ['proto tcp', rec(Buffer.from([0x45, 0, 0])), false], // truncated garbage: no match, no throw
];

for (const [f, r, want] of cases) t.equal(parseDumpFilter(f)(r), want, `"${f}" → ${want}`);

const bad: [string, RegExp][] = [
  ['host', /expected an IP address after "host", got the end/],
  ['host 10.244.2', /expected an IP address after "host", got "10\.244\.2"/],
  ['net 10.0.0.0/33', /expected a CIDR/],
  ['proto sctpx', /tcp, udp, icmp, icmp6 or 0\.\.255/],
  ['proto 256', /0\.\.255/],
  ['port 70000', /a port 0\.\.65535/],
  ['port x', /a port/],
  ['peer', /a peer name/],
  ['frobnicate', /a filter term .*got "frobnicate"/],
  ['(tcp', /expected "\)"/],
  ['tcp)', /"and", "or" or the end/],
  ['tcp udp', /"and", "or" or the end, got "udp"/],
  ['tcp and', /a filter term/],
  ['not', /a filter term/],
];
for (const [f, re] of bad) {
  t.throws(() => parseDumpFilter(f), UsageError, `"${f}" is a UsageError`);
  t.throws(() => parseDumpFilter(f), { message: re }, `"${f}" message`);
}
