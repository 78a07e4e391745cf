// The architecture as a property: every import goes to the file's own
// module or to one its entry in test/architecture.ts lists, and no two files
// import each other, even through others. Type-only and side-effect imports
// count like any other, and the suspending form the build generates for the
// in-thread engine (dist/suspending/) obeys the same graph. The checker
// itself is tried on graphs that break each rule.

import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES, cycles, forbiddenImports, moduleOf, renderGraph, type Module } from './architecture.ts';
import { SUSPENDING_DIR } from '../bin/build.js';
import { ensureWorkerBuilt } from '../src/run/main/pool.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(join(ROOT, d))) {
      const p = join(d, n);
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else if ((n.endsWith('.ts') && !n.endsWith('.d.ts')) || (d === 'bin' && n.endsWith('.js'))) out.push(p);
    }
  };
  for (const d of ['src', 'scenarios', 'workers', 'bin']) walk(d);
  return out.sort();
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** The files `text`, as the file `file`, imports (relative imports, resolved from the repository's root). */
function importsIn(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
  }
  return out;
}

function importsOf(file: string): string[] {
  return importsIn(file, readFileSync(join(ROOT, file), 'utf8'));
}

const files = sources();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every file belongs to a module and imports only from its own module or one its module lists', (t) => {
  for (const f of files) moduleOf(f);
  t.deepEqual(forbiddenImports(graph), []);
  t.true(files.length > 80);
});

test('no import cycles between files', (t) => {
  t.deepEqual(cycles(graph), []);
});

test('the module graph itself has no cycle and names only modules that exist', (t) => {
  const names = new Set(MODULES.map((m) => m.name));
  for (const m of MODULES) for (const u of m.uses) t.true(names.has(u), `${m.name} uses unknown ${u}`);
  const g = new Map(MODULES.map((m) => [m.name, [...m.uses]]));
  t.deepEqual(cycles(g), []);
});

test('the checker refuses an upward import and a cycle (it is not vacuous)', (t) => {
  const tiny: Module[] = [
    { name: 'low', match: /^low\//, what: '', uses: [] },
    { name: 'high', match: /^high\//, what: '', uses: ['low'] },
  ];
  // an upward import: low/a.ts -> high/b.ts
  const upward = new Map([['low/a.ts', ['high/b.ts']], ['high/b.ts', ['low/c.ts']], ['low/c.ts', []]]);
  t.deepEqual(forbiddenImports(upward, tiny), ['low/a.ts (low) imports high/b.ts (high)']);
  t.deepEqual(forbiddenImports(new Map([['high/b.ts', ['low/c.ts']], ['low/c.ts', []]]), tiny), []);
  // a cycle inside one module, through a third file
  const cyclic = new Map([['low/a.ts', ['low/b.ts']], ['low/b.ts', ['low/c.ts']], ['low/c.ts', ['low/a.ts']], ['low/d.ts', ['low/a.ts']]]);
  t.deepEqual(cycles(cyclic), [['low/a.ts', 'low/b.ts', 'low/c.ts']]);
  t.deepEqual(cycles(new Map([['low/a.ts', ['low/b.ts']], ['low/b.ts', []]])), []);
  // and the import scanner sees every form of import
  const sample = 'import type { X } from "../run/runner.ts";\nexport { y } from \'./y.ts\';\nconst z = await import(\'./z.ts\');\nimport \'../cli.ts\';';
  t.deepEqual([...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]), ['../run/runner.ts', './y.ts', './z.ts', '../cli.ts']);
  // a side-effect import of the CLI from the bottom layer is refused like any other
  const shm = new Map([['src/shm/x.ts', importsIn('src/shm/x.ts', "import '../cli.ts';\n")], ['src/cli.ts', []]]);
  t.deepEqual(forbiddenImports(shm), ['src/shm/x.ts (shm) imports src/cli.ts (cli)']);
});

test('the suspending form the build generates imports what its sources import, and obeys the same graph', async (t) => {
  await ensureWorkerBuilt();
  const generated: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) generated.push(relative(SUSPENDING_DIR, p));
    }
  };
  walk(SUSPENDING_DIR);
  // the engine's whole path is there: the CPU context, the scheduler, both kernels' cores
  for (const f of ['src/sync/cpu.ts', 'src/sched/controlled.ts', 'src/percpu/2.6.35/core.ts', 'src/percpu/4.1/core.ts', 'src/run/thread/entity.ts']) t.true(generated.includes(f), f);
  const merged = new Map(graph);
  for (const f of generated) {
    const deps = importsIn(f, readFileSync(join(SUSPENDING_DIR, f), 'utf8'));
    t.deepEqual([...deps].sort(), [...graph.get(f)!].sort(), `${f}: the generated form imports what the source imports`);
    merged.set(f, deps);
  }
  t.deepEqual(forbiddenImports(merged), []);
  t.deepEqual(cycles(merged), []);
});

test('the two sides of run/ share only the machine, the control block, the messages and the records', (t) => {
  const crossing = [...graph].flatMap(([f, deps]) => deps.filter((d) =>
    (f.startsWith('src/run/main/') && d.startsWith('src/run/thread/')) || (f.startsWith('src/run/thread/') && d.startsWith('src/run/main/'))).map((d) => `${f} -> ${d}`));
  t.deepEqual(crossing, []);
});

test('docs/architecture.md shows the module graph the test checks', (t) => {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = /<!-- graph -->\n```text\n([\s\S]*?)\n```\n<!-- \/graph -->/.exec(doc)?.[1];
  t.is(block, renderGraph(), 'regenerate the graph block of docs/architecture.md from test/architecture.ts (renderGraph)');
});
