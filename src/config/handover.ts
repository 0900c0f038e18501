// The `handover` section (README "Upgrades and restarts"): where this vxtun offers its dataplane to a successor and
// looks for a running one to take over from, and what it does once replaced.
import { dirname, join } from 'node:path';
import { parseSocketPath } from './admin.js';
import { mapping, oneOf } from './readers.js';
import type { Config } from './types.js';

export const WHEN_REPLACED = ['exit', 'wait'] as const;
export const HANDOVER_SOCKET_NAME = 'handover.sock';

/** Default socket: `handover.sock` beside admin.socket (off when the admin socket is off). */
export function handoverOf(v: unknown, adminSocket: string | null): Config['handover'] {
  const m = v === undefined ? new Map<string, unknown>() : mapping(v, 'handover', ['socket', 'whenReplaced']);
  const socket = m.has('socket')
    ? parseSocketPath(m.get('socket'), 'handover.socket')
    : adminSocket === null
      ? null
      : join(dirname(adminSocket), HANDOVER_SOCKET_NAME);
  const whenReplaced = m.has('whenReplaced')
    ? oneOf(m.get('whenReplaced'), 'handover.whenReplaced', WHEN_REPLACED)
    : 'exit';
  return { socket, whenReplaced };
}
