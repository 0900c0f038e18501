// Test doubles for runDaemon's injected dependencies: a native binding whose Dataplane records the tables it is
// given (optionally building each one with the test addon's Table, as setTable does), an `ip` runner that
// describes one underlay interface and records every other command, and in-memory device settings.
import type { DeviceConf, IpRunner } from '../../src/device/device.js';
import type { NativeBinding } from '../../src/dataplane/addon.js';
import type { NativeTableHandle, TestingBinding } from '../../src/dataplane/testing.js';
import { NO_OFFLOADS, type OffloadFlags } from '../../src/dataplane/offloads.js';
import {
  zeroStats,
  type Dataplane,
  type DataplaneOptions,
  type DataplanePeer,
  type DataplaneStats,
  type DataplaneTable,
} from '../../src/dataplane/types.js';

export interface FakeNative {
  binding: NativeBinding;
  /** Every table the dataplane held, with the time it arrived (performance.now()): each setTable, and each updatePeers applied to the previous one. */
  tables: { table: DataplaneTable; at: number }[];
  /** How many tables were set in all (whole or by updatePeers). */
  tablesSet: number;
  /** How many of those came by updatePeers. */
  updates: number;
  opened: DataplaneOptions[];
  closed: number;
}

/**
 * Fd passing where no vxtun ever answers: connect finds no socket (a fake dataplane has no fds to hand over; the
 * handover itself is tested with the real addon, test/integration/handover.test.ts).
 */
const noHandover = {
  connect(path: string): number {
    throw Object.assign(new Error(`connect ENOENT ${path}`), { code: 'ENOENT', syscall: 'connect' });
  },
};

/**
 * `real`: build every table with the test addon (new real.Table(t)): the same parse and Table::Build as setTable.
 * `keep`: how many of the latest tables to remember (all by default).
 */
export function fakeNative(real?: TestingBinding, keep = Infinity): FakeNative {
  const f: FakeNative = {
    binding: undefined as unknown as NativeBinding,
    tables: [],
    tablesSet: 0,
    updates: 0,
    opened: [],
    closed: 0,
  };
  const record = (table: DataplaneTable) => {
    f.tables.push({ table, at: performance.now() });
    f.tablesSet++;
    if (f.tables.length > keep) f.tables.shift();
  };
  class FakeDataplane implements Dataplane {
    readonly workers: number;
    constructor(opts: DataplaneOptions) {
      f.opened.push(opts);
      this.workers = opts.workers;
    }
    start(_onFatal: (message: string) => void, _want: OffloadFlags): OffloadFlags {
      return NO_OFFLOADS;
    }
    private handle: NativeTableHandle | undefined;
    private current: DataplaneTable = { local: [], peers: [] };
    setTable(table: DataplaneTable): void {
      if (real) this.handle = new real.Table(table);
      this.current = table;
      record(table);
    }
    /** The addon's semantics (native/core/fdb.h Table::Update), and with `real` the addon's own Update on a real table. */
    updatePeers(upsert: DataplanePeer[], remove: string[]): void {
      this.handle?.update(upsert, remove);
      const byName = new Map(upsert.map((p) => [p.name, p]));
      const gone = new Set(remove);
      const peers: DataplanePeer[] = [];
      for (const p of this.current.peers) {
        const u = byName.get(p.name);
        if (u) {
          peers.push(u);
          byName.delete(p.name);
        } else if (!gone.has(p.name)) peers.push(p);
      }
      peers.push(...byName.values());
      this.current = { local: this.current.local, peers };
      f.updates++;
      record(this.current);
    }
    stats(): DataplaneStats {
      return zeroStats([]);
    }
    close(): void {
      f.closed++;
    }
  }
  f.binding = {
    Dataplane: FakeDataplane,
    TunDevice: class {},
    dropReasons: real?.dropReasons ?? [],
    fdPassing: noHandover,
  } as unknown as NativeBinding;
  return f;
}

/** An `ip` runner for a host with eth0 = 192.168.99.1/24, MTU 1500, default route via eth0. */
export function fakeIp(calls: string[][] = [], address = '192.168.99.1'): IpRunner {
  return async (args) => {
    calls.push(args);
    const line = args.join(' ');
    if (line === '-j -4 addr show') {
      return JSON.stringify([
        { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: address, prefixlen: 24 }] },
      ]);
    }
    if (line === '-j -4 route show default') return JSON.stringify([{ dev: 'eth0' }]);
    return '';
  };
}

/**
 * Device settings in memory (`device/key` → value), so that nothing writes /proc. Unset keys read as undefined
 * (no IPv6); `writes` records every set as `device/key=value`.
 */
export function fakeDeviceConf(
  values: Record<string, string> = {},
  writes: string[] = [],
): DeviceConf & { values: Record<string, string> } {
  return {
    values,
    async get(device, key) {
      return values[`${device}/${key}`];
    },
    async set(device, key, value) {
      writes.push(`${device}/${key}=${value}`);
      values[`${device}/${key}`] = value;
    },
  };
}
