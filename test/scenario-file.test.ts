// Scenarios from files: the README's worked example runs, fuzzes and
// replays; a bad scenario file gets one line and exit 2.

import test from 'ava';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const EXAMPLE = new URL('../examples/scenarios/irq-burst.ts', import.meta.url).pathname;
const LIB = new URL('../scenarios/lib/scenario.ts', import.meta.url).pathname;

function cli(args: string[], cwd = '/'): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the worked example runs free-running and controlled, and its repros replay', (t) => {
  const run = cli(['run', EXAMPLE, '--cpus', '4', '--ops', '600', '--verbose']);
  t.is(run.code, 0, run.err);
  t.regex(run.out, /irq-burst: clean \(cpus 4, seed 1, vm, /);
  // the bursts really are frees from interrupt handlers
  t.regex(run.out, /operations: \d+ alloc, \d+ free, [1-9]\d* irq-free/);
  const dir = mkdtempSync(join(tmpdir(), 'percpu-sf-'));
  const fz = cli(['fuzz', EXAMPLE, '--inject', 'alloc-plain-spinlock', '--runs', '60', '--shrink-budget', '10m', '--budget', '10m', '--out', dir, '--quiet']);
  t.is(fz.code, 1, fz.err);
  const repro = join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
  const rp = cli(['replay', repro, '--quiet']);
  t.is(rp.code, 1, rp.err);
  t.regex(rp.out, /reproduced: \S+ at step \d+, as recorded/);
});

const GOOD = (body: string): string => `import { builder, type Scenario } from '${LIB}';\n${body}`;
const PROGRAM = 'program(ctx) { const b = builder(this.name, ctx); while (b.length < ctx.ops) b.alloc(8, 8); return b.build(); }';

const BAD: [string, string, RegExp][] = [
  ['syntax.ts', 'export default {', /scenario file .*syntax\.ts: line \d+: /],
  ['none.ts', 'export const x = 1;', /exports no scenario/],
  ['name.ts', GOOD(`export default { name: 'Bad Name', description: 'd', config: (cpus: number) => ({ cpus }), ${PROGRAM} } as Scenario;`), /name: expected 1-40 lower-case letters/],
  ['builtin.ts', GOOD(`export default { name: 'irq-free', description: 'd', config: (cpus: number) => ({ cpus }), ${PROGRAM} } as Scenario;`), /name: "irq-free" is a built-in scenario/],
  ['throws.ts', GOOD(`export default { name: 'x', description: 'd', config: (cpus: number) => ({ cpus }), program() { throw new Error('oops'); } } as Scenario;`), /program\(cpu 0 of 2, seed 1, 20 ops\) threw: oops/],
  ['array.ts', GOOD(`export default { name: 'x', description: 'd', config: (cpus: number) => ({ cpus }), program() { return [1, 2]; } } as unknown as Scenario;`), /program\(cpu 0 of 2, seed 1, 20 ops\) must return an Int32Array/],
  ['boot.ts', GOOD(`export default { name: 'x', description: 'd', config: (cpus: number) => ({ cpus }), boot: () => new Int32Array(0), ${PROGRAM} } as Scenario;`), /boot: early-boot programs/],
];

for (const [file, text, re] of BAD) {
  test(`a bad scenario file (${file}) gets one line and exit 2`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'percpu-sf-'));
    writeFileSync(join(dir, file), text);
    for (const cmd of ['run', 'fuzz']) {
      const r = cli([cmd, join(dir, file)]);
      t.is(r.code, 2, r.out);
      t.is(r.err.trim().split('\n').length, 1, r.err);
      t.regex(r.err, re);
    }
  });
}

test('a scenario path that does not exist is bad input', (t) => {
  const r = cli(['run', './nope/missing.ts']);
  t.is(r.code, 2);
  t.regex(r.err, /scenario file \.\/nope\/missing\.ts: ENOENT/);
});
