// The nftables backend: vxtun's own table `inet vxtun`, replaced or removed in one `nft -f -` transaction each.
import type { MasqBackend } from './backend.js';
import { nftApplyScript, nftRemoveScript, type MasqRule } from './rules.js';
import { toolError, type ToolRunner } from '../run-tool.js';

export function nftBackend(run: ToolRunner): MasqBackend {
  const load = async (script: string) => {
    const args = ['-f', '-'];
    const r = await run('nft', args, script);
    if (r.status !== 0) throw toolError('nft', args, r);
  };
  return {
    name: 'nftables',
    apply: (rules: readonly MasqRule[]) => load(nftApplyScript(rules)),
    remove: () => load(nftRemoveScript()),
  };
}
