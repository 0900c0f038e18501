// Test doubles for runDaemon's injected dependencies: a native binding whose Dataplane records the tables it is
// given (optionally building each one with the real addon's Table, as setTable does), an `ip` runner that
// describes one underlay interface and records every other command, and in-memory device settings.
import type { DeviceConf, IpRunner } from '../../src/device.js';
import type {
  NativeBinding,
  NativeDataplane,
  NativeOpenOptions,
  NativeStats,
  NativeTable,
  OffloadFlags,
} from '../../src/native.js';

export interface FakeNative {
  binding: NativeBinding;
  /** Every table handed to setTable, with the time it arrived (performance.now()). */
  tables: { table: NativeTable; at: number }[];
  /** How many tables were set in all. */
  tablesSet: number;
  opened: NativeOpenOptions[];
  closed: number;
}

function zeroStats(): NativeStats {
  return {
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxErrors: 0,
    rxCsumCompleted: 0,
    rxSuperSplit: 0,
    rxCoalesced: 0,
    txTsoSplit: 0,
    offloads: { tso: false, gro: false, udpGso: false, udpGro: false },
    txDrops: {},
    rxDrops: {},
  };
}

/**
 * `real`: build every table with the addon (new real.Table(t)): the same parse and build as setTable.
 * `keep`: how many of the latest tables to remember (all by default).
 */
export function fakeNative(real?: NativeBinding, keep = Infinity): FakeNative {
  const f: FakeNative = { binding: undefined as unknown as NativeBinding, tables: [], tablesSet: 0, opened: [], closed: 0 };
  class Dataplane implements NativeDataplane {
    readonly workers: number;
    constructor(opts: NativeOpenOptions) {
      f.opened.push(opts);
      this.workers = opts.workers;
    }
    start(_onFatal: (message: string) => void, _want: OffloadFlags): OffloadFlags {
      return { tso: false, gro: false, udpGso: false, udpGro: false };
    }
    setTable(table: NativeTable): void {
      if (real) new real.Table(table);
      f.tables.push({ table, at: performance.now() });
      f.tablesSet++;
      if (f.tables.length > keep) f.tables.shift();
    }
    stats(): NativeStats {
      return zeroStats();
    }
    close(): void {
      f.closed++;
    }
  }
  // Only Dataplane is replaced; the rest of the binding is the real one when given (the addon grows verbs).
  f.binding = {
    ...real,
    Dataplane,
    Table: real?.Table ?? class {},
    dropReasons: real?.dropReasons ?? [],
  } as unknown as NativeBinding;
  return f;
}

/** An `ip` runner for a host with eth0 = 192.168.99.1/24, MTU 1500, default route via eth0. */
export function fakeIp(calls: string[][] = [], address = '192.168.99.1'): IpRunner {
  return async (args) => {
    calls.push(args);
    const line = args.join(' ');
    if (line === '-j -4 addr show') {
      return JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: address, prefixlen: 24 }] }]);
    }
    if (line === '-j -4 route show default') return JSON.stringify([{ dev: 'eth0' }]);
    return '';
  };
}

/**
 * Device settings in memory (`device/key` → value), so that nothing writes /proc. Unset keys read as undefined
 * (no IPv6); `writes` records every set as `device/key=value`.
 */
export function fakeDeviceConf(values: Record<string, string> = {}, writes: string[] = []): DeviceConf & { values: Record<string, string> } {
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
