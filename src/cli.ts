#!/usr/bin/env node
// The vxtun command line: the only place that prints or exits (README "Command line").
// Exit codes: 0 ok; 2 bad config or bad arguments (one line naming the field; nothing created);
// 1 runtime failure (e.g. "opening /dev/net/tun: EPERM …").
import http from 'node:http';
import os from 'node:os';
import { Command, CommanderError } from 'commander';
import { DEFAULT_ADMIN_SOCKET, loadConfigFile, parseSocketPath } from './config/index.js';
import { runDaemon } from './daemon/daemon.js';
import { DumpError, runDump, socketHint } from './dump/command.js';
import { ConfigError, UsageError } from './errors.js';
import { lineLogger } from './log.js';
import { formatStatus, type Status } from './admin/status.js';
import { VERSION } from './version.js';

/** SIGINT/SIGTERM must leave within 5 s (README "Command line"): past this, exit anyway (the kernel then removes the device). */
const SHUTDOWN_DEADLINE_MS = 4_500;

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n');

class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function parseSocket(value: string): string {
  try {
    const path = parseSocketPath(value, '--socket');
    if (path === null) throw new UsageError('--socket: expected the path of the admin socket, got "off"');
    return path;
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

async function cmdRun(opts: { config: string; debug?: boolean }): Promise<void> {
  const config = await loadConfigFile(opts.config, { NODE_NAME: process.env.NODE_NAME, hostname: os.hostname() });
  const logger = lineLogger((line) => err(`${new Date().toISOString()} ${line}`), Boolean(opts.debug));
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) return;
    logger.info('signal received, stopping', { signal: sig });
    abort.abort();
    setTimeout(() => {
      err('vxtun: shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await runDaemon({ config, logger }, abort.signal);
}

/** The daemon answers within this (a status of thousands of peers is a few MB: well within). */
const STATUS_TIMEOUT_MS = 10_000;

/** GET /status over the admin unix socket. */
function fetchStatus(socket: string): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { socketPath: socket, path: '/status', agent: false, headers: { host: 'localhost' }, timeout: STATUS_TIMEOUT_MS },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('error', (e) => reject(new ExitError(1, `vxtun: reading the status from ${socket}: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if (res.statusCode !== 200)
            return reject(
              new ExitError(
                1,
                `vxtun: admin socket ${socket} answered ${res.statusCode}: ${text.trim().slice(0, 200)}`,
              ),
            );
          try {
            resolve(JSON.parse(text) as Status);
          } catch (e) {
            reject(new ExitError(1, `vxtun: admin socket ${socket} sent a bad status: ${(e as Error).message}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new ExitError(1, `vxtun: cannot reach the admin socket ${socket}: ${e.code ?? e.message}${socketHint(e)}`),
      ),
    );
  });
}

async function cmdStatus(opts: { socket: string; json?: boolean }): Promise<void> {
  const s = await fetchStatus(opts.socket);
  out(opts.json ? JSON.stringify(s, null, 2) : formatStatus(s));
}

async function cmdDump(
  filter: string[],
  opts: { socket: string; write?: string; count?: string; seconds?: string; outer?: boolean; snaplen?: string },
): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.on('error', stop); // EPIPE: whoever read our output is gone
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  // The capture must not slow forwarding down: this reader yields the CPU to everything else on the node (if it
  // falls behind, the daemon's rings fill and the losses are counted and reported, never waited for).
  try {
    os.setPriority(19);
  } catch {
    // not allowed: run at the normal priority
  }
  try {
    const dumpOpts = {
      socket: opts.socket,
      write: opts.write,
      count: num(opts.count),
      seconds: num(opts.seconds),
      outer: opts.outer,
      snaplen: num(opts.snaplen),
      filter,
    };
    await runDump(dumpOpts, { line: out, status: err, stdout: process.stdout, signal: abort.signal });
  } catch (e) {
    if (e instanceof DumpError) throw new ExitError(1, `vxtun: ${e.message}`);
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

async function cmdDemo(): Promise<void> {
  const { runDemo } = await import('./lab/demo.js');
  await runDemo({ print: out, log: lineLogger(err) });
}

function program(): Command {
  const p = new Command('vxtun')
    .description('userspace VXLAN overlay dataplane, wire-compatible with Linux kernel VXLAN and flannel')
    .exitOverride()
    .showHelpAfterError(false);
  p.command('run')
    .description('run the node daemon in the foreground (SIGINT/SIGTERM stop it and remove the device)')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--debug', 'debug logging')
    .action(cmdRun);
  p.command('status')
    .description("print a running daemon's status")
    .option('--socket <path>', "the daemon's admin unix socket (admin.socket)", parseSocket, DEFAULT_ADMIN_SOCKET)
    .option('--json', 'print the status JSON')
    .action(cmdStatus);
  p.command('dump')
    .description("capture a running daemon's packets with their verdicts (pcapng with -w; see the README for filters)")
    .argument('[filter...]', 'e.g. host 10.244.2.2 and not (port 22 or drops)')
    .option('--socket <path>', "the daemon's admin unix socket (admin.socket)", parseSocket, DEFAULT_ADMIN_SOCKET)
    .option('-w, --write <file>', 'write pcapng to FILE ("-" for stdout) instead of printing lines')
    .option('-c, --count <n>', 'stop after N packets')
    .option('--seconds <s>', 'stop after S seconds')
    .option(
      '-s, --snaplen <n>',
      'keep at most N bytes of each inner packet (default and maximum 1962: a whole MTU-sized packet)',
    )
    .option('--outer', 'whole datagrams: outer IP/UDP + VXLAN + inner Ethernet (tshark: -d udp.port==8472,vxlan)')
    .action(cmdDump);
  p.command('version')
    .description('print the version')
    .action(() => {
      out(VERSION);
    });
  p.command('demo')
    .description(
      'build a throwaway lab in network namespaces (two vxtun nodes, one kernel VXLAN node) and show traffic across it (root)',
    )
    .action(cmdDemo);
  return p;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed it
    if (e instanceof ConfigError) {
      err(`vxtun: invalid config: ${e.message}`);
      return 2;
    }
    if (e instanceof UsageError) {
      err(`vxtun: ${e.message}`);
      return 2;
    }
    if (e instanceof ExitError) {
      err(e.message);
      return e.code;
    }
    err(`vxtun: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

/**
 * Resolves once everything written to `s` so far has left the process (a write's callback runs after the data queued
 * before it). A pipe takes 64 KiB at once; process.exit() before this would drop the rest (`vxtun status --json | jq`).
 */
const flushed = (s: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => {
    if (s.destroyed || !s.writable) return resolve();
    s.write('', () => resolve()); // called with an error too (EPIPE: the reader is gone)
  });

async function exitWith(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

main(process.argv).then(exitWith, (e: unknown) => {
  err(`vxtun: ${String(e)}`);
  return exitWith(1);
});
