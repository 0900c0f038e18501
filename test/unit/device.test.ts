// quietMulticast's steps and their order against fakes (test/integration/vxtun-device.test.ts checks the kernel's
// side): on a router, ff02::2 is left in MLDv1 mode before IFF_MULTICAST goes, and both settings come back. And the
// exact `ip` commands of a start and a clean stop, with the crash guard routes (test/integration/crash-safety.test.ts
// checks what they do).
import t from 'tap';
import {
  configureDevice,
  quietMulticast,
  removeGuardRoutes,
  removeRoutes,
  type DeviceSetup,
  type IpRunner,
} from '../../src/device/device.js';
import { Cidr } from '../../src/net/cidr.js';
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

const dualStack: DeviceSetup = {
  device: 'vxtun0',
  mtu: 1450,
  addresses: ['10.244.1.0/32', 'fd10:244:0:1::/128'],
  routes: [Cidr.parse('10.244.0.0/16'), Cidr.parse('fd10:244::/56')],
};

t.test(
  'start: the device routes, each followed by its crash guard (unreachable, metric 65000, proto 118)',
  async (t) => {
    const log: string[] = [];
    t.same(await configureDevice(ipInto(log), fakeDeviceConf({}, log), dualStack), []);
    t.same(log, [
      'ip link set dev vxtun0 addrgenmode none',
      OFF,
      'ip link set dev vxtun0 mtu 1450 txqueuelen 4096 up',
      'ip link set dev vxtun0 gso_max_segs 128',
      'ip addr replace 10.244.1.0/32 dev vxtun0',
      'ip -6 addr replace fd10:244:0:1::/128 dev vxtun0 nodad',
      'ip route replace 10.244.0.0/16 dev vxtun0',
      'ip route replace unreachable 10.244.0.0/16 metric 65000 proto 118',
      'ip -6 route replace fd10:244::/56 dev vxtun0',
      'ip -6 route replace unreachable fd10:244::/56 metric 65000 proto 118',
    ]);
  },
);

t.test('start fails when the crash guard cannot be installed', async (t) => {
  const log: string[] = [];
  const guard = 'ip -6 route replace unreachable fd10:244::/56 metric 65000 proto 118';
  await t.rejects(configureDevice(ipInto(log, guard), fakeDeviceConf({}, log), dualStack), /boom/);
});

t.test('clean stop: the device routes, then the crash guards (only ours: metric and proto)', async (t) => {
  const log: string[] = [];
  t.same(await removeRoutes(ipInto(log), dualStack), []);
  t.same(await removeGuardRoutes(ipInto(log), dualStack), []);
  t.same(log, [
    'ip route del 10.244.0.0/16 dev vxtun0',
    'ip -6 route del fd10:244::/56 dev vxtun0',
    'ip route del unreachable 10.244.0.0/16 metric 65000 proto 118',
    'ip -6 route del unreachable fd10:244::/56 metric 65000 proto 118',
  ]);
});

t.test('clean stop is best effort: a failed removal is returned, the others still run', async (t) => {
  const log: string[] = [];
  const failing = 'ip route del unreachable 10.244.0.0/16 metric 65000 proto 118';
  const errors = await removeGuardRoutes(ipInto(log, failing), dualStack);
  t.equal(errors.length, 1);
  t.match(errors[0]?.message, /unreachable 10\.244\.0\.0\/16.*boom/);
  t.same(log, [failing, 'ip -6 route del unreachable fd10:244::/56 metric 65000 proto 118']);
});
