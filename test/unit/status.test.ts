// The pure parts of the status document (src/admin/status.ts): each offload's state and its line in `vxtun status`,
// derived from the one offload list (src/dataplane/offloads.ts), and the drop sums per reason.
import t from 'tap';
import { formatStatus, mergeDrops, offloadStates, type Status } from '../../src/admin/status.js';
import { NO_OFFLOADS, OFFLOADS, perOffload } from '../../src/dataplane/offloads.js';
import type { DataplaneStats } from '../../src/dataplane/types.js';
import { sampleStatus } from '../helpers/status-fixture.js';

const status = (offloads: Status['offloads']): Status => sampleStatus({ offloads });

t.test('offloadStates: one entry per offload, on exactly where the flag is set', async (t) => {
  t.same(Object.keys(offloadStates(NO_OFFLOADS)), [...OFFLOADS], 'every offload, in list order');
  t.same(offloadStates({ tso: true, gro: false, udpGso: true, udpGro: false }), {
    tso: 'on',
    gro: 'off',
    udpGso: 'on',
    udpGro: 'off',
  });
  for (const o of OFFLOADS) {
    const only = offloadStates(perOffload((k) => k === o));
    t.same(
      Object.entries(only)
        .filter(([, v]) => v === 'on')
        .map(([k]) => k),
      [o],
      `only ${o} on`,
    );
  }
});

t.test('vxtun status names every offload with its state', async (t) => {
  const text = formatStatus(status({ tso: 'on', gro: 'off', udpGso: 'on', udpGro: 'off' }));
  t.match(text, /\n?engine native {2}workers 2 {2}offloads tso=on gro=off udpGso=on udpGro=off\n/);
});

t.test('mergeDrops: transmit and receive summed per reason, every known reason present', async (t) => {
  const s = { txDrops: { 'no-route': 2 }, rxDrops: { vni: 3, 'no-route': 1, unknown: 9 } } as unknown as DataplaneStats;
  t.same(
    mergeDrops(['vni', 'no-route', 'short'], s),
    { vni: 3, 'no-route': 3, short: 0 },
    'reasons not in the list are left out',
  );
});
