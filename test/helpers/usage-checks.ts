// Shared checks for a command's option parsing: every bad value is a UsageError whose message starts with the option
// it names, and the CLI turns one into exit 2 with one line on stderr and nothing on stdout.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { UsageError } from '../../src/errors.js';

/** Each input must be refused by `parse` with a UsageError naming `option` first. */
export function checkRefusals<I>(t: Test, parse: (input: I) => unknown, refusals: { input: I; option: string }[]) {
  for (const { input, option } of refusals) {
    try {
      parse(input);
      t.fail(`accepted ${JSON.stringify(input)}`);
    } catch (e) {
      t.type(e, UsageError, JSON.stringify(input));
      t.match((e as Error).message, new RegExp(`^${option}\\b`), `${JSON.stringify(input)}: ${(e as Error).message}`);
    }
  }
}

/** Each argv run through dist/cli.js must exit 2 with stderr matching its pattern and nothing on stdout. */
export function checkCliExit2(t: Test, cases: [string[], RegExp][]) {
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  for (const [argv, want] of cases) {
    const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', timeout: 30_000 });
    t.equal(r.status, 2, argv.join(' '));
    t.match(r.stderr, want, argv.join(' '));
    t.equal(r.stdout, '', 'nothing on stdout');
  }
}
