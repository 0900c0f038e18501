// The standard testbed: an underlay bridge namespace, N "node" namespaces on it, and one "pod" namespace behind
// each node, made as a kube-flannel node makes its pods: the lab writes the node's subnet.env (with vxtun's own
// formatSubnetEnv, as vxtun or flanneld would), renders the flannel CNI plugin's delegate from it
// (cni-delegate.ts) and runs the real `bridge` + `host-local` plugins in the node's namespace (cni.ts).
// Everything lives in namespaces named `${prefix}-…` and in the lab's own temporary directory; nothing is created in
// the caller's namespace.
//
//   ${prefix}-ul   br0 ── n1, n2, … (veth peers of each node's eth0)
//   ${prefix}-nI   eth0 192.168.99.I/24 · cni0 10.244.I.1/24, fd10:244:0:I::1/64 (bridge, one veth per pod) · forwarding on
//   ${prefix}-pI   eth0 10.244.I.2/24, fd10:244:0:I::2/64 · default routes via cni0 (CNI ADD, container id ${prefix}-pI)
//   ${prefix}-NAME eth0 192.168.99.X/24 (lab.addHost: another host on the underlay, e.g. a rogue one)
//
//   <lab dir>/node-I/subnet.env        the node's subnet.env (startVxtunNode points the daemon's subnetFile here)
//   <lab dir>/node-I/flannel/<cid>     the rendered delegate saved by ADD, replayed by DEL (as /var/lib/cni/flannel)
//   <lab dir>/node-I/networks/cbr0/    host-local's leases (ipam.dataDir instead of /var/lib/cni/networks)

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { Cidr } from '../net/cidr.js';
import { formatSubnetEnv, writeFileAtomic } from '../device/subnet-file.js';
import { cniAdd, cniDel, type CniPod, type CniResult } from './cni.js';
import { canonicalJson, KUBE_FLANNEL_NETCONF, parseSubnetEnv, renderDelegate, type FlannelNetConf } from './cni-delegate.js';
import { missingCniPlugins } from './preflight.js';
import {
  ipIn,
  liveProcesses,
  nsExec,
  run,
  spawnInNs,
  type NsProcess,
  type RunOptions,
  type RunResult,
  type SpawnOptions,
} from './exec.js';

export type Family = 4 | 6;

export interface LabOptions {
  /** Namespace name prefix; default `vxt` + 6 random hex digits. Letters, digits, `_`, `.`, `-`; at most 24. */
  prefix?: string;
  /** Number of node (and pod) namespaces, 1…250. */
  nodes: number;
  logger?: Logger;
  /** MTU of the underlay links (node eth0 and the bridge ports). Default 1500. */
  underlayMTU?: number;
  /** MTU of the pod veth pair (FLANNEL_MTU in each node's subnet.env). Default underlayMTU − 50 (what flannel gives pods). */
  podMTU?: number;
  /**
   * FLANNEL_IPMASQ in each node's subnet.env, and the `ipMasq` startVxtunNode gives the daemon: true means the node
   * masquerades what leaves the cluster network, so the CNI plugin's bridge does not (ipMasq false in its delegate);
   * false makes the bridge masquerade everything that leaves the pod's own subnet. Default true, as the shipped
   * DaemonSet and kube-flannel (`--ip-masq`) run.
   */
  ipMasq?: boolean;
  /**
   * On SIGINT/SIGTERM/SIGHUP remove the lab synchronously, then let the signal take its normal course.
   * Default true. Set false if the program handles those signals itself and calls destroy().
   * (Namespaces are always removed synchronously on process 'exit'.)
   */
  handleSignals?: boolean;
  /** How long destroy() waits for a process after SIGTERM before SIGKILL. Default 3000 ms. */
  stopTimeoutMs?: number;
  /** Extra per-node setup, run after node `i` and its pod are built. A throw aborts create() (and cleans up). */
  setupNode?: (lab: Lab, i: number) => Promise<void>;
}

