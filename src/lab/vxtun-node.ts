// Runs the real vxtun daemon (dist/cli.js) in a lab node namespace, the way an operator would:
// a config file, `vxtun run --config`, `vxtun status --json` to look at it (through the node's own admin
// socket in its temporary directory: the namespaces share one file system), SIGTERM to stop it; and replaces it
// with a new process that takes over through the node's own handover socket, as a DaemonSet update would.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../admin/status.js';
import { describeExit, nsExec, type ExitInfo, type NsProcess } from './exec.js';
import { distFile } from './paths.js';
import type { Lab } from './lab.js';

/** A static peer as the config file spells it. */
export interface StaticPeer {
  name: string;
  podCIDRs: string[];
  /** Either family; IPv4 when publicIPv6 is set. */
  publicIP: string;
  vtepMAC?: string;
  /** A dual-stack peer's IPv6 underlay address, and its VTEP MAC there (both or neither). */
  publicIPv6?: string;
  vtepMACv6?: string;
  /** The node accepts remote checksum offload (README "Remote checksum offload"). */
  remoteChecksum?: boolean;
}

export interface VxtunNodeOptions {
  /** Static mode: every node of the overlay, this one included (its entry is the one named `name`). */
  peers?: StaticPeer[];
  /** Kubernetes mode instead of `peers`: a kubeconfig file and optionally the annotation prefix. */
  kubernetes?: { kubeconfig: string; annotationPrefix?: string };
  /**
   * etcd mode instead of `peers` or `kubernetes` (README "etcd mode"): the daemon reads the network from
   * `<prefix>/config` and acquires its subnet there, preferring the one in node i's subnet.env (the lab's
   * 10.244.i.0/24, which its pod was made on) when it is free.
   */
  etcd?: { endpoints: string[]; prefix?: string };
  /** Default `node-<i>`. */
  name?: string;
  /** Extra top-level config keys (e.g. { dataplane: { workers: 1 } }). */
  extra?: Record<string, unknown>;
  /** How long to wait for "ready". Default 30 s (a start takes about 1 s; a loaded 2-vCPU machine has taken 15). */
  readyTimeoutMs?: number;
  /** The daemon's environment (default: this process's), e.g. a PATH without nft to take the iptables path. */
  env?: NodeJS.ProcessEnv;
}

/** What a process that took over logged in its "took over" line. */
export interface Takeover {
  /** The pid of the process it took over from. */
  from: number;
  fromVersion: string;
  /** How long no process read the queues. */
  pausedMs: number;
}

