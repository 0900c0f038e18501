// Just enough PNG decoding to tell a screenshot is not blank (test/integration/bench-package.test.ts): the IHDR size
// and the number of distinct pixel colours of an 8-bit, non-interlaced greyscale/RGB/RGBA image (what chromium's
// --screenshot writes). Throws on anything else.
import { inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel by colour type (8-bit samples): grey, RGB, grey+alpha, RGBA. */
const BPP: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

export interface PngSummary {
  width: number;
  height: number;
  /** Distinct pixel values (capped at `limit`). */
  colours: number;
}

export function pngSummary(png: Buffer, limit = 10_000): PngSummary {
  if (png.length < 33 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let width = 0,
    height = 0,
    bpp = 0;
  const idat: Buffer[] = [];
  for (let off = 8; off + 8 <= png.length;) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colourType, , , interlace] = [data[8]!, data[9]!, data[10], data[11], data[12]];
      if (depth !== 8 || BPP[colourType] === undefined || interlace !== 0)
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
      bpp = BPP[colourType]!;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (!width || !height) throw new Error('PNG without IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) throw new Error('PNG image data too short');
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const seen = new Set<string>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      let pred: number;
      if (filter === 0) pred = 0;
      else if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a),
          pb = Math.abs(p - b),
          pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`bad PNG filter ${filter} on row ${y}`);
      cur[x] = (line[x]! + pred) & 0xff;
    }
    for (let x = 0; x < stride && seen.size < limit; x += bpp) seen.add(cur.toString('hex', x, x + bpp));
    cur.copy(prev);
  }
  return { width, height, colours: seen.size };
}
