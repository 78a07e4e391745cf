// A campaign split over jobs or shards finds what the campaign run in one
// piece finds: run numbers are partitioned, and a run depends only on its
// number. merge checks that its files belong together.

import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parse, type TestSuites } from 'junit2json';
import { mergeResults } from '../src/explore/campaign.ts';
import type { FuzzResult } from '../src/explore/fuzz.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Finding { signature: string; occurrences: number; run: number; firstRun: number; scenario: string; seed: number; strategy: string; reproPath: string }
interface Doc {
  runs: number; cleanRuns: number; cleanPctRuns: number; known: Record<string, number>; byStrategy: Record<string, number>;
  byScenario: Record<string, { runs: number; byStrategy: Record<string, number>; cleanPct: number }>;
  findings: Finding[];
}

/** What must not depend on how the campaign was split: counts, and each finding where it was first seen. */
function outcome(d: Doc): unknown {
  return {
    runs: d.runs, clean: d.cleanRuns, cleanPct: d.cleanPctRuns, known: d.known,
    strategies: Object.entries(d.byStrategy).sort(),
    scenarios: Object.entries(d.byScenario).map(([n, x]) => [n, x.runs, x.cleanPct, Object.entries(x.byStrategy).sort()]).sort(),
    findings: d.findings.map((f) => [f.signature, f.scenario, f.run, f.firstRun, f.seed, f.strategy, f.occurrences]),
  };
}

/** The order of the JSON's counts, as a reader of the file meets them. */
function keyOrder(d: Doc): unknown {
  return [Object.keys(d.byStrategy), Object.keys(d.known), Object.entries(d.byScenario).map(([n, x]) => [n, Object.keys(x.byStrategy)])];
}

/** A JUnit file's test cases as CI shows them: classname, name, and passed, failed or skipped. */
async function junitCases(file: string): Promise<string[]> {
  const doc = (await parse(readFileSync(file, 'utf8'))) as TestSuites;
  return (doc.testsuite ?? []).flatMap((s) => (s.testcase ?? []).map((c) => `${c.classname} | ${c.name} | ${c.failure ? 'failed' : c.skipped ? 'skipped' : 'passed'}`)).sort();
}

/** A KTAP file's tests, top and nested: name and result. */
function ktapTests(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => /^ *(ok|not ok|# Subtest:) /.test(l)).map((l) => l.replace(/^( *(?:ok|not ok)) \d+ /, '$1 '));
}

const CAMPAIGN = ['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--keep-going', '--runs', '48', '--shrink-budget', '10m', '--budget', '10m', '--seed', '1', '--quiet'];

test('merge of the n shards of a campaign, n = 1..4, is the campaign run in one piece: its JSON, JUnit and KTAP; --jobs 2 too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-campaign-'));
  // (each run its own repro folder: merge writes the repros it keeps)
  const out = (name: string): string => {
    mkdirSync(join(dir, name));
    return join(dir, name);
  };
  const reports = (name: string): string[] => ['--json', join(dir, `${name}.json`), '--junit', join(dir, `${name}.xml`), '--ktap', join(dir, `${name}.tap`)];
  const whole = cli([...CAMPAIGN, '--out', out('whole'), ...reports('whole')]);
  t.is(whole.code, 1, whole.err);
  const w = JSON.parse(readFileSync(join(dir, 'whole.json'), 'utf8')) as Doc;
  t.true(w.findings.length >= 2, 'a campaign with more than one finding');
  // each finding is filed under the scenario where its first failing run was, and that run made its repro
  for (const f of w.findings) t.is(JSON.parse(readFileSync(f.reproPath, 'utf8')).scenario, f.scenario);
  const wholeCases = await junitCases(join(dir, 'whole.xml'));
  for (const f of w.findings) t.false(wholeCases.includes(`percpu-stress.fuzz.${f.scenario} | fuzz ${f.scenario} (portfolio, cpus=3) | passed`), `${f.scenario} failed, not passed`);
  for (let n = 1; n <= 4; n++) {
    const shards = Array.from({ length: n }, (_, i) => {
      const f = join(dir, `s${n}-${i + 1}.json`);
      const r = cli([...CAMPAIGN, '--out', i === 0 ? out(`s${n}`) : join(dir, `s${n}`), '--json', f, '--shard', `${i + 1}/${n}`]);
      t.true(r.code === 0 || r.code === 1, r.err);
      return f;
    });
    const m = cli(['merge', ...shards, '--out', out(`m${n}`), ...reports(`m${n}`)]);
    t.is(m.code, 1, m.err);
    t.regex(m.out, new RegExp(`^merged ${n} of ${n} shards?`));
    t.deepEqual(outcome(JSON.parse(readFileSync(join(dir, `m${n}.json`), 'utf8')) as Doc), outcome(w), `${n} shards: JSON`);
    t.deepEqual(await junitCases(join(dir, `m${n}.xml`)), wholeCases, `${n} shards: JUnit`);
    t.deepEqual(ktapTests(join(dir, `m${n}.tap`)), ktapTests(join(dir, 'whole.tap')), `${n} shards: KTAP`);
  }
  // one repro per signature, written by merge, and it replays
  const merged = JSON.parse(readFileSync(join(dir, 'm4.json'), 'utf8')) as Doc;
  for (const f of merged.findings) t.true(readFileSync(f.reproPath, 'utf8').includes('"tool": "percpu-stress"'));
  t.is(cli(['replay', merged.findings[0]!.reproPath, '--quiet']).code, 1);
  const jobs = cli([...CAMPAIGN, '--out', out('jobs'), '--json', join(dir, 'jobs.json'), '--jobs', '2']);
  t.is(jobs.code, 1, jobs.err);
  const j = JSON.parse(readFileSync(join(dir, 'jobs.json'), 'utf8')) as Doc;
  t.deepEqual(outcome(j), outcome(w));
  // and in the same order: which job met a strategy or a known issue first does not show in the JSON
  t.deepEqual(keyOrder(j), keyOrder(w));
  // the merged HTML report draws the first finding's minimal run
  t.is(cli(['merge', join(dir, 's2-1.json'), join(dir, 's2-2.json'), '--out', out('h'), '--html', join(dir, 'merged.html')]).code, 1);
  const page = readFileSync(join(dir, 'merged.html'), 'utf8');
  t.regex(page, /id="verdict">violation</);
  t.regex(page, /<svg [^>]*id="timeline"/);
  t.regex(page, /<table id="findings"[ >]/);
  // a merge of two shards out of three says it is partial; with findings they decide the exit code, and it says so
  const part = cli(['merge', join(dir, 's3-1.json'), join(dir, 's3-3.json'), '--out', out('p')]);
  t.is(part.code, 1);
  t.regex(part.out, /shard 2 of 3 is missing: the merge is partial \(the findings make the exit code 1; without them it would be 6\)/);
});

