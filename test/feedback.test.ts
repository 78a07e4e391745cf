// Novelty feedback: runs record what they covered, the corpus grows only on
// new coverage, mutation runs replay corpus schedules, and each kind of
// coverage is recorded by the run that does it.

import test from 'ava';
import { sharedRunner } from './helpers.ts';
import { SCENARIOS, scenarioByName } from '../scenarios/index.ts';
import { Mode } from '../src/sched/strategy.ts';
import { fuzz, mutateSchedule } from '../src/explore/fuzz.ts';
import { COV_BITS_PER_KIND, Cov, covIndex } from '../src/shm/coverage.ts';

const shared = sharedRunner();

test.serial('a feedback campaign grows its corpus only on new coverage, and mutates corpus schedules', async (t) => {
  const res = await fuzz(shared(), {
    scenarios: [...SCENARIOS], budgetMs: 600_000, shrinkBudgetMs: 0, strategy: Mode.portfolio, depth: 3, cpus: 3, ops: 0, seed: 4,
    keepGoing: true, outDir: '', inject: null, writeRepro: false, maxRuns: 60, feedback: true,
  });
  const c = res.coverage!;
  t.is(c.curve.length, res.runs);
  let prev = { bits: 0, corpus: 0 };
  for (const p of c.curve) {
    t.true(p.bits >= prev.bits);
    // a new corpus entry only with new bits, and at most one per run
    if (p.corpus > prev.corpus) t.true(p.bits > prev.bits, `run ${p.runs}`);
    t.true(p.corpus - prev.corpus <= 1);
    prev = p;
  }
  t.true(c.corpus >= 2 && c.corpus < res.runs);
  t.true(c.byKind.every((n) => n > 0), `every kind covered: ${c.byKind.join(', ')}`);
  t.is(c.byKind.reduce((a, b) => a + b, 0), c.bits);
  t.true((res.byStrategy.mutation ?? 0) > 0);
  // the portfolio still reaches every strategy
  for (const s of ['pct/d3', 'pct/d2', 'pct/d1', 'pos', 'urw', 'random']) t.true((res.byStrategy[s] ?? 0) > 0, s);
  // the same campaign again: the same coverage and corpus (feedback is deterministic too)
  const again = await fuzz(shared(), {
    scenarios: [...SCENARIOS], budgetMs: 600_000, shrinkBudgetMs: 0, strategy: Mode.portfolio, depth: 3, cpus: 3, ops: 0, seed: 4,
    keepGoing: true, outDir: '', inject: null, writeRepro: false, maxRuns: 60, feedback: true,
  });
  t.deepEqual(again.coverage, c);
});

test.serial('a run records the coverage of what it does: slot transitions, reads-from, overlaps, lockdep edges', async (t) => {
  const r = await shared().run({ scenario: scenarioByName('reclaim-race')!, cpus: 3, seed: 2, ops: 40, strategy: Mode.random, coverage: true });
  const kinds = new Set(r.coverage!.map((b) => Math.floor(b / COV_BITS_PER_KIND)));
  t.deepEqual([...kinds].sort(), [Cov.EDGE, Cov.READS_FROM, Cov.SLOT, Cov.OVERLAP]);
  // pcpu_alloc_mutex -> pcpu_lock is always taken in that order by an allocation
  const none = await shared().run({ scenario: scenarioByName('reclaim-race')!, cpus: 3, seed: 2, ops: 40, strategy: Mode.random });
  t.is(none.coverage, undefined);
  t.true(r.coverage!.every((b) => b >= 0 && b < 4 * COV_BITS_PER_KIND));
  t.is(Math.floor(covIndex(Cov.SLOT, 1, 2, 0, 0) / COV_BITS_PER_KIND), Cov.SLOT);
});

test('schedule mutations swap a racing pair, move a preemption or cut the schedule short', (t) => {
  const sched = [0, 5, 2, 3, 0, 4, 4, 2];
  const seen = new Set<string>();
  for (let r = 1; r < 200; r++) {
    const m = mutateSchedule(sched, r);
    t.is(m.length % 2, 0);
    t.true(m.every((x) => Number.isInteger(x) && x >= 0));
    t.notDeepEqual(m, sched);
    // every slice still runs at least one step
    for (let i = 1; i < m.length; i += 2) t.true(m[i]! >= 1);
    seen.add(m.length < sched.length ? 'cut' : m[0] !== sched[0] || m[2] !== sched[2] || m[4] !== sched[4] || m[6] !== sched[6] ? 'swap' : 'move');
  }
  t.deepEqual([...seen].sort(), ['cut', 'move', 'swap']);
});
