// The architecture as data: every module (a folder, or a kind of file), what
// it is, and the modules it may import directly. test/layers.test.ts checks
// the sources against it, and docs/architecture.md shows the same graph
// (renderGraph), so the picture cannot drift from what the code does.

export interface Module {
  name: string;
  /** Which source files belong to it. */
  match: RegExp;
  what: string;
  /** Modules its files may import (besides their own). */
  uses: readonly string[];
}

/** In matching order: the first module whose pattern matches a file owns it. */
export const MODULES: readonly Module[] = [
  { name: 'records', match: /^src\/.*\/records\.ts$/, what: 'each subsystem\'s shared-memory records, declarations only (the bottom of everything)', uses: [] },
  { name: 'shm', match: /^src\/shm\/|^src\/version\.ts$/, what: 'composes the records into one layout; config, geometry, coverage, the shared PRNG', uses: ['records'] },
  { name: 'report', match: /^src\/report\//, what: 'violations, results and timelines as data: no rendering, no percpu knowledge', uses: ['shm'] },
  { name: 'schemas', match: /^schemas\//, what: 'the JSON Schemas of repro files, fuzz results and suppressions (data, shipped in the package)', uses: [] },
  { name: 'io', match: /^src\/io\//, what: 'outputs resolved and written atomically, JSON inputs read and checked against their schemas with one-line errors', uses: ['report', 'schemas'] },
  { name: 'sync', match: /^src\/sync\//, what: 'the per-CPU context: the kernel\'s locking/irq/sleep API (cpu.ts) over its machinery', uses: ['records', 'shm', 'report'] },
  { name: 'lockdep', match: /^src\/lockdep\//, what: 'lock classes, the dependency graph, irq usage, lockdep\'s reports', uses: ['records', 'shm', 'report', 'sync'] },
  { name: 'race', match: /^src\/race\//, what: 'the shared fields and their locks; lock rules and the happens-before race detector', uses: ['records', 'shm', 'report', 'sync'] },
  { name: 'mm', match: /^src\/mm\//, what: 'the emulated heap, page frames, vmalloc space and failure injection', uses: ['records', 'shm', 'report', 'sync'] },
  { name: 'workqueue', match: /^src\/workqueue\//, what: 'the events workqueue with its pending bit', uses: ['records', 'shm', 'report', 'sync'] },
  { name: 'percpu/2.6.35', match: /^src\/percpu\/2\.6\.35\//, what: 'Linux 2.6.35\'s port, its historical bugs (history/) and later fixes (later/), one file each, chosen at boot', uses: ['records', 'shm', 'report', 'sync', 'race', 'mm', 'workqueue', 'percpu'] },
  { name: 'percpu/4.1', match: /^src\/percpu\/4\.1\//, what: 'Linux 4.1\'s port (the 3.18-4.13 design) and its later fixes (later/), chosen at boot', uses: ['records', 'shm', 'report', 'sync', 'race', 'mm', 'workqueue', 'percpu'] },
  { name: 'percpu', match: /^src\/percpu\//, what: 'what both kernels share: the allocator\'s entry points, the accessor module, slots, the first chunk\'s placement, variants', uses: ['records', 'shm', 'report', 'sync', 'race', 'mm', 'workqueue'] },
  { name: 'sched', match: /^src\/sched\//, what: 'controlled scheduling: the run token, runnability, deadlocks, the strategies, schedules', uses: ['records', 'shm', 'report', 'sync', 'workqueue'] },
  { name: 'check', match: /^src\/check\//, what: 'invariants, specifications, shadow stamps, leaks, known issues by mechanism, per kernel where its rules differ (4.1/): none borrows what it checks', uses: ['records', 'shm', 'report', 'sync', 'race', 'mm', 'workqueue', 'percpu', 'percpu/2.6.35', 'percpu/4.1'] },
  { name: 'scenarios', match: /^scenarios\//, what: 'the named, seeded race scenarios and the program language they are written in', uses: ['records', 'shm', 'report', 'sync', 'mm'] },
  { name: 'run', match: /^src\/run\/[^/]+\.ts$/, what: 'what both sides of a run share: the machine and its boot, the kernel generations, the control block and messages', uses: ['records', 'shm', 'report', 'sync', 'lockdep', 'race', 'mm', 'workqueue', 'percpu', 'percpu/2.6.35', 'percpu/4.1', 'sched', 'check', 'scenarios'] },
  { name: 'run/thread', match: /^src\/run\/thread\//, what: 'inside a worker thread: the session, an entity\'s part of a run, the CPU program runner', uses: ['records', 'shm', 'report', 'sync', 'lockdep', 'race', 'mm', 'workqueue', 'percpu', 'sched', 'check', 'scenarios', 'run'] },
  { name: 'run/main', match: /^src\/run\/main\//, what: 'on the main thread: the runner, the pool, the watchdog, single-CPU and trace replays', uses: ['records', 'shm', 'report', 'io', 'sync', 'lockdep', 'race', 'mm', 'workqueue', 'percpu', 'sched', 'check', 'scenarios', 'run', 'build'] },
  { name: 'explore', match: /^src\/explore\//, what: 'the campaign: fuzz, the portfolio, feedback, shrinking, repro files, residual risk, shards and merge, bench', uses: ['records', 'shm', 'report', 'io', 'sync', 'lockdep', 'percpu', 'sched', 'check', 'scenarios', 'run', 'run/main'] },
  { name: 'render', match: /^src\/render\//, what: 'text, JUnit, KTAP, HTML and Chrome trace: results to what people and CI tools read', uses: ['records', 'shm', 'report', 'check', 'percpu', 'sched', 'scenarios', 'explore'] },
  { name: 'cli', match: /^src\/cli\/|^src\/cli\.ts$|^src\/cli-args\.ts$/, what: 'the commands: one typed option spec each (parsing, help, docs), exit codes', uses: ['records', 'shm', 'report', 'io', 'sync', 'percpu', 'sched', 'check', 'scenarios', 'run', 'run/main', 'explore', 'render'] },
  { name: 'workers', match: /^workers\//, what: 'thread entry points: thin, no logic', uses: ['run/thread'] },
  { name: 'build', match: /^bin\//, what: 'the build and the launcher (which runs the built bundle)', uses: ['dist'] },
  { name: 'dist', match: /^dist\//, what: 'the bundle bin/build.js makes of src/ and workers/ (not in git)', uses: [] },
];

export function moduleOf(file: string, modules: readonly Module[] = MODULES): Module {
  const m = modules.find((x) => x.match.test(file));
  if (!m) throw new Error(`${file} belongs to no module`);
  return m;
}

/** Edges of a file graph that the module graph does not allow, as text. */
export function forbiddenImports(graph: ReadonlyMap<string, readonly string[]>, modules: readonly Module[] = MODULES): string[] {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = moduleOf(file, modules);
    for (const d of deps) {
      const to = moduleOf(d, modules);
      if (to !== from && !from.uses.includes(to.name)) bad.push(`${file} (${from.name}) imports ${d} (${to.name})`);
    }
  }
  return bad;
}

/** Strongly connected components of more than one node (import cycles), each sorted. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
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
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  return out;
}

/** The module graph as the text block docs/architecture.md shows. */
export function renderGraph(modules: readonly Module[] = MODULES): string {
  const width = Math.max(...modules.map((m) => m.name.length));
  const lines = modules.map((m) => `${m.name.padEnd(width)}  -> ${m.uses.length ? m.uses.join(', ') : '(nothing)'}`);
  return lines.reverse().join('\n');
}
