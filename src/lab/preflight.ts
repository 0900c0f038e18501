// Can this machine run the testbed? Tests call this and skip with the reason instead of failing.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CNI_PLUGIN_DIR } from './cni.js';

export interface PreflightOptions {
  /** Also require /dev/net/tun (vxtun's own dataplane). Default true. */
  tun?: boolean;
  /** Programs that must be on PATH. Default ['ip', 'bridge', 'sysctl']. */
  tools?: readonly string[];
  /** Also require the CNI plugins the lab makes its pods with (missingCniPlugins). Default true. */
  cni?: boolean;
}

/** Resolves a program name on PATH, or undefined. */
export function which(name: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  for (const d of [...dirs, '/usr/sbin', '/sbin']) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Returns why the testbed cannot run here, or undefined when it can. */
export function labUnavailableReason(opts: PreflightOptions = {}): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (opts.tun ?? true) {
    try {
      accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    } catch {
      return '/dev/net/tun is missing or not accessible';
    }
  }
  const missing = (opts.tools ?? ['ip', 'bridge', 'sysctl']).filter((t) => !which(t));
  if (missing.length) return `missing tools: ${missing.join(', ')} (Debian: iproute2, procps, iputils-ping…)`;
  if (opts.cni ?? true) return missingCniPlugins();
  return undefined;
}

/** Why the lab cannot make pods here (the CNI plugins it runs are missing), or undefined. */
export function missingCniPlugins(dir = CNI_PLUGIN_DIR): string | undefined {
  const missing = ['bridge', 'host-local']
    .map((p) => join(dir, p))
    .filter((p) => {
      try {
        accessSync(p, constants.X_OK);
        return false;
      } catch {
        return true;
      }
    });
  return missing.length
    ? `missing CNI plugins: ${missing.join(', ')} (Debian: containernetworking-plugins)`
    : undefined;
}
