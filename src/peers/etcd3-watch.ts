// One watch of the EtcdStore contract (src/peers/etcd-store.ts) on its own gRPC Watch stream of the `etcd3` client.
// etcd3's Watcher is not used: it reports a compaction as a bare error without the compact revision, resumes after a
// backoff of up to ~9 s, and advances its resume revision before the catch-up events arrive. Here a watch either
// delivers every event from `fromRevision` in order, or ends with exactly one error and never resumes: the caller
// lists again.
import type { Etcd3, IWatchResponse } from 'etcd3';
import { EtcdWatchError, type EtcdEvent, type EtcdWatch, type EtcdWatchHandlers } from './etcd-store.js';
import { prefixRangeEnd } from './etcd3-options.js';

type WatchStream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

export interface Etcd3WatchOptions {
  prefix: string;
  fromRevision: bigint;
  /** The watch must be created by etcd within this time, or it ends with an error. */
  createTimeoutMs: number;
  /** Called once the watch has ended for any reason (error or close), to forget it. */
  onEnd?: () => void;
}

/** The events of one watch response; undefined for a response without events (created, progress). */
export function eventsOf(res: IWatchResponse): EtcdEvent[] | undefined {
  if (!res.events || res.events.length === 0) return undefined;
  return res.events.map((ev) => {
    const put = String(ev.type).toLowerCase() === 'put';
    return { type: put ? 'put' : 'delete', key: ev.kv.key.toString(), value: put ? ev.kv.value.toString() : '' };
  });
}

/** Why etcd canceled a watch: compacted when etcd names a compact revision. */
export function cancelOf(res: IWatchResponse, prefix: string): EtcdWatchError {
  const compactRev = BigInt(res.compact_revision || '0');
  if (compactRev > 0n) {
    return new EtcdWatchError(`etcd watch ${prefix}: revisions before ${compactRev} are compacted`, true);
  }
  const reason = res.cancel_reason ? `: ${res.cancel_reason}` : ' (no reason given)';
  return new EtcdWatchError(`etcd watch ${prefix}: canceled by etcd${reason}`);
}

export function etcd3Watch(client: Etcd3, options: Etcd3WatchOptions, handlers: EtcdWatchHandlers): EtcdWatch {
  const { prefix, fromRevision } = options;
  let stream: WatchStream | undefined;
  let ended = false;
  let created = false;

  const end = (): void => {
    if (ended) return;
    ended = true;
    clearTimeout(createTimer);
    if (stream) stopStream(stream);
    options.onEnd?.();
  };
  const fail = (err: EtcdWatchError): void => {
    if (ended) return;
    end();
    handlers.error(err);
  };
  const createTimer = setTimeout(
    () => fail(new EtcdWatchError(`etcd watch ${prefix}: not created within ${options.createTimeoutMs} ms`)),
    options.createTimeoutMs,
  );

  const onData = (res: IWatchResponse): void => {
    if (ended) return;
    if (res.canceled) {
      fail(cancelOf(res, prefix));
      return;
    }
    if (res.created) {
      created = true;
      clearTimeout(createTimer);
    }
    const events = eventsOf(res);
    if (!events) return;
    if (!created) {
      fail(new EtcdWatchError(`etcd watch ${prefix}: events before the watch was created`));
      return;
    }
    try {
      handlers.events(events, BigInt(res.header.revision));
    } catch (err) {
      // Never out of the gRPC stream's callback: the watch ends like any other trouble, and the source relists.
      fail(new EtcdWatchError(`etcd watch ${prefix}: the events handler failed: ${(err as Error).message}`));
    }
  };

  client.watchClient.watch().then(
    (s) => {
      stream = s;
      // Listeners first, whatever happens next: an 'error' without one would be thrown.
      s.on('data', onData);
      s.on('error', (err: Error) => fail(new EtcdWatchError(`etcd watch ${prefix}: ${err.message}`)));
      s.on('end', () => fail(new EtcdWatchError(`etcd watch ${prefix}: etcd ended the stream`)));
      if (ended) {
        stopStream(s);
        return;
      }
      const key = Buffer.from(prefix);
      s.write({ create_request: { key, range_end: prefixRangeEnd(key), start_revision: fromRevision.toString() } });
    },
    (err: Error) => fail(new EtcdWatchError(`etcd watch ${prefix}: ${err.message}`)),
  );

  return {
    close() {
      end();
      return Promise.resolve();
    },
  };
}

/**
 * Ends the stream without etcd3 taking the cancel for a host failure: etcd3 resets every channel of the host when a
 * stream that is still writable errors, so the write side is ended before the cancel.
 */
function stopStream(s: WatchStream): void {
  // etcd3 types the stream without Node's `writable`; it is a grpc-js ClientDuplexStream.
  if ((s as unknown as { writable: boolean }).writable) s.end();
  s.cancel();
}
