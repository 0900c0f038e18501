// An IPv6 underlay on the daemon side (src/daemon/underlay.ts, src/device/device.ts, the js engine's outer source):
// which addresses can be bound, the family that picks them, and the device MTU that leaves room for the 70 bytes
// of IPv6 encapsulation.
import t from 'tap';
import { parseConfigText, type Config } from '../../src/config/index.js';
import {
  deviceMtu,
  encapOverhead,
  ENCAP_OVERHEAD_V4,
  ENCAP_OVERHEAD_V6,
  resolveUnderlay,
} from '../../src/daemon/underlay.js';
import { outerSource } from '../../src/dataplane/engine-js.js';
import { parseUnderlayAddresses, type IpRunner } from '../../src/device/device.js';
import { parseIP } from '../../src/net/ip.js';

// What `ip -j -6 addr show` prints on a node with a ULA and a global address on eth0, a link-local one on each
// link, ::1 on lo and an address whose duplicate address detection failed on eth1.
const V6_ADDRS = JSON.stringify([
  {
    ifname: 'lo',
    mtu: 65536,
    addr_info: [{ family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' }],
  },
  {
    ifname: 'eth0',
    mtu: 1500,
    addr_info: [
      { family: 'inet6', local: 'fd99::1', prefixlen: 64, scope: 'global', nodad: true },
      { family: 'inet6', local: '2001:db8::1', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ],
  },
  {
    ifname: 'eth1',
    mtu: 9000,
    addr_info: [
      { family: 'inet6', local: 'fd98::1', prefixlen: 64, scope: 'global', tentative: true, dadfailed: true },
      { family: 'inet6', local: 'fd97::1', prefixlen: 64, scope: 'global', tentative: true },
      { family: 'inet6', local: 'fe80::2', prefixlen: 64, scope: 'link' },
    ],
  },
]);
const V4_ADDRS = JSON.stringify([
  { ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
  { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: '192.168.99.1', prefixlen: 24 }] },
]);

/** An `ip` runner for that node: IPv4 and IPv6 addresses, and a default route of each family (IPv6 via eth1). */
function dualIp(calls: string[] = []): IpRunner {
  return async (args) => {
    const line = args.join(' ');
    calls.push(line);
    if (line === '-j -6 addr show') return V6_ADDRS;
    if (line === '-j -4 addr show') return V4_ADDRS;
    if (line === '-j -6 route show default')
      return JSON.stringify([{ dst: 'default', gateway: 'fd97::fe', dev: 'eth1' }]);
    if (line === '-j -4 route show default') return JSON.stringify([{ dev: 'eth0' }]);
    throw new Error(`unexpected ip ${line}`);
  };
}

const config = (underlay: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Config =>
  parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      admin: { listen: 'off' },
      underlay,
      peers: {
        static: [
          { name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: 'fd99::1' },
          { name: 'node-b', podCIDRs: ['10.244.2.0/24'], publicIP: 'fd99::2' },
        ],
      },
      ...extra,
    }),
    'v6.json',
    { hostname: 'x' },
  );

