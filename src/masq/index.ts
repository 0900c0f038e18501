// ipMasq for the daemon: which backend (nftables where `nft` is installed, else iptables), installing the rule set
// of src/masq/rules.ts at start, removing it on stop. With ipMasq false nothing is installed, but a rule set a
// previous run left (ipMasq was true and the process died) is removed, so turning ipMasq off takes effect on restart.
//
// The rules depend on the cluster networks and this node's own pod subnets only. Both are fixed for the daemon's
// lifetime (config; and a Node's podCIDRs, which the kubernetes source reads once, before the device exists), so
// the set is installed once per start and never needs re-applying while the daemon runs.
import { DataplaneError, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import type { MasqBackend, MasqBackendName } from './backend.js';
import { iptablesBackend } from './iptables.js';
import { nftBackend } from './nft.js';
import { masqRules, type MasqInput } from './rules.js';
import { isMissingTool, type ToolRunner } from '../run-tool.js';

export interface MasqChoice {
  backend: MasqBackend;
  /** The tool's `--version` line, for the log. */
  version: string;
}

/** Prefers nftables; iptables only where `nft` is not installed. Null when neither is. */
export async function chooseMasqBackend(run: ToolRunner): Promise<MasqChoice | null> {
  const candidates: [string, (r: ToolRunner) => MasqBackend][] = [
    ['nft', nftBackend],
    ['iptables', iptablesBackend],
  ];
  for (const [cmd, make] of candidates) {
    try {
      const r = await run(cmd, ['--version']);
      return { backend: make(run), version: (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '' };
    } catch (err) {
      if (!isMissingTool(err)) throw err;
    }
  }
  return null;
}

/** What /status reports. */
export interface MasqState {
  enabled: boolean;
  /** The backend holding vxtun's rules; null when ipMasq is false. */
  backend: MasqBackendName | null;
}

export interface Masq {
  readonly state: MasqState;
  /** Removes the rules (once; later calls do nothing). A failure is logged, never thrown: the daemon is stopping. */
  stop(): Promise<void>;
}

export interface MasqOptions extends MasqInput {
  enabled: boolean;
}

const off: Masq = { state: { enabled: false, backend: null }, stop: async () => {} };

/**
 * Sets masquerading up as `opts.enabled` says. Enabled: throws DataplaneError when no backend is installed or the
 * kernel refuses the rules, after removing whatever part was installed. Disabled: never throws.
 */
export async function startMasq(run: ToolRunner, opts: MasqOptions, logger: Logger): Promise<Masq> {
  let choice: MasqChoice | null;
  try {
    choice = await chooseMasqBackend(run);
  } catch (err) {
    if (!opts.enabled) {
      logger.warn('ipMasq: could not look for nft or iptables to remove stale rules', {
        error: (err as Error).message,
      });
      return off;
    }
    throw withContext('ipMasq', err);
  }
  if (!opts.enabled) {
    if (choice) {
      await choice.backend.remove().then(
        () => logger.debug('ipMasq is false: no masquerade rules of vxtun remain', { backend: choice.backend.name }),
        (err: unknown) =>
          logger.warn('ipMasq is false, but masquerade rules a previous run left could not be removed', {
            backend: choice.backend.name,
            error: (err as Error).message,
          }),
      );
    }
    return off;
  }
  if (!choice) {
    throw new DataplaneError(
      'ipMasq is true but neither nft (nftables) nor iptables is installed: install nftables, or set ipMasq to false ' +
        'to leave masquerading to the CNI bridge',
      'ENOENT',
      'exec',
    );
  }
  const { backend, version } = choice;
  const rules = masqRules(opts);
  try {
    await backend.apply(rules);
  } catch (err) {
    await backend.remove().catch(() => {}); // whatever part was installed (iptables: one family); nft applied nothing
    throw withContext(`ipMasq: installing masquerade rules with ${backend.name}`, err);
  }
  logger.info('masquerading what leaves the cluster network', {
    backend: backend.name,
    version,
    network: opts.network.toString(),
    ...(opts.ipv6Network ? { ipv6Network: opts.ipv6Network.toString() } : {}),
    rules: rules.length,
  });
  let stopped = false;
  return {
    state: { enabled: true, backend: backend.name },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await backend.remove();
        logger.info('masquerade rules removed', { backend: backend.name });
      } catch (err) {
        logger.warn('could not remove the masquerade rules', { backend: backend.name, error: (err as Error).message });
      }
    },
  };
}

export type { MasqBackend, MasqBackendName } from './backend.js';
