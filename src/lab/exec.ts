// Command execution for the testbed: run a program and collect its output, run it inside a network
// namespace, or start a long-running process there and stop it again by PID.
//
// Nothing here goes through a shell: every command is an argv array handed to execFile/spawn.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';

export interface RunOptions {
  /** Kill the command (SIGKILL) and reject after this many milliseconds. Default 30 000; 0 disables. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** Exit codes that count as success (default [0]). The result then carries the code. */
  okExitCodes?: readonly number[];
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code (always one of `okExitCodes`). */
  code: number;
}

/** A command that could not be started, exited with a code not in `okExitCodes`, was killed or timed out. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly cmd: string,
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Renders argv for messages: words as they are, anything else JSON-quoted. */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w.,:/@%+=-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

const MAX_BUFFER = 64 * 1024 * 1024;

/** Runs `cmd args…` to completion. Rejects with a CommandError naming the command and quoting its stderr. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ok = opts.okExitCodes ?? [0];
  const log = opts.logger ?? silentLogger;
  const shown = formatCommand(cmd, args);
  log.debug('exec', { cmd: shown });
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        timeout: timeoutMs > 0 ? timeoutMs : 0,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_BUFFER,
        env: opts.env,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr, code: 0 });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string | null };
        if (typeof e.code === 'number' && ok.includes(e.code)) {
          resolve({ stdout, stderr, code: e.code });
          return;
        }
        let why: string;
        if (typeof e.code === 'string')
          why = `could not start: ${e.code}`; // ENOENT, EACCES…
        else if (e.killed && timeoutMs > 0) why = `timed out after ${timeoutMs} ms`;
        else if (e.signal) why = `killed by ${e.signal}`;
        else if (typeof e.code === 'number') why = `exited with code ${e.code}`;
        else why = e.message;
        const detail = stderr.trim() || stdout.trim();
        reject(
          new CommandError(
            `\`${shown}\` ${why}${detail ? `: ${truncate(detail, 2000)}` : ''}`,
            cmd,
            args,
            typeof e.code === 'number' ? e.code : null,
            stdout,
            stderr,
          ),
        );
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs `cmd args…` inside network namespace `ns` (`ip netns exec ns cmd args…`). */
export function nsExec(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Runs `ip -n ns args…` (an ip(8) command applied to namespace `ns`, without remounting /sys). */
export function ipIn(ns: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return run('ip', ['-n', ns, ...args], opts);
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** 'pipe' keeps stdin open for writing through `child.stdin`; default 'ignore'. */
  stdin?: 'pipe' | 'ignore';
  /** How much of stdout and of stderr to keep (the tail), in characters. Default 1 MiB each. */
  maxOutput?: number;
  logger?: Logger;
}

/** A process started in a namespace. It is tracked until it exits, so a Lab can stop it on teardown. */
export interface NsProcess {
  readonly ns: string;
  readonly pid: number;
  /** The command line, for messages. */
  readonly command: string;
  readonly child: ChildProcess;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Exit status once exited, else null. */
  readonly exitInfo: ExitInfo | null;
  /** Collected stdout / stderr text so far (the last `maxOutput` characters). */
  stdout(): string;
  stderr(): string;
  running(): boolean;
  /** Resolves with the text collected so far once stdout+stderr match `pattern`; rejects on timeout or exit. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Sends `signal` to the PID, waits up to `timeoutMs` for exit, then SIGKILLs. Idempotent; resolves with the
   * exit status (never rejects).
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
}

const live = new Set<NsProcess>();

/** Processes started by spawnInNs that have not exited yet (used by Lab teardown and crash cleanup). */
export function liveProcesses(): readonly NsProcess[] {
  return [...live];
}

/**
 * Starts `cmd args…` inside namespace `ns` (via `ip netns exec`, which execs the command in place, so the PID is
 * the command's own). Output is collected for diagnostics.
 */
export function spawnInNs(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): NsProcess {
  const argv = ['netns', 'exec', ns, cmd, ...args];
  const command = formatCommand(cmd, args);
  const log = opts.logger ?? silentLogger;
  const max = opts.maxOutput ?? 1024 * 1024;
  const child = spawn('ip', argv, {
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: opts.env,
  });
  let out = '';
  let err = '';
  let exitInfo: ExitInfo | null = null;
  const watchers = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...watchers]) w();
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    out = (out + d).slice(-max);
    notify();
  });
  child.stderr?.on('data', (d: string) => {
    err = (err + d).slice(-max);
    notify();
  });

  let handle: NsProcess;
  const exited = new Promise<ExitInfo>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      // Failure to start (ENOENT for `ip`); 'close' may not follow.
      spawnError = e;
      if (child.pid === undefined) finish({ code: null, signal: null });
    });
    child.once('close', (code, signal) => finish({ code, signal }));
    // 'close' waits for stdout/stderr to close, which a leftover grandchild holding them can delay forever.
    child.once('exit', (code, signal) => setTimeout(() => finish({ code, signal }), 1000).unref());
    function finish(info: ExitInfo): void {
      if (exitInfo) return;
      exitInfo = info;
      if (spawnError) err += `\n${spawnError.message}`;
      live.delete(handle);
      log.debug('process exited', { ns, command, pid: child.pid, ...info });
      notify();
      resolve(info);
    }
  });

  let stopping: Promise<ExitInfo> | undefined;
  handle = {
    ns,
    pid: child.pid ?? -1,
    command,
    child,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    stdout: () => out,
    stderr: () => err,
    running: () => exitInfo === null,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const text = out + err;
          if (pattern.test(text)) {
            done();
            resolve(text);
          } else if (exitInfo) {
            done();
            reject(
              new Error(
                `\`${command}\` in ${ns} exited (${describeExit(exitInfo)}) before printing ${pattern}: ` +
                  truncate(text.trim(), 2000),
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `\`${command}\` in ${ns}: no ${pattern} within ${timeoutMs} ms: ${truncate((out + err).trim(), 2000)}`,
            ),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    stop(signal = 'SIGTERM', timeoutMs = 5000) {
      if (exitInfo) return Promise.resolve(exitInfo);
      stopping ??= (async () => {
        const pid = child.pid;
        if (pid === undefined) return exited;
        log.debug('stopping process', { ns, command, pid, signal });
        sendSignal(pid, signal, log);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          log.warn('process ignored signal, killing', { ns, command, pid, signal, timeoutMs });
          sendSignal(pid, 'SIGKILL', log);
        }
        return exited;
      })();
      return stopping;
    },
  };
  if (child.pid !== undefined) live.add(handle);
  log.debug('spawned', { ns, command, pid: child.pid });
  return handle;
}

function sendSignal(pid: number, signal: NodeJS.Signals, log: Logger): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    // ESRCH: it has just exited. Anything else is logged; the caller still waits for the exit.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') log.warn('kill failed', { pid, signal, error: String(e) });
  }
}

export function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}
