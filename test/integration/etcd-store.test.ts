// EtcdStore over the npm etcd3 client (src/peers/etcd3-store.ts) against a real etcd (Debian's etcd-server) in a lab
// namespace. The client side runs in node-1's namespace (test/helpers/fixtures/etcd-store-agent.ts): the test process
// cannot reach lab addresses. Each part uses its own key prefix:
//   - get/list/put/delete/create against what etcdctl sees (values, revisions, leases), a put with a 2 s TTL expiring;
//   - a watch from a list's revision + 1 sees every later change in order, once, and nothing outside its prefix;
//   - a watch from before a compaction ends with one error, compacted=true, and nothing after it;
//   - etcd stopped for 10 s: the watch ends with an error (no hang), calls reject within their deadline, and after the
//     restart the first list() succeeds (the time from etcd healthy to that success is printed);
//   - 20 clients create one key at once: exactly one wins, the losers' leases are revoked;
//   - TLS with client certificates (when openssl is there): works with tls {ca, cert, key}, fails without the cert.
//   - etcd's own authentication: a user with a role on one prefix works there, is refused elsewhere; a wrong password
//     and no credentials are refused.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { startRemoteStores, type RemoteStores, type WatchLine } from '../helpers/fixtures/etcd-store-remote.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'etcd', 'etcdctl']);
const ETCD_IP = '192.168.99.200';
const ETCD_TLS_IP = '192.168.99.201';
const ETCD_AUTH_IP = '192.168.99.202';
const CALL_TIMEOUT_MS = 2_000;
/** Slack over the deadline for a loaded machine (the agent measures the call itself). */
const SLACK_MS = 1_500;
const OUTAGE_MS = 10_000;
/** The target is 1 s from etcd healthy to the first good list(); asserted loosely under load. */
const RECOVERY_BOUND_MS = 3_000;

type List = { kvs: { key: string; value: string }[]; revision: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The lease ids etcdctl lists (hex), as bigints. */
async function leases(etcd: EtcdServer): Promise<bigint[]> {
  const out = await etcd.ctl(['lease', 'list']);
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => /^[0-9a-f]+$/.test(l))
    .map((l) => BigInt(`0x${l}`));
}

/** The lease a key is attached to (0n: none), as etcdctl reports it (read as text: int64 ids lose digits in JSON.parse). */
async function leaseOf(etcd: EtcdServer, key: string): Promise<bigint | undefined> {
  const out = await etcd.ctl(['get', key, '-w', 'json']);
  if (!out.includes('"kvs"')) return undefined;
  return BigInt(/"lease":(\d+)/.exec(out)?.[1] ?? 0);
}

/** The TTL a lease was granted with. */
async function grantedTtl(etcd: EtcdServer, lease: bigint): Promise<number> {
  const out = await etcd.ctl(['lease', 'timetolive', lease.toString(16), '-w', 'json']);
  return Number(/"granted-ttl":(\d+)/.exec(out)?.[1] ?? NaN);
}

const events = (lines: WatchLine[]) =>
  lines.flatMap((l) => (l.events ?? []).map((e) => `${e.type} ${e.key}=${e.value}`));

