// The one HOST:PORT parser (src/net/host-port.ts) and its users: the config's admin.listen and the dump client's
// splitHostPort. Every form the config accepted before the parser moved, and each part's error.
import t from 'tap';
import { parseListenAddress } from '../../src/config/index.js';
import { splitHostPort } from '../../src/dump/admin-stream.js';
import { UsageError } from '../../src/errors.js';
import { formatHostPort, parseHostPort } from '../../src/net/host-port.js';

t.test('accepted forms, hosts in canonical text', async (t) => {
  const ok: [string, string, number][] = [
    ['127.0.0.1:9465', '127.0.0.1', 9465],
    ['0.0.0.0:1', '0.0.0.0', 1],
    ['localhost:65535', 'localhost', 65535],
    ['[::1]:80', '::1', 80],
    ['[::]:65535', '::', 65535],
    ['[FD00::0001]:80', 'fd00::1', 80],
    ['[::ffff:1.2.3.4]:8', '::ffff:1.2.3.4', 8],
  ];
  for (const [text, host, port] of ok) t.same(parseHostPort(text), { ok: true, host, port }, text);
});

t.test('each wrong part says which', async (t) => {
  const bad: [string, RegExp | undefined][] = [
    // not HOST:PORT at all: the caller says what it expected
    ['127.0.0.1', undefined],
    ['9465', undefined],
    ['::1:9465', undefined],
    ['1.2.3.4:1:2', undefined],
    ['[::1]x:1', undefined],
    ['[::1]', undefined],
    ['', undefined],
    // host
    ['[127.0.0.1]:9465', /^expected an IPv6 address inside \[brackets\], got "127\.0\.0\.1"$/],
    ['[fe80::1%eth0]:1', /inside \[brackets\], got "fe80::1%eth0"/],
    ['[]:1', /inside \[brackets\], got ""$/],
    ['myhost:9465', /^expected an IPv4 address, \[IPv6 address\] or localhost before ":", got "myhost"$/],
    ['LOCALHOST:80', /got "LOCALHOST"/],
    [' 1.2.3.4:80', /got " 1\.2\.3\.4"/],
    ['010.0.0.1:80', /before ":", got "010\.0\.0\.1"/],
    [':80', /before ":", got ""/],
    // port
    ['127.0.0.1:0', /^expected a port 1\.\.65535 after ":", got "0"$/],
    ['127.0.0.1:65536', /got "65536"/],
    ['127.0.0.1:09465', /got "09465"/],
    ['127.0.0.1:+1', /got "\+1"/],
    ['localhost:', /after ":", got ""/],
  ];
  for (const [text, reason] of bad) {
    const r = parseHostPort(text);
    if (r.ok) {
      t.fail(`${JSON.stringify(text)} accepted`);
      continue;
    }
    if (reason === undefined) t.equal(r.reason, undefined, `${JSON.stringify(text)}: not HOST:PORT`);
    else t.match(r.reason, reason, JSON.stringify(text));
  }
});

t.test('formatHostPort reads back', async (t) => {
  for (const text of ['127.0.0.1:9465', '[::1]:80', 'localhost:1', '[fd00::1]:443']) {
    const r = parseHostPort(text);
    t.ok(r.ok && formatHostPort(r) === text, text);
  }
});

t.test('admin.listen: "off", the shape message names the field and the examples', async (t) => {
  t.equal(parseListenAddress('off', 'admin.listen'), null);
  t.same(parseListenAddress('[::1]:9000', 'admin.listen'), { host: '::1', port: 9000 });
  t.throws(() => parseListenAddress('127.0.0.1', 'admin.listen'), {
    name: 'ConfigError',
    field: 'admin.listen',
    message: 'admin.listen: expected "HOST:PORT" (like 127.0.0.1:9465 or [::1]:9465) or "off", got "127.0.0.1"',
  });
  t.throws(() => parseListenAddress(9465, 'admin.listen'), { message: /or "off", got 9465$/ });
  t.throws(() => parseListenAddress('127.0.0.1:0', 'admin.listen'), {
    message: 'admin.listen: expected a port 1..65535 after ":", got "0"',
  });
});

t.test('splitHostPort: the same rules, a UsageError naming the text', async (t) => {
  t.same(splitHostPort('[fd00::0001]:80'), { host: 'fd00::1', port: 80 });
  t.throws(() => splitHostPort('127.0.0.1'), new UsageError('"127.0.0.1": expected HOST:PORT or [IPv6]:PORT'));
  t.throws(() => splitHostPort('example.com:80'), {
    name: 'UsageError',
    message: /"example\.com:80": expected an IPv4 address/,
  });
});
