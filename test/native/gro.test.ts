// The receive-side write plan (native/core/gro.h PlanTunWrites, through native.groWrites): a segment is
// merged into a GSO write (NEEDS_CSUM: the kernel completes the checksum and checks nothing) only
// when its own TCP and IPv4 header checksums verified as received — in a plain batch and in a UDP
// GRO train alike. A bad segment is written alone, unchanged, with no virtio-net flags, for the
// pod's stack to drop; a partial one alone, completed. Then a property test over random trains.
// Reproduce a failure with VXTUN_SEED=<seed> npx tap test/native/gro.test.ts.
import t, { type Test } from 'tap';
import { internetChecksum } from '../../src/dataplane/codec.js';
import { loadTestingAddon, type NativeGroWrite } from '../../src/dataplane/testing.js';
import {
  buildIp,
  concat,
  fixL4Checksum,
  hex,
  ipHeaderLen,
  ipLength,
  l4ChecksumOk,
  pseudoHeader,
  put16,
  put32,
  Rng,
  testSeed,
  u16,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0x6e0);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

const NEEDS_CSUM = 1; // native/core/virtio.h
const GSO_NONE = 0;
const MTU = 1500; // IPv6 + TCP headers + MSS fit
const MSS = 1398;

const SRC4 = Uint8Array.of(10, 244, 2, 2);
const DST4 = Uint8Array.of(10, 244, 1, 2);
const SRC6 = Uint8Array.from([0xfd, 0x10, 0x02, 0x44, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]);
const DST6 = Uint8Array.from([0xfd, 0x10, 0x02, 0x44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);

/** One segment of a flow 5001 → 40000: ACK (PSH when asked), `payload` bytes from `fill`, valid checksums. */
function segment(family: 4 | 6, seq: number, payload: number, fill: number, psh = false): Uint8Array {
  const l4 = new Uint8Array(20 + payload);
  put16(l4, 0, 5001);
  put16(l4, 2, 40000);
  put32(l4, 4, seq >>> 0);
  put32(l4, 8, 1);
  l4[12] = 5 << 4;
  l4[13] = psh ? 0x18 : 0x10;
  put16(l4, 14, 502);
  for (let i = 0; i < payload; i++) l4[20 + i] = (fill + i * 7) & 0xff;
  const p = buildIp({
    family,
    src: family === 4 ? SRC4 : SRC6,
    dst: family === 4 ? DST4 : DST6,
    proto: 6,
    l4,
    id: seq & 0xffff,
  });
  fixL4Checksum(p);
  return p;
}

/** `n` full, consecutive segments of one flow. */
const train = (family: 4 | 6, n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => segment(family, 1000 + i * MSS, MSS, i));

const csumAt = (p: Uint8Array): number => ipHeaderLen(p) + 16;
const foldedSum = (b: Uint8Array): number => ~internetChecksum(b) & 0xffff;
/** Linux's CHECKSUM_PARTIAL seed for p: the folded pseudo-header sum, with the L4 length or (GSO) without. */
const seedOf = (p: Uint8Array, withLength = true): number =>
  foldedSum(pseudoHeader(p, ipLength(p) - ipHeaderLen(p), withLength));

/** The packet with one payload byte changed after its checksum was taken. */
function corruptPayload(p: Uint8Array, at = ipLength(p) - 1): Uint8Array {
  const c = Uint8Array.from(p);
  c[at] = c[at]! ^ 0x5a;
  return c;
}

/**
 * The fuzz finding (native/fuzz/corpus/gro_plan/bad-segment-seed-collision): a segment whose valid checksum happens
 * to equal its partial seed (two payload bytes chosen so), then corrupted in one payload byte. Its field now looks
 * exactly like a partial checksum: the receiver cannot tell, so it may complete it but must not merge it.
 */
function seedCollision(family: 4 | 6, seq: number, fill: number): Uint8Array {
  const p = segment(family, seq, MSS, fill);
  const hl = ipHeaderLen(p);
  const w = hl + 20; // the first payload word
  put16(p, w, 0);
  fixL4Checksum(p);
  // The checksum is ~(sum of the rest); adding w to the rest makes it ~(rest + w): solve for seed.
  const rest = ~u16(p, csumAt(p)) & 0xffff;
  const want = ~seedOf(p) & 0xffff;
  let v = want - rest;
  if (v < 0) v += 0xffff;
  put16(p, w, v);
  fixL4Checksum(p);
  if (u16(p, csumAt(p)) !== seedOf(p))
    throw new Error(`seedCollision: field ${u16(p, csumAt(p))} != seed ${seedOf(p)}`);
  return corruptPayload(p, w + 100);
}

/** The write that covers packet i. */
const writeOf = (ws: NativeGroWrite[], i: number): NativeGroWrite => {
  const w = ws.find((x) => x.first <= i && i < x.first + x.segments);
  if (!w) throw new Error(`no write covers packet ${i}`);
  return w;
};
const describe = (ws: NativeGroWrite[]): string =>
  ws
    .map((w) => `${w.kind}[${w.first}..${w.first + w.segments - 1}] flags=${w.vnet.flags} gso=${w.vnet.gsoType}`)
    .join(' ');

/** Packet i went in alone, as a plain packet without virtio-net flags. */
function assertAlone(t: Test, ws: NativeGroWrite[], i: number, what: string): NativeGroWrite {
  const w = writeOf(ws, i);
  t.equal(w.segments, 1, `${what}: not coalesced (${describe(ws)})`);
  t.equal(w.kind, 'plain', `${what}: a plain write`);
  t.equal(w.vnet.flags & NEEDS_CSUM, 0, `${what}: no NEEDS_CSUM`);
  t.equal(w.vnet.gsoType, GSO_NONE, `${what}: no GSO`);
  return w;
}

for (const family of [4, 6] as const) {
  for (const outerVerified of [false, true]) {
    const batch = outerVerified ? 'UDP GRO train' : 'plain batch';

    t.test(`IPv${family} ${batch}: a corrupted segment is written alone and unchanged`, async (t) => {
      const pkts = train(family, 8);
      pkts[3] = corruptPayload(pkts[3]!);
      const ws = native.groWrites(pkts, MTU, outerVerified);
      const w = assertAlone(t, ws, 3, 'the corrupted segment');
      t.same(hex(w.bytes), hex(pkts[3]!), 'written unchanged');
      // The good neighbours are still merged: 0..2 and 4..7.
      t.same(
        ws.map((x) => [x.first, x.segments, x.kind]),
        [
          [0, 3, 'gso'],
          [3, 1, 'plain'],
          [4, 4, 'gso'],
        ],
        describe(ws),
      );
      for (const x of ws) if (x.kind === 'gso') t.equal(x.vnet.flags, NEEDS_CSUM, 'the merged writes carry NEEDS_CSUM');
    });

    t.test(
      `IPv${family} ${batch}: a corrupted segment whose field equals the partial seed is not merged`,
      async (t) => {
        const pkts = train(family, 8);
        pkts[5] = seedCollision(family, 1000 + 5 * MSS, 5);
        t.equal(native.completeChecksum(Uint8Array.from(pkts[5]!)), 'completed', 'it looks partial (the fuzz finding)');
        const ws = native.groWrites(pkts, MTU, outerVerified);
        const w = assertAlone(t, ws, 5, 'the segment');
        // It may be completed (it cannot be told from a partial one), but only alone; nothing else may differ.
        const at = csumAt(pkts[5]!);
        t.same(
          hex(concat(w.bytes.subarray(0, at), w.bytes.subarray(at + 2))),
          hex(concat(pkts[5]!.subarray(0, at), pkts[5]!.subarray(at + 2))),
          'only its checksum field may change',
        );
        t.same(
          ws.map((x) => [x.first, x.segments]),
          [
            [0, 5],
            [5, 1],
            [6, 2],
          ],
          describe(ws),
        );
      },
    );

    t.test(`IPv${family} ${batch}: a partial checksum is completed, alone`, async (t) => {
      const pkts = train(family, 6);
      for (const withLength of [true, false]) {
        const p = Uint8Array.from(pkts[2]!);
        put16(p, csumAt(p), seedOf(p, withLength));
        const ws = native.groWrites([...pkts.slice(0, 2), p, ...pkts.slice(3)], MTU, outerVerified);
        const w = assertAlone(t, ws, 2, `partial (${withLength ? 'with' : 'without'} length)`);
        t.ok(l4ChecksumOk(w.bytes), 'completed: valid');
        t.same(hex(w.bytes), hex(pkts[2]!), 'completed to the original checksum');
      }
    });

    t.test(`IPv${family} ${batch}: valid segments are still merged`, async (t) => {
      const pkts = train(family, 10);
      const ws = native.groWrites(pkts, MTU, outerVerified);
      t.same(
        ws.map((x) => [x.kind, x.first, x.segments]),
        [['gso', 0, 10]],
        describe(ws),
      );
      t.equal(ws[0]!.vnet.flags, NEEDS_CSUM);
      t.equal(ws[0]!.vnet.gsoSize, MSS);
    });
  }
}

t.test('IPv4: a segment whose IPv4 header checksum is bad is not merged, and written unchanged', async (t) => {
  for (const outerVerified of [false, true]) {
    const pkts = train(4, 6);
    const bad = Uint8Array.from(pkts[0]!);
    bad[5] = bad[5]! ^ 0x01;
    pkts[0] = bad; // the ID: the TCP checksum does not cover it, no coalescing rule compares it
    const ws = native.groWrites(pkts, MTU, outerVerified);
    const w = assertAlone(t, ws, 0, `bad IPv4 header (outerVerified ${outerVerified})`);
    t.same(hex(w.bytes), hex(bad), 'unchanged: its header checksum is not recomputed');
    t.same(
      ws.map((x) => [x.first, x.segments]),
      [
        [0, 1],
        [1, 5],
      ],
      describe(ws),
    );
  }
});

t.test(
  'a super-packet (> MTU) with a bad checksum is neither GSO-written nor split: written whole, unchanged',
  async (t) => {
    for (const family of [4, 6] as const) {
      const big = corruptPayload(segment(family, 1000, 5000, 9));
      for (const coalesce of [true, false]) {
        const ws = native.groWrites([big], MTU, false, coalesce);
        const w = assertAlone(t, ws, 0, `IPv${family}, coalescing ${coalesce ? 'on' : 'off'}`);
        t.same(hex(w.bytes), hex(big), 'unchanged');
      }
    }
  },
);

t.test(
  'a super-packet with a partial seed (a kernel GSO packet over veth) is still GSO-written or split',
  async (t) => {
    for (const family of [4, 6] as const) {
      const big = segment(family, 1000, 5000, 9);
      put16(big, csumAt(big), seedOf(big, false));
      const on = native.groWrites([big], MTU, false, true);
      t.same(
        on.map((w) => [w.kind, w.vnet.flags]),
        [['gso', NEEDS_CSUM]],
        `IPv${family} coalescing on: ${describe(on)}`,
      );
      const off = native.groWrites([big], MTU, false, false);
      t.same(
        off.map((w) => w.kind),
        ['split'],
        `IPv${family} coalescing off`,
      );
      const valid = segment(family, 1000, 5000, 9);
      t.same(
        native.groWrites([valid], MTU, false, true).map((w) => w.kind),
        ['gso'],
        `IPv${family} valid: GSO`,
      );
    }
  },
);

// ---- property test -------------------------------------------------------------------------------

type State = 'valid' | 'corrupt' | 'partial' | 'collision' | 'bad-ip';

t.test('random trains: only verified segments are merged; nothing else changes but completed seeds', async (t) => {
  const rng = new Rng(SEED);
  let merged = 0;
  let alone = 0;
  for (let round = 0; round < 300; round++) {
    const family: 4 | 6 = rng.chance(0.5) ? 4 : 6;
    const outerVerified = rng.chance(0.5);
    const n = rng.range(1, 64);
    const states: State[] = [];
    const pkts: Uint8Array[] = [];
    let seq = rng.u32();
    for (let i = 0; i < n; i++) {
      const len = rng.chance(0.1) ? rng.int(MSS) : MSS;
      const state: State = rng.weighted<State>([
        ['valid', 20],
        ['corrupt', 2],
        ['partial', 2],
        ['collision', 1],
        ['bad-ip', family === 4 ? 1 : 0],
      ]);
      let p = segment(family, seq, len, rng.byte(), rng.chance(0.05));
      if (len > 0 && state === 'corrupt') p = corruptPayload(p, rng.range(ipHeaderLen(p) + 20, ipLength(p) - 1));
      if (state === 'partial') put16(p, csumAt(p), seedOf(p, rng.chance(0.5)));
      if (state === 'collision' && len === MSS) p = seedCollision(family, seq, rng.byte());
      if (state === 'bad-ip') p[5] = p[5]! ^ 0x01;
      seq = (seq + len) >>> 0;
      states.push(state);
      pkts.push(p);
    }
    const ws = native.groWrites(pkts, MTU, outerVerified);
    let next = 0;
    for (const w of ws) {
      if (w.first !== next) {
        t.fail(`round ${round}: write starts at ${w.first}, expected ${next} (${describe(ws)})`);
        return;
      }
      next += w.segments;
      if (w.segments > 1) {
        merged += w.segments;
        for (let i = w.first; i < w.first + w.segments; i++) {
          const p = pkts[i]!;
          const ok = l4ChecksumOk(p) && (family === 6 || internetChecksum(p.subarray(0, 20)) === 0);
          if (!ok) {
            t.fail(`round ${round}: packet ${i} (${states[i]}) merged without verifying (${describe(ws)})`);
            return;
          }
        }
        continue;
      }
      alone++;
      const p = pkts[w.first]!;
      if (w.vnet.flags !== 0 || w.vnet.gsoType !== GSO_NONE || w.kind !== 'plain') {
        t.fail(`round ${round}: packet ${w.first} alone but not plain (${describe(ws)})`);
        return;
      }
      const at = csumAt(p);
      const sameButField =
        hex(concat(w.bytes.subarray(0, at), w.bytes.subarray(at + 2))) ===
        hex(concat(p.subarray(0, at), p.subarray(at + 2)));
      const changed = hex(w.bytes) !== hex(p);
      const looksPartial = !l4ChecksumOk(p) && [seedOf(p, true), seedOf(p, false)].includes(u16(p, at));
      if (!sameButField || (changed && !(looksPartial && l4ChecksumOk(w.bytes)))) {
        t.fail(`round ${round}: packet ${w.first} (${states[w.first]}) written changed: ${hex(w.bytes, 80)}`);
        return;
      }
    }
    if (next !== n) {
      t.fail(`round ${round}: writes cover ${next} of ${n} packets`);
      return;
    }
  }
  t.ok(merged > 0 && alone > 0, `${merged} segments merged, ${alone} written alone over 300 trains`);
});
