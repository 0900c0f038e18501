// subnet.env in flannel's exact format, written atomically; and loading the Kubernetes client configuration.
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../src/errors.js';
import { Cidr } from '../../src/net/cidr.js';
import { loadKubeConfig } from '../../src/peers/kube-config.js';
import { formatSubnetEnv, writeFileAtomic } from '../../src/device/subnet-file.js';
import { writeKubeconfig } from '../helpers/kube-nodes.js';

const net = Cidr.parse('10.244.0.0/16');
const net6 = Cidr.parse('fd10:244::/56');

t.test('format: IPv4', async (t) => {
  t.equal(
    formatSubnetEnv({ network: net, podCIDRs: [Cidr.parse('10.244.1.0/24')], mtu: 1450, ipMasq: false }),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
  );
});

t.test("format: dual-stack, flannel's order", async (t) => {
  t.equal(
    formatSubnetEnv({
      network: net,
      ipv6Network: net6,
      podCIDRs: [Cidr.parse('10.244.1.0/24'), Cidr.parse('fd10:244:0:1::/64')],
      mtu: 1430,
      ipMasq: true,
    }),
    [
      'FLANNEL_NETWORK=10.244.0.0/16',
      'FLANNEL_SUBNET=10.244.1.1/24',
      'FLANNEL_IPV6_NETWORK=fd10:244::/56',
      'FLANNEL_IPV6_SUBNET=fd10:244:0:1::1/64',
      'FLANNEL_MTU=1430',
      'FLANNEL_IPMASQ=true',
      '',
    ].join('\n'),
  );
  t.notMatch(
    formatSubnetEnv({
      network: net,
      podCIDRs: [Cidr.parse('10.244.1.0/24'), Cidr.parse('fd10:244:0:1::/64')],
      mtu: 1450,
      ipMasq: false,
    }),
    /IPV6/,
    'no IPv6 lines without ipv6Network',
  );
});

t.test('atomic write: replaces by rename, leaves no temporary file, creates the directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-subnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'run', 'flannel', 'subnet.env');
  await writeFileAtomic(path, 'A=1\n');
  const ino = statSync(path).ino;
  await writeFileAtomic(path, 'A=2\n');
  t.equal(readFileSync(path, 'utf8'), 'A=2\n');
  t.not(statSync(path).ino, ino, 'a new file took the name (rename), the old one was not rewritten in place');
  t.equal(statSync(path).mode & 0o777, 0o644);
  t.same(readdirSync(join(dir, 'run', 'flannel')), ['subnet.env'], 'no temporary file left');
  await t.rejects(writeFileAtomic(join(path, 'below-a-file'), 'x'), /ENOTDIR|EEXIST/, 'errors are reported');
});

t.test('atomic write: a symlink planted at a temporary name is never followed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-subnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n', { mode: 0o600 });
  const flannel = join(dir, 'flannel');
  mkdirSync(flannel);
  const path = join(flannel, 'subnet.env');
  // The name the old code used (".subnet.env.PID.tmp"), and the names the random generator is made to pick first.
  const planted = [`.subnet.env.${process.pid}.tmp`, '.subnet.env.guess1.tmp', '.subnet.env.guess2.tmp'];
  for (const name of planted) symlinkSync(victim, join(flannel, name));
  const guesses = ['guess1', 'guess2', 'fresh'];
  let picked = 0;
  await writeFileAtomic(path, 'A=1\n', { randomSuffix: () => guesses[Math.min(picked++, guesses.length - 1)]! });
  t.equal(readFileSync(victim, 'utf8'), 'precious\n', "the symlinks' target is untouched");
  t.equal(statSync(victim).mode & 0o777, 0o600, 'and keeps its mode');
  t.ok(lstatSync(path).isFile(), 'subnet.env is a regular file, not a symlink');
  t.equal(readFileSync(path, 'utf8'), 'A=1\n');
  t.equal(statSync(path).mode & 0o777, 0o644);
  for (const name of planted) t.ok(lstatSync(join(flannel, name)).isSymbolicLink(), `${name} left as it was`);
  t.same(readdirSync(flannel).sort(), [...planted, 'subnet.env'].sort(), 'no temporary file left');

  // With the default (random) names: the planted predictable name is not used at all.
  await writeFileAtomic(path, 'A=2\n');
  t.equal(readFileSync(victim, 'utf8'), 'precious\n');
  t.equal(readFileSync(path, 'utf8'), 'A=2\n');
  t.ok(lstatSync(path).isFile());

  // A symlink planted at the target itself is replaced (rename), not written through.
  rmSync(path);
  symlinkSync(victim, path);
  await writeFileAtomic(path, 'A=3\n');
  t.equal(readFileSync(victim, 'utf8'), 'precious\n', 'a symlink at the target is not followed');
  t.ok(lstatSync(path).isFile());
  t.equal(readFileSync(path, 'utf8'), 'A=3\n');

  // A generator that only ever names planted symlinks: a clear error after a bounded number of tries, nothing followed.
  await t.rejects(writeFileAtomic(path, 'A=4\n', { randomSuffix: () => 'guess1' }), /EEXIST/);
  t.equal(readFileSync(victim, 'utf8'), 'precious\n');
  t.equal(readFileSync(path, 'utf8'), 'A=3\n', 'the old file is kept on failure');
});

