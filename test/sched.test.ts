// Controlled scheduling: determinism, replay, shrinking, deadlock detection,
// schedules and repro files.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedRunner } from './helpers.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { Mode } from '../src/sched/strategy.ts';
import { reportJson } from '../src/report/result.ts';
import { decodeSchedule, encodeSchedule, ScheduleError, switchesOf } from '../src/sched/schedule.ts';
import { shrink } from '../src/explore/shrink.ts';
import { generatePrograms } from '../scenarios/lib/scenario.ts';
import { fuzz, residualRisk, signatureOf } from '../src/explore/fuzz.ts';
import { Op } from '../scenarios/lib/program.ts';
import { Lock } from '../src/sync/locks.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const shared = sharedRunner();

const storm = scenarioByName('alloc-free-storm')!;
const irqFree = scenarioByName('irq-free')!;

for (const mode of [Mode.random, Mode.pct, Mode.pos, Mode.urw]) {
  test.serial(`${Mode[mode]}: the same seed gives byte-identical results, another seed another schedule`, async (t) => {
    const a = await shared().run({ scenario: irqFree, cpus: 3, seed: 11, ops: 40, strategy: mode });
    const b = await shared().run({ scenario: irqFree, cpus: 3, seed: 11, ops: 40, strategy: mode });
    const c = await shared().run({ scenario: irqFree, cpus: 3, seed: 12, ops: 40, strategy: mode });
    t.is(a.status, 'clean', JSON.stringify(a.violations.map((v) => v.title)));
    // the report as written (--json): everything but the wall time
    t.is(JSON.stringify(a, reportJson), JSON.stringify(b, reportJson));
    t.true(a.wallMs > 0);
    t.regex(a.stateHash, /^[0-9a-f]{16}$/);
    t.is(a.stateHash, b.stateHash);
    t.true(a.steps > 100);
    t.not(a.schedule, c.schedule);
    t.true(a.ops.irqsHandled > 0, 'interrupt delivery is part of the schedule');
  });
}

for (const mode of [Mode.pct, Mode.pos, Mode.urw]) {
  test.serial(`${Mode[mode]}: a recorded failing schedule replays to the same violation at the same step`, async (t) => {
    const programs = generatePrograms(irqFree, 3, 5, 30);
    let r = await shared().run({ scenario: irqFree, cpus: 3, seed: 5, strategy: mode, inject: 'alloc-plain-spinlock', programs });
    // a few seeds until this strategy's schedule fails (the bug needs an interrupt at the right time)
    for (let seed = 6; r.status !== 'violation' && seed < 30; seed++) r = await shared().run({ scenario: irqFree, cpus: 3, seed, strategy: mode, inject: 'alloc-plain-spinlock', programs });
    t.is(r.status, 'violation');
    const v = r.violations[0]!;
    for (let i = 0; i < 3; i++) {
      const again = await shared().run({ scenario: irqFree, cpus: 3, seed: r.seed, strategy: Mode.replay, schedule: decodeSchedule(r.schedule!), inject: 'alloc-plain-spinlock', programs });
      t.is(again.diverged, 0);
      t.is(again.violations[0]!.kind, v.kind);
      t.is(again.violations[0]!.step, v.step);
      t.is(again.violations[0]!.text, v.text);
    }
  });
}

test.serial('shrinking makes a failure smaller and it still fails', async (t) => {
  const scenario = scenarioByName('reclaim-race')!;
  const programs = generatePrograms(scenario, 3, 9, 30);
  const base = { scenario, cpus: 3, seed: 9, strategy: Mode.pct, depth: 3, inject: 'reclaim-lock-inversion', expectedSteps: 1000 };
  const first = await shared().run({ ...base, programs });
  t.true(first.violations.some((v) => v.kind === 'lockdep-circular'));
  const sh = await shrink({ runner: shared(), base, programs, target: signatureOf(first.violations.find((v) => v.kind === 'lockdep-circular')!), budgetMs: 600_000 });
  const before = programs.reduce((n, p) => n + p.length, 0);
  const after = sh.programs.reduce((n, p) => n + p.length, 0);
  t.true(after < before, `${before / 4} ops -> ${after / 4}`);
  t.true(after / 4 <= 6, `a handful of ops expected, got ${after / 4}`);
  const replay = await shared().run({ ...base, cpus: sh.programs.length, programs: sh.programs, strategy: Mode.replay, schedule: sh.schedule });
  t.true(replay.violations.some((v) => v.kind === 'lockdep-circular'));
});

