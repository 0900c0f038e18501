// Namespace and link plumbing for the lab: create, list, delete and sweep network namespaces, the underlay bridge,
// and the veth pair that puts a namespace's eth0 on that bridge. Every command runs inside a named namespace or
// manages namespaces by name (`ip netns …`); nothing is created in the caller's namespace.

import { execFileSync } from 'node:child_process';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { ipIn, nsExec, run } from './exec.js';

/** Names of all network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Creates namespace `ns` (calling `created` as soon as it exists, so a failure after that still removes it), turns
 * off duplicate address detection, applies `sysctls` (`key=value`) and brings `lo` up.
 */
export async function createNamespace(
  ns: string,
  sysctls: readonly string[],
  logger: Logger,
  created: (ns: string) => void,
): Promise<void> {
  await run('ip', ['netns', 'add', ns], { logger });
  created(ns);
  // No duplicate address detection: addresses are usable at once (this also covers link-local addresses).
  await nsExec(
    ns,
    'sysctl',
    ['-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0', ...sysctls],
    {
      logger,
    },
  );
  await ipIn(ns, ['link', 'set', 'lo', 'up'], { logger });
}

/**
 * Deletes namespace `ns`. Resolves with undefined when it is gone (deleted now, or already), else with the error.
 * Warns about processes still inside it.
 */
export async function deleteNamespace(ns: string, logger: Logger): Promise<Error | undefined> {
  try {
    const pids = (await run('ip', ['netns', 'pids', ns], { logger })).stdout.trim();
    if (pids) logger.warn('processes not started by the lab remain in namespace', { ns, pids });
  } catch {
    // only diagnostics
  }
  try {
    await run('ip', ['netns', 'del', ns], { logger });
    return undefined;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return (await listNamespaces().catch(() => [ns])).includes(ns) ? err : undefined;
  }
}

/** Deletes namespace `ns` synchronously (process exit); never throws. */
export function deleteNamespaceSync(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // nothing more can be done while exiting
  }
}

/** Deletes every namespace `match` accepts; returns the names deleted. Processes inside them are not touched. */
export async function sweepNamespaces(
  match: (ns: string) => boolean,
  logger: Logger = silentLogger,
): Promise<string[]> {
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

/** Creates bridge br0 (up, the given MTU) in the underlay namespace `ul`. */
export async function createUnderlayBridge(ul: string, mtu: number, logger: Logger): Promise<void> {
  await ipIn(ul, ['link', 'add', 'br0', 'type', 'bridge'], { logger });
  await ipIn(ul, ['link', 'set', 'br0', 'mtu', String(mtu), 'up'], { logger });
  // If br_netfilter is loaded, bridged underlay traffic must not go through iptables.
  await nsExec(
    ul,
    'sysctl',
    ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0'],
    {
      logger,
      okExitCodes: [0, 1, 255],
    },
  ).catch(() => undefined);
}

/**
 * Puts namespace `ns` on the underlay: a veth pair made from inside `ns` (eth0) whose peer, named `port`, is created
 * directly in `ul` and made a port of br0; both ends get `mtu`, and eth0 gets `cidrs` (e.g. 192.168.99.1/24 and, on a
 * dual underlay, fd99::1/64) and is up.
 */
export async function plugIntoUnderlay(
  ns: string,
  ul: string,
  port: string,
  mtu: number,
  cidrs: readonly string[],
  logger: Logger,
): Promise<void> {
  await ipIn(ns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', ul], { logger });
  await ipIn(ul, ['link', 'set', port, 'mtu', String(mtu), 'master', 'br0', 'up'], { logger });
  await ipIn(ns, ['link', 'set', 'eth0', 'mtu', String(mtu)], { logger });
  for (const cidr of cidrs) await ipIn(ns, ['addr', 'add', cidr, 'dev', 'eth0'], { logger });
  await ipIn(ns, ['link', 'set', 'eth0', 'up'], { logger });
}
