// Differential test: native.completeChecksum (native/core/checksum.h) against a slow reference written
// here, on random IPv4/IPv6 TCP/UDP packets in every state: valid, partial (Linux's
// CHECKSUM_PARTIAL seed with and without the L4 length), corrupted, no checksum, fragments, other
// protocols. Reproduce a failure with VXTUN_SEED=<seed> npx tap test/native/checksum.test.ts.
import t from 'tap';
import { innerInfo, internetChecksum } from '../../src/dataplane/codec.js';
import { loadTestingAddon } from '../../src/dataplane/testing.js';
import {
  addressIn,
  buildIp,
  concat,
  fixIpv4HeaderChecksum,
  fixL4Checksum,
  hex,
  ipHeaderLen,
  ipLength,
  l4Checksum,
  l4ChecksumOk,
  NET10,
  NETFD,
  pseudoHeader,
  put16,
  Rng,
  tcpSegment,
  testSeed,
  u16,
  udpDatagram,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0xc5c5);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

type Fix = 'not-applicable' | 'valid' | 'completed' | 'bad';

/** The one's-complement sum of `b`, folded to 16 bits (not inverted). */
const foldedSum = (b: Uint8Array): number => ~internetChecksum(b) & 0xffff;

/** The checksum field's offset inside the L4 header. */
const fieldOffset = (proto: number): number => (proto === 6 ? 16 : 6);

/** The contract of native/core/checksum.h, slowly: the result and the packet afterwards. */
function refComplete(pkt: Uint8Array): { result: Fix; after: Uint8Array } {
  const after = Uint8Array.from(pkt);
  const info = innerInfo(pkt);
  if (typeof info === 'string') return { result: 'not-applicable', after };
  const v4 = info.family === 4;
  const hl = v4 ? (pkt[0]! & 0x0f) * 4 : 40;
  const proto = v4 ? pkt[9]! : pkt[6]!;
  if (proto !== 6 && proto !== 17) return { result: 'not-applicable', after };
  if (v4 && (u16(pkt, 6) & 0x3fff) !== 0) return { result: 'not-applicable', after }; // MF or offset
  const l4len = info.length - hl;
  const off = fieldOffset(proto);
  if (l4len < off + 2) return { result: 'not-applicable', after }; // no checksum field
  const field = u16(pkt, hl + off);
  if (proto === 17 && v4 && field === 0) return { result: 'not-applicable', after }; // UDP/IPv4 without checksum
  if (l4ChecksumOk(pkt)) return { result: 'valid', after };
  // Linux's CHECKSUM_PARTIAL seed: the folded pseudo-header sum, with the L4 length, or (GSO) without.
  const seeds = [foldedSum(pseudoHeader(pkt, l4len, true)), foldedSum(pseudoHeader(pkt, l4len, false))];
  if (!seeds.includes(field)) return { result: 'bad', after };
  fixL4Checksum(after);
  return { result: 'completed', after };
}

/** A random valid TCP or UDP packet. */
function randomValid(rng: Rng): Uint8Array {
  const family = rng.chance(0.5) ? 4 : 6;
  const proto = rng.chance(0.55) ? 6 : 17;
  const len = rng.weighted([
    [rng.int(4), 2],
    [rng.int(1500), 6],
    [rng.range(1500, 9000), 1],
  ]);
  const payload = rng.bytes(len);
  const l4 = proto === 6 ? tcpSegment(rng, payload, rng.chance(0.5) ? 5 : rng.range(5, 15)) : udpDatagram(rng, payload);
  const p = buildIp({
    family,
    src: rng.chance(0.9) ? addressIn(rng, family === 4 ? NET10 : NETFD) : rng.bytes(family === 4 ? 4 : 16),
    dst: rng.chance(0.9) ? addressIn(rng, family === 4 ? NET10 : NETFD) : rng.bytes(family === 4 ? 4 : 16),
    proto,
    l4,
    ihl: rng.chance(0.8) ? 5 : rng.range(5, 15),
    fragField: rng.pick([0x4000, 0, 0x8000, 0xc000]), // DF and the reserved bit: not fragments
    trailing: rng.chance(0.15) ? rng.bytes(rng.range(1, 30)) : undefined,
    rng,
  });
  fixL4Checksum(p);
  return p;
}

