import t from 'tap';
import { dumpQuery, formatDumpLine, formatDumpSummary } from '../../src/dump/command.js';
import { UsageError } from '../../src/errors.js';
import { outerDatagram } from '../../src/dump/pcapng.js';
import { type PcapngPacket } from '../../src/dump/pcapng-read.js';
import type { CaptureRecord } from '../../src/dump/capture.js';

const ICMP = Buffer.from('4500001c00004000400100000af401020af402020800f7ff00000000', 'hex');
const TCP = Buffer.from(
  '45000028000040004006000' + '00af401020af40202' + '9c4014510000000000000000501200000000000',
  'hex',
);

t.test('query', async (t) => {
  t.equal(dumpQuery({ socket: '/x', filter: [] }).toString(), '');
  t.equal(
    dumpQuery({
      socket: '/x',
      count: 5,
      seconds: 1.5,
      outer: true,
      filter: ['host', '10.0.0.1', 'and', '(tcp', 'or', 'udp)'],
    }).toString(),
    'count=5&seconds=1.5&outer=1&filter=host+10.0.0.1+and+%28tcp+or+udp%29',
  );
  t.throws(() => dumpQuery({ socket: '/x', count: 0, filter: [] }), {
    name: 'UsageError',
    message: /--count: expected a positive integer \(at most 1000000000\), got "0"/,
  });
  t.throws(() => dumpQuery({ socket: '/x', seconds: 1e10, filter: [] }), {
    name: 'UsageError',
    message: /--seconds: expected a positive number \(at most 86400\), got "10000000000"/,
  });
  t.throws(() => dumpQuery({ socket: '/x', count: 1.5, filter: [] }), UsageError);
  t.throws(() => dumpQuery({ socket: '/x', seconds: NaN, filter: [] }), { message: /--seconds/ });
  t.throws(() => dumpQuery({ socket: '/x', filter: ['port'] }), { message: /bad filter "port"/ });
  t.equal(dumpQuery({ socket: '/x', snaplen: 96, filter: [] }).toString(), 'snaplen=96');
  for (const bad of [0, 1963, 1.5, NaN]) {
    t.throws(
      () => dumpQuery({ socket: '/x', snaplen: bad, filter: [] }),
      { name: 'UsageError', message: /--snaplen: expected an integer 1\.\.1962/ },
      `snaplen ${bad}`,
    );
  }
});

t.test('lines', async (t) => {
  const ts = 1_700_000_000_123_456_789n;
  const p = (data: Buffer, comment: string, origLen = data.length): PcapngPacket => ({
    tsNs: ts,
    data,
    origLen,
    comment,
    linktype: 101,
  });
  t.equal(
    formatDumpLine(p(ICMP, 'dir=tx peer=node-2 vtep=192.168.99.2 verdict=forward'), false),
    '22:13:20.123456789 tx to node-2 (192.168.99.2) forward: 10.244.1.2 > 10.244.2.2: ICMP echo request, length 28',
  );
  t.equal(
    formatDumpLine(p(TCP, 'dir=rx peer=node-2 vtep=192.168.99.2 verdict=drop:spoofed-source', 1400), false),
    '22:13:20.123456789 rx from node-2 (192.168.99.2) DROP spoofed-source: 10.244.1.2.40000 > 10.244.2.2.5201: TCP [S.], length 1400',
  );
  const r: CaptureRecord = {
    tsNs: ts,
    dir: 'tx',
    verdict: 'forward',
    peer: 'n',
    vtep: '1.2.3.4',
    worker: 0,
    prefix: null,
    packet: ICMP,
    origLen: 28,
  };
  const o = outerDatagram(r, { publicIP: '1.1.1.1', port: 8472, vni: 1 });
  t.match(
    formatDumpLine(p(o.data, 'dir=tx peer=n vtep=1.2.3.4 verdict=forward', o.origLen), true),
    /10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request, length 28$/,
    '--outer lines show the inner packet',
  );
  const o6 = outerDatagram(r, { publicIP: 'fd99::1', port: 8472, vni: 1 });
  t.equal(o6.data.length, 70 + 28, 'an IPv6 node: 70 bytes of outer');
  t.match(
    formatDumpLine(p(o6.data, 'dir=tx peer=n vtep=fd99::2 verdict=forward', o6.origLen), true),
    /to n \(fd99::2\) forward: 10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request, length 28$/,
    '--outer lines over an IPv6 underlay show the inner packet and its length',
  );
  t.match(
    formatDumpLine(p(Buffer.from([1, 2]), 'dir=tx peer=- vtep=0.0.0.0 verdict=drop:short'), false),
    /DROP short: non-IP, length 2$/,
  );
});

t.test('closing summary', async (t) => {
  t.equal(formatDumpSummary(1, undefined), '1 packet captured');
  t.equal(
    formatDumpSummary(40, { matched: 50, dropped: 10, delivered: 40 }),
    '40 packets captured, 50 matched the filter, 10 dropped by the daemon (capture ring full: not read fast enough)',
  );
  t.equal(
    formatDumpSummary(2, { matched: 2, dropped: 0, delivered: 2 }),
    '2 packets captured, 2 matched the filter, 0 dropped by the daemon',
  );
  t.match(
    formatDumpSummary(2, { matched: 1, dropped: 0, delivered: 1 }, true),
    /\(daemon counters as of the last second\)$/,
    'a cut stream says its counters may lag',
  );
});
