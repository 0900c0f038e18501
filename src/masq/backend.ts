// What a masquerade backend does: replace vxtun's rules with a rule set, and remove them. Neither ever touches a
// table, chain or rule that is not vxtun's (src/masq/rules.ts names them).
import type { MasqRule } from './rules.js';

export type MasqBackendName = 'nftables' | 'iptables';

export interface MasqBackend {
  readonly name: MasqBackendName;
  /** Installs `rules` in place of whatever vxtun installed before (idempotent; a stale set is replaced). */
  apply(rules: readonly MasqRule[]): Promise<void>;
  /** Removes every rule vxtun installed, of both families; nothing happens when there are none. */
  remove(): Promise<void>;
}
