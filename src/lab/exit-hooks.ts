// Cleanup when the process dies: every live lab is removed synchronously on process 'exit', and on SIGINT/SIGTERM/
// SIGHUP for the labs that handle signals (LabOptions.handleSignals), after which the signal takes its normal course.

/** What the hooks need of a lab. */
export interface ExitCleanup {
  readonly handleSignals: boolean;
  destroySync(): void;
}

const live = new Set<ExitCleanup>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let exitHookInstalled = false;
let signalHooksInstalled = false;

function onExit(): void {
  for (const lab of [...live]) lab.destroySync();
}

function onSignal(sig: NodeJS.Signals): void {
  // Runs first (prepended). Removing ourselves before the other listeners run lets them see the process as it
  // would be without us (signal-exit, used by tap, re-raises only when it is the last listener).
  removeSignalHooks();
  for (const lab of [...live]) if (lab.handleSignals) lab.destroySync();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig); // default action: die by the signal
}

/** Installs the hooks (once) and adds the lab to those they clean up. */
export function registerLab(lab: ExitCleanup): void {
  live.add(lab);
  if (!exitHookInstalled) {
    process.on('exit', onExit);
    exitHookInstalled = true;
  }
  if (lab.handleSignals && !signalHooksInstalled) {
    for (const s of SIGNALS) process.prependListener(s, onSignal);
    signalHooksInstalled = true;
  }
}

/** Removes the lab; the hooks go when no lab needs them. */
export function unregisterLab(lab: ExitCleanup): void {
  live.delete(lab);
  if (live.size === 0 && exitHookInstalled) {
    process.removeListener('exit', onExit);
    exitHookInstalled = false;
  }
  if (![...live].some((l) => l.handleSignals)) removeSignalHooks();
}

function removeSignalHooks(): void {
  if (!signalHooksInstalled) return;
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  signalHooksInstalled = false;
}
