// The two ways to make the node image agree (README "Container image"): deploy/Dockerfile (Docker, or podman with a
// pulled base) and deploy/Containerfile over the debootstrapped base of deploy/build-image.sh put the same files at
// the same places, start the same way, and carry the same Debian packages. Plus the script's argument handling and
// the podman sandbox's pure parts (test/helpers/podman-sandbox.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { containersConf, mountsUnder, storageConf } from '../helpers/podman-sandbox.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const dockerfile = read('deploy/Dockerfile');
const containerfile = read('deploy/Containerfile');
const script = read('deploy/build-image.sh');

/** The instructions of a file's last stage (the image that ships), continuation lines joined. */
function lastStage(text: string): string[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const from =
    lines
      .map((l, i) => (/^FROM /i.test(l) ? i : -1))
      .filter((i) => i >= 0)
      .pop() ?? 0;
  return lines.slice(from + 1);
}

/** Destinations of the last stage's COPY lines, resolved against its WORKDIR. */
function copyTargets(text: string): string[] {
  let workdir = '/';
  const out: string[] = [];
  for (const l of lastStage(text)) {
    const w = /^WORKDIR (\S+)/.exec(l);
    if (w) workdir = w[1]!;
    const c = /^COPY (?:--from=\S+ )?(.+)$/.exec(l);
    if (c) {
      const words = c[1]!.trim().split(/\s+/);
      const dest = words.pop()!;
      const at = dest.startsWith('/') ? dest : join(workdir, dest);
      // `COPY a b/`: into the directory b, under a's own name.
      for (const src of words) out.push(dest.endsWith('/') ? join(at, basename(src)) : at);
    }
  }
  return out.sort();
}

t.test('Dockerfile and Containerfile lay the app out the same way', async (t) => {
  t.same(copyTargets(containerfile), copyTargets(dockerfile), 'same COPY destinations');
  t.same(copyTargets(dockerfile), [
    '/opt/vxtun/build/Release/vxtun.node',
    '/opt/vxtun/dist',
    '/opt/vxtun/node_modules',
    '/opt/vxtun/package.json',
  ]);
  const startup = (text: string) => lastStage(text).filter((l) => /^(ENTRYPOINT|CMD) /.test(l));
  t.same(startup(containerfile), startup(dockerfile), 'same ENTRYPOINT and CMD');
  t.same(startup(dockerfile), [
    'ENTRYPOINT ["node", "/opt/vxtun/dist/cli.js"]',
    'CMD ["run", "--config", "/etc/vxtun/config.yaml"]',
  ]);
  t.notMatch(lastStage(containerfile).join('\n'), /^RUN /m, 'the Containerfile runs nothing at build time');
});

t.test('the debootstrapped base carries the packages the Dockerfile installs', async (t) => {
  const apt = /apt-get install -y --no-install-recommends ([^&]+)/.exec(lastStage(dockerfile).join('\n'));
  const include = /--include=(\S+)/.exec(script);
  t.ok(apt && include, 'both lists found');
  const installed = apt![1]!.trim().split(/\s+/).sort();
  t.same(installed, ['iproute2', 'iptables', 'nftables'], 'ip, nft and the iptables fallback');
  const debootstrapped = include![1]!.split(',');
  for (const p of installed) t.ok(debootstrapped.includes(p), `${p} in debootstrap --include`);
  t.ok(debootstrapped.includes('ca-certificates'), 'ca-certificates (the node image has them too)');
});

t.test(
  'build-image.sh: bash syntax, unknown arguments are refused with exit 2, --help says what it does',
  async (t) => {
    execFileSync('bash', ['-n', join(root, 'deploy/build-image.sh')]);
    const bad = spawnSync('bash', [join(root, 'deploy/build-image.sh'), '--bogus'], { encoding: 'utf8' });
    t.equal(bad.status, 2);
    t.match(bad.stderr, /unknown argument: --bogus/);
    const help = spawnSync('bash', [join(root, 'deploy/build-image.sh'), '--help'], { encoding: 'utf8' });
    t.equal(help.status, 0);
    t.match(help.stdout, /--skip-build/);
    t.match(help.stdout, /--podman/);
    t.match(help.stdout, /CONTAINERS_STORAGE_CONF/);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    t.equal(pkg.scripts['image'], 'bash deploy/build-image.sh', 'npm run image runs it');
  },
);

t.test('podman sandbox: configs point into its directory; mounts below it are found, deepest first', async (t) => {
  const s = storageConf('/tmp/x');
  t.match(s, /driver = "vfs"/);
  t.match(s, /graphroot = "\/tmp\/x\/storage"/);
  t.match(s, /runroot = "\/tmp\/x\/run"/);
  const c = containersConf('/tmp/x');
  t.match(c, /runtime = "runc"/);
  t.match(c, /default_ulimits = \["nofile=/);
  for (const m of c.matchAll(/^\w+ = "(\/[^"]*)"$/gm))
    t.ok(m[1]!.startsWith('/tmp/x/'), `${m[0]} is inside the sandbox`);
  const info = [
    '22 1 8:1 / / rw - ext4 /dev/vda rw',
    '23 22 0:5 / /tmp/x/storage/vfs/dir rw - tmpfs tmpfs rw',
    '24 23 0:6 / /tmp/x/storage/vfs/dir/a\\040b/shm rw - tmpfs shm rw',
    '25 22 0:7 / /tmp/xy rw - tmpfs tmpfs rw',
    '26 22 0:8 / /tmp/x rw - tmpfs tmpfs rw',
    '',
  ].join('\n');
  t.same(
    mountsUnder(info, '/tmp/x'),
    ['/tmp/x/storage/vfs/dir/a b/shm', '/tmp/x/storage/vfs/dir'],
    'not /tmp/x itself, not /tmp/xy',
  );
});
