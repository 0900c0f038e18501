// /proc/net/dev parsing for the device's kernel counters (status counters.queueDrops), table-tested against real
// layouts: the header lines, a name glued to its first number, IPv6-less hosts, malformed lines.
import t from 'tap';
import { parseProcNetDev } from '../../src/device/device.js';
import { formatStatus } from '../../src/admin/status.js';
import { sampleStatus, zeroCounters } from '../helpers/status-fixture.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
const line = (name: string, tx: number[]) => `${name.padStart(6)}: 1000 10 0 0 0 0 0 0 ${tx.join(' ')}\n`;

const cases: { name: string; text: string; device: string; want: { txDropped: number } | undefined }[] = [
  {
    name: 'the device among others',
    text: HEADER + line('lo', [1, 2, 0, 0, 0, 0, 0, 0]) + line('vxtun0', [5, 6, 0, 13690, 0, 0, 0, 0]),
    device: 'vxtun0',
    want: { txDropped: 13690 },
  },
  {
    name: 'zero drops',
    text: HEADER + line('vxtun0', [5, 6, 0, 0, 0, 0, 0, 0]),
    device: 'vxtun0',
    want: { txDropped: 0 },
  },
  {
    name: 'a name glued to a large byte count',
    text: HEADER + 'vxtun0:123456789012 7 0 0 0 0 0 0 9 9 1 77 0 0 0 0\n',
    device: 'vxtun0',
    want: { txDropped: 77 },
  },
  {
    name: 'a prefix of another device is not it',
    text: HEADER + line('vxtun01', [5, 6, 0, 9, 0, 0, 0, 0]),
    device: 'vxtun0',
    want: undefined,
  },
  { name: 'the device absent', text: HEADER + line('lo', [1, 2, 0, 0, 0, 0, 0, 0]), device: 'vxtun0', want: undefined },
  { name: 'a truncated line', text: HEADER + 'vxtun0: 1 2 3 4\n', device: 'vxtun0', want: undefined },
  {
    name: 'a non-numeric column',
    text: HEADER + 'vxtun0: 1 2 3 4 5 6 7 8 9 10 11 x 13 14 15 16\n',
    device: 'vxtun0',
    want: undefined,
  },
  { name: 'empty text', text: '', device: 'vxtun0', want: undefined },
];

for (const c of cases) t.same(parseProcNetDev(c.text, c.device), c.want, c.name);

t.test('vxtun status prints queue drops only when there are some', async (t) => {
  const base = sampleStatus({
    version: '0.1.0',
    counters: { ...zeroCounters(), txPackets: 1, txBytes: 2, rxPackets: 3, rxBytes: 4 },
  });
  t.notMatch(formatStatus(base), /queue drops/, 'unknown: no line');
  t.notMatch(formatStatus({ ...base, counters: { ...base.counters, queueDrops: 0 } }), /queue drops/, 'zero: no line');
  t.match(
    formatStatus({ ...base, counters: { ...base.counters, queueDrops: 42 } }),
    /^queue drops 42 \(the device's transmit queue was full/m,
  );
});