test.serial('a lock-inversion program deadlocks under some schedule and is reported with its wait-for cycle', async (t) => {
  const ab = Int32Array.from([Op.lock, Lock.test_mutex_a, 0, 0, Op.lock, Lock.test_mutex_b, 0, 0, Op.unlock, Lock.test_mutex_b, 0, 0, Op.unlock, Lock.test_mutex_a, 0, 0]);
  const ba = Int32Array.from([Op.lock, Lock.test_mutex_b, 0, 0, Op.lock, Lock.test_mutex_a, 0, 0, Op.unlock, Lock.test_mutex_a, 0, 0, Op.unlock, Lock.test_mutex_b, 0, 0]);
  let found = null;
  for (let seed = 1; seed <= 50 && !found; seed++) {
    const r = await shared().run({ scenario: storm, cpus: 2, seed, strategy: Mode.random, programs: [ab, ba] });
    t.true(r.violations.some((v) => v.kind === 'lockdep-circular'), 'lockdep sees the inversion in every run');
    found = r.violations.find((v) => v.kind === 'deadlock') ?? null;
  }
  t.truthy(found, 'no seed in 1..50 interleaved the two programs into a deadlock');
  t.regex(found!.text, /^INFO: deadlock detected: no runnable CPU\n/);
  t.regex(found!.text, /wait-for cycle: cpu(\d) -> test_mutex_[ab] -> cpu(?!\1)\d -> test_mutex_[ab] -> cpu\1\n/);
  t.regex(found!.text, /cpu0 sleeps on test_mutex_b held by cpu1\n cpu1 sleeps on test_mutex_a held by cpu0\n/);
});

test('schedules round-trip through their string form and bad strings are refused', (t) => {
  const s = [0, 5, 2, 300, 3, 1, 8, 70000];
  t.deepEqual(decodeSchedule(encodeSchedule(s)), s);
  t.is(switchesOf(s), 2); // actions 2 and 3 are the same entity (3 = with an interrupt)
  t.throws(() => decodeSchedule('!!'), { instanceOf: ScheduleError });
  t.throws(() => decodeSchedule(encodeSchedule([1, 2, 3])), { message: /odd number/ });
  t.throws(() => decodeSchedule(encodeSchedule([1, 0])), { message: /empty run/ });
});

test('the residual risk bound is (1 - 1/(n k^(d-1)))^N', (t) => {
  t.is(residualRisk(0, 4, 100, 3), 1);
  t.true(Math.abs(residualRisk(1000, 4, 100, 2) - Math.pow(1 - 1 / 400, 1000)) < 1e-12);
});

test.serial('fuzz writes a repro that replay reproduces exactly, every time, and bad repro files exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-fuzz-'));
  const res = await fuzz(shared(), {
    scenarios: [irqFree], budgetMs: 20_000, shrinkBudgetMs: 10_000, strategy: Mode.pct, depth: 3, cpus: 3, ops: 30, seed: 1,
    keepGoing: false, outDir: dir, inject: 'single-mutex',
  });
  t.is(res.findings.length, 1);
  const f = res.findings[0]!;
  t.true(f.minimal.ops <= f.original.ops);
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, [CLI, 'replay', f.reproPath], { encoding: 'utf8' });
    t.is(r.status, 1);
    t.regex(r.stdout, new RegExp(`reproduced: sleep-in-atomic at step ${f.violation.step}, as recorded\\n$`));
  }
  const bad = join(dir, 'bad.json');
  const repro = JSON.parse(readFileSync(f.reproPath, 'utf8')) as Record<string, unknown>;
  for (const [mutate, pattern] of [
    [(r: Record<string, unknown>) => (r.scenario = 'nope'), /unknown scenario "nope"/],
    [(r: Record<string, unknown>) => (r.schedule = '###'), /schedule must match pattern/],
    [(r: Record<string, unknown>) => (r.schedule = encodeSchedule([50 << 1, 3])), /schedule: names entity 50, the repro has \d+ CPUs/],
    [(r: Record<string, unknown>) => (r.version = '9.0.0'), /version: written by percpu-stress "9\.0\.0"/],
    [(r: Record<string, unknown>) => ((r.programs as number[][][])[0]![0] = [1, 0, 2 ** 40, 8]), /programs\[0\]\[0\]\[2\] must be <= 2147483647/],
    [(r: Record<string, unknown>) => ((r.programs as number[][][])[0]![0] = [3, 0, 99, 0]), /programs\[0\]: op 0 \(irqfree s0 -> cpu99\): aims at cpu99, the machine has \d+ CPUs/],
    [(r: Record<string, unknown>) => ((r.violation as { kind: string }).kind = 'banana'), /violation\.kind must be one of "invariant"/],
    [(r: Record<string, unknown>) => (r.scenario = 'x'.repeat(100_000) + '\u0007'), /scenario must match pattern/],
    [(r: Record<string, unknown>) => (r.programs = Array.from({ length: r.cpus as number }, () => [[99, 0, 0, 0]])), /unknown code 99/],
    [(r: Record<string, unknown>) => (r.cpus = 0), /cpus must be >= 1/],
  ] as [(r: Record<string, unknown>) => void, RegExp][]) {
    const copy = structuredClone(repro);
    mutate(copy);
    writeFileSync(bad, JSON.stringify(copy));
    const r = spawnSync(process.execPath, [CLI, 'replay', bad], { encoding: 'utf8' });
    t.is(r.status, 2);
    t.is(r.stderr.trim().split('\n').length, 1);
    t.regex(r.stderr, pattern);
  }
  writeFileSync(bad, '{');
  t.is(spawnSync(process.execPath, [CLI, 'replay', bad], { encoding: 'utf8' }).status, 2);
});
