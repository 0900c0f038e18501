// Hostile etcd values (README "etcd mode"): whatever another host writes under the prefix, the lease and network
// config readers either accept it or refuse it with a reason (a lease) or a ConfigError (the config) — never
// anything else. Seeded mutations of well-formed values plus random bytes; a failure prints its seed and input.
import t from 'tap';
import { ConfigError } from '../../src/errors.js';
import { leasePeer, parseLeaseAttrs, parseSubnetKeyName } from '../../src/peers/etcd-lease.js';
import { parseNetworkConfig } from '../../src/peers/etcd-network.js';
import { xorshift32 } from '../helpers/rng.js';

const LEASE =
  '{"PublicIP":"192.168.99.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:02:01"}}';
const CONFIG =
  '{"Network":"10.244.0.0/16","SubnetLen":24,"EnableIPv6":true,"IPv6Network":"fd10:244::/56","Backend":{"Type":"vxlan","VNI":1,"DirectRouting":true}}';
const KEY = '10.244.2.0-24&fd10:244:0:2::-64';
const PIECES = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ':',
  ',',
  'null',
  'true',
  '1e999',
  '-1',
  '0x10',
  '\\u0000',
  '\u{1F600}',
  ' ',
  '&',
  '-',
  '/',
  '.',
  '::',
];

function mutate(text: string, next: () => number): string {
  const s = [...text];
  const n = 1 + (next() % 4);
  for (let i = 0; i < n; i++) {
    const at = next() % (s.length + 1);
    switch (next() % 4) {
      case 0:
        s.splice(at, 1);
        break;
      case 1:
        s.splice(at, 0, PIECES[next() % PIECES.length] ?? '');
        break;
      case 2:
        s.splice(at, 1 + (next() % 8));
        break;
      default:
        s.splice(at, 0, String.fromCharCode(next() % 256));
    }
  }
  return s.join('');
}

const net = parseNetworkConfig(CONFIG, '/coreos.com/network/config');
const ctx = { ...net.subnets, vni: net.overlay.vni };

t.test('mutated and random leases, keys and network configs never throw past their contract', async (t) => {
  const seed = Number(process.env['VXTUN_SEED'] ?? 20261207);
  const next = xorshift32(seed);
  let accepted = 0;
  let refused = 0;
  let configErrors = 0;
  for (let i = 0; i < 20_000; i++) {
    const value =
      next() % 8 === 0
        ? Buffer.from(Array.from({ length: next() % 200 }, () => next() % 256)).toString('latin1')
        : mutate(LEASE, next);
    const key = next() % 4 === 0 ? mutate(KEY, next) : KEY;
    const config = mutate(CONFIG, next);
    try {
      parseLeaseAttrs(value);
      parseSubnetKeyName(key);
      const v = leasePeer(key, value, ctx);
      if (v.ok) accepted++;
      else {
        refused++;
        if (typeof v.reason !== 'string' || v.reason === '') throw new Error('a refusal without a reason');
      }
    } catch (err) {
      t.fail(`seed ${seed} round ${i}: lease ${JSON.stringify(value)} key ${JSON.stringify(key)}: ${String(err)}`);
      return;
    }
    try {
      parseNetworkConfig(config, '/coreos.com/network/config');
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        t.fail(`seed ${seed} round ${i}: config ${JSON.stringify(config)}: ${String(err)}`);
        return;
      }
      configErrors++;
    }
  }
  t.ok(refused > 1000 && accepted > 0, `leases: ${accepted} accepted, ${refused} refused with a reason`);
  t.ok(configErrors > 1000, `network configs: ${configErrors} refused with a ConfigError, the rest parsed`);
});
