// The fake API server's PATCH, as the real one answers vxtun's ServiceAccount (deploy/rbac.yaml): nodes/status with
// merge, strategic-merge and JSON patches (metadata and status kept, spec ignored, resourceVersion bumped, a watch
// event), 415 for other content types, 403 for the main resource.
import t from 'tap';
import { FakeApiServer, type Json } from '../helpers/fake-apiserver.js';
import { makeNode } from '../helpers/kube-nodes.js';

async function patch(
  api: FakeApiServer,
  path: string,
  type: string,
  body: unknown,
): Promise<{ code: number; json: Json }> {
  const res = await fetch(`${api.url}${path}`, {
    method: 'PATCH',
    headers: { 'content-type': type, authorization: 'Bearer test-token' },
    body: JSON.stringify(body),
  });
  return { code: res.status, json: (await res.json()) as Json };
}

t.test(
  'PATCH nodes/NAME/status: metadata and status kept, spec ignored, resourceVersion bumped, watch event',
  async (t) => {
    const api = await FakeApiServer.start({ token: 'test-token' });
    t.teardown(() => api.close());
    api.upsertNode(makeNode({ name: 'n1', podCIDRs: ['10.244.1.0/24'], internalIP: '192.168.99.1', ready: true }));
    const rv0 = Number((api.getNode('n1')!['metadata'] as Json)['resourceVersion']);
    const ac = new AbortController();
    const watch = await fetch(`${api.url}/api/v1/nodes?watch=true&resourceVersion=${rv0}`, {
      headers: { authorization: 'Bearer test-token' },
      signal: ac.signal,
    });
    const reader = watch.body!.getReader();
    t.teardown(() => ac.abort());

    const merge = await patch(api, '/api/v1/nodes/n1/status', 'application/merge-patch+json', {
      metadata: { annotations: { 'x/a': '1' } },
      spec: { podCIDR: '10.99.0.0/24', unschedulable: true },
      status: { capacity: { pods: '7' } },
    });
    t.equal(merge.code, 200);
    const n = api.getNode('n1')!;
    t.equal(((n['metadata'] as Json)['annotations'] as Json)['x/a'], '1', 'annotation kept');
    t.same(n['spec'], { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] }, 'spec change ignored');
    t.same((n['status'] as Json)['capacity'], { pods: '7' }, 'status change kept');
    const rv1 = Number((n['metadata'] as Json)['resourceVersion']);
    t.ok(rv1 > rv0, 'resourceVersion bumped');
    const chunk = new TextDecoder().decode((await reader.read()).value);
    t.match(
      JSON.parse(chunk.split('\n')[0]!),
      { type: 'MODIFIED', object: { metadata: { name: 'n1', resourceVersion: String(rv1) } } },
      'watch event',
    );

    const smp = await patch(api, '/api/v1/nodes/n1/status', 'application/strategic-merge-patch+json', {
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'False' }] },
    });
    t.equal(smp.code, 200);
    const conds = ((api.getNode('n1')!['status'] as Json)['conditions'] as Json[]).map((c) => c['type']);
    t.same(conds, ['Ready', 'NetworkUnavailable'], 'strategic merge: conditions merged by type');

    const jp = await patch(api, '/api/v1/nodes/n1/status', 'application/json-patch+json', [
      { op: 'add', path: '/metadata/annotations/x~1b', value: '2' },
      { op: 'replace', path: '/spec/podCIDR', value: '10.98.0.0/24' },
    ]);
    t.equal(jp.code, 200, 'JSON patch accepted');
    t.equal(((api.getNode('n1')!['metadata'] as Json)['annotations'] as Json)['x/b'], '2');
    t.equal((api.getNode('n1')!['spec'] as Json)['podCIDR'], '10.244.1.0/24', 'spec still ignored');
    t.equal(
      (await patch(api, '/api/v1/nodes/n1/status', 'application/json-patch+json', [{ op: 'remove', path: '/nope' }]))
        .code,
      422,
    );

    const other = await patch(api, '/api/v1/nodes/n1/status', 'application/json', { metadata: {} });
    t.equal(other.code, 415, 'other content types: 415');
    t.match(other.json, { kind: 'Status', reason: 'UnsupportedMediaType' });
  },
);

t.test('PATCH nodes/NAME: 403 (the ClusterRole grants nodes/status patch only), unless allowed', async (t) => {
  const api = await FakeApiServer.start({ token: 'test-token' });
  t.teardown(() => api.close());
  api.upsertNode(makeNode({ name: 'n1', podCIDRs: ['10.244.1.0/24'] }));
  const r = await patch(api, '/api/v1/nodes/n1', 'application/merge-patch+json', {
    metadata: { annotations: { 'x/a': '1' } },
  });
  t.equal(r.code, 403);
  t.match(r.json, { reason: 'Forbidden', message: /cannot patch resource "nodes"/ });
  t.notOk(((api.getNode('n1')!['metadata'] as Json)['annotations'] as Json)['x/a'], 'nothing changed');
  const open = await FakeApiServer.start({ token: 'test-token', allowNodePatch: true });
  t.teardown(() => open.close());
  open.upsertNode(makeNode({ name: 'n1', podCIDRs: ['10.244.1.0/24'] }));
  const ok = await patch(open, '/api/v1/nodes/n1', 'application/merge-patch+json', {
    metadata: { annotations: { 'x/a': '1' } },
    status: { capacity: { pods: '1' } },
  });
  t.equal(ok.code, 200);
  t.equal((open.getNode('n1')!['status'] as Json)['capacity'], undefined, 'the main resource ignores status');
});
