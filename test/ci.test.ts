// The CI recipes of docs/ci.md, run: every `run:` step of the GitHub Actions
// workflow (and every `script:` line of the GitLab one) is executed locally
// in order, the matrix expanded, shards first, their result files handed to
// the merge as the artifact steps would. Only `npm ci` is left out (this
// checkout is installed) and the budget is made short. On the faithful code
// every step passes; with a bug injected into the fuzz steps the shards still
// pass (a finding is exit 1, which they accept) and the merge fails with the
// finding, its repro and a failed JUnit case.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = realpathSync(new URL('..', import.meta.url).pathname);

interface Step { run?: string; uses?: string }
interface Workflow { jobs: Record<string, { needs?: string; strategy?: { matrix: Record<string, unknown[]> }; steps: Step[] }> }
interface GitlabJob { stage: string; parallel?: { matrix: Record<string, string[]>[] }; script: string[] }

function shims(dir: string): NodeJS.ProcessEnv {
  const bin = join(dir, '.bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = percpu-stress ]; then shift; exec "${process.execPath}" "${ROOT}/bin/percpu-stress.js" "$@"; fi\nexit 127\n`);
  chmodSync(join(bin, 'npx'), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

/** A step's script as the runner would run it (bash -e), with the budget short and the extra fuzz options. */
function run(script: string, cwd: string, env: NodeJS.ProcessEnv, fuzzExtra: string): { code: number | null; out: string } {
  const s = script.replace(/--budget 10m/g, '--runs 24').replace(/(percpu-stress fuzz [^\n|]*?)( \|\|)/g, `$1${fuzzExtra}$2`);
  const r = spawnSync('bash', ['-e', '-c', s], { cwd, env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

function githubActions(t: import('ava').ExecutionContext, fuzzExtra: string): { merge: number | null; dir: string } {
  const wf = parse(readFileSync(join(ROOT, 'examples/ci/github-actions.yml'), 'utf8')) as Workflow;
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-gha-')));
  const env = shims(base);
  const fuzz = wf.jobs.fuzz!;
  const shards = fuzz.strategy!.matrix.shard as number[];
  t.deepEqual(shards, [1, 2, 3, 4]);
  const artifacts = join(base, 'artifacts');
  mkdirSync(artifacts);
  for (const shard of shards) {
    const ws = join(base, `fuzz-${shard}`);
    mkdirSync(ws);
    for (const step of fuzz.steps) {
      if (step.uses?.startsWith('actions/upload-artifact')) {
        const f = `shard-${shard}.json`;
        copyFileSync(join(ws, f), join(artifacts, f));
      }
      if (!step.run || step.run.trim() === 'npm ci') continue;
      const r = run(step.run.replace(/\$\{\{ matrix\.shard \}\}/g, String(shard)), ws, env, fuzzExtra);
      t.is(r.code, 0, `shard ${shard}: ${step.run}\n${r.out.slice(-3000)}`);
    }
  }
  const merge = wf.jobs.merge!;
  t.is(merge.needs, 'fuzz');
  const ws = join(base, 'merge');
  mkdirSync(ws);
  let code: number | null = null;
  for (const step of merge.steps) {
    if (step.uses?.startsWith('actions/download-artifact')) {
      mkdirSync(join(ws, 'shards'));
      for (const f of readdirSync(artifacts)) copyFileSync(join(artifacts, f), join(ws, 'shards', f));
    }
    if (!step.run || step.run.trim() === 'npm ci') continue;
    code = run(step.run, ws, env, '').code;
  }
  return { merge: code, dir: ws };
}

test('the GitHub Actions recipe: 4 shards and the merge pass on the faithful code', (t) => {
  const { merge, dir } = githubActions(t, '');
  t.is(merge, 0);
  const m = JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8')) as { shards: number; missing: number[]; findings: unknown[]; runs: number };
  t.deepEqual([m.shards, m.missing, m.findings.length, m.runs], [4, [], 0, 24]);
  t.regex(readFileSync(join(dir, 'merged.xml'), 'utf8'), /<testsuites name="percpu-stress" tests="\d+" failures="0"/);
  t.regex(readFileSync(join(dir, 'merged.tap'), 'utf8'), /^KTAP version 1\n/);
});

test('the GitHub Actions recipe with a bug injected: the shards pass, the merge fails with the finding and its repro', (t) => {
  const { merge, dir } = githubActions(t, ' --inject single-mutex');
  t.is(merge, 1);
  const m = JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8')) as { findings: { reproPath: string }[] };
  t.true(m.findings.length >= 1);
  t.true(readdirSync(join(dir, 'repros')).some((f) => f.startsWith('repro-')));
  t.regex(readFileSync(join(dir, 'merged.xml'), 'utf8'), /<failure message="BUG: sleeping function called from invalid context/);
});

test('the GitLab CI recipe: the parallel matrix, then the merge with its JUnit report', (t) => {
  const ci = parse(readFileSync(join(ROOT, 'examples/ci/gitlab-ci.yml'), 'utf8')) as Record<string, unknown> & { stages: string[]; fuzz: GitlabJob; merge: GitlabJob & { artifacts: { reports: { junit: string } } } };
  t.deepEqual(ci.stages, ['fuzz', 'merge']);
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-glc-')));
  const env = shims(base);
  const shards = ci.fuzz.parallel!.matrix[0]!.SHARD!;
  const ws = join(base, 'merge');
  mkdirSync(ws);
  for (const shard of shards) {
    const job = join(base, `fuzz-${shard}`);
    mkdirSync(job);
    for (const line of ci.fuzz.script) {
      if (line === 'npm ci') continue;
      const r = run(line, job, { ...env, SHARD: shard }, ' --inject single-mutex');
      t.is(r.code, 0, `${line}\n${r.out.slice(-3000)}`);
    }
    // artifacts: paths shard-*.json, restored into the merge job's directory
    for (const f of readdirSync(job).filter((x) => /^shard-.*\.json$/.test(x))) copyFileSync(join(job, f), join(ws, f));
  }
  let code: number | null = null;
  for (const line of ci.merge.script) if (line !== 'npm ci') code = run(line, ws, env, '').code;
  t.is(code, 1);
  t.regex(readFileSync(join(ws, ci.merge.artifacts.reports.junit), 'utf8'), /<failure /);
});
