// The handover's pure rules (src/handover/protocol.ts): which config differences a handover cannot bridge, the line
// framing, and that every malformed message from the other side is an error, never a crash or a half-read message.
import t from 'tap';
import {
  decode,
  encode,
  fdCount,
  identityConflict,
  LineReader,
  type HandoverIdentity,
  type Message,
} from '../../src/handover/protocol.js';

const id: HandoverIdentity = {
  device: 'vxtun0',
  port: 8472,
  vni: 1,
  workers: 2,
  engine: 'native',
  bindIP: '192.168.99.1',
  bindIPv6: null,
  network: '10.244.0.0/16',
  ipv6Network: null,
  podCIDRs: ['10.244.1.0/24'],
  vtepMAC: '0a:58:0a:f4:01:01',
  vtepMACFixed: false,
};

t.test('identityConflict names the first field that differs, running and new values', async (t) => {
  t.equal(identityConflict(id, { ...id }), undefined, 'same identity');
  t.equal(
    identityConflict(id, { ...id, vtepMAC: '0a:58:0a:f4:01:99' }),
    undefined,
    "vtepMAC 'auto': the running one's",
  );
  t.equal(identityConflict(id, { ...id, vni: 2 }), 'vni differs (running: 1, new: 2)');
  t.equal(identityConflict(id, { ...id, device: 'vx1' }), 'device differs (running: vxtun0, new: vx1)');
  t.equal(identityConflict(id, { ...id, port: 4789 }), 'port differs (running: 8472, new: 4789)');
  t.equal(identityConflict(id, { ...id, workers: 3 }), 'workers differs (running: 2, new: 3)');
  t.equal(identityConflict(id, { ...id, bindIPv6: 'fd99::1' }), 'bindIPv6 differs (running: none, new: fd99::1)');
  t.equal(
    identityConflict(id, { ...id, podCIDRs: ['10.244.2.0/24'] }),
    'podCIDRs differs (running: 10.244.1.0/24, new: 10.244.2.0/24)',
  );
  t.equal(identityConflict(id, { ...id, engine: 'js' }), 'engine differs (running: native, new: js)');
  t.equal(identityConflict({ ...id, engine: 'js' }, id), 'engine js cannot hand over its dataplane');
  t.equal(
    identityConflict(id, { ...id, vtepMAC: '0a:58:0a:f4:01:99', vtepMACFixed: true }),
    'vtepMAC differs (running: 0a:58:0a:f4:01:01, new: 0a:58:0a:f4:01:99)',
  );
});

t.test('fdCount: TUN queues, then per family one receive and txPerWorker transmit sockets per worker', async (t) => {
  t.equal(fdCount(id, 4), 2 * (1 + 1 + 4));
  t.equal(fdCount({ ...id, bindIPv6: 'fd99::1' }, 4), 2 * (1 + 2 * 5));
});

t.test('LineReader joins split lines, drops empty ones (the fd bytes), and bounds a line', async (t) => {
  const r = new LineReader(16);
  t.same(r.push(Buffer.from('{"a"')), []);
  t.same(r.push(Buffer.from(':1}\n\n\n{"b":2}\n{')), ['{"a":1}', '{"b":2}']);
  t.same(r.push(Buffer.from('}\n')), ['{}']);
  t.throws(() => r.push(Buffer.from('x'.repeat(17))), /longer than 16 bytes/);
  const big = new LineReader(16);
  t.same(big.push(Buffer.from('x'.repeat(16) + '\n')), ['x'.repeat(16)], 'exactly the limit is fine');
});

