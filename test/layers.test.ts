// The architecture as a property: every import goes to the same layer or a
// lower one (DESIGN.md's order), and no two files import each other, even
// through others. Type-only imports count like any other.

import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Layer of a file, bottom (0) to top. */
const LAYERS: [RegExp, number, string][] = [
  [/^src\/shm\//, 0, 'shm'], [/^src\/version\.ts$/, 0, 'shm'], [/^bin\//, 0, 'build tooling'],
  [/^src\/report\//, 1, 'report'],
  [/^src\/sync\//, 2, 'sync'],
  [/^src\/(lockdep|race)\//, 3, 'lockdep'],
  [/^src\/mm\//, 4, 'mm'],
  [/^src\/(percpu|workqueue)\//, 5, 'percpu'],
  [/^src\/sched\//, 6, 'sched'],
  [/^src\/check\//, 7, 'check'],
  [/^scenarios\//, 8, 'scenarios'],
  [/^src\/run\//, 9, 'run'],
  [/^src\/explore\//, 10, 'explore'],
  [/^src\/(cli\/|cli\.ts$|cli-args\.ts$)/, 11, 'cli'],
  [/^workers\//, 12, 'workers'],
];

function layerOf(file: string): [number, string] {
  for (const [re, rank, name] of LAYERS) if (re.test(file)) return [rank, name];
  throw new Error(`${file} belongs to no layer`);
}

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(join(ROOT, d))) {
      const p = join(d, n);
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of ['src', 'scenarios', 'workers']) walk(d);
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

test('every file belongs to a layer and imports only from its own layer or lower ones', (t) => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const [rank, name] = layerOf(file);
    for (const d of deps) {
      const [drank, dname] = layerOf(d);
      if (drank > rank) bad.push(`${file} (${name}) imports ${d} (${dname})`);
    }
  }
  t.deepEqual(bad, []);
  t.true(files.length > 50);
});

test('no import cycles between files', (t) => {
  // Tarjan's strongly connected components
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  t.deepEqual(cycles, []);
});

test('the checker catches an upward import and a cycle (it is not vacuous)', (t) => {
  t.is(layerOf('src/percpu/core.ts')[0] < layerOf('src/run/runner.ts')[0], true);
  const sample = 'import type { X } from "../run/runner.ts";\nexport { y } from \'./y.ts\';\nconst z = await import(\'./z.ts\');';
  const found = [...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
  t.deepEqual(found, ['../run/runner.ts', './y.ts', './z.ts']);
});
