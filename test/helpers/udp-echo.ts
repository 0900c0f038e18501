// Who a packet came from, as the receiver's own socket sees it: a UDP echo server in a namespace that reports the
// source address of every datagram and sends it back, and a client that sends a token and waits for the echo. The
// server's view is the address after any NAT on the way; the echo coming back proves the reply path (un-NAT).
import type { Lab, NsProcess } from '../../src/lab/index.js';

const SERVER = `
import select, socket, sys
port = int(sys.argv[1])
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.bind(('0.0.0.0', port))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.bind(('::', port))
print('ready', flush=True)
while True:
    for s in select.select([s4, s6], [], [])[0]:
        data, addr = s.recvfrom(2048)
        print('from ' + addr[0] + ' ' + data.decode('ascii', 'replace'), flush=True)
        s.sendto(b'echo ' + data, addr)
`;

const CLIENT = `
import socket, sys
host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
for _ in range(6):
    s.sendto(token.encode(), (host, port))
    try:
        data, _addr = s.recvfrom(2048)
        print(data.decode('ascii', 'replace'))
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
`;

export interface UdpEchoServer {
  readonly process: NsProcess;
  /** The source addresses `token` arrived from (one per datagram received). */
  sources(token: string): string[];
}

export async function startUdpEcho(lab: Lab, ns: string, port: number): Promise<UdpEchoServer> {
  const proc = lab.spawn(ns, 'python3', ['-u', '-c', SERVER, String(port)]);
  await proc.waitForOutput(/^ready$/m, 10_000);
  return {
    process: proc,
    sources: (token) =>
      proc
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('from ') && l.endsWith(` ${token}`))
        .map((l) => l.split(' ')[1]!),
  };
}

/** Sends `token` from `ns` to `host`:`port` (up to 6 tries); resolves whether the echo came back. */
export async function udpEchoes(lab: Lab, ns: string, host: string, port: number, token: string): Promise<boolean> {
  const r = await lab.exec(ns, 'python3', ['-c', CLIENT, host, String(port), token], {
    okExitCodes: [0, 1],
    timeoutMs: 30_000,
  });
  return r.stdout.trim() === `echo ${token}`;
}
