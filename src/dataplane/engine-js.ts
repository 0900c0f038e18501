// The `js` engine (dataplane.engine: js): the portable baseline. The addon opens the TUN device
// and moves bytes (native/node/tun_device.h); everything else happens per packet in TypeScript — the
// lookup and receive checks of the reference codec (src/dataplane/codec.ts), encapsulation, a `dgram` socket
// for the underlay, and the two receive repairs (src/dataplane/repair.ts). It offers the same interface as
// the native dataplane, so the daemon and every namespace test run on either; bench:e2e shows in
// numbers what the native path buys.
import dgram from 'node:dgram';
import { checkRx, checkTx, chooseEndpoint, ENCAP_PREFIX, peerEndpoints, type Table } from './codec.js';
import { DataplaneError } from '../errors.js';
import type { NativeBinding } from './addon.js';
import { NO_OFFLOADS } from './offloads.js';
import { zeroStats, type Dataplane, type DataplaneOptions, type DataplaneStats, type DataplaneTable } from './types.js';
import { Cidr } from '../net/cidr.js';
import { formatHostPort } from '../net/host-port.js';
import { parseIP, type IP } from '../net/ip.js';
import { parseMac } from '../net/mac.js';
import { completePartialChecksum, splitToMtu } from './repair.js';

/**
 * The engine's table, refused (RangeError, as the native Table::Build refuses it) when a second endpoint is not IPv6
 * or comes with a publicIP that is not IPv4, or an address is any two endpoints' (src/dataplane/types.ts).
 */
function toTable(t: DataplaneTable): Table {
  const table: Table = {
    local: { podCIDRs: t.local.map((c) => Cidr.parse(c)) },
    peers: t.peers.map((p) => {
      const publicIP = parseIP(p.publicIP);
      if (!publicIP) throw new RangeError(`peer ${p.name}: bad publicIP ${p.publicIP}`);
      if ((p.publicIPv6 === undefined) !== (p.vtepMACv6 === undefined)) {
        throw new TypeError(`peer ${p.name}: publicIPv6 and vtepMACv6 go together (both or neither)`);
      }
      const peer: Table['peers'][number] = {
        name: p.name,
        publicIP,
        vtepMAC: p.vtepMAC,
        podCIDRs: p.cidrs.map((c) => Cidr.parse(c)),
      };
      if (p.publicIPv6 !== undefined && p.vtepMACv6 !== undefined) {
        const v6 = parseIP(p.publicIPv6);
        if (v6?.family !== 6 || publicIP.family !== 4) {
          throw new RangeError(`peer ${p.name}: a second endpoint must be IPv6 and the public IP IPv4`);
        }
        peer.publicIPv6 = v6;
        peer.vtepMACv6 = p.vtepMACv6;
      }
      return peer;
    }),
  };
  const seen = new Set<string>();
  for (const p of table.peers) {
    for (const e of peerEndpoints(p)) {
      if (seen.has(e.ip.text)) throw new RangeError(`peer ${p.name}: public IP is used by another peer`);
      seen.add(e.ip.text);
    }
  }
  return table;
}

/**
 * An underlay socket of `bindIP`'s family: `udp6` with IPV6_V6ONLY for IPv6 (IPv4 peers are never reached as
 * IPv4-mapped), else `udp4`. The kernel computes the outer UDP checksum on IPv6 and drops datagrams whose checksum
 * is zero (README "Wire format", "IPv6 underlay").
 */
function bindSocket(opts: DataplaneOptions, bindIP: string): Promise<dgram.Socket> {
  const v6 = parseIP(bindIP)?.family === 6;
  const sock = dgram.createSocket({
    type: v6 ? 'udp6' : 'udp4',
    ipv6Only: v6,
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
  });
  const where = formatHostPort({ host: bindIP, port: opts.port });
  return new Promise((resolve, reject) => {
    sock.once('error', (err: NodeJS.ErrnoException) => {
      sock.close();
      reject(new DataplaneError(`binding UDP ${where}: ${err.code ?? err.message}`, err.code, 'bind'));
    });
    sock.bind(opts.port, bindIP, () => resolve(sock));
  });
}

/**
 * A datagram's outer source as an IP: dgram's text without its zone (`fe80::1%eth0`: a link-local source is never
 * a peer's address, so it is an unknown VTEP). Null for text that is no address.
 */
export function outerSource(address: string): IP | null {
  const zone = address.indexOf('%');
  return parseIP(zone < 0 ? address : address.slice(0, zone));
}

/**
 * Opens the js engine: the UDP sockets first (a port clash fails before a device exists), then the TUN. A dual-stack
 * node (bindIPv6) has a socket of each family; a packet leaves from the socket of its endpoint's family
 * (chooseEndpoint), and either socket receives.
 */
