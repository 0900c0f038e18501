// ipMasq's rule set (src/masq/rules.ts) as each backend gets it, byte for byte, and the backends' command sequences
// (src/masq/nft.ts, src/masq/iptables.ts) and choice (src/masq/index.ts) against the recording fake tools. The
// namespace test test/integration/ipmasq.test.ts loads the same text into the real nft and iptables.
import t from 'tap';
import { DataplaneError } from '../../src/errors.js';
import { chooseMasqBackend, startMasq } from '../../src/masq/index.js';
import { iptablesBackend } from '../../src/masq/iptables.js';
import { nftBackend } from '../../src/masq/nft.js';
import { iptablesRestoreInput, masqRules, nftApplyScript, nftRemoveScript } from '../../src/masq/rules.js';
import { Cidr } from '../../src/net/cidr.js';
import { recordingLogger, type LogLine } from '../helpers/kube-source-harness.js';
import { fakeMasq } from '../helpers/fake-masq.js';

const c = (s: string) => Cidr.parse(s);
const net4 = c('10.244.0.0/16');
const net6 = c('fd10:244::/56');
const own4 = c('10.244.1.0/24');
const own6 = c('fd10:244:0:1::/64');

const NFT_V4 = [
  'meta nfproto ipv4 meta mark & 0x00004000 == 0x00004000 return',
  'ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return',
  'ip saddr != 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
  'ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
  'ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
];
const NFT_V6 = [
  'meta nfproto ipv6 meta mark & 0x00004000 == 0x00004000 return',
  'ip6 saddr fd10:244::/56 ip6 daddr fd10:244::/56 return',
  'ip6 saddr != fd10:244::/56 ip6 daddr fd10:244:0:1::/64 return',
  'ip6 saddr fd10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random',
  'ip6 saddr != fd10:244::/56 ip6 daddr fd10:244::/56 masquerade fully-random',
];
const nftScript = (rules: string[]) =>
  'table inet vxtun\ndelete table inet vxtun\n' +
  'table inet vxtun {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n' +
  rules.map((r) => `\t\t${r}\n`).join('') +
  '\t}\n}\n';
const IPT_V4 = [
  '-A VXTUN-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "vxtun masq" -j MASQUERADE --random-fully',
  '-A VXTUN-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "vxtun masq" -j MASQUERADE --random-fully',
];
const IPT_V6 = [
  '-A VXTUN-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG -s fd10:244::/56 -d fd10:244::/56 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG ! -s fd10:244::/56 -d fd10:244:0:1::/64 -m comment --comment "vxtun masq" -j RETURN',
  '-A VXTUN-POSTRTG -s fd10:244::/56 ! -d ff00::/8 -m comment --comment "vxtun masq" -j MASQUERADE --random-fully',
  '-A VXTUN-POSTRTG ! -s fd10:244::/56 -d fd10:244::/56 -m comment --comment "vxtun masq" -j MASQUERADE --random-fully',
];
const restore = (rules: string[]) => `*nat\n:VXTUN-POSTRTG - [0:0]\n${rules.map((r) => `${r}\n`).join('')}COMMIT\n`;
const JUMP = ['-t', 'nat', 'POSTROUTING', '-m', 'comment', '--comment', 'vxtun masq', '-j', 'VXTUN-POSTRTG'];
const jump = (op: string) => [...JUMP.slice(0, 2), op, ...JUMP.slice(2)];

t.test('rule set: what each backend gets, byte for byte', async (t) => {
  const cases = [
    { name: 'IPv4 only', input: { network: net4, podCIDRs: [own4] }, nft: NFT_V4, ipt4: IPT_V4, ipt6: [] as string[] },
    {
      name: 'dual-stack',
      input: { network: net4, ipv6Network: net6, podCIDRs: [own4, own6] },
      nft: [...NFT_V4, ...NFT_V6],
      ipt4: IPT_V4,
      ipt6: IPT_V6,
    },
    // An IPv6 pod CIDR without ipv6Network: the node carries no IPv6 overlay, so no IPv6 rules.
    {
      name: 'IPv6 pod CIDR but no ipv6Network',
      input: { network: net4, podCIDRs: [own4, own6] },
      nft: NFT_V4,
      ipt4: IPT_V4,
      ipt6: [],
    },
    {
      name: 'no own IPv4 subnet (an IPv6-only node): no rule 3 for IPv4',
      input: { network: net4, ipv6Network: net6, podCIDRs: [own6] },
      nft: [...NFT_V4.filter((_, i) => i !== 2), ...NFT_V6],
      ipt4: IPT_V4.filter((_, i) => i !== 2),
      ipt6: IPT_V6,
    },
    {
      name: 'two own IPv4 subnets: rule 3 for each',
      input: { network: net4, podCIDRs: [own4, c('10.244.9.0/24')] },
      nft: [...NFT_V4.slice(0, 3), 'ip saddr != 10.244.0.0/16 ip daddr 10.244.9.0/24 return', ...NFT_V4.slice(3)],
      ipt4: [
        ...IPT_V4.slice(0, 3),
        '-A VXTUN-POSTRTG ! -s 10.244.0.0/16 -d 10.244.9.0/24 -m comment --comment "vxtun masq" -j RETURN',
        ...IPT_V4.slice(3),
      ],
      ipt6: [],
    },
  ];
  for (const k of cases) {
    const rules = masqRules(k.input);
    t.equal(nftApplyScript(rules), nftScript(k.nft), `${k.name}: nft script`);
    t.equal(iptablesRestoreInput(rules, 4), restore(k.ipt4), `${k.name}: iptables-restore input`);
    t.equal(iptablesRestoreInput(rules, 6), restore(k.ipt6), `${k.name}: ip6tables-restore input`);
  }
  t.equal(
    nftRemoveScript(),
    'table inet vxtun\ndelete table inet vxtun\n',
    'nft removal: create-if-absent then delete, so it never fails on "no such table"',
  );
});

