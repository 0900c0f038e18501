// A corpus of bad configs run through the real CLI (`vxtun run --config`) in a lab node: each must exit 2 with
// one line `vxtun: invalid config: <field>: …` naming the offending field, and leave the node's links, addresses
// and routes as they were. (test/unit/config.test.ts checks many more against the validator directly;
// test/integration/vxtun-lifecycle.test.ts has the host-dependent ones: public IP not local, missing interface.)
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../../src/lab/index.js';
import { createCliLab } from '../helpers/cli-lab.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();

t.test('bad configs through the CLI: exit 2, one line naming the field, nothing created', { skip }, async (t) => {
  const { peers, good, snapshot, runConfig } = await createCliLab(t, 'vxtun-bad-configs-');
  const [p1, p2] = peers;
  const withPeer2 = (p: Record<string, unknown>) => ({ ...good, peers: { static: [p1, p] } });

  const cases: [string, unknown, string][] = [
    ['VNI beyond 24 bits', { ...good, vni: 16777216 }, 'vni'],
    ['VNI zero', { ...good, vni: 0 }, 'vni'],
    ['port zero', { ...good, port: 0 }, 'port'],
    ['device name too long', { ...good, device: 'averyveryverylongname0' }, 'device'],
    ['network without a prefix length', { ...good, network: '10.244.0.0' }, 'network'],
    ['network /0', { ...good, network: '0.0.0.0/0' }, 'network'],
    ['IPv4 CIDR as ipv6Network', { ...good, ipv6Network: '10.0.0.0/8' }, 'ipv6Network'],
    ['MTU as a word', { ...good, mtu: 'big' }, 'mtu'],
    ['MTU above the UDP datagram cap', { ...good, mtu: 65486 }, 'mtu'],
    ['multicast VTEP MAC', { ...good, vtepMAC: '01:00:5e:00:00:01' }, 'vtepMAC'],
    ['zero workers', { ...good, dataplane: { workers: 0 } }, 'dataplane.workers'],
    ['unknown engine', { ...good, dataplane: { engine: 'ebpf' } }, 'dataplane.engine'],
    ['bad offload mode', { ...good, dataplane: { offloads: { tso: 'maybe' } } }, 'dataplane.offloads.tso'],
    [
      'security switch as a string',
      { ...good, security: { acceptUnknownVteps: 'yes' } },
      'security.acceptUnknownVteps',
    ],
    ['unknown security key', { ...good, security: { checkOuter: true } }, 'security.checkOuter'],
    ['admin port out of range', { ...good, admin: { listen: '127.0.0.1:70000' } }, 'admin.listen'],
    ['bad peer public IP', withPeer2({ ...p2, publicIP: '192.168.99.300' }), 'peers.static[1].publicIP'],
    ['duplicate peer name', withPeer2({ ...p2, name: 'node-1' }), 'peers.static[1].name'],
    ['peer without a name', withPeer2({ podCIDRs: p2.podCIDRs, publicIP: p2.publicIP }), 'peers.static[1].name'],
    ['multicast peer MAC', withPeer2({ ...p2, vtepMAC: '03:00:00:00:00:01' }), 'peers.static[1].vtepMAC'],
    ['pod CIDR outside network', withPeer2({ ...p2, podCIDRs: ['10.99.2.0/24'] }), 'peers.static[1].podCIDRs[0]'],
    ['overlapping pod CIDRs', withPeer2({ ...p2, podCIDRs: ['10.244.1.0/25'] }), 'peers.static[1].podCIDRs[0]'],
    ['empty node name', { ...good, nodeName: '' }, 'nodeName'],
    ['IPv6 underlay unspecified', { ...good, underlay: { publicIP: '::' } }, 'underlay.publicIP'],
    ['IPv6 underlay loopback', { ...good, underlay: { publicIP: '::1' } }, 'underlay.publicIP'],
    ['IPv6 underlay multicast', { ...good, underlay: { publicIP: 'ff02::1' } }, 'underlay.publicIP'],
    ['IPv6 underlay link-local', { ...good, underlay: { publicIP: 'fe80::1' } }, 'underlay.publicIP'],
    ['IPv6 underlay v4-mapped', { ...good, underlay: { publicIP: '::ffff:192.168.99.1' } }, 'underlay.publicIP'],
    ['IPv6 peer link-local', withPeer2({ ...p2, publicIP: 'fe80::2' }), 'peers.static[1].publicIP'],
    ['IPv6 peer among IPv4 ones', withPeer2({ ...p2, publicIP: 'fd99::2' }), 'peers.static[1].publicIP'],
    ['IPv6 underlay, IPv4 peers', { ...good, underlay: { publicIP: 'fd99::1' } }, 'peers.static[0].publicIP'],
    ['ipMasq as a string', { ...good, ipMasq: 'no' }, 'ipMasq'],
    ['a list at the top level', [good], 'config'],
  ];
  t.ok(cases.length >= 20, `${cases.length} bad configs`);

  const baseline = await snapshot();

  // Two CLI processes at a time (each one is mostly Node start-up); results are checked in order.
  const results: RunResult[] = new Array<RunResult>(cases.length);
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < cases.length; k = next++) {
      const [name, config] = cases[k]!;
      results[k] = await runConfig(`${k}-${name.replace(/\W+/g, '-')}.json`, JSON.stringify(config), 30_000);
    }
  };
  await Promise.all([worker(), worker()]);

  cases.forEach(([name, , field], k) => {
    const r = results[k]!;
    const lines = r.stderr.trim().split('\n');
    t.equal(r.code, 2, `${name}: exit 2`);
    t.equal(lines.length, 1, `${name}: one line (${r.stderr.trim()})`);
    t.match(
      lines[0],
      new RegExp(`^vxtun: invalid config: ${field.replace(/[[\].]/g, '\\$&')}: `),
      `${name}: names ${field}`,
    );
  });
  t.equal(await snapshot(), baseline, 'links, addresses and routes are unchanged');
});

t.test('an IPv6 underlay is accepted: it starts, binds the IPv6 address, and stops cleanly', { skip }, async (t) => {
  const { lab, ns, dir, cli, peers, good } = await createCliLab(t, 'vxtun-v6-config-');
  await lab.ip(ns, ['-6', 'addr', 'add', 'fd99::1/64', 'dev', 'eth0', 'nodad']);
  const [p1, p2] = peers;
  const config = {
    ...good,
    underlay: { publicIP: 'fd99::1' },
    peers: {
      static: [
        { ...p1, publicIP: 'fd99::1' },
        { ...p2, publicIP: 'fd99::2' },
      ],
    },
  };
  const path = join(dir, 'ipv6-underlay.json');
  writeFileSync(path, JSON.stringify(config));
  const proc = lab.spawn(ns, process.execPath, [cli, 'run', '--config', path]);
  t.teardown(() => proc.stop('SIGKILL', 1_000));
  const out = await proc.waitForOutput(/ info ready /, 30_000).catch((e: Error) => `${e.message}\n${proc.stderr()}`);
  t.match(out, / info ready /, 'ready');
  t.match(out, /bind="?\[fd99::1\]:8472"?/, 'the dataplane is bound to [fd99::1]:8472');
  t.match(out, /mtu=1430/, 'the device MTU leaves room for the 70 bytes of IPv6 encapsulation');
  t.same(await proc.stop('SIGTERM', 5_000), { code: 0, signal: null }, 'SIGTERM: exit 0');
});
