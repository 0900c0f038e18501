// The `floor` setup of `vxtun bench lab` (--floor): each node runs native/bench/floor-relay.c, a relay that does
// only what every TUN + UDP-socket dataplane must do — TUN read, one UDP_SEGMENT sendmsg, UDP_GRO
// recvmsg, TUN write, with vxtun's offloads — and no per-byte userspace work (not valid VXLAN: it
// moves the bytes, nothing else). Its throughput is the ceiling of the design on the machine, so
// `native ÷ floor` says what is left to gain inside it and `floor ÷ kernel` what the design costs.
// The relay ships as C source (native/ is in the package) and is compiled at run time with the machine's `cc`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TUN_TX_QUEUE_LEN } from '../device/device.js';
import { tcpTransfer, which, type Lab, type NsProcess } from '../lab/index.js';

const PORT = 8472;
const DEVICE = 'vxtun0';

/** The relay's source: native/bench/ of the package, two levels above this module in src/bench/ and dist/bench/. */
export const RELAY_SOURCE = fileURLToPath(new URL('../../native/bench/floor-relay.c', import.meta.url));

/** Why the relay cannot be built here (no `cc` on PATH, no source), or undefined when it can. */
export function relayUnavailableReason(): string | undefined {
  if (!which('cc')) return 'no C compiler (cc) on PATH to build native/bench/floor-relay.c';
  if (!existsSync(RELAY_SOURCE)) return `the relay source ${RELAY_SOURCE} is missing`;
  return undefined;
}

/** Compiles the relay into dir; returns the binary's path. Throws with the compiler's output when it fails. */
export function buildRelay(dir: string): string {
  const bin = join(dir, 'floor-relay');
  const r = spawnSync('cc', ['-O2', '-Wall', '-pthread', '-o', bin, RELAY_SOURCE], { encoding: 'utf8' });
  if (r.error) throw new Error(`compiling ${RELAY_SOURCE}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`compiling ${RELAY_SOURCE} failed: ${r.stderr.trim().slice(0, 2000)}`);
  return bin;
}

/**
 * Starts the relay on node i (peer j), with `iovecs` in vxtun's iovec layout, and gives its device what vxtun's configureDevice gives its own (src/device/device.ts):
 * addrgenmode none, MTU underlay − 50, transmit queue TUN_TX_QUEUE_LEN, gso_max_segs 128, the pod subnets' network addresses, routes for the pod
 * networks. gso_max_size stays at the kernel's 65536, as vxtun leaves it: lowering it makes the kernel segment every
 * forwarded super-packet above it in software before the TUN sees it.
 */
export async function startFloorNode(
  lab: Lab,
  relay: string,
  i: number,
  j: number,
  opts: { iovecs?: boolean; vxlan?: boolean } = {},
): Promise<NsProcess> {
  const ns = lab.nodeNs(i);
  const args = [DEVICE, lab.underlayIP(i), String(PORT), lab.underlayIP(j), String(PORT), String(lab.underlayMTU - 28)];
  // iovecs: the same bytes gathered as vxtun gathers them (floor-relay.c, VXTUN_RELAY_IOVECS); vxlan: valid VXLAN on
  // the wire (VXTUN_RELAY_VXLAN).
  const env = {
    ...(opts.iovecs ? { VXTUN_RELAY_IOVECS: '1' } : {}),
    ...(opts.vxlan ? { VXTUN_RELAY_VXLAN: '1' } : {}),
  };
  const p = lab.spawn(ns, relay, args, Object.keys(env).length ? { env: { ...process.env, ...env } } : {});
  await p.waitForOutput(/relay ready/, 5_000);
  await lab.ip(ns, ['link', 'set', 'dev', DEVICE, 'addrgenmode', 'none']).catch(() => undefined);
  await lab.ip(ns, [
    'link',
    'set',
    'dev',
    DEVICE,
    'mtu',
    String(lab.underlayMTU - 50),
    'txqueuelen',
    String(TUN_TX_QUEUE_LEN),
    'up',
  ]);
  await lab.ip(ns, ['link', 'set', 'dev', DEVICE, 'gso_max_segs', '128']);
  await lab.ip(ns, ['addr', 'replace', `${lab.podCIDR(i).replace(/\/24$/, '')}/32`, 'dev', DEVICE]);
  await lab.ip(ns, ['-6', 'addr', 'replace', `${lab.podCIDR(i, 6).replace(/\/64$/, '')}/128`, 'dev', DEVICE, 'nodad']);
  await lab.ip(ns, ['route', 'replace', lab.podNetwork(4), 'dev', DEVICE]);
  await lab.ip(ns, ['-6', 'route', 'replace', lab.podNetwork(6), 'dev', DEVICE]);
  return p;
}

/** A sha256-checked transfer each way (so the floor is a relay that works); throws on a mismatch. */
export async function verifyFloor(lab: Lab, bytes: number): Promise<string> {
  const out: string[] = [];
  for (const [from, to] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const r = await tcpTransfer(lab.podNs(to), lab.podIP(to), lab.podNs(from), {
      bytes,
      seed: `floor-${from}`,
      timeoutMs: 120_000,
    });
    if (r.bytes !== bytes || r.sha256Sent !== r.sha256Received)
      throw new Error(`floor relay corrupted a transfer pod-${from} → pod-${to}`);
    out.push(`pod-${from} → pod-${to} ${bytes} B sha256 match`);
  }
  return out.join(', ');
}

/** Stops the relays; returns their counter lines (JSON on stderr at SIGTERM). */
export async function stopRelays(relays: NsProcess[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of relays) {
    await r.stop('SIGTERM', 3_000);
    out.push(
      r
        .stderr()
        .split('\n')
        .reverse()
        .find((l) => l.includes('"relay-stats"')) ?? r.stderr().trim().slice(-300),
    );
  }
  return out;
}
