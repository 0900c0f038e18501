// DirectRouting's kernel side (README "DirectRouting"): keeps the main table's routes of DIRECT_ROUTE_PROTO equal to
// the plan of the last peer snapshot (direct-routes-plan.ts). Passes run one at a time; snapshots that arrive during
// a pass are coalesced into the next one (only the newest counts). The first pass, and the first after a failure,
// starts from what the kernel has of our proto, so a crashed run's leftovers are replaced or removed. A failed
// command is logged and retried by the next pass (the next snapshot, or retryMs later); it never stops the node.
import type { Config } from '../config/index.js';
import type { IpRunner } from '../device/device.js';
import type { Cidr } from '../net/cidr.js';
import { clip, type Logger } from '../log.js';
import type { Peer } from '../peers/peer-source.js';
import {
  directRouteArgs,
  listDirectArgs,
  parseDirectRoutes,
  sameRoute,
  DIRECT_ROUTE_PROTO,
  directSides,
  planDirectRoutes,
  type DirectRoute,
} from './direct-routes-plan.js';
import type { DirectNow } from './status-view.js';
import type { Underlay } from './underlay.js';

export interface DirectRoutes {
  /** Plans the routes of this snapshot (ourselves included or not) and applies them in the background. */
  update(peers: readonly Peer[]): void;
  /** The routes of ours in the kernel now, as far as the last pass knows, and the peers with at least one. */
  now(): DirectNow;
  /** Resolves when no pass is running or queued (tests). */
  idle(): Promise<void>;
  /**
   * Ends updates and waits for a running pass; with `removeRoutes`, then removes every route of our proto (a clean
   * stop; after a handover the successor keeps them: it computes the same set).
   */
  stop(o: { removeRoutes: boolean }): Promise<void>;
}

export interface DirectRoutesOptions {
  ip: IpRunner;
  logger: Logger;
  /** The routes a snapshot should have (planDirectRoutes bound to this node). */
  plan: (peers: readonly Peer[]) => DirectRoute[];
  /** After a pass with failures, another pass runs this much later if no snapshot came first (default 10 s). */
  retryMs?: number;
}

export function directRoutes(o: DirectRoutesOptions): DirectRoutes {
  const { ip, logger } = o;
  /** What the kernel has of our proto, by dst; valid while `known`. */
  let installed = new Map<string, DirectRoute>();
  let known = false;
  let wanted: DirectRoute[] | undefined; // the newest plan not yet applied
  let lastPlan: DirectRoute[] = [];
  let running: Promise<void> | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  const fail = (what: string, r: DirectRoute | undefined, err: unknown) => {
    known = false; // the next pass reads the kernel again
    logger.warn(`direct route: could not ${what}; retrying on the next update`, {
      ...(r ? { dst: r.dst, via: r.via, dev: r.dev } : {}),
      error: clip((err as Error).message),
    });
  };

  const readKernel = async (): Promise<boolean> => {
    const next = new Map<string, DirectRoute>();
    for (const f of [4, 6] as const) {
      try {
        for (const r of parseDirectRoutes(await ip(listDirectArgs(f)), f)) next.set(`${f} ${r.dst}`, r);
      } catch (err) {
        // No IPv6 in this namespace: nothing of ours can be there either.
        if (f === 6 && /not supported|Address family/i.test((err as Error).message)) continue;
        fail(`list the IPv${f} routes of proto ${DIRECT_ROUTE_PROTO}`, undefined, err);
        return false;
      }
    }
    installed = next;
    known = true;
    return true;
  };

  /** Makes the kernel's routes of our proto equal to `want`; true without failures. */
  const pass = async (want: DirectRoute[]): Promise<boolean> => {
    if (!known && !(await readKernel())) return false;
    let ok = true;
    const keep = new Set(want.map((r) => `${r.family} ${r.dst}`));
    for (const [key, r] of installed) {
      if (keep.has(key)) continue;
      try {
        await ip(directRouteArgs('del', r));
        logger.info('direct route removed', { dst: r.dst, via: r.via });
      } catch (err) {
        ok = false; // most often gone already; if not, the next pass finds it in the kernel and removes it
        fail('remove a route', r, err);
      }
      installed.delete(key);
    }
    for (const r of want) {
      const key = `${r.family} ${r.dst}`;
      const had = installed.get(key);
      if (had && sameRoute(had, r)) {
        installed.set(key, r); // keeps the peer's name
        continue;
      }
      try {
        await ip(directRouteArgs('replace', r));
        installed.set(key, r);
        logger.info('direct route', { dst: r.dst, via: r.via, dev: r.dev, peer: r.peer ?? null });
      } catch (err) {
        ok = false;
        fail('install a route', r, err);
      }
    }
    return ok;
  };

  const loop = async () => {
    while (wanted && !stopped) {
      const want = wanted;
      wanted = undefined;
      if (!(await pass(want)) && !stopped && !wanted) {
        clearTimeout(retry);
        retry = setTimeout(() => schedule(lastPlan), o.retryMs ?? 10_000);
        retry.unref();
      }
    }
    running = undefined;
  };

  const schedule = (want: DirectRoute[]) => {
    if (stopped) return;
    wanted = want;
    running ??= loop();
  };

  return {
    update(peers) {
      clearTimeout(retry);
      lastPlan = o.plan(peers);
      schedule(lastPlan);
    },
    now() {
      const peers = new Set<string>();
      for (const r of installed.values()) if (r.peer !== undefined) peers.add(r.peer);
      return { routes: installed.size, peers };
    },
    async idle() {
      while (running) await running;
    },
    async stop({ removeRoutes }) {
      stopped = true;
      wanted = undefined;
      clearTimeout(retry);
      while (running) await running;
      if (!removeRoutes) return;
      known = false; // whatever the kernel has of our proto goes, a crashed run's included
      await pass([]);
    },
  };
}

/** The node's direct routes when config.dataplane.directRouting (the settled config) is on; undefined when off. */
export function directRoutesFor(o: {
  config: Config;
  underlay: Underlay;
  podCIDRs: readonly Cidr[];
  ip: IpRunner;
  logger: Logger;
}): DirectRoutes | undefined {
  if (!o.config.dataplane.directRouting) return undefined;
  const sides = directSides(o.underlay);
  const self = o.config.nodeName;
  return directRoutes({
    ip: o.ip,
    logger: o.logger,
    plan: (peers) => planDirectRoutes(peers, self, sides, o.podCIDRs),
  });
}
