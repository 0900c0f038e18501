// admin.readyFile: a file that exists while this process forwards (README "Upgrades and restarts"). The DaemonSet's
// readiness probe looks for it in the pod's own file system, so a new pod is ready when IT forwards, not when the
// vxtun it is replacing answers on the shared host port.
import { rm, writeFile } from 'node:fs/promises';

export interface ReadyFile {
  set(): Promise<void>;
  clear(): Promise<void>;
}

export function readyFile(path: string | null): ReadyFile {
  return {
    async set() {
      if (path) await writeFile(path, `${process.pid}\n`, { mode: 0o644 });
    },
    async clear() {
      if (path) await rm(path, { force: true }).catch(() => undefined);
    },
  };
}