t.test('kubeconfig loading', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = writeKubeconfig(dir, 'http://127.0.0.1:1');
  const kc = loadKubeConfig(path);
  t.equal(kc.getCurrentCluster()?.server, 'http://127.0.0.1:1');
  t.equal(kc.getCurrentUser()?.token, 'test-token');
  t.throws(() => loadKubeConfig(join(dir, 'absent')), ConfigError);
  t.throws(() => loadKubeConfig(join(dir, 'absent')), /^peers\.kubernetes\.kubeconfig: cannot load/);
  const insecure = join(dir, 'plain-http');
  writeFileSync(
    insecure,
    JSON.stringify({
      clusters: [{ name: 'c', cluster: { server: 'http://127.0.0.1:1' } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  t.throws(() => loadKubeConfig(insecure), /insecure-skip-tls-verify/);
  t.throws(() => loadKubeConfig(undefined, {}), /^peers\.kubernetes: not running in a pod/);
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  t.throws(() => loadKubeConfig(undefined, env, dir), /no service account token/);
  const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'sa-token');
  writeFileSync(join(sa, 'ca.crt'), '');
  const inCluster = loadKubeConfig(undefined, env, dir);
  t.equal(inCluster.getCurrentCluster()?.server, 'https://10.96.0.1:443', 'in-cluster: the service host and port');
});

t.test('subnetsOfSubnetEnv / previousSubnets: our last run’s subnets, malformed lines ignored', async (t) => {
  const { subnetsOfSubnetEnv, previousSubnets } = await import('../../src/device/subnet-file.js');
  const text = formatSubnetEnv({
    network: Cidr.parse('10.244.0.0/16'),
    ipv6Network: Cidr.parse('fd10:244::/56'),
    podCIDRs: [Cidr.parse('10.244.7.0/24'), Cidr.parse('fd10:244:0:7::/64')],
    mtu: 1450,
    ipMasq: true,
  });
  const got = subnetsOfSubnetEnv(text);
  t.equal(got.v4?.toString(), '10.244.7.0/24', 'FLANNEL_SUBNET is the first usable IP: its subnet');
  t.equal(got.v6?.toString(), 'fd10:244:0:7::/64');
  t.same(subnetsOfSubnetEnv('FLANNEL_SUBNET=10.244.300.1/24\nFLANNEL_IPV6_SUBNET=10.1.1.1/24\nX=1\n'), {});
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-prev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(await previousSubnets(join(dir, 'none.env')), undefined, 'no file: nothing');
  t.equal(await previousSubnets(null), undefined, 'subnetFile off: nothing');
  writeFileSync(join(dir, 's.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\n');
  t.equal((await previousSubnets(join(dir, 's.env')))?.v4?.toString(), '10.244.9.0/24');
  writeFileSync(join(dir, 'm.env'), 'FLANNEL_MTU=1450\n');
  t.equal(await previousSubnets(join(dir, 'm.env')), undefined, 'a file naming no subnet: nothing');
});
