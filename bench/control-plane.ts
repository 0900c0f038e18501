// Control-plane scale benchmark (issue 5): a 5,000-node cluster listed and fully programmed, then single Node
// events, and the daemon's memory.
//
// Default (root): the real thing. A one-node lab namespace runs the fake API server (127.0.0.1 there) holding
// 5,000 flannel-annotated Nodes plus the vxtun node, and `vxtun run` (dist/cli.js: real TUN device, real
// addon, Dataplane.setTable). Times come from the daemon's own log lines (millisecond timestamps) and from when
// those lines reach this process; RSS is the daemon process's VmRSS/VmHWM from /proc.
//   programming  "node list received" (the last list page has arrived and been decoded) → "ready" (the table
//                with every node has been handed to the dataplane), both daemon timestamps; at start-up this also
//                covers creating and configuring the device, which waits for our own Node from that list;
//   event        this process tells the fake server to change one Node (over its control socket) → the daemon's
//                "peer updated"/"peer added"/"peer removed" line arrives here (logged right after setTable):
//                control round trip, watch delivery, parsing, diff, table build and the log pipe all included.
//
// Fallback (--in-process, or without root): runDaemon in this process with a Dataplane double whose setTable
// builds each table with the real addon (`new native.Table(t)`: the same parse and Table::Build as setTable, no
// TUN device). This process also carries the TypeScript loader, so its memory is not reported.
//
//   npm run bench:control-plane [-- --nodes 5000 --events 200 --in-process]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfigText } from '../src/config/index.js';
import { runDaemon } from '../src/daemon/daemon.js';
import { cliPath, Lab, labUnavailableReason } from '../src/lab/index.js';
import type { Logger } from '../src/log.js';
import { loadTestingAddon } from '../src/dataplane/testing.js';
import { startFakeApiInNs, startFakeApiProcess, type RemoteFakeApi } from '../test/helpers/fake-apiserver-remote.js';
import { fakeDeviceConf, fakeIp, fakeNative } from '../test/helpers/fake-dataplane.js';
import { makeNode, PREFIX, syntheticNode, writeKubeconfig } from '../test/helpers/kube-nodes.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    events: { type: 'string', default: '200' },
    'in-process': { type: 'boolean', default: false },
  },
});
const NODES = Number(values.nodes);
const EVENTS = Number(values.events);
const ADD_DELETE = 20;
const TARGET_PROGRAM_MS = 1000;
const TARGET_EVENT_MS = 50;
const SELF = 'node-1';

const out = (s: string) => process.stdout.write(`${s}\n`);
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

interface Results {
  mode: string;
  listMs: number;
  programMs: number;
  startMs: number;
  update: number[];
  addDelete: number[];
  memory: string;
}

/** The changes timed one by one: public-ip updates, then adds and deletes. */
async function drive(
  api: RemoteFakeApi,
  seen: (name: string, change: 'updated' | 'added' | 'removed') => Promise<number>,
) {
  const update: number[] = [];
  for (let k = 0; k < EVENTS; k++) {
    const name = (syntheticNode((k * 7919) % NODES)['metadata'] as { name: string }).name;
    const wait = seen(name, 'updated');
    const start = performance.now();
    await api.patchNode(name, {
      metadata: { annotations: { [`${PREFIX}/public-ip`]: `172.31.${Math.floor(k / 250)}.${(k % 250) + 1}` } },
    });
    update.push((await wait) - start);
  }
  const addDelete: number[] = [];
  for (let k = 0; k < ADD_DELETE; k++) {
    const n = syntheticNode(NODES + k);
    const name = (n['metadata'] as { name: string }).name;
    let wait = seen(name, 'added');
    let start = performance.now();
    await api.upsertNode(n);
    addDelete.push((await wait) - start);
    wait = seen(name, 'removed');
    start = performance.now();
    await api.deleteNode(name);
    addDelete.push((await wait) - start);
  }
  return { update, addDelete };
}

async function fill(api: RemoteFakeApi, internalIP: string): Promise<void> {
  const nodes = [makeNode({ name: SELF, podCIDRs: ['10.200.0.0/24'], internalIP, ready: true })];
  for (let i = 0; i < NODES; i++) nodes.push(syntheticNode(i));
  for (let i = 0; i < nodes.length; i += 1000) await api.upsertNodes(nodes.slice(i, i + 1000));
}

function config(dir: string, api: RemoteFakeApi, admin: string): Record<string, unknown> {
  return {
    nodeName: SELF,
    network: '10.0.0.0/8',
    peers: { kubernetes: { kubeconfig: writeKubeconfig(dir, api.url, 'bench') } },
    subnetFile: join(dir, 'subnet.env'),
    admin: { listen: admin, socket: join(dir, 'admin.sock') },
    dataplane: { workers: 1 },
  };
}

