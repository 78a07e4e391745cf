// No verdict from an interrupted or mismatched run: a finding whose
// classification (the replay with its known issue's fix) was cut by a signal
// is unclassified in a partial report, never a new finding; a machine whose
// configuration differs from what the command asked for is bad input (exit
// 2) before any run.

import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { sharedRunner } from './helpers.ts';
import { Runner, type RunOptions, type RunResult } from '../src/run/main/runner.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { Mode } from '../src/sched/strategy.ts';
import { fuzz } from '../src/explore/fuzz.ts';
import { classify } from '../src/check/known.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const LIB = new URL('../scenarios/lib/scenario.ts', import.meta.url).pathname;
const shared = sharedRunner();

/**
 * A signal that arrives right after the first run that will be verified (not
 * a calibration run): what runs next, the replay with the fix, is interrupted.
 */
function interruptAfterFirstRun(r: Runner): void {
  const self = r as unknown as { runOnce: (o: RunOptions) => Promise<{ result: RunResult }> };
  const once = self.runOnce.bind(r);
  let first = true;
  self.runOnce = async (o) => {
    const out = await once(o);
    if (first && o.verifyKnown !== false) {
      first = false;
      r.interrupt();
    }
    return out;
  };
}

test.serial('a known issue whose fix-verification replay is interrupted is unclassified, not a finding: the run is interrupted', async (t) => {
  // km hands out stale areas in a controlled run: km-unzeroed's mechanism fires, then the replay with its fix is cut
  const runner = new Runner();
  t.teardown(() => runner.close());
  interruptAfterFirstRun(runner);
  const r = await runner.run({ scenario: scenarioByName('km')!, cpus: 3, seed: 1, ops: 40, strategy: Mode.pct, depth: 3 });
  const v = r.violations.find((x) => x.mechanism === 'km-unzeroed');
  t.truthy(v, r.violations.map((x) => x.title).join('\n'));
  t.is(r.status, 'interrupted');
  t.regex(v!.unclassified ?? '', /the replay with its fix \(alloc-clears-area\) was interrupted/);
  t.is(v!.known, undefined);
  t.false(classify(r.violations), 'nothing counts');
  // and a campaign interrupted that way ends partial, with no finding and no repro
  const runner2 = new Runner();
  t.teardown(() => runner2.close());
  interruptAfterFirstRun(runner2);
  const dir = mkdtempSync(join(tmpdir(), 'percpu-verdict-'));
  const res = await fuzz(runner2, {
    scenarios: [scenarioByName('km')!], budgetMs: 60_000, shrinkBudgetMs: 10_000, strategy: Mode.pct, depth: 3, cpus: 3, ops: 40, seed: 1,
    keepGoing: false, outDir: dir, inject: null, maxRuns: 1,
  });
  t.deepEqual(res.findings, []);
  t.is(res.unclassified?.[0]?.mechanism, 'km-unzeroed');
});

test.serial('the same run, not interrupted, is the known issue, proven by its fix', async (t) => {
  const r = await shared().run({ scenario: scenarioByName('km')!, cpus: 3, seed: 1, ops: 40, strategy: Mode.pct, depth: 3 });
  const v = r.violations.find((x) => x.mechanism === 'km-unzeroed');
  t.is(v?.known, 'km-unzeroed');
  t.is(v?.knownProof, 'fix-verified');
  t.is(r.status, 'known');
});

test('a scenario file whose config ignores --cpus is bad input before any run (run and fuzz: exit 2, one line)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-verdict-'));
  const file = join(dir, 'c.ts');
  writeFileSync(file, `import { builder, type Scenario } from '${LIB}';\nexport default { name: 'c', description: 'd', config: () => ({ cpus: 1 }), ` +
    'program(ctx) { const b = builder(this.name, ctx); while (b.length < ctx.ops) b.alloc(8, 8); return b.build(); } } as Scenario;\n');
  for (const args of [['run', file, '--cpus', '4', '--ops', '5'], ['fuzz', file, '--cpus', '4', '--runs', '3']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    t.is(r.status, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    // the loader's own probe (config(2, 1)) or the machine check (config(4, seed)): one line either way
    t.regex(r.stderr, /c(\.ts)?: config\(\d, \d+\) (returned cpus: 1|gives a machine of 1 CPU, the command asked for 4)/);
    t.notRegex(r.stdout, /leak|soft lockup|repro/);
  }
});
