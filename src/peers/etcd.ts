// The etcd peer source (README "etcd mode"): flannel's layout under `prefix` — the network in `<prefix>/config`, one
// lease per node under `<prefix>/subnets/`. local() reads the config and acquires our subnet (src/peers/etcd-subnets.ts);
// run() publishes our lease, renews it before it expires, and lists + watches the others into snapshots, relisting
// after any watch error; while etcd is away the last snapshot stands.
//
// Unlike flanneld, a node whose lease is deleted under it does not exit: it creates the same lease again (and when
// another node holds that subnet by then, logs an error and goes on forwarding, trying again now and then). Our lease
// is never deleted on stop (flannel keeps it too): a restart finds it by our PublicIP and keeps subnet and VTEP MAC.
import type { Cidr } from '../net/cidr.js';
import type { IP } from '../net/ip.js';
import { ipEquals } from '../net/ip.js';
import { randomMac } from '../net/mac.js';
import { clip, type Logger } from '../log.js';
import { backoffDelay, sleep, type BackoffPolicy } from './backoff.js';
import { SnapshotFilter } from './snapshot-filter.js';
import { diffPeers } from './diff.js';
import {
  leasePeer,
  leaseValue,
  parseLeaseAttrs,
  subnetsDir,
  type LeaseContext,
  type LeaseSubnets,
  type PeerVerdict,
} from './etcd-lease.js';
import { checkAgainstFile, parseNetworkConfig } from './etcd-network.js';
import type { FileOverlaySettings } from './etcd-section.js';
import type { EtcdKeyValue, EtcdStore, EtcdWatch, EtcdWatchError } from './etcd-store.js';
import { chooseLease } from './etcd-subnets.js';
import {
  AbortedError,
  type Advertisement,
  type LocalNode,
  type Peer,
  type PeerSource,
  type SourceState,
} from './peer-source.js';

export interface EtcdSourceOptions {
  store: EtcdStore;
  /** `peers.etcd.prefix`. */
  prefix: string;
  /** Our name in snapshots (others are named by their lease's subnet key, e.g. 10.244.1.0-24). */
  nodeName: string;
  /** What the config file set; `<prefix>/config` must agree (ConfigError naming both, e.g. `network`). */
  file: FileOverlaySettings;
  /** The config's vtepMAC: 'auto' reuses the one in our lease, else generates one. */
  vtepMAC: string | 'auto';
  /** We accept remote checksum offload: our lease says so (`"RemoteChecksum":true` in its backend data). */
  remoteChecksum?: boolean;
  /** Our underlay address(es), as the daemon will bind them (a ConfigError when none can be found). */
  underlay: () => Promise<{ publicIP: IP; publicIPv6?: IP }>;
  /** The subnets of our previous run (subnet.env's FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET), if any. */
  previousSubnets: () => Promise<{ v4?: Cidr; v6?: Cidr } | undefined>;
  logger: Logger;
  /** Lease TTL and renewal margin (flannel: 24 h and 1 h); tests shorten them. */
  ttlSeconds?: number;
  renewMarginSeconds?: number;
  /** Retry delays after an etcd error (relist, renew, local()); tests shorten them. */
  retry?: { initialMs: number; maxMs: number };
  random?: () => number;
}

/** flannel's lease TTL and renewal margin. */
export const DEFAULT_LEASE_TTL_SECONDS = 24 * 3600;
export const DEFAULT_RENEW_MARGIN_SECONDS = 3600;
/** flannel's retries of a lost creation race. */
export const RACE_TRIES = 10;
const DEFAULT_RETRY = { initialMs: 500, maxMs: 60_000 };
/**
 * Listing again after the watch ended: while etcd is away a list fails at once (connection refused) and costs it
 * nothing, so retry often enough that the table is current within about 2 s of etcd's return.
 */
const DEFAULT_RELIST = { initialMs: 250, maxMs: 1_500 };

export function etcdPeerSource(options: EtcdSourceOptions): PeerSource {
  return new EtcdSource(options);
}

/** A key that is not there (yet): etcd answered, so this is waiting, not an outage. */
class Missing extends Error {}

interface OwnLease {
  name: string;
  subnets: LeaseSubnets;
  /** The value last written (or being written), and what it was written from. */
  value: string;
  publicIP: IP;
  publicIPv6?: IP;
  vni: number;
  vtepMAC: string;
  remoteChecksum?: boolean;
  /** ms since the epoch. */
  expiresAt: number;
}

interface Known {
  value: string;
  verdict: PeerVerdict;
}

