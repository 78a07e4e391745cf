// Mutants: copies of this project with one small bug put into the
// allocator, built and run like the real thing. They are how the checkers
// are measured against bugs nobody wrote a checker for: a mutant must be
// caught, as a finding that counts (never a known issue), and its repro
// must replay. test/mutants.test.ts runs a few with small budgets;
// `node --import tsx test/mutants.ts [--budget 60s] [names...]` runs them
// all the way the acceptance criteria say.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Mutant {
  name: string;
  file: string;
  /** The exact text replaced (must occur once) and what replaces it. */
  from: string;
  to: string;
  what: string;
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'contig-ignores-small', file: 'src/percpu/2.6.35/area-map.ts', what: 'a failed scan\'s contig_hint ignores free blocks smaller than the request',
    from: '    if (cur < head + size) {\n      maxContig = Math.max(cur, maxContig);', to: '    if (cur < head + size) {\n      if (cur >= size) maxContig = Math.max(cur, maxContig);',
  },
  {
    name: 'vm-clears-fresh-only', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'percpu-vm clears only areas whose pages it populated just now',
    from: '      st.populatedFromTemp(chunk, bitmap); // commit the new bitmap\n      this.putPagesAndBitmap(cpu);\n    }\n    // clear the area in every unit\n    for (let c = 0; c < st.nrCpus; c++) clearRange(st, cpu, this.rec.chunkAddr(chunk, c, 0) + off, size);',
    to: '      st.populatedFromTemp(chunk, bitmap); // commit the new bitmap\n      this.putPagesAndBitmap(cpu);\n      for (let c = 0; c < st.nrCpus; c++) clearRange(st, cpu, this.rec.chunkAddr(chunk, c, 0) + off, size);\n    }',
  },
  {
    name: 'bitmap-not-committed', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'populate never commits the populated bitmap',
    from: '      st.populatedFromTemp(chunk, bitmap); // commit the new bitmap\n', to: '',
  },
  {
    name: 'chunk-slot-off-by-one', file: 'src/percpu/slots.ts', what: 'pcpu_chunk_slot files chunks with 4 free bytes in slot 0',
    from: 'if (free < INT_SIZE || st.contigHint(chunk) < INT_SIZE) return 0;', to: 'if (free <= INT_SIZE || st.contigHint(chunk) < INT_SIZE) return 0;',
  },
  {
    name: 'free-merge-skips-next', file: 'src/percpu/2.6.35/area-map.ts', what: 'pcpu_free_area does not merge with the next free block',
    from: '  if (i + 1 < used && st.entry(chunk, m, i + 1) >= 0) {', to: '  if (i + 1 < used && st.entry(chunk, m, i + 1) >= 0 && false) {',
  },
  {
    name: 'reclaim-spares-none', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_reclaim destroys the first fully free chunk too',
    from: '    if (pos === firstEntry) continue; // spare the first one\n', to: '',
  },
  {
    name: 'free-without-irqsave', file: 'src/percpu/2.6.35/core.ts', what: 'free_percpu takes pcpu_lock without disabling irqs',
    from: "  cpu.enter(F.free_percpu);\n  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);", to: "  cpu.enter(F.free_percpu);\n  cpu.spinLock(Lock.pcpu_lock);\n  const flags = 0;",
  },
  {
    name: 'stats-outside-lock', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_alloc counts the allocation after dropping pcpu_lock',
    from: '  p.statsAlloc(size);\n  p.indexCheck?.(cpu, chunk);\n  p.ops.unlockIndex(p, cpu, flags);', to: '  p.indexCheck?.(cpu, chunk);\n  p.ops.unlockIndex(p, cpu, flags);\n  p.statsAlloc(size);',
  },
  {
    name: 'extend-copies-short', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_extend_area_map copies one entry too few into the new map',
    from: '    st.copyEntriesOut(chunk, m, neu, oldAlloc);', to: '    st.copyEntriesOut(chunk, m, neu, oldAlloc - 1);',
  },
  {
    name: 'tail-kept-small', file: 'src/percpu/2.6.35/area-map.ts', what: 'pcpu_alloc_area keeps tails of 1-3 bytes as blocks of their own',
    from: '    if (tail < INT_SIZE) tail = 0;', to: '    if (tail < 1) tail = 0;',
  },
  {
    name: 'depopulate-keeps-pages', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'pcpu_depopulate_chunk unmaps but never frees the pages',
    from: '      this.freePagesRange(cpu, pages, rs, re);\n      cpu.point();\n      rs = st.nextPopulated(chunk, pageEnd, re + 1, true);', to: '      cpu.point();\n      rs = st.nextPopulated(chunk, pageEnd, re + 1, true);',
  },
  {
    name: 'reclaim-request-dropped', file: 'src/percpu/2.6.35/core.ts', what: 'free_percpu never schedules the reclaim work',
    from: '        p.work.scheduleReclaim(cpu);\n        break;\n      }\n    }\n  }\n  p.spec?.freeEnd(cpu, chunk);', to: '        break;\n      }\n    }\n  }\n  p.spec?.freeEnd(cpu, chunk);',
  },
  // the classes of issue 29: failures, reclaim progress, heap bounds, lifecycle, known-issue paths
  {
    name: 'illegal-size-whole-unit', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_alloc refuses a request of exactly a whole unit as illegal',
    from: 'if (!size || size > PCPU_MIN_UNIT_SIZE || align > st.pageSize) {', to: 'if (!size || size >= PCPU_MIN_UNIT_SIZE || align > st.pageSize) {',
  },
  {
    name: 'reclaim-trylock-noop', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_reclaim returns at once, having done nothing, when it cannot trylock the mutex',
    from: '  cpu.enter(F.pcpu_reclaim);\n  cpu.mutexLock(Lock.pcpu_alloc_mutex);', to: '  cpu.enter(F.pcpu_reclaim);\n  if (!cpu.mutexTrylock(Lock.pcpu_alloc_mutex)) return (cpu.leave(), []);',
  },
  {
    name: 'extend-copies-4x', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_extend_area_map copies 4 x map_alloc words into a map of 2 x map_alloc',
    from: '    st.copyEntriesOut(chunk, m, neu, oldAlloc);', to: '    st.copyEntriesOut(chunk, m, neu, newAlloc * 2);',
  },
  {
    name: 'temp-pages-short', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'the temp pages array is allocated 16 bytes long',
    from: 'memAlloc(cpu, st, pagesWords * 4, Tag.TEMP_PAGES)', to: 'memAlloc(cpu, st, 16, Tag.TEMP_PAGES)',
  },
  {
    name: 'reclaim-destroys-listed', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_reclaim destroys the chunks without unlinking them from their slot list',
    from: '    st.listDelInit(pos, cpu.id);\n', to: '',
  },
  {
    name: 'phys-unit0-page-path', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_addr_in_first_chunk tests unit 1\'s range instead of unit 0\'s',
    from: '  return addr >= firstStart && addr < firstStart + st.unitSize;\n}', to: '  return addr >= firstStart + st.unitSize && addr < firstStart + 2 * st.unitSize;\n}',
  },
  {
    name: 'extend-frees-live-map', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_extend_area_map frees the new map (now the chunk\'s) instead of the old one',
    from: '    if (oldAlloc >= PCPU_DFL_MAP_ALLOC) old = m;', to: '    if (oldAlloc >= PCPU_DFL_MAP_ALLOC) old = neu;',
  },
  {
    name: 'page-index-null', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'pcpu_map_pages sets page->index of the mapped pages to NULL',
    from: 'st.setPageChunk(st.tempPage(pages, b.pageIdx(c, i)) - 1, chunk);', to: 'st.setPageChunk(st.tempPage(pages, b.pageIdx(c, i)) - 1, 0);',
  },
  {
    name: 'units-share-pages', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'every unit\'s page i uses the same slot of the temp pages array, so all units map one page',
    from: '    return this.st.unitMap(cpuNr) * this.st.unitPages + page;', to: '    return page;',
  },
  // fresh bugs of the same classes, written after the checkers (the acceptance of issue 29)
  {
    name: 'reserved-full-off-by-one', file: 'src/percpu/2.6.35/core.ts', what: 'a reserved request exactly the size of the reserved chunk\'s contig_hint is refused',
    from: '    if (size > st.contigHint(chunk)) {', to: '    if (size >= st.contigHint(chunk)) {',
  },
  {
    name: 'reclaim-one-per-run', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_reclaim unlinks one chunk per run and leaves the others',
    from: '    todo.unshift(pos);', to: '    todo.unshift(pos);\n    break;',
  },
  {
    name: 'map-half-size', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_extend_area_map allocates the new map half as long as it says',
    from: '  const newSize = newAlloc * 4;', to: '  const newSize = newAlloc * 2;',
  },
  {
    name: 'temp-bitmap-bytes', file: 'src/percpu/2.6.35/backend-vm.ts', what: 'the temp bitmap is allocated in words counted as bytes',
    from: 'memAlloc(cpu, st, st.L.bitmapWords * 4, Tag.TEMP_BITMAP)', to: 'memAlloc(cpu, st, st.L.bitmapWords, Tag.TEMP_BITMAP)',
  },
  {
    name: 'reclaim-skips-depopulate', file: 'src/percpu/2.6.35/core.ts', what: 'pcpu_reclaim destroys chunks without depopulating them',
    from: '    p.backend.depopulate(cpu, chunk, 0, st.unitSize);\n', to: '',
  },
  {
    name: 'phys-pa-drops-offset', file: 'src/percpu/2.6.35/core.ts', what: 'per_cpu_ptr_to_phys\'s __pa() branch drops the offset within the page too',
    from: '        return addr - L.linBase; // __pa()', to: '        return (addr - L.linBase) & ~(st.pageSize - 1); // __pa()',
  },
];