t.test('parseUnderlayAddresses: IPv6 global scope only, not DAD-failed; IPv4 all but loopback', async (t) => {
  t.same(parseUnderlayAddresses(V6_ADDRS, 6), [
    { interface: 'eth0', address: 'fd99::1', prefixLen: 64, mtu: 1500 },
    { interface: 'eth0', address: '2001:db8::1', prefixLen: 64, mtu: 1500 },
    { interface: 'eth1', address: 'fd97::1', prefixLen: 64, mtu: 9000 },
  ]);
  t.same(parseUnderlayAddresses(V4_ADDRS, 4), [
    { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
  ]);
  t.same(parseUnderlayAddresses(V6_ADDRS, 4), [], 'no inet entries in the IPv6 list');
  t.same(parseUnderlayAddresses(V4_ADDRS, 6), [], 'no inet6 entries in the IPv4 list');
  t.same(parseUnderlayAddresses('[{"ifname":"eth0","mtu":1500}]', 6), [], 'a link without addresses');
});

t.test('resolveUnderlay: an IPv6 publicIP or own entry picks the IPv6 addresses', async (t) => {
  const own = { ip: parseIP('fd99::1')!, field: 'peers.static' };
  const calls: string[] = [];
  const want = {
    publicIP: 'fd99::1',
    bind: { interface: 'eth0', address: 'fd99::1', prefixLen: 64, mtu: 1500 },
    family: 6,
  };
  t.same(await resolveUnderlay(dualIp(calls), config({ publicIP: 'fd99::1' }), own), want, 'underlay.publicIP');
  t.same(calls, ['-j -6 addr show'], 'only the IPv6 addresses are listed');
  t.same(await resolveUnderlay(dualIp(), config(), own), want, "this node's static entry");
  t.same(
    await resolveUnderlay(dualIp(), config({ interface: 'eth0', publicIP: '2001:db8::1' }), own),
    {
      publicIP: '2001:db8::1',
      bind: { interface: 'eth0', address: '2001:db8::1', prefixLen: 64, mtu: 1500 },
      family: 6,
    },
    'the second global address of eth0',
  );
  t.same(
    await resolveUnderlay(dualIp(), config({ interface: 'eth1', publicIP: 'fd99::1' }), own),
    { publicIP: 'fd99::1', bind: { interface: 'eth1', address: 'fd97::1', prefixLen: 64, mtu: 9000 }, family: 6 },
    'a publicIP not on underlay.interface is advertised; the interface’s own address is bound (as for IPv4)',
  );
  await t.rejects(resolveUnderlay(dualIp(), config({ publicIP: 'fd99::7' }), own), {
    name: 'ConfigError',
    field: 'underlay.publicIP',
    message:
      'underlay.publicIP: fd99::7 is not an address of this host; set underlay.interface to bind another address',
  });
  await t.rejects(
    resolveUnderlay(dualIp(), config({ publicIP: 'fd98::1' }), own),
    {
      field: 'underlay.publicIP',
      message: /fd98::1 is not an address of this host/,
    },
    'a DAD-failed address is not bound',
  );
  await t.rejects(resolveUnderlay(dualIp(), config({ interface: 'lo' }), own), {
    field: 'underlay.interface',
    message: 'underlay.interface: lo does not exist or has no global IPv6 address',
  });
  const linkOnly: IpRunner = async (args) =>
    args.join(' ') === '-j -6 route show default'
      ? '[]'
      : JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: [] }]);
  await t.rejects(
    resolveUnderlay(linkOnly, config(), { ip: parseIP('fd99::1')! }),
    { field: 'underlay', message: /no IPv6 default route to pick the underlay interface from/ },
    'a hint that is not ours and no IPv6 default route',
  );
});

t.test('resolveUnderlay: without any address known the underlay stays IPv4', async (t) => {
  const calls: string[] = [];
  const v4 = parseConfigText(
    JSON.stringify({
      nodeName: 'node-a',
      network: '10.244.0.0/16',
      peers: { static: [{ name: 'node-a', podCIDRs: ['10.244.1.0/24'], publicIP: '192.168.99.1' }] },
    }),
    'v4.json',
    { hostname: 'x' },
  );
  t.same(await resolveUnderlay(dualIp(calls), v4, undefined), {
    publicIP: '192.168.99.1',
    bind: { interface: 'eth0', address: '192.168.99.1', prefixLen: 24, mtu: 1500 },
    family: 4,
  });
  t.same(calls, ['-j -4 addr show', '-j -4 route show default']);
});

t.test('deviceMtu: 70 bytes of encapsulation over IPv6, 50 over IPv4', async (t) => {
  t.equal(ENCAP_OVERHEAD_V6, 40 + 8 + 8 + 14);
  t.equal(ENCAP_OVERHEAD_V4, 20 + 8 + 8 + 14);
  t.equal(encapOverhead(6), 70);
  t.equal(encapOverhead(4), 50);
  const bind = { interface: 'eth0', address: 'fd99::1', prefixLen: 64, mtu: 1500 };
  t.equal(deviceMtu(config(), { publicIP: 'fd99::1', bind, family: 6 }), 1430, '1500 − 70');
  t.equal(deviceMtu(config(), { publicIP: 'fd99::1', bind: { ...bind, mtu: 9000 }, family: 6 }), 8930);
  t.equal(deviceMtu(config({}, { mtu: 1400 }), { publicIP: 'fd99::1', bind, family: 6 }), 1400, 'configured');
  t.throws(
    () =>
      deviceMtu(config({}, { ipv6Network: 'fd10:244::/56' }), {
        publicIP: 'fd99::1',
        bind: { ...bind, mtu: 1349 },
        family: 6,
      }),
    /mtu: 1279 is below 1280 \(underlay eth0 has MTU 1349\)/,
  );
});

t.test("outerSource: dgram's address text as an IP, zone dropped", async (t) => {
  t.equal(outerSource('fd99::2')?.text, 'fd99::2');
  t.equal(outerSource('192.168.99.2')?.text, '192.168.99.2');
  t.equal(outerSource('fe80::1%eth0')?.text, 'fe80::1', 'a link-local source: an unknown VTEP, never a peer');
  t.equal(outerSource('nonsense'), null);
});
