import t from 'tap';
import type { CaptureRecord } from '../../src/dump/capture.js';
import { compileDumpFilter, parseDumpFilter } from '../../src/dump/filter.js';
import { UsageError } from '../../src/errors.js';

// 10.244.1.2:40000 → 10.244.2.2:5201 TCP SYN; ICMP echo; an IPv6 UDP packet.
const tcp = Buffer.from(
  '45000028000040004006000' + '00af401020af40202' + '9c4014510000000000000000500200000000000',
  'hex',
);
const icmp = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');
const udp6 = Buffer.alloc(48);
udp6[0] = 0x60;
udp6[6] = 17;
udp6.set(Buffer.from('fd100244000000010000000000000002', 'hex'), 8);
udp6.set(Buffer.from('fd100244000000020000000000000002', 'hex'), 24);
udp6.writeUInt16BE(53, 40);
udp6.writeUInt16BE(1234, 42);

const rec = (packet: Buffer, over: Partial<CaptureRecord> = {}): CaptureRecord => ({
  tsNs: 0n,
  dir: 'tx',
  verdict: 'forward',
  peer: 'node-2',
  vtep: '192.168.99.2',
  worker: 0,
  prefix: null,
  packet,
  origLen: packet.length,
  ...over,
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
  ['constructor', /a filter term .*got "constructor"/], // an inherited key of the protocol table is no protocol
  ['proto __proto__', /tcp, udp, icmp, icmp6 or 0\.\.255 after "proto", got "__proto__"/],
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

// ---- compileDumpFilter: the same grammar and errors, bytecode per native/core/capture_filter.h ----

const REASONS = ['short', 'bad-header', 'no-route'];
for (const [f] of bad) {
  let want = '';
  try {
    parseDumpFilter(f);
  } catch (e) {
    want = (e as Error).message;
  }
  t.throws(() => compileDumpFilter(f, REASONS), new UsageError(want), `compile "${f}": the same UsageError`);
}

const hexOf = (f: string, reasons = REASONS) => Buffer.from(compileDumpFilter(f, reasons)).toString('hex');
const programs: [string, string][] = [
  ['', ''],
  ['   ', ''],
  ['tcp', '0706'],
  ['PROTO 17', '0711'],
  ['tx', '02'],
  ['RX', '03'],
  ['drops', '05'],
  ['verdict forward', '0400'],
  ['verdict NO-ROUTE', '0403'],
  ['verdict bogus', '01'],
  ['verdict reason-200', '04c8'], // the reference's name for a code beyond the list
  ['verdict reason-2', '01'], // code 2 is named bad-header
  ['port 5201', '081451'],
  ['peer nöde-2', '060007' + Buffer.from('nöde-2').toString('hex')],
  ['peer \ud800', '01'], // a lone surrogate never equals a decoded name
  ['host 10.244.1.2', '090af40102'],
  ['host ::ffff:10.244.1.2', '0a00000000000000000000ffff0af40102'],
  ['net 10.244.2.255/23', '0b170af40200'], // host bits cleared
  ['net fd10::/16', '0c10fd10' + '00'.repeat(14)],
  ['not tcp', '070620'],
  ['tx and rx', '020321'],
  ['tx or rx and drops', '0305210222'], // rx and drops (deeper) first, then tx
  ['(tx or rx) and drops', '02032205' + '21'],
  ['tx and (rx or drops)', '03052202' + '21'], // the deeper operand goes first (a shallower stack)
];
for (const [f, want] of programs) t.equal(hexOf(f), want, `compile "${f}"`);

// Unusual reason lists: every code whose name decodeCaptureRecords gives matches.
t.equal(hexOf('verdict no-route', ['no-route', 'x', 'no-route']), '0401040322', 'two codes with one name');
t.equal(hexOf('drops', ['forward']), '0400040122' + '20', 'a reason named forward is no drop');
t.equal(hexOf('verdict Upper', ['Upper']), '01', 'the word is lower-cased, the reason is not');

const huge = new Array(300).fill('host fd00::1').join(' or ');
t.doesNotThrow(() => parseDumpFilter(huge), 'the reference has no length limit');
t.throws(() => compileDumpFilter(huge, REASONS), {
  name: 'UsageError',
  message: /too long for the native capture filter \(5399 bytes of program, at most 4096\)/,
});
const deep = `${'( tx or '.repeat(200)}rx${' )'.repeat(200)}`;
t.equal(compileDumpFilter(deep, REASONS).length, 401, 'deep nesting compiles (the stack stays shallow)');
