// Subnet acquisition in etcd mode against a real etcd (issue 19: "a new node acquires a free subnet; two nodes
// started at the same moment never get the same subnet, ≥ 50 times").
//
// Why two ways: a pair of real daemons costs a few seconds per round on this 2-vCPU machine (two node starts, the
// dataplane, a stop), so 50 rounds would take minutes, and the start-up jitter of two whole daemons (hundreds of ms)
// means their acquisitions rarely overlap at all. The race itself is in the source's local(): so 50 rounds run the
// real source (src/peers/etcd.ts etcdPeerSource over src/peers/etcd3-store.ts, local() only) in two processes inside
// a lab namespace, started each round at the same ms against a prefix whose config leaves exactly 2 free subnets
// (SubnetMin..SubnetMax): each picks at random, so about half the rounds are a lost create-if-absent race that must
// end on the other subnet. Then 3 rounds with real daemons started together, with no subnet.env, and a third
// subnet already leased: each must take a free one, in range, not the other's, and write it to its subnet.env.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  flannelLeaseValue,
  Lab,
  putAllTxn,
  startVxtunNode,
  subnetOfLeaseKey,
  type NsProcess,
} from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'etcd', 'etcdctl']);
const FIXTURE = fileURLToPath(new URL('../helpers/fixtures/etcd-acquire-main.ts', import.meta.url));
const ROUNDS = 50;
const PERIOD_MS = 400;
const DAEMON_ROUNDS = 3;
/** Exactly two subnets to take: 10.244.1.0/24 and 10.244.2.0/24. */
const RACE_CONFIG =
  '{"Network":"10.244.0.0/16","SubnetLen":24,"SubnetMin":"10.244.1.0","SubnetMax":"10.244.2.0","Backend":{"Type":"vxlan"}}';
/** Three, of which the test leases 10.244.3.0/24 first. */
const DAEMON_CONFIG =
  '{"Network":"10.244.0.0/16","SubnetLen":24,"SubnetMin":"10.244.1.0","SubnetMax":"10.244.3.0","Backend":{"Type":"vxlan"}}';
const PLAIN_NODE = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath];

interface RoundResult {
  round: number;
  began: number;
  ms?: number;
  podCIDRs?: string[];
  error?: string;
}

