// The historical bug corpus: every injected bug is caught by PCT fuzzing with
// a fixed seed, reported with the kind DESIGN.md names, and its repro file
// replays to the same violation at the same step; without the injection the
// same runs are clean.

import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedRunner } from './helpers.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { BUGS } from '../src/percpu/2.6.35/variants.ts';
import { Mode } from '../src/sched/strategy.ts';
import { fuzz } from '../src/explore/fuzz.ts';
import { readRepro, reproPrograms } from '../src/explore/repro.ts';
import { decodeSchedule } from '../src/sched/schedule.ts';

const shared = sharedRunner();

const FUZZ = { budgetMs: 120_000, shrinkBudgetMs: 5_000, strategy: Mode.pct, depth: 3, cpus: 3, ops: 0, seed: 1, keepGoing: false, maxRuns: 400 };

for (const bug of BUGS) {
  test.serial(`${bug.name} is caught by PCT fuzzing (seed 1) as ${bug.expect.join(' or ')}, and its repro replays`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `percpu-${bug.name}-`));
    const res = await fuzz(shared(), { ...FUZZ, scenarios: [scenarioByName(bug.scenario)!], outDir: dir, inject: bug.name });
    t.is(res.findings.length, 1, `not caught in ${res.runs} runs`);
    const f = res.findings[0]!;
    t.true(bug.expect.includes(f.violation.kind), `caught as ${f.violation.kind}`);
    t.true(f.minimal.ops <= f.original.ops && f.minimal.cpus <= f.original.cpus);
    const repro = readRepro(f.reproPath);
    t.is(repro.inject, bug.name);
    const r = await shared().run({
      scenario: scenarioByName(repro.scenario)!, cpus: repro.cpus, seed: repro.seed, programs: reproPrograms(repro),
      strategy: Mode.replay, schedule: decodeSchedule(repro.schedule), inject: bug.name,
    });
    const again = r.violations.find((v) => v.kind === repro.violation.kind);
    t.truthy(again, `replay gave ${r.violations.map((v) => v.kind).join(', ') || 'nothing'}`);
    t.is(again!.step, repro.violation.step);
    t.is(r.diverged, 0);
  });
}

test.serial('without an injected bug, the same fuzzing budget on every bug\'s scenario is clean', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-baseline-'));
  const names = [...new Set(BUGS.map((b) => b.scenario))];
  for (const name of names) {
    const res = await fuzz(shared(), { ...FUZZ, maxRuns: 150, scenarios: [scenarioByName(name)!], outDir: dir, inject: null });
    t.deepEqual(res.findings.map((f) => f.violation.title), [], name);
    t.is(res.runs, 150);
  }
});
