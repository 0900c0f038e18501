// Differential test: the daemon's native pcapng packet blocks (native/core/pcapng_epb.h, via the
// test-only captureEpb export) against the reference writer src/dump/pcapng.ts recordBlock, byte for
// byte, on random capture records with and without --outer. Reproduce a failure with
// VXTUN_SEED=<seed printed below> npx tap test/native/pcapng-epb.test.ts.
import t from 'tap';
import type { CaptureRecord } from '../../src/dump/capture.js';
import { loadTestingAddon, type NativeCaptureRecord } from '../../src/dataplane/testing.js';
import { PcapngReader, pcapngHeader, parseComment, recordBlock } from '../../src/dump/pcapng.js';
import { buildIp, hex, Rng, testSeed } from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0x9ca9e9b);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);
const PREFIX = 22;
const MAX_CAP = PREFIX + 1962;

/** The record the reference writer sees for what the native side stores. */
function reference(n: NativeCaptureRecord): CaptureRecord {
  const data = Buffer.from(n.data);
  const withPrefix = n.hasPrefix && data.length >= PREFIX;
  return {
    tsNs: n.tsNs,
    dir: n.dir === 0 ? 'tx' : 'rx',
    verdict: n.verdict === 0 ? 'forward' : native.dropReasons[n.verdict - 1]!,
    peer: n.peer,
    vtep: n.vtep,
    worker: n.worker,
    prefix: withPrefix ? data.subarray(0, PREFIX) : null,
    packet: withPrefix ? data.subarray(PREFIX) : data,
    origLen: withPrefix ? n.origLen - PREFIX : n.origLen,
    dropsBefore: n.dropsBefore,
  };
}

function randomRecord(rng: Rng): NativeCaptureRecord {
  const hasPrefix = rng.chance(0.7);
  let inner: Uint8Array;
  if (rng.chance(0.6)) {
    const v6 = rng.chance(0.3);
    inner = buildIp({
      family: v6 ? 6 : 4,
      src: rng.bytes(v6 ? 16 : 4),
      dst: rng.bytes(v6 ? 16 : 4),
      proto: rng.pick([1, 6, 17, 58, 47]),
      l4: rng.bytes(rng.range(0, 1500)),
    });
  } else {
    inner = rng.bytes(rng.range(0, 60));
  }
  const full = hasPrefix ? Buffer.concat([Buffer.from(rng.bytes(PREFIX)), Buffer.from(inner)]) : Buffer.from(inner);
  // A snap length cuts the stored bytes; origLen keeps the packet's length.
  const cap = Math.min(full.length, MAX_CAP, rng.chance(0.3) ? rng.range(0, full.length) : full.length);
  const nameLen = rng.weighted([
    [0, 2],
    [rng.range(1, 20), 5],
    [rng.range(20, 255), 1],
  ] as const);
  const name = Array.from({ length: nameLen }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-.'[rng.int(38)]).join('');
  return {
    tsNs: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()),
    origLen: full.length + (rng.chance(0.1) ? rng.range(0, 64000) : 0),
    dropsBefore: rng.chance(0.2) ? rng.range(1, 100000) : 0,
    dir: rng.chance(0.5) ? 0 : 1,
    verdict: rng.chance(0.5) ? 0 : rng.range(1, native.dropReasons.length),
    vtep: `${rng.byte()}.${rng.byte()}.${rng.byte()}.${rng.byte()}`,
    worker: rng.range(0, 7),
    hasPrefix,
    peer: name,
    data: full.subarray(0, cap),
  };
}

t.test('native blocks equal the reference, byte for byte', async (t) => {
  const rng = new Rng(SEED);
  const N = 4000;
  let mismatches = 0;
  const kinds = { outer: 0, prefix: 0, drops: 0, truncated: 0 };
  for (let i = 0; i < N && mismatches < 5; i++) {
    const r = randomRecord(rng);
    const outer = rng.chance(0.5)
      ? { publicIP: `192.168.${rng.byte()}.${rng.byte()}`, port: rng.range(1, 65535), vni: rng.range(0, 0xffffff) }
      : undefined;
    const want = recordBlock(reference(r), outer);
    const got = native.captureEpb(r, outer);
    if (!got.equals(want)) {
      mismatches++;
      t.fail(
        `record ${i}: native ${hex(got, 200)} != reference ${hex(want, 200)} (peer ${r.peer.length} bytes, outer ${Boolean(outer)})`,
      );
    }
    kinds.outer += outer ? 1 : 0;
    kinds.prefix += r.hasPrefix ? 1 : 0;
    kinds.drops += r.dropsBefore ? 1 : 0;
    kinds.truncated += r.origLen > r.data.length ? 1 : 0;
  }
  t.equal(mismatches, 0, `${N} random records`);
  for (const [k, n] of Object.entries(kinds)) t.ok(n > N / 20, `the records covered ${k} (${n})`);
});

t.test('a native block reads back', async (t) => {
  const r: NativeCaptureRecord = {
    tsNs: 1_700_000_000_123_456_789n,
    origLen: 22 + 1400,
    dropsBefore: 12,
    dir: 1,
    verdict: native.dropReasons.indexOf('spoofed-source') + 1,
    vtep: '192.168.99.2',
    worker: 1,
    hasPrefix: true,
    peer: 'node-2',
    data: Buffer.concat([
      Buffer.alloc(22, 1),
      Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex'),
    ]),
  };
  const reader = new PcapngReader();
  const [p] = reader.push(Buffer.concat([pcapngHeader(), native.captureEpb(r)]));
  t.equal(p?.tsNs, r.tsNs);
  t.equal(p?.origLen, 1400);
  t.equal(p?.data.length, 28);
  t.equal(p?.dropCount, 12);
  t.same(parseComment(p!.comment!), {
    dir: 'rx',
    peer: 'node-2',
    vtep: '192.168.99.2',
    verdict: 'drop:spoofed-source',
  });
});