/** How the replacement's config differs from the running one's (everything else, both sockets included, is kept). */
export interface ReplaceOptions {
  /** A new static peer list (this node's entry included). */
  peers?: StaticPeer[];
  /** Top-level keys to set (e.g. { vni: 2 }); `admin` and `handover` are merged into the running ones. */
  extra?: Record<string, unknown>;
  /** How long to wait for "took over". Default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** The replacement exited before it logged "took over" (a refused or failed handover). */
export class ReplacementExited extends Error {
  override name = 'ReplacementExited';
  constructor(
    readonly exit: ExitInfo,
    readonly stderr: string,
  ) {
    super(`the replacement vxtun exited (${describeExit(exit)}) before it took over:\n${stderr.trim()}`);
  }
}

export interface VxtunNode {
  readonly name: string;
  readonly ns: string;
  readonly configPath: string;
  /** Where the daemon writes its subnet file (lab.subnetEnvPath(i) unless `extra` sets another or "off"). */
  readonly subnetFile: string | null;
  /** The daemon's admin unix socket (admin.socket): /status and /debug/pcap. */
  readonly socket: string;
  /** The daemon's handover unix socket (handover.socket), in the same directory; null when the config turns it off. */
  readonly handoverSocket: string | null;
  readonly process: NsProcess;
  /** The daemon's pid (the namespace's `ip netns exec` execs it in place). */
  readonly pid: number;
  /** Settles with the exit status when this process has exited (handed over, stopped or crashed). */
  readonly exited: Promise<ExitInfo>;
  /** Set on a process started by replace(): what it logged when it took over. */
  readonly takeover: Takeover | null;
  status(): Promise<Status>;
  /** SIGTERM, wait (≤ 5 s as the contract says, then SIGKILL); resolves with the exit status. */
  stop(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /**
   * Starts a new `vxtun run` on the same node, directory and sockets (optionally with a changed config) while this
   * one runs. Resolves once the new process logs "took over" (its admin socket may take a moment more: poll
   * status()); rejects with ReplacementExited when it exits first, after killing it on a timeout.
   */
  replace(opts?: ReplaceOptions): Promise<VxtunNode>;
}

/**
 * The lab's standard static peer entry for node i (dual-stack pod CIDRs). On a dual underlay it has both endpoints:
 * publicIP the IPv4 address, publicIPv6 the IPv6 one, with `vtepMACv6` when given (a kernel dual-stack node's
 * second MAC; a vxtun node has one MAC: leave it out, or give vtepMAC again).
 */
export function labPeer(lab: Lab, i: number, vtepMAC?: string, vtepMACv6?: string): StaticPeer {
  if (vtepMACv6 !== undefined && lab.underlay !== 'dual') {
    throw new Error(`labPeer: vtepMACv6 needs a dual underlay (this lab's is IPv${String(lab.underlay)})`);
  }
  return {
    name: `node-${i}`,
    podCIDRs: [lab.podCIDR(i, 4), lab.podCIDR(i, 6)],
    publicIP: lab.underlayIP(i),
    ...(vtepMAC ? { vtepMAC } : {}),
    ...(lab.underlay === 'dual' ? { publicIPv6: lab.underlayIP(i, 6) } : {}),
    ...(vtepMACv6 ? { vtepMACv6 } : {}),
  };
}

/**
 * The config a lab node runs with (JSON, which is YAML). `subnetFile` is node i's subnet.env in the lab directory
 * (the file its pods' CNI delegate was rendered from: the daemon writes it again, as on a real node) and `ipMasq` is
 * the lab's; on a dual underlay `underlay.publicIP` and `underlay.publicIPv6` are node i's two addresses; `extra`
 * may override all three. In etcd mode `network` and `ipv6Network` are left out (etcd's `<prefix>/config` has
 * them) unless `extra` sets them, and on a single-family underlay `underlay.interface` is eth0 (the lab's nodes have
 * no default route, and no static entry names their address: as flanneld's --iface).
 */
export function labConfig(lab: Lab, i: number, opts: VxtunNodeOptions): Record<string, unknown> {
  const sources = [opts.peers, opts.kubernetes, opts.etcd].filter((x) => x !== undefined).length;
  if (sources !== 1) throw new Error('labConfig: give exactly one of peers, kubernetes or etcd');
  const peers = opts.etcd
    ? { etcd: opts.etcd }
    : opts.kubernetes
      ? { kubernetes: opts.kubernetes }
      : { static: opts.peers };
  return {
    nodeName: opts.name ?? `node-${i}`,
    ...(opts.etcd ? {} : { network: lab.podNetwork(4), ipv6Network: lab.podNetwork(6) }),
    peers,
    subnetFile: lab.subnetEnvPath(i),
    ipMasq: lab.ipMasq,
    ...(lab.underlay === 'dual'
      ? { underlay: { publicIP: lab.underlayIP(i, 4), publicIPv6: lab.underlayIP(i, 6) } }
      : opts.etcd
        ? { underlay: { interface: 'eth0' } }
        : {}),
    ...opts.extra,
  };
}

export function cliPath(): string {
  return distFile('cli.js', process.env['VXTUN_CLI']);
}

/**
 * The fields of a daemon log line as src/log.ts formatLine writes them (`level msg key=value …`, values JSON when not
 * plain words), taken from the first line whose message is `msg`; null when there is none.
 */
export function logLineFields(text: string, msg: string): Record<string, unknown> | null {
  const esc = msg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const line = new RegExp(`(?:^|\\s)(?:debug|info|warn|error) ${esc}((?: \\w+=\\S.*)?)$`, 'm').exec(text);
  if (!line) return null;
  const out: Record<string, unknown> = {};
  for (const m of (line[1] ?? '').matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|[[{].*?[\]}](?= \w+=|$)|\S+)/g)) {
    const v = m[2] ?? '';
    try {
      out[m[1] ?? ''] = /^["[{\d-]|^(true|false|null)$/.test(v) ? JSON.parse(v) : v;
    } catch {
      out[m[1] ?? ''] = v;
    }
  }
  return out;
}

/** A merged config section: `base`, then the keys `over` sets. */
const section = (base: unknown, over: unknown): Record<string, unknown> => ({
  ...(base as Record<string, unknown> | undefined),
  ...(over as Record<string, unknown> | undefined),
});

const socketOf = (sec: unknown): string | null => {
  const v = (sec as Record<string, unknown> | undefined)?.['socket'];
  return typeof v === 'string' && v !== 'off' ? v : null;
};

/** The node's directory, removed when the last process started in it has exited. */
interface NodeDir {
  path: string;
  users: number;
}

interface Launch {
  lab: Lab;
  i: number;
  name: string;
  dir: NodeDir;
  config: Record<string, unknown>;
  configPath: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The daemon runs as in production, without a test runner's instrumentation: tap's @tapjs/processinfo puts its module
 * loader hooks into every child's NODE_OPTIONS (whatever `env` says), and on Node 20 each module load is then a round
 * trip to a hooks thread — a Kubernetes-mode start (some 3,000 modules of the client) took 6–8 CPU seconds instead of
 * about 2. `env -u` execs in place (as `ip netns exec` does): the PID is still the daemon's.
 */
const PLAIN_NODE = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath];
/** By its path: a test may give the daemon a PATH of its own (test/integration/ipmasq.test.ts: one without nft). */
const ENV = existsSync('/usr/bin/env') ? '/usr/bin/env' : 'env';

function launch(l: Launch): NsProcess {
  writeFileSync(l.configPath, JSON.stringify(l.config, null, 2));
  const proc = l.lab.spawn(
    l.lab.nodeNs(l.i),
    ENV,
    [...PLAIN_NODE, cliPath(), 'run', '--config', l.configPath],
    l.env ? { env: l.env } : {},
  );
  l.dir.users++;
  void proc.exited.then(() => {
    if (--l.dir.users === 0) rmSync(l.dir.path, { recursive: true, force: true });
  });
  return proc;
}

function nodeOf(l: Launch, proc: NsProcess, takeover: Takeover | null): VxtunNode {
  const socket = String(socketOf(l.config['admin']));
  const cli = cliPath();
  let replacements = 0;
  const node: VxtunNode = {
    name: l.name,
    ns: l.lab.nodeNs(l.i),
    configPath: l.configPath,
    subnetFile:
      typeof l.config['subnetFile'] === 'string' && l.config['subnetFile'] !== 'off' ? l.config['subnetFile'] : null,
    socket,
    handoverSocket: socketOf(l.config['handover']),
    process: proc,
    pid: proc.pid,
    exited: proc.exited,
    takeover,
    async status() {
      const r = await nsExec(node.ns, process.execPath, [cli, 'status', '--json', '--socket', socket]);
      return JSON.parse(r.stdout) as Status;
    },
    stop: (signal = 'SIGTERM') => proc.stop(signal, 5_000),
    async replace(opts = {}) {
      const extra = opts.extra ?? {};
      const config: Record<string, unknown> = {
        ...l.config,
        ...(opts.peers ? { peers: { static: opts.peers } } : {}),
        ...extra,
        admin: section(l.config['admin'], extra['admin']),
        ...(l.config['handover'] || extra['handover']
          ? { handover: section(l.config['handover'], extra['handover']) }
          : {}),
      };
      const next: Launch = {
        ...l,
        config,
        configPath: join(l.dir.path, `${l.name}.r${++replacements}.json`),
        ...(opts.env ? { env: opts.env } : {}),
      };
      const p = launch(next);
      const timeoutMs = opts.timeoutMs ?? 30_000;
      try {
        const text = await p.waitForOutput(/ info took over /, timeoutMs);
        const f = logLineFields(text, 'took over') ?? {};
        return nodeOf(next, p, {
          from: Number(f['from']),
          fromVersion: String(f['fromVersion']),
          pausedMs: Number(f['pausedMs']),
        });
      } catch (err) {
        if (p.exitInfo) throw new ReplacementExited(p.exitInfo, p.stderr());
        await p.stop('SIGKILL', 1_000);
        throw new Error(`vxtun on ${l.name} did not take over: ${(err as Error).message}`);
      }
    },
  };
  return node;
}

/** Writes the config into a temporary directory and starts `vxtun run` in node i's namespace. */
export async function startVxtunNode(lab: Lab, i: number, opts: VxtunNodeOptions): Promise<VxtunNode> {
  const name = opts.name ?? `node-${i}`;
  const dir: NodeDir = { path: mkdtempSync(join(tmpdir(), `vxtun-${lab.prefix}-`)), users: 0 };
  // Never the default /run/flannel/subnet.env (the namespaces share the host's file system): the lab's file for node i.
  const config = labConfig(lab, i, opts);
  // Never the default /run/vxtun/vxtun.sock nor /run/vxtun/handover.sock either: each node its own sockets (parallel
  // labs never meet), unless `extra` sets them.
  config['admin'] = section({ socket: join(dir.path, 'admin.sock') }, config['admin']);
  config['handover'] = section({ socket: join(dir.path, 'handover.sock') }, config['handover']);
  const l: Launch = {
    lab,
    i,
    name,
    dir,
    config,
    configPath: join(dir.path, `${name}.json`),
    ...(opts.env ? { env: opts.env } : {}),
  };
  const proc = launch(l);
  try {
    await proc.waitForOutput(/ info ready /, opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop('SIGKILL', 1_000);
    throw new Error(`vxtun on ${name} did not become ready: ${(err as Error).message}\n${proc.stderr()}`);
  }
  return nodeOf(l, proc, null);
}
