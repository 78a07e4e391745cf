// A campaign split over jobs or shards finds what the campaign run in one
// piece finds: run numbers are partitioned, and a run depends only on its
// number. merge checks that its files belong together.

import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Doc {
  runs: number; cleanRuns: number; cleanPctRuns: number; known: Record<string, number>; byStrategy: Record<string, number>;
  findings: { signature: string; occurrences: number; run: number; firstRun: number; reproPath: string }[];
}

/** What must not depend on how the campaign was split. */
function outcome(d: Doc): unknown {
  return {
    runs: d.runs, clean: d.cleanRuns, cleanPct: d.cleanPctRuns, known: d.known,
    strategies: Object.entries(d.byStrategy).sort(),
    // which run's shrink gave the smallest repro may depend on the split; the first failing run of each signature does not
    findings: d.findings.map((f) => [f.signature, f.occurrences, f.firstRun]).sort(),
  };
}

const CAMPAIGN = ['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--keep-going', '--runs', '24', '--seed', '3', '--quiet'];

test('merge of 3 shards equals the unsharded campaign; --jobs 2 equals --jobs 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-campaign-'));
  const whole = cli([...CAMPAIGN, '--out', dir, '--json', join(dir, 'whole.json')]);
  t.is(whole.code, 1, whole.err);
  const w = JSON.parse(readFileSync(join(dir, 'whole.json'), 'utf8')) as Doc;
  t.true(w.findings.length >= 1);
  const shards = [1, 2, 3].map((i) => {
    const r = cli([...CAMPAIGN, '--out', dir, '--json', join(dir, `s${i}.json`), '--shard', `${i}/3`]);
    t.true(r.code === 0 || r.code === 1, r.err);
    return join(dir, `s${i}.json`);
  });
  const m = cli(['merge', ...shards, '--out', dir, '--json', join(dir, 'merged.json'), '--junit', join(dir, 'merged.xml'), '--html', join(dir, 'merged.html')]);
  t.is(m.code, 1, m.err);
  t.regex(m.out, /^merged 3 of 3 shards/);
  // the merged HTML report draws the first finding's minimal run
  const page = readFileSync(join(dir, 'merged.html'), 'utf8');
  t.regex(page, /id="verdict">violation</);
  t.regex(page, /<svg [^>]*id="timeline"/);
  t.regex(page, /<table id="findings">/);
  const merged = JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8')) as Doc;
  t.deepEqual(outcome(merged), outcome(w));
  // one repro per signature, written by merge, and it replays
  for (const f of merged.findings) t.true(readFileSync(f.reproPath, 'utf8').includes('"tool": "percpu-stress"'));
  t.is(cli(['replay', merged.findings[0]!.reproPath, '--quiet']).code, 1);
  const jobs = cli([...CAMPAIGN, '--out', dir, '--json', join(dir, 'jobs.json'), '--jobs', '2']);
  t.is(jobs.code, 1, jobs.err);
  t.deepEqual(outcome(JSON.parse(readFileSync(join(dir, 'jobs.json'), 'utf8')) as Doc), outcome(w));
  // a merge of two shards out of three says it is partial
  const part = cli(['merge', shards[0]!, shards[2]!, '--out', dir]);
  t.regex(part.out, /shard 2 of 3 is missing: the merge is partial \(exit 6; --allow-partial to accept it\)/);
});

test('without --keep-going, jobs stop at the lowest failing run, as one job does', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-campaign-'));
  const args = ['fuzz', 'all', '--inject', 'workqueue-lost-wakeup', '--runs', '60', '--seed', '2', '--quiet', '--out', dir];
  const one = cli([...args, '--json', join(dir, 'one.json')]);
  const two = cli([...args, '--json', join(dir, 'two.json'), '--jobs', '2']);
  t.is(one.code, 1, one.err);
  t.is(two.code, 1, two.err);
  const a = JSON.parse(readFileSync(join(dir, 'one.json'), 'utf8')) as Doc;
  const b = JSON.parse(readFileSync(join(dir, 'two.json'), 'utf8')) as Doc;
  t.is(a.findings.length, 1);
  t.deepEqual(b.findings.map((f) => [f.signature, f.run]), a.findings.map((f) => [f.signature, f.run]));
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