const results = (p: NsProcess): RoundResult[] =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{"round"'))
    .map((l) => JSON.parse(l) as RoundResult);

t.test('subnet acquisition against a real etcd', { skip, timeout: 280_000 }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const etcdNs = await lab.addHost('etcd', '192.168.99.200');
  const etcd = await startEtcd(lab, { ns: etcdNs, address: '192.168.99.200' });

  await t.test(`${ROUNDS} rounds of two sources started at the same moment, 2 free subnets`, async (t) => {
    const base = '/vxtun-race';
    await etcd.ctl(['txn'], putAllTxn(Array.from({ length: ROUNDS }, (_, r) => [`${base}/r${r}/config`, RACE_CONFIG])));
    const contenders = ['192.168.99.1', '192.168.99.2'].map((ip, k) =>
      lab.spawn(
        lab.nodeNs(1),
        '/usr/bin/env',
        [
          ...PLAIN_NODE,
          '--import=@tapjs/typescript/import',
          FIXTURE,
          ...['--endpoint', etcd.url, '--base', base, '--rounds', String(ROUNDS), '--period', String(PERIOD_MS)],
          ...['--public-ip', ip, '--name', `contender-${k + 1}`],
        ],
        { stdin: 'pipe' },
      ),
    );
    await Promise.all(contenders.map((p) => p.waitForOutput(/"event":"ready"/, 60_000)));
    const t0 = String(Date.now() + 300);
    for (const p of contenders) p.child.stdin?.write(`${t0}\n`);
    await Promise.all(contenders.map((p) => p.waitForOutput(/"event":"done"/, ROUNDS * PERIOD_MS + 60_000)));
    await Promise.all(contenders.map((p) => p.stop('SIGTERM', 5_000)));
    const [a, b] = contenders.map(results) as [RoundResult[], RoundResult[]];
    const leases = await etcd.list(`${base}/`);

    let distinct = 0;
    let overlapping = 0;
    const problems: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const x = a.find((z) => z.round === r);
      const y = b.find((z) => z.round === r);
      const sx = x?.podCIDRs?.[0];
      const sy = y?.podCIDRs?.[0];
      const inRange = (s: string | undefined) => s === '10.244.1.0/24' || s === '10.244.2.0/24';
      if (!x || !y || !sx || !sy || !inRange(sx) || !inRange(sy) || sx === sy) {
        problems.push(`round ${r}: ${JSON.stringify(x)} / ${JSON.stringify(y)}`);
        continue;
      }
      distinct++;
      // Both acquisitions were under way at once (the one that matters: one of them had to lose a create).
      if (x.began < y.began + (y.ms ?? 0) && y.began < x.began + (x.ms ?? 0)) overlapping++;
      // Each process's lease is in etcd under the subnet it reported, with its own PublicIP.
      const inEtcd = [...leases]
        .filter(([k]) => k.startsWith(`${base}/r${r}/subnets/`))
        .map(([k, v]) => [subnetOfLeaseKey(`${base}/r${r}`, k), (JSON.parse(v) as { PublicIP: string }).PublicIP])
        .sort();
      const want = [
        [sx, '192.168.99.1'],
        [sy, '192.168.99.2'],
      ].sort();
      if (JSON.stringify(inEtcd) !== JSON.stringify(want))
        problems.push(`round ${r}: etcd has ${JSON.stringify(inEtcd)}`);
    }
    const ms = [...a, ...b].map((z) => z.ms ?? NaN).sort((p, q) => p - q);
    t.same(problems, [], 'no round gave both the same subnet, an error, or a subnet out of range');
    t.equal(distinct, ROUNDS, `${distinct}/${ROUNDS} rounds: two different subnets, each leased in etcd by its taker`);
    // Only rounds whose acquisitions overlapped could race; with 2 subnets about half of those are a lost create.
    // A loaded machine can wake the two late by different amounts: ask for 10, print how many.
    t.ok(
      overlapping >= 10,
      `the two acquisitions overlapped in time in ${overlapping}/${ROUNDS} rounds (local() p50 ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms)`,
    );
  });

  await t.test(`${DAEMON_ROUNDS} rounds of two real daemons started together, no subnet.env`, async (t) => {
    for (let r = 0; r < DAEMON_ROUNDS; r++) {
      const prefix = `/vxtun-race-d/r${r}`;
      await etcd.put(`${prefix}/config`, DAEMON_CONFIG);
      const taken = flannelLeaseValue({ publicIP: '192.168.99.99', vni: 1, vtepMAC: '0e:00:00:00:63:01' });
      await etcd.put(`${prefix}/subnets/10.244.3.0-24`, taken);
      for (const i of [1, 2]) rmSync(lab.subnetEnvPath(i), { force: true });
      const nodes = await Promise.all(
        [1, 2].map((i) => startVxtunNode(lab, i, { etcd: { endpoints: [etcd.url], prefix } })),
      );
      const got = await Promise.all(nodes.map(async (n) => (await n.status()).podCIDRs));
      const s1 = got[0]?.[0];
      const s2 = got[1]?.[0];
      t.ok(s1 !== s2, `round ${r}: node 1 took ${s1}, node 2 took ${s2}`);
      for (const [k, s] of [s1, s2].entries()) {
        t.ok(s === '10.244.1.0/24' || s === '10.244.2.0/24', `round ${r} node ${k + 1}: ${s} is free and in range`);
        const env = readFileSync(lab.subnetEnvPath(k + 1), 'utf8');
        t.match(env, `FLANNEL_SUBNET=${s?.replace('.0/', '.1/')}`, `round ${r} node ${k + 1}: subnet.env has it`);
      }
      const leases = await etcd.list(`${prefix}/subnets/`);
      t.equal(leases.size, 3, `round ${r}: 3 leases (the two daemons' and the one taken before)`);
      for (const n of nodes) t.same(await n.stop(), { code: 0, signal: null }, `round ${r}: ${n.name} exits 0`);
    }
  });
});
