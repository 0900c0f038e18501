// How vxtun runs the host's tools (ip, nft, iptables, ip6tables and their -restore forms): one function type,
// passed in wherever a tool is run, so unit tests hand in a recording fake and nothing touches the real host.
import { spawn } from 'node:child_process';
import { DataplaneError } from './errors.js';

export interface ToolResult {
  /** The exit status (a tool killed by a signal or the timeout counts as 128 + 1). */
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args…` with `input` on stdin and resolves with its exit status and output, whatever the status. Rejects
 * only when the tool cannot be started: DataplaneError with code ENOENT when it is not installed.
 */
export type ToolRunner = (cmd: string, args: readonly string[], input?: string) => Promise<ToolResult>;

/** Long, because iptables waits for the xtables lock that kube-proxy may hold (-w). */
const kToolTimeoutMs = 30_000;

export const runTool: ToolRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: kToolTimeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // a tool that exits without reading its input; the status says what happened
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new DataplaneError(`${cmd} is not installed`, 'ENOENT', 'exec'));
      else reject(new DataplaneError(`running ${cmd}: ${err.message}`, err.code, 'exec'));
    });
    child.once('close', (code) => resolve({ status: code ?? 129, stdout, stderr }));
    child.stdin.end(input ?? '');
  });

/** Whether `err` says the tool is not installed. */
export function isMissingTool(err: unknown): boolean {
  return err instanceof DataplaneError && err.code === 'ENOENT';
}

/** The error for a tool that ran and failed: the command and what it printed. */
export function toolError(cmd: string, args: readonly string[], r: ToolResult): DataplaneError {
  const detail = (r.stderr.trim() || r.stdout.trim() || `exit status ${r.status}`).split('\n').slice(0, 4).join('; ');
  return new DataplaneError(`${[cmd, ...args].join(' ')}: ${detail}`, undefined, cmd);
}
