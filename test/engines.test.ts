// The two engines are one: for every scenario (on every kernel it runs on)
// under every strategy, 20 seeds each, the in-thread engine and the real
// threads give the same run -- every scheduling decision and timeline event
// in the same order (the first diverging one is what a failure shows), the
// same schedule, the same violations at the same steps and the same final
// state. Every repro fixture replays identically on both.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runner } from '../src/run/main/runner.ts';
import { dropWords, InThreadEngine, INTHREAD_WORKER_FILE } from '../src/run/main/inthread.ts';
import { ensureWorkerBuilt } from '../src/run/main/pool.ts';
import type { InThreadAnswer, InThreadTask } from '../src/run/messages.ts';
import { getEventListeners } from 'node:events';
import { SCENARIOS, scenarioByName } from '../scenarios/index.ts';
import { runsOn } from '../scenarios/lib/scenario.ts';
import { KERNELS } from '../src/shm/config.ts';
import { Mode } from '../src/sched/strategy.ts';
import { decodeSchedule } from '../src/sched/schedule.ts';
import { deriveSeed, fuzz, mutateSchedule, RunNumbers, RUNS_AHEAD } from '../src/explore/fuzz.ts';
import { runDifference } from '../src/report/compare.ts';
import { readRepro, reproKernel, reproPrograms, reproScenario } from '../src/explore/repro.ts';
import { HarnessError } from '../src/report/errors.ts';
import { replayRun } from '../src/cli/fuzz-cmd.ts';
import type { RunOptions, RunResult } from '../src/run/main/runner.ts';
import { planFixReplay, specOf, type RunSpec } from '../src/run/spec.ts';
import { fixFor } from '../src/run/kernels.ts';

const SEEDS = 20;
/** Short runs: two CPUs (and the kworker), a handful of ops each (a scenario's directed set-up still runs whole). */
const CPUS = 2;
const OPS = 6;

const threads = new Runner();
const inthread = new InThreadEngine();
test.after.always(async () => {
  await threads.close();
  await inthread.close();
});

async function both(o: RunOptions): Promise<[RunResult, RunResult]> {
  const opts = { ...o, points: true };
  return [await inthread.run(opts), await threads.run(opts)];
}

const STRATEGIES = [Mode.random, Mode.pct, Mode.pos, Mode.urw, Mode.replay] as const;

for (const s of SCENARIOS) {
  for (const kernel of KERNELS.filter((k) => runsOn(s, k))) {
    test.serial(`${s.name} on ${kernel}: random, pct, pos, urw and replay, ${SEEDS} seeds each, give the same run on both engines`, async (t) => {
      let decisions = 0;
      let violations = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        let recorded: string | null = null;
        for (const strategy of STRATEGIES) {
          const o: RunOptions = { scenario: s, cpus: CPUS, seed, ops: OPS, kernel, strategy, depth: 1 + (seed % 3) };
          // replay: a recorded schedule, changed a little (what fuzz's feedback and the shrinker replay)
          if (strategy === Mode.replay) o.schedule = mutateSchedule(decodeSchedule(recorded ?? ''), seed * 0x9e3779b1);
          const [a, b] = await both(o);
          const diff = runDifference(a, b);
          if (diff !== null) return t.fail(`${s.name} on ${kernel}, ${Mode[strategy]}, seed ${seed}: ${diff}`);
          t.true(a.status !== 'incomplete', `${s.name} ${Mode[strategy]} seed ${seed} did not finish`);
          if (strategy === Mode.random) recorded = a.schedule;
          decisions += a.events!.filter((_, i) => i % 4 === 2 && a.events![i] === 8).length;
          violations += a.violations.length;
        }
      }
      // the comparison saw something: decisions made (and, across the suite, violations)
      t.true(decisions > SEEDS * STRATEGIES.length, `${decisions} scheduling decisions compared`);
      t.log(`${decisions} scheduling decisions and ${violations} violations compared`);
    });
  }
}

const FIXTURES = join(import.meta.dirname, 'fixtures', 'repros-0.1.0');

