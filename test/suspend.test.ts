// The suspending form (bin/suspend.js, the in-thread engine's build): what
// it converts -- found from the program, not listed -- and what it refuses
// to build, each with its place and reason; on the real sources, both
// kernels' tables of function pointers converted. And no verdict comes from
// the in-thread engine alone: a build that forgot one scheduling point
// makes fuzz end with a harness error, not with a finding or a clean run.

import test from 'ava';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { suspendingForm } from '../bin/suspend.js';
import { buildSuspending, DIST_DIR } from '../bin/build.js';
import { ensureWorkerBuilt } from '../src/run/main/pool.ts';
import { InThreadEngine } from '../src/run/main/inthread.ts';
import { fuzz } from '../src/explore/fuzz.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { Mode } from '../src/sched/strategy.ts';
import { HarnessError } from '../src/report/errors.ts';

const ROOT = resolve(import.meta.dirname, '..');
const FIX = join(ROOT, 'test', 'fixtures', 'suspend');
const form = (file: string): ReturnType<typeof suspendingForm> => suspendingForm({ root: ROOT, entries: [join(FIX, file)] });

test('what reaches a scheduling point becomes a generator, through tables of function pointers, spreads, interfaces and typed slots; every call to it a delegation', (t) => {
  const f = form('table.ts');
  t.deepEqual(f.errors, []);
  const names = f.converted.map((c: string) => c.replace(/^\S+ /, ''));
  for (const n of ['park', 'lockImpl', 'Sched.point', 'Context.point', 'program', '(anonymous function)']) t.true(names.includes(n), `${n} converted: ${names.join(', ')}`);
  // freeImpl never suspends: it stays a plain function, and calls to it stay plain calls
  t.false(names.includes('freeImpl'));
  const text = f.files.get(join(FIX, 'table.ts'))!;
  t.regex(text, /\(yield\* ops\.lock\(2\)\)/);
  t.regex(text, /\(yield\* this\.hooks\.point\(\)\)/);
  t.regex(text, /\(yield\* \(c\.handler\?\.\(1\)\) \?\? __noSuspend\)/);
  t.regex(text, /ops\.free\(n\);/);
  // a call handed to a @coroutine function is started, not delegated to
  t.regex(text, /coroutine\(program\(c, OPS\)\)/);
  t.regex(f.files.get(join(FIX, 'park.ts'))!, /function\* park\(\) \{\s*yield;\s*\}/);
});

test('the build refuses what it cannot convert, saying where and why', (t) => {
  const cases: [string, RegExp][] = [
    ['callback.ts', /callback\.ts:5: .* reaches a scheduling point and is passed to forEach\(\) .* \(a callback\)/],
    ['constructor.ts', /constructor\.ts:5: the constructor of Thing reaches a scheduling point/],
    ['toplevel.ts', /toplevel\.ts:4: a call that reaches a scheduling point outside any function/],
    ['bound.ts', /bound\.ts:4: step reaches a scheduling point and is \.call/],
  ];
  for (const [file, want] of cases) {
    const f = form(file);
    t.true(f.errors.some((e: string) => want.test(e)), `${file}: ${f.errors.join(' | ')}`);
    t.is(f.files.size, 0);
  }
});

test('the real sources convert whole: both kernels\' tables, their variants and the workqueue, with nothing refused', async (t) => {
  await ensureWorkerBuilt();
  const manifest = JSON.parse(readFileSync(join(DIST_DIR, 'suspending.json'), 'utf8')) as { roots: string[]; converted: string[] };
  t.deepEqual(manifest.roots.map((r) => r.replace(/:\d+/, '')), ['src/sched/park.ts park']);
  const has = (file: string, fn: string): boolean => manifest.converted.some((c) => c.startsWith(`${file}:`) && c.endsWith(` ${fn}`));
  for (const [file, fn] of [
    ['src/percpu/2.6.35/core.ts', 'pcpuAlloc'], ['src/percpu/2.6.35/core.ts', 'lockIndex'], ['src/percpu/2.6.35/history/single-mutex.ts', 'freePercpu'],
    ['src/percpu/2.6.35/later/walk-safe.ts', 'pcpuAlloc'], ['src/percpu/4.1/core.ts', 'pcpuAlloc'], ['src/percpu/4.1/core.ts', 'balanceWorkfn'],
    ['src/percpu/4.1/backend-vm.ts', 'populateChunk'], ['src/workqueue/workqueue.ts', 'processOneWork'], ['src/sync/cpu.ts', 'Cpu.mutexLock'],
    ['src/run/thread/cpu-program.ts', 'CpuProgramRunner.run'],
  ] as const) t.true(has(file, fn), `${file} ${fn}`);
  // the checkers never suspend: none of them is converted
  t.false(manifest.converted.some((c) => c.startsWith('src/check/')));
});

/** The line of Cpu.mutexLock (src/sync/cpu.ts) where mutex_lock() might sleep: a scheduling point and a check. */
function mutexLockMightSleep(): string {
  const lines = readFileSync(join(ROOT, 'src/sync/cpu.ts'), 'utf8').split('\n');
  const at = lines.findIndex((l) => l.includes('mutexLock(lock: number): void {'));
  const call = lines.findIndex((l, i) => i > at && l.includes('this.mightSleep();'));
  if (at < 0 || call < 0 || call > at + 4) throw new Error('the might_sleep() of Cpu.mutexLock was not found where the test looks for it');
  return `src/sync/cpu.ts:${call + 1}`;
}

test.serial('a build that forgot one scheduling point is caught: neither its finding nor its clean runs replay on threads, and fuzz ends with a harness error', async (t) => {
  const dir = join(DIST_DIR, 'test-forgot-a-point');
  rmSync(dir, { recursive: true, force: true });
  const { outputs } = await buildSuspending({ outdir: dir, forget: [mutexLockMightSleep()] });
  for (const o of outputs) {
    mkdirSync(dirname(o.path), { recursive: true });
    writeFileSync(o.path, o.contents);
  }
  const options = {
    scenarios: [scenarioByName('irq-free')!], budgetMs: 60_000, shrinkBudgetMs: 60_000, strategy: Mode.pct, depth: 3, cpus: 3, ops: 0, seed: 1,
    keepGoing: false, outDir: join(dir, 'repros'), inject: 'single-mutex', maxRuns: 20,
  };
  mkdirSync(options.outDir, { recursive: true });
  const cleanOptions = { ...options, inject: null, maxRuns: 6 };
  for (const o of [options, cleanOptions]) {
    // a finding, and a campaign that finds nothing (a sample of its clean runs is replayed on the threads too):
    // neither verdict is the in-thread engine's alone
    const broken = new InThreadEngine({ workerFile: join(dir, 'inthread-worker.js') });
    try {
      const e = await t.throwsAsync(fuzz(broken, o), { instanceOf: HarnessError });
      t.regex(e!.message, /disagree/);
    } finally {
      await broken.close();
    }
  }
  // the same campaigns on the real build: a finding, confirmed; nothing, confirmed
  const good = new InThreadEngine();
  try {
    const r = await fuzz(good, options);
    t.is(r.findings.length, 1);
    t.is(r.findings[0]!.violation.kind, 'sleep-in-atomic');
    const c = await fuzz(good, cleanOptions);
    t.is(c.findings.length, 0);
    t.is(c.runs, 6);
  } finally {
    await good.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
