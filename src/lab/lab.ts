// The standard testbed: an underlay bridge namespace, N "node" namespaces on it, and one "pod" namespace behind
// each node, made as a kube-flannel node makes its pods: the lab writes the node's subnet.env (with vxtun's own
// formatSubnetEnv, as vxtun or flanneld would), renders the flannel CNI plugin's delegate from it
// (cni-delegate.ts) and runs the real `bridge` + `host-local` plugins in the node's namespace (cni.ts).
// Everything lives in namespaces named `${prefix}-…` and in the lab's own temporary directory; nothing is created in
// the caller's namespace.
//
//   ${prefix}-ul   br0 ── n1, n2, … (veth peers of each node's eth0)
//   ${prefix}-nI   eth0 192.168.99.I/24 (or fd99::I/64 only, underlay 6; both, underlay 'dual') · cni0 10.244.I.1/24, fd10:244:0:I::1/64 (bridge, one veth per pod) · forwarding on
//   ${prefix}-pI   eth0 10.244.I.2/24, fd10:244:0:I::2/64 · default routes via cni0 (CNI ADD, container id ${prefix}-pI)
//   ${prefix}-NAME eth0 192.168.99.X/24 or fd99::X/64 (lab.addHost: another host on the underlay, e.g. a rogue one)
//
//   <lab dir>/node-I/subnet.env        the node's subnet.env (startVxtunNode points the daemon's subnetFile here)
//   <lab dir>/node-I/flannel/<cid>     the rendered delegate saved by ADD, replayed by DEL (as /var/lib/cni/flannel)
//   <lab dir>/node-I/networks/cbr0/    host-local's leases (ipam.dataDir instead of /var/lib/cni/networks)
//
// This file holds the Lab class (building, names and addresses, running things); its options are lab-options.ts,
// the namespace and link plumbing namespaces.ts, what it owns and the teardown lab-resources.ts, and the cleanup on
// process exit exit-hooks.ts.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { writeFileAtomic } from '../device/subnet-file.js';
import { cniAdd, type CniPod, type CniResult } from './cni.js';
import {
  canonicalJson,
  KUBE_FLANNEL_NETCONF,
  parseSubnetEnv,
  renderDelegate,
  type FlannelNetConf,
} from './cni-delegate.js';
import { registerLab, unregisterLab } from './exit-hooks.js';
import * as addr from './lab-addresses.js';
import {
  isExtraName,
  resolveLabOptions,
  sweepMatcher,
  underlayFamilies,
  type Family,
  type LabOptions,
  type ResolvedLabOptions,
  type Underlay,
} from './lab-options.js';
import { LabResources } from './lab-resources.js';
import { createNamespace, createUnderlayBridge, plugIntoUnderlay, sweepNamespaces } from './namespaces.js';
import { missingCniPlugins } from './preflight.js';
import { ipIn, nsExec, spawnInNs, type NsProcess, type RunOptions, type RunResult, type SpawnOptions } from './exec.js';

export type { Family, LabOptions, Underlay } from './lab-options.js';
export { underlayFamilies, vxlanOverhead } from './lab-options.js';
export { listNamespaces } from './namespaces.js';

/** A running testbed. Build with `Lab.create`, always finish with `destroy()`. */
export class Lab {
  readonly prefix: string;
  readonly nodes: number;
  readonly logger: Logger;
  /**
   * The underlay: 4 (192.168.99.0/24), 6 (fd99::/64, no IPv4 on the node links) or 'dual' (both on every node link).
   */
  readonly underlay: Underlay;
  /** The underlay's address families, IPv4 first; the first is the default family of underlayIP and friends. */
  readonly underlayFamilies: readonly Family[];
  readonly underlayMTU: number;
  readonly podMTU: number;
  readonly ipMasq: boolean;
  /** The lab's own temporary directory (node-I/ below it); removed by destroy() and destroySync(). */
  readonly dir: string;
  readonly handleSignals: boolean;
  readonly stopTimeoutMs: number;
  /** The namespaces, processes and pods this lab owns and has not let go yet. */
  readonly #owned = new LabResources();
  #destroying: Promise<readonly Error[]> | undefined;
  #destroyed = false;

