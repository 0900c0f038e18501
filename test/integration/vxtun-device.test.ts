// What the kernel itself sends into vxtun0: nothing. On a router (IPv6 forwarding on, as on a Kubernetes node and on
// every lab node) a new TUN device joins the all-routers group ff02::2 and, once up, the kernel sends MLDv2 reports
// for it (from ::, to ff02::16) into the device, where no peer owns them: three no-route drops on every start that
// say nothing about pod traffic (src/device/device.ts quietMulticast). So on a healthy node `no-route` stays 0 — after the
// start, after IPv6 forwarding is switched on again (as Docker or a sysctl reload does) and after traffic — while a
// pod packet for an address no node owns is still counted.
import t, { type Test } from 'tap';
import { Lab, labPeer, ping, startVxtunNode, type VxtunNode } from '../../src/lab/index.js';
import { TUN_TX_QUEUE_LEN } from '../../src/device/device.js';
import { lineLogger } from '../../src/log.js';
import { labSkipReason } from '../helpers/lab-guard.js';

const skip = labSkipReason();
/** MLDv2 sends a report and QRV (2) repeats, each within the 1 s unsolicited report interval. */
const MLD_SETTLE_MS = 2_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the kernel sends nothing of its own into vxtun0', { skip }, async (t) => {
  const lab = await Lab.create({ nodes: 2, logger: lineLogger((l) => t.comment(l)) });
  t.teardown(() => lab.destroy());
  const peers = [labPeer(lab, 1), labPeer(lab, 2)];
  const nodes: VxtunNode[] = [];
  for (const i of [1, 2]) nodes.push(await startVxtunNode(lab, i, { peers }));
  const [n1] = nodes as [VxtunNode, VxtunNode];

  const noRoute = async (n: VxtunNode) => (await n.status()).counters.drops['no-route'];
  const sh = async (n: VxtunNode, cmd: string) => (await lab.exec(n.ns, 'sh', ['-c', cmd])).stdout.trim();
  /** The kernel's own per-device counters (/proc/net/dev_snmp6/vxtun0) of what it sent out of vxtun0 itself. */
  const kernelSent = async (n: VxtunNode) => {
    const lines = (await sh(n, 'cat /proc/net/dev_snmp6/vxtun0')).split('\n').map((l) => l.trim().split(/\s+/));
    const get = (name: string) => Number(lines.find((l) => l[0] === name)?.[1]);
    return { Ip6OutRequests: get('Ip6OutRequests'), Icmp6OutMLDv2Reports: get('Icmp6OutMLDv2Reports') };
  };
  const checkQuiet = async (t: Test, when: string) => {
    for (const n of nodes) {
      t.equal(await noRoute(n), 0, `${n.name} ${when}: no no-route drops`);
      t.same(
        await kernelSent(n),
        { Ip6OutRequests: 0, Icmp6OutMLDv2Reports: 0 },
        `${n.name} ${when}: the kernel sent no IPv6 packet of its own into vxtun0`,
      );
      t.notMatch(
        await sh(n, 'ip -6 maddr show dev vxtun0'),
        /ff02::2\b/,
        `${n.name} ${when}: vxtun0 is not in the all-routers group`,
      );
    }
  };

  await t.test('after the start', async (t) => {
    await sleep(MLD_SETTLE_MS);
    await checkQuiet(t, 'after the start');
    for (const n of nodes) {
      t.notMatch(await sh(n, 'ip -br link show dev vxtun0'), /MULTICAST/, `${n.name}: vxtun0 does not claim multicast`);
      const link = JSON.parse(await sh(n, 'ip -j link show dev vxtun0')) as { txqlen?: number; mtu?: number }[];
      t.equal(
        link[0]?.txqlen,
        TUN_TX_QUEUE_LEN,
        `${n.name}: vxtun0's transmit queue holds ${TUN_TX_QUEUE_LEN} packets, not the TUN default 500`,
      );
      t.equal(
        await sh(n, 'cat /proc/sys/net/ipv6/conf/vxtun0/forwarding'),
        '1',
        `${n.name}: vxtun0 keeps IPv6 forwarding (router behaviour)`,
      );
      t.equal(
        await sh(n, 'cat /proc/sys/net/ipv6/conf/vxtun0/force_mld_version'),
        '0',
        `${n.name}: the MLD version is back to its default`,
      );
    }
  });

  await t.test('after IPv6 forwarding is switched on again', async (t) => {
    // Writing all.forwarding sets every device's forwarding, which makes a multicast device join ff02::2 again.
    for (const n of nodes) await lab.exec(n.ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    await sleep(MLD_SETTLE_MS);
    await checkQuiet(t, 'after forwarding=1 again');
  });

  await t.test('after traffic both ways, IPv4 and IPv6', async (t) => {
    for (const fam of [4, 6] as const) {
      for (const [a, b] of [
        [1, 2],
        [2, 1],
      ] as const) {
        const r = await ping(lab, lab.podNs(a), lab.podIP(b, fam), { count: 3 });
        t.equal(r.received, 3, `pod-${a} → pod-${b} ${lab.podIP(b, fam)}: ${r.received}/${r.sent}`);
      }
    }
    await checkQuiet(t, 'after traffic');
  });

  await t.test('a pod packet for an address no node owns is still no-route', async (t) => {
    // Inside the pod networks (routed into vxtun0) but in no node's pod CIDRs.
    for (const dst of ['10.244.77.1', 'fd10:244:0:77::1']) {
      const r = await ping(lab, lab.podNs(1), dst, { count: 2, waitS: 1 });
      t.equal(r.received, 0, `nothing answers ${dst}`);
    }
    t.equal(await noRoute(n1), 4, 'node-1 counted exactly the 4 echo requests as no-route');
  });

  await t.test('packets the kernel drops at a full transmit queue are reported as queue drops', async (t) => {
    const kernelDropped = async () => {
      const link = JSON.parse(await sh(n1, 'ip -j -s link show dev vxtun0')) as {
        stats64?: { tx?: { dropped?: number } };
      }[];
      return link[0]?.stats64?.tx?.dropped;
    };
    t.equal((await n1.status()).counters.queueDrops, 0, 'none after the start');
    // Stop node-1's daemon so that nothing reads the device, then send one flow of 6,000 datagrams into it: the
    // queue (one per flow) holds TUN_TX_QUEUE_LEN of them and the kernel drops the rest.
    const pid = n1.process.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const send =
        "const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(64);" +
        `(function go(){for(let i=0;i<500&&n<6000;i++,n++)s.send(b,9,'${lab.podIP(2)}');if(n<6000)setImmediate(go);else setTimeout(()=>s.close(),200)})()`;
      await lab.exec(lab.podNs(1), process.execPath, ['-e', send]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const kernel = await kernelDropped();
    t.ok(
      kernel !== undefined && kernel >= 6000 - TUN_TX_QUEUE_LEN,
      `the kernel dropped at least ${6000 - TUN_TX_QUEUE_LEN} (${kernel})`,
    );
    t.equal((await n1.status()).counters.queueDrops, kernel, "status counters.queueDrops is the device's tx_dropped");
  });
});
