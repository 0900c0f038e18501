// flannel's `<prefix>/config` (src/peers/etcd-network.ts): defaults as flanneld derives them, Go's case-insensitive
// keys, every refusal a ConfigError on `<prefix>/config` naming the JSON key; contradictions with the config file name
// both sides.
import t from 'tap';
import { ConfigError } from '../../src/errors.js';
import { Cidr } from '../../src/net/cidr.js';
import { checkAgainstFile, parseNetworkConfig } from '../../src/peers/etcd-network.js';

const KEY = '/coreos.com/network/config';
const parse = (doc: unknown) => parseNetworkConfig(typeof doc === 'string' ? doc : JSON.stringify(doc), KEY);
const vx = { Type: 'vxlan' };
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

t.test('defaults as flannel derives them', async (t) => {
  const cases: [string, number, string, string][] = [
    // Network, SubnetLen, SubnetMin, SubnetMax
    ['10.244.0.0/16', 24, '10.244.1.0/24', '10.244.255.0/24'],
    ['10.5.0.0/22', 24, '10.5.1.0/24', '10.5.3.0/24'],
    ['10.5.0.0/23', 25, '10.5.0.128/25', '10.5.1.128/25'],
    ['192.168.0.0/28', 30, '192.168.0.4/30', '192.168.0.12/30'],
    ['10.1.2.3/16', 24, '10.1.1.0/24', '10.1.255.0/24'], // host bits cleared, as flannel's parser does
  ];
  for (const [net, len, min, max] of cases) {
    const n = parse({ Network: net, Backend: vx });
    t.equal(n.subnets.v4.len, len, `${net} SubnetLen`);
    t.equal(n.subnets.v4.min.toString(), min, `${net} SubnetMin`);
    t.equal(n.subnets.v4.max.toString(), max, `${net} SubnetMax`);
  }
  const n = parse({ Network: '10.244.0.0/16', Backend: vx });
  t.same(
    { ...n.overlay, network: n.overlay.network.toString() },
    { network: '10.244.0.0/16', vni: 1, port: 8472, mtu: 'auto', directRouting: false },
  );
  t.equal(n.subnets.v6, undefined);
});

t.test("flannel's documented example and explicit values, keys in any case", async (t) => {
  const n = parse(
    '{"network":"10.0.0.0/8","SUBNETLEN":20,"subnetMin":"10.10.0.0","SubnetMax":"10.99.0.0",' +
      '"backend":{"type":"VXLAN","vni":4096,"port":4789,"mtu":1500,"directrouting":true,"Learning":true,"GBP":false}}',
  );
  t.equal(n.subnets.v4.len, 20);
  t.equal(n.subnets.v4.min.toString(), '10.10.0.0/20');
  t.equal(n.subnets.v4.max.toString(), '10.99.0.0/20');
  t.equal(n.overlay.vni, 4096);
  t.equal(n.overlay.port, 4789);
  t.equal(n.overlay.mtu, 1450, 'the device MTU is Backend.MTU less 50, as flannel sets it');
  t.equal(n.overlay.directRouting, true);
  const nul = parse({ Network: '10.244.0.0/16', SubnetLen: null, Backend: { Type: 'vxlan', VNI: null } });
  t.equal(nul.subnets.v4.len, 24, 'null is absent, as for Go');
  t.equal(nul.overlay.vni, 1);
  const last = parse('{"Network":"10.1.0.0/16","network":"10.2.0.0/16","Backend":{"Type":"vxlan"}}');
  t.equal(last.overlay.network.toString(), '10.2.0.0/16', 'the last key of any case wins, as in Go');
});

t.test('dual-stack', async (t) => {
  const n = parse({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: vx });
  t.equal(n.overlay.ipv6Network?.toString(), 'fd00:10:244::/56');
  t.equal(n.subnets.v6?.len, 64);
  t.equal(n.subnets.v6?.min.toString(), 'fd00:10:244:1::/64');
  t.equal(n.subnets.v6?.max.toString(), 'fd00:10:244:ff::/64');
  const small = parse({ Network: '10.244.0.0/16', enableipv6: true, ipv6network: 'fd00::/100', Backend: vx });
  t.equal(small.subnets.v6?.len, 102);
  const off = parse({ Network: '10.244.0.0/16', IPv6Network: 'fd00::/56', Backend: vx });
  t.equal(off.overlay.ipv6Network, undefined, 'IPv6Network without EnableIPv6 is not used (as flannel)');
});

