// The iptables backend, for nodes without nft: a chain of vxtun's own in each family's nat table (iptables,
// ip6tables), filled with `-restore --noflush` in one commit, and one jump to it from POSTROUTING that carries the
// comment "vxtun masq" (appended only when absent, so restarts never stack jumps). Exit status 1 from -S and -C
// means "no such chain / rule". A jump cannot outlive the chain it names, so a missing chain means nothing to remove.
import type { MasqBackend } from './backend.js';
import { IPT_CHAIN, iptablesJumpArgs, iptablesRestoreInput, type MasqFamily, type MasqRule } from './rules.js';
import { isMissingTool, toolError, type ToolRunner } from '../run-tool.js';

const TOOL: Record<MasqFamily, string> = { 4: 'iptables', 6: 'ip6tables' };
/** Wait this long (seconds) for the xtables lock, which kube-proxy takes often. */
const WAIT = ['-w', '10'];
/** Enough to remove jumps a foreign tool copied; vxtun itself never adds a second one. */
const kMaxJumps = 16;

export function iptablesBackend(run: ToolRunner): MasqBackend {
  const tool = async (family: MasqFamily, args: string[], okStatus: number[] = [0], input?: string) => {
    const cmd = input === undefined ? TOOL[family] : `${TOOL[family]}-restore`;
    const full = [...WAIT, ...args];
    const r = await run(cmd, full, input);
    if (!okStatus.includes(r.status)) throw toolError(cmd, full, r);
    return r.status;
  };

  const removeFamily = async (family: MasqFamily) => {
    if ((await tool(family, ['-t', 'nat', '-S', IPT_CHAIN], [0, 1])) === 1) return;
    for (let i = 0; i < kMaxJumps && (await tool(family, iptablesJumpArgs('-D'), [0, 1])) === 0; i++);
    await tool(family, ['-t', 'nat', '-F', IPT_CHAIN]);
    await tool(family, ['-t', 'nat', '-X', IPT_CHAIN]);
  };

  const removeIfInstalled = async (family: MasqFamily) => {
    try {
      await removeFamily(family);
    } catch (err) {
      if (!isMissingTool(err)) throw err; // no ip6tables: nothing of ours can be there
    }
  };

  return {
    name: 'iptables',
    async apply(rules: readonly MasqRule[]) {
      for (const family of [4, 6] as const) {
        if (!rules.some((r) => r.family === family)) {
          await removeIfInstalled(family); // left by a run that had this family's network
          continue;
        }
        await tool(family, ['--noflush'], [0], iptablesRestoreInput(rules, family));
        if ((await tool(family, iptablesJumpArgs('-C'), [0, 1])) === 1) await tool(family, iptablesJumpArgs('-A'));
      }
    },
    async remove() {
      for (const family of [4, 6] as const) await removeIfInstalled(family);
    },
  };
}
