// Dual-stack peers in both dataplane engines, on real TUN devices in two namespaces joined by a veth link with an
// IPv4 and an IPv6 address on each end. The dataplanes are opened directly (test/helpers/dataplane-agent.mjs, no
// daemon), each node's vxtun0 holding its pod addresses (10.244.<i>.1, fd10:<i>::1). Which underlay family carried
// the pings is read from the namespaces' own UDP counters (/proc/net/snmp Udp, /proc/net/snmp6 Udp6): nothing else
// in these namespaces speaks UDP.
//   - dual-stack ↔ dual-stack: inner IPv4 over the IPv4 underlay, inner IPv6 over the IPv6 underlay, both ways;
//   - dual-stack ↔ IPv4-only peer: both inner families over IPv4;
//   - IPv6-only node with an IPv4-only peer: no endpoint, each packet counted in txErrors, nothing sent.
// Each runs on the native engine and on the js engine. On the native engine an --outer capture on the dual-stack node
// shows every record's VTEP as the endpoint used and its synthesised outer header of that family (decision 8).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { DataplaneOptions, DataplanePeer, DataplaneStats, DataplaneTable } from '../../src/dataplane/types.js';
import { pcapngHeader } from '../../src/dump/pcapng.js';
import { parseComment, PcapngReader } from '../../src/dump/pcapng-read.js';
import { formatIP } from '../../src/net/ip.js';
import { ipIn, nsExec, ping, run, spawnInNs, type NsProcess } from '../../src/lab/index.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason(['ip', 'ping']);
const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/dataplane-agent.mjs');
const PREFIX = `vxtds${randomBytes(3).toString('hex')}`;
const NS = { 1: `${PREFIX}a`, 2: `${PREFIX}b` } as const;
type Node = 1 | 2;
const other = (i: Node): Node => (i === 1 ? 2 : 1);
const UNDERLAY4 = (i: Node) => `192.168.77.${i}`;
const UNDERLAY6 = (i: Node) => `fd77::${i}`;
const MAC = (i: Node) => `02:00:00:00:0${i}:01`;
const POD = (i: Node, fam: 4 | 6) => (fam === 4 ? `10.244.${i}.1` : `fd10:${i}::1`);
const CIDRS = (i: Node) => [`10.244.${i}.0/24`, `fd10:${i}::/64`];

/** A node's forwarding-table entry: dual-stack (one MAC for both underlays), IPv4-only or IPv6-only. */
function peer(i: Node, shape: 'dual' | 'v4' | 'v6'): DataplanePeer {
  if (shape === 'v6') return { name: `node-${i}`, publicIP: UNDERLAY6(i), vtepMAC: MAC(i), cidrs: CIDRS(i) };
  const p: DataplanePeer = { name: `node-${i}`, publicIP: UNDERLAY4(i), vtepMAC: MAC(i), cidrs: CIDRS(i) };
  return shape === 'dual' ? { ...p, publicIPv6: UNDERLAY6(i), vtepMACv6: MAC(i) } : p;
}

function options(i: Node, engine: Engine, underlay: 'dual' | 'v4' | 'v6'): DataplaneOptions {
  return {
    device: 'vxtun0',
    workers: engine === 'native' ? 2 : 1,
    port: 8472,
    bindIP: underlay === 'v6' ? UNDERLAY6(i) : UNDERLAY4(i),
    ...(underlay === 'dual' ? { bindIPv6: UNDERLAY6(i) } : {}),
    mtu: 1400,
    vni: 1,
    vtepMAC: MAC(i),
    acceptUnknownVteps: false,
    checkInnerSource: true,
  };
}

/** The `ip` commands that give node i's new vxtun0 its pod addresses and the route to the other node's pods. */
function setup(i: Node): string[][] {
  const j = other(i);
  return [
    ['addr', 'add', `${POD(i, 4)}/24`, 'dev', 'vxtun0'],
    ['addr', 'add', `${POD(i, 6)}/64`, 'dev', 'vxtun0', 'nodad'],
    ['link', 'set', 'vxtun0', 'mtu', '1400', 'up'],
    ['route', 'add', `10.244.${j}.0/24`, 'dev', 'vxtun0'],
    ['-6', 'route', 'add', `fd10:${j}::/64`, 'dev', 'vxtun0'],
  ];
}

type Engine = 'native' | 'js';

