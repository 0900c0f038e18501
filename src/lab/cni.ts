// Runs a real CNI plugin (containernetworking-plugins: bridge + host-local) for a lab pod, the way the flannel
// plugin runs its delegate on a node: inside the node's network namespace, so cni0 and the veth host side are the
// node's, with the pod's namespace as CNI_NETNS.
//
//   ip netns exec NODE env CNI_COMMAND=ADD CNI_CONTAINERID=CID CNI_NETNS=/var/run/netns/POD CNI_IFNAME=eth0 \
//     CNI_PATH=/usr/lib/cni /usr/lib/cni/<delegate type>  < delegate.json
//
// Like the flannel plugin, ADD first saves the rendered delegate as STATE/<CID> and DEL replays that file (and
// removes it once DEL succeeded), so DEL works from what ADD used even if subnet.env changed in between.
// parseCniResult and parseCniError are pure; the rest runs commands through the injected `exec`.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { CommandError, nsExec, run, type RunOptions, type RunResult } from './exec.js';

/** Where Debian's containernetworking-plugins puts the plugins. */
export const CNI_PLUGIN_DIR = '/usr/lib/cni';

/** One address of a CNI result (spec 0.3.x / 1.0: `ips[]`). */
export interface CniIP {
  /** "10.244.1.2/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniInterface {
  name: string;
  mac?: string;
  /** Set for interfaces inside the pod's namespace. */
  sandbox?: string;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

/** The parts of a CNI ADD result the lab uses. */
export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIP[];
  routes: CniRoute[];
}

/** The error object a CNI plugin prints on stdout when it fails. */
export interface CniErrorObject {
  code: number;
  msg: string;
  details?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

/** Parses a plugin's ADD result (CNI spec ≥ 0.3.0). Throws naming the first field that is not as the spec says. */
export function parseCniResult(text: string): CniResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`CNI result is not JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 200))}`);
  }
  const bad = (field: string): Error => new Error(`CNI result: bad or missing ${field}: ${text.slice(0, 500)}`);
  if (!isObj(doc)) throw bad('result object');
  if (typeof doc['cniVersion'] !== 'string') throw bad('cniVersion');
  const list = (k: string): unknown[] => {
    const v = doc[k];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw bad(k);
    return v;
  };
  const interfaces = list('interfaces').map((x, i) => {
    if (!isObj(x) || typeof x['name'] !== 'string' || !optStr(x['mac']) || !optStr(x['sandbox']))
      throw bad(`interfaces[${i}]`);
    return {
      name: x['name'],
      ...(x['mac'] ? { mac: x['mac'] } : {}),
      ...(x['sandbox'] ? { sandbox: x['sandbox'] } : {}),
    };
  });
  const ips = list('ips').map((x, i) => {
    if (!isObj(x) || typeof x['address'] !== 'string' || !optStr(x['gateway'])) throw bad(`ips[${i}]`);
    const ifx = x['interface'];
    if (ifx !== undefined && !(Number.isInteger(ifx) && (ifx as number) >= 0 && (ifx as number) < interfaces.length)) {
      throw bad(`ips[${i}].interface`);
    }
    return {
      address: x['address'],
      ...(x['gateway'] ? { gateway: x['gateway'] } : {}),
      ...(ifx !== undefined ? { interface: ifx as number } : {}),
    };
  });
  const routes = list('routes').map((x, i) => {
    if (!isObj(x) || typeof x['dst'] !== 'string' || !optStr(x['gw'])) throw bad(`routes[${i}]`);
    return { dst: x['dst'], ...(x['gw'] ? { gw: x['gw'] } : {}) };
  });
  return { cniVersion: doc['cniVersion'], interfaces, ips, routes };
}

