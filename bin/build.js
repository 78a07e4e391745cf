// The build: esbuild bundles the TypeScript sources into plain ESM files,
// dist/cli.js (the command) and dist/cpu-worker.js (what every pool thread
// of the threads engine loads), so that no thread transpiles anything at
// run time; and dist/inthread-worker.js, the in-thread engine's pool
// thread, from the suspending form of the same sources (bin/suspend.js:
// every function that can reach a scheduling point a generator). That form
// is also written out under dist/suspending/ (the files it changed), for
// reading and for the module-graph test; a source it cannot convert fails
// the build, with the place and the reason.
//
// A stale build must never run: dist/build.json records a hash of every
// source file, and ensureBuilt() rebuilds whenever the sources say something
// else. The launcher calls it before it loads the CLI; the worker pool calls
// it before it starts threads (the tests run the sources through tsx on the
// main thread and the built worker in the pool). Outputs are written to a
// temporary name and renamed, so concurrent builders (AVA runs test files in
// parallel processes) never see half a file. An installed copy without the
// sources uses the build it shipped with.
//
// `node bin/build.js` builds unconditionally (npm's prepare script).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, 'build.json');
const SOURCE_DIRS = ['src', 'workers', 'scenarios', 'schemas'];
const ENTRIES = { cli: 'src/cli.ts', 'cpu-worker': 'workers/cpu.ts' };
/** The in-thread engine's thread, bundled from the suspending form. */
const SUSPENDING_ENTRY = 'workers/inthread.ts';
export const SUSPENDING_DIR = join(ROOT, 'dist', 'suspending');
/** The build itself is a source: a change to how the suspending form is made must rebuild it. */
const BUILD_FILES = ['bin/build.js', 'bin/suspend.js'];

function sourceFiles() {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') || name.endsWith('.json')) out.push(p);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(join(ROOT, d))) walk(join(ROOT, d));
  for (const f of BUILD_FILES) if (existsSync(join(ROOT, f))) out.push(join(ROOT, f));
  return out;
}

/** A hash of every source file's path and content (and of the package version). */
export function sourceHash() {
  const h = createHash('sha256');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  h.update(`${pkg.version}\n`);
  for (const f of sourceFiles()) {
    h.update(relative(ROOT, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

function builtHash() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8')).hash;
  } catch {
    return null;
  }
}

function writeAtomic(path, data) {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

const BUNDLE = {
  absWorkingDir: ROOT,
  outdir: DIST,
  bundle: true,
  splitting: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  // names stay readable in profiles and stack traces
  minify: false,
  keepNames: false,
  write: false,
  logLevel: 'silent',
  banner: { js: '// Built by bin/build.js from the TypeScript sources; do not edit.' },
};

/**
 * The in-thread engine's bundle: the suspending form of everything its entry
 * reaches (bin/suspend.js), as esbuild output files. `forget` (tests only)
 * leaves the calls at those "file:line" places unconverted.
 */
export async function buildSuspending({ outdir = DIST, forget = [], name = 'inthread-worker' } = {}) {
  // by path, not a literal: a bundle of this file (the CLI's) must not carry the transformer and TypeScript with it
  const { suspendingForm } = await import(pathToFileURL(join(ROOT, 'bin', 'suspend.js')).href);
  const form = suspendingForm({ root: ROOT, entries: [join(ROOT, SUSPENDING_ENTRY)], forget });
  if (form.errors.length) throw new Error(`the suspending form cannot be made:\n${form.errors.join('\n')}`);
  const { build: esbuild } = await import('esbuild');
  const r = await esbuild({
    ...BUNDLE,
    outdir,
    entryPoints: { [name]: SUSPENDING_ENTRY },
    banner: { js: '// Built by bin/build.js from the suspending form of the TypeScript sources (bin/suspend.js); do not edit.' },
    plugins: [{
      name: 'suspending-form',
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, (args) => {
          const text = form.files.get(resolve(args.path));
          return text === undefined ? undefined : { contents: text, loader: 'ts' };
        });
      },
    }],
  });
  return { outputs: r.outputFiles, form };
}

/** Build now. */
export async function build() {
  const hash = sourceHash();
  const { build: esbuild } = await import('esbuild');
  const r = await esbuild({ ...BUNDLE, entryPoints: ENTRIES });
  const s = await buildSuspending();
  mkdirSync(DIST, { recursive: true });
  for (const f of [...r.outputFiles, ...s.outputs]) writeAtomic(f.path, f.contents);
  // the files the suspending form changed, as TypeScript: to read, and for the module-graph test
  rmSync(SUSPENDING_DIR, { recursive: true, force: true });
  for (const [file, text] of s.form.files) {
    if (!text.startsWith('// Generated by bin/suspend.js')) continue;
    const out = join(SUSPENDING_DIR, relative(ROOT, file));
    mkdirSync(dirname(out), { recursive: true });
    writeAtomic(out, text);
  }
  writeAtomic(join(DIST, 'suspending.json'), JSON.stringify({ roots: s.form.roots, converted: s.form.converted }, null, 1) + '\n');
  writeAtomic(STAMP, JSON.stringify({ hash, built: new Date().toISOString() }) + '\n');
  return hash;
}

/** Rebuild when the sources (if this copy has them) differ from what was built. */
export async function ensureBuilt() {
  if (!existsSync(join(ROOT, 'src'))) return false;
  if (builtHash() === sourceHash() && ['cli.js', 'cpu-worker.js', 'inthread-worker.js'].every((f) => existsSync(join(DIST, f)))) return false;
  await build();
  return true;
}

export const DIST_DIR = DIST;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  build().then(
    () => process.stdout.write(`percpu-stress: built ${relative(process.cwd(), DIST) || '.'}\n`),
    (e) => {
      process.stderr.write(`percpu-stress: build failed: ${e.message}\n`);
      process.exit(1);
    },
  );
}
