// The kernel offloads vxtun can use: the one list from which the config's `dataplane.offloads` keys, the addon's
// start options, /status `offloads` and the metrics derive. Adding an offload starts here (README "Code map").
//   tso     TUN TSO: the kernel hands the transmit loop TCP super-packets, split into VXLAN datagrams.
//   gro     TUN GRO writes: the receive loop writes coalesced TCP super-packets into the TUN device.
//   udpGso  UDP GSO: one sendmsg carries many equal-sized VXLAN datagrams.
//   udpGro  UDP GRO: one recvmsg returns a train of VXLAN datagrams from one sender.
export const OFFLOADS = ['tso', 'gro', 'udpGso', 'udpGro'] as const;
export type Offload = (typeof OFFLOADS)[number];

/** Which offloads are wanted or active. */
export type OffloadFlags = Record<Offload, boolean>;
/** The config's per-offload choice: `auto` uses it when the kernel has it; `on` fails the start without it. */
export type OffloadMode = 'auto' | 'on' | 'off';
export const OFFLOAD_MODES = ['auto', 'on', 'off'] as const satisfies readonly OffloadMode[];

/** An object with one entry per offload, in OFFLOADS order. */
export function perOffload<T>(f: (o: Offload) => T): Record<Offload, T> {
  return Object.fromEntries(OFFLOADS.map((o) => [o, f(o)])) as Record<Offload, T>;
}

/** Every offload off (the js engine's set; frozen, as it is shared). */
export const NO_OFFLOADS: Readonly<OffloadFlags> = Object.freeze(perOffload(() => false));
