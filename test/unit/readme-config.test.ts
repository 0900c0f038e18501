// The config example in README "Configuration" is the documented contract: it must stay a valid config (the parser
// rejects unknown keys and bad values, so a renamed or removed key fails here), and it must show every top-level key.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { parseConfigText, TOP_KEYS } from '../../src/config/index.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The first ```yaml block after the heading `## name`. */
function yamlBlock(md: string, name: string): string | null {
  const at = md.indexOf(`\n## ${name}\n`);
  if (at === -1) return null;
  const m = /```yaml\n([\s\S]*?)```/.exec(md.slice(at));
  return m ? m[1]! : null;
}

t.test('the Configuration example parses as a valid static-mode config', async (t) => {
  const text = yamlBlock(readme, 'Configuration');
  if (text === null) return t.fail('README.md has a "## Configuration" section with a yaml block');
  const c = parseConfigText(text, 'README.md', { hostname: 'not-in-the-example' });
  t.equal(c.nodeName, 'node-a', 'nodeName as written, not the hostname');
  t.equal(c.peers.kind, 'static');
  t.equal(c.subnetFile, null, 'subnetFile: off');
  t.equal(c.vtepMAC, '0a:00:00:00:01:01', "vtepMAC auto: the node's static entry");
});

t.test('the Configuration example shows every top-level key', async (t) => {
  const text = yamlBlock(readme, 'Configuration') ?? '';
  const keys = Object.keys((parse(text) as Record<string, unknown> | null) ?? {}).sort();
  t.same(keys, [...TOP_KEYS].sort(), 'the keys the parser accepts (src/config/document.ts)');
});