test.serial('every repro fixture replays identically on both engines', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  t.true(files.length >= 12);
  for (const f of files) {
    const repro = readRepro(join(FIXTURES, f));
    const a = await replayRun(inthread, repro, repro.inject, 5000, false);
    const b = await replayRun(threads, repro, repro.inject, 5000, false);
    const diff = runDifference(a, b);
    t.is(diff, null, `${f}: ${diff}`);
    // and both reproduce what the fixture recorded
    t.true(a.violations.some((v) => v.kind === repro.violation.kind), `${f}: ${repro.violation.kind} again`);
  }
});

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[], cwd: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--engine: fuzz on either engine files the same finding with the same repro, replay reproduces it on either, and a bad engine is one line, exit 2', (t) => {
  const dirs = { inthread: mkdtempSync(join(tmpdir(), 'eng-in-')), threads: mkdtempSync(join(tmpdir(), 'eng-th-')) };
  const docs: Record<string, { findings: { schedule: string; run: number; minimal: unknown; repro: unknown }[]; runs: number }> = {};
  for (const engine of ['inthread', 'threads'] as const) {
    const r = cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '5', '--shrink-budget', '10m', '--quiet', '--engine', engine, '--json', 'f.json'], dirs[engine]);
    t.is(r.code, 1, r.err);
    docs[engine] = JSON.parse(readFileSync(join(dirs[engine], 'f.json'), 'utf8'));
  }
  const pick = (d: (typeof docs)[string]): unknown => ({ runs: d.runs, findings: d.findings.map((f) => [f.run, f.schedule, f.minimal, f.repro]) });
  t.deepEqual(pick(docs.inthread!), pick(docs.threads!));
  const repro = readdirSync(dirs.inthread).find((f) => f.startsWith('repro-'))!;
  for (const engine of ['inthread', 'threads']) {
    const r = cli(['replay', repro, '--quiet', '--engine', engine], dirs.inthread);
    t.is(r.code, 1, r.err);
    t.regex(r.out, /^reproduced: sleep-in-atomic at step \d+, as recorded$/m);
  }
  const bad = cli(['fuzz', 'irq-free', '--engine', 'fibers'], dirs.inthread);
  t.is(bad.code, 2);
  t.is(bad.err, 'percpu-stress: --engine must be one of inthread, threads, got "fibers"\n');
});

test('a closed in-thread engine starts no thread again: a run handed to it late (one a campaign started ahead) is refused, and the process can exit', async (t) => {
  const engine = new InThreadEngine();
  const o: RunOptions = { scenario: SCENARIOS[0]!, cpus: 2, seed: 1, ops: 4, strategy: Mode.pct };
  t.is((await engine.run(o)).status !== 'incomplete', true);
  await engine.close();
  await t.throwsAsync(engine.run(o), { message: /closed/ });
  await t.throwsAsync(engine.run({ ...o, strategy: Mode.os }), { message: /closed/ });
});

test('free-running runs queued on the in-thread engine\'s threads when it closes are refused, and its threads engine keeps no session (bench --quick never exited)', async (t) => {
  const engine = new InThreadEngine();
  const o: RunOptions = { scenario: SCENARIOS[0]!, cpus: 2, seed: 1, ops: 20, strategy: Mode.os };
  // as fuzz does: the next runs handed over before the first one's result is looked at
  const runs = [1, 2, 3, 4].map((seed) => engine.run({ ...o, seed }));
  const first = await runs[0]!;
  t.not(first.status, 'incomplete');
  await engine.close();
  const rest = await Promise.allSettled(runs.slice(1));
  t.true(rest.some((r) => r.status === 'rejected' && /closed/.test(String(r.reason))), 'a run still queued at the close is refused');
  const threads = (engine as unknown as { threads: { sessions: unknown[] } | null }).threads;
  t.deepEqual(threads?.sessions, [], 'no session of the threads engine is left running');
});

test.serial('a run a known issue claims has its fix-verification replay played on the in-thread engine\'s thread right after it: one hand-over, the same verdict as on threads', async (t) => {
  class CountingPlays extends InThreadEngine {
    plays = 0;
    first?: RunSpec;
    override play(s: RunSpec, o: RunOptions, t0: number): Promise<RunResult> {
      this.plays++;
      this.first ??= s;
      return super.play(s, o, t0);
    }
  }
  const engine = new CountingPlays();
  try {
    const repro = readRepro(join(FIXTURES, 'known-km.json'));
    const a = await replayRun(engine, repro, repro.inject, 5000, false);
    const b = await replayRun(threads, repro, repro.inject, 5000, false);
    t.is(runDifference(a, b), null);
    t.is(a.status, 'known');
    t.true(a.violations.some((v) => v.known === 'km-unzeroed' && v.knownProof === 'fix-verified'));
    // the run and, in the same task, its replay with the fix: verifyKnown asked the thread for nothing more
    t.is(engine.plays, 1);
    // the thread and verifyKnown play it by one decision: the run's schedule with the claimed issues' fixes,
    // or none when the schedule was not recorded whole, a fix cannot boot beside the injected bug, nothing is claimed
    const spec = engine.first!;
    const km = fixFor('2.6.35', 'km-unzeroed')!.bit;
    const plan = planFixReplay(spec, a);
    t.true(plan !== null && 'spec' in plan && plan.spec.strategy === Mode.replay && plan.spec.fixes === (spec.fixes | km));
    t.deepEqual(plan !== null && 'spec' in plan ? plan.spec.schedule : null, decodeSchedule(a.schedule!));
    t.deepEqual(planFixReplay(spec, { ...a, scheduleOverflow: true }), { cannot: 'schedule-overflow', fixes: km });
    const walkSafe = fixFor('2.6.35', 'walk-escape')!;
    const claimsWalk = { ...a, violations: a.violations.map((v) => ({ ...v, mechanism: 'walk-escape' })) };
    t.deepEqual(planFixReplay({ ...spec, inject: 'extend-no-restart' }, claimsWalk), { cannot: 'fix-conflicts-with-bug', fixes: walkSafe.bit });
    t.is(planFixReplay(spec, { ...a, schedule: null }), null);
    t.is(planFixReplay(spec, { ...a, violations: a.violations.map((v) => ({ ...v, mechanism: undefined })) }), null);
  } finally {
    await engine.close();
  }
});

