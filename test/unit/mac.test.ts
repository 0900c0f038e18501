import t from 'tap';
import { formatMac, isLocallyAdministered, isUnicast, macFromName, parseMac, randomMac } from '../../src/net/mac.js';

t.test('parseMac', async (t) => {
  t.same(parseMac('0a:00:00:00:01:01'), new Uint8Array([0x0a, 0, 0, 0, 1, 1]));
  t.same(parseMac('AA:bb:Cc:dD:ee:FF'), new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
  const bad = [
    '',
    '0a:00:00:00:01',
    '0a:00:00:00:01:01:02',
    '0a-00-00-00-01-01',
    '0a00.0000.0101',
    'a:0:0:0:1:1',
    '0g:00:00:00:01:01',
    ' 0a:00:00:00:01:01',
    '0a:00:00:00:01:01 ',
    '0a:00:00:00:01:001',
    '0a::00:00:01:01',
  ];
  for (const s of bad) t.equal(parseMac(s), null, JSON.stringify(s));
});

t.test('formatMac', async (t) => {
  t.equal(formatMac(new Uint8Array([0x0a, 0, 0xb, 0xff, 1, 0x10])), '0a:00:0b:ff:01:10');
  t.equal(formatMac(parseMac('AA:BB:CC:DD:EE:FF')!), 'aa:bb:cc:dd:ee:ff');
  t.throws(() => formatMac(new Uint8Array(5)), RangeError);
});

t.test('bit tests', async (t) => {
  t.ok(isUnicast(parseMac('0a:00:00:00:00:01')!));
  t.ok(isUnicast(parseMac('00:16:3e:00:00:01')!));
  t.notOk(isUnicast(parseMac('01:00:5e:00:00:01')!), 'IPv4 multicast');
  t.notOk(isUnicast(parseMac('ff:ff:ff:ff:ff:ff')!), 'broadcast');
  t.notOk(isUnicast(new Uint8Array(5)), 'wrong length');
  t.ok(isLocallyAdministered(parseMac('02:00:00:00:00:01')!));
  t.ok(isLocallyAdministered(parseMac('0a:00:00:00:00:01')!));
  t.notOk(isLocallyAdministered(parseMac('00:16:3e:00:00:01')!));
});

t.test('macFromName is stable, distinct per name, unicast and locally administered', async (t) => {
  // Pinned: other nodes derive our MAC from our name, so this must never change.
  // sha256("node-a") = 66 57 0f f0 5a 20 …, "node-b" = 93 ef …, "node-c" = 09 2c …; first byte (b & 0xfe) | 0x02.
  t.equal(macFromName('node-a'), '66:57:0f:f0:5a:20');
  t.equal(macFromName('node-b'), '92:ef:37:c6:15:71');
  t.equal(macFromName('node-c'), '0a:2c:d5:e2:9d:b9');
  const a = macFromName('node-a');
  t.equal(a, macFromName('node-a'));
  t.match(a, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  t.not(a, macFromName('node-b'));
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const mac = macFromName(`node-${i}`);
    const b = parseMac(mac)!;
    t.ok(isUnicast(b) && isLocallyAdministered(b), `${mac} bits`);
    seen.add(mac);
  }
  t.equal(seen.size, 500, 'no collisions among 500 names');
});

t.test('randomMac', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const mac = randomMac();
    const b = parseMac(mac);
    t.ok(b && isUnicast(b) && isLocallyAdministered(b), `${mac} bits`);
    seen.add(mac);
  }
  t.ok(seen.size > 195, 'random');
});
