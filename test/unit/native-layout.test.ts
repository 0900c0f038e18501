// native/'s folders are its architecture, and this test keeps them honest (README "Code map"):
//   core/    pure functions over bytes: no napi, no syscall headers, no threads; includes only core/
//   linux/   the TUN and UDP syscalls behind engine/io.h; no napi
//   engine/  the dataplane, its loops and capture; no napi
//   node/    the production addon's napi bindings;  testing/  the test addon's
// Every quoted include is a path from native/ (binding.gyp include_dirs), every source lives in one of
// these folders (the build, fuzz and sanitize sets are derived from them), and none is over 400 lines.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

interface SourceFile {
  /** Path under native/, e.g. "core/fdb.h". */
  path: string;
  text: string;
}

const FOLDERS = ['core', 'linux', 'engine', 'node', 'testing'] as const;
/** What each folder may include (quoted includes, by first path component). */
const MAY_INCLUDE: Record<(typeof FOLDERS)[number], readonly string[]> = {
  core: ['core'],
  linux: ['core', 'engine', 'linux'],
  engine: ['core', 'engine', 'linux'],
  node: ['core', 'engine', 'linux', 'node'],
  testing: ['core', 'node', 'testing'],
};
/** System headers that make syscalls or start threads: never in core/. */
const SYSCALL_HEADERS = [
  /^sys\/(socket|ioctl|eventfd|epoll|mman|stat|types|wait|select|timerfd|signalfd)\.h$/,
  /^linux\//,
  /^net\//,
  /^netinet\//,
  /^(fcntl|unistd|poll|signal|pthread|dirent|time)\.h$/,
  /^(thread|mutex|atomic|condition_variable|future|shared_mutex|semaphore|chrono)$/,
];
const MAX_LINES = 400;

/** The rule violations in a set of native sources (pure: the test below feeds it the real tree). */
function layoutViolations(files: SourceFile[]): string[] {
  const out: string[] = [];
  const known = new Set(files.map((f) => f.path));
  for (const f of files) {
    const folder = f.path.split('/')[0]!;
    const lines = f.text.split('\n');
    if (!(FOLDERS as readonly string[]).includes(folder) || !f.path.includes('/')) {
      out.push(`${f.path}: not in one of ${FOLDERS.join(', ')}`);
      continue;
    }
    if (lines.length - 1 > MAX_LINES) out.push(`${f.path}: ${lines.length - 1} lines (at most ${MAX_LINES})`);
    const allowed = MAY_INCLUDE[folder as (typeof FOLDERS)[number]];
    for (const [i, line] of lines.entries()) {
      const sys = /^\s*#\s*include\s*<([^>]+)>/.exec(line);
      const quoted = /^\s*#\s*include\s*"([^"]+)"/.exec(line);
      const at = `${f.path}:${i + 1}`;
      if (sys) {
        const h = sys[1]!;
        if (h === 'napi.h' && folder !== 'node' && folder !== 'testing')
          out.push(`${at}: napi.h outside node/ and testing/`);
        if (folder === 'core' && SYSCALL_HEADERS.some((re) => re.test(h)))
          out.push(`${at}: <${h}> in core/ (no syscalls or threads)`);
      } else if (quoted) {
        const h = quoted[1]!;
        if (!known.has(h)) out.push(`${at}: "${h}" is not a path from native/`);
        else if (!allowed.includes(h.split('/')[0]!)) out.push(`${at}: ${folder}/ may not include ${h}`);
      }
    }
  }
  return out;
}

const nativeDir = fileURLToPath(new URL('../../native/', import.meta.url));

function readTree(): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = relative(nativeDir, full);
      if (statSync(full).isDirectory()) {
        // fuzz/ and sanitize/ are harnesses over the folders, with their own local headers.
        if (rel !== 'fuzz' && rel !== 'sanitize') walk(full);
      } else if (/\.(h|cc)$/.test(name)) {
        files.push({ path: rel, text: readFileSync(full, 'utf8') });
      }
    }
  };
  walk(nativeDir);
  return files;
}

t.test('native/ keeps its folder rules', (t) => {
  const files = readTree();
  for (const folder of FOLDERS)
    t.ok(
      files.some((f) => f.path.startsWith(`${folder}/`)),
      `${folder}/ has sources`,
    );
  t.same(layoutViolations(files), [], 'no violations');
  t.end();
});

t.test('the rules catch what they are for', (t) => {
  const ok = { path: 'core/a.h', text: '#pragma once\n#include <cstdint>\n' };
  t.same(layoutViolations([ok]), []);
  const bad = layoutViolations([
    ok,
    {
      path: 'core/b.cc',
      text: '#include <sys/socket.h>\n#include <napi.h>\n#include "engine/c.h"\n#include <mutex>\n',
    },
    { path: 'engine/c.h', text: '#include "a.h"\n#include <napi.h>\n' },
    { path: 'loose.cc', text: '' },
    { path: 'testing/d.cc', text: `#include "engine/c.h"\n${'\n'.repeat(MAX_LINES)}` },
  ]);
  t.same(bad, [
    'core/b.cc:1: <sys/socket.h> in core/ (no syscalls or threads)',
    'core/b.cc:2: napi.h outside node/ and testing/',
    'core/b.cc:3: core/ may not include engine/c.h',
    'core/b.cc:4: <mutex> in core/ (no syscalls or threads)',
    'engine/c.h:1: "a.h" is not a path from native/',
    'engine/c.h:2: napi.h outside node/ and testing/',
    'loose.cc: not in one of core, linux, engine, node, testing',
    `testing/d.cc: ${MAX_LINES + 1} lines (at most ${MAX_LINES})`,
    'testing/d.cc:1: testing/ may not include engine/c.h',
  ]);
  t.end();
});
