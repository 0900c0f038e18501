// The kubernetes peer source (README "Running in a cluster"): every Node's pod CIDRs, public IP and VTEP MAC from a
// Node informer and flannel's annotations, and our own node's annotations and NetworkUnavailable condition.
//
//   local():  start the informer; wait until our Node is listed with a pod CIDR; take our stored VTEP MAC from our
//             backend-data (or backend-v6-data) annotation (so it survives restarts) and our InternalIPs as the
//             underlay hints, dual-stack as node-annotations.ts localUnderlay decides.
//   run():    patch our annotations (JSON merge patch) and condition (strategic merge patch), both through the
//             nodes/status subresource (deploy/rbac.yaml grants patch on nodes/status only),
//             retrying with backoff, and restoring the annotations if someone else changes them; deliver a full
//             snapshot after the list and after every change that matters, coalesced per event-loop turn.
//
// Snapshots are complete by construction: the first one follows a full list (nodes deleted while vxtun was down
// are simply absent), and a 410 relist removes what vanished meanwhile. A bad Node is logged once per reason and
// left out; it never stops the source.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';
import type { Cidr } from '../net/cidr.js';
import { clip, type Logger } from '../log.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { peerKey } from './diff.js';
import {
  annotationKeys,
  annotationsPatch,
  localUnderlay,
  networkAvailablePatch,
  nodePodCIDRs,
  ownAnnotations,
  parseNode,
  publicIPOverwrite,
  storedVtepMAC,
  trimNode,
  type NodeParseContext,
  type NodeVerdict,
} from './node-annotations.js';
import { abortOn, describeKubeError, NodeInformer, type NodeInformerOptions } from './node-informer.js';
import { SnapshotFilter } from './snapshot-filter.js';
import {
  AbortedError,
  type Advertisement,
  type LocalNode,
  type Peer,
  type PeerSource,
  type SourceState,
} from './peer-source.js';

export interface KubeSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  annotationPrefix: string;
  vni: number;
  network: Cidr;
  ipv6Network?: Cidr;
  logger: Logger;
  /** Informer tuning (backoff, page size, watch timeouts). */
  informer?: Omit<NodeInformerOptions, 'kubeConfig' | 'logger'>;
  /** Retries of our own patches. */
  patchBackoff?: BackoffPolicy;
  /** While waiting for our Node, say so this often. Default 30 s. */
  waitLogMs?: number;
  now?: () => Date;
}

interface Known {
  verdict: NodeVerdict;
  /** What the verdict amounts to for the table: a peer key or the skip reason. */
  key: string;
}

