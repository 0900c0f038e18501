// deploy/: every manifest validates against the Kubernetes schemas (kubernetes-models), and carries what vxtun
// needs (host network, NET_ADMIN, /dev/net/tun, /run/flannel, NODE_NAME, all taints tolerated, least-privilege
// RBAC); the ConfigMap's config is a valid vxtun config; the Dockerfile copies what exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseConfigText } from '../../src/config/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const models: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

const docs: { file: string; obj: Obj }[] = [];
for (const file of readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()) {
  for (const d of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
    if (Array.isArray(d)) throw new Error(`${file}: not a YAML stream`);
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const obj = d.toJS() as Obj | null;
    if (obj) docs.push({ file, obj });
  }
}
const find = (kind: string): Obj => {
  const d = docs.find((x) => x.obj['kind'] === kind);
  if (!d) throw new Error(`no ${kind} in deploy/`);
  return d.obj;
};

t.test('every manifest validates against its schema', async (t) => {
  t.same(docs.map((d) => d.obj['kind']).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'DaemonSet',
    'ServiceAccount',
  ]);
  for (const { file, obj } of docs) {
    const Model = models[`${obj['apiVersion']}/${obj['kind']}`];
    t.ok(Model, `${file}: ${obj['apiVersion']} ${obj['kind']} is a known kind`);
    if (!Model) continue;
    t.doesNotThrow(() => new Model(obj).validate(), `${file}: ${obj['kind']} ${obj['metadata']?.name} is valid`);
  }
  // The check is real: a broken DaemonSet fails it.
  const broken = structuredClone(find('DaemonSet'));
  broken['spec']['template']['spec']['hostNetwork'] = 'yes';
  t.throws(() => new DaemonSet(broken).validate(), /hostNetwork must be boolean/);
});

