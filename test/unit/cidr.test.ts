import t from 'tap';
import { Cidr } from '../../src/net/cidr.js';
import { formatIP, ipEquals, ipFromBytes, parseIP } from '../../src/net/ip.js';

t.test('parseIP accepts strict forms and canonicalises them', async (t) => {
  const good: [string, 4 | 6, string][] = [
    ['0.0.0.0', 4, '0.0.0.0'],
    ['10.244.1.2', 4, '10.244.1.2'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['1::', 6, '1::'],
    ['2001:DB8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'], // first of two equal runs, lowercase
    ['2001:db8:0:0:0:0:2:1', 6, '2001:db8::2:1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', 6, '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0db8::0001', 6, '2001:db8::1'], // leading zeros in groups are allowed on input
    ['fd10:244:0:2::', 6, 'fd10:244:0:2::'],
    ['::ffff:192.0.2.1', 6, '::ffff:192.0.2.1'], // IPv4-mapped stays mixed notation
    ['::ffff:c000:201', 6, '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:1.2.3.4', 6, '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0'],
  ];
  for (const [s, family, text] of good) {
    const ip = parseIP(s);
    t.ok(ip, `${s} parses`);
    t.equal(ip?.family, family, `${s} family`);
    t.equal(ip?.text, text, `${s} canonical`);
    t.equal(ip?.bytes.length, family === 4 ? 4 : 16, `${s} byte length`);
  }
});

t.test('parseIP rejects loose forms', async (t) => {
  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.256',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '0x1.2.3.4',
    '1..2.3',
    'fe80::1%eth0',
    '[::1]',
    ':::',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::1',
    '::1.2.3',
    '::01.2.3.4',
    '1.2.3.4::',
    'fd10::/64',
    'localhost',
  ];
  for (const s of bad) t.equal(parseIP(s), null, JSON.stringify(s));
});

t.test('formatIP, ipFromBytes, ipEquals', async (t) => {
  t.equal(formatIP(new Uint8Array([192, 168, 99, 1])), '192.168.99.1');
  t.equal(formatIP(new Uint8Array(16)), '::');
  t.throws(() => formatIP(new Uint8Array(5)), RangeError);
  const a = ipFromBytes(new Uint8Array([10, 0, 0, 1]));
  t.same({ family: a.family, text: a.text }, { family: 4, text: '10.0.0.1' });
  t.ok(ipEquals(a, parseIP('10.0.0.1')!));
  t.ok(ipEquals(a, new Uint8Array([10, 0, 0, 1])));
  t.notOk(ipEquals(a, parseIP('10.0.0.2')!));
  t.notOk(ipEquals(a, parseIP('::ffff:10.0.0.1')!), 'IPv4 never equals its mapped form');
  // Round trip over pseudo-random addresses (a fixed seed; many zero bytes, to exercise "::" placement).
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  for (let i = 0; i < 200; i++) {
    const b = Uint8Array.from({ length: i % 2 ? 16 : 4 }, () => (next() % 5 < 2 ? 0 : next() & 0xff));
    const ip = parseIP(formatIP(b));
    t.ok(ip && ipEquals(ip, b), `round trip ${formatIP(b)}`);
  }
});

t.test('Cidr.parse', async (t) => {
  t.equal(Cidr.parse('10.244.1.0/24').toString(), '10.244.1.0/24');
  t.equal(Cidr.parse('0.0.0.0/0').toString(), '0.0.0.0/0');
  t.equal(Cidr.parse('10.244.1.7/32').toString(), '10.244.1.7/32');
  t.equal(Cidr.parse('FD10:244:0:0::/56').toString(), 'fd10:244::/56');
  const c = Cidr.parse('fd10:244:0:2::/64');
  t.equal(c.family, 6);
  t.equal(c.prefixLen, 64);
  t.equal(c.bytes.length, 16);

  t.throws(() => Cidr.parse('10.244.1.5/24'), {
    message: '10.244.1.5/24 has host bits set; did you mean 10.244.1.0/24?',
  });
  t.equal(Cidr.parse('10.244.1.5/24', { strict: false }).toString(), '10.244.1.0/24');
  t.equal(Cidr.parse('fd10:244::1/56', { strict: false }).toString(), 'fd10:244::/56');
  t.throws(() => Cidr.parse('fd10:244::1/56'), { message: /has host bits set; did you mean fd10:244::\/56\?/ });

  const bad = [
    'x',
    '',
    '10.244.1.0',
    '10.244.1.0/',
    '/24',
    '10.244.1.0/24/1',
    '10.244.1.0/33',
    '10.244.1.0/024',
    '10.244.1.0/-1',
    '10.244.1.0/ 24',
    '10.244.1/24',
    'fd10::/129',
    '10.244.1.0/2a',
    'fe80::%1/64',
  ];
  for (const s of bad) {
    let message = '(no error)';
    try {
      Cidr.parse(s);
    } catch (e) {
      message = (e as Error).message;
    }
    t.ok(message.startsWith(`expected a CIDR like 10.244.1.0/24, got ${JSON.stringify(s)}`), `${s}: ${message}`);
  }
});