t.test('nftables backend: one `nft -f -` transaction to apply, one to remove', async (t) => {
  const f = fakeMasq();
  const b = nftBackend(f.run);
  const rules = masqRules({ network: net4, podCIDRs: [own4] });
  await b.apply(rules);
  await b.apply(rules);
  await b.remove();
  t.same(f.calls, [
    { cmd: 'nft', args: ['-f', '-'], input: nftScript(NFT_V4) },
    { cmd: 'nft', args: ['-f', '-'], input: nftScript(NFT_V4) },
    { cmd: 'nft', args: ['-f', '-'], input: 'table inet vxtun\ndelete table inet vxtun\n' },
  ]);
  const refused = fakeMasq({
    fail: () => ({ status: 1, stdout: '', stderr: 'Error: Could not process rule: Operation not supported\n' }),
  });
  await t.rejects(nftBackend(refused.run).apply(rules), {
    name: 'DataplaneError',
    message: 'nft -f -: Error: Could not process rule: Operation not supported',
  });
});

t.test('iptables backend: its own chain by -restore --noflush, one jump, removed again', async (t) => {
  const f = fakeMasq({ tools: ['iptables', 'ip6tables'] });
  const b = iptablesBackend(f.run);
  const dual = masqRules({ network: net4, ipv6Network: net6, podCIDRs: [own4, own6] });
  await b.apply(dual);
  const w = ['-w', '10'];
  t.same(
    f.calls.map((x) => [x.cmd, ...x.args].join(' ')),
    [
      ['iptables-restore', ...w, '--noflush'],
      ['iptables', ...w, ...jump('-C')],
      ['iptables', ...w, ...jump('-A')],
      ['ip6tables-restore', ...w, '--noflush'],
      ['ip6tables', ...w, ...jump('-C')],
      ['ip6tables', ...w, ...jump('-A')],
    ].map((a) => a.join(' ')),
    'fill each family chain, then add its jump',
  );
  t.equal(f.calls[0]!.input, restore(IPT_V4));
  t.equal(f.calls[3]!.input, restore(IPT_V6));
  f.calls.length = 0;
  await b.apply(dual);
  t.same(f.ipt['iptables']!.jumps, 1, 'a restart does not add a second jump');
  t.notOk(
    f.calls.some((x) => x.args.includes('-A')),
    'no append when the jump exists',
  );

  f.calls.length = 0;
  await b.apply(masqRules({ network: net4, podCIDRs: [own4] }));
  t.equal(
    f.ipt['ip6tables']!.chain,
    null,
    'ipv6Network gone from the config: the IPv6 chain a previous run left is removed',
  );
  t.equal(f.ipt['ip6tables']!.jumps, 0);
  t.equal(f.ipt['iptables']!.chain, restore(IPT_V4));

  f.calls.length = 0;
  await b.remove();
  t.same(f.ipt, { iptables: { chain: null, jumps: 0 }, ip6tables: { chain: null, jumps: 0 } }, 'nothing of vxtun left');
  t.same(
    f.calls.map((x) => [x.cmd, ...x.args.slice(2)].join(' ')),
    [
      'iptables -t nat -S VXTUN-POSTRTG',
      `iptables ${jump('-D').join(' ')}`,
      `iptables ${jump('-D').join(' ')}`,
      'iptables -t nat -F VXTUN-POSTRTG',
      'iptables -t nat -X VXTUN-POSTRTG',
      'ip6tables -t nat -S VXTUN-POSTRTG',
    ],
    'remove: only when the chain exists; every jump, then flush and delete the chain',
  );
  f.calls.length = 0;
  await b.remove();
  t.equal(f.calls.length, 2, 'removing again: one look per family');

  const no6 = fakeMasq({ tools: ['iptables'] });
  await iptablesBackend(no6.run).remove();
  await iptablesBackend(no6.run).apply(masqRules({ network: net4, podCIDRs: [own4] }));
  t.pass('no ip6tables: fine while there is no IPv6 network');
  await t.rejects(iptablesBackend(no6.run).apply(dual), {
    name: 'DataplaneError',
    code: 'ENOENT',
    message: 'ip6tables-restore is not installed',
  });
});