/** A dataplane agent in a namespace: one JSON request per line, one answer per line. */
class Agent {
  private readonly answers: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  constructor(readonly proc: NsProcess) {
    createInterface({ input: proc.child.stdout! }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(line);
      } else this.answers.push(line);
    });
  }
  private next(): Promise<string> {
    const l = this.answers.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      void this.proc.exited.then((e) => reject(new Error(`agent exited (${e.code}): ${this.proc.stderr()}`)));
    });
  }
  async request(req: object): Promise<Record<string, unknown>> {
    this.proc.child.stdin!.write(`${JSON.stringify(req)}\n`);
    const a = JSON.parse(await this.next()) as { ok: boolean; error?: string };
    if (!a.ok) throw new Error(`agent in ${this.proc.ns}: ${a.error}`);
    return a;
  }
  async ready(): Promise<void> {
    await this.next();
  }
  async open(engine: Engine, opts: DataplaneOptions, table: DataplaneTable, i: Node): Promise<void> {
    await this.request({ cmd: 'open', engine, opts, table, setup: setup(i) });
  }
  async stats(): Promise<DataplaneStats> {
    return (await this.request({ cmd: 'stats' }))['stats'] as DataplaneStats;
  }
}

/** The namespace's UDP datagram counters per family (kernel MIBs: what its sockets sent and received). */
async function udpCounters(ns: string): Promise<{ in4: number; out4: number; in6: number; out6: number }> {
  const { stdout } = await nsExec(ns, 'cat', ['/proc/net/snmp', '/proc/net/snmp6']);
  const lines = stdout.split('\n');
  const udp = lines.filter((l) => l.startsWith('Udp: ')).map((l) => l.split(/\s+/));
  const [head, vals] = udp as [string[], string[]];
  const v4 = (name: string) => Number(vals[head.indexOf(name)]);
  const v6 = (name: string) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(/\s+/)[1]);
  return { in4: v4('InDatagrams'), out4: v4('OutDatagrams'), in6: v6('Udp6InDatagrams'), out6: v6('Udp6OutDatagrams') };
}
type Udp = Awaited<ReturnType<typeof udpCounters>>;
const delta = (a: Udp, b: Udp): Udp => ({
  in4: b.in4 - a.in4,
  out4: b.out4 - a.out4,
  in6: b.in6 - a.in6,
  out6: b.out6 - a.out6,
});