t.test('DaemonSet: host network, NET_ADMIN, /dev/net/tun, /run/flannel, NODE_NAME, every taint', async (t) => {
  const ds = find('DaemonSet');
  const pod = ds['spec']['template']['spec'];
  const c = pod['containers'].find((x: Obj) => x['name'] === 'vxtun');
  t.equal(pod['hostNetwork'], true, 'hostNetwork');
  t.same(pod['tolerations'], [{ operator: 'Exists' }], 'tolerates every taint (no key, no effect)');
  t.equal(pod['serviceAccountName'], find('ServiceAccount')['metadata']['name']);
  t.equal(ds['metadata']['namespace'], find('ServiceAccount')['metadata']['namespace']);
  t.same(
    c['securityContext'],
    {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    'least privilege: NET_ADMIN only (test/integration/least-privilege.test.ts), no escalation, seccomp, read-only root',
  );
  for (const init of pod['initContainers']) {
    t.match(
      init['securityContext'],
      { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      `${init['name']}: no capabilities`,
    );
    t.notOk(init['securityContext']['capabilities']['add'], `${init['name']}: adds none`);
  }
  t.notOk(pod['securityContext']?.['privileged'], 'no privileged pod');
  t.notOk(pod['hostPID'] || pod['hostIPC'], 'no host PID or IPC namespace');
  t.same(c['env'].find((e: Obj) => e['name'] === 'NODE_NAME')?.['valueFrom'], {
    fieldRef: { fieldPath: 'spec.nodeName' },
  });
  const volume = (name: string) => pod['volumes'].find((v: Obj) => v['name'] === name);
  const mountOf = (path: string) => c['volumeMounts'].find((m: Obj) => m['mountPath'] === path);
  t.same(volume(mountOf('/dev/net/tun')?.['name'])?.['hostPath'], { path: '/dev/net/tun', type: 'CharDevice' });
  t.same(
    volume(mountOf('/run/flannel')?.['name'])?.['hostPath'],
    { path: '/run/flannel', type: 'DirectoryOrCreate' },
    'subnet.env on the host',
  );
  t.same(
    volume(mountOf('/run/vxtun')?.['name'])?.['hostPath'],
    { path: '/run/vxtun', type: 'DirectoryOrCreate' },
    'the admin socket directory on the host',
  );
  const writable = c['volumeMounts']
    .filter((m: Obj) => !m['readOnly'])
    .map((m: Obj) => m['mountPath'])
    .sort();
  t.same(
    writable,
    ['/dev/net/tun', '/run/flannel', '/run/vxtun', '/run/vxtun-pod'],
    'writes nowhere else (the root filesystem is read-only)',
  );
  t.same(
    volume(mountOf('/run/vxtun-pod')?.['name'])?.['emptyDir'],
    { medium: 'Memory', sizeLimit: '1Mi' },
    "the pod's own",
  );
  const configMount = c['volumeMounts'].find((m: Obj) => volume(m['name'])?.['configMap']);
  t.equal(volume(configMount['name'])['configMap']['name'], find('ConfigMap')['metadata']['name']);
  t.same(c['args'], ['run', '--config', `${configMount['mountPath']}/config.yaml`], 'runs the ConfigMap config');
  // Probes and admin.listen agree (the TCP listener serves /healthz, /readyz and /metrics only).
  const config = parseConfigText(find('ConfigMap')['data']['config.yaml'], 'config.yaml', {
    NODE_NAME: 'node-1',
    hostname: 'x',
  });
  const admin = { host: config.admin.listen!.host, port: config.admin.listen!.port };
  t.equal(config.admin.socket, '/run/vxtun/vxtun.sock', 'the admin socket lies in the /run/vxtun hostPath');
  // Upgrades: the new pod starts beside the old one and takes over (README "Upgrades and restarts").
  t.same(ds['spec']['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  t.equal(config.handover.socket, '/run/vxtun/handover.sock', 'the handover socket lies in the /run/vxtun hostPath');
  t.equal(config.handover.whenReplaced, 'wait', 'a replaced vxtun waits for its pod deletion (no kubelet restart)');
  // Readiness is this pod's own: its ready file, not the TCP port both pods share on the host network.
  t.ok(config.admin.readyFile?.startsWith('/run/vxtun-pod/'), 'admin.readyFile in the emptyDir');
  t.same(
    c['readinessProbe']['exec'],
    { command: ['test', '-e', config.admin.readyFile] },
    'readiness = the ready file',
  );
  t.same(c['livenessProbe']['httpGet'], { ...admin, path: '/healthz' }, 'liveness = /healthz at admin.listen');
  t.ok(
    c['livenessProbe']['failureThreshold'] * c['livenessProbe']['periodSeconds'] >= 30,
    'liveness is patient (≥ 30 s of failures before a restart)',
  );
  t.same(ds['spec']['selector']['matchLabels'], { app: 'vxtun' });
  t.match(ds['spec']['template']['metadata']['labels'], ds['spec']['selector']['matchLabels']);
});

t.test('RBAC: nodes get/list/watch, nodes/status patch, nothing more', async (t) => {
  t.same(find('ClusterRole')['rules'], [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  ]);
  const b = find('ClusterRoleBinding');
  t.same(b['roleRef'], {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: find('ClusterRole')['metadata']['name'],
  });
  const sa = find('ServiceAccount')['metadata'];
  t.same(b['subjects'], [{ kind: 'ServiceAccount', name: sa['name'], namespace: sa['namespace'] }]);
});

t.test('ConfigMap: a valid vxtun config in kubernetes mode, and a CNI config for the flannel plugin', async (t) => {
  const data = find('ConfigMap')['data'];
  const config = parseConfigText(data['config.yaml'], 'config.yaml', { NODE_NAME: 'node-1', hostname: 'x' });
  t.equal(config.nodeName, 'node-1', 'node name from $NODE_NAME');
  t.same(
    config.peers,
    { kind: 'kubernetes', kubernetes: { annotationPrefix: 'flannel.alpha.coreos.com' } },
    'in-cluster, flannel prefix',
  );
  t.equal(config.subnetFile, '/run/flannel/subnet.env');
  t.same(config.admin, {
    listen: { host: '127.0.0.1', port: 9465 },
    socket: '/run/vxtun/vxtun.sock',
    readyFile: '/run/vxtun-pod/forwarding',
  });
  t.equal(config.ipMasq, true, 'ipMasq on, as kube-flannel runs flanneld --ip-masq');
  const cni = JSON.parse(data['cni-conf.json']) as Obj;
  t.equal(cni['plugins'][0]['type'], 'flannel');
  t.notOk(
    'ipMasq' in cni['plugins'][0]['delegate'],
    "the delegate leaves ipMasq to subnet.env (the bridge's ipMasq = !FLANNEL_IPMASQ)",
  );
  const init = find('DaemonSet')['spec']['template']['spec']['initContainers'];
  t.ok(
    init.some((c: Obj) => c['args'].includes('/etc/vxtun/cni-conf.json')),
    'an init container installs it',
  );
  t.ok(
    init.some((c: Obj) => c['args'].includes('/opt/cni/bin/flannel')),
    'and the flannel CNI plugin binary',
  );
});

t.test('Dockerfile: copies what exists, runs dist/cli.js, ships the addon where loadNative looks', async (t) => {
  const text = readFileSync(join(dir, 'Dockerfile'), 'utf8');
  const copies = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
  t.ok(copies.length >= 5, `COPY sources: ${copies.join(' ')}`);
  for (const src of copies) t.ok(existsSync(join(root, src)), `${src} exists`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: { vxtun: string } };
  t.match(text, new RegExp(`ENTRYPOINT \\["node", "/opt/vxtun/${pkg.bin.vxtun}"\\]`), 'ENTRYPOINT = the package bin');
  t.match(
    text,
    /COPY --from=build \/src\/build\/Release\/vxtun\.node \.\/build\/Release\/vxtun\.node/,
    'addon next to dist/',
  );
  t.match(text, /CMD \["run", "--config", "\/etc\/vxtun\/config\.yaml"\]/);
});