t.test('choice: nftables where nft is installed, else iptables, else none', async (t) => {
  t.equal((await chooseMasqBackend(fakeMasq({ tools: ['nft', 'iptables'] }).run))?.backend.name, 'nftables');
  t.equal((await chooseMasqBackend(fakeMasq({ tools: ['iptables', 'ip6tables'] }).run))?.backend.name, 'iptables');
  t.equal(await chooseMasqBackend(fakeMasq({ tools: [] }).run), null);
  const choice = await chooseMasqBackend(fakeMasq({ tools: ['nft'] }).run);
  t.equal(choice?.version, 'nft v1.0.0 (fake)', 'the version line, for the log');
});

t.test('startMasq: installs and logs, removes once on stop; false removes stale rules; failures', async (t) => {
  const input = { network: net4, podCIDRs: [own4] };
  const logs: LogLine[] = [];
  const f = fakeMasq();
  const m = await startMasq(f.run, { ...input, enabled: true }, recordingLogger(logs));
  t.same(m.state, { enabled: true, backend: 'nftables' });
  t.equal(f.nftTable, nftScript(NFT_V4));
  t.match(logs, [
    {
      level: 'info',
      msg: 'masquerading what leaves the cluster network',
      fields: { backend: 'nftables', network: '10.244.0.0/16', rules: 5 },
    },
  ]);
  await m.stop();
  await m.stop();
  t.equal(f.nftTable, null, 'removed');
  t.equal(f.calls.filter((x) => x.cmd === 'nft' && x.args[0] === '-f').length, 2, 'one apply, one removal');

  const stale = fakeMasq();
  stale.nftTable = 'left by a crashed run';
  const off = await startMasq(stale.run, { ...input, enabled: false }, recordingLogger([]));
  t.same(off.state, { enabled: false, backend: null });
  t.equal(stale.nftTable, null, 'ipMasq false: a stale table is removed');
  t.notOk(
    stale.calls.some((x) => /\{/.test(x.input ?? '')),
    'and nothing installed',
  );

  const warnLogs: LogLine[] = [];
  const broken = fakeMasq({
    fail: (x) =>
      x.args[0] === '-f' ? { status: 1, stdout: '', stderr: 'Error: Operation not permitted\n' } : undefined,
  });
  await startMasq(broken.run, { ...input, enabled: false }, recordingLogger(warnLogs));
  t.match(
    warnLogs,
    [{ level: 'warn', msg: /could not be removed/, fields: { error: 'nft -f -: Error: Operation not permitted' } }],
    'false: a failed removal is a warning only',
  );

  await t.rejects(startMasq(broken.run, { ...input, enabled: true }, recordingLogger([])), {
    name: 'DataplaneError',
    message: 'ipMasq: installing masquerade rules with nftables: nft -f -: Error: Operation not permitted',
  });
  const none = fakeMasq({ tools: [] });
  const err = await startMasq(none.run, { ...input, enabled: true }, recordingLogger([])).catch((e: unknown) => e);
  t.ok(err instanceof DataplaneError, 'DataplaneError (exit 1)');
  t.match((err as Error).message, /^ipMasq is true but neither nft \(nftables\) nor iptables is installed/);
  t.same(
    await startMasq(none.run, { ...input, enabled: false }, recordingLogger([])).then((x) => x.state),
    { enabled: false, backend: null },
    'false without tools: fine',
  );

  // iptables: the kernel refuses the IPv6 half; the IPv4 half already installed is taken out again.
  const half = fakeMasq({
    tools: ['iptables', 'ip6tables'],
    fail: (x) =>
      x.cmd === 'ip6tables-restore'
        ? { status: 2, stdout: '', stderr: 'ip6tables-restore: line 6 failed\n' }
        : undefined,
  });
  await t.rejects(
    startMasq(
      half.run,
      { network: net4, ipv6Network: net6, podCIDRs: [own4, own6], enabled: true },
      recordingLogger([]),
    ),
    {
      message:
        /^ipMasq: installing masquerade rules with iptables: ip6tables-restore -w 10 --noflush: ip6tables-restore: line 6 failed$/,
    },
  );
  t.same(half.ipt['iptables'], { chain: null, jumps: 0 }, 'nothing left behind');
});
