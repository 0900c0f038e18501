// A stand-in for nft, iptables and ip6tables (and their -restore forms) behind the ToolRunner seam: it records every
// call and keeps just enough state to answer like the tools do (vxtun's nft table present or not; per family,
// vxtun's iptables chain and the number of POSTROUTING jumps to it), so no test touches a real packet filter.
import { DataplaneError } from '../../src/errors.js';
import type { ToolRunner, ToolResult } from '../../src/run-tool.js';
import { IPT_CHAIN } from '../../src/masq/rules.js';

export interface ToolCall {
  cmd: string;
  args: string[];
  input?: string;
}

export interface FakeMasq {
  run: ToolRunner;
  calls: ToolCall[];
  /** vxtun's nft table: the script that created it, or null. */
  nftTable: string | null;
  /** Per iptables tool: the restore input that filled vxtun's chain (null: no chain) and the jumps to it. */
  ipt: Record<string, { chain: string | null; jumps: number }>;
}

export interface FakeMasqOptions {
  /** Installed tools (default: nft only). `iptables` also brings iptables-restore; `ip6tables` ip6tables-restore. */
  tools?: string[];
  /** A call for which this returns a result fails that way (e.g. the kernel refusing the rules). */
  fail?: (call: ToolCall) => ToolResult | undefined;
}

const ok = (stdout = ''): ToolResult => ({ status: 0, stdout, stderr: '' });
const absent = (): ToolResult => ({ status: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' });

export function fakeMasq(opts: FakeMasqOptions = {}): FakeMasq {
  const tools = new Set(opts.tools ?? ['nft']);
  const f: FakeMasq = { run: undefined as unknown as ToolRunner, calls: [], nftTable: null, ipt: {} };
  const iptState = (tool: string) => (f.ipt[tool] ??= { chain: null, jumps: 0 });
  f.run = async (cmd, args, input) => {
    const call: ToolCall = { cmd, args: [...args], ...(input !== undefined ? { input } : {}) };
    f.calls.push(call);
    const base = cmd.replace(/-restore$/, '');
    if (!tools.has(base)) throw new DataplaneError(`${cmd} is not installed`, 'ENOENT', 'exec');
    const failed = opts.fail?.(call);
    if (failed) return failed;
    if (args[0] === '--version') return ok(`${base} v1.0.0 (fake)\n`);
    if (cmd === 'nft') {
      // The scripts vxtun sends all start with "table …; delete table …" (remove); an apply goes on with a new table.
      f.nftTable = /\ntable inet vxtun \{/.test(input ?? '') ? input! : null;
      return ok();
    }
    const st = iptState(base);
    if (cmd.endsWith('-restore')) {
      st.chain = input ?? '';
      return ok();
    }
    const line = args.join(' ');
    if (line.includes(`-S ${IPT_CHAIN}`)) return st.chain === null ? absent() : ok(`-N ${IPT_CHAIN}\n`);
    if (line.includes('-C POSTROUTING')) return st.jumps > 0 ? ok() : absent();
    if (line.includes('-A POSTROUTING')) return st.chain === null ? absent() : (st.jumps++, ok());
    if (line.includes('-D POSTROUTING')) return st.jumps > 0 ? (st.jumps--, ok()) : absent();
    if (line.includes(`-F ${IPT_CHAIN}`)) return st.chain === null ? absent() : ok();
    if (line.includes(`-X ${IPT_CHAIN}`)) {
      if (st.chain === null || st.jumps > 0) return absent();
      st.chain = null;
      return ok();
    }
    throw new Error(`fake ${cmd}: unexpected arguments ${line}`);
  };
  return f;
}