  private constructor(opts: ResolvedLabOptions & { dir: string }) {
    this.prefix = opts.prefix;
    this.nodes = opts.nodes;
    this.logger = opts.logger;
    this.underlay = opts.underlay;
    this.underlayFamilies = underlayFamilies(opts.underlay);
    this.underlayMTU = opts.underlayMTU;
    this.podMTU = opts.podMTU;
    this.ipMasq = opts.ipMasq;
    this.dir = opts.dir;
    this.handleSignals = opts.handleSignals;
    this.stopTimeoutMs = opts.stopTimeoutMs;
  }

  /** Builds the topology. On any failure everything created so far is removed and the error is rethrown. */
  static async create(opts: LabOptions): Promise<Lab> {
    const resolved = resolveLabOptions(opts, () => `vxt${randomBytes(3).toString('hex')}`);
    const { prefix } = resolved;
    const missing = missingCniPlugins();
    if (missing) throw new Error(`lab: ${missing}`);
    const lab = new Lab({ ...resolved, dir: mkdtempSync(join(tmpdir(), `vxtun-lab-${prefix}-`)) });
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
    return sweepNamespaces(sweepMatcher(prefix), logger);
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
  /**
   * Node i's underlay address of `family` (default the lab's first: IPv4 unless the underlay is IPv6 only):
   * 192.168.99.i or fd99::i. A family the underlay does not have throws.
   */
  underlayIP(i: number, family?: Family): string {
    return addr.underlayIP(this.#check(i), this.#family(family));
  }
  /** Node i's underlay address with its prefix length: 192.168.99.i/24 or fd99::i/64. */
  underlayCIDR(i: number, family?: Family): string {
    const f = this.#family(family);
    return `${this.underlayIP(i, f)}/${addr.underlayPrefixLen(f)}`;
  }
  /** The underlay network of the lab's first family: 192.168.99.0/24 or fd99::/64. */
  get underlayNetwork(): string {
    return addr.underlayNetwork(this.#family(undefined));
  }
  /** Pod i's address: 10.244.i.2 or fd10:244:0:i::2. */
  podIP(i: number, family: Family = 4): string {
    return addr.podIP(this.#check(i), family);
  }
  /** The node-side gateway of pod i: 10.244.i.1 or fd10:244:0:i::1. */
  podGatewayIP(i: number, family: Family = 4): string {
    return addr.podGatewayIP(this.#check(i), family);
  }
  /** Node i's pod subnet: 10.244.i.0/24 or fd10:244:0:i::/64. */
  podCIDR(i: number, family: Family = 4): string {
    return addr.podCIDR(this.#check(i), family);
  }
  /** The cluster pod networks covering every node's subnet. */
  podNetwork(family: Family = 4): string {
    return addr.podNetwork(family);
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
    return addr.subnetEnvText(this.#check(i), this.podMTU, this.ipMasq);
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
    if (!isExtraName(name, false)) throw new Error(`lab addPod: bad pod name ${JSON.stringify(name)}`);
    const ns = `${this.prefix}-${name}`;
    if (this.#owned.namespaces.includes(ns)) throw new Error(`lab addPod: ${ns} exists`);
    await this.#addNs(ns, []);
    return { ns, result: await this.#cniAdd(i, ns) };
  }

  async #cniAdd(i: number, podNs: string): Promise<CniResult> {
    const pod: CniPod = { nodeNs: this.nodeNs(i), podNs, containerId: podNs };
    const delegate = canonicalJson(await this.renderedDelegate(i));
    const result = await cniAdd(pod, delegate, this.#cniOptions(i));
    this.#owned.pods.push({ node: i, pod });
    this.logger.debug('pod added by CNI', {
      pod: podNs,
      node: pod.nodeNs,
      ips: result.ips.map((x) => x.address).join(','),
    });
    return result;
  }

  #cniOptions(i: number): { stateDir: string; logger: Logger } {
    return { stateDir: join(this.nodeDir(i), 'flannel'), logger: this.logger };
  }

  /** Every namespace this lab created and still owns. */
  namespaces(): readonly string[] {
    return [...this.#owned.namespaces];
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
    this.#owned.processes.add(p);
    void p.exited.then(() => this.#owned.processes.delete(p));
    return p;
  }

  /**
   * Adds a plain host on the underlay: namespace `${prefix}-${name}` whose eth0 (address `ip`, an unused
   * 192.168.99.X/24, or fd99::X/64 on an IPv6 or dual underlay: lab-addresses.ts hostAddressProblem) is a port of the
   * underlay bridge like a node's. `name` is 1–8 lowercase letters/digits starting with a letter, other than `ul` or
   * n<digits>/p<digits>. Returns the namespace; destroy() removes it.
   */
  async addHost(name: string, ip: string): Promise<string> {
    if (!isExtraName(name, true)) throw new Error(`lab addHost: bad host name ${JSON.stringify(name)}`);
    const family = addr.familyOf(ip) ?? this.#family(undefined);
    if (!this.underlayFamilies.includes(family)) {
      throw new Error(`lab addHost: ${ip} is IPv${family} but the lab's underlay is IPv${this.underlayFamilies[0]}`);
    }
    const problem = addr.hostAddressProblem(ip, this.nodes, family);
    if (problem) throw new Error(`lab addHost: ${problem}`);
    const ns = `${this.prefix}-${name}`;
    if (this.#owned.namespaces.includes(ns)) throw new Error(`lab addHost: ${ns} exists`);
    await this.#addNs(ns, []);
    const cidr = `${ip}/${addr.underlayPrefixLen(family)}`;
    await plugIntoUnderlay(ns, this.underlayNs, `h${name}`, this.underlayMTU, [cidr], this.logger);
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
    const errors = await this.#owned.release({
      logger: this.logger,
      stopTimeoutMs: this.stopTimeoutMs,
      cniOptions: (node) => this.#cniOptions(node),
      dir: this.dir,
    });
    this.#destroyed = true;
    unregisterLab(this);
    if (errors.length === 0) this.logger.info('lab destroyed', { prefix: this.prefix });
    return errors;
  }

  /** Synchronous last-resort cleanup (process exit or a fatal signal): SIGKILL our processes, delete namespaces. */
  destroySync(): void {
    this.#owned.releaseSync(this.dir);
    this.#destroyed = true;
    unregisterLab(this);
  }

  // ---- building ----

  #check(i: number): number {
    if (!Number.isInteger(i) || i < 1 || i > this.nodes) {
      throw new RangeError(`lab ${this.prefix}: node index ${i} out of range 1…${this.nodes}`);
    }
    return i;
  }

  /** `family`, or the lab's first underlay family; throws for a family the underlay does not have. */
  #family(family: Family | undefined): Family {
    const f = family ?? this.underlayFamilies[0]!;
    if (!this.underlayFamilies.includes(f)) {
      throw new RangeError(`lab ${this.prefix}: the underlay (${String(this.underlay)}) has no IPv${f}`);
    }
    return f;
  }

  async #addNs(ns: string, sysctls: readonly string[]): Promise<void> {
    if (this.#destroying) throw new Error(`lab ${this.prefix} was destroyed during create`);
    await createNamespace(ns, sysctls, this.logger, (created) => this.#owned.namespaces.push(created));
  }

  async #build(setupNode?: (lab: Lab, i: number) => Promise<void>): Promise<void> {
    const ul = this.underlayNs;
    await this.#addNs(ul, []);
    await createUnderlayBridge(ul, this.underlayMTU, this.logger);

    for (let i = 1; i <= this.nodes; i++) {
      const node = this.nodeNs(i);
      const pod = this.podNs(i);
      await writeFileAtomic(this.subnetEnvPath(i), this.subnetEnvText(i));
      await this.#addNs(node, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      const cidrs = this.underlayFamilies.map((f) => this.underlayCIDR(i, f));
      await plugIntoUnderlay(node, ul, `n${i}`, this.underlayMTU, cidrs, this.logger);

      await this.#addNs(pod, []);
      await this.#addCniPod(i);
      if (setupNode) await setupNode(this, i);
    }
  }

  /** CNI ADD of pod i (namespace already made); its addresses must be the ones podIP/podGatewayIP promise. */
  async #addCniPod(i: number): Promise<void> {
    const result = await this.#cniAdd(i, this.podNs(i));
    const mismatch = addr.podAddressMismatch(i, this.podNs(i), result);
    if (mismatch) throw new Error(mismatch);
  }
}
