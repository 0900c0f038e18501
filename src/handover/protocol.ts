// The handover's wire protocol and its rules (README "Upgrades and restarts"): what a starting vxtun (the successor)
// and the running one say to each other on the handover socket, and which config differences a handover cannot
// bridge. Pure: framing, message checks and the identity rule; src/handover/client.ts and server.ts do the I/O.
//
// JSON lines, in this order (fds travel as SCM_RIGHTS on extra one-byte "\n" messages, empty lines are skipped):
//   successor → running   hello    {protocol, version, pid, identity}
//   running → successor   refuse   {pid, error}                                (then closes)
//                     or  offer    {protocol, version, pid, identity, state, fds: N}   then the N fds
//   successor → running   pause                                             (it has adopted the fds)
//   running → successor   paused                                            (its loops have stopped)
//   successor → running   started                                           (its loops run on the fds)
//   running → successor   released                                          (its admin surface is closed: exiting)
// The running vxtun resumes its loops if the successor goes away between pause and started.
import type { DataplanePeer, DataplaneTable, OffloadFlags } from '../dataplane/types.js';
import { perOffload } from '../dataplane/offloads.js';

export const PROTOCOL = 1;
/** The longest line either side accepts (an offer carries the whole table: ~150 bytes a peer). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** What must be equal on both sides for the successor to run on the running vxtun's device and sockets. */
export interface HandoverIdentity {
  device: string;
  port: number;
  vni: number;
  workers: number;
  engine: 'native' | 'js';
  bindIP: string;
  bindIPv6: string | null;
  network: string;
  ipv6Network: string | null;
  podCIDRs: string[];
  vtepMAC: string;
  /** The config names vtepMAC (not 'auto'): then it must equal the running one's; else the running one's is kept. */
  vtepMACFixed: boolean;
}

/** What the successor takes besides the fds. */
export interface HandoverState {
  vtepMAC: string;
  offloads: OffloadFlags;
  /** The running table: the successor forwards with it until its own peer source has spoken. */
  table: DataplaneTable;
}

export type Message =
  | { type: 'hello'; protocol: number; version: string; pid: number; identity: HandoverIdentity }
  | { type: 'refuse'; pid: number; error: string }
  | {
      type: 'offer';
      protocol: number;
      version: string;
      pid: number;
      identity: HandoverIdentity;
      state: HandoverState;
      fds: number;
    }
  | { type: 'pause' }
  | { type: 'paused' }
  | { type: 'started' }
  | { type: 'released' };

const COMPARED: readonly (keyof HandoverIdentity)[] = [
  'engine',
  'device',
  'port',
  'vni',
  'workers',
  'bindIP',
  'bindIPv6',
  'network',
  'ipv6Network',
  'podCIDRs',
];

const show = (v: unknown): string => (v === null ? 'none' : Array.isArray(v) ? v.join(',') || 'none' : String(v));

/**
 * Why `next` cannot take over from `running` ("vni differs (running: 1, new: 2)"), or undefined when it can. The
 * MTU may differ (the successor sets it on the live device); the offloads stay the running ones.
 */
export function identityConflict(running: HandoverIdentity, next: HandoverIdentity): string | undefined {
  if (running.engine !== 'native') return `engine ${running.engine} cannot hand over its dataplane`;
  for (const k of COMPARED) {
    if (show(running[k]) !== show(next[k])) return `${k} differs (running: ${show(running[k])}, new: ${show(next[k])})`;
  }
  if (next.vtepMACFixed && running.vtepMAC !== next.vtepMAC)
    return `vtepMAC differs (running: ${running.vtepMAC}, new: ${next.vtepMAC})`;
  return undefined;
}

/** The fds an offer carries for `id`: TUN queues, then per family the receive and transmit sockets. */
export function fdCount(id: HandoverIdentity, txPerWorker: number): number {
  const families = id.bindIPv6 === null ? 1 : 2;
  return id.workers * (1 + families * (1 + txPerWorker));
}

export function encode(m: Message): Buffer {
  return Buffer.from(JSON.stringify(m) + '\n');
}