t.test('every message survives encode → decode', async (t) => {
  const msgs: Message[] = [
    { type: 'hello', protocol: 1, version: '0.1.0', pid: 42, identity: id },
    { type: 'refuse', pid: 41, error: 'vni differs' },
    {
      type: 'offer',
      protocol: 1,
      version: '0.1.0',
      pid: 41,
      identity: { ...id, bindIPv6: 'fd99::1', ipv6Network: 'fd10:244::/56' },
      state: {
        vtepMAC: id.vtepMAC,
        offloads: { tso: true, gro: false, udpGso: true, udpGro: false },
        table: {
          local: ['10.244.1.0/24'],
          peers: [
            { name: 'n2', publicIP: '192.168.99.2', vtepMAC: '0a:58:0a:f4:02:01', cidrs: ['10.244.2.0/24'] },
            {
              name: 'n4',
              publicIP: '192.168.99.4',
              vtepMAC: '0a:58:0a:f4:04:01',
              cidrs: ['10.244.4.0/24'],
              remoteChecksum: true,
            },
            {
              name: 'n3',
              publicIP: '192.168.99.3',
              vtepMAC: '0a:58:0a:f4:03:01',
              publicIPv6: 'fd99::3',
              vtepMACv6: '0a:58:0a:f4:03:06',
              cidrs: ['10.244.3.0/24'],
            },
          ],
        },
      },
      fds: 22,
    },
    { type: 'pause' },
    { type: 'paused' },
    { type: 'started' },
    { type: 'released' },
  ];
  for (const m of msgs) {
    const line = encode(m).toString();
    t.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), `${m.type}: one line`);
    t.same(decode(line.slice(0, -1)), m, m.type);
  }
});

/** A well-formed offer with `over` at the top and `state` in its state. */
const offer = (over: Record<string, unknown>, state: Record<string, unknown> = {}) => ({
  type: 'offer',
  protocol: 1,
  version: 'v',
  pid: 1,
  identity: id,
  state: {
    vtepMAC: id.vtepMAC,
    offloads: { tso: true, gro: true, udpGso: true, udpGro: true },
    table: { local: [], peers: [] },
    ...state,
  },
  fds: 1,
  ...over,
});

t.test('malformed messages are errors naming what is wrong', async (t) => {
  const hello = JSON.parse(encode({ type: 'hello', protocol: 1, version: 'v', pid: 9, identity: id }).toString());
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', 'nope', /not JSON/],
    ['an array', [], /expected a JSON object/],
    ['unknown type', { type: 'steal' }, /unknown message type "steal"/],
    ['no type', {}, /unknown message type/],
    ['pid 0', { ...hello, pid: 0 }, /field pid/],
    ['pid a string', { ...hello, pid: '9' }, /field pid/],
    ['identity missing', { ...hello, identity: undefined }, /field identity/],
    ['workers 65', { ...hello, identity: { ...id, workers: 65 } }, /field workers/],
    ['engine other', { ...hello, identity: { ...id, engine: 'ebpf' } }, /field engine/],
    ['vtepMACFixed missing', { ...hello, identity: { ...id, vtepMACFixed: undefined } }, /field vtepMACFixed/],
    ['podCIDRs not a list', { ...hello, identity: { ...id, podCIDRs: '10.0.0.0/8' } }, /field podCIDRs/],
    ['device too long', { ...hello, identity: { ...id, device: 'x'.repeat(16) } }, /field device/],
    ['offer without state', offer({ state: undefined }), /field state/],
    ['offer with fds 0', offer({ fds: 0 }), /field fds/],
    ['offer with an offload missing', offer({}, { offloads: { tso: true } }), /field offloads.gro/],
    [
      'offer with a peer of no name',
      offer({}, { table: { local: [], peers: [{ publicIP: '1.2.3.4', vtepMAC: 'x', cidrs: [] }] } }),
      /field name/,
    ],
    [
      'offer with a peer whose remoteChecksum is not true',
      offer(
        {},
        {
          table: {
            local: [],
            peers: [{ name: 'n', publicIP: '1.2.3.4', vtepMAC: 'x', cidrs: [], remoteChecksum: 'yes' }],
          },
        },
      ),
      /field table.peers.remoteChecksum/,
    ],
    ['refuse without error', { type: 'refuse', pid: 4 }, /field error/],
    ['refuse without pid', { type: 'refuse', error: 'x' }, /field pid/],
  ];
  t.doesNotThrow(() => decode(JSON.stringify(offer({}))), 'control: the offer the cases break is well-formed');
  for (const [name, v, re] of cases) {
    t.throws(() => decode(typeof v === 'string' ? v : JSON.stringify(v)), re, name);
  }
});