/** The real daemon in a lab namespace. */
async function inNamespace(dir: string): Promise<Results> {
  const lab = await Lab.create({ nodes: 1 });
  try {
    const ns = lab.nodeNs(1);
    const api = await startFakeApiInNs(lab, ns, { token: 'bench' });
    await fill(api, lab.underlayIP(1));
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(config(dir, api, 'off')));
    // Lines as they arrive: [arrival time here, daemon timestamp, text].
    const lines: [number, number, string][] = [];
    const waiters = new Set<() => void>();
    const t0 = performance.now();
    const proc = lab.spawn(ns, process.execPath, [cliPath(), 'run', '--config', path]);
    let partial = '';
    proc.child.stderr?.on('data', (d: string) => {
      const now = performance.now();
      const parts = (partial + d).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        const m = /^(\S+Z) (.*)$/.exec(l);
        lines.push([now, m ? Date.parse(m[1]!) : NaN, m ? m[2]! : l]);
      }
      for (const w of [...waiters]) w();
    });
    const line = (re: RegExp, from = 0, timeoutMs = 60_000) =>
      new Promise<[number, number, string]>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${re} within ${timeoutMs} ms:\n${proc.stderr().slice(-2000)}`));
        }, timeoutMs);
        const check = () => {
          const hit = lines.slice(from).find((x) => re.test(x[2]));
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
      });
    const listed = await line(new RegExp(`^info node list received nodes=${NODES + 1} `));
    const ready = await line(/^info ready /);
    const listMs = Number(/ ms=(\d+)/.exec(listed[2])?.[1]);
    const rss = () => {
      const s = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1]) };
    };
    await sleep(500);
    const afterList = rss();
    const seen = (name: string, change: string) =>
      line(new RegExp(`^info peer ${change} .*name=${name}( |$)`), lines.length, 10_000).then((x) => x[0]);
    const { update, addDelete } = await drive(api, seen);
    const after = rss();
    await proc.stop('SIGTERM', 5_000);
    return {
      mode: 'real daemon (dist/cli.js) in a network namespace, real TUN dataplane',
      listMs,
      programMs: ready[1] - listed[1],
      startMs: ready[0] - t0,
      update,
      addDelete,
      memory: `daemon RSS ${mb(afterList.rss)} after programming, ${mb(after.rss)} after the events (peak ${mb(after.hwm)})`,
    };
  } finally {
    await lab.destroy();
  }
}

/** runDaemon in this process, tables built by the real addon without a device. */
async function inProcess(dir: string): Promise<Results> {
  const api = await startFakeApiProcess({ token: 'bench' });
  const abort = new AbortController();
  try {
    await fill(api, '192.168.99.1');
    const cfg = parseConfigText(JSON.stringify(config(dir, api, 'off')), 'bench.json', { hostname: 'bench' });
    let listed = 0;
    let listMs = 0;
    const noop = () => {};
    const logger: Logger = {
      debug: noop,
      info: (msg, f) => {
        if (msg === 'node list received' && Number(f?.['nodes']) > NODES)
          [listed, listMs] = [performance.now(), Number(f?.['ms'])];
      },
      warn: noop,
      error: (msg, f) => out(`error ${msg} ${JSON.stringify(f)}`),
    };
    const native = fakeNative(loadTestingAddon(), 1);
    const t0 = performance.now();
    let readyAt = 0;
    void runDaemon(
      {
        config: cfg,
        logger,
        native: native.binding,
        ip: fakeIp(),
        deviceConf: fakeDeviceConf(),
        onReady: () => (readyAt = performance.now()),
      },
      abort.signal,
    );
    const until = async (pred: () => boolean, what: string) => {
      const end = performance.now() + 30_000;
      while (!pred()) {
        if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setImmediate(r));
      }
    };
    await until(() => native.tables.at(-1)?.table.peers.length === NODES, `${NODES} peers`);
    const programMs = native.tables.at(-1)!.at - listed;
    const seen = async (name: string, change: string) => {
      let checked = native.tablesSet;
      const has = () => native.tables.at(-1)!.table.peers.some((p) => p.name === name);
      // Look at a table only when a new one has been set.
      await until(
        () => native.tablesSet !== checked && ((checked = native.tablesSet), change === 'removed' ? !has() : has()),
        name,
      );
      return native.tables.at(-1)!.at;
    };
    const { update, addDelete } = await drive(api, seen);
    return {
      mode: 'in-process runDaemon, tables built with new native.Table (no device)',
      listMs,
      programMs,
      startMs: readyAt - t0,
      update,
      addDelete,
      memory:
        'not measured here (this process carries the TypeScript loader and the test doubles; the namespace run measures the daemon)',
    };
  } finally {
    abort.abort();
    await api.stopProcess();
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-bench-cp-'));
  try {
    const why = labUnavailableReason({ tun: true, tools: ['ip'] });
    if (!values['in-process'] && why) out(`(no namespace run: ${why}; measuring in-process)`);
    const r = values['in-process'] || why ? await inProcess(dir) : await inNamespace(dir);
    out(`vxtun control-plane benchmark: ${NODES} nodes + this one; ${r.mode}; Node ${process.version}`);
    out(`  list, ${Math.ceil((NODES + 1) / 500)} pages of 500 (request → decoded):  ${r.listMs} ms`);
    out(
      `  programming after the list returned:          ${ms(r.programMs)}   (target ≤ ${TARGET_PROGRAM_MS} ms; at start-up this includes creating the device)`,
    );
    out(`  daemon start → ready:                         ${ms(r.startMs)}`);
    const u = r.update;
    out(
      `  one update event → table (${u.length}):  median ${ms(pct(u, 50))}, p95 ${ms(pct(u, 95))}, p99 ${ms(pct(u, 99))}, max ${ms(Math.max(...u))}   (target ≤ ${TARGET_EVENT_MS} ms)`,
    );
    const a = r.addDelete;
    out(
      `  one add/delete event → table (${a.length}):  median ${ms(pct(a, 50))}, p95 ${ms(pct(a, 95))}, max ${ms(Math.max(...a))}`,
    );
    out(`  memory: ${r.memory}`);
    out(
      `  machine: ${os.cpus().length} CPUs, load average ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    const ok = r.programMs <= TARGET_PROGRAM_MS && pct(u, 50) <= TARGET_EVENT_MS && pct(a, 50) <= TARGET_EVENT_MS;
    out(ok ? 'PASS (programming ≤ 1 s after the list; median event → table ≤ 50 ms)' : 'FAIL');
    return ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    out(`bench failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
