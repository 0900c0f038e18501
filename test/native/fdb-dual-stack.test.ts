// The native forwarding table with dual-stack peers (README "How it works"; the contract's decisions 4-6): Build and
// Update accept a peer's IPv6 second endpoint and refuse every invalid shape, PeerByIp finds a peer by either
// endpoint, and the transmit endpoint choice (native/core/fdb.h ChooseEndpoint) equals the reference
// (src/dataplane/codec.ts chooseEndpoint) over every inner family × local underlay × peer shape.
import t from 'tap';
import { chooseEndpoint } from '../../src/dataplane/codec.js';
import { loadNative } from '../../src/dataplane/addon.js';
import { openJsDataplane } from '../../src/dataplane/engine-js.js';
import { loadTestingAddon } from '../../src/dataplane/testing.js';
import type { DataplaneOptions, DataplanePeer, DataplaneTable } from '../../src/dataplane/types.js';
import { Cidr } from '../../src/net/cidr.js';
import { parseIP } from '../../src/net/ip.js';
import type { Peer } from '../../src/peers/peer.js';

const native = loadTestingAddon();

const DUAL: DataplanePeer = {
  name: 'dual',
  publicIP: '192.0.2.1',
  vtepMAC: '02:00:00:00:00:01',
  publicIPv6: '2001:db8::1',
  vtepMACv6: '02:00:00:00:06:01',
  cidrs: ['10.244.1.0/24', 'fd00:1::/64'],
};
const V4ONLY: DataplanePeer = {
  name: 'v4',
  publicIP: '192.0.2.2',
  vtepMAC: '02:00:00:00:00:02',
  cidrs: ['10.244.2.0/24'],
};
const V6ONLY: DataplanePeer = {
  name: 'v6',
  publicIP: '2001:db8::3',
  vtepMAC: '02:00:00:00:00:03',
  cidrs: ['10.244.3.0/24', 'fd00:3::/64'],
};
const table = (peers: DataplanePeer[]): DataplaneTable => ({ local: ['10.244.0.0/24'], peers });

