// Differential test: native.segmentTcp (native/core/segment.h) against a slow reference segmenter
// written here from the contract, on random IPv4/IPv6 TCP packets, plus properties every
// segmentation must have. Reproduce a failure with VXTUN_SEED=<seed> npx tap test/native/segment.test.ts.
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
  l4ChecksumOk,
  NET10,
  NETFD,
  put16,
  put32,
  Rng,
  tcpSegment,
  testSeed,
  u16,
  u32,
  udpDatagram,
} from './fixtures/packets.js';

const native = loadTestingAddon();
const SEED = testSeed(0x5e6e);
t.comment(`seed ${SEED} (set VXTUN_SEED to change it)`);

/**
 * The addon's capacity (native/testing/packet_exports.cc JS_segmentTcp: `struct iovec segs[256]`, scratch of
 * 2 × kBufSize bytes): a split into more segments "does not fit" and gives null (segment.h).
 * With IP + TCP headers of at most 120 bytes, 256 segments of a 64 KiB packet always fit the
 * scratch, so the segment count is the only limit.
 */
const MAX_SEGS = 256;

const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

/** The contract of native/core/segment.h, written out slowly. */
function refSegment(pkt: Uint8Array, mss: number): Uint8Array[] | null {
  const info = innerInfo(pkt);
  if (typeof info === 'string') return null; // the addon parses the packet first
  if (mss === 0) return null;
  const v4 = info.family === 4;
  const hl = v4 ? (pkt[0]! & 0x0f) * 4 : 40;
  const proto = v4 ? pkt[9]! : pkt[6]!;
  if (proto !== 6) return null; // not TCP (IPv6 extension headers included)
  if (v4 && (u16(pkt, 6) & 0x3fff) !== 0) return null; // MF or a fragment offset
  if (info.length < hl + 20) return null; // no room for a TCP header
  const th = (pkt[hl + 12]! >> 4) * 4;
  if (th < 20 || hl + th > info.length) return null; // bad data offset
  const headers = pkt.subarray(0, hl + th);
  const payload = pkt.subarray(hl + th, info.length);
  const n = payload.length === 0 ? 1 : Math.ceil(payload.length / mss);
  if (n > MAX_SEGS) return null;
  const seq0 = u32(pkt, hl + 4);
  const id0 = v4 ? u16(pkt, 4) : 0;
  const flags0 = pkt[hl + 13]!;
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const chunk = payload.subarray(i * mss, Math.min(payload.length, (i + 1) * mss));
    const seg = concat(headers, chunk);
    if (v4) {
      put16(seg, 2, seg.length);
      put16(seg, 4, (id0 + i) & 0xffff);
      fixIpv4HeaderChecksum(seg);
    } else {
      put16(seg, 4, seg.length - 40);
    }
    put32(seg, hl + 4, (seq0 + i * mss) >>> 0);
    let flags = flags0;
    if (i < n - 1) flags &= ~(FIN | PSH);
    if (i > 0) flags &= ~CWR;
    seg[hl + 13] = flags;
    fixL4Checksum(seg);
    out.push(seg);
  }
  return out;
}

interface Made {
  pkt: Uint8Array;
  mss: number;
  desc: string;
}

