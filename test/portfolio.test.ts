// The campaign keeps its promises: every scenario runs under every
// strategy, equally; a finding's provenance is the run that produced its
// repro; the residual risk is per scenario and only claimed for a clean
// campaign.

import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { SCENARIOS, scenariosOf } from '../scenarios/index.ts';
import { Mode, MODE_NAMES } from '../src/sched/strategy.ts';
import { deriveSeed, planRun, strategiesOf, strategyLabel } from '../src/explore/fuzz.ts';
import { generatePrograms } from '../scenarios/lib/scenario.ts';
import { OP_NAMES, OP_WORDS } from '../scenarios/lib/program.ts';
import { scenarioConfig } from '../src/run/main/runner.ts';
import { planMachine } from '../src/run/machine.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const PORTFOLIO = { strategy: Mode.portfolio, depth: 3, scenarios: SCENARIOS };

test('the rotation makes every (scenario, strategy, depth) pair once per block of scenarios x strategies runs', (t) => {
  const S = SCENARIOS.length, P = strategiesOf(PORTFOLIO).length;
  const seen = new Map<string, number>();
  for (let run = 0; run < 2 * S * P; run++) {
    const p = planRun(PORTFOLIO, run);
    const key = `${SCENARIOS[p.scenario]!.name} ${strategyLabel(p.mode, p.depth)}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  t.is(seen.size, S * P);
  t.true([...seen.values()].every((n) => n === 2));
  // irq-free under PCT depth 3 (the pair the old rotation never made)
  t.true(seen.has('irq-free pct/d3'));
});

test('with an injected bug every other run goes to its scenario, under every strategy, and the rest still make every pair', (t) => {
  const o = { ...PORTFOLIO, inject: 'single-mutex' }; // exposed best by irq-free
  const S = SCENARIOS.length, P = strategiesOf(o).length;
  const fav = new Map<string, number>();
  const rest = new Set<string>();
  for (let run = 0; run < 2 * S * P; run++) {
    const p = planRun(o, run);
    const label = strategyLabel(p.mode, p.depth);
    if (run % 2 === 0) {
      t.is(SCENARIOS[p.scenario]!.name, 'irq-free');
      fav.set(label, (fav.get(label) ?? 0) + 1);
    } else {
      rest.add(`${SCENARIOS[p.scenario]!.name} ${label}`);
    }
  }
  t.is(fav.size, P);
  t.is(rest.size, S * P);
});

test('fuzz all --runs N reports runs per scenario and strategy, each pair as often as the next', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-pairs-'));
  // 4.1 first: its scenarios are 2.6.35's and its own, and its baseline's known issues do not fail the campaign
  const S41 = scenariosOf('4.1');
  const r41 = cli(['fuzz', 'all', '--kernel', '4.1', '--runs', String(S41.length * 6), '--budget', '10m', '--seed', '1', '--json', join(dir, 'f41.json'), '--out', dir]);
  t.is(r41.code, 0, r41.out + r41.err);
  const doc41 = JSON.parse(readFileSync(join(dir, 'f41.json'), 'utf8')) as { byScenario: Record<string, { runs: number }> };
  t.deepEqual(Object.keys(doc41.byScenario).sort(), S41.map((s) => s.name).sort());
  for (const [name, tally] of Object.entries(doc41.byScenario)) t.is(tally.runs, 6, name);
  t.regex(r41.out, /known issues of the 4\.1 baseline met: .*empty-pop-unlocked/);
  const S = scenariosOf('2.6.35').length;
  const r = cli(['fuzz', 'all', '--runs', String(S * 6 * 4), '--budget', '10m', '--seed', '1', '--json', join(dir, 'f.json'), '--out', dir]);
  t.is(r.code, 0, r.out + r.err);
  const doc = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as { byScenario: Record<string, { runs: number; byStrategy: Record<string, number> }>; residualRisk: number | null };
  t.deepEqual(Object.keys(doc.byScenario).sort(), scenariosOf('2.6.35').map((s) => s.name).sort());
  for (const [name, tally] of Object.entries(doc.byScenario)) {
    t.is(tally.runs, 24, name);
    t.true(Object.values(tally.byStrategy).every((n) => n === 4), name);
    t.deepEqual(Object.keys(tally.byStrategy).sort(), ['pct/d1', 'pct/d2', 'pct/d3', 'pos', 'random', 'urw'], name);
  }
  t.regex(r.out, /runs per scenario and strategy:\n/);
  t.regex(r.out, /\n  irq-free +24: pct\/d3 4, pct\/d2 4, pct\/d1 4, pos 4, urw 4, random 4\n/);
  // a clean campaign claims a residual risk, per scenario, and says what interrupts do to it
  t.regex(r.out, /residual risk \(per scenario; the worst is [a-z-]+\)/);
  t.regex(r.out, /Interrupts are outside that bound/);
  t.not(doc.residualRisk, null);
});

test('a finding\'s run, seed, scenario and strategy are those of the run that produced its repro, under --jobs too; no residual risk after a failing campaign', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-prov-'));
  const args = ['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--keep-going', '--runs', '24', '--shrink-budget', '10m', '--budget', '10m', '--seed', '3', '--jobs', '2', '--out', dir, '--json', join(dir, 'f.json'), '--quiet'];
  const r = cli(args);
  t.is(r.code, 1, r.err);
  const doc = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as {
    residualRisk: number | null;
    findings: { run: number; seed: number; scenario: string; strategy: string; reproPath: string; firstRun: number }[];
  };
  t.true(doc.findings.length > 0);
  const o = { ...PORTFOLIO, inject: 'reclaim-lock-inversion' };
  for (const f of doc.findings) {
    const plan = planRun(o, f.run - 1);
    t.is(f.seed, deriveSeed(3, f.run - 1), `run ${f.run}'s seed`);
    t.is(f.scenario, SCENARIOS[plan.scenario]!.name);
    t.is(f.strategy, strategyLabel(plan.mode, plan.depth));
    const repro = JSON.parse(readFileSync(f.reproPath, 'utf8')) as { scenario: string; strategy: string; depth: number };
    t.is(repro.scenario, f.scenario);
    t.is(repro.strategy, MODE_NAMES[plan.mode]);
    t.true(f.firstRun <= f.run);
  }
  t.is(doc.residualRisk, null);
  t.notRegex(r.out, /residual risk/);
});

