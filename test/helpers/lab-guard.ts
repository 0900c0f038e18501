// Namespace tests need root, /dev/net/tun and iproute2. Where they are missing a test file skips
// with the reason; under VXTUN_REQUIRE_NETNS (set by .ci/run) a missing capability is a failure.
import t from 'tap';
import { labUnavailableReason } from '../../src/lab/index.js';

export function labSkipReason(tools: readonly string[] = ['ip', 'bridge', 'sysctl', 'ping']): string | false {
  const reason = labUnavailableReason({ tun: true, tools });
  if (!reason) return false;
  if (process.env['VXTUN_REQUIRE_NETNS']) {
    t.fail(`namespace tests are required here (VXTUN_REQUIRE_NETNS) but cannot run: ${reason}`);
  } else {
    console.error(`# skipping namespace tests: ${reason}`);
  }
  return reason;
}