const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,23}$/;
const MAX_NODES = 250;

/** A running testbed. Build with `Lab.create`, always finish with `destroy()`. */
export class Lab {
  readonly prefix: string;
  readonly nodes: number;
  readonly logger: Logger;
  readonly underlayMTU: number;
  readonly podMTU: number;
  readonly ipMasq: boolean;
  /** The lab's own temporary directory (node-I/ below it); removed by destroy() and destroySync(). */
  readonly dir: string;
  readonly handleSignals: boolean;
  readonly stopTimeoutMs: number;
  /** Namespaces this lab created and has not deleted yet, in creation order. */
  readonly #created: string[] = [];
  /** Processes started through lab.spawn (processes from spawnInNs in our namespaces are stopped too). */
  readonly #processes = new Set<NsProcess>();
  /** Pods added by CNI and not deleted yet (DEL on destroy, before the namespaces go). */
  readonly #pods: { node: number; pod: CniPod }[] = [];
  #destroying: Promise<readonly Error[]> | undefined;
  #destroyed = false;

  private constructor(opts: Required<Omit<LabOptions, 'setupNode'>> & { dir: string }) {
    this.prefix = opts.prefix;
    this.nodes = opts.nodes;
    this.logger = opts.logger;
    this.underlayMTU = opts.underlayMTU;
    this.podMTU = opts.podMTU;
    this.ipMasq = opts.ipMasq;
    this.dir = opts.dir;
    this.handleSignals = opts.handleSignals;
    this.stopTimeoutMs = opts.stopTimeoutMs;
  }