test('the programs of fuzz all\'s first 1,000 runs hold every op of the program language on every first-chunk shape and backend, per kernel', (t) => {
  // stuck, lock and unlock are the self-tests' ops (the watchdog, lockdep): no scenario makes them
  const selfTest = ['stuck', 'lock', 'unlock'];
  // an interrupt handler's allocation is 4.1's (GFP_ATOMIC): 2.6.35's pcpu_alloc may sleep, no scenario of it asks
  for (const [kernel, not] of [['2.6.35', [...selfTest, 'irqalloc']], ['4.1', selfTest]] as const) {
    const scenarios = scenariosOf(kernel);
    const plan = { strategy: Mode.portfolio, depth: 3, scenarios, kernel };
    const seen = new Set<string>();
    for (let run = 0; run < 1000; run++) {
      const p = planRun(plan, run);
      const s = scenarios[p.scenario]!;
      const seed = deriveSeed(1, run);
      const cfg = planMachine(scenarioConfig(s, 3, seed, undefined, kernel)).cfg;
      for (const prog of generatePrograms(s, 3, seed, s.fuzzOps || 30)) {
        for (let i = 0; i < prog.length; i += OP_WORDS) seen.add(`${OP_NAMES[prog[i]!]} ${cfg.firstChunk}/${cfg.backend}`);
      }
    }
    const ops = Object.values(OP_NAMES).filter((n) => !(not as readonly string[]).includes(n));
    const shapes = ['embed/vm', 'page/vm', 'embed/km']; // km cannot have a page first chunk (both kernels refuse it)
    const missing = ops.flatMap((op) => shapes.map((sh) => `${op} ${sh}`)).filter((k) => !seen.has(k));
    t.deepEqual(missing, [], kernel);
  }
});
