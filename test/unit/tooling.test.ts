// The lint and format checks .ci/run runs are real: the repository's eslint config rejects what it should and
// accepts the code style the tree uses, prettier reads the repository's options, and scripts/clang-format.sh check
// fails on a misformatted native file and passes once `write` has run.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import * as prettier from 'prettier';
import t from 'tap';

const root = fileURLToPath(new URL('../../', import.meta.url));

t.test('eslint: the repository config flags real problems and allows the house idioms', async (t) => {
  const eslint = new ESLint({ cwd: root });
  const lint = async (code: string, file = 'src/lint-probe.ts') => {
    const [r] = await eslint.lintText(code, { filePath: join(root, file) });
    return (r?.messages ?? []).map((m) => m.ruleId);
  };
  t.same(await lint('export const f = (x: any): number => x;\n'), ['@typescript-eslint/no-explicit-any']);
  t.same(await lint('const unused = 1;\nexport {};\n'), ['@typescript-eslint/no-unused-vars']);
  t.same(await lint('export function f(a: number): void {\n  a > 1 && a, a;\n}\n'), [
    '@typescript-eslint/no-unused-expressions',
  ]);
  t.same(await lint('let m = 2;\nexport const k = m;\n'), ['prefer-const']);
  // An ignored parameter named `_x`, and a closure that reads a `let` before its one assignment, are allowed.
  t.same(await lint('export function f(_x: number): number {\n  return 1;\n}\n'), []);
  t.same(
    await lint(
      'export function f(): () => number {\n  let v: number | undefined;\n  const g = () => v ?? 0;\n  v = 1;\n  return g;\n}\n',
    ),
    [],
  );
  // Build output and fuzz corpora are not linted.
  t.ok(await eslint.isPathIgnored(join(root, 'dist/cli.js')), 'dist is ignored');
  t.ok(await eslint.isPathIgnored(join(root, 'native/fuzz/corpus/x.ts')), 'corpora are ignored');
  t.notOk(await eslint.isPathIgnored(join(root, 'native/fuzz/make-corpus.ts')), 'native/fuzz/*.ts is linted');
});

t.test('prettier: the repository options (120 columns, single quotes), markdown left alone', async (t) => {
  const file = join(root, 'src/format-probe.ts');
  const options = await prettier.resolveConfig(file);
  t.match(options, { printWidth: 120, singleQuote: true });
  const out = await prettier.format('const s = "a";\n', { ...options, filepath: file });
  t.equal(out, "const s = 'a';\n");
  const info = await prettier.getFileInfo(join(root, 'README.md'), { ignorePath: join(root, '.prettierignore') });
  t.ok(info.ignored, 'README.md is not formatted');
});

const hasClangFormat = spawnSync('clang-format', ['--version']).status === 0;
t.test(
  'clang-format.sh: check fails on a misformatted file, write fixes it, check then passes',
  {
    skip:
      !hasClangFormat && process.env['VXTUN_REQUIRE_NETNS'] !== '1'
        ? 'clang-format is not installed (bash scripts/setup.sh test installs it)'
        : false,
  },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vxt-clang-format-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'native/fuzz/corpus/x'), { recursive: true });
    cpSync(join(root, 'scripts/clang-format.sh'), join(dir, 'scripts/clang-format.sh'));
    cpSync(join(root, '.clang-format'), join(dir, '.clang-format'));
    writeFileSync(join(dir, 'native/good.h'), 'int Good();\n');
    writeFileSync(join(dir, 'native/bad.cc'), 'int  Bad( int x ){return x;}\n');
    writeFileSync(join(dir, 'native/fuzz/corpus/x/seed.cc'), 'not   c++ {{{\n'); // a corpus file: never touched
    const run = (mode: string) => spawnSync('bash', [join(dir, 'scripts/clang-format.sh'), mode], { encoding: 'utf8' });

    const before = run('check');
    t.equal(before.status, 1, 'check fails');
    t.match(before.stdout, /native\/bad\.cc is not formatted/);
    t.notMatch(before.stdout, /good\.h|seed\.cc/);
    t.match(before.stdout, /1 of 2 files would change/);

    t.equal(run('write').status, 0, 'write succeeds');
    t.equal(readFileSync(join(dir, 'native/bad.cc'), 'utf8'), 'int Bad(int x) { return x; }\n');
    t.equal(readFileSync(join(dir, 'native/fuzz/corpus/x/seed.cc'), 'utf8'), 'not   c++ {{{\n');
    const after = run('check');
    t.equal(after.status, 0, 'check passes after write');
    t.match(after.stdout, /all 2 files formatted/);
    t.equal(run('bogus').status, 2, 'an unknown mode is a usage error');
  },
);