test('without --keep-going, jobs stop at the lowest failing run, as one job does', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-campaign-'));
  const args = ['fuzz', 'all', '--inject', 'workqueue-lost-wakeup', '--runs', '60', '--shrink-budget', '10m', '--budget', '10m', '--seed', '2', '--quiet', '--out', dir];
  const one = cli([...args, '--json', join(dir, 'one.json')]);
  const two = cli([...args, '--json', join(dir, 'two.json'), '--jobs', '2']);
  t.is(one.code, 1, one.err);
  t.is(two.code, 1, two.err);
  const a = JSON.parse(readFileSync(join(dir, 'one.json'), 'utf8')) as Doc;
  const b = JSON.parse(readFileSync(join(dir, 'two.json'), 'utf8')) as Doc;
  t.is(a.findings.length, 1);
  t.deepEqual(b.findings.map((f) => [f.signature, f.run]), a.findings.map((f) => [f.signature, f.run]));
});

test('merged counts are listed in one order, whichever part met a strategy or a known issue first', (t) => {
  const part = (strategies: string[], known: string[]): FuzzResult => ({
    runs: 2, cleanRuns: 0, incompleteRuns: 0, ms: 1, findings: [], meanSteps: 10, residualRisk: null, residual: null, cleanPctRuns: 0,
    byStrategy: Object.fromEntries(strategies.map((k) => [k, 1])), known: Object.fromEntries(known.map((k) => [k, 1])),
    byScenario: { 'irq-free': { runs: 2, byStrategy: Object.fromEntries(strategies.map((k) => [k, 1])), cleanPct: 0, k: 1, outgrown: 0 } },
  }) as FuzzResult;
  const a = part(['random', 'pos', 'pct/d3'], ['walk-escape', 'km-unzeroed']);
  const b = part(['urw', 'pct/d3', 'pct/d1'], ['km-unzeroed', 'align-not-pow2']);
  const o = { keepGoing: true, entities: 3, depth: 3, keepFiles: true };
  const ab = mergeResults([a, b], o);
  t.is(JSON.stringify(ab), JSON.stringify(mergeResults([b, a], o)));
  t.deepEqual(Object.keys(ab.byStrategy), ['pct/d3', 'pct/d1', 'pos', 'urw', 'random']);
  t.deepEqual(Object.keys(ab.byScenario['irq-free']!.byStrategy), ['pct/d3', 'pct/d1', 'pos', 'urw', 'random']);
  t.deepEqual(Object.keys(ab.known), ['align-not-pow2', 'km-unzeroed', 'walk-escape']);
  t.deepEqual(ab.known, { 'align-not-pow2': 1, 'km-unzeroed': 2, 'walk-escape': 1 });
});

test('merge refuses files that are not shards of one campaign, with one line and exit 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-campaign-'));
  const base = ['fuzz', 'irq-free', '--runs', '4', '--quiet', '--out', dir];
  t.is(cli([...base, '--seed', '1', '--shard', '1/2', '--json', join(dir, 'a.json')]).code, 0);
  t.is(cli([...base, '--seed', '2', '--shard', '2/2', '--json', join(dir, 'b.json')]).code, 0);
  writeFileSync(join(dir, 'junk.json'), '{"tool":"other"}');
  const cases: [string[], RegExp][] = [
    [[join(dir, 'a.json'), join(dir, 'b.json')], /b\.json: config: not the campaign of .*a\.json/],
    [[join(dir, 'a.json'), join(dir, 'a.json')], /shard 1\/2 given twice/],
    [[join(dir, 'junk.json')], /junk\.json: not the JSON result of percpu-stress fuzz/],
    [[join(dir, 'nope.json')], /cannot read .*nope\.json: ENOENT/],
    [[], /merge: which shard files\?/],
  ];
  for (const [files, re] of cases) {
    const r = cli(['merge', ...files, '--out', dir]);
    t.is(r.code, 2, r.out);
    t.is(r.err.trim().split('\n').length, 1, r.err);
    t.regex(r.err, re);
  }
  t.is(cli(['fuzz', 'irq-free', '--shard', '3/2']).code, 2);
  t.is(cli(['fuzz', 'irq-free', '--jobs', '0']).code, 2);
});