/** A random TCP packet (IPv4 or IPv6, IP/TCP options, random flags, payload 0..65000) and an mss. */
function randomTcp(rng: Rng): Made {
  const family = rng.chance(0.5) ? 4 : 6;
  const ihl = family === 4 ? (rng.chance(0.7) ? 5 : rng.range(5, 15)) : 5;
  const doff = rng.chance(0.4) ? 5 : rng.range(5, 15);
  const maxPayload = Math.min(65000, 65535 - (family === 4 ? ihl * 4 : 0) - doff * 4);
  const size = rng.weighted([
    ['tiny', 2],
    ['small', 3],
    ['medium', 3],
    ['large', 3],
  ] as const);
  const payloadLen = Math.min(
    maxPayload,
    size === 'tiny'
      ? rng.int(3)
      : size === 'small'
        ? rng.int(3000)
        : size === 'medium'
          ? rng.range(3000, 20000)
          : rng.range(20000, 65000),
  );
  let mss = rng.range(1, 1460);
  // Most draws stay within the addon's 256 segments; some deliberately exceed it.
  if (payloadLen > 0 && Math.ceil(payloadLen / mss) > MAX_SEGS && rng.chance(0.7)) {
    mss = rng.range(Math.ceil(payloadLen / MAX_SEGS), 1460);
  }
  const l4 = tcpSegment(rng, rng.bytes(payloadLen), doff);
  if (rng.chance(0.1)) put32(l4, 4, 0xffffffff - rng.int(3 * mss)); // sequence numbers that wrap
  const src = addressIn(rng, family === 4 ? NET10 : NETFD);
  const dst = addressIn(rng, family === 4 ? NET10 : NETFD);
  const pkt = buildIp({
    family,
    src,
    dst,
    proto: 6,
    l4,
    ihl,
    fragField: rng.chance(0.7) ? 0x4000 : 0,
    id: rng.chance(0.1) ? 0xffff - rng.int(4) : rng.int(0x10000),
    trailing: rng.chance(0.1) ? rng.bytes(rng.range(1, 40)) : undefined,
    rng,
  });
  if (rng.chance(0.7)) fixL4Checksum(pkt); // the input checksum is irrelevant: every segment gets a new one
  return {
    pkt,
    mss,
    desc: `IPv${family} ihl ${ihl} doff ${doff} payload ${payloadLen} mss ${mss} flags 0x${l4[13]!.toString(16)}`,
  };
}

