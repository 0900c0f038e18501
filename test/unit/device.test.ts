// quietMulticast's steps and their order against fakes (test/integration/vxtun-device.test.ts checks the kernel's
// side): on a router, ff02::2 is left in MLDv1 mode before IFF_MULTICAST goes, and both settings come back.
import t from 'tap';
import { quietMulticast, type IpRunner } from '../../src/device/device.js';
import { fakeDeviceConf } from '../helpers/fake-dataplane.js';

/** An `ip` runner that records its calls in `log` (as `ip …`) and fails `failOn` when given. */
function ipInto(log: string[], failOn?: string): IpRunner {
  return async (args) => {
    const line = `ip ${args.join(' ')}`;
    log.push(line);
    if (line === failOn) throw new Error(`${line}: boom`);
    return '';
  };
}

const OFF = 'ip link set dev vxtun0 multicast off';

t.test('router: leave ff02::2 silently (MLDv1), clear IFF_MULTICAST, restore both settings', async (t) => {
  const log: string[] = [];
  const conf = fakeDeviceConf({ 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '0' }, log);
  await quietMulticast(ipInto(log), conf, 'vxtun0');
  t.same(log, [
    'vxtun0/force_mld_version=1',
    'vxtun0/forwarding=0',
    OFF,
    'vxtun0/forwarding=1',
    'vxtun0/force_mld_version=0',
  ]);
});

t.test('a non-default MLD version is restored as it was', async (t) => {
  const log: string[] = [];
  const conf = fakeDeviceConf({ 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '2' }, log);
  await quietMulticast(ipInto(log), conf, 'vxtun0');
  t.same(conf.values, { 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '2' });
});

t.test('not a router, or no IPv6: only IFF_MULTICAST is cleared, no setting is written', async (t) => {
  for (const values of [{ 'vxtun0/forwarding': '0', 'vxtun0/force_mld_version': '0' }, {}] as Record<
    string,
    string
  >[]) {
    const log: string[] = [];
    await quietMulticast(ipInto(log), fakeDeviceConf(values, log), 'vxtun0');
    t.same(log, [OFF], JSON.stringify(values));
  }
});

t.test('the settings are restored when clearing the flag fails', async (t) => {
  const log: string[] = [];
  const conf = fakeDeviceConf({ 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '0' }, log);
  await t.rejects(quietMulticast(ipInto(log, OFF), conf, 'vxtun0'), /boom/);
  t.same(conf.values, { 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '0' });
});

t.test(
  'a read-only /proc/sys does not stop the start: IFF_MULTICAST is still cleared, and the result says why',
  async (t) => {
    const log: string[] = [];
    const conf = fakeDeviceConf({ 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '0' }, log);
    conf.set = async (device, key) => {
      throw new Error(`writing /proc/sys/net/ipv6/conf/${device}/${key}: EROFS`);
    };
    const problem = await quietMulticast(ipInto(log), conf, 'vxtun0');
    t.match(problem, /could not leave the all-routers group ff02::2 \(writing .*force_mld_version: EROFS\)/);
    t.same(log, [OFF]);
  },
);

t.test('settings changed before a failure are restored', async (t) => {
  const log: string[] = [];
  const conf = fakeDeviceConf({ 'vxtun0/forwarding': '1', 'vxtun0/force_mld_version': '0' }, log);
  const set = conf.set.bind(conf);
  conf.set = async (device, key, value) => {
    if (key === 'forwarding' && value === '0') throw new Error('EPERM');
    return set(device, key, value);
  };
  t.match(await quietMulticast(ipInto(log), conf, 'vxtun0'), /EPERM/);
  t.same(log, ['vxtun0/force_mld_version=1', OFF, 'vxtun0/force_mld_version=0']);
});
