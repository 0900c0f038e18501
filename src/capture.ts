// Packet capture on the TypeScript side: decoding the addon's packed capture records
// (native/capture.h) and fanning one shared stream out to every running `vxtun dump`.
//
// The addon has one set of rings per dataplane. The first subscriber starts a native capture, a
// timer drains the rings every POLL_MS and hands each record to every subscriber, and the last
// subscriber to leave stops it again — so while nobody captures, the loops copy nothing.

/** One captured packet with what the dataplane decided about it. */
export interface CaptureRecord {
  /** Wall-clock time in nanoseconds since the epoch. */
  tsNs: bigint;
  dir: 'tx' | 'rx';
  /** 'forward' or the drop reason (the contract's names, e.g. 'no-route'). */
  verdict: string;
  /** The peer's name, '' when unknown (a transmit drop, an unknown VTEP). */
  peer: string;
  /** The peer's public IPv4 address (tx: destination, rx: outer source); '0.0.0.0' when none. */
  vtep: string;
  worker: number;
  /** The 22-byte VXLAN + inner Ethernet prefix as it was on the wire, when there was one. */
  prefix: Buffer | null;
  /** The inner IP packet (up to the snap length). */
  packet: Buffer;
  /** The inner packet's full length. */
  origLen: number;
}

const HEADER = 64;
const PREFIX = 22;

/** Decodes a Buffer of packed records; `reasons` is the addon's drop-reason list (verdict k ↦ reasons[k-1]). */
export function decodeCaptureRecords(buf: Buffer, reasons: readonly string[]): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  for (let off = 0; off + HEADER <= buf.length; ) {
    const capLen = buf.readUInt16LE(off + 12);
    const origLen = buf.readUInt32LE(off + 8);
    const verdict = buf[off + 15]!;
    const hasPrefix = (buf[off + 22]! & 1) !== 0;
    const nameLen = Math.min(40, buf[off + 23]!);
    const data = buf.subarray(off + HEADER, off + HEADER + capLen);
    const withPrefix = hasPrefix && data.length >= PREFIX;
    out.push({
      tsNs: buf.readBigUInt64LE(off),
      dir: buf[off + 14] === 0 ? 'tx' : 'rx',
      verdict: verdict === 0 ? 'forward' : (reasons[verdict - 1] ?? `reason-${verdict}`),
      vtep: `${buf[off + 16]}.${buf[off + 17]}.${buf[off + 18]}.${buf[off + 19]}`,
      worker: buf.readUInt16LE(off + 20),
      peer: buf.toString('utf8', off + 24, off + 24 + nameLen),
      // Views into `buf`, which the addon allocated for this read alone.
      prefix: withPrefix ? data.subarray(0, PREFIX) : null,
      packet: withPrefix ? data.subarray(PREFIX) : data,
      origLen: withPrefix ? origLen - PREFIX : origLen,
    });
    off += (HEADER + capLen + 3) & ~3;
  }
  return out;
}

/** What the hub needs from the dataplane: the addon's capture methods. */
export interface CaptureSource {
  captureStart(): number;
  captureStop(id: number): boolean;
  captureRead(maxBytes: number): Buffer | null;
}

export interface CaptureSubscription {
  /** Stops delivering records; the native capture stops with the last subscription. Idempotent. */
  close(): void;
}

export interface CaptureHub {
  subscribe(onRecords: (records: CaptureRecord[]) => void): CaptureSubscription;
  readonly subscribers: number;
  /** Ends every subscription (daemon shutdown). */
  close(): void;
}

const POLL_MS = 20;
const READ_BYTES = 4 << 20;

export function createCaptureHub(source: CaptureSource, reasons: readonly string[]): CaptureHub {
  const subs = new Set<(records: CaptureRecord[]) => void>();
  let id: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const drain = () => {
    for (let i = 0; i < 16; i++) {
      const buf = source.captureRead(READ_BYTES);
      if (!buf) return;
      // One read holds each ring's records in turn; put them back in time order (a count then cuts at the right place).
      const records = decodeCaptureRecords(buf, reasons).sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
      for (const s of [...subs]) s(records);
      if (buf.length < READ_BYTES / 2) return;
    }
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (id !== undefined) source.captureStop(id);
    id = undefined;
  };
  return {
    get subscribers() {
      return subs.size;
    },
    subscribe(onRecords) {
      const fn = (r: CaptureRecord[]) => onRecords(r);
      subs.add(fn);
      if (id === undefined) {
        id = source.captureStart();
        timer = setInterval(drain, POLL_MS);
      }
      return {
        close() {
          if (!subs.delete(fn)) return;
          if (subs.size === 0) stop();
        },
      };
    },
    close() {
      subs.clear();
      stop();
    },
  };
}

/** A hub over the dataplane's capture methods, or undefined when it has none (the js engine). */
export function captureHubFor(dp: Partial<CaptureSource>, reasons: readonly string[]): CaptureHub | undefined {
  if (!dp.captureStart || !dp.captureStop || !dp.captureRead) return undefined;
  return createCaptureHub(dp as CaptureSource, reasons);
}