/** A built copy of the project with the mutant's change in it; returns its directory. */
export function buildMutant(m: Mutant): string {
  const dir = mkdtempSync(join(tmpdir(), `percpu-mutant-${m.name}-`));
  for (const d of ['src', 'scenarios', 'schemas', 'workers', 'bin']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(dir, f));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const path = join(dir, m.file);
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf(m.from);
  if (at < 0 || text.indexOf(m.from, at + 1) >= 0) throw new Error(`mutant ${m.name}: its text is not in ${m.file} exactly once`);
  writeFileSync(path, text.slice(0, at) + m.to + text.slice(at + m.from.length));
  const b = spawnSync(process.execPath, [join(dir, 'bin/build.js')], { encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`mutant ${m.name}: build failed: ${b.stderr}`);
  return dir;
}

export interface MutantRun {
  code: number | null;
  out: string;
  err: string;
  repros: string[];
}

/** Run the mutant's CLI with `args` (in its own directory; repro files land there). */
export function runMutant(dir: string, args: string[], timeoutMs = 300_000): MutantRun {
  const r = spawnSync(process.execPath, [join(dir, 'bin/percpu-stress.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, FORCE_COLOR: '0' } });
  const repros = readdirSync(dir).filter((f) => /^repro-.*\.json$/.test(f)).map((f) => join(dir, f));
  return { code: r.status, out: r.stdout, err: r.stderr, repros };
}

export function removeMutant(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

// the acceptance run: every mutant, `fuzz all --budget 60s --seed 1`, each repro replayed 3 times
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const bi = args.indexOf('--budget');
  const budget = bi >= 0 ? args.splice(bi, 2)[1]! : '60s';
  const names = new Set(args);
  for (const m of MUTANTS.filter((x) => names.size === 0 || names.has(x.name))) {
    const dir = buildMutant(m);
    const t0 = Date.now();
    const r = runMutant(dir, ['fuzz', 'all', '--budget', budget, '--seed', '1', '--quiet']);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const found = /found by run \d+ [^\n]*after ([\d.]+) s/.exec(r.out);
    let replays = '';
    if (r.repros[0]) {
      const codes = [0, 1, 2].map(() => runMutant(dir, ['replay', r.repros[0]!, '--quiet']));
      replays = codes.map((c) => (c.code === 1 && /reproduced: .* as recorded/.test(c.out) ? 'exact' : `exit ${c.code}`)).join(' ');
    }
    const title = r.out.split('\n').find((l) => l && !l.startsWith('found') && !/^\d+ runs/.test(l)) ?? '';
    process.stdout.write(`${m.name.padEnd(26)} exit ${r.code} in ${secs} s${found ? `, found after ${found[1]} s` : ''}; replays: ${replays || '-'}; ${title.slice(0, 90)}\n`);
    removeMutant(dir);
  }
}