/** Makes the packet's correct L4 checksum 0x0000 by choosing the source port, and writes it. */
function forceZeroChecksum(p: Uint8Array): void {
  const hl = ipHeaderLen(p);
  const proto = p[0]! >> 4 === 4 ? p[9]! : p[6]!;
  put16(p, hl, 0);
  put16(p, hl + fieldOffset(proto), 0);
  const s = foldedSum(concat(pseudoHeader(p, ipLength(p) - hl), p.subarray(hl, ipLength(p))));
  put16(p, hl, 0xffff - s); // now the folded sum is 0xffff, so the checksum is ~0xffff = 0
  fixL4Checksum(p); // TCP: 0x0000; UDP: 0xffff (RFC 768)
}

const setField = (p: Uint8Array, v: number): void => {
  const hl = ipHeaderLen(p);
  put16(p, hl + fieldOffset(p[0]! >> 4 === 4 ? p[9]! : p[6]!), v);
};
const seed = (p: Uint8Array, withLength: boolean): number =>
  foldedSum(pseudoHeader(p, ipLength(p) - ipHeaderLen(p), withLength));

type Scenario = { label: string; pkt: Uint8Array; nominal: Fix; valid?: Uint8Array };

/** Every scenario derived from one valid packet, each with the result the brief expects. */
function scenarios(rng: Rng, valid: Uint8Array): Scenario[] {
  const v4 = valid[0]! >> 4 === 4;
  const proto = v4 ? valid[9]! : valid[6]!;
  const hl = ipHeaderLen(valid);
  const l4len = ipLength(valid) - hl;
  const copy = (): Uint8Array => Uint8Array.from(valid);
  const out: Scenario[] = [{ label: 'valid', pkt: copy(), nominal: 'valid' }];
  for (const withLength of [true, false]) {
    const p = copy();
    setField(p, seed(p, withLength));
    out.push({ label: withLength ? 'partial' : 'partial-gso', pkt: p, nominal: 'completed', valid });
  }
  {
    // One byte of the L4 segment (not the checksum field) changed: the sum changes whatever the byte.
    const p = copy();
    let k: number;
    do k = rng.int(l4len);
    while (k === fieldOffset(proto) || k === fieldOffset(proto) + 1);
    p[hl + k] = (p[hl + k]! + rng.range(1, 255)) & 0xff;
    out.push({ label: 'corrupt-payload', pkt: p, nominal: 'bad' });
  }
  {
    // An address changed after the checksum was computed: the pseudo-header no longer matches.
    const p = copy();
    const at = v4 ? rng.range(12, 19) : rng.range(8, 39);
    p[at] = (p[at]! + rng.range(1, 255)) & 0xff;
    if (v4) fixIpv4HeaderChecksum(p);
    out.push({ label: 'corrupt-address', pkt: p, nominal: 'bad' });
  }
  {
    const p = copy();
    const c = l4Checksum(p);
    let f: number;
    do f = rng.int(0x10000);
    while (f === c || (proto === 17 && v4 && f === 0));
    setField(p, f);
    out.push({ label: 'wrong-field', pkt: p, nominal: 'bad' });
  }
  if (proto === 17) {
    const p = copy();
    setField(p, 0);
    // IPv4: "no checksum". IPv6: a zero UDP checksum is invalid (RFC 8200 §8.1), so it is just wrong.
    out.push({ label: v4 ? 'udp4-zero' : 'udp6-zero', pkt: p, nominal: v4 ? 'not-applicable' : 'bad' });
  }
  if (v4) {
    // A fragment is left alone, whatever its checksum field holds (here: a partial seed).
    const p = copy();
    put16(p, 6, rng.pick([0x2000, 0x0001, 0x1fff, 0x2abc, 0x6000 | rng.range(1, 0x1fff), rng.range(1, 0x1fff)]));
    fixIpv4HeaderChecksum(p);
    setField(p, rng.chance(0.5) ? seed(p, true) : rng.int(0x10000));
    out.push({ label: 'fragment', pkt: p, nominal: 'not-applicable' });
  }
  {
    // Another protocol, with a partial-looking value where a TCP/UDP checksum would be.
    const p = copy();
    const other = rng.pick(v4 ? [1, 2, 47, 50, 132] : [58, 0, 43, 44, 50, 132]);
    if (v4) {
      p[9] = other;
      fixIpv4HeaderChecksum(p);
    } else p[6] = other;
    out.push({ label: 'other-protocol', pkt: p, nominal: 'not-applicable' });
  }
  {
    // IP length too short to hold the checksum field.
    const p = copy();
    const keep = rng.int(fieldOffset(proto) + 2);
    put16(p, v4 ? 2 : 4, v4 ? hl + keep : keep);
    if (v4) fixIpv4HeaderChecksum(p);
    out.push({ label: 'no-checksum-field', pkt: p, nominal: 'not-applicable' });
  }
  {
    const p = copy();
    const how = rng.int(3);
    if (how === 0) p[0] = (rng.pick([0, 5, 7, 15]) << 4) | (p[0]! & 0x0f);
    else if (how === 1) put16(p, v4 ? 2 : 4, u16(p, v4 ? 2 : 4) + valid.length);
    out.push({ label: 'not-ip', pkt: how === 2 ? p.subarray(0, rng.int(v4 ? 20 : 40)) : p, nominal: 'not-applicable' });
  }
  if (l4len >= 2) {
    // The correct checksum is 0x0000: TCP sends 0x0000 (0xffff is the same number), UDP 0xffff.
    const z = copy();
    forceZeroChecksum(z);
    out.push({ label: 'zero-sum-valid', pkt: Uint8Array.from(z), nominal: 'valid' });
    if (proto === 6) {
      const alt = Uint8Array.from(z);
      setField(alt, 0xffff);
      out.push({ label: 'zero-sum-tcp-ffff', pkt: alt, nominal: 'valid' });
    }
    for (const withLength of [true, false]) {
      const p = Uint8Array.from(z);
      setField(p, seed(p, withLength));
      out.push({ label: 'zero-sum-partial', pkt: p, nominal: 'completed', valid: z });
    }
  }
  return out;
}