t.test('every refusal names its JSON key', async (t) => {
  const bad: [unknown, string, RegExp][] = [
    ['{', 'JSON', /not valid JSON/],
    [[1], 'JSON', /expected an object/],
    [{ Backend: vx }, 'Network', /missing/],
    [{ Network: 'fd00::/56', Backend: vx }, 'Network', /IPv4/],
    [{ Network: 10, Backend: vx }, 'Network', /CIDR/],
    [{ Network: '10.244.0.0/29', Backend: vx }, 'Network', /too small/],
    [{ Network: '10.244.0.0/16', EnableIPv4: false, Backend: vx }, 'EnableIPv4', /vxtun needs an IPv4 network/],
    [{ Network: '10.244.0.0/16', EnableIPv4: 'yes', Backend: vx }, 'EnableIPv4', /true or false/],
    [{ Network: '10.244.0.0/16', SubnetLen: 31, Backend: vx }, 'SubnetLen', /longer than \/30/],
    [{ Network: '10.244.0.0/16', SubnetLen: 17, Backend: vx }, 'SubnetLen', /fewer than four subnets/],
    [{ Network: '10.244.0.0/16', SubnetLen: 24.5, Backend: vx }, 'SubnetLen', /integer/],
    [{ Network: '10.244.0.0/16', SubnetMin: '10.245.0.0', Backend: vx }, 'SubnetMin', /outside Network/],
    [{ Network: '10.244.0.0/16', SubnetMax: '10.244.3.7', Backend: vx }, 'SubnetMax', /boundary/],
    [{ Network: '10.244.0.0/16', SubnetMin: '10.244.9.0', SubnetMax: '10.244.3.0', Backend: vx }, 'SubnetMin', /after/],
    [{ Network: '10.244.0.0/16', SubnetMin: 'x', Backend: vx }, 'SubnetMin', /IPv4 address/],
    [{ Network: '10.244.0.0/16', EnableIPv6: true, Backend: vx }, 'IPv6Network', /EnableIPv6/],
    [
      { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/56', IPv6SubnetLen: 127, Backend: vx },
      'IPv6SubnetLen',
      /126/,
    ],
    [{ Network: '10.244.0.0/16' }, 'Backend', /"udp".*vxlan only/],
    [{ Network: '10.244.0.0/16', Backend: 'vxlan' }, 'Backend', /object/],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'host-gw' } }, 'Backend.Type', /vxlan only/],
    [{ Network: '10.244.0.0/16', Backend: {} }, 'Backend.Type', /string/],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 0 } }, 'Backend.VNI', /1\.\.16777215/],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 70000 } }, 'Backend.Port', /0\.\.65535/],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', MTU: 600 } }, 'Backend.MTU', /below 576/],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', GBP: true } }, 'Backend.GBP', /group policy/],
    [
      { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', DirectRouting: 1 } },
      'Backend.DirectRouting',
      /true or false/,
    ],
  ];
  for (const [doc, key, why] of bad) {
    const e = thrown(() => parse(doc));
    t.ok(
      e instanceof ConfigError && e.field === KEY && e.message.startsWith(`${KEY}: ${key}: `) && why.test(e.message),
      `${JSON.stringify(doc)} → ${key}: ${String(e)}`,
    );
  }
});

t.test('checkAgainstFile: the file may repeat <prefix>/config, not contradict it', async (t) => {
  const n = parse({ Network: '10.244.0.0/16', Backend: vx });
  t.same(checkAgainstFile(n, {}, KEY), n.overlay);
  t.same(checkAgainstFile(n, { network: Cidr.parse('10.244.0.0/16'), vni: 1, port: 8472 }, KEY), n.overlay);
  t.equal(checkAgainstFile(n, { mtu: 1400 }, KEY).mtu, 1400, "Backend.MTU unset: the file's device MTU stands");
  const clash = (file: Parameters<typeof checkAgainstFile>[1], field: string, msg: string, net = n) => {
    const e = thrown(() => checkAgainstFile(net, file, KEY));
    t.ok(e instanceof ConfigError && e.field === field && e.message === msg, `${msg} (got ${String(e)})`);
  };
  clash(
    { network: Cidr.parse('10.1.0.0/16') },
    'network',
    'network: 10.1.0.0/16 in the config file, but /coreos.com/network/config has Network 10.244.0.0/16',
  );
  clash({ vni: 2 }, 'vni', 'vni: 2 in the config file, but /coreos.com/network/config has Backend.VNI 1');
  clash(
    { port: 4789 },
    'port',
    'port: 4789 in the config file, but /coreos.com/network/config has Backend.Port 8472 (or 0)',
  );
  clash(
    { ipv6Network: Cidr.parse('fd00::/56') },
    'ipv6Network',
    'ipv6Network: fd00::/56 in the config file, but /coreos.com/network/config has no IPv6Network (EnableIPv6 is not true)',
  );
  const m = parse({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', MTU: 1500 } });
  clash(
    { mtu: 1400 },
    'mtu',
    'mtu: 1400 in the config file, but /coreos.com/network/config has Backend.MTU 1500 (a device MTU of 1450)',
    m,
  );
});
