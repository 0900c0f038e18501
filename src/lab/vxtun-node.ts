// Runs the real vxtun daemon (dist/cli.js) in a lab node namespace, the way an operator would:
// a config file, `vxtun run --config`, `vxtun status --json` to look at it (through the node's own admin
// socket in its temporary directory: the namespaces share one file system), SIGTERM to stop it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../admin/status.js';
import { nsExec, type ExitInfo, type NsProcess } from './exec.js';
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
}

export interface VxtunNodeOptions {
  /** Static mode: every node of the overlay, this one included (its entry is the one named `name`). */
  peers?: StaticPeer[];
  /** Kubernetes mode instead of `peers`: a kubeconfig file and optionally the annotation prefix. */
  kubernetes?: { kubeconfig: string; annotationPrefix?: string };
  /** Default `node-<i>`. */
  name?: string;
  /** Extra top-level config keys (e.g. { dataplane: { workers: 1 } }). */
  extra?: Record<string, unknown>;
  /** How long to wait for "ready". Default 30 s (a start takes about 1 s; a loaded 2-vCPU machine has taken 15). */
  readyTimeoutMs?: number;
  /** The daemon's environment (default: this process's), e.g. a PATH without nft to take the iptables path. */
  env?: NodeJS.ProcessEnv;
}

export interface VxtunNode {
  readonly name: string;
  readonly ns: string;
  readonly configPath: string;
  /** Where the daemon writes its subnet file (lab.subnetEnvPath(i) unless `extra` sets another or "off"). */
  readonly subnetFile: string | null;
  /** The daemon's admin unix socket (admin.socket): /status and /debug/pcap. */
  readonly socket: string;
  readonly process: NsProcess;
  status(): Promise<Status>;
  /** SIGTERM, wait (≤ 5 s as the contract says, then SIGKILL); resolves with the exit status. */
  stop(signal?: NodeJS.Signals): Promise<ExitInfo>;
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
 * may override all three.
 */
export function labConfig(lab: Lab, i: number, opts: VxtunNodeOptions): Record<string, unknown> {
  if ((opts.peers === undefined) === (opts.kubernetes === undefined))
    throw new Error('labConfig: give peers or kubernetes');
  return {
    nodeName: opts.name ?? `node-${i}`,
    network: lab.podNetwork(4),
    ipv6Network: lab.podNetwork(6),
    peers: opts.kubernetes ? { kubernetes: opts.kubernetes } : { static: opts.peers },
    subnetFile: lab.subnetEnvPath(i),
    ipMasq: lab.ipMasq,
    ...(lab.underlay === 'dual'
      ? { underlay: { publicIP: lab.underlayIP(i, 4), publicIPv6: lab.underlayIP(i, 6) } }
      : {}),
    ...opts.extra,
  };
}

export function cliPath(): string {
  return distFile('cli.js', process.env['VXTUN_CLI']);
}

/** Writes the config into a temporary directory and starts `vxtun run` in node i's namespace. */
export async function startVxtunNode(lab: Lab, i: number, opts: VxtunNodeOptions): Promise<VxtunNode> {
  const name = opts.name ?? `node-${i}`;
  const ns = lab.nodeNs(i);
  const dir = mkdtempSync(join(tmpdir(), `vxtun-${lab.prefix}-`));
  const configPath = join(dir, `${name}.json`);
  // Never the default /run/flannel/subnet.env (the namespaces share the host's file system): the lab's file for node i.
  const config = labConfig(lab, i, opts);
  const subnetFile =
    typeof config['subnetFile'] === 'string' && config['subnetFile'] !== 'off' ? config['subnetFile'] : null;
  // Never the default /run/vxtun/vxtun.sock either: each node its own socket, unless `extra` sets one.
  const admin = { socket: join(dir, 'admin.sock'), ...(config['admin'] as Record<string, unknown> | undefined) };
  config['admin'] = admin;
  const socket = String(admin.socket);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const cli = cliPath();
  const proc = lab.spawn(ns, process.execPath, [cli, 'run', '--config', configPath], opts.env ? { env: opts.env } : {});
  void proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await proc.waitForOutput(/ info ready /, opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop('SIGKILL', 1_000);
    throw new Error(`vxtun on ${name} did not become ready: ${(err as Error).message}\n${proc.stderr()}`);
  }
  return {
    name,
    ns,
    configPath,
    subnetFile,
    socket,
    process: proc,
    async status() {
      const r = await nsExec(ns, process.execPath, [cli, 'status', '--json', '--socket', socket]);
      return JSON.parse(r.stdout) as Status;
    },
    stop: (signal = 'SIGTERM') => proc.stop(signal, 5_000),
  };
}