t.test('completeChecksum = reference on random packets in every state', async (t) => {
  const rng = new Rng(SEED);
  const BASE = 320;
  let n = 0;
  let bad = 0;
  let coincidences = 0;
  let completedOk = 0;
  const byLabel = new Map<string, Map<Fix, number>>();
  const fail = (msg: string, pkt: Uint8Array): void => {
    if (++bad <= 8) t.fail(`seed ${SEED} ${msg}`, { packet: hex(pkt, 200) });
  };
  for (let b = 0; b < BASE; b++) {
    const r = rng.fork();
    const valid = randomValid(r);
    if (!l4ChecksumOk(valid)) throw new Error('generator: the valid packet does not verify');
    for (const s of scenarios(r, valid)) {
      n++;
      const ref = refComplete(s.pkt);
      const pkt = Uint8Array.from(s.pkt);
      const got = native.completeChecksum(pkt) as Fix;
      const where = `base ${b} ${s.label} (IPv${s.pkt[0]! >> 4}, proto ${s.pkt[0]! >> 4 === 4 ? s.pkt[9] : s.pkt[6]}, ${s.pkt.length} bytes)`;
      const m = byLabel.get(s.label) ?? new Map<Fix, number>();
      m.set(got, (m.get(got) ?? 0) + 1);
      byLabel.set(s.label, m);
      if (got !== ref.result) {
        fail(`${where}: native '${got}', reference '${ref.result}'`, s.pkt);
        continue;
      }
      if (Buffer.compare(Buffer.from(pkt), Buffer.from(ref.after)) !== 0) {
        fail(
          `${where}: '${got}' but the bytes afterwards differ from the reference (${hex(pkt, 80)} vs ${hex(ref.after, 80)})`,
          s.pkt,
        );
        continue;
      }
      // Independent of the reference: what each scenario must give.
      if (got !== s.nominal) {
        // Allowed only where the reference agrees, i.e. a 1-in-65535 coincidence (a corrupted
        // field that happens to equal a partial seed, a seed that happens to verify).
        coincidences++;
        continue;
      }
      if (got === 'completed') {
        if (Buffer.compare(Buffer.from(pkt), Buffer.from(s.valid!)) !== 0)
          fail(`${where}: completed, but not into the valid packet`, s.pkt);
        else if (!l4ChecksumOk(pkt)) fail(`${where}: completed, but does not verify`, s.pkt);
        else completedOk++;
      } else if (Buffer.compare(Buffer.from(pkt), Buffer.from(s.pkt)) !== 0) {
        fail(`${where}: '${got}' but the packet was modified`, s.pkt);
      }
    }
  }
  t.ok(n >= 2000, `${n} packets from ${BASE} random bases`);
  t.equal(bad, 0, 'native = reference: same result and same bytes afterwards');
  t.ok(coincidences <= 3, `results differ from the scenario's nominal one only by coincidence (${coincidences})`);
  t.ok(completedOk > BASE, `${completedOk} partial checksums completed into exactly the valid packet`);
  t.comment(JSON.stringify(Object.fromEntries([...byLabel].map(([k, v]) => [k, Object.fromEntries(v)]))));
});

