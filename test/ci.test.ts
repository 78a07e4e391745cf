// The CI recipes of docs/ci.md, run, with a short campaign (--runs instead
// of --budget) and `npx`/`npm` shims (this checkout is installed): the
// GitLab one by gitlab-ci-local (a dev dependency: GitLab's own rules for
// stages, `when:`, parallel matrices and artifacts), the GitHub Actions one
// by a runner of its rules written here (no GitHub runner works offline):
// jobs in `needs` order, a job without `if` only when the jobs it needs
// succeeded, `if: ${{ !cancelled() }}` whatever they did, a failed step
// skipping the steps after it that have no `if`, artifacts handed from the
// upload steps to the download step, and the JUnit report read as the
// publishing action reads it. Each recipe is run with every shard clean,
// with a bug injected (a finding in the shards), and with one shard that
// fails (exit 5, a lost runner): the merged report must be there each time
// and the pipeline's status must be the right one.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parse as parseJunit, type TestSuites } from 'junit2json';

const ROOT = realpathSync(new URL('..', import.meta.url).pathname);
const GITLAB_CI_LOCAL = join(ROOT, 'node_modules/.bin/gitlab-ci-local');
/** The campaign made short by a number of runs; the recipe's budget stays, as a backstop only. */
const SHORT = '--budget 10m --runs 8';

interface Scenario { fuzzExtra: string; failShard: number | null }

/**
 * `npx percpu-stress ...` runs this checkout's CLI (with extra fuzz options),
 * except the shard named by FAIL_SHARD, which ends as a lost runner would
 * (exit 5, nothing written); `npm ci` does nothing.
 */