t.test('EtcdStore over etcd3 against a real etcd', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 1, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const etcdNs = await lab.addHost('etcd', ETCD_IP);
  const etcd = await startEtcd(lab, { ns: etcdNs, address: ETCD_IP });
  const remote: RemoteStores = await startRemoteStores(lab, lab.nodeNs(1));
  t.teardown(() => remote.stop());
  const ok = async <T>(op: string, args: Record<string, unknown>): Promise<T> => {
    const r = await remote.call<T>(op, args);
    if (!r.ok) throw new Error(`${op} ${JSON.stringify(args)}: ${r.error}`);
    return r.result;
  };
  await ok('open', { sid: 'a', url: etcd.url, callTimeoutMs: CALL_TIMEOUT_MS });

  await t.test('get, list, put, delete, create, leases', async (t) => {
    await etcd.put('/t1', 'outside');
    await etcd.put('/t10/x', 'outside');
    await ok('put', { sid: 'a', key: '/t1/a', value: 'one', ttl: 0 });
    t.equal(await ok('get', { sid: 'a', key: '/t1/a' }), 'one', 'get returns what put wrote');
    t.equal(await etcd.get('/t1/a'), 'one', 'etcdctl sees the put');
    t.equal(await leaseOf(etcd, '/t1/a'), 0n, 'ttl 0: no lease');
    t.equal(
      (await ok<{ ok: boolean } | null>('get', { sid: 'a', key: '/t1/none' })) ?? null,
      null,
      'absent key: undefined',
    );

    await etcd.put('/t1/b', 'two');
    const l1 = await ok<List>('list', { sid: 'a', prefix: '/t1/' });
    t.same(
      l1.kvs.map((kv) => `${kv.key}=${kv.value}`),
      ['/t1/a=one', '/t1/b=two'],
      'list: the keys under the prefix only, in key order',
    );
    t.equal(BigInt(l1.revision), await etcd.revision(), 'list revision is the store revision');
    await etcd.put('/t1/b', 'three');
    const l2 = await ok<List>('list', { sid: 'a', prefix: '/t1/' });
    t.equal(BigInt(l2.revision), BigInt(l1.revision) + 1n, 'one write: revision + 1');

    await ok('delete', { sid: 'a', key: '/t1/a' });
    t.equal(await etcd.get('/t1/a'), undefined, 'delete removed the key');

    const before = await leases(etcd);
    t.equal(await ok('create', { sid: 'a', key: '/t1/c', value: 'first', ttl: 60 }), true, 'create on absent: true');
    t.equal(
      await ok('create', { sid: 'a', key: '/t1/c', value: 'second', ttl: 60 }),
      false,
      'create on present: false',
    );
    t.equal(await etcd.get('/t1/c'), 'first', 'the first value stays');
    const after = (await leases(etcd)).filter((id) => !before.includes(id));
    t.equal(after.length, 1, "one new lease: the loser's was revoked");
    t.equal(await leaseOf(etcd, '/t1/c'), after[0], "and it is the key's");
    t.equal(await ok('create', { sid: 'a', key: '/t1/d', value: 'x', ttl: 0 }), true, 'create with ttl 0');
    t.equal(await leaseOf(etcd, '/t1/d'), 0n, 'ttl 0: no lease');

    await ok('put', { sid: 'a', key: '/t1/e', value: 'short', ttl: 2 });
    const lease = await leaseOf(etcd, '/t1/e');
    t.ok(lease !== undefined && lease !== 0n, 'put with ttl 2: the key is on a lease');
    t.equal(await grantedTtl(etcd, lease!), 2, 'granted for 2 s');
    const t0 = Date.now();
    while ((await etcd.get('/t1/e')) !== undefined && Date.now() - t0 < 10_000) await sleep(200);
    t.equal(await etcd.get('/t1/e'), undefined, `expired (after ${Date.now() - t0} ms)`);

    const bad = await remote.call('put', { sid: 'a', key: '/t1/f', value: 'x', ttl: -1 });
    t.notOk(bad.ok, `negative ttl rejected: ${bad.error}`);
  });

  await t.test('watch from list revision + 1: every change after the list, in order, once', async (t) => {
    await etcd.put('/t2/k0', 'v0');
    const l = await ok<List>('list', { sid: 'a', prefix: '/t2/' });
    const from = BigInt(l.revision) + 1n;
    // Changes between the list and the watch: the watch must replay them.
    await etcd.put('/t2/k1', 'v1');
    await etcd.del('/t2/k0');
    await ok('watch', { sid: 'a', wid: 'w2', prefix: '/t2/', from: from.toString() });
    const expected = ['put /t2/k1=v1', 'delete /t2/k0='];
    for (let i = 2; i < 12; i++) {
      if (i % 2 === 0) await etcd.put(`/t2/k${i}`, `v${i}`);
      else await ok('put', { sid: 'a', key: `/t2/k${i}`, value: `v${i}`, ttl: 0 });
      expected.push(`put /t2/k${i}=v${i}`);
      await etcd.put('/t20/outside', String(i));
    }
    await ok('delete', { sid: 'a', key: '/t2/k5' });
    expected.push('delete /t2/k5=');
    await etcd.put('/t2/k1', 'again');
    expected.push('put /t2/k1=again');
    const lines = await remote.waitWatch(
      'w2',
      (ls) => events(ls).length >= expected.length || ls.some((x) => x.error),
      15_000,
    );
    t.same(events(lines), expected, 'every event, in order, none twice, none outside the prefix');
    t.notOk(
      lines.some((x) => x.error),
      'no error',
    );
    const revs = lines.map((x) => BigInt(x.revision!));
    t.ok(
      revs.every((r, i) => i === 0 || r > revs[i - 1]!),
      'response revisions increase',
    );
    t.ok(revs[0]! >= from, 'first revision ≥ fromRevision');

    await ok('unwatch', { wid: 'w2' });
    await etcd.put('/t2/late', 'x');
    await sleep(500);
    const last = remote.watchLines('w2');
    t.same(last.at(-1), { ...last.at(-1), closed: true }, 'closed; no delivery after close');
    t.notOk(events(last).includes('put /t2/late=x'), 'the change after close is not delivered');
  });

  await t.test('compaction: one error with compacted=true, then nothing', async (t) => {
    const l = await ok<List>('list', { sid: 'a', prefix: '/t3/' });
    for (let i = 0; i < 3; i++) await etcd.put(`/t3/k${i}`, `v${i}`);
    const compactedAt = await etcd.compact();
    await ok('watch', { sid: 'a', wid: 'w3', prefix: '/t3/', from: (BigInt(l.revision) + 1n).toString() });
    // Control: a watch from after the compaction works.
    await ok('watch', { sid: 'a', wid: 'w3ok', prefix: '/t3/', from: (compactedAt + 1n).toString() });
    const lines = await remote.waitWatch('w3', (ls) => ls.length > 0, 10_000);
    t.match(lines[0], { compacted: true, error: /compacted/ }, `error: ${lines[0]?.error}`);
    await etcd.put('/t3/after', 'x');
    await remote.waitWatch('w3ok', (ls) => events(ls).includes('put /t3/after=x'), 10_000);
    await sleep(500);
    t.equal(remote.watchLines('w3').length, 1, 'exactly one line: the error, no events after it');
    t.notOk(
      remote.watchLines('w3ok').some((x) => x.error),
      'control watch: no error',
    );
    await ok('unwatch', { wid: 'w3ok' });
  });

  await t.test('outage: watch error, calls within their deadline, list right after the restart', async (t) => {
    await ok('open', { sid: 'o', url: etcd.url, callTimeoutMs: CALL_TIMEOUT_MS });
    const l = await ok<List>('list', { sid: 'o', prefix: '/t4/' });
    await ok('watch', { sid: 'o', wid: 'w4', prefix: '/t4/', from: (BigInt(l.revision) + 1n).toString() });
    await ok('put', { sid: 'o', key: '/t4/live', value: '1', ttl: 0 });
    await remote.waitWatch('w4', (ls) => events(ls).length === 1, 10_000);

    const stopAt = Date.now();
    await etcd.stop();
    const lines = await remote.waitWatch('w4', (ls) => ls.some((x) => x.error), 10_000);
    const errLine = lines.find((x) => x.error)!;
    t.pass(`watch ended ${errLine.t - stopAt} ms after the stop began: ${errLine.error}`);
    t.equal(errLine.compacted, false, 'not a compaction');

    // Rounds of calls (as a source retrying) until etcd is started again: the last round right before the start, so a
    // client that shuts a host out after failures (etcd3's default circuit breaker: 5 s) would still do so once etcd
    // is back.
    const deadline = CALL_TIMEOUT_MS + SLACK_MS;
    const down = Date.now();
    let attempts = 0;
    for (let last = false; !last;) {
      last = Date.now() - down >= OUTAGE_MS;
      const calls = await Promise.all([
        remote.call('list', { sid: 'o', prefix: '/t4/' }),
        remote.call('get', { sid: 'o', key: '/t4/live' }),
        remote.call('create', { sid: 'o', key: '/t4/new', value: 'x', ttl: 10 }),
        remote.call('put', { sid: 'o', key: '/t4/p', value: 'x', ttl: 10 }),
        remote.call('delete', { sid: 'o', key: '/t4/live' }),
      ]);
      for (const [i, c] of calls.entries()) {
        if (c.ok || c.ms > deadline) t.fail(`call ${i} while etcd is down: ok=${c.ok} after ${c.ms} ms (${c.error})`);
      }
      if (attempts === 0) t.comment(`while down, e.g. list: ${calls[0]!.error} (${calls[0]!.ms} ms)`);
      attempts++;
      if (!last) await sleep(1_000);
    }
    t.ok(attempts >= 3, `${attempts} rounds of calls while down, each rejected within ${deadline} ms`);
    t.equal(remote.watchLines('w4').filter((x) => x.error).length, 1, 'the watch reported one error');
    t.equal(remote.watchLines('w4').length, 2, 'and nothing after it');

    await etcd.start();
    const healthy = Date.now();
    const first = await remote.call<List>('list', { sid: 'o', prefix: '/t4/' });
    let recovered = first.ok ? first.t : 0;
    while (!recovered && Date.now() - healthy < 20_000) {
      const r = await remote.call<List>('list', { sid: 'o', prefix: '/t4/' });
      if (r.ok) recovered = r.t;
      else await sleep(50);
    }
    t.comment(
      `recovery: first list() after etcd healthy ${first.ok ? 'succeeded' : `failed (${first.error})`}; ` +
        `${recovered - healthy} ms from healthy to a good list (call ${first.ms} ms)`,
    );
    t.ok(first.ok, `the first list() after etcd is healthy succeeds (${first.error ?? 'ok'})`);
    t.ok(
      recovered > 0 && recovered - healthy <= RECOVERY_BOUND_MS,
      `list() good within ${RECOVERY_BOUND_MS} ms of etcd healthy`,
    );

    const l2 = await ok<List>('list', { sid: 'o', prefix: '/t4/' });
    await ok('watch', { sid: 'o', wid: 'w4b', prefix: '/t4/', from: (BigInt(l2.revision) + 1n).toString() });
    await ok('put', { sid: 'o', key: '/t4/back', value: '1', ttl: 0 });
    await remote.waitWatch('w4b', (ls) => events(ls).includes('put /t4/back=1'), 10_000);
    t.pass('a new watch after the restart delivers');
    await ok('unwatch', { wid: 'w4b' });
    await ok('close', { sid: 'o' });
    const closed = await remote.call('list', { sid: 'o', prefix: '/t4/' });
    t.notOk(closed.ok, `closed store rejects: ${closed.error}`);
  });

  await t.test('20 clients create the same key at once: exactly one wins', async (t) => {
    const before = await leases(etcd);
    const results = await ok<boolean[]>('race', { url: etcd.url, callTimeoutMs: 10_000, n: 20, key: '/t5/k', ttl: 60 });
    t.equal(results.length, 20);
    t.equal(results.filter(Boolean).length, 1, 'one true');
    t.equal(await etcd.get('/t5/k'), `racer-${results.indexOf(true)}`, "the winner's value");
    const added = (await leases(etcd)).filter((id) => !before.includes(id));
    t.same(added, [await leaseOf(etcd, '/t5/k')], "only the winner's lease is left");
  });

  await t.test('TLS with client certificates', { skip: hasOpenssl() ? false : 'openssl not found' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vxtun-etcd-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const f = (n: string) => join(dir, n);
    const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=vxtun-test-ca',
    ]);
    const sign = (name: string, ext: string) => {
      writeFileSync(f(`${name}.ext`), ext);
      ssl(['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`]);
      ssl([
        'x509',
        '-req',
        '-in',
        f(`${name}.csr`),
        '-CA',
        f('ca.crt'),
        '-CAkey',
        f('ca.key'),
        '-CAcreateserial',
        '-out',
        f(`${name}.crt`),
        '-days',
        '1',
        '-extfile',
        f(`${name}.ext`),
      ]);
    };
    sign('server', `subjectAltName=IP:${ETCD_TLS_IP}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    sign('client', 'extendedKeyUsage=clientAuth\n');
    const ns = await lab.addHost('etcds', ETCD_TLS_IP);
    const secure = await startEtcd(lab, {
      ns,
      address: ETCD_TLS_IP,
      name: 'etcd-tls',
      tls: { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') },
    });
    t.teardown(() => secure.close());
    await secure.put('/tls/k', 'v');
    const tls = { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') };
    await ok('open', { sid: 'tls', url: secure.url, callTimeoutMs: CALL_TIMEOUT_MS, tls });
    const l = await ok<List>('list', { sid: 'tls', prefix: '/tls/' });
    t.same(l.kvs, [{ key: '/tls/k', value: 'v' }], 'list over TLS with a client certificate');

    await ok('open', { sid: 'nocert', url: secure.url, callTimeoutMs: CALL_TIMEOUT_MS, tls: { ca: tls.ca } });
    const r = await remote.call('list', { sid: 'nocert', prefix: '/tls/' });
    t.notOk(r.ok, `without the client certificate: rejected (${r.error})`);
    t.ok(r.ms <= CALL_TIMEOUT_MS + SLACK_MS, `within the deadline (${r.ms} ms)`);
    await ok('open', {
      sid: 'noca',
      url: secure.url,
      callTimeoutMs: CALL_TIMEOUT_MS,
      tls: { cert: tls.cert, key: tls.key },
    });
    const r2 = await remote.call('list', { sid: 'noca', prefix: '/tls/' });
    t.notOk(r2.ok, `without our CA (system roots): rejected (${r2.error})`);
    const r3 = await remote.call('open', { sid: 'bad', url: secure.url, tls: { ca: f('missing.crt') } });
    t.match(
      r3.error,
      /ConfigError: peers\.etcd\.tls\.ca: cannot read .*missing\.crt: ENOENT/,
      'unreadable CA: ConfigError',
    );
  });

  await t.test('etcd authentication: username and password', async (t) => {
    const ns = await lab.addHost('etcda', ETCD_AUTH_IP);
    const authed = await startEtcd(lab, { ns, address: ETCD_AUTH_IP, name: 'etcd-auth' });
    t.teardown(() => authed.close());
    await authed.ctl(['user', 'add', 'root', '--new-user-password=rootpw', '--interactive=false']);
    await authed.ctl(['user', 'add', 'vxtun', '--new-user-password=s3cret', '--interactive=false']);
    await authed.ctl(['role', 'add', 'overlay']);
    await authed.ctl(['role', 'grant-permission', 'overlay', '--prefix=true', 'readwrite', '/auth/']);
    await authed.ctl(['user', 'grant-role', 'vxtun', 'overlay']);
    await authed.ctl(['auth', 'enable']);
    const user = await authed.ctl(['--user', 'root:rootpw', 'put', '/auth/k', 'v']);
    t.equal(user, 'OK', 'root wrote a key after auth was enabled');
    const auth = { username: 'vxtun', password: 's3cret' };
    await ok('open', { sid: 'auth', url: authed.url, callTimeoutMs: CALL_TIMEOUT_MS, auth });
    const l = await ok<List>('list', { sid: 'auth', prefix: '/auth/' });
    t.same(l.kvs, [{ key: '/auth/k', value: 'v' }], 'list as user vxtun');
    t.ok(await ok<boolean>('create', { sid: 'auth', key: '/auth/lease', value: 'x', ttl: 60 }), 'create as vxtun');
    const outside = await remote.call('list', { sid: 'auth', prefix: '/other/' });
    t.notOk(outside.ok, `outside its role's prefix: refused (${outside.error})`);
    await ok('open', {
      sid: 'wrong',
      url: authed.url,
      callTimeoutMs: CALL_TIMEOUT_MS,
      auth: { ...auth, password: 'no' },
    });
    const wrong = await remote.call('list', { sid: 'wrong', prefix: '/auth/' });
    t.notOk(wrong.ok, `a wrong password: refused (${wrong.error})`);
    t.ok(wrong.ms <= CALL_TIMEOUT_MS + SLACK_MS, `within the deadline (${wrong.ms} ms)`);
    await ok('open', { sid: 'anon', url: authed.url, callTimeoutMs: CALL_TIMEOUT_MS });
    const anon = await remote.call('list', { sid: 'anon', prefix: '/auth/' });
    t.notOk(anon.ok, `no credentials: refused (${anon.error})`);
  });
});