t.test('completeChecksum: small fixed cases', async (t) => {
  const rng = new Rng(SEED ^ 1);
  const mk = (family: 4 | 6, proto: number, payload: number): Uint8Array => {
    const l4 = proto === 6 ? tcpSegment(rng, rng.bytes(payload)) : udpDatagram(rng, rng.bytes(payload));
    const p = buildIp({
      family,
      src: addressIn(rng, family === 4 ? NET10 : NETFD),
      dst: addressIn(rng, family === 4 ? NET10 : NETFD),
      proto,
      l4,
      rng,
    });
    fixL4Checksum(p);
    return p;
  };
  for (const family of [4, 6] as const) {
    for (const proto of [6, 17]) {
      const name = `IPv${family} ${proto === 6 ? 'TCP' : 'UDP'}`;
      const valid = mk(family, proto, 100);
      const p = Uint8Array.from(valid);
      t.equal(native.completeChecksum(p), 'valid', `${name}: valid`);
      t.same(p, valid, `${name}: unchanged`);
      for (const withLength of [true, false]) {
        const q = Uint8Array.from(valid);
        setField(q, seed(q, withLength));
        t.equal(
          native.completeChecksum(q),
          'completed',
          `${name}: partial ${withLength ? 'with' : 'without'} length → completed`,
        );
        t.same(q, valid, `${name}: now the valid packet`);
        t.equal(native.completeChecksum(q), 'valid', `${name}: and valid on a second call`);
      }
      const c = Uint8Array.from(valid);
      c[c.length - 1] = c[c.length - 1]! ^ 0x01;
      const before = Uint8Array.from(c);
      t.equal(native.completeChecksum(c), 'bad', `${name}: corrupted payload → bad`);
      t.same(c, before, `${name}: bad is left unchanged`);
      // Padding after the IP length is not part of the sum.
      const padded = concat(valid, rng.bytes(9));
      t.equal(native.completeChecksum(padded), 'valid', `${name}: trailing padding ignored`);
    }
  }
  const u4 = mk(4, 17, 40);
  setField(u4, 0);
  t.equal(native.completeChecksum(u4), 'not-applicable', 'UDP over IPv4 with checksum 0');
  const u6 = mk(6, 17, 40);
  setField(u6, 0);
  t.equal(native.completeChecksum(u6), 'bad', 'UDP over IPv6 with checksum 0 is not "no checksum"');
  const icmp = buildIp({
    family: 4,
    src: Uint8Array.of(10, 0, 0, 1),
    dst: Uint8Array.of(10, 0, 0, 2),
    proto: 1,
    l4: rng.bytes(64),
  });
  t.equal(native.completeChecksum(icmp), 'not-applicable', 'ICMP');
  const icmp6 = buildIp({
    family: 6,
    src: addressIn(rng, NETFD),
    dst: addressIn(rng, NETFD),
    proto: 58,
    l4: rng.bytes(64),
  });
  t.equal(native.completeChecksum(icmp6), 'not-applicable', 'ICMPv6');
  for (const frag of [0x2000, 0x0001, 0x3fff]) {
    const f = mk(4, 6, 100);
    put16(f, 6, frag);
    setField(f, seed(f, true));
    const before = Uint8Array.from(f);
    t.equal(native.completeChecksum(f), 'not-applicable', `IPv4 fragment (0x${frag.toString(16)})`);
    t.same(f, before, 'fragment unchanged');
  }
  t.equal(native.completeChecksum(new Uint8Array(0)), 'not-applicable', 'empty');
  // UDP whose correct checksum is 0: completed as 0xffff.
  const z = mk(4, 17, 30);
  forceZeroChecksum(z);
  t.equal(u16(z, 20 + 6), 0xffff, 'fixture: UDP checksum 0 is sent as 0xffff');
  const zp = Uint8Array.from(z);
  setField(zp, seed(zp, true));
  t.equal(native.completeChecksum(zp), 'completed');
  t.equal(u16(zp, 20 + 6), 0xffff, 'UDP completed to 0xffff, not 0');
});