test.serial('the jobs of a campaign take run numbers from one sequence: a job held up takes fewer, none waits for the other, and every run is made once', async (t) => {
  // a job hands its engine the run it waits for and RUNS_AHEAD more: the held job can claim that many numbers
  // before it stops, the other job must make every other run of the campaign
  const RUNS = 2 * (RUNS_AHEAD + 1) + 14;
  const FREE_SHARE = RUNS - (RUNS_AHEAD + 1);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  // calibration runs (verifyKnown false) are not a campaign's numbered runs
  const numbered = (o: RunOptions): boolean => o.verifyKnown !== false;
  class Held extends InThreadEngine {
    seeds = new Set<number>();
    override async run(o: RunOptions): Promise<RunResult> {
      if (numbered(o)) await gate;
      if (numbered(o)) this.seeds.add(o.seed);
      return super.run(o);
    }
  }
  class Counting extends InThreadEngine {
    seeds = new Set<number>();
    override async run(o: RunOptions): Promise<RunResult> {
      const r = await super.run(o);
      if (numbered(o)) {
        this.seeds.add(o.seed);
        if (this.seeds.size >= FREE_SHARE) open();
      }
      return r;
    }
  }
  const held = new Held();
  const free = new Counting();
  try {
    const o = {
      scenarios: [scenarioByName('irq-free')!], budgetMs: 600_000, shrinkBudgetMs: 0, strategy: Mode.random, depth: 3, cpus: 2, ops: 4, seed: 1,
      keepGoing: true, outDir: '', inject: null, writeRepro: false, maxRuns: RUNS, runNumbers: new RunNumbers(0, 1), limit: { maxIndex: Infinity },
    };
    // (what runCampaign does with two jobs; the held job is let go once the other made its share, or ended)
    const freeDone = fuzz(free, o).finally(open);
    const [a, b] = await Promise.all([fuzz(held, o), freeDone]);
    t.is(a.runs + b.runs, RUNS);
    t.is(free.seeds.size, FREE_SHARE, `the job that was not held made ${free.seeds.size} of the ${RUNS} runs`);
    const all = [...held.seeds, ...free.seeds];
    t.is(new Set(all).size, all.length, 'no run made twice');
    t.deepEqual(all.sort(), Array.from({ length: RUNS }, (_, i) => deriveSeed(1, i)).sort());
  } finally {
    await Promise.all([held.close(), free.close()]);
  }
});

test('the drop words of a batch: set when a run\'s signal aborts (at once if it has), one listener per signal, none left after release', (t) => {
  const a = new AbortController(), b = new AbortController(), c = new AbortController();
  b.abort();
  const d = dropWords([a.signal, undefined, a.signal, b.signal, c.signal]);
  t.deepEqual([...d.words], [0, 0, 0, 1, 0]);
  t.is(getEventListeners(a.signal, 'abort').length, 1, 'two runs, one signal: one listener');
  a.abort();
  t.deepEqual([...d.words], [1, 0, 1, 1, 0]);
  d.release();
  t.is(getEventListeners(c.signal, 'abort').length, 0);
  c.abort();
  t.is(d.words[4], 0, 'released: the batch was answered');
});