/** Splits a byte stream into lines (empty ones dropped); a line longer than MAX_LINE_BYTES is an error. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly max = MAX_LINE_BYTES) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.size = 0;
      if (line !== '') lines.push(line);
      start = nl + 1;
    }
    this.add(chunk.subarray(start));
    return lines;
  }

  private add(b: Buffer): void {
    if (b.length === 0) return;
    this.size += b.length;
    if (this.size > this.max) throw new Error(`a handover message longer than ${this.max} bytes`);
    this.parts.push(b);
  }
}

// ——— checks of what the other side sent (it is root on this node, but a buggy or older vxtun is still input) ———

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Obj, k: string, max = 4096): string => {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) throw new Error(`field ${k}: expected a string`);
  return v;
};
const strOrNull = (o: Obj, k: string): string | null => (o[k] === null ? null : str(o, k));
const int = (o: Obj, k: string, min: number, max: number): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new Error(`field ${k}: expected an integer ${min}..${max}`);
  return v;
};
const strings = (o: Obj, k: string, max: number): string[] => {
  const v = o[k];
  if (!Array.isArray(v) || v.length > max || !v.every((x) => typeof x === 'string' && x.length < 256))
    throw new Error(`field ${k}: expected a list of strings`);
  return v as string[];
};

function identityOf(v: unknown): HandoverIdentity {
  if (!isObj(v)) throw new Error('field identity: expected an object');
  const engine = str(v, 'engine');
  if (engine !== 'native' && engine !== 'js') throw new Error('field engine: expected native or js');
  if (typeof v['vtepMACFixed'] !== 'boolean') throw new Error('field vtepMACFixed: expected a boolean');
  return {
    device: str(v, 'device', 15),
    port: int(v, 'port', 1, 65535),
    vni: int(v, 'vni', 0, 0xffffff),
    workers: int(v, 'workers', 1, 64),
    engine,
    bindIP: str(v, 'bindIP', 64),
    bindIPv6: strOrNull(v, 'bindIPv6'),
    network: str(v, 'network', 64),
    ipv6Network: strOrNull(v, 'ipv6Network'),
    podCIDRs: strings(v, 'podCIDRs', 2),
    vtepMAC: str(v, 'vtepMAC', 17),
    vtepMACFixed: v['vtepMACFixed'],
  };
}

function offloadsOf(v: unknown): OffloadFlags {
  if (!isObj(v)) throw new Error('field offloads: expected an object');
  return perOffload((k) => {
    const f = v[k];
    if (typeof f !== 'boolean') throw new Error(`field offloads.${k}: expected a boolean`);
    return f;
  });
}

function tableOf(v: unknown): DataplaneTable {
  if (!isObj(v) || !Array.isArray(v['peers'])) throw new Error('field table: expected {local, peers}');
  const local = strings(v, 'local', 2);
  const peers = v['peers'].map((p: unknown) => {
    if (!isObj(p)) throw new Error('field table.peers: expected objects');
    const peer: DataplanePeer = {
      name: str(p, 'name', 253),
      publicIP: str(p, 'publicIP', 64),
      vtepMAC: str(p, 'vtepMAC', 17),
      cidrs: strings(p, 'cidrs', 2),
    };
    if (p['remoteChecksum'] === true) peer.remoteChecksum = true;
    else if (p['remoteChecksum'] !== undefined) throw new Error('field table.peers.remoteChecksum: expected true');
    if (p['publicIPv6'] === undefined) return peer;
    return { ...peer, publicIPv6: str(p, 'publicIPv6', 64), vtepMACv6: str(p, 'vtepMACv6', 17) };
  });
  return { local, peers };
}

/** What hello and offer both say of their sender. */
function introduction(v: Obj): { protocol: number; version: string; pid: number; identity: HandoverIdentity } {
  return {
    protocol: int(v, 'protocol', 0, 1e6),
    version: str(v, 'version', 64),
    pid: int(v, 'pid', 1, 2 ** 31),
    identity: identityOf(v['identity']),
  };
}

/** Parses one line from the other side; throws (with what is wrong) on anything but a well-formed message. */
export function decode(line: string): Message {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`not JSON: ${line.slice(0, 80)}`);
  }
  if (!isObj(v)) throw new Error('expected a JSON object');
  const type = v['type'];
  switch (type) {
    case 'hello':
      return { type, ...introduction(v) };
    case 'refuse':
      return { type, pid: int(v, 'pid', 1, 2 ** 31), error: str(v, 'error', 1024) };
    case 'offer': {
      if (!isObj(v['state'])) throw new Error('field state: expected an object');
      const s = v['state'];
      return {
        type,
        ...introduction(v),
        state: { vtepMAC: str(s, 'vtepMAC', 17), offloads: offloadsOf(s['offloads']), table: tableOf(s['table']) },
        fds: int(v, 'fds', 1, 64 * 11),
      };
    }
    case 'pause':
    case 'paused':
    case 'started':
    case 'released':
      return { type };
    default:
      throw new Error(`unknown message type ${JSON.stringify(type)?.slice(0, 40)}`);
  }
}