t.test(
  'onesSum: every implementation equals the slow reference at every length, alignment and carry load',
  async (t) => {
    const impls = (['scalar', 'avx2', 'auto'] as const).filter((i) => native.onesSum(new Uint8Array(1), i) !== null);
    if (!impls.includes('avx2')) t.comment('this CPU has no AVX2: only the scalar path is checked');
    const rng = new Rng(SEED ^ 0x51);
    const big = new Uint8Array((1 << 20) + 8);
    for (let i = 0; i < big.length; i++) big[i] = rng.int(256);
    const cases: [string, Uint8Array][] = [];
    for (let len = 0; len <= 300; len++)
      for (const off of [0, 1, 3, 7]) cases.push([`len ${len} off ${off}`, big.subarray(off, off + len)]);
    for (let i = 0; i < 200; i++) {
      const off = rng.int(64);
      cases.push([`random ${i}`, big.subarray(off, off + rng.int(65536))]);
    }
    const ones = new Uint8Array(1 << 20).fill(0xff); // every word 0xffff: the most carries
    cases.push(
      ['1 MiB of 0xff', ones],
      ['64 KiB + 1 of 0xff', ones.subarray(0, 65537)],
      ['1 MiB random', big.subarray(3, 3 + (1 << 20))],
    );
    cases.push(
      ['zeros', new Uint8Array(4096)],
      ['0xff then zeros', Uint8Array.from([0xff, 0xff, ...new Uint8Array(200)])],
    );
    let bad = 0;
    for (const [name, b] of cases) {
      const want = foldedSum(b);
      for (const impl of impls) {
        const got = native.onesSum(b, impl);
        if (got !== want && bad++ < 10)
          t.fail(`${name} (${impl}): ${got?.toString(16)} ≠ reference ${want.toString(16)}`);
      }
    }
    t.equal(bad, 0, `${cases.length} spans × ${impls.join('/')} equal the reference`);
  },
);
