// EtcdStore (src/peers/etcd-store.ts) over the npm `etcd3` client. Owns that client's traps (README "etcd mode").
import type { EtcdSection } from './etcd-section.js';
import type { EtcdStore } from './etcd-store.js';

export interface Etcd3StoreOptions {
  /** The deadline of every call (default 5 s). */
  callTimeoutMs?: number;
}

/** Connects lazily; reads the TLS files now (a ConfigError naming `peers.etcd.tls.*` when one cannot be read). */
export async function etcd3Store(section: EtcdSection, options: Etcd3StoreOptions = {}): Promise<EtcdStore> {
  void section;
  void options;
  throw new Error('not implemented yet');
}
