// /run/flannel/subnet.env, as flannel writes it (WriteSubnetFile in flannel's pkg/subnet/subnet.go; README
// "What flannel reads and writes"), so the stock flannel CNI plugin works on a vxtun node unchanged:
//
//   FLANNEL_NETWORK=10.244.0.0/16          the cluster network        ┐ when there is an IPv4 pod CIDR
//   FLANNEL_SUBNET=10.244.1.1/24           first usable IP / length   ┘
//   FLANNEL_IPV6_NETWORK=fd10:244::/56                                ┐ when ipv6Network is set and the node
//   FLANNEL_IPV6_SUBNET=fd10:244:0:1::1/64                            ┘ has an IPv6 pod CIDR
//   FLANNEL_MTU=1450                       the device MTU
//   FLANNEL_IPMASQ=true                    config ipMasq: whether vxtun masquerades
//
// FLANNEL_IPMASQ=true: vxtun masquerades what leaves the cluster network (src/masq/, installed before this file is
// written), and the flannel CNI plugin configures the bridge with ipMasq false, so pod ↔ pod traffic keeps the pods'
// own addresses. FLANNEL_IPMASQ=false: vxtun installs no NAT, and the plugin has the bridge masquerade everything
// that leaves the pod's own subnet, traffic to pods on other nodes included (the bridge's ipMasq = !FLANNEL_IPMASQ
// unless the CNI config's delegate sets it).
//
// The file is replaced atomically (write a temporary file in the same directory, then rename), so a CNI plugin
// running at the same moment reads the old file or the new one, never half of one. The directory is a hostPath
// other node software can write to, so the temporary file is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) under
// a random name: a file or symlink planted at any name is never opened, followed or overwritten.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Cidr } from '../net/cidr.js';

export interface SubnetEnv {
  network: Cidr;
  ipv6Network?: Cidr;
  podCIDRs: readonly Cidr[];
  mtu: number;
  ipMasq: boolean;
}

/** "10.244.1.1/24": the first usable address of the subnet with the subnet's length. */
function firstUsable(c: Cidr): string {
  const hostBits = c.bytes.length * 8 - c.prefixLen;
  const ip = hostBits === 0 ? c.hostAddress(0) : c.hostAddress(1);
  return `${ip.text}/${c.prefixLen}`;
}

export function formatSubnetEnv(e: SubnetEnv): string {
  const v4 = e.podCIDRs.find((c) => c.family === 4);
  const v6 = e.ipv6Network ? e.podCIDRs.find((c) => c.family === 6) : undefined;
  let out = '';
  if (v4) out += `FLANNEL_NETWORK=${e.network.toString()}\nFLANNEL_SUBNET=${firstUsable(v4)}\n`;
  if (v6 && e.ipv6Network)
    out += `FLANNEL_IPV6_NETWORK=${e.ipv6Network.toString()}\nFLANNEL_IPV6_SUBNET=${firstUsable(v6)}\n`;
  out += `FLANNEL_MTU=${e.mtu}\nFLANNEL_IPMASQ=${e.ipMasq}\n`;
  return out;
}

export interface AtomicWriteDeps {
  /** The random part of the temporary file's name (tests inject collisions). */
  randomSuffix?: () => string;
}

const kTempTries = 8;
const kTempFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC

/**
 * Writes `text` to `path` atomically (mode 0644), creating the directory (0755) if needed: an exclusively created,
 * randomly named temporary file in the same directory (never following a symlink), fsync, rename over `path`
 * (which replaces a symlink at `path` rather than writing through it), fsync of the directory.
 */
export async function writeFileAtomic(path: string, text: string, deps: AtomicWriteDeps = {}): Promise<void> {
  const randomSuffix = deps.randomSuffix ?? ((): string => randomBytes(12).toString('hex'));
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let tmp = '';
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  for (let i = 0; fh === undefined; i++) {
    tmp = join(dir, `.${basename(path)}.${randomSuffix()}.tmp`);
    try {
      fh = await open(tmp, kTempFlags, 0o644);
    } catch (err) {
      // EEXIST: something (maybe a planted symlink) holds that name; try another, never touch it.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i + 1 >= kTempTries) throw err;
    }
  }
  try {
    try {
      await fh.chmod(0o644); // the umask may have narrowed the creation mode
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  if (d)
    await d
      .sync()
      .catch(() => {})
      .finally(() => d.close());
}

/** The pod subnets a subnet file names (FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET), from its text; malformed lines ignored. */
export function subnetsOfSubnetEnv(text: string): { v4?: Cidr; v6?: Cidr } {
  const out: { v4?: Cidr; v6?: Cidr } = {};
  for (const line of text.split('\n').slice(0, 64)) {
    const m = /^(FLANNEL_SUBNET|FLANNEL_IPV6_SUBNET)=(\S{1,64})$/.exec(line.trim());
    if (!m) continue;
    let c: Cidr;
    try {
      c = Cidr.parse(m[2] ?? '', { strict: false });
    } catch {
      continue;
    }
    if (m[1] === 'FLANNEL_SUBNET' && c.family === 4) out.v4 = c;
    if (m[1] === 'FLANNEL_IPV6_SUBNET' && c.family === 6) out.v6 = c;
  }
  return out;
}

/** The subnets of the subnet file at `path` (our previous run's), undefined when there is none or it names none. */
export async function previousSubnets(path: string | null): Promise<{ v4?: Cidr; v6?: Cidr } | undefined> {
  if (path === null) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const s = subnetsOfSubnetEnv(text.slice(0, 4096));
  return s.v4 || s.v6 ? s : undefined;
}
