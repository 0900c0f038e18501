// Every file a tracked file names is in the repository: code comments point at README sections or at repo files
// (README "The interface contract"), never at documents outside it. Two checks over every tracked text file (test
// fixtures, fuzz corpora and this file's examples excepted):
//   1. a `*.md` name must be a tracked Markdown file, and nothing may point into a `research/` folder;
//   2. a path under src/, native/, test/, bench/, scripts/ or deploy/ ending in a source extension must be tracked;
//   3. a section named as README "Section" must be a heading of README.md.
// The file list comes from `git ls-files` (new files not yet added count as tracked); where git is missing (the Quick start's fresh rootfs) from walking the tree
// without the build outputs.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface BadRef {
  /** "path:line". */
  at: string;
  ref: string;
  why: string;
}

const MD_NAME = /(?<![\w./-])((?:[\w.-]+\/)*[\w-]+\.md)(?![\w.])/g;
const RESEARCH = /(?<![\w-])research\//g;
const README_SECTION = /README "([^"\n]+)"/g;
const REPO_PATH =
  /(?<![\w./-])((?:src|native|test|bench|scripts|deploy)\/(?:[\w.-]+\/)*[\w-]+(?:\.[\w-]+)*\.(?:ts|mts|mjs|js|cc|h|c|sh|ya?ml|json))(?![\w/])/g;

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** The headings of a Markdown text (`#` to `######`), fenced code blocks excepted. */
export function markdownHeadings(md: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced) {
      const m = /^#{1,6} +(.+?) *$/.exec(line);
      if (m) out.add(m[1]!);
    }
  }
  return out;
}

/**
 * The references in `files` that name something outside the repository, a file that is not tracked, or a README
 * section that is not one of `readmeHeadings`. Pure.
 */
export function findBadRefs(
  files: readonly { path: string; text: string }[],
  tracked: ReadonlySet<string>,
  readmeHeadings: ReadonlySet<string>,
): BadRef[] {
  const mdNames = new Set([...tracked].filter((p) => p.endsWith('.md')).map((p) => posix.basename(p)));
  const out: BadRef[] = [];
  for (const { path, text } of files) {
    const add = (index: number, ref: string, why: string) =>
      out.push({ at: `${path}:${lineOf(text, index)}`, ref, why });
    for (const m of text.matchAll(MD_NAME)) {
      const name = m[1]!;
      if (!tracked.has(name) && !mdNames.has(posix.basename(name)))
        add(m.index!, name, 'no such Markdown file in the repository');
    }
    for (const m of text.matchAll(RESEARCH))
      add(m.index!, m[0], 'points into a research folder outside the repository');
    for (const m of text.matchAll(REPO_PATH)) {
      if (!tracked.has(m[1]!)) add(m.index!, m[1]!, 'not a tracked file');
    }
    for (const m of text.matchAll(README_SECTION)) {
      if (!readmeHeadings.has(m[1]!)) add(m.index!, m[0], 'no such heading in README.md');
    }
  }
  return out;
}

// Test fixtures and fuzz corpora hold data, not references; this file's own examples and the tooling test's probe
// files (created in a temporary tree) name missing files on purpose.
const SKIP = [
  /(^|\/)fixtures\//,
  /^native\/fuzz\/corpus\//,
  /^package-lock\.json$/,
  /^test\/unit\/repo-refs\.test\.ts$/,
  /^test\/unit\/tooling\.test\.ts$/,
];
const UNTRACKED_DIRS = new Set(['.git', '.tap', 'node_modules', 'build', 'build-fuzz', 'build-sanitize', 'dist']);

function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    if (e.isDirectory()) {
      if (!UNTRACKED_DIRS.has(e.name)) out.push(...walk(join(dir, e.name), `${rel}/`));
    } else if (e.isFile() && !e.name.endsWith('.log')) out.push(rel);
  }
  return out;
}

function trackedFiles(): { files: string[]; how: string } {
  try {
    // Tracked files, and new ones not yet added (so a file just created counts as there).
    const text = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const files = text.split('\0').filter((f) => f !== '');
    if (files.length > 0) return { files, how: 'git ls-files' };
  } catch {
    // no git, or not a work tree: fall through
  }
  return { files: walk(root), how: 'a walk of the tree' };
}

t.test('the checker finds what it must and passes what it must', async (t) => {
  const tracked = new Set(['README.md', 'src/cli.ts', 'native/core/vxlan.h', 'test/unit/a.test.ts']);
  const doc = 'design.md';
  const files = [
    { path: 'src/a.ts', text: `// ok: README.md "Code map", src/cli.ts, native/core/vxlan.h\n// bad: ${doc} "CLI"\n` },
    { path: 'src/b.ts', text: 'x\ny\n// (research flannel.md §2; ../shared/research/fast-path.txt)\n' },
    { path: 'native/c.h', text: '// see native/vxlan.h and src/gone.ts, not dist/src/x.ts or core/vxlan.h\n' },
    { path: 'test/d.ts', text: `import x from '../../src/cli.js'; // src/lab/*.ts, native/{core,engine}, a.b.md.x\n` },
    { path: 'deploy/e.yaml', text: '# README "Code map" and README "Conflicts" and README "Quick"\n' },
  ];
  const headings = markdownHeadings('# vxtun\n## Code map\n```sh\n# Conflicts\n```\n### Quick start\n');
  t.same([...headings], ['vxtun', 'Code map', 'Quick start'], 'headings, not comments in code blocks');
  t.same(findBadRefs(files, tracked, headings), [
    { at: 'src/a.ts:2', ref: doc, why: 'no such Markdown file in the repository' },
    { at: 'src/b.ts:3', ref: 'flannel.md', why: 'no such Markdown file in the repository' },
    { at: 'src/b.ts:3', ref: 'research/', why: 'points into a research folder outside the repository' },
    { at: 'native/c.h:1', ref: 'native/vxlan.h', why: 'not a tracked file' },
    { at: 'native/c.h:1', ref: 'src/gone.ts', why: 'not a tracked file' },
    { at: 'deploy/e.yaml:1', ref: 'README "Conflicts"', why: 'no such heading in README.md' },
    { at: 'deploy/e.yaml:1', ref: 'README "Quick"', why: 'no such heading in README.md' },
  ]);
});

t.test(
  'no tracked file names a document outside the repository, a missing file or a missing README section',
  async (t) => {
    const { files, how } = trackedFiles();
    t.ok(files.length > 100, `${how} lists the repository's files (${files.length})`);
    t.ok(
      files.includes('README.md') && files.includes('test/unit/repo-refs.test.ts'),
      `${how} lists README.md and this file`,
    );
    const tracked = new Set(files);
    const texts: { path: string; text: string }[] = [];
    for (const path of files) {
      if (SKIP.some((re) => re.test(path))) continue;
      let buf: Buffer;
      try {
        buf = readFileSync(join(root, path));
      } catch {
        continue; // deleted in the work tree but not yet in the index
      }
      if (buf.includes(0)) continue; // binary
      texts.push({ path, text: buf.toString('utf8') });
    }
    const headings = markdownHeadings(readFileSync(join(root, 'README.md'), 'utf8'));
    t.ok(headings.has('Code map'), `README.md's headings are read (${headings.size})`);
    const bad = findBadRefs(texts, tracked, headings);
    t.same(bad, [], `${bad.length} references to fix (${texts.length} files read)`);
  },
);