test.serial('a run dropped while it played is not verified: no fix replay is played for a caller that will not look', async (t) => {
  const drop = new AbortController();
  class DropWhilePlaying extends Runner {
    plays = 0;
    override async play(s: RunSpec, o: RunOptions, t0: number): Promise<RunResult> {
      this.plays++;
      const r = await super.play(s, o, t0);
      drop.abort();
      return r;
    }
  }
  const engine = new DropWhilePlaying();
  try {
    const repro = readRepro(join(FIXTURES, 'known-km.json'));
    const o: RunOptions = {
      scenario: reproScenario(repro), cpus: repro.cpus, seed: repro.seed, programs: reproPrograms(repro), strategy: Mode.replay,
      schedule: decodeSchedule(repro.schedule), depth: repro.depth, inject: repro.inject, kernel: reproKernel(repro), signal: drop.signal,
    };
    await t.throwsAsync(engine.run(o), { message: /dropped/ });
    t.is(engine.plays, 1, 'the claimed km finding was not replayed with its fix');
  } finally {
    await engine.close();
  }
});

test('a run dropped after it was sent to the in-thread engine\'s thread is skipped there if it has not started', async (t) => {
  await ensureWorkerBuilt();
  const runTask = (await import(INTHREAD_WORKER_FILE)).default as (task: InThreadTask) => InThreadAnswer[];
  const spec = specOf({ scenario: SCENARIOS[0]!, cpus: 2, seed: 1, ops: 4, strategy: Mode.pct });
  const drop = new Int32Array(new SharedArrayBuffer(12));
  drop[1] = 1;
  const runs = [1, 2, 3].map((seed) => ({ spec: { ...spec, seed }, budgetEnd: 0, verify: true }));
  const answers = runTask({ runs, stop: new SharedArrayBuffer(4), drop: drop.buffer as SharedArrayBuffer });
  t.deepEqual(answers.map((a) => ('dropped' in a ? 'dropped' : 'result' in a ? a.result.seed : a.error)), [1, 'dropped', 3]);
});

test.serial('runs the caller no longer wants are dropped by the in-thread engine if not started (a campaign\'s runs ahead, after it ended): in-thread and free-running on its threads', async (t) => {
  const engine = new InThreadEngine();
  try {
    const o: RunOptions = { scenario: SCENARIOS[0]!, cpus: 2, seed: 1, ops: 4, strategy: Mode.pct };
    // controlled runs wait to be sent to the thread: dropped before they are, none is played
    const drops = [1, 2, 3].map(() => new AbortController());
    const runs = drops.map((d, i) => engine.run({ ...o, seed: i + 1, signal: d.signal }));
    for (const d of drops) d.abort();
    const settled = await Promise.allSettled(runs);
    t.deepEqual(settled.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    t.true(settled.every((r) => r.status === 'rejected' && /dropped/.test(String(r.reason))));
    // free-running runs wait for their turn on the threads: the first plays, those whose turn comes after the drop do not
    const free = [1, 2, 3, 4, 5].map(() => new AbortController());
    const frees = free.map((d, i) => engine.run({ ...o, ops: 50, strategy: Mode.os, seed: i + 1, signal: d.signal }));
    t.not((await frees[0]!).status, 'incomplete');
    for (const d of free.slice(1)) d.abort();
    const rest = await Promise.allSettled(frees.slice(1));
    t.true(rest.filter((r) => r.status === 'rejected' && /dropped/.test(String(r.reason))).length >= 3, 'at most the run already under way when the drop came is played');
    // the engine goes on as before, and a run that was not dropped leaves no listener on its signal
    const kept = new AbortController();
    t.not((await engine.run({ ...o, seed: 9, signal: kept.signal })).status, 'incomplete');
    t.is(getEventListeners(kept.signal, 'abort').length, 0);
  } finally {
    await engine.close();
  }
});

test.serial('confirm: a disagreement is a harness error; a run whose schedule overflowed its record, or any run after an interrupt, is confirmed by nothing and stands', async (t) => {
  const engine = new InThreadEngine();
  try {
    const o: RunOptions = { scenario: SCENARIOS[0]!, cpus: 2, seed: 3, ops: 6, strategy: Mode.pct };
    const r = await engine.run(o);
    t.is(r.status, 'clean');
    await t.notThrowsAsync(engine.confirm(o, r));
    // a result the threads do not give: a disagreement
    const wrong = { ...r, stateHash: '0000000000000000' };
    await t.throwsAsync(engine.confirm(o, wrong), { instanceOf: HarnessError, message: /disagree.*final state hash/ });
    // a schedule cut at its record's end cannot be followed by a replay: no verdict either way
    await t.notThrowsAsync(engine.confirm(o, { ...wrong, scheduleOverflow: true }));
    // after an interrupt the report is partial: nothing is confirmed (no harness error instead of exit 130)
    engine.interrupt();
    await t.notThrowsAsync(engine.confirm(o, wrong));
  } finally {
    await engine.close();
  }
});
