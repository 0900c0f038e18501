// The CNI runner's pure parts (result and error parsing, tcpdump arrival lines) and its ADD/DEL bookkeeping
// (saved delegate, cleanup after a failed ADD, the plugin's error in the message) with an injected runner that
// records the commands instead of running plugins (the real plugins run in test/integration/cni-path.test.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseArrival } from '../../src/lab/arrival-capture.js';
import { cniAdd, cniDel, parseCniError, parseCniResult, type NsRunner } from '../../src/lab/cni.js';
import { CommandError, type RunOptions } from '../../src/lab/exec.js';

// What bridge 1.1.1 printed for a dual-stack ADD on this machine (interfaces' MACs shortened).
const RESULT = `{
    "cniVersion": "0.3.1",
    "interfaces": [
        { "name": "cni0", "mac": "a6:6e:97:cc:d1:20" },
        { "name": "vethe54b60ff", "mac": "ae:93:f9:53:4c:2f" },
        { "name": "eth0", "mac": "9a:7e:44:35:87:05", "sandbox": "/var/run/netns/vxtexp-p" }
    ],
    "ips": [
        { "version": "4", "interface": 2, "address": "10.244.1.2/24", "gateway": "10.244.1.1" },
        { "version": "6", "interface": 2, "address": "fd10:244:0:1::2/64", "gateway": "fd10:244:0:1::1" }
    ],
    "routes": [
        { "dst": "10.244.0.0/16" }, { "dst": "fd10:244::/56" },
        { "dst": "0.0.0.0/0", "gw": "10.244.1.1" }, { "dst": "::/0", "gw": "fd10:244:0:1::1" }
    ],
    "dns": {}
}`;

t.test("parseCniResult: the bridge plugin's result", async (t) => {
  const r = parseCniResult(RESULT);
  t.equal(r.cniVersion, '0.3.1');
  t.same(r.ips, [
    { address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 },
    { address: 'fd10:244:0:1::2/64', gateway: 'fd10:244:0:1::1', interface: 2 },
  ]);
  t.same(r.routes[2], { dst: '0.0.0.0/0', gw: '10.244.1.1' });
  t.equal(r.interfaces[2]?.sandbox, '/var/run/netns/vxtexp-p');
  t.same(parseCniResult('{"cniVersion":"1.0.0"}'), { cniVersion: '1.0.0', interfaces: [], ips: [], routes: [] });
});

t.test('parseCniResult rejects what is not a result, naming the field', async (t) => {
  t.throws(() => parseCniResult('nope'), /not JSON/);
  t.throws(() => parseCniResult('[]'), /result object/);
  t.throws(() => parseCniResult('{"ips":[]}'), /cniVersion/);
  t.throws(() => parseCniResult('{"cniVersion":"1.0.0","ips":{}}'), /bad or missing ips/);
  t.throws(() => parseCniResult('{"cniVersion":"1.0.0","ips":[{"gateway":"10.0.0.1"}]}'), /ips\[0\]/);
  t.throws(
    () => parseCniResult('{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24","interface":0}]}'),
    /ips\[0\]\.interface/,
  );
  t.throws(() => parseCniResult('{"cniVersion":"1.0.0","routes":[{"gw":"10.0.0.1"}]}'), /routes\[0\]/);
  t.throws(() => parseCniResult('{"cniVersion":"1.0.0","interfaces":[{"mac":"x"}]}'), /interfaces\[0\]/);
});

t.test('parseCniError', async (t) => {
  t.same(parseCniError('{\n    "code": 999,\n    "msg": "invalid CIDR address: bogus"\n}'), {
    code: 999,
    msg: 'invalid CIDR address: bogus',
  });
  t.same(parseCniError('{"code":7,"msg":"m","details":"d"}'), { code: 7, msg: 'm', details: 'd' });
  t.equal(parseCniError(''), undefined);
  t.equal(parseCniError('{"msg":"no code"}'), undefined);
});

t.test('parseArrival: tcpdump -n -t lines', async (t) => {
  t.same(parseArrival('IP 10.244.1.2 > 10.244.2.2: ICMP echo request, id 7, seq 1, length 64'), {
    kind: 'echo',
    family: 4,
    src: '10.244.1.2',
    dst: '10.244.2.2',
  });
  t.same(parseArrival('IP 10.244.1.0.40512 > 10.244.2.2.5201: Flags [S], seq 1, win 64240, length 0'), {
    kind: 'syn',
    family: 4,
    src: '10.244.1.0',
    dst: '10.244.2.2',
  });
  t.same(parseArrival('IP6 fd10:244:0:1::2 > fd10:244:0:2::2: ICMP6, echo request, id 9, seq 1, length 64'), {
    kind: 'echo',
    family: 6,
    src: 'fd10:244:0:1::2',
    dst: 'fd10:244:0:2::2',
  });
  t.same(parseArrival('IP6 fd10:244:0:1::.33000 > fd10:244:0:2::2.5201: Flags [S], seq 1, length 0'), {
    kind: 'syn',
    family: 6,
    src: 'fd10:244:0:1::',
    dst: 'fd10:244:0:2::2',
  });
  t.equal(parseArrival('IP 10.244.1.2 > 10.244.2.2: ICMP echo reply, id 7, seq 1, length 64'), null);
  t.equal(parseArrival('IP 10.244.1.2.1 > 10.244.2.2.2: Flags [S.], seq 1'), null, 'a SYN-ACK is no opening');
  t.equal(parseArrival('listening on eth0, link-type EN10MB'), null);
});

