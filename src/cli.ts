#!/usr/bin/env node
// The vxtun command line: the only place that prints or exits (README "Command line").
// Exit codes: 0 ok; 2 bad config or bad arguments (one line naming the field; nothing created);
// 1 runtime failure (e.g. "opening /dev/net/tun: EPERM …").
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { Command, CommanderError } from 'commander';
import { DEFAULT_ADMIN_SOCKET, loadConfigFile, parseSocketPath } from './config/index.js';
import { parseLabArgs, type LabArgsInput } from './bench/lab-args.js';
import { parseLatencyArgs, type LatencyArgsInput } from './bench/latency-args.js';
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

/**
 * Progress on stderr: on a terminal the current step is one line rewritten in place and kept lines are printed above
 * it; otherwise every step and line is a line of its own (logs, CI).
 */
function progressPrinter(stream: NodeJS.WriteStream = process.stderr) {
  const tty = Boolean(stream.isTTY);
  let shown = false;
  const clear = () => {
    if (shown) stream.write('\r\x1b[K');
    shown = false;
  };
  return {
    step: (s: string) => {
      if (!tty) return err(s);
      stream.write(`\r\x1b[K${s.slice(0, Math.max(20, (stream.columns || 80) - 1))}`);
      shown = true;
    },
    line: (s: string) => {
      clear();
      err(s);
    },
    done: clear,
  };
}

function writeOutputFile(option: string, file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new ExitError(1, `vxtun: ${option} ${file}: ${(e as Error).message}`);
  }
}

async function cmdBenchMicro(opts: { quick?: boolean; json?: string }): Promise<void> {
  const { runMicro } = await import('./bench/micro.js');
  const { microLine, microTable } = await import('./bench/micro-table.js');
  const p = progressPrinter();
  let results;
  try {
    results = runMicro({ quick: Boolean(opts.quick), onStep: p.step, onResult: (r) => p.line(microLine(r)) });
  } finally {
    p.done();
  }
  out(microTable(results).join('\n'));
  if (opts.json) writeOutputFile('--json', opts.json, JSON.stringify(results, null, 2) + '\n');
}

/**
 * Runs a lab benchmark with the progress line on stderr. The first SIGINT/SIGTERM stops it after the step in progress
 * and removes the testbeds (the run throws the abort's reason); a second one quits.
 */
async function withInterrupt<T>(
  name: string,
  run: (p: ReturnType<typeof progressPrinter>, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const p = progressPrinter();
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    p.line('vxtun: stopping after this step and removing the testbeds (again to quit at once, leaving them)');
    abort.abort(new ExitError(130, `vxtun: ${name} interrupted`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(p, abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    p.done();
  }
}

async function cmdBenchLab(opts: LabArgsInput): Promise<void> {
  const args = parseLabArgs(opts);
  const { runLab } = await import('./bench/lab-run.js');
  const { labTable } = await import('./bench/lab-table.js');
  const res = await withInterrupt('bench lab', (p, signal) => runLab(args, { onStep: p.step, onLine: p.line }, signal));
  out(labTable(res).join('\n'));
  if (args.json) writeOutputFile('--json', args.json, JSON.stringify(res, null, 2) + '\n');
  if (args.report) {
    const { reportHtml, reportSvg } = await import('./bench/report.js');
    writeOutputFile('--report', args.report.file, args.report.format === 'svg' ? reportSvg(res) : reportHtml(res));
    err(`report written to ${args.report.file}`);
  }
}

async function cmdBenchLatency(opts: LatencyArgsInput): Promise<void> {
  const args = parseLatencyArgs(opts);
  const { runLatency } = await import('./bench/latency-run.js');
  const { latencyTable } = await import('./bench/latency-table.js');
  const res = await withInterrupt('bench latency', (p, signal) =>
    runLatency(args, { onStep: p.step, onLine: p.line }, signal),
  );
  out(latencyTable(res).join('\n'));
}

const collect = (v: string, prev: string[]) => [...prev, v];

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
  const bench = p
    .command('bench')
    .description(
      'benchmarks: the per-packet work (micro), pod-to-pod traffic against kernel VXLAN (lab, root), where a round trip goes (latency, root)',
    );
  bench
    .command('micro')
    .description('time encapsulation, receive checks, TSO/GRO and lookups, native vs TypeScript; a table on stdout')
    .option('--quick', 'about 0.25 s per case instead of 2 s')
    .option('--json <file>', 'also write the results as JSON')
    .action(cmdBenchMicro);
  bench
    .command('lab')
    .description(
      'measure pod-to-pod TCP, UDP and ping through two-node namespace testbeds beside kernel VXLAN (root, iperf3); a table on stdout',
    )
    .option('--rounds <n>', 'interleaved rounds; medians are reported (default 5)')
    .option('--seconds <s>', 'length of each iperf3 test (default 5)')
    .option(
      '--only <setups>',
      'comma-separated setups, e.g. kernel,native,floor (naming floor, floor-iov, floor-vxlan or capture asks for it)',
    )
    .option('--floor', 'add the copy-floor relay setup (compiled with cc at run time)')
    .option('--floor-iovecs', "add the floor relay gathering bytes in vxtun's iovec layout (floor-iov)")
    .option('--floor-vxlan', 'add the floor relay sending valid VXLAN, with no other work (floor-vxlan)')
    .option('--capture', 'add the native setup measured while `vxtun dump -w /dev/null` runs')
    .option('--capture-args <args>', 'extra `vxtun dump` arguments for the capture setup, e.g. "-s 96"')
    .option('--variant <name=json>', 'add a vxtun setup with this dataplane config section (repeatable)', collect, [])
    .option('--json <file>', 'also write the results as JSON')
    .option('--perf <dir>', 'perf record -a -g each 1-stream TCP test into DIR/<setup>-<round>.data')
    .option('--report <file>', 'also write a chart: FILE.html or FILE.svg')
    .action(cmdBenchLab);
  bench
    .command('latency')
    .description(
      'split ping round trips through the floor relay and vxtun into wake-ups, system calls and own time, from a perf trace (root, perf, cc; x86-64)',
    )
    .option('--rounds <n>', 'interleaved rounds (default 3)')
    .option('--count <n>', 'pings per setup and round (default 50)')
    .option('--interval <s>', 'seconds between pings (default 0.1)')
    .option('--show <n>', 'print N round trips of each setup event by event (first round)')
    .option('--variant <name=json>', 'add a vxtun setup with this dataplane config section (repeatable)', collect, [])
    .action(cmdBenchLatency);
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