function shims(dir: string, s: Scenario): NodeJS.ProcessEnv {
  const bin = join(dir, '.bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'npx'), `#!/bin/sh
[ "$1" = percpu-stress ] || exit 127
shift
if [ "$1" = fuzz ]; then
  case " $* " in *" --shard ${s.failShard ?? 'none'}/"*) echo "percpu-stress: the runner went away" >&2; exit 5;; esac
  exec "${process.execPath}" "${ROOT}/bin/percpu-stress.js" "$@" ${s.fuzzExtra}
fi
exec "${process.execPath}" "${ROOT}/bin/percpu-stress.js" "$@"
`);
  writeFileSync(join(bin, 'npm'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'npx'), 0o755);
  chmodSync(join(bin, 'npm'), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

interface Step { run?: string; uses?: string; if?: string; with?: Record<string, unknown> }
interface Job { needs?: string | string[]; if?: string; strategy?: { matrix: Record<string, unknown[]> }; steps: Step[] }
interface Workflow { permissions?: Record<string, string>; jobs: Record<string, Job> }

/** Does a step or job condition let it run after a failure? (the functions GitHub has for it) */
const runsAnyway = (cond: string | undefined): boolean => cond !== undefined && /(\balways\(\)|!\s*cancelled\(\)|\bfailure\(\))/.test(cond);

interface Pipeline { ok: boolean; jobs: Record<string, boolean | 'skipped'>; dir: string; published: TestSuites | null }

/** Run examples/ci/github-actions.yml by GitHub's rules (see the top of this file). */
async function githubActions(s: Scenario): Promise<Pipeline> {
  const wf = parse(readFileSync(join(ROOT, 'examples/ci/github-actions.yml'), 'utf8')) as Workflow;
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-gha-')));
  const env = shims(base, s);
  const artifacts = join(base, 'artifacts');
  mkdirSync(artifacts);
  const status: Record<string, boolean | 'skipped'> = {};
  let published: TestSuites | null = null;
  let mergeDir = '';
  for (const [name, job] of Object.entries(wf.jobs)) {
    const needs = job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
    if (!runsAnyway(job.if) && needs.some((n) => status[n] !== true)) {
      status[name] = 'skipped';
      continue;
    }
    const matrix = job.strategy?.matrix ?? {};
    const keys = Object.keys(matrix);
    const combos = keys.length ? (matrix[keys[0]!] as unknown[]).map((v) => ({ [keys[0]!]: v })) : [{}];
    let jobOk = true;
    for (const combo of combos) {
      const ws = join(base, `${name}-${Object.values(combo).join('-') || 'job'}`);
      mkdirSync(ws);
      if (name === 'merge') mergeDir = ws;
      const expand = (x: string): string => x.replace(/\$\{\{\s*matrix\.(\w+)\s*\}\}/g, (_, k: string) => String((combo as Record<string, unknown>)[k]));
      let failed = false;
      for (const step of job.steps) {
        if (failed && !runsAnyway(step.if)) continue;
        const w = (k: string): string => expand(String(step.with?.[k] ?? ''));
        if (step.uses?.startsWith('actions/upload-artifact')) {
          for (const p of w('path').split('\n').map((x) => x.trim()).filter(Boolean)) {
            if (existsSync(join(ws, p))) cpSync(join(ws, p), join(artifacts, w('name'), p), { recursive: true });
            else if (w('if-no-files-found') !== 'ignore') failed = true;
          }
        } else if (step.uses?.startsWith('actions/download-artifact')) {
          const into = join(ws, w('path'));
          mkdirSync(into, { recursive: true });
          // merge-multiple: every artifact's files into the one folder
          for (const a of readdirSync(artifacts)) cpSync(join(artifacts, a), w('merge-multiple') === 'true' ? into : join(into, a), { recursive: true });
        } else if (step.uses?.startsWith('mikepenz/action-junit-report')) {
          // the publishing action: it reads the report it is given (and fails the step if there is none)
          const file = join(ws, w('report_paths'));
          if (existsSync(file)) published = (await parseJunit(readFileSync(file, 'utf8'))) as TestSuites;
          else failed = true;
        } else if (step.run !== undefined && step.run.trim() !== 'npm ci') {
          const r = spawnSync('bash', ['-e', '-c', expand(step.run).replace(/--budget 10m/g, SHORT)], { cwd: ws, env, encoding: 'utf8' });
          if (r.status !== 0) failed = true;
        }
      }
      if (failed) jobOk = false;
    }
    status[name] = jobOk;
  }
  return { ok: Object.values(status).every((x) => x === true), jobs: status, dir: mergeDir, published };
}

/** Run examples/ci/gitlab-ci.yml with gitlab-ci-local (shell executor, each job in its own folder). */
function gitlab(s: Scenario): Pipeline {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-glc-')));
  const env = shims(base, s);
  const repo = join(base, 'repo');
  mkdirSync(repo);
  writeFileSync(join(repo, '.gitlab-ci.yml'), readFileSync(join(ROOT, 'examples/ci/gitlab-ci.yml'), 'utf8').replace(/--budget 10m/g, SHORT));
  const git = (...a: string[]): void => {
    spawnSync('git', ['-c', 'user.email=ci@example.invalid', '-c', 'user.name=ci', ...a], { cwd: repo });
  };
  git('init', '-q', '.');
  git('add', '.gitlab-ci.yml');
  git('commit', '-qm', 'recipe');
  const r = spawnSync(GITLAB_CI_LOCAL, ['--force-shell-executor', '--shell-isolation', '--home', join(base, 'home')], { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = r.stdout + r.stderr;
  const jobs: Record<string, boolean | 'skipped'> = {};
  for (const m of out.matchAll(/^ (PASS|FAIL|WARN) +(\S.*?)\s*$/gm)) jobs[m[2]!] = m[1] !== 'FAIL';
  return { ok: r.status === 0, jobs, dir: repo, published: null };
}

function merged(dir: string): { findings: { reproPath: string }[]; missing: number[] } {
  return JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8')) as { findings: { reproPath: string }[]; missing: number[] };
}

const CLEAN: Scenario = { fuzzExtra: '', failShard: null };
const BUG: Scenario = { fuzzExtra: '--inject single-mutex', failShard: null };
const BUG_AND_LOST: Scenario = { fuzzExtra: '--inject single-mutex', failShard: 3 };
const LOST: Scenario = { fuzzExtra: '', failShard: 3 };

test('the GitHub Actions recipe: shards and merge pass on the faithful code, and its JUnit report is published', async (t) => {
  const p = await githubActions(CLEAN);
  t.deepEqual(p.jobs, { fuzz: true, merge: true });
  t.true(p.ok);
  const m = merged(p.dir);
  t.deepEqual([m.missing, m.findings.length], [[], 0]);
  t.is(p.published?.failures, 0);
  t.regex(readFileSync(join(p.dir, 'merged.tap'), 'utf8'), /^KTAP version 1\n/);
});

test('the GitHub Actions recipe with a bug found in the shards: the merge fails with the findings, their repros and a published failed case', async (t) => {
  const p = await githubActions(BUG);
  t.deepEqual(p.jobs, { fuzz: true, merge: false });
  t.false(p.ok);
  t.true(merged(p.dir).findings.length >= 1);
  t.true(readdirSync(join(p.dir, 'repros')).some((f) => f.startsWith('repro-')));
  t.true((p.published?.failures ?? 0) >= 1, JSON.stringify(p.published).slice(0, 500));
});

test('the GitHub Actions recipe with one shard lost: the merge still runs, keeps the others\' findings and repros, names the missing shard and fails', async (t) => {
  const p = await githubActions(BUG_AND_LOST);
  t.deepEqual(p.jobs, { fuzz: false, merge: false });
  const m = merged(p.dir);
  t.deepEqual(m.missing, [3]);
  t.true(m.findings.length >= 1);
  t.true(readdirSync(join(p.dir, 'repros')).some((f) => f.startsWith('repro-')));
  t.true((p.published?.failures ?? 0) >= 1, 'the findings and the missing shard are failed cases on the run page');
  // a lost shard and no finding: the merge fails as partial (exit 6), its report there all the same
  const lost = await githubActions(LOST);
  t.deepEqual(lost.jobs, { fuzz: false, merge: false });
  t.deepEqual(merged(lost.dir).missing, [3]);
  t.regex(readFileSync(join(lost.dir, 'merged.xml'), 'utf8'), /<failure message="partial merge: shard 3 of 4 is missing"/);
});

test('the GitLab CI recipe in gitlab-ci-local: a finding fails the merge, with its JUnit report and repros', (t) => {
  const p = gitlab(BUG);
  t.false(p.ok);
  t.deepEqual(p.jobs, { 'fuzz: [1]': true, 'fuzz: [2]': true, 'fuzz: [3]': true, 'fuzz: [4]': true, merge: false });
  t.true(merged(p.dir).findings.length >= 1);
  t.regex(readFileSync(join(p.dir, 'merged.xml'), 'utf8'), /<failure message="BUG: sleeping function called from invalid context/);
  t.true(readdirSync(join(p.dir, 'repros')).some((f) => f.startsWith('repro-')));
});

test('the GitLab CI recipe in gitlab-ci-local with one shard lost: the merge runs all the same, keeps the findings and fails as partial', (t) => {
  const p = gitlab(BUG_AND_LOST);
  t.false(p.ok);
  t.deepEqual(p.jobs, { 'fuzz: [1]': true, 'fuzz: [2]': true, 'fuzz: [3]': false, 'fuzz: [4]': true, merge: false });
  const m = merged(p.dir);
  t.deepEqual(m.missing, [3]);
  t.true(m.findings.length >= 1);
  t.regex(readFileSync(join(p.dir, 'merged.xml'), 'utf8'), /<failure message="partial merge: shard 3 of 4 is missing"/);
  const clean = gitlab(CLEAN);
  t.true(clean.ok, JSON.stringify(clean.jobs));
  t.deepEqual(merged(clean.dir).findings, []);
});