t.test('a table with dual-stack peers: both endpoints kept and found by PeerByIp', async (t) => {
  const tb = new native.Table(table([DUAL, V4ONLY, V6ONLY]));
  t.same(tb.peers(), [
    {
      name: 'dual',
      publicIP: '192.0.2.1',
      vtepMAC: '02:00:00:00:00:01',
      publicIPv6: '2001:db8::1',
      vtepMACv6: '02:00:00:00:06:01',
    },
    { name: 'v4', publicIP: '192.0.2.2', vtepMAC: '02:00:00:00:00:02' },
    { name: 'v6', publicIP: '2001:db8::3', vtepMAC: '02:00:00:00:00:03' },
  ]);
  t.equal(tb.peerByIp('192.0.2.1'), 'dual');
  t.equal(tb.peerByIp('2001:db8::1'), 'dual');
  t.equal(tb.peerByIp('2001:db8::3'), 'v6');
  t.equal(tb.peerByIp('2001:db8::2'), null);
  t.equal(tb.peerByIp('::ffff:192.0.2.1'), null, 'an IPv4-mapped address is not the IPv4 endpoint');
  t.equal(tb.lookup('fd00:1::5'), 'dual');
  // The receive checks accept a datagram from either endpoint and reject an unknown one.
  const policy = { vni: 1, vtepMAC: '02:00:00:00:00:aa', acceptUnknownVteps: false, checkInnerSource: true };
  const inner = Uint8Array.from([0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 244, 1, 9, 10, 244, 0, 9]);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (inner[i]! << 8) | inner[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  inner[10] = (~sum >> 8) & 0xff;
  inner[11] = ~sum & 0xff;
  const datagram = native.encap(inner, 1, '02:00:00:00:00:aa', '02:00:00:00:06:01');
  t.match(tb.classifyRx(datagram, '2001:db8::1', policy), { verdict: 'forward', peer: 'dual' });
  t.match(tb.classifyRx(datagram, '192.0.2.1', policy), { verdict: 'forward', peer: 'dual' });
  t.match(tb.classifyRx(datagram, '2001:db8::9', policy), { verdict: 'unknown-vtep' });
  t.match(tb.classifyRx(datagram, '2001:db8::3', policy), { verdict: 'spoofed-source' }, 'v6 peer, dual pods');
  // After an update the old second endpoint is gone from the receive map, the new one is there.
  tb.update([{ ...DUAL, publicIPv6: '2001:db8::11' }], []);
  t.equal(tb.peerByIp('2001:db8::1'), null);
  t.equal(tb.peerByIp('2001:db8::11'), 'dual');
  tb.update([{ ...DUAL, publicIPv6: undefined, vtepMACv6: undefined }], []);
  t.equal(tb.peerByIp('2001:db8::11'), null);
  t.notOk('publicIPv6' in tb.peers()[0]!, 'a peer upserted without a second endpoint has none');
});

t.test('Build and Update refuse every invalid second endpoint', async (t) => {
  const refused: [string, DataplanePeer[], RegExp, 'RangeError' | 'TypeError'][] = [
    ['second endpoint IPv4', [{ ...DUAL, publicIPv6: '192.0.2.9' }], /must be IPv6/, 'RangeError'],
    [
      'primary IPv6 with a second endpoint',
      [{ ...DUAL, publicIP: '2001:db8::9' }],
      /must be IPv6 and the public IP IPv4/,
      'RangeError',
    ],
    ['publicIPv6 without vtepMACv6', [{ ...DUAL, vtepMACv6: undefined }], /both or neither/, 'TypeError'],
    ['vtepMACv6 without publicIPv6', [{ ...V4ONLY, vtepMACv6: '02:00:00:00:00:09' }], /both or neither/, 'TypeError'],
    ['bad vtepMACv6', [{ ...DUAL, vtepMACv6: '02:00:00:00:00' }], /bad vtepMACv6/, 'TypeError'],
    ['bad publicIPv6', [{ ...DUAL, publicIPv6: 'nope' }], /publicIPv6/, 'TypeError'],
    [
      "second endpoint = another peer's public IP",
      [V6ONLY, { ...DUAL, publicIPv6: '2001:db8::3' }],
      /used by another peer/,
      'RangeError',
    ],
    [
      "public IP = another peer's second endpoint",
      [DUAL, { ...V6ONLY, publicIP: '2001:db8::1' }],
      /used by another peer/,
      'RangeError',
    ],
    [
      'two second endpoints alike',
      [DUAL, { ...DUAL, name: 'dual2', publicIP: '192.0.2.7', cidrs: ['10.244.7.0/24'] }],
      /used by another peer/,
      'RangeError',
    ],
  ];
  for (const [what, peers, msg, type] of refused) {
    t.throws(() => new native.Table(table(peers)), { name: type, message: msg }, `build: ${what}`);
    // Update: from a valid table, the same peers upserted; the table is unchanged after the refusal.
    const tb = new native.Table(table([]));
    t.throws(() => tb.update(peers, []), { name: type, message: msg }, `update: ${what}`);
    t.same(tb.peers(), [], `update: ${what}: table unchanged`);
  }
  // Valid: the second endpoint freed by one peer taken by another in the same update.
  const tb = new native.Table(table([DUAL]));
  tb.update(
    [
      { ...DUAL, publicIPv6: '2001:db8::2' },
      { ...V6ONLY, publicIP: '2001:db8::1' },
    ],
    [],
  );
  t.equal(tb.peerByIp('2001:db8::1'), 'v6');
  t.equal(tb.peerByIp('2001:db8::2'), 'dual');
});

t.test(
  'endpoint choice: native ChooseEndpoint = codec.ts chooseEndpoint = the contract, every combination',
  async (t) => {
    const tb = new native.Table(table([DUAL, V4ONLY, V6ONLY]));
    const asPeer = (p: DataplanePeer): Peer => ({
      name: p.name,
      publicIP: parseIP(p.publicIP)!,
      vtepMAC: p.vtepMAC,
      ...(p.publicIPv6 ? { publicIPv6: parseIP(p.publicIPv6)!, vtepMACv6: p.vtepMACv6! } : {}),
      podCIDRs: p.cidrs.map((c) => Cidr.parse(c)),
    });
    const A = (p: DataplanePeer) => ({ ip: p.publicIP, mac: p.vtepMAC });
    const B = (p: DataplanePeer) => ({ ip: p.publicIPv6!, mac: p.vtepMACv6! });
    // [peer, inner family, have4, have6] → expected (written out from decision 4, not computed)
    const cases: [DataplanePeer, 4 | 6, boolean, boolean, { ip: string; mac: string } | null][] = [
      [DUAL, 4, true, true, A(DUAL)],
      [DUAL, 6, true, true, B(DUAL)],
      [DUAL, 4, true, false, A(DUAL)],
      [DUAL, 6, true, false, A(DUAL)],
      [DUAL, 4, false, true, B(DUAL)],
      [DUAL, 6, false, true, B(DUAL)],
      [DUAL, 4, false, false, null],
      [DUAL, 6, false, false, null],
      [V4ONLY, 4, true, true, A(V4ONLY)],
      [V4ONLY, 6, true, true, A(V4ONLY)],
      [V4ONLY, 4, true, false, A(V4ONLY)],
      [V4ONLY, 6, true, false, A(V4ONLY)],
      [V4ONLY, 4, false, true, null],
      [V4ONLY, 6, false, true, null],
      [V6ONLY, 4, true, true, A(V6ONLY)],
      [V6ONLY, 6, true, true, A(V6ONLY)],
      [V6ONLY, 4, true, false, null],
      [V6ONLY, 6, true, false, null],
      [V6ONLY, 4, false, true, A(V6ONLY)],
      [V6ONLY, 6, false, true, A(V6ONLY)],
      [V6ONLY, 4, false, false, null],
    ];
    for (const [p, fam, have4, have6, want] of cases) {
      const what = `${p.name} inner v${fam} local ${have4 ? '4' : ''}${have6 ? '6' : ''}${!have4 && !have6 ? 'none' : ''}`;
      t.same(tb.chooseEndpoint(p.name, fam, have4, have6), want, `native: ${what}`);
      const local = new Set<4 | 6>([...(have4 ? [4 as const] : []), ...(have6 ? [6 as const] : [])]);
      const ref = chooseEndpoint(asPeer(p), fam, local);
      t.same(ref === null ? null : { ip: ref.ip.text, mac: ref.mac }, want, `reference: ${what}`);
    }
    t.equal(tb.chooseEndpoint('nobody', 4, true, true), null);
  },
);

t.test(
  'dataplane options: bindIPv6 must be IPv6 and bindIP then IPv4 (refused before anything is opened)',
  async (t) => {
    const prod = loadNative();
    const base: DataplaneOptions = {
      device: 'vxtnever0',
      workers: 1,
      port: 8472,
      bindIP: '192.0.2.1',
      mtu: 1400,
      vni: 1,
      vtepMAC: '02:00:00:00:00:01',
      acceptUnknownVteps: false,
      checkInnerSource: true,
    };
    const bad: [string, Partial<DataplaneOptions>, string, RegExp][] = [
      ['bindIPv6 IPv4', { bindIPv6: '192.0.2.2' }, 'RangeError', /bindIPv6 must be/],
      ['bindIP IPv6 with bindIPv6', { bindIP: '2001:db8::1', bindIPv6: '2001:db8::2' }, 'RangeError', /bindIP/],
      ['bindIPv6 no address', { bindIPv6: 'nope' }, 'TypeError', /bindIPv6/],
    ];
    for (const [what, o, name, message] of bad) {
      t.throws(() => new prod.Dataplane({ ...base, ...o }), { name, message }, `native: ${what}`);
      if (name === 'RangeError') {
        await t.rejects(
          openJsDataplane(prod, { ...base, ...o }),
          { name, message: /bindIPv6 must be IPv6/ },
          `js: ${what}`,
        );
      }
    }
  },
);
