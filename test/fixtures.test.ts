// Repro files written by percpu-stress 0.1.0 (test/fixtures/repros-0.1.0):
// every one is accepted by today's schema and checks, and replays its
// recorded violation at its recorded step. A change to the programs, the
// schedule format, the port or the checkers that breaks old repros fails here.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const DIR = new URL('fixtures/repros-0.1.0/', import.meta.url);

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('the fixtures are the nine historical bugs and three known issues', (t) => {
  t.is(files.length, 12);
});

for (const f of files) {
  test(`a 0.1.0 repro replays exactly: ${f}`, (t) => {
    const path = new URL(f, DIR).pathname;
    const repro = JSON.parse(readFileSync(path, 'utf8')) as { violation: { kind: string; step: number } };
    const r = spawnSync(process.execPath, [CLI, 'replay', path, '--quiet'], { encoding: 'utf8' });
    t.is(r.status, 1, r.stderr);
    t.is(r.stdout.trim(), `reproduced: ${repro.violation.kind} at step ${repro.violation.step}, as recorded`);
  });
}