type KeeperTask = 'renew' | 'rewrite' | 'recreate';

class EtcdSource implements PeerSource {
  readonly kind = 'etcd';
  readonly #o: EtcdSourceOptions;
  readonly #log: Logger;
  readonly #dir: string;
  readonly #configKey: string;
  readonly #ttl: number;
  readonly #margin: number;
  readonly #retry: BackoffPolicy;
  readonly #relist: BackoffPolicy;
  readonly #random: () => number;

  #connected = false;
  #lastError: string | undefined;
  #waitingFor: string | undefined;
  #ctx: LeaseContext | undefined;
  #lease: OwnLease | undefined;
  #self: Advertisement | undefined;
  #selfPeer: Peer | undefined;
  #onSnapshot: ((peers: Peer[]) => void) | undefined;
  #listedOnce = false;
  readonly #table = new Map<string, Known>();
  /** Conflict resolution and the last snapshot delivered; a conflict is logged once (again when its reason changes). */
  readonly #snapshots = new SnapshotFilter((c) =>
    this.#log.warn('lease skipped: conflicting', { lease: c.node, reason: c.reason }),
  );

  #stopped = false;
  readonly #stopCtl = new AbortController();
  #task: KeeperTask | undefined;
  #wakeKeeper: (() => void) | undefined;
  #storeClosed: Promise<void> | undefined;

  constructor(o: EtcdSourceOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#dir = subnetsDir(o.prefix);
    this.#configKey = `${o.prefix}/config`;
    this.#ttl = o.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    this.#margin = Math.min(o.renewMarginSeconds ?? DEFAULT_RENEW_MARGIN_SECONDS, this.#ttl / 2);
    this.#retry = { ...(o.retry ?? DEFAULT_RETRY), jitter: 0.2 };
    this.#relist = { ...(o.retry ?? DEFAULT_RELIST), jitter: 0.2 };
    this.#random = o.random ?? Math.random;
  }

  state(): SourceState {
    let ok = 0;
    for (const [name, k] of this.#table) if (k.verdict.ok && !this.#snapshots.conflicted.has(name)) ok++;
    const conflicts = [...this.#snapshots.conflicted.values()];
    const l = this.#lease;
    return {
      connected: this.#connected,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      nodes: this.#table.size + 1,
      skipped: this.#table.size - ok,
      ...(conflicts.length > 0 ? { conflicts } : {}),
      ...(l ? { lease: { key: this.#dir + l.name, expires: new Date(l.expiresAt).toISOString() } } : {}),
    };
  }

  // ---- local(): the network config and our lease ----

  async local(signal: AbortSignal): Promise<LocalNode> {
    this.#bindSignal(signal);
    try {
      return await this.#acquire();
    } catch (err) {
      if (this.#stopped) throw new AbortedError();
      void this.#closeStore();
      throw err;
    }
  }

  async #acquire(): Promise<LocalNode> {
    const o = this.#o;
    const key = this.#configKey;
    const text = await this.#call(`read ${key}`, async () => {
      const v = await o.store.get(key);
      if (v === undefined) throw new Missing(`${key} does not exist`);
      return v;
    });
    const net = parseNetworkConfig(text, key);
    const overlay = checkAgainstFile(net, o.file, key);
    this.#ctx = { v4: net.subnets.v4, vni: overlay.vni, ...(net.subnets.v6 ? { v6: net.subnets.v6 } : {}) };
    const u = await o.underlay();
    const previous = await o.previousSubnets();
    this.#checkStopped();
    const exclude = new Set<string>();
    for (let tries = 0; ; tries++) {
      if (tries >= RACE_TRIES) {
        throw new Error(`could not acquire a subnet lease under ${this.#dir}: ${tries} tries lost a race`);
      }
      const list = await this.#call('list the subnet leases', () => o.store.list(this.#dir));
      const leases = this.#named(list.kvs);
      const c = chooseLease({
        leases,
        ranges: net.subnets,
        publicIP: u.publicIP,
        ...(previous ? { previous } : {}),
        exclude,
        random: this.#random,
      });
      for (const name of c.stale) {
        this.#log.warn('deleting our lease: it does not fit the network config', { lease: name, config: key });
        await this.#call('delete a stale lease', () => o.store.delete(this.#dir + name));
      }
      if (c.kind === 'full') {
        const r = net.subnets.v4;
        throw new Error(
          `no free subnet in ${r.min.toString()}..${r.max.toString()} (${key}: SubnetMin..SubnetMax); ${leases.length} leases exist`,
        );
      }
      const lease: OwnLease = {
        name: c.name,
        subnets: c.subnets,
        value: '',
        publicIP: u.publicIP,
        ...(u.publicIPv6 ? { publicIPv6: u.publicIPv6 } : {}),
        vni: overlay.vni,
        vtepMAC: o.vtepMAC !== 'auto' ? o.vtepMAC : (c.ownMAC ?? randomMac()),
        ...(o.remoteChecksum ? { remoteChecksum: true } : {}),
        expiresAt: 0,
      };
      lease.value = this.#valueOf(lease);
      const full = this.#dir + c.name;
      if (c.kind === 'reuse') {
        await this.#call('renew our lease', () => o.store.put(full, lease.value, this.#ttl));
        this.#log.info('reusing our subnet lease', { lease: c.name, vtepMAC: lease.vtepMAC });
      } else {
        const created = await this.#call('create our lease', () => o.store.create(full, lease.value, this.#ttl));
        if (!created) {
          this.#log.info('another node took that subnet first; trying another', { lease: c.name });
          exclude.add(c.name);
          continue;
        }
        this.#log.info('acquired a subnet lease', { lease: c.name, how: c.how, vtepMAC: lease.vtepMAC });
      }
      lease.expiresAt = Date.now() + this.#ttl * 1000;
      this.#lease = lease;
      const v6 = u.publicIPv6 ? { address6: { ip: u.publicIPv6 } } : {};
      return {
        podCIDRs: c.subnets.v6 ? [c.subnets.v4, c.subnets.v6] : [c.subnets.v4],
        vtepMAC: lease.vtepMAC,
        address: { ip: u.publicIP },
        ...v6,
        overlay,
      };
    }
  }

  // ---- run(): our lease kept, the others watched ----

  async run(signal: AbortSignal, self: Advertisement, onSnapshot: (peers: Peer[]) => void): Promise<void> {
    this.#bindSignal(signal);
    const lease = this.#lease;
    if (!lease || this.#stopped) {
      await this.#closeStore();
      return;
    }
    this.#self = self;
    this.#onSnapshot = onSnapshot;
    const selfPeer: Peer = {
      name: this.#o.nodeName,
      podCIDRs: this.#podCIDRs(),
      publicIP: self.publicIP,
      vtepMAC: self.vtepMAC,
    };
    if (self.publicIPv6) Object.assign(selfPeer, { publicIPv6: self.publicIPv6, vtepMACv6: self.vtepMAC });
    this.#selfPeer = selfPeer;
    const differs =
      self.vtepMAC !== lease.vtepMAC ||
      (self.remoteChecksum === true) !== (lease.remoteChecksum === true) ||
      self.vni !== lease.vni ||
      !ipEquals(self.publicIP, lease.publicIP) ||
      (self.publicIPv6 === undefined) !== (lease.publicIPv6 === undefined) ||
      (self.publicIPv6 !== undefined && lease.publicIPv6 !== undefined && !ipEquals(self.publicIPv6, lease.publicIPv6));
    if (differs) {
      this.#log.info('our lease differs from what we advertise; writing it again', { lease: lease.name });
      this.#task = 'rewrite';
    }
    const keeper = this.#keep();
    await this.#watch();
    await keeper;
    await this.#closeStore();
  }

  #podCIDRs(): Cidr[] {
    const s = this.#lease!.subnets;
    return s.v6 ? [s.v4, s.v6] : [s.v4];
  }

  /** Our lease's value from what we advertise (after run()) or what local() found. */
  #valueOf(l: OwnLease): string {
    return leaseValue({
      publicIP: l.publicIP,
      ...(l.publicIPv6 ? { publicIPv6: l.publicIPv6 } : {}),
      vni: l.vni,
      vtepMAC: l.vtepMAC,
      ...(l.remoteChecksum ? { remoteChecksum: true } : {}),
      v6: l.subnets.v6 !== undefined,
    });
  }

  /** Renews our lease before it expires; rewrites or re-creates it when the watch says so. */
  async #keep(): Promise<void> {
    let failures = 0;
    let retryAt: number | undefined;
    while (!this.#stopped) {
      const l = this.#lease!;
      const renewAt = l.expiresAt - this.#margin * 1000;
      const due = this.#task !== undefined ? (retryAt ?? 0) : Math.min(renewAt, retryAt ?? Infinity);
      const wait = due - Date.now();
      if (wait > 0) {
        await this.#keeperSleep(wait);
        continue;
      }
      const task = this.#task ?? 'renew';
      this.#task = undefined;
      const self = this.#self!;
      const next: OwnLease = {
        ...l,
        publicIP: self.publicIP,
        vni: self.vni,
        vtepMAC: self.vtepMAC,
      };
      if (self.remoteChecksum) next.remoteChecksum = true;
      else delete next.remoteChecksum;
      if (self.publicIPv6) next.publicIPv6 = self.publicIPv6;
      else delete next.publicIPv6;
      next.value = this.#valueOf(next);
      const key = this.#dir + l.name;
      try {
        this.#lease = { ...l, value: next.value }; // the watch sees our own write as ours
        if (task === 'recreate' && !(await this.#o.store.create(key, next.value, this.#ttl))) {
          const holder = await this.#o.store.get(key);
          if (holder === undefined) throw new Error(`${key} vanished while it was created again`);
          if (!this.#isOurs(holder)) {
            this.#heldByOther(holder);
            this.#task = 'recreate';
            retryAt = Date.now() + this.#retry.maxMs;
            continue;
          }
          await this.#o.store.put(key, next.value, this.#ttl); // ours after all (an earlier try got through)
        } else if (task !== 'recreate') {
          await this.#o.store.put(key, next.value, this.#ttl);
        }
        next.expiresAt = Date.now() + this.#ttl * 1000;
        this.#lease = next;
        failures = 0;
        retryAt = undefined;
        this.#answered();
        this.#log[task === 'renew' ? 'debug' : 'info'](
          task === 'renew'
            ? 'renewed our lease'
            : task === 'rewrite'
              ? 'wrote our lease again'
              : 're-created our lease',
          { lease: l.name, expires: new Date(next.expiresAt).toISOString() },
        );
      } catch (err) {
        if (this.#stopped) break;
        this.#failed(`${task} our lease`, err);
        this.#task ??= task;
        retryAt = Date.now() + backoffDelay(failures++, this.#retry, this.#random);
      }
    }
  }

  #keeperSleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeKeeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.#wakeKeeper = done;
    });
  }

  #kick(task: KeeperTask): void {
    if (this.#task !== 'recreate') this.#task = task;
    this.#wakeKeeper?.();
  }

  /** List, then watch from the list's revision + 1; after any watch error list again (backing off), until stopped. */
  async #watch(): Promise<void> {
    const store = this.#o.store;
    let failures = 0;
    while (!this.#stopped) {
      let list;
      try {
        list = await store.list(this.#dir);
      } catch (err) {
        if (this.#stopped) break;
        this.#failed('list the subnet leases', err);
        await sleep(backoffDelay(failures++, this.#relist, this.#random), this.#stopCtl.signal);
        continue;
      }
      if (this.#stopped) break;
      this.#answered();
      this.#replaceTable(list.kvs);
      const started = Date.now();
      let delivered = false;
      let w: EtcdWatch | undefined;
      const ended = await new Promise<EtcdWatchError | undefined>((resolve) => {
        const onStop = (): void => resolve(undefined);
        this.#stopCtl.signal.addEventListener('abort', onStop, { once: true });
        w = store.watch(this.#dir, list.revision + 1n, {
          events: (events) => {
            if (this.#stopped) return;
            delivered = true;
            for (const e of events) {
              if (!e.key.startsWith(this.#dir)) continue;
              const name = e.key.slice(this.#dir.length);
              if (e.type === 'put') this.#upsert(name, e.value);
              else this.#remove(name);
            }
            this.#flush(false);
          },
          error: (err) => {
            this.#stopCtl.signal.removeEventListener('abort', onStop);
            resolve(err);
          },
        });
        if (this.#stopped) resolve(undefined);
      });
      await w?.close().catch(() => {});
      if (this.#stopped || ended === undefined) break;
      if (delivered || Date.now() - started > this.#relist.maxMs) failures = 0;
      const delay = backoffDelay(failures++, this.#relist, this.#random);
      this.#log.warn('the etcd watch ended; listing again', {
        error: clip(ended.message),
        compacted: ended.compacted,
        retryInMs: delay,
      });
      if (!ended.compacted) this.#failed('watch the subnet leases', ended, true);
      await sleep(delay, this.#stopCtl.signal);
    }
  }

  // ---- the table ----

  #named(kvs: readonly EtcdKeyValue[]): { name: string; value: string }[] {
    const out: { name: string; value: string }[] = [];
    for (const kv of kvs)
      if (kv.key.startsWith(this.#dir)) out.push({ name: kv.key.slice(this.#dir.length), value: kv.value });
    return out;
  }

  #replaceTable(kvs: readonly EtcdKeyValue[]): void {
    const seen = new Set<string>();
    for (const { name, value } of this.#named(kvs)) {
      seen.add(name);
      this.#upsert(name, value);
    }
    for (const name of [...this.#table.keys()]) if (!seen.has(name)) this.#table.delete(name);
    if (!seen.has(this.#lease!.name)) this.#ownGone();
    const relist = this.#listedOnce;
    this.#listedOnce = true;
    const before = this.#snapshots.last;
    this.#flush(true);
    if (relist) {
      const d = diffPeers(before, this.#snapshots.last);
      this.#log.info('listed the subnet leases again', {
        leases: kvs.length,
        added: d.added.length,
        removed: d.removed.length,
        updated: d.updated.length,
      });
    }
  }

  #upsert(name: string, value: string): void {
    const own = this.#lease!;
    if (name === own.name) {
      if (value === own.value) return;
      if (this.#isOurs(value)) {
        this.#log.warn('our lease was changed by someone else; writing it again', { lease: name, value: clip(value) });
        this.#kick('rewrite');
      } else {
        this.#heldByOther(value);
      }
      return;
    }
    const before = this.#table.get(name);
    if (before?.value === value) return;
    const verdict = leasePeer(name, value, this.#ctx!);
    this.#table.set(name, { value, verdict });
    if (!verdict.ok) {
      const fields = { lease: clip(name), reason: verdict.reason };
      if (verdict.kind === 'foreign') this.#log.warn('lease skipped: not a vxlan peer of ours', fields);
      else this.#log.warn('lease skipped: malformed', fields);
    }
  }

  #remove(name: string): void {
    if (name === this.#lease!.name) return this.#ownGone();
    this.#table.delete(name);
  }

  /** Whether a value of our lease's key is ours: its PublicIP is our address (the way flannel finds its lease). */
  #isOurs(value: string): boolean {
    const v = parseLeaseAttrs(value);
    return v.ok && ipEquals(v.attrs.publicIP, this.#lease!.publicIP);
  }

  #heldByOther(value: string): void {
    this.#log.error('our subnet is held by another lease now; forwarding goes on with it', {
      lease: this.#lease!.name,
      holder: clip(value),
    });
  }

  #ownGone(): void {
    this.#log.warn('our lease was deleted; creating it again', { lease: this.#lease!.name });
    this.#kick('recreate');
  }

  #flush(force: boolean): void {
    if (this.#stopped || !this.#onSnapshot || !this.#selfPeer) return;
    const candidates: Peer[] = [this.#selfPeer];
    for (const k of this.#table.values()) if (k.verdict.ok) candidates.push(k.verdict.peer);
    const self = { self: this.#o.nodeName, selfCIDRs: this.#selfPeer.podCIDRs, selfMAC: this.#selfPeer.vtepMAC };
    const peers = this.#snapshots.next(candidates, self, force);
    if (peers === undefined) return;
    this.#onSnapshot(peers);
  }

  // ---- etcd calls, state, stop ----

  /** Calls `fn` until it answers, backing off, logging once per change of error; AbortedError when stopped. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.#checkStopped();
      try {
        const r = await fn();
        this.#checkStopped();
        this.#answered();
        this.#waitingFor = undefined;
        return r;
      } catch (err) {
        this.#checkStopped();
        if (err instanceof Missing) {
          this.#answered();
          if (this.#waitingFor !== err.message) this.#log.info('waiting for etcd', { reason: err.message });
          this.#waitingFor = err.message;
        } else {
          this.#failed(what, err);
        }
        await sleep(backoffDelay(attempt, this.#retry, this.#random), this.#stopCtl.signal);
      }
    }
  }

  #answered(): void {
    if (!this.#connected && this.#lastError !== undefined) this.#log.info('etcd answers again', {});
    this.#connected = true;
    this.#lastError = undefined;
  }

  #failed(what: string, err: unknown, quiet = false): void {
    const msg = clip(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    if (!quiet && (this.#connected || this.#lastError !== msg)) this.#log.warn('etcd unavailable', { error: msg });
    this.#connected = false;
    this.#lastError = msg;
  }

  #checkStopped(): void {
    if (this.#stopped) throw new AbortedError();
  }

  #bindSignal(signal: AbortSignal): void {
    const stop = (): void => {
      if (this.#stopped) return;
      this.#stopped = true;
      this.#stopCtl.abort();
      this.#wakeKeeper?.();
      if (!this.#onSnapshot) void this.#closeStore(); // run() closes it itself once its loops are done
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  }

  #closeStore(): Promise<void> {
    this.#storeClosed ??= this.#o.store.close().catch(() => {});
    return this.#storeClosed;
  }
}
