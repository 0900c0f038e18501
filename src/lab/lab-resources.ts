// What a lab owns (the namespaces it created, the processes it started, the pods CNI added) and how it lets them go:
// asynchronously and in order for destroy(), synchronously and by force for process exit.

import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { cniDel, type CniPod } from './cni.js';
import { liveProcesses, type NsProcess } from './exec.js';
import { deleteNamespace, deleteNamespaceSync } from './namespaces.js';

/** A pod CNI added on node `node`. */
export interface OwnedPod {
  node: number;
  pod: CniPod;
}

export interface ReleaseOptions {
  logger: Logger;
  /** How long to wait for a process after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
  /** The CNI options node i's pods were added with (DEL needs the same state directory). */
  cniOptions: (node: number) => { stateDir: string; logger: Logger };
  /** The lab's temporary directory, removed last. */
  dir: string;
}

export class LabResources {
  /** Namespaces created and not deleted yet, in creation order. */
  readonly namespaces: string[] = [];
  /** Processes started through lab.spawn (processes from spawnInNs in our namespaces are stopped too). */
  readonly processes = new Set<NsProcess>();
  /** Pods added by CNI and not deleted yet (DEL on release, before the namespaces go). */
  readonly pods: OwnedPod[] = [];

  forget(ns: string): void {
    const k = this.namespaces.indexOf(ns);
    if (k >= 0) this.namespaces.splice(k, 1);
  }

  /** Our processes, and every live process started in one of our namespaces. */
  #allProcesses(): Set<NsProcess> {
    const mine = new Set(this.namespaces);
    const procs = new Set<NsProcess>(this.processes);
    for (const p of liveProcesses()) if (mine.has(p.ns)) procs.add(p);
    return procs;
  }

  /**
   * Stops every process (SIGTERM, then SIGKILL after stopTimeoutMs), runs CNI DEL of every pod newest first, deletes
   * every namespace newest first, and removes the directory. Never throws: resolves with the errors met (logged).
   */
  async release(o: ReleaseOptions): Promise<Error[]> {
    const errors: Error[] = [];
    const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
    await Promise.all(
      [...this.#allProcesses()].map(async (p) => {
        const info = await p.stop('SIGTERM', o.stopTimeoutMs);
        o.logger.debug('stopped', { ns: p.ns, pid: p.pid, command: p.command, ...info });
      }),
    );
    // CNI DEL of every pod while its node still exists, newest first (as a kubelet tears pods down).
    for (const entry of [...this.pods].reverse()) {
      const { node, pod } = entry;
      try {
        await cniDel(pod, o.cniOptions(node));
      } catch (e) {
        const err = asError(e);
        errors.push(err);
        o.logger.error('CNI DEL failed', { pod: pod.containerId, error: err.message });
      }
      this.pods.splice(this.pods.indexOf(entry), 1);
    }
    for (const ns of [...this.namespaces].reverse()) {
      const err = await deleteNamespace(ns, o.logger);
      if (err) {
        errors.push(err);
        o.logger.error('could not delete namespace', { ns, error: err.message });
      } else {
        this.forget(ns);
      }
    }
    try {
      await rm(o.dir, { recursive: true, force: true });
    } catch (e) {
      const err = asError(e);
      errors.push(err);
      o.logger.error('could not remove the lab directory', { dir: o.dir, error: err.message });
    }
    return errors;
  }

  /** Last resort (process exit or a fatal signal): SIGKILL every process, delete the namespaces and the directory. */
  releaseSync(dir: string): void {
    for (const p of this.#allProcesses()) {
      try {
        if (p.pid > 0 && p.running()) process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      deleteNamespaceSync(ns);
      this.forget(ns);
    }
    // No CNI DEL here (no time to wait for plugins): the pods' veths and cni0 go with the namespaces, host-local's
    // leases and the saved delegates with the directory.
    this.pods.length = 0;
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // nothing more can be done while exiting
    }
  }
}
