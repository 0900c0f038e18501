// Where compiled programs live: next to this module when it runs from dist/lab, or in the
// repository's dist/ when this module is loaded from src/lab/*.ts (tests run the sources directly).
import { existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of `dist/<rel>` (e.g. 'cli.js', 'lab/transfer-agent.js'); `override` (a path) wins when set. */
export function distFile(rel: string, override?: string): string {
  if (override) return resolve(override);
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates: string[] = [];
  const srcMarker = `${sep}src${sep}lab`;
  const distMarker = `${sep}dist${sep}lab`;
  if (here.endsWith(distMarker)) candidates.push(join(here.slice(0, -distMarker.length), 'dist', rel));
  if (here.endsWith(srcMarker)) candidates.push(join(here.slice(0, -srcMarker.length), 'dist', rel));
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(
    `${rel} not found (looked for ${candidates.join(', ') || 'nothing'}); compile with \`npx tsc -p tsconfig.json\``,
  );
}