  /** Builds the topology. On any failure everything created so far is removed and the error is rethrown. */
  static async create(opts: LabOptions): Promise<Lab> {
    const prefix = opts.prefix ?? `vxt${randomBytes(3).toString('hex')}`;
    if (!PREFIX_RE.test(prefix)) throw new Error(`lab: bad prefix ${JSON.stringify(prefix)} (want ${PREFIX_RE})`);
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
      throw new Error(`lab: nodes must be an integer 1…${MAX_NODES}, got ${opts.nodes}`);
    }
    const underlayMTU = opts.underlayMTU ?? 1500;
    const podMTU = opts.podMTU ?? underlayMTU - 50;
    for (const [k, v] of [
      ['underlayMTU', underlayMTU],
      ['podMTU', podMTU],
    ] as const) {
      if (!Number.isInteger(v) || v < 1280 || v > 65535) throw new Error(`lab: ${k} must be 1280…65535, got ${v}`);
    }
    if (opts.ipMasq !== undefined && typeof opts.ipMasq !== 'boolean') throw new Error(`lab: ipMasq must be true or false, got ${String(opts.ipMasq)}`);
    const missing = missingCniPlugins();
    if (missing) throw new Error(`lab: ${missing}`);
    const lab = new Lab({
      prefix,
      nodes: opts.nodes,
      logger: opts.logger ?? silentLogger,
      underlayMTU,
      podMTU,
      ipMasq: opts.ipMasq ?? true,
      dir: mkdtempSync(join(tmpdir(), `vxtun-lab-${prefix}-`)),
      handleSignals: opts.handleSignals ?? true,
      stopTimeoutMs: opts.stopTimeoutMs ?? 3000,
    });
    registerLab(lab);
    const t0 = Date.now();
    try {
      await lab.#build(opts.setupNode);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      lab.logger.error('lab create failed, cleaning up', { prefix, error: err.message });
      await lab.destroy();
      throw new Error(`creating lab ${prefix}: ${err.message}`, { cause: err });
    }
    lab.logger.info('lab ready', { prefix, nodes: lab.nodes, ms: Date.now() - t0 });
    return lab;
  }

  /**
   * Deletes leftover namespaces: for a string, those named `${prefix}` or `${prefix}-…`; for a RegExp, those it
   * matches. Returns the names deleted. Processes still inside them are not touched.
   */
  static async sweep(prefix: string | RegExp, logger: Logger = silentLogger): Promise<string[]> {
    if (typeof prefix === 'string' && !PREFIX_RE.test(prefix)) {
      throw new Error(`lab sweep: bad prefix ${JSON.stringify(prefix)}`);
    }
    const match =
      typeof prefix === 'string' ? (n: string) => n === prefix || n.startsWith(`${prefix}-`) : (n: string) => prefix.test(n);
    const deleted: string[] = [];
    for (const ns of (await listNamespaces()).filter(match)) {
      try {
        await run('ip', ['netns', 'del', ns], { logger });
        deleted.push(ns);
        logger.info('swept namespace', { ns });
      } catch (e) {
        logger.warn('sweep: could not delete namespace', { ns, error: (e as Error).message });
      }
    }
    return deleted;
  }

  // ---- names and addresses ----

  get underlayNs(): string {
    return `${this.prefix}-ul`;
  }
  nodeNs(i: number): string {
    return `${this.prefix}-n${this.#check(i)}`;
  }
  podNs(i: number): string {
    return `${this.prefix}-p${this.#check(i)}`;
  }
  /** Node i's underlay address, 192.168.99.i. */
  underlayIP(i: number): string {
    return `192.168.99.${this.#check(i)}`;
  }
  /** Pod i's address: 10.244.i.2 or fd10:244:0:i::2. */
  podIP(i: number, family: Family = 4): string {
    this.#check(i);
    return family === 4 ? `10.244.${i}.2` : `fd10:244:0:${i}::2`;
  }
  /** The node-side gateway of pod i: 10.244.i.1 or fd10:244:0:i::1. */
  podGatewayIP(i: number, family: Family = 4): string {
    this.#check(i);
    return family === 4 ? `10.244.${i}.1` : `fd10:244:0:${i}::1`;
  }
  /** Node i's pod subnet: 10.244.i.0/24 or fd10:244:0:i::/64. */
  podCIDR(i: number, family: Family = 4): string {
    this.#check(i);
    return family === 4 ? `10.244.${i}.0/24` : `fd10:244:0:${i}::/64`;
  }
  /** The cluster pod networks covering every node's subnet. */
  podNetwork(family: Family = 4): string {
    return family === 4 ? '10.244.0.0/16' : 'fd10:244::/56';
  }
  /** Node i's own directory in the lab's temporary directory. */
  nodeDir(i: number): string {
    return join(this.dir, `node-${this.#check(i)}`);
  }
  /** Node i's subnet.env: the CNI delegate is rendered from it; a vxtun daemon on node i writes it again. */
  subnetEnvPath(i: number): string {
    return join(this.nodeDir(i), 'subnet.env');
  }
  /** The text the lab writes as node i's subnet.env (vxtun's formatSubnetEnv for the node's subnets). */
  subnetEnvText(i: number): string {
    return formatSubnetEnv({
      network: Cidr.parse(this.podNetwork(4)),
      ipv6Network: Cidr.parse(this.podNetwork(6)),
      podCIDRs: [Cidr.parse(this.podCIDR(i, 4)), Cidr.parse(this.podCIDR(i, 6))],
      mtu: this.podMTU,
      ipMasq: this.ipMasq,
    });
  }
  /** The flannel plugin's config on node i: kube-flannel's, with host-local's state in the node's directory. */
  flannelNetConf(i: number): FlannelNetConf {
    return { ...KUBE_FLANNEL_NETCONF, ipam: { dataDir: join(this.nodeDir(i), 'networks') } };
  }
  /** The delegate config node i's pods are made with, rendered from its subnet.env file as the flannel plugin does. */
  async renderedDelegate(i: number): Promise<Record<string, unknown>> {
    return renderDelegate(parseSubnetEnv(await readFile(this.subnetEnvPath(i), 'utf8')), this.flannelNetConf(i));
  }

  /**
   * Adds a pod to node i the way a kube-flannel node does (CNI ADD of the delegate rendered from the node's
   * subnet.env): namespace `${prefix}-NAME` (NAME 1–8 lowercase letters/digits starting with a letter, other than `ul`
   * or n<digits>; the standard pod i is p<i>), container id `${prefix}-NAME`. Returns the plugin's result; destroy()
   * runs DEL and removes the namespace.
   */
  async addPod(i: number, name: string): Promise<{ ns: string; result: CniResult }> {
    this.#check(i);
    if (!/^[a-z][a-z0-9]{0,7}$/.test(name) || name === 'ul' || /^n\d+$/.test(name)) {
      throw new Error(`lab addPod: bad pod name ${JSON.stringify(name)}`);
    }
    const ns = `${this.prefix}-${name}`;
    if (this.#created.includes(ns)) throw new Error(`lab addPod: ${ns} exists`);
    await this.#addNs(ns, []);
    return { ns, result: await this.#cniAdd(i, ns) };
  }

  async #cniAdd(i: number, podNs: string): Promise<CniResult> {
    const pod: CniPod = { nodeNs: this.nodeNs(i), podNs, containerId: podNs };
    const delegate = canonicalJson(await this.renderedDelegate(i));
    const result = await cniAdd(pod, delegate, this.#cniOptions(i));
    this.#pods.push({ node: i, pod });
    this.logger.debug('pod added by CNI', { pod: podNs, node: pod.nodeNs, ips: result.ips.map((x) => x.address).join(',') });
    return result;
  }

  #cniOptions(i: number): { stateDir: string; logger: Logger } {
    return { stateDir: join(this.nodeDir(i), 'flannel'), logger: this.logger };
  }

  /** Every namespace this lab created and still owns. */
  namespaces(): readonly string[] {
    return [...this.#created];
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }

  // ---- running things ----

  /** Runs a command to completion in a namespace (`ip netns exec`). */
  exec(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return nsExec(ns, cmd, args, { logger: this.logger, ...opts });
  }
  /** Runs `ip -n ns args…`. */
  ip(ns: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return ipIn(ns, args, { logger: this.logger, ...opts });
  }
  /** Starts a long-running process in a namespace; destroy() stops it. */
  spawn(ns: string, cmd: string, args: readonly string[], opts?: SpawnOptions): NsProcess {
    if (this.#destroyed || this.#destroying) throw new Error(`lab ${this.prefix} is destroyed`);
    const p = spawnInNs(ns, cmd, args, { logger: this.logger, ...opts });
    this.#processes.add(p);
    void p.exited.then(() => this.#processes.delete(p));
    return p;
  }

  /**
   * Adds a plain host on the underlay: namespace `${prefix}-${name}` whose eth0 (address `ip`/24, an unused
   * 192.168.99.X) is a port of the underlay bridge like a node's. `name` is 1–8 lowercase letters/digits starting
   * with a letter, other than `ul` or n<digits>/p<digits>. Returns the namespace; destroy() removes it.
   */
  async addHost(name: string, ip: string): Promise<string> {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(name) || name === 'ul' || /^[np]\d+$/.test(name)) {
      throw new Error(`lab addHost: bad host name ${JSON.stringify(name)}`);
    }
    const m = /^192\.168\.99\.(\d{1,3})$/.exec(ip);
    const x = m ? Number(m[1]) : NaN;
    if (!(x >= 1 && x <= 254) || x <= this.nodes) {
      throw new Error(`lab addHost: ${ip} is not a free underlay address (192.168.99.${this.nodes + 1}…254)`);
    }
    const ns = `${this.prefix}-${name}`;
    if (this.#created.includes(ns)) throw new Error(`lab addHost: ${ns} exists`);
    const ul = this.underlayNs;
    const port = `h${name}`;
    await this.#addNs(ns, []);
    await this.ip(ns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', ul]);
    await this.ip(ul, ['link', 'set', port, 'mtu', String(this.underlayMTU), 'master', 'br0', 'up']);
    await this.ip(ns, ['link', 'set', 'eth0', 'mtu', String(this.underlayMTU)]);
    await this.ip(ns, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await this.ip(ns, ['link', 'set', 'eth0', 'up']);
    return ns;
  }

  // ---- teardown ----

  /**
   * Stops every process started in the lab's namespaces (SIGTERM, then SIGKILL after stopTimeoutMs) and deletes
   * every namespace the lab created. Idempotent; never throws. Resolves with the errors met (also logged).
   */
  destroy(): Promise<readonly Error[]> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<readonly Error[]> {
    const errors: Error[] = [];
    const mine = new Set(this.#created);
    const procs = new Set<NsProcess>(this.#processes);
    for (const p of liveProcesses()) if (mine.has(p.ns)) procs.add(p);
    await Promise.all(
      [...procs].map(async (p) => {
        const info = await p.stop('SIGTERM', this.stopTimeoutMs);
        this.logger.debug('stopped', { ns: p.ns, pid: p.pid, command: p.command, ...info });
      }),
    );
    // CNI DEL of every pod while its node still exists, newest first (as a kubelet tears pods down).
    for (const entry of [...this.#pods].reverse()) {
      const { node, pod } = entry;
      try {
        await cniDel(pod, this.#cniOptions(node));
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        errors.push(err);
        this.logger.error('CNI DEL failed', { pod: pod.containerId, error: err.message });
      }
      this.#pods.splice(this.#pods.indexOf(entry), 1);
    }
    for (const ns of [...this.#created].reverse()) {
      try {
        const pids = (await run('ip', ['netns', 'pids', ns], { logger: this.logger })).stdout.trim();
        if (pids) this.logger.warn('processes not started by the lab remain in namespace', { ns, pids });
      } catch {
        // only diagnostics
      }
      try {
        await run('ip', ['netns', 'del', ns], { logger: this.logger });
        this.#forget(ns);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        if (!(await listNamespaces().catch(() => [ns])).includes(ns)) {
          this.#forget(ns); // already gone
        } else {
          errors.push(err);
          this.logger.error('could not delete namespace', { ns, error: err.message });
        }
      }
    }
    try {
      await rm(this.dir, { recursive: true, force: true });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      errors.push(err);
      this.logger.error('could not remove the lab directory', { dir: this.dir, error: err.message });
    }
    this.#destroyed = true;
    unregisterLab(this);
    if (errors.length === 0) this.logger.info('lab destroyed', { prefix: this.prefix });
    return errors;
  }

  /** Synchronous last-resort cleanup (process exit or a fatal signal): SIGKILL our processes, delete namespaces. */
  destroySync(): void {
    const mine = new Set(this.#created);
    for (const p of [...this.#processes, ...liveProcesses().filter((q) => mine.has(q.ns))]) {
      try {
        if (p.pid > 0 && p.running()) process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of [...this.#created].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // nothing more can be done while exiting
      }
      this.#forget(ns);
    }
    // No CNI DEL here (no time to wait for plugins): the pods' veths and cni0 go with the namespaces, host-local's
    // leases and the saved delegates with the directory.
    this.#pods.length = 0;
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // nothing more can be done while exiting
    }
    this.#destroyed = true;
    unregisterLab(this);
  }

  // ---- building ----

  #forget(ns: string): void {
    const k = this.#created.indexOf(ns);
    if (k >= 0) this.#created.splice(k, 1);
  }

  #check(i: number): number {
    if (!Number.isInteger(i) || i < 1 || i > this.nodes) {
      throw new RangeError(`lab ${this.prefix}: node index ${i} out of range 1…${this.nodes}`);
    }
    return i;
  }

  async #addNs(ns: string, sysctls: readonly string[]): Promise<void> {
    if (this.#destroying) throw new Error(`lab ${this.prefix} was destroyed during create`);
    await run('ip', ['netns', 'add', ns], { logger: this.logger });
    this.#created.push(ns);
    // No duplicate address detection: addresses are usable at once (this also covers link-local addresses).
    await this.exec(ns, 'sysctl', [
      '-q',
      '-w',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
      ...sysctls,
    ]);
    await this.ip(ns, ['link', 'set', 'lo', 'up']);
  }

  async #build(setupNode?: (lab: Lab, i: number) => Promise<void>): Promise<void> {
    const ul = this.underlayNs;
    await this.#addNs(ul, []);
    await this.ip(ul, ['link', 'add', 'br0', 'type', 'bridge']);
    await this.ip(ul, ['link', 'set', 'br0', 'mtu', String(this.underlayMTU), 'up']);
    // If br_netfilter is loaded, bridged underlay traffic must not go through iptables.
    await this.exec(ul, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0'], {
      okExitCodes: [0, 1, 255],
    }).catch(() => undefined);

    for (let i = 1; i <= this.nodes; i++) {
      const node = this.nodeNs(i);
      const pod = this.podNs(i);
      const ulPort = `n${i}`;
      await writeFileAtomic(this.subnetEnvPath(i), this.subnetEnvText(i));
      await this.#addNs(node, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      // The veth is created from inside the node namespace, its peer directly in the underlay namespace.
      await this.ip(node, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', ulPort, 'netns', ul]);
      await this.ip(ul, ['link', 'set', ulPort, 'mtu', String(this.underlayMTU), 'master', 'br0', 'up']);
      await this.ip(node, ['link', 'set', 'eth0', 'mtu', String(this.underlayMTU)]);
      await this.ip(node, ['addr', 'add', `${this.underlayIP(i)}/24`, 'dev', 'eth0']);
      await this.ip(node, ['link', 'set', 'eth0', 'up']);

      await this.#addNs(pod, []);
      await this.#addCniPod(i);
      if (setupNode) await setupNode(this, i);
    }
  }

  /** CNI ADD of pod i (namespace already made); its addresses must be the ones podIP/podGatewayIP promise. */
  async #addCniPod(i: number): Promise<void> {
    const result = await this.#cniAdd(i, this.podNs(i));
    const got = result.ips.map((x) => `${x.address} gw ${x.gateway ?? '-'}`).sort();
    const want = ([4, 6] as const).map((f) => `${this.podIP(i, f)}/${f === 4 ? 24 : 64} gw ${this.podGatewayIP(i, f)}`).sort();
    if (got.join(', ') !== want.join(', ')) {
      throw new Error(`CNI gave pod ${this.podNs(i)} ${got.join(', ') || 'no address'}; the lab expects ${want.join(', ')}`);
    }
  }
}

/** Names of all network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

// ---- cleanup when the process dies ----

const liveLabs = new Set<Lab>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let exitHookInstalled = false;
let signalHooksInstalled = false;

function onExit(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

function onSignal(sig: NodeJS.Signals): void {
  // Runs first (prepended). Removing ourselves before the other listeners run lets them see the process as it
  // would be without us (signal-exit, used by tap, re-raises only when it is the last listener).
  removeSignalHooks();
  for (const lab of [...liveLabs]) if (lab.handleSignals) lab.destroySync();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig); // default action: die by the signal
}

function registerLab(lab: Lab): void {
  liveLabs.add(lab);
  if (!exitHookInstalled) {
    process.on('exit', onExit);
    exitHookInstalled = true;
  }
  if (lab.handleSignals && !signalHooksInstalled) {
    for (const s of SIGNALS) process.prependListener(s, onSignal);
    signalHooksInstalled = true;
  }
}

function unregisterLab(lab: Lab): void {
  liveLabs.delete(lab);
  if (liveLabs.size === 0 && exitHookInstalled) {
    process.removeListener('exit', onExit);
    exitHookInstalled = false;
  }
  if (![...liveLabs].some((l) => l.handleSignals)) removeSignalHooks();
}

function removeSignalHooks(): void {
  if (!signalHooksInstalled) return;
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  signalHooksInstalled = false;
}
