// The build: esbuild bundles the TypeScript sources into two plain ESM files,
// dist/cli.js (the command) and dist/cpu-worker.js (what every pool thread
// loads), so that no thread transpiles anything at run time.
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
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, 'build.json');
const SOURCE_DIRS = ['src', 'workers', 'scenarios', 'schemas'];
const ENTRIES = { cli: 'src/cli.ts', 'cpu-worker': 'workers/cpu.ts' };

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

/** Build now. */
export async function build() {
  const hash = sourceHash();
  const { build: esbuild } = await import('esbuild');
  const r = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
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
  });
  mkdirSync(DIST, { recursive: true });
  for (const f of r.outputFiles) writeAtomic(f.path, f.contents);
  writeAtomic(STAMP, JSON.stringify({ hash, built: new Date().toISOString() }) + '\n');
  return hash;
}

/** Rebuild when the sources (if this copy has them) differ from what was built. */
export async function ensureBuilt() {
  if (!existsSync(join(ROOT, 'src'))) return false;
  if (builtHash() === sourceHash() && existsSync(join(DIST, 'cli.js')) && existsSync(join(DIST, 'cpu-worker.js'))) return false;
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
