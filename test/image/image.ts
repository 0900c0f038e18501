// The container image, built and run as a node (README "Container image"). In a podman storage of its own
// (test/helpers/podman-sandbox.ts), `npm run image` builds localhost/vxtun:<version>; the image prints its version;
// then it runs as node-1 of a two-node lab, inside node-1's network namespace, with the DaemonSet's securityContext
// (deploy/daemonset.yaml), while node-2 runs vxtun the ordinary way. Pods ping and send sha256-checked data both
// ways through the container; `vxtun status` on the host reads the container's admin socket through the mounted
// /run/vxtun; `podman stop` (SIGTERM) leaves no device behind in node-1's namespace.
//
//   pod-1 ── node-1 [container: vxtun0] ══ UDP 8472 over the underlay ══ [vxtun0] node-2 ── pod-2
//
// Not part of `npm test` (not named *.test.ts): from a clean storage it takes more than 5 minutes on a 2-vCPU VM
// (debootstrap alone about 3), so it has its own script, `npm run test:image` (root; podman, runc, debootstrap).
// Without them it skips with the reason, unless VXTUN_REQUIRE_NETNS is set: then it fails.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cliPath, ipIn, Lab, labConfig, labPeer, ping, run, startVxtunNode, tcpTransfer } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import type { Status } from '../../src/admin/status.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { createPodmanSandbox } from '../helpers/podman-sandbox.js';

const MB = 1024 * 1024;
// podman and its runtime build and run the image; debootstrap makes the base where no base image can be pulled.
const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'podman', 'runc', 'debootstrap', 'unshare', 'chroot']);
const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const image = `localhost/vxtun:${version}`;
const repo = fileURLToPath(new URL('../..', import.meta.url));

