// The config's public surface (README "Configuration"): load and validate a file, the Config type, its defaults and
// limits, and the admin address parsers the command line shares. Importers use this file, not the ones behind it.
export { loadConfigFile, parseConfigText } from './load.js';
export { parseListenAddress, parseSocketPath } from './admin.js';
export { TOP_KEYS } from './document.js';
export {
  autoMtu,
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_ADMIN_SOCKET,
  DEFAULT_DEVICE,
  DEFAULT_PORT,
  DEFAULT_SUBNET_FILE,
  DEFAULT_VNI,
  MAX_MTU,
  MAX_SOCKET_PATH_BYTES,
  type Config,
  type ConfigEnv,
} from './types.js';
export { DEFAULT_ANNOTATION_PREFIX, type KubernetesSource } from '../peers/kube-section.js';
export type { OffloadMode } from '../dataplane/offloads.js';