/** The plugin's error object from its stdout, or undefined when stdout holds none. */
export function parseCniError(stdout: string): CniErrorObject | undefined {
  try {
    const doc: unknown = JSON.parse(stdout);
    if (isObj(doc) && Number.isInteger(doc['code']) && typeof doc['msg'] === 'string') {
      return {
        code: doc['code'] as number,
        msg: doc['msg'],
        ...(typeof doc['details'] === 'string' && doc['details'] ? { details: doc['details'] } : {}),
      };
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/** Runs `cmd args…` in a namespace (nsExec by default; tests may inject another). */
export type NsRunner = (ns: string, cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export interface CniPod {
  /** The node namespace the plugin runs in (cni0 lives there). */
  nodeNs: string;
  /** The pod's namespace (CNI_NETNS = /var/run/netns/<podNs>). */
  podNs: string;
  /** CNI_CONTAINERID: unique per pod on the node (host-local records it with the address). */
  containerId: string;
  /** CNI_IFNAME, default eth0. */
  ifName?: string;
}

export interface CniOptions {
  /** Where the rendered delegates are kept between ADD and DEL (the flannel plugin's /var/lib/cni/flannel). */
  stateDir: string;
  /** CNI_PATH and where the plugin binaries are; default /usr/lib/cni. */
  pluginDir?: string;
  logger?: Logger;
  exec?: NsRunner;
  /** Per plugin run; default 60 s (a loaded machine). */
  timeoutMs?: number;
}

const CID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkPod(pod: CniPod): void {
  if (!CID_RE.test(pod.containerId))
    throw new Error(`CNI: bad container id ${JSON.stringify(pod.containerId)} (want ${CID_RE})`);
}

async function invoke(command: 'ADD' | 'DEL', pod: CniPod, delegateJson: string, opts: CniOptions): Promise<string> {
  const doc: unknown = JSON.parse(delegateJson);
  const type = isObj(doc) ? doc['type'] : undefined;
  if (typeof type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(type))
    throw new Error(`CNI: the delegate has no usable type: ${delegateJson.slice(0, 200)}`);
  const dir = opts.pluginDir ?? CNI_PLUGIN_DIR;
  const exec = opts.exec ?? ((ns, cmd, args, o) => nsExec(ns, cmd, args, o));
  const env = [
    `CNI_COMMAND=${command}`,
    `CNI_CONTAINERID=${pod.containerId}`,
    `CNI_NETNS=/var/run/netns/${pod.podNs}`,
    `CNI_IFNAME=${pod.ifName ?? 'eth0'}`,
    `CNI_PATH=${dir}`,
  ];
  const what = `CNI ${command} ${type} for ${pod.containerId} (pod ${pod.podNs}, node ${pod.nodeNs})`;
  try {
    const r = await exec(pod.nodeNs, 'env', [...env, join(dir, type)], {
      input: delegateJson,
      timeoutMs: opts.timeoutMs ?? 60_000,
      logger: opts.logger ?? silentLogger,
    });
    return r.stdout;
  } catch (err) {
    if (err instanceof CommandError) {
      const e = parseCniError(err.stdout);
      const stderr = err.stderr.trim();
      const why = e ? `${e.msg} (CNI error ${e.code})${e.details ? `: ${e.details}` : ''}` : err.message;
      throw new Error(`${what} failed: ${why}${e && stderr ? `; stderr: ${stderr.slice(0, 1000)}` : ''}`, {
        cause: err,
      });
    }
    throw new Error(`${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * ADD: saves `delegateJson` as STATE/<containerId>, runs the delegate's plugin and returns its parsed result. If
 * the plugin fails, a DEL with the same config cleans up whatever it did half-way (best effort), the saved file is
 * removed and the plugin's error is thrown.
 */
export async function cniAdd(pod: CniPod, delegateJson: string, opts: CniOptions): Promise<CniResult> {
  checkPod(pod);
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const saved = join(opts.stateDir, pod.containerId);
  await writeFile(saved, delegateJson, { mode: 0o600 });
  try {
    return parseCniResult(await invoke('ADD', pod, delegateJson, opts));
  } catch (err) {
    await invoke('DEL', pod, delegateJson, opts).catch((e: unknown) =>
      (opts.logger ?? silentLogger).warn('CNI DEL after a failed ADD failed too', {
        pod: pod.containerId,
        error: (e as Error).message,
      }),
    );
    await rm(saved, { force: true });
    throw err;
  }
}

/**
 * DEL: replays the config ADD saved for this container and removes it afterwards. Returns false (and does nothing)
 * when nothing was saved, as the flannel plugin does; throws the plugin's error and keeps the file when DEL fails.
 */
export async function cniDel(pod: CniPod, opts: CniOptions): Promise<boolean> {
  checkPod(pod);
  const saved = join(opts.stateDir, pod.containerId);
  let delegateJson: string;
  try {
    delegateJson = await readFile(saved, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await invoke('DEL', pod, delegateJson, opts);
  await rm(saved, { force: true });
  return true;
}

export interface CniPluginVersion {
  /** The plugin's own line, e.g. "CNI bridge plugin version unknown" (Debian's build carries no version). */
  about: string;
  /** CNI spec versions it speaks (CNI_COMMAND=VERSION). */
  supportedVersions: string[];
}

/** Asks a plugin binary for its spec versions (CNI_COMMAND=VERSION) and its "about" line (no CNI_COMMAND). */
export async function cniPluginVersion(path: string, logger: Logger = silentLogger): Promise<CniPluginVersion> {
  const v = await run('env', ['CNI_COMMAND=VERSION', path], { logger, input: '' });
  const doc: unknown = JSON.parse(v.stdout);
  const supportedVersions =
    isObj(doc) && Array.isArray(doc['supportedVersions'])
      ? doc['supportedVersions'].filter((x): x is string => typeof x === 'string')
      : [];
  const a = await run('env', ['-u', 'CNI_COMMAND', path], { logger, input: '', okExitCodes: [0, 1] });
  const about =
    `${a.stderr}\n${a.stdout}`
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^CNI .*plugin/.test(l)) ?? 'unknown';
  return { about, supportedVersions };
}

/** The installed containernetworking-plugins package version (Debian's dpkg), or undefined where there is none. */
export async function cniPackageVersion(logger: Logger = silentLogger): Promise<string | undefined> {
  try {
    const r = await run('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins'], { logger });
    return r.stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