t.test('dual-stack peers in the dataplanes', { skip }, async (t) => {
  const agents = new Map<Node, Agent>();
  t.teardown(async () => {
    for (const a of agents.values()) {
      a.proc.child.stdin?.end();
      await a.proc.stop('SIGTERM', 5_000);
    }
    for (const ns of Object.values(NS)) await run('ip', ['netns', 'del', ns], { okExitCodes: [0, 1] });
  });
  for (const ns of Object.values(NS)) await run('ip', ['netns', 'add', ns]);
  await ipIn(NS[1], ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[2]]);
  for (const i of [1, 2] as const) {
    await ipIn(NS[i], ['addr', 'add', `${UNDERLAY4(i)}/24`, 'dev', 'eth0']);
    await ipIn(NS[i], ['addr', 'add', `${UNDERLAY6(i)}/64`, 'dev', 'eth0', 'nodad']);
    await ipIn(NS[i], ['link', 'set', 'eth0', 'up']);
    await ipIn(NS[i], ['link', 'set', 'lo', 'up']);
    const a = new Agent(spawnInNs(NS[i], process.execPath, [AGENT], { stdin: 'pipe' }));
    agents.set(i, a);
    await a.ready();
  }
  const agent = (i: Node) => agents.get(i)!;

  /** Pings node `to`'s pod address of `fam` from node `from` (3 echoes); returns the UDP counter deltas of both. */
  const pingOver = async (t: Test, from: Node, to: Node, fam: 4 | 6) => {
    // A first echo resolves the underlay neighbours (outside the counted window).
    await ping(null, NS[from], POD(to, fam), { count: 1, waitS: 5 });
    const before = { 1: await udpCounters(NS[1]), 2: await udpCounters(NS[2]) };
    const r = await ping(null, NS[from], POD(to, fam), { count: 3, waitS: 5 });
    t.equal(r.received, 3, `inner IPv${fam} node-${from} → node-${to}: ${r.received}/${r.sent} replies`);
    return { from: delta(before[from], await udpCounters(NS[from])), to: delta(before[to], await udpCounters(NS[to])) };
  };

  for (const engine of ['native', 'js'] as const) {
    await t.test(`${engine}: dual-stack ↔ dual-stack: each inner family over its own underlay family`, async (t) => {
      for (const i of [1, 2] as const) {
        const table = { local: CIDRS(i), peers: [peer(other(i), 'dual')] };
        await agent(i).open(engine, options(i, engine, 'dual'), table, i);
      }
      const capture =
        engine === 'native'
          ? Number(
              (
                await agent(1).request({
                  cmd: 'captureStart',
                  opts: {
                    program: [],
                    snaplen: 200,
                    outer: true,
                    publicIP: UNDERLAY4(1),
                    publicIPv6: UNDERLAY6(1),
                    port: 8472,
                    vni: 1,
                  },
                })
              )['id'],
            )
          : -1;
      for (const [from, to] of [
        [1, 2],
        [2, 1],
      ] as const) {
        for (const fam of [4, 6] as const) {
          const d = await pingOver(t, from, to, fam);
          const [same, otherFam] = fam === 4 ? (['4', '6'] as const) : (['6', '4'] as const);
          t.ok(d.from[`out${same}`] >= 3, `IPv${fam}: node-${from} sent ${d.from[`out${same}`]} over IPv${same}`);
          t.ok(d.to[`in${same}`] >= 3, `IPv${fam}: node-${to} received ${d.to[`in${same}`]} over IPv${same}`);
          for (const n of [d.from, d.to]) {
            t.equal(n[`out${otherFam}`] + n[`in${otherFam}`], 0, `IPv${fam}: nothing over the IPv${otherFam} underlay`);
          }
        }
      }
      for (const i of [1, 2] as const) t.equal((await agent(i).stats()).txErrors, 0, `node-${i}: no tx errors`);
      if (capture >= 0) {
        const blocks = String((await agent(1).request({ cmd: 'captureRead', id: capture }))['blocks']);
        const packets = new PcapngReader().push(Buffer.concat([pcapngHeader(), Buffer.from(blocks, 'base64')]));
        const seen = new Set<string>();
        for (const p of packets) {
          const c = parseComment(p.comment!);
          if (c['verdict'] !== 'forward') continue;
          const outer6 = p.data[0]! >> 4 === 6;
          const inner6 = p.data[outer6 ? 70 : 50]! >> 4 === 6;
          const [src, dst] = outer6
            ? [formatIP(p.data.subarray(8, 24)), formatIP(p.data.subarray(24, 40))]
            : [formatIP(p.data.subarray(12, 16)), formatIP(p.data.subarray(16, 20))];
          const remote = c['dir'] === 'tx' ? dst : src;
          seen.add(`${c['dir']} inner${inner6 ? 6 : 4} outer${outer6 ? 6 : 4} vtep=${c['vtep']} remote=${remote}`);
        }
        t.same(
          [...seen].sort(),
          [
            `rx inner4 outer4 vtep=${UNDERLAY4(2)} remote=${UNDERLAY4(2)}`,
            `rx inner6 outer6 vtep=${UNDERLAY6(2)} remote=${UNDERLAY6(2)}`,
            `tx inner4 outer4 vtep=${UNDERLAY4(2)} remote=${UNDERLAY4(2)}`,
            `tx inner6 outer6 vtep=${UNDERLAY6(2)} remote=${UNDERLAY6(2)}`,
          ],
          'node-1 --outer capture: each record with the endpoint used as VTEP, the outer header of its family',
        );
      }
    });

    await t.test(`${engine}: dual-stack node ↔ IPv4-only peer: both inner families over IPv4`, async (t) => {
      await agent(1).open(engine, options(1, engine, 'dual'), { local: CIDRS(1), peers: [peer(2, 'v4')] }, 1);
      await agent(2).open(engine, options(2, engine, 'v4'), { local: CIDRS(2), peers: [peer(1, 'dual')] }, 2);
      for (const [from, to] of [
        [1, 2],
        [2, 1],
      ] as const) {
        for (const fam of [4, 6] as const) {
          const d = await pingOver(t, from, to, fam);
          t.ok(d.from.out4 >= 3 && d.to.in4 >= 3, `inner IPv${fam} node-${from} → node-${to} over IPv4`);
          t.equal(d.from.out6 + d.from.in6 + d.to.out6 + d.to.in6, 0, `inner IPv${fam}: nothing over IPv6`);
        }
      }
      for (const i of [1, 2] as const) t.equal((await agent(i).stats()).txErrors, 0, `node-${i}: no tx errors`);
    });

    await t.test(`${engine}: IPv6-only node with an IPv4-only peer: no endpoint, txErrors, nothing sent`, async (t) => {
      await agent(1).open(engine, options(1, engine, 'v6'), { local: CIDRS(1), peers: [peer(2, 'v4')] }, 1);
      await agent(2).request({ cmd: 'close' });
      const s0 = await agent(1).stats();
      const before = await udpCounters(NS[1]);
      for (const fam of [4, 6] as const) {
        const r = await ping(null, NS[1], POD(2, fam), { count: 2, waitS: 1 });
        t.equal(r.received, 0, `inner IPv${fam}: no reply`);
      }
      const s1 = await agent(1).stats();
      const d = delta(before, await udpCounters(NS[1]));
      t.equal(s1.txErrors - s0.txErrors, 4, 'the 4 echo requests counted in txErrors');
      t.equal(s1.txPackets - s0.txPackets, 0, 'no datagram counted sent');
      t.same(d, { in4: 0, out4: 0, in6: 0, out6: 0 }, 'no UDP datagram left or reached the namespace');
      const noRoute = (s: DataplaneStats) => s.txDrops['no-route'] ?? 0;
      t.ok(noRoute(s1) >= noRoute(s0), 'not a drop reason of its own');
    });
  }
});
