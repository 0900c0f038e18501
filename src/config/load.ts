// Config text to Config: the file is YAML 1.2 (core schema) or JSON. Every problem is a ConfigError whose `field` is
// the key path as the user wrote it (`port`, `peers.static[1].podCIDRs[0]`, `admin.listen`; `config` for the file
// as a whole) and whose message says what was expected and what was found; syntax errors give line and column.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { configFromValue } from './document.js';
import type { Config, ConfigEnv } from './types.js';

/** "line L, column C" of a 0-based offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - (before.lastIndexOf('\n') + 1) + 1;
  return `line ${line}, column ${col}`;
}

/**
 * Parses and validates config text (YAML 1.2 or JSON). `source` names it in syntax-error messages (a file path).
 * Throws ConfigError: field 'config' for syntax errors and a non-mapping top level, else the offending key path.
 */
export function parseConfigText(text: string, source: string, env: ConfigEnv): Config {
  // logLevel 'error': yaml prints nothing at that level, yet still reports a second document as an error.
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: false,
    logLevel: 'error',
  });
  const err = doc.errors[0];
  if (err !== undefined) {
    const msg = err.code === 'MULTIPLE_DOCS' ? 'more than one YAML document' : (err.message.split('\n')[0] ?? '');
    throw new ConfigError('config', `cannot parse ${source}: ${msg} (${lineCol(text, err.pos[0])})`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError('config', `cannot parse ${source}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return configFromValue(value, env);
}

/** Reads and validates a config file. An unreadable file is ConfigError('config', "cannot read FILE: ENOENT: …"). */
export async function loadConfigFile(path: string, env: ConfigEnv): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError('config', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseConfigText(text, path, env);
}