/** Compares native and reference; returns a failure description or null. */
function compare(pkt: Uint8Array, mss: number): string | null {
  const got = native.segmentTcp(pkt, mss);
  const want = refSegment(pkt, mss);
  if (got === null || want === null) {
    return got === want
      ? null
      : `native ${got === null ? 'null' : `${got.length} segments`}, reference ${want === null ? 'null' : `${want.length} segments`}`;
  }
  if (got.length !== want.length) return `native ${got.length} segments, reference ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (Buffer.compare(got[i]!, Buffer.from(want[i]!)) !== 0) {
      const a = got[i]!;
      const b = want[i]!;
      let k = 0;
      while (k < Math.min(a.length, b.length) && a[k] === b[k]) k++;
      return `segment ${i}/${got.length} differs at byte ${k} (lengths ${a.length}/${b.length}): native ${hex(a.subarray(0, 80))} reference ${hex(b.subarray(0, 80))}`;
    }
  }
  return null;
}

/** Properties of a segmentation that do not depend on the reference; returns problems. */
function properties(pkt: Uint8Array, mss: number, segs: Uint8Array[]): string[] {
  const problems: string[] = [];
  const hl = ipHeaderLen(pkt);
  const th = (pkt[hl + 12]! >> 4) * 4;
  const payload = pkt.subarray(hl + th, ipLength(pkt));
  const v4 = pkt[0]! >> 4 === 4;
  const flags0 = pkt[hl + 13]!;
  const parts: Uint8Array[] = [];
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (ipLength(s) !== s.length) problems.push(`segment ${i}: IP length ${ipLength(s)} != ${s.length} bytes`);
    if (v4 && internetChecksum(s.subarray(0, hl)) !== 0) problems.push(`segment ${i}: bad IPv4 header checksum`);
    if (!l4ChecksumOk(s)) problems.push(`segment ${i}: bad TCP checksum`);
    const chunk = s.subarray(hl + th);
    if (chunk.length > mss || (!last && chunk.length !== mss))
      problems.push(`segment ${i}: ${chunk.length} payload bytes (mss ${mss})`);
    parts.push(chunk);
    if (u32(s, hl + 4) !== (u32(pkt, hl + 4) + i * mss) >>> 0) problems.push(`segment ${i}: seq`);
    if (v4 && u16(s, 4) !== ((u16(pkt, 4) + i) & 0xffff)) problems.push(`segment ${i}: IPv4 ID`);
    const f = s[hl + 13]!;
    const keep = ~(FIN | PSH | CWR) & 0xff;
    if ((f & keep) !== (flags0 & keep))
      problems.push(`segment ${i}: flags 0x${f.toString(16)} vs 0x${flags0.toString(16)}`);
    if ((f & (FIN | PSH)) !== (last ? flags0 & (FIN | PSH) : 0))
      problems.push(`segment ${i}: FIN/PSH 0x${f.toString(16)}`);
    if ((f & CWR) !== (i === 0 ? flags0 & CWR : 0)) problems.push(`segment ${i}: CWR 0x${f.toString(16)}`);
    // Every header byte other than the ones the contract rewrites is copied.
    const rewritten = v4 ? [2, 3, 4, 5, 10, 11] : [4, 5];
    for (const k of [4, 5, 6, 7, 13, 16, 17]) rewritten.push(hl + k);
    for (let k = 0; k < hl + th; k++)
      if (!rewritten.includes(k) && s[k] !== pkt[k]) problems.push(`segment ${i}: header byte ${k} changed`);
  });
  if (Buffer.compare(Buffer.from(concat(...parts)), Buffer.from(payload)) !== 0)
    problems.push('the payloads do not concatenate to the original');
  return problems;
}

t.test('segmentTcp = reference segmenter on random TCP packets', async (t) => {
  const rng = new Rng(SEED);
  const N = 700;
  let bad = 0;
  let propBad = 0;
  let split = 0;
  let nulls = 0;
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    const { pkt, mss, desc } = randomTcp(rng.fork());
    const before = Uint8Array.from(pkt);
    const diff = compare(pkt, mss);
    if (diff !== null && ++bad <= 5) t.fail(`seed ${SEED} case ${i} (${desc}): ${diff}`, { packet: hex(pkt, 120) });
    if (Buffer.compare(Buffer.from(before), Buffer.from(pkt)) !== 0 && ++bad <= 5)
      t.fail(`seed ${SEED} case ${i}: the input was modified`);
    const segs = native.segmentTcp(pkt, mss);
    if (segs === null) {
      nulls++;
      continue;
    }
    split += segs.length > 1 ? 1 : 0;
    bytes += pkt.length;
    const problems = properties(pkt, mss, segs);
    if (problems.length > 0 && ++propBad <= 5)
      t.fail(`seed ${SEED} case ${i} (${desc}): ${problems.slice(0, 5).join('; ')}`);
  }
  t.equal(bad, 0, `${N} packets: native = reference (${split} split, ${nulls} over ${MAX_SEGS} segments)`);
  t.equal(propBad, 0, `every segment is valid and the payloads reassemble (${(bytes / 1e6).toFixed(1)} MB)`);
  t.ok(split > N / 2 && nulls >= 1 && nulls < N / 4, 'the draws split packets and sometimes exceed the segment limit');
});

t.test('segmentTcp = reference on damaged and non-TCP packets', async (t) => {
  const rng = new Rng(SEED ^ 0xdead);
  const N = 1500;
  let bad = 0;
  let nulls = 0;
  const hows = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const r = rng.fork();
    const family = r.chance(0.5) ? 4 : 6;
    const payload = r.bytes(r.int(400));
    const proto = r.weighted([
      [6, 6],
      [17, 1],
      [1, 1],
      [0, 1],
      [44, 1],
      [r.byte(), 1],
    ]);
    const l4 = proto === 6 ? tcpSegment(r, payload, r.range(5, 15)) : proto === 17 ? udpDatagram(r, payload) : payload;
    const pkt = buildIp({
      family,
      src: r.bytes(family === 4 ? 4 : 16),
      dst: r.bytes(family === 4 ? 4 : 16),
      proto,
      l4,
      ihl: r.range(5, 6),
      rng: r,
    });
    let p = pkt;
    let mss = r.range(1, 600);
    const how = r.pick(['none', 'frag', 'doff', 'doff-big', 'ip-length', 'truncate', 'mss-0', 'version'] as const);
    const hl = ipHeaderLen(pkt);
    switch (how) {
      case 'frag':
        if (family === 4) {
          put16(p, 6, r.pick([0x2000, 0x0001, 0x1fff, 0x6000, 0x4001, 0x8000, r.int(0x10000)]));
          fixIpv4HeaderChecksum(p);
        }
        break;
      case 'doff':
        if (p.length > hl + 12) p[hl + 12] = (r.int(5) << 4) | (p[hl + 12]! & 0x0f);
        break;
      case 'doff-big':
        // A data offset reaching past the packet's end.
        if (p.length > hl + 12) p[hl + 12] = (r.range(5, 15) << 4) | (p[hl + 12]! & 0x0f);
        break;
      case 'ip-length': {
        const off = family === 4 ? 2 : 4;
        put16(p, off, Math.max(0, u16(p, off) - r.int(60)));
        if (family === 4) fixIpv4HeaderChecksum(p);
        break;
      }
      case 'truncate':
        p = p.subarray(0, r.int(p.length + 1));
        break;
      case 'mss-0':
        mss = 0;
        break;
      case 'version':
        p[0] = (r.int(16) << 4) | (p[0]! & 0x0f);
        break;
      case 'none':
        break;
    }
    const diff = compare(p, mss);
    const want = refSegment(p, mss);
    if (want === null) nulls++;
    hows.set(
      `${how}:${want === null ? 'null' : 'split'}`,
      (hows.get(`${how}:${want === null ? 'null' : 'split'}`) ?? 0) + 1,
    );
    if (diff !== null && ++bad <= 5)
      t.fail(`seed ${SEED} case ${i} (${how}, proto ${proto}, mss ${mss}): ${diff}`, { packet: hex(p, 120) });
  }
  t.equal(bad, 0, `${N} damaged packets: native = reference (${nulls} null)`);
  t.ok(nulls > N / 3 && nulls < N - 100, 'both outcomes are exercised');
  t.comment(JSON.stringify(Object.fromEntries([...hows].sort())));
});

t.test('segmentTcp: null cases and limits (small table)', async (t) => {
  const rng = new Rng(SEED ^ 0x77);
  const tcp4 = (payloadLen: number, o: { fragField?: number; doff?: number; proto?: number } = {}): Uint8Array => {
    const l4 =
      o.proto === undefined || o.proto === 6
        ? tcpSegment(rng, rng.bytes(payloadLen), o.doff ?? 5, 0x18)
        : udpDatagram(rng, rng.bytes(payloadLen));
    return buildIp({
      family: 4,
      src: Uint8Array.of(10, 0, 0, 1),
      dst: Uint8Array.of(10, 0, 0, 2),
      proto: o.proto ?? 6,
      l4,
      fragField: o.fragField,
      rng,
    });
  };
  const tcp6 = (payloadLen: number, proto = 6): Uint8Array =>
    buildIp({
      family: 6,
      src: addressIn(rng, NETFD),
      dst: addressIn(rng, NETFD),
      proto,
      l4: tcpSegment(rng, rng.bytes(payloadLen)),
      rng,
    });
  t.equal(native.segmentTcp(tcp4(100, { proto: 17 }), 10), null, 'UDP');
  t.equal(
    native.segmentTcp(
      buildIp({
        family: 4,
        src: Uint8Array.of(10, 0, 0, 1),
        dst: Uint8Array.of(10, 0, 0, 2),
        proto: 1,
        l4: rng.bytes(64),
      }),
      10,
    ),
    null,
    'ICMP',
  );
  t.equal(native.segmentTcp(tcp6(100, 0), 10), null, 'IPv6 with a hop-by-hop header');
  t.equal(native.segmentTcp(tcp6(100, 17), 10), null, 'IPv6 UDP');
  t.equal(native.segmentTcp(tcp4(100, { fragField: 0x2000 }), 10), null, 'IPv4 MF');
  t.equal(native.segmentTcp(tcp4(100, { fragField: 0x0010 }), 10), null, 'IPv4 fragment offset');
  t.not(native.segmentTcp(tcp4(100, { fragField: 0x4000 }), 10), null, 'IPv4 DF is not a fragment');
  t.not(native.segmentTcp(tcp4(100, { fragField: 0x8000 }), 10), null, 'the reserved flag is not a fragment');
  const badOff = tcp4(100);
  badOff[20 + 12] = 0x40;
  t.equal(native.segmentTcp(badOff, 10), null, 'data offset 4');
  const pastEnd = tcp4(20);
  pastEnd[20 + 12] = 0xf0;
  t.equal(native.segmentTcp(pastEnd, 10), null, 'data offset past the end');
  t.equal(native.segmentTcp(tcp4(100), 0), null, 'mss 0');
  t.equal(native.segmentTcp(tcp4(100).subarray(0, 39), 10), null, 'truncated IPv4');
  t.equal(native.segmentTcp(new Uint8Array(0), 10), null, 'empty');
  const bare = tcp4(0);
  t.equal(native.segmentTcp(bare, 10)?.length, 1, 'no payload: one segment');
  t.equal(compare(bare, 10), null, 'no payload: equals the reference (FIN/PSH/CWR kept)');
  // The segment limit, both sides of it: exactly 256 segments, then 257.
  for (const mss of [1, 7, 100]) {
    const at = tcp4(MAX_SEGS * mss);
    const over = tcp4(MAX_SEGS * mss + 1);
    t.equal(native.segmentTcp(at, mss)?.length, MAX_SEGS, `mss ${mss}: ${MAX_SEGS * mss} bytes → ${MAX_SEGS} segments`);
    t.equal(native.segmentTcp(over, mss), null, `mss ${mss}: one more byte → null`);
    t.equal(compare(at, mss), null, `mss ${mss}: ${MAX_SEGS} segments = reference`);
  }
  // Largest packets, both families.
  for (const p of [tcp4(65535 - 40), tcp6(65535 - 20)]) {
    const segs = native.segmentTcp(p, 1460);
    t.equal(
      segs?.length,
      Math.ceil((ipLength(p) - ipHeaderLen(p) - 20) / 1460),
      `IPv${p[0]! >> 4}, ${ipLength(p)} bytes`,
    );
    t.equal(compare(p, 1460), null, 'equals the reference');
    t.same(properties(p, 1460, segs ?? []), [], 'valid segments');
  }
  // An mss larger than the payload: one segment, identical except for the checksums.
  const one = tcp4(500);
  const seg1 = native.segmentTcp(one, 1460);
  t.equal(seg1?.length, 1, 'mss above the payload: one segment');
  t.equal(compare(one, 1460), null, 'and it equals the reference');
});

// The transmit loop's scattered read (native/core/tso.h): a TSO packet read into per-segment slots is split in place
// into exactly what segmentTcp builds; a read whose headers do not match the predicted layout is moved back intact;
// and a capture of a scattered packet sees the packet as read.
t.test(
  'scattered transmit reads: in-place segments = segmentTcp, unscatter restores the packet, capture sees it',
  async (t) => {
    const rng = new Rng(SEED ^ 0x5ca7);
    const N = 500;
    let inPlace = 0;
    let moved = 0;
    let bad = 0;
    const fail = (i: number, desc: string, what: string) => {
      if (++bad <= 5) t.fail(`seed ${SEED} case ${i} (${desc}): ${what}`);
    };
    for (let i = 0; i < N; i++) {
      const { pkt, desc } = randomTcp(rng.fork());
      const hl = pkt[0]! >> 4 === 4 ? (pkt[0]! & 15) * 4 : 40;
      const actual = hl + (pkt[hl + 12]! >> 4) * 4;
      const mss = rng.range(512, 1460);
      // Mostly the right prediction; sometimes another header length (another flow's), as the loop sees them.
      const h = rng.chance(0.75) ? actual : Math.max(20, actual + 4 * rng.range(-4, 4));
      const r = native.tsoScatter(pkt, mss, h);
      if (r === null) {
        fail(i, desc, `no layout for h ${h}, mss ${mss}`);
        continue;
      }
      const room = 22 + Math.min(pkt.length, r.capture.length - 22);
      if (r.capture.length !== Math.min(22 + pkt.length, r.capture.length) || room !== r.capture.length)
        fail(i, desc, 'capture length');
      if (Buffer.compare(r.capture.subarray(22), Buffer.from(pkt.subarray(0, r.capture.length - 22))) !== 0)
        fail(i, desc, 'the capture differs from the packet');
      if (r.segments !== null) {
        inPlace++;
        const want = native.segmentTcp(pkt, mss);
        if (want === null || want.length !== r.segments.length)
          fail(i, desc, `${r.segments.length} segments in place, segmentTcp ${want?.length}`);
        else if (want.some((w, k) => Buffer.compare(w, r.segments![k]!) !== 0))
          fail(i, desc, 'an in-place segment differs from segmentTcp');
      } else {
        moved++;
        if (r.unscattered === null || Buffer.compare(r.unscattered, Buffer.from(pkt)) !== 0)
          fail(i, desc, 'unscatter did not restore the packet');
        if (
          h === actual &&
          pkt.length === (pkt[0]! >> 4 === 4 ? (pkt[2]! << 8) | pkt[3]! : 40 + ((pkt[4]! << 8) | pkt[5]!))
        )
          fail(i, desc, 'a matching packet was not split in place');
      }
    }
    t.equal(bad, 0, `${N} packets: ${inPlace} split in place, ${moved} moved back`);
    t.ok(inPlace > N / 2 && moved > N / 10, 'both paths are taken');
  },
);
