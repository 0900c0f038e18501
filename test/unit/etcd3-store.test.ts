// The pure parts of the etcd3 EtcdStore (src/peers/etcd3-options.ts, etcd3-watch.ts) and its TLS file reading;
// the store against a real etcd is test/integration/etcd-store.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { IWatchResponse } from 'etcd3';
import { ConfigError } from '../../src/errors.js';
import { etcd3ClientOptions, nextEndpointPolicy, prefixRangeEnd } from '../../src/peers/etcd3-options.js';
import { readEtcdTls } from '../../src/peers/etcd3-store.js';
import { cancelOf, eventsOf } from '../../src/peers/etcd3-watch.js';

const always = () => true;

t.test('prefixRangeEnd', async (t) => {
  t.same(prefixRangeEnd(Buffer.from('/a/')), Buffer.from('/a0'));
  t.same(prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff])), Buffer.from([0x62]), 'trailing 0xff dropped');
  t.same(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]), 'all 0xff: to the end');
  const p = Buffer.from('/x/');
  prefixRangeEnd(p);
  t.same(p, Buffer.from('/x/'), 'input untouched');
});

t.test('client options', async (t) => {
  const section = { endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'], prefix: '/coreos.com/network' };
  const o = etcd3ClientOptions(section, {}, 1234, always);
  t.same(o.hosts, section.endpoints);
  t.equal(o.credentials, undefined, 'no TLS');
  t.equal(o.grpcOptions?.['grpc.max_reconnect_backoff_ms'], 1000);
  const f = o.defaultCallOptions as (c: { isStream: boolean }) => { deadline?: number };
  const d = f({ isStream: false }).deadline!;
  t.ok(d > Date.now() + 1000 && d <= Date.now() + 1234, 'unary calls: a deadline');
  t.same(f({ isStream: true }), {}, 'streams: none');
  t.throws(
    () => etcd3ClientOptions({ ...section, endpoints: ['http://a:1', 'https://b:1'] }, {}, 1, always),
    new ConfigError('peers.etcd.endpoints', 'mixes http:// and https:// endpoints; use one scheme'),
  );
  const tls = etcd3ClientOptions(
    { ...section, endpoints: ['https://a:1'], auth: { username: 'u', password: 'p' } },
    { ca: Buffer.from('ca'), cert: Buffer.from('c'), key: Buffer.from('k') },
    1,
    always,
  );
  t.same(tls.credentials, {
    rootCertificate: Buffer.from('ca'),
    privateKey: Buffer.from('k'),
    certChain: Buffer.from('c'),
  });
  t.same(tls.auth, { username: 'u', password: 'p' });
});

t.test('nextEndpointPolicy: one try per endpoint on transient errors only', async (t) => {
  let n = 0;
  const failing = () => {
    n++;
    throw new Error(`try ${n}`);
  };
  await t.rejects(nextEndpointPolicy(3, always).execute(failing), /try 3/);
  t.equal(n, 3);
  n = 0;
  await t.rejects(nextEndpointPolicy(3, () => false).execute(failing), /try 1/);
  t.equal(n, 1, 'a non-transient error is not retried');
  t.equal(await nextEndpointPolicy(2, always).execute(() => 7), 7);
});

t.test('readEtcdTls', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-etcd3-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  writeFileSync(join(dir, 'ca.pem'), pem);
  writeFileSync(join(dir, 'junk'), 'not a pem');
  t.same(await readEtcdTls(undefined), {});
  t.same(await readEtcdTls({ ca: join(dir, 'ca.pem') }), { ca: Buffer.from(pem) });
  await t.rejects(readEtcdTls({ ca: join(dir, 'ca.pem'), cert: join(dir, 'nope') }), {
    name: 'ConfigError',
    field: 'peers.etcd.tls.cert',
    message: /cannot read .*nope: ENOENT/,
  });
  await t.rejects(readEtcdTls({ key: join(dir, 'junk') }), { field: 'peers.etcd.tls.key', message: /no PEM block/ });
  await t.rejects(readEtcdTls({ ca: dir }), { field: 'peers.etcd.tls.ca', message: /EISDIR/ });
});

t.test('watch responses', async (t) => {
  const res = (o: Partial<IWatchResponse>): IWatchResponse =>
    ({
      header: { revision: '9' },
      watch_id: '0',
      created: false,
      canceled: false,
      compact_revision: '0',
      cancel_reason: '',
      fragment: false,
      events: [],
      ...o,
    }) as IWatchResponse;
  t.equal(eventsOf(res({ created: true })), undefined, 'created: no events');
  const kv = (k: string, v: string) => ({ key: Buffer.from(k), value: Buffer.from(v) });
  t.same(
    eventsOf(
      res({
        events: [
          { type: 'Put', kv: kv('/a', '1') },
          { type: 'Delete', kv: kv('/b', '') },
        ] as never,
      }),
    ),
    [
      { type: 'put', key: '/a', value: '1' },
      { type: 'delete', key: '/b', value: '' },
    ],
  );
  const c = cancelOf(res({ canceled: true, compact_revision: '40' }), '/p/');
  t.equal(c.compacted, true);
  t.match(c.message, /before 40 are compacted/);
  const other = cancelOf(res({ canceled: true, cancel_reason: 'permission denied' }), '/p/');
  t.equal(other.compacted, false);
  t.match(other.message, /canceled by etcd: permission denied/);
  t.match(cancelOf(res({ canceled: true }), '/p/').message, /no reason given/);
});
