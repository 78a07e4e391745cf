// The architecture as a property: every import goes to the file's own
// module or to one its entry in test/architecture.ts lists, and no two files
// import each other, even through others. Type-only imports count like any
// other. The checker itself is tried on graphs that break each rule.

import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES, cycles, forbiddenImports, moduleOf, renderGraph, type Module } from './architecture.ts';

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

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
  }
  return out;
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
  const sample = 'import type { X } from "../run/runner.ts";\nexport { y } from \'./y.ts\';\nconst z = await import(\'./z.ts\');';
  t.deepEqual([...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2]), ['../run/runner.ts', './y.ts', './z.ts']);
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