export async function openJsDataplane(native: NativeBinding, opts: DataplaneOptions): Promise<Dataplane> {
  if (opts.bindIPv6 !== undefined && (parseIP(opts.bindIPv6)?.family !== 6 || parseIP(opts.bindIP)?.family !== 4)) {
    throw new RangeError('bindIPv6 must be IPv6 and bindIP IPv4');
  }
  if (opts.remoteChecksum === true) throw new RangeError('remoteChecksum: the js engine does not implement it');
  const sockets = new Map<4 | 6, dgram.Socket>();
  try {
    for (const ip of [opts.bindIP, opts.bindIPv6]) {
      if (ip !== undefined) sockets.set(parseIP(ip)?.family === 6 ? 6 : 4, await bindSocket(opts, ip));
    }
  } catch (err) {
    for (const s of sockets.values()) s.close();
    throw err;
  }
  const localFamilies: ReadonlySet<4 | 6> = new Set(sockets.keys());
  let tun;
  try {
    tun = new native.TunDevice(opts.device);
  } catch (err) {
    for (const s of sockets.values()) s.close();
    throw err;
  }
  const reasons = native.dropReasons;
  const stats: DataplaneStats = zeroStats(reasons);
  let table: Table = { local: { podCIDRs: [] }, peers: [] };
  /** The table's peers by name (checkTx answers with a name), rebuilt with the table. */
  let byName = new Map<string, Table['peers'][number]>();
  const macs = new Map<string, Uint8Array>();
  const ips = new Map<string, IP>();
  const ourMac = parseMac(opts.vtepMAC)!;
  const rxOpts = {
    vni: opts.vni,
    localMac: ourMac,
    acceptUnknownVteps: opts.acceptUnknownVteps,
    checkInnerSource: opts.checkInnerSource,
  };
  let closed = false;

  const onPackets = (packets: Buffer[]) => {
    for (const pkt of packets) {
      const r = checkTx(pkt, table);
      if (r.verdict === 'drop') {
        stats.txDrops[r.reason] = (stats.txDrops[r.reason] ?? 0) + 1;
        continue;
      }
      const peer = byName.get(r.peer)!;
      const ep = chooseEndpoint(peer, pkt[0]! >> 4 === 6 ? 6 : 4, localFamilies);
      if (ep === null) {
        stats.txErrors++;
        continue;
      }
      let dst = macs.get(ep.mac);
      if (!dst) macs.set(ep.mac, (dst = parseMac(ep.mac)!));
      const out = Buffer.allocUnsafe(ENCAP_PREFIX + r.length);
      out[0] = 0x08;
      out[1] = out[2] = out[3] = 0;
      out[4] = (opts.vni >> 16) & 0xff;
      out[5] = (opts.vni >> 8) & 0xff;
      out[6] = opts.vni & 0xff;
      out[7] = 0;
      out.set(dst, 8);
      out.set(ourMac, 14);
      out.writeUInt16BE(pkt[0]! >> 4 === 6 ? 0x86dd : 0x0800, 20);
      pkt.copy(out, ENCAP_PREFIX, 0, r.length);
      stats.txPackets++;
      stats.txBytes += r.length;
      sockets.get(ep.ip.family)!.send(out, opts.port, ep.ip.text, (err) => {
        if (err) stats.txErrors++;
      });
    }
  };

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    let src = ips.get(rinfo.address);
    if (!src) {
      const parsed = outerSource(rinfo.address);
      if (parsed === null) {
        stats.rxErrors++;
        return;
      }
      src = parsed;
      if (ips.size > 10_000) ips.clear();
      ips.set(rinfo.address, src);
    }
    const r = checkRx(msg, src, table, rxOpts);
    if (r.verdict === 'drop') {
      stats.rxDrops[r.reason] = (stats.rxDrops[r.reason] ?? 0) + 1;
      return;
    }
    const inner = msg.subarray(ENCAP_PREFIX, ENCAP_PREFIX + r.length);
    const segments = r.length > opts.mtu ? splitToMtu(inner, opts.mtu) : null;
    if (segments) stats.rxSuperSplit++;
    else if (completePartialChecksum(inner) === 'completed') stats.rxCsumCompleted++;
    for (const p of segments ?? [inner]) if (!tun.write(p)) stats.rxErrors++;
    stats.rxPackets++;
    stats.rxBytes += r.length;
  };
  for (const s of sockets.values()) s.on('message', onMessage);

  return {
    workers: 1,
    start(onFatal) {
      for (const s of sockets.values()) s.on('error', (err) => onFatal(`underlay socket: ${err.message}`));
      tun.start(onPackets, onFatal);
      return NO_OFFLOADS;
    },
    setTable(t) {
      table = toTable(t);
      byName = new Map(table.peers.map((p) => [p.name, p]));
    },
    stats: () => ({ ...stats, txDrops: { ...stats.txDrops }, rxDrops: { ...stats.rxDrops } }),
    close() {
      if (closed) return;
      closed = true;
      tun.close();
      for (const s of sockets.values()) s.close();
    },
  };
}