interface Call {
  ns: string;
  args: readonly string[];
  input: string;
}

/** A runner that records each plugin run and answers from `answer`. */
function fakeRunner(answer: (c: Call) => { stdout: string; code?: number; stderr?: string }): {
  exec: NsRunner;
  calls: Call[];
} {
  const calls: Call[] = [];
  const exec: NsRunner = async (ns: string, cmd: string, args: readonly string[], opts?: RunOptions) => {
    const c = { ns, args: [cmd, ...args], input: String(opts?.input ?? '') };
    calls.push(c);
    const a = answer(c);
    if ((a.code ?? 0) !== 0)
      throw new CommandError(`exited with code ${a.code}`, cmd, args, a.code ?? 1, a.stdout, a.stderr ?? '');
    return { stdout: a.stdout, stderr: a.stderr ?? '', code: 0 };
  };
  return { exec, calls };
}

const DELEGATE = '{"cniVersion":"0.3.1","ipMasq":false,"ipam":{"type":"host-local"},"name":"cbr0","type":"bridge"}';
const POD = { nodeNs: 'vxtq-n1', podNs: 'vxtq-p1', containerId: 'vxtq-p1' };

t.test('ADD saves the delegate and runs the plugin in the node namespace; DEL replays it and removes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-cni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'flannel');
  const { exec, calls } = fakeRunner((c) => ({ stdout: c.args.includes('CNI_COMMAND=ADD') ? RESULT : '' }));
  const r = await cniAdd(POD, DELEGATE, { stateDir: state, exec, pluginDir: '/opt/cni' });
  t.equal(r.ips[0]?.address, '10.244.1.2/24');
  t.equal(readFileSync(join(state, POD.containerId), 'utf8'), DELEGATE, 'saved as STATE/<container id>');
  t.same(calls[0], {
    ns: 'vxtq-n1',
    args: [
      'env',
      'CNI_COMMAND=ADD',
      'CNI_CONTAINERID=vxtq-p1',
      'CNI_NETNS=/var/run/netns/vxtq-p1',
      'CNI_IFNAME=eth0',
      'CNI_PATH=/opt/cni',
      '/opt/cni/bridge',
    ],
    input: DELEGATE,
  });
  t.equal(await cniDel(POD, { stateDir: state, exec, pluginDir: '/opt/cni' }), true);
  t.equal(calls[1]?.args[1], 'CNI_COMMAND=DEL');
  t.equal(calls[1]?.input, DELEGATE, 'DEL gets what ADD got');
  t.notOk(existsSync(join(state, POD.containerId)), 'the saved delegate is gone after DEL');
  t.equal(await cniDel(POD, { stateDir: state, exec }), false, 'DEL without a saved delegate does nothing');
  t.equal(calls.length, 2);
});

t.test("a failing ADD: the plugin's error in the message, DEL run, nothing saved", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtun-cni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { exec, calls } = fakeRunner((c) =>
    c.args.includes('CNI_COMMAND=ADD')
      ? { stdout: '{"code":999,"msg":"invalid CIDR address: bogus"}', stderr: 'some log', code: 1 }
      : { stdout: '' },
  );
  await t.rejects(cniAdd(POD, DELEGATE, { stateDir: dir, exec }), {
    message:
      /CNI ADD bridge for vxtq-p1 \(pod vxtq-p1, node vxtq-n1\) failed: invalid CIDR address: bogus \(CNI error 999\); stderr: some log/,
  });
  t.same(
    calls.map((c) => c.args[1]),
    ['CNI_COMMAND=ADD', 'CNI_COMMAND=DEL'],
    'DEL cleans up after the failed ADD',
  );
  t.notOk(existsSync(join(dir, POD.containerId)), 'no saved delegate left');
  await t.rejects(cniAdd({ ...POD, containerId: '../x' }, DELEGATE, { stateDir: dir, exec }), /bad container id/);
  await t.rejects(cniAdd(POD, '{"name":"x"}', { stateDir: dir, exec }), /no usable type/);
});