function createdAt(node: V1Node): number | undefined {
  const c = node.metadata?.creationTimestamp as Date | string | undefined;
  const ms = c === undefined ? NaN : new Date(c).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export function kubePeerSource(opts: KubeSourceOptions): PeerSource {
  return new KubeSource(opts);
}

class KubeSource implements PeerSource {
  readonly kind = 'kubernetes';
  readonly #o: KubeSourceOptions;
  readonly #log: Logger;
  readonly #ctx: NodeParseContext;
  readonly #core: CoreV1Api;
  readonly #informer: NodeInformer;
  readonly #known = new Map<string, Known>();
  readonly #created = new Map<string, number>();
  #ownCIDRs: Cidr[] = [];
  /** Conflict resolution and the last snapshot delivered; a conflict is logged once (again when its reason changes). */
  readonly #snapshots = new SnapshotFilter((c) =>
    this.#log.warn('node skipped: conflicting', { node: c.node, reason: c.reason }),
  );
  #synced = false;
  #flushPending = false;
  #onSnapshot: ((peers: Peer[]) => void) | undefined;
  /** Wakes local() and run() waiters on any change. */
  #wake: (() => void)[] = [];
  #self: Advertisement | undefined;
  #publishing = false;
  #publishAgain = false;
  #publishTimer: NodeJS.Timeout | undefined;
  #publishFailures = 0;
  #conditionSet = false;
  #stopped = false;
  /** Aborts our requests in flight (patches) on stop: nothing may outlive the source. */
  readonly #stopRequests = new AbortController();
  #flushForced = false;

  constructor(opts: KubeSourceOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#ctx = {
      keys: annotationKeys(opts.annotationPrefix),
      vni: opts.vni,
      network: opts.network,
      ipv6Network: opts.ipv6Network,
    };
    this.#core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#informer = new NodeInformer(
      {
        kubeConfig: opts.kubeConfig,
        logger: opts.logger,
        trim: (n) => trimNode(n, opts.annotationPrefix) as V1Node,
        ...opts.informer,
      },
      {
        upsert: (n) => this.#upsert(n),
        remove: (n) => this.#remove(n),
        listed: () => {
          this.#synced = true;
          this.#wakeAll();
          this.#scheduleFlush(true);
        },
      },
    );
  }

  state(): SourceState {
    const s = this.#informer.state;
    let ok = 0;
    for (const [name, k] of this.#known)
      if (k.verdict.ok && name !== this.#o.nodeName && !this.#snapshots.conflicted.has(name)) ok++;
    const others = this.#known.size - (this.#known.has(this.#o.nodeName) ? 1 : 0);
    const conflicts = [...this.#snapshots.conflicted.values()];
    return { ...s, nodes: this.#known.size, skipped: others - ok, ...(conflicts.length > 0 ? { conflicts } : {}) };
  }

  async local(signal: AbortSignal): Promise<LocalNode> {
    this.#bindSignal(signal);
    this.#informer.start();
    const name = this.#o.nodeName;
    const waitLogMs = this.#o.waitLogMs ?? 30_000;
    let lastLog = -Infinity;
    let lastReason = '';
    for (;;) {
      if (signal.aborted || this.#stopped) throw new AbortedError();
      const node = this.#informer.get(name);
      let reason: string;
      if (!this.#synced) {
        reason = 'the node list has not arrived yet';
      } else if (!node) {
        reason = 'no such Node';
      } else {
        const cidrs = nodePodCIDRs(node, this.#ctx);
        if (cidrs.ok) {
          this.#ownCIDRs = cidrs.value;
          const mac = storedVtepMAC(node, this.#ctx.keys);
          const where = localUnderlay(node, this.#ctx.keys, this.#o.ipv6Network);
          return { podCIDRs: cidrs.value, ...(mac ? { vtepMAC: mac } : {}), ...where };
        }
        if (cidrs.kind === 'malformed' && / is outside (network|ipv6Network) /.test(cidrs.reason)) {
          throw new ConfigError(
            cidrs.reason.includes('ipv6Network') ? 'ipv6Network' : 'network',
            `this node (${name}): ${cidrs.reason}`,
          );
        }
        reason = cidrs.reason;
      }
      const now = performance.now();
      if (reason !== lastReason || now - lastLog >= waitLogMs) {
        this.#log.info('waiting for this node in the kubernetes API', {
          node: name,
          reason: clip(reason),
          ...this.#informer.state,
        });
        lastLog = now;
        lastReason = reason;
      }
      await this.#changed(Math.min(waitLogMs, 5_000));
    }
  }

  async run(signal: AbortSignal, self: Advertisement, onSnapshot: (peers: Peer[]) => void): Promise<void> {
    this.#bindSignal(signal);
    this.#informer.start();
    this.#self = self;
    this.#onSnapshot = onSnapshot;
    // The first snapshot at once, before our own patches: forwarding needs the table, not the annotations.
    if (this.#synced) {
      this.#flushForced = true;
      this.#flush();
    }
    this.#publish();
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  // ---- informer events ----

  #upsert(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    const verdict = parseNode(node, this.#ctx);
    const key = verdict.ok
      ? `ok ${peerKey(verdict.peer)}${verdict.ignored ? ` ${verdict.ignored}` : ''}`
      : `${verdict.kind} ${verdict.reason}`;
    const before = this.#known.get(name);
    if (name === this.#o.nodeName) {
      this.#wakeAll();
      this.#checkOwnAnnotations(node);
    }
    if (before?.key === key) return; // a heartbeat or an unrelated change: nothing for the table
    if (this.#synced) this.#log.debug('node changed', { node: name });
    this.#known.set(name, { verdict, key });
    const created = createdAt(node);
    if (created !== undefined) this.#created.set(name, created);
    if (verdict.ok && verdict.ignored && name !== this.#o.nodeName) {
      this.#log.warn('node endpoint ignored: malformed', { node: name, reason: clip(verdict.ignored) });
    }
    if (!verdict.ok && name !== this.#o.nodeName) {
      const fields = { node: name, reason: clip(verdict.reason) };
      if (verdict.kind === 'pending') this.#log.debug('node not programmed yet', fields);
      else if (verdict.kind === 'foreign') this.#log.warn('node skipped: not a vxlan peer of ours', fields);
      else this.#log.warn('node skipped: malformed', fields);
    }
    this.#scheduleFlush(false);
  }

  #remove(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    this.#created.delete(name);
    const before = this.#known.get(name);
    if (!before) return;
    this.#known.delete(name);
    if (name === this.#o.nodeName) {
      this.#conditionSet = false; // a re-created Node needs the condition again
      this.#wakeAll();
    }
    this.#scheduleFlush(false);
  }

  // ---- snapshots ----

  /** One snapshot per event-loop turn, however many events arrived in it (a list delivers thousands at once). */
  #scheduleFlush(force: boolean): void {
    if (force) this.#flushForced = true;
    if (this.#flushPending) return;
    this.#flushPending = true;
    setImmediate(() => {
      this.#flushPending = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#stopped || !this.#synced || !this.#onSnapshot) return;
    const candidates: Peer[] = [];
    for (const k of this.#known.values()) if (k.verdict.ok) candidates.push(k.verdict.peer);
    // An identical snapshot is not delivered again, except after a list (the first one must always go out).
    const force = this.#flushForced;
    this.#flushForced = false;
    const conflictOptions = {
      self: this.#o.nodeName,
      selfCIDRs: this.#ownCIDRs,
      created: this.#created,
      ...(this.#self ? { selfMAC: this.#self.vtepMAC } : {}),
    };
    const peers = this.#snapshots.next(candidates, conflictOptions, force);
    if (peers === undefined) return;
    this.#onSnapshot(peers);
  }

  // ---- our own node ----

  #desiredAnnotations(node: V1Node | undefined): Record<string, string> | undefined {
    const self = this.#self;
    if (!self) return undefined;
    // The families we have: a dual-stack node both, a single-family one that of its address.
    const v4 = self.publicIP.family === 4 ? self.publicIP : undefined;
    const v6 = self.publicIP.family === 6 ? self.publicIP : self.publicIPv6;
    const over = (family: 4 | 6) => (node ? publicIPOverwrite(node, this.#ctx.keys, family) : undefined);
    return ownAnnotations(this.#ctx.keys, {
      vni: self.vni,
      vtepMAC: self.vtepMAC,
      ...(self.remoteChecksum ? { remoteChecksum: true } : {}),
      ...(v4 ? { publicIP: (over(4) ?? v4).text } : {}),
      ...(v6 ? { publicIPv6: (over(6) ?? v6).text } : {}),
    });
  }

  /**
   * Our Node changed: publish again if our annotations are not (or no longer) what they should be. A change that
   * arrives while a publish is in flight is looked at again once it is done (that publish read the Node before it).
   */
  #checkOwnAnnotations(node: V1Node): void {
    if (this.#publishing) {
      this.#publishAgain = true;
      return;
    }
    if (!this.#self || this.#publishTimer !== undefined) return;
    const desired = this.#desiredAnnotations(node);
    if (!this.#conditionSet || (desired && annotationsPatch(node, desired))) {
      this.#log.info('our node annotations changed; publishing them again', { node: this.#o.nodeName });
      this.#publish();
    }
  }

  #publish(): void {
    if (this.#stopped) return;
    if (this.#publishing) {
      this.#publishAgain = true;
      return;
    }
    this.#publishing = true;
    void this.#publishOnce().then(
      () => {
        this.#publishing = false;
        this.#publishFailures = 0;
        if (this.#publishAgain) {
          this.#publishAgain = false;
          this.#publish();
        }
      },
      (err: unknown) => {
        this.#publishing = false;
        if (this.#stopped) return;
        const delay = backoffDelay(this.#publishFailures++, this.#o.patchBackoff ?? DEFAULT_BACKOFF);
        this.#log.warn('could not publish our node annotations; retrying', {
          node: this.#o.nodeName,
          error: describeKubeError(err),
          retryInMs: delay,
        });
        this.#publishTimer = setTimeout(() => {
          this.#publishTimer = undefined;
          this.#publish();
        }, delay);
      },
    );
  }

  async #publishOnce(): Promise<void> {
    const name = this.#o.nodeName;
    const node = this.#informer.get(name);
    const desired = this.#desiredAnnotations(node);
    if (!desired) return;
    const body = annotationsPatch(node, desired);
    if (body) {
      // Through the status subresource, like flannel: vxtun's ClusterRole may patch nodes/status, not nodes.
      await this.#core.patchNodeStatus(
        { name, body },
        abortOn(this.#stopRequests.signal, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
      );
      this.#log.info('published our node annotations', { node: name, ...desired });
    }
    if (!this.#conditionSet) {
      const now = this.#o.now?.() ?? new Date();
      await this.#core.patchNodeStatus(
        { name, body: networkAvailablePatch(now) },
        abortOn(this.#stopRequests.signal, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)),
      );
      this.#conditionSet = true;
      this.#log.info('set NetworkUnavailable=False on our node', { node: name });
    }
  }

  // ---- plumbing ----

  #bindSignal(signal: AbortSignal): void {
    const stop = (): void => this.#stop();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#publishTimer);
    this.#stopRequests.abort();
    this.#informer.stop();
    this.#wakeAll();
  }

  #wakeAll(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  /** Resolves on the next change of our node (or any list), or after `ms`. */
  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.#wake.push(done);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