t.test('Cidr constructor masks host bits and checks its arguments', async (t) => {
  t.equal(new Cidr(new Uint8Array([10, 244, 1, 77]), 20).toString(), '10.244.0.0/20');
  t.equal(new Cidr(new Uint8Array([10, 244, 255, 255]), 17).toString(), '10.244.128.0/17');
  t.throws(() => new Cidr(new Uint8Array(5), 8), RangeError);
  t.throws(() => new Cidr(new Uint8Array(4), 33), RangeError);
  t.throws(() => new Cidr(new Uint8Array(4), 1.5), RangeError);
});

t.test('contains', async (t) => {
  const c = Cidr.parse('10.244.0.0/16');
  t.ok(c.contains(parseIP('10.244.0.0')!));
  t.ok(c.contains(parseIP('10.244.255.255')!));
  t.notOk(c.contains(parseIP('10.245.0.0')!));
  t.notOk(c.contains(parseIP('10.243.255.255')!));
  t.notOk(c.contains(parseIP('::ffff:10.244.0.1')!), 'other family');
  t.ok(c.contains(new Uint8Array([10, 244, 3, 4])), 'raw bytes');
  const odd = Cidr.parse('10.244.128.0/17');
  t.ok(odd.contains(parseIP('10.244.200.1')!));
  t.notOk(odd.contains(parseIP('10.244.127.255')!));
  t.ok(Cidr.parse('0.0.0.0/0').contains(parseIP('1.2.3.4')!));
  const v6 = Cidr.parse('fd10:244:0:2::/64');
  t.ok(v6.contains(parseIP('fd10:244:0:2::2')!));
  t.notOk(v6.contains(parseIP('fd10:244:0:3::2')!));
  t.notOk(v6.contains(parseIP('10.244.2.2')!));
  const host = Cidr.parse('10.0.0.1/32');
  t.ok(host.contains(parseIP('10.0.0.1')!));
  t.notOk(host.contains(parseIP('10.0.0.0')!));
});

t.test('overlaps and equals', async (t) => {
  const net = Cidr.parse('10.244.0.0/16');
  t.ok(net.overlaps(Cidr.parse('10.244.1.0/24')));
  t.ok(Cidr.parse('10.244.1.0/24').overlaps(net));
  t.ok(net.overlaps(net));
  t.notOk(Cidr.parse('10.244.1.0/24').overlaps(Cidr.parse('10.244.2.0/24')));
  t.notOk(Cidr.parse('10.0.0.0/8').overlaps(Cidr.parse('::/0')), 'different families');
  t.ok(Cidr.parse('fd10:244::/56').overlaps(Cidr.parse('fd10:244:0:2::/64')));
  t.ok(net.equals(Cidr.parse('10.244.0.0/16')));
  t.notOk(net.equals(Cidr.parse('10.244.0.0/17')));
  t.notOk(net.equals(Cidr.parse('10.245.0.0/16')));
});

t.test('hostAddress', async (t) => {
  const c = Cidr.parse('10.244.1.0/24');
  t.equal(c.hostAddress(0).text, '10.244.1.0');
  t.equal(c.hostAddress(1).text, '10.244.1.1');
  t.equal(c.hostAddress(255).text, '10.244.1.255');
  t.throws(() => c.hostAddress(256), RangeError);
  t.throws(() => c.hostAddress(-1), RangeError);
  t.throws(() => c.hostAddress(1.5), RangeError);
  t.equal(Cidr.parse('10.244.0.0/16').hostAddress(257).text, '10.244.1.1', 'carries across bytes');
  t.equal(Cidr.parse('10.0.0.0/8').hostAddress(0xffffff).text, '10.255.255.255');
  t.equal(Cidr.parse('10.0.0.7/32').hostAddress(0).text, '10.0.0.7');
  t.throws(() => Cidr.parse('10.0.0.7/32').hostAddress(1), RangeError);
  t.equal(Cidr.parse('fd10:244:0:2::/64').hostAddress(1).text, 'fd10:244:0:2::1');
  t.equal(Cidr.parse('fd10::/64').hostAddress(2 ** 40).text, 'fd10::100:0:0');
  t.equal(Cidr.parse('fd10::/64').hostAddress(Number.MAX_SAFE_INTEGER).text, 'fd10::1f:ffff:ffff:ffff');
  t.equal(Cidr.parse('fd10::/64').hostAddress(1).family, 6);
});