t.test(
  'the image builds, runs as a lab node with the DaemonSet securityContext, and carries pod traffic',
  { skip },
  async (t) => {
    const sandbox = createPodmanSandbox();
    t.teardown(async () => {
      const problems = await sandbox.remove();
      if (problems.length) t.comment(`podman sandbox cleanup: ${problems.join('; ')}`);
    });

    await t.test("npm run image builds it in the caller's storage", async (t) => {
      // --podman: the image must land in this sandbox even where a Docker engine answers. --skip-build: `npm test`
      // has compiled dist/ (pretest) and the addon (npm ci) already; rebuilding them under a running test suite would
      // replace files the suite is using.
      // TMPDIR of its own, to see that the script leaves no temporary directory behind.
      const tmp = join(sandbox.dir, 'tmp');
      mkdirSync(tmp);
      const started = Date.now();
      const r = await run('npm', ['--prefix', repo, 'run', 'image', '--', '--podman', '--skip-build'], {
        env: { ...sandbox.env, TMPDIR: tmp },
        timeoutMs: 15 * 60_000,
      });
      t.comment(
        r.stdout
          .split('\n')
          .filter((l) => l.startsWith('image:'))
          .join('\n'),
      );
      t.comment(`npm run image took ${((Date.now() - started) / 1000).toFixed(0)} s`);
      t.match(r.stdout, /image: path: podman\+/, 'took a podman path');
      t.match(r.stdout, new RegExp(`image: built ${image.replace(/[.]/g, '\\.')} `), 'says what it built');
      const images = await sandbox.podman(['images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}']);
      t.comment(images.stdout.trim());
      t.match(
        images.stdout,
        new RegExp(`^${image.replace(/[.]/g, '\\.')} `, 'm'),
        'the image is in the sandbox storage',
      );
      const left = await sandbox.podman(['ps', '--all', '--external', '--quiet']);
      t.equal(left.stdout.trim(), '', 'no working container left behind by the build');
      t.same(
        readdirSync(tmp).filter((f) => f.startsWith('vxtun-image.')),
        [],
        'no temporary directory left behind by the build',
      );
    });

    await t.test('podman run --rm IMAGE version prints the package version', async (t) => {
      const r = await sandbox.podman(['run', '--rm', image, 'version']);
      t.equal(r.stdout.trim(), version);
    });

    await t.test('runs as node-1 with only NET_ADMIN, read-only, and forwards both ways', async (t) => {
      const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
      t.teardown(() => lab.destroy());
      const peers = [labPeer(lab, 1), labPeer(lab, 2)];
      const n2 = await startVxtunNode(lab, 2, { peers });
      t.teardown(() => n2.stop());

      // The DaemonSet's hostPaths, here directories of the sandbox; the config as startVxtunNode would write it, with
      // the default admin socket (/run/vxtun/vxtun.sock) and subnet.env where the cluster mode puts it by default
      // (static peers write none unless asked).
      const runVxtun = join(sandbox.dir, 'run-vxtun');
      const runFlannel = join(sandbox.dir, 'run-flannel');
      mkdirSync(runVxtun);
      mkdirSync(runFlannel);
      const config = join(sandbox.dir, 'config.yaml');
      writeFileSync(
        config,
        JSON.stringify(labConfig(lab, 1, { peers, extra: { subnetFile: '/run/flannel/subnet.env' } }), null, 2),
      );
      const id = await sandbox.runDetached([
        '--network',
        `ns:/run/netns/${lab.nodeNs(1)}`, // hostNetwork: true (the node's own namespace)
        '--cap-drop',
        'ALL',
        '--cap-add',
        'NET_ADMIN', // capabilities: {drop: [ALL], add: [NET_ADMIN]}
        '--device',
        '/dev/net/tun', // the dev-net-tun hostPath (CharDevice)
        '--read-only',
        '--read-only-tmpfs=false', // readOnlyRootFilesystem: true (no writable /run, /tmp either)
        '--security-opt',
        'no-new-privileges', // allowPrivilegeEscalation: false
        // privileged: false and seccompProfile: RuntimeDefault are podman's defaults (not --privileged, its seccomp profile)
        '-v',
        `${config}:/etc/vxtun/config.yaml:ro`, // the config ConfigMap, readOnly
        '-v',
        `${runVxtun}:/run/vxtun`, // the run-vxtun hostPath (admin socket)
        '-v',
        `${runFlannel}:/run/flannel`, // the run-flannel hostPath (subnet.env)
        image, // CMD: run --config /etc/vxtun/config.yaml, as the DaemonSet's args
      ]);
      t.teardown(() => sandbox.podman(['rm', '-f', '-t', '2', id]).catch(() => undefined));

      const logs = await waitForReady(sandbox, id, 60_000);
      t.match(logs, / info ready /, 'the container reports ready');
      t.notMatch(
        logs,
        /EPERM|EACCES|permission denied|operation not permitted|read-only file system/i,
        'no permission error logged',
      );
      // What the kernel says about the container's vxtun process (its PID 1, seen from the host).
      const pid = (await sandbox.podman(['inspect', '--format', '{{.State.Pid}}', id])).stdout.trim();
      const proc = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(proc)?.[1];
      const netAdmin = (1n << 12n).toString(16).padStart(16, '0');
      t.same(
        {
          CapEff: field('CapEff'),
          CapPrm: field('CapPrm'),
          CapBnd: field('CapBnd'),
          NoNewPrivs: field('NoNewPrivs'),
          Seccomp: field('Seccomp'),
        },
        { CapEff: netAdmin, CapPrm: netAdmin, CapBnd: netAdmin, NoNewPrivs: '1', Seccomp: '2' },
        'vxtun holds CAP_NET_ADMIN only, no_new_privs, under a seccomp filter (the runtime default profile)',
      );
      for (const l of logs.split('\n').filter((l) => / (warn|error) /.test(l))) t.comment(`container: ${l}`);
      t.match(
        readFileSync(join(runFlannel, 'subnet.env'), 'utf8'),
        /^FLANNEL_NETWORK=/m,
        'subnet.env written to the mounted /run/flannel',
      );
      const socket = join(runVxtun, 'vxtun.sock');
      t.ok(existsSync(socket), 'the admin socket is in the mounted /run/vxtun');

      for (const [a, b] of [
        [1, 2],
        [2, 1],
      ] as const) {
        for (const fam of [4, 6] as const) {
          const r = await ping(lab, lab.podNs(a), lab.podIP(b, fam), { count: 3 });
          t.equal(r.received, 3, `ping pod-${a} → pod-${b} ${lab.podIP(b, fam)}: ${r.received}/${r.sent}`);
        }
      }
      for (const [a, b] of [
        [1, 2],
        [2, 1],
      ] as const) {
        const r = await tcpTransfer(lab.podNs(b), lab.podIP(b), lab.podNs(a), { bytes: 10 * MB });
        t.equal(r.bytes, 10 * MB, `pod-${a} → pod-${b}: all bytes arrived`);
        t.equal(
          r.sha256Received,
          r.sha256Sent,
          `pod-${a} → pod-${b}: sha256 matches (${r.mbitPerSecond.toFixed(0)} Mbit/s)`,
        );
      }

      // From the host, through the socket in the mounted directory: the host's own vxtun CLI talks to the container.
      const st = JSON.parse(
        (await run(process.execPath, [cliPath(), 'status', '--json', '--socket', socket])).stdout,
      ) as Status;
      t.equal(st.node, 'node-1', 'status comes from the container (node-1)');
      t.equal(st.version, version, 'the container runs this version');
      t.same(
        st.peers.map((p) => p.name),
        ['node-2'],
        'it has node-2 as its peer',
      );
      t.ok(
        st.counters.txBytes > 10 * MB && st.counters.rxBytes > 10 * MB,
        `counters moved (tx ${st.counters.txBytes} B, rx ${st.counters.rxBytes} B)`,
      );
      const device = st.device;
      t.ok(
        (await ipIn(lab.nodeNs(1), ['link', 'show', 'dev', device], { okExitCodes: [0, 1] })).code === 0,
        `${device} exists in node-1's namespace while the container runs`,
      );

      await sandbox.podman(['stop', '-t', '10', id]); // SIGTERM, as the kubelet stops a pod
      const state = await sandbox.podman(['inspect', '--format', '{{.State.ExitCode}} {{.State.Status}}', id]);
      t.equal(state.stdout.trim(), '0 exited', 'vxtun exits 0 on SIGTERM');
      const gone = await ipIn(lab.nodeNs(1), ['link', 'show', 'dev', device], { okExitCodes: [0, 1] });
      t.equal(gone.code, 1, `${device} is gone from node-1's namespace after podman stop`);
    });
  },
);

/** Polls the container's log until vxtun says ready; rejects with the log when it exits or the time is up. */
async function waitForReady(
  sandbox: ReturnType<typeof createPodmanSandbox>,
  id: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = await sandbox.podman(['logs', id]);
    const text = logs.stdout + logs.stderr;
    if (/ info ready /.test(text)) return text;
    const running = (await sandbox.podman(['inspect', '--format', '{{.State.Running}}', id])).stdout.trim();
    if (running !== 'true') throw new Error(`the container exited before it was ready:\n${text}`);
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms:\n${text}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
