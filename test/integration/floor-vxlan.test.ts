// The bench's floor-vxlan setup (`vxtun bench lab --floor-vxlan`; native/bench/floor-relay.c VXTUN_RELAY_VXLAN): the
// relay that does only what valid VXLAN asks must still be valid VXLAN, or floor-vxlan ÷ floor would not measure what
// it says. Two relays in a lab carry a checksum-verified TCP transfer each way and pings; what node-2 receives is
// VXLAN datagram by datagram: the VXLAN header with VNI 1 and remote checksum offload (start 14 + 20, TCP), an inner
// Ethernet frame of IPv4, and an inner packet no longer than the pod MTU (each segment its own headers, not the raw
// super-packet the plain floor relay sends).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  buildRelay,
  relayUnavailableReason,
  startFloorNode,
  stopRelays,
  verifyFloor,
} from '../../src/bench/floor-node.js';
import { Lab, ping } from '../../src/lab/index.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';
import { vxlanWire } from '../helpers/vxlan-wire.js';

const skip = labSkipReason(['ip', 'bridge', 'sysctl', 'ping', 'tcpdump']) || relayUnavailableReason() || false;

t.test('the floor relay in VXLAN mode carries verified transfers as valid VXLAN', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-floor-vxlan-'));
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const relay = buildRelay(dir);
  const relays = [
    await startFloorNode(lab, relay, 1, 2, { vxlan: true }),
    await startFloorNode(lab, relay, 2, 1, { vxlan: true }),
  ];
  let verified = '';
  const wire = await vxlanWire(
    lab,
    2,
    'in',
    async () => {
      verified = await verifyFloor(lab, 20 * 1024 * 1024);
    },
    26,
  );
  t.match(verified, /pod-1 → pod-2 .* sha256 match, pod-2 → pod-1 .* sha256 match/, verified);
  t.ok(wire.length >= 8, `${wire.length} datagrams captured`);
  const mtu = lab.underlayMTU - 50;
  for (const [k, d] of wire.entries()) {
    const innerLen = (d[24]! << 8) | d[25]!;
    const ok =
      d.slice(0, 8).join() === [0x08, 0x20, 0, 0, 0, 0, 1, 17].join() &&
      d[20] === 0x08 &&
      d[21] === 0x00 &&
      d[22] === 0x45 &&
      innerLen <= mtu;
    if (!ok || k === 0)
      t.ok(ok, `datagram ${k}: VXLAN with RCO, inner IPv4 of ${innerLen} ≤ ${mtu} bytes (${JSON.stringify(d)})`);
  }
  const p = await ping(lab, lab.podNs(1), lab.podIP(2), { count: 5, intervalS: 0.05 });
  t.equal(p.received, p.sent, `pings pod-1 → pod-2: ${p.received}/${p.sent}`);
  const counters = (await stopRelays(relays)).map((l) => JSON.parse(l) as Record<string, number>);
  for (const c of counters) t.equal(c['tunWriteErrors'], 0, 'no TUN write failed');
});
