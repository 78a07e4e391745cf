// The shrinker keeps repros replayable: dropping a CPU renumbers every op
// that names a CPU (OP_CPU_WORD: interrupt frees, phys lookups, anything
// added later), every candidate is held to the rules replay holds a repro
// to before it runs, and the minimal repro of a finding of each op kind that
// names a CPU replays, exactly, three times out of three.

import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedRunner } from './helpers.ts';
import { OP_CPU_WORD, OP_NAMES, OP_WORDS, Op, checkProgram } from '../scenarios/lib/program.ts';
import { Lock } from '../src/sync/locks.ts';
import { dropCpu, replayable } from '../src/explore/shrink.ts';
import { fuzz } from '../src/explore/fuzz.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { Mode } from '../src/sched/strategy.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const shared = sharedRunner();

/** A valid op of every kind, aimed at CPU `t` where it names one. */
function example(code: number, t: number): number[] {
  switch (code) {
    case Op.alloc: return [Op.alloc, 0, 8, 8];
    case Op.free: return [Op.free, 0, 0, 0];
    case Op.irqfree: return [Op.irqfree, 0, t, 0];
    case Op.touch: return [Op.touch, 0, 0, 0];
    case Op.delay: return [Op.delay, 1, 0, 0];
    case Op.stuck: return [Op.stuck, 0, 0, 0];
    case Op.lock: return [Op.lock, Lock.test_a, 0, 0];
    case Op.unlock: return [Op.unlock, Lock.test_a, 0, 0];
    case Op.burst: return [Op.burst, 2, 8, 8];
    case Op.unburst: return [Op.unburst, 1, 0, 0];
    case Op.wait: return [Op.wait, Lock.completion_a, 0, 0];
    case Op.complete: return [Op.complete, Lock.completion_a, 0, 0];
    case Op.phys: return [Op.phys, 0, t, 0];
    case Op.irqalloc: return [Op.irqalloc, t, 8, 8];
    default: throw new Error(`no example of op ${code} (${OP_NAMES[code]}): add one, and to OP_CPU_WORD if it names a CPU`);
  }
}

test('dropping any CPU leaves programs replay accepts, for every op kind (every op that names a CPU is renumbered)', (t) => {
  const codes = Object.keys(OP_NAMES).map(Number);
  for (const code of codes) {
    // an op names a CPU exactly when the check refuses it aimed past the machine
    const aimedOut = new Int32Array(example(code, 3));
    let refused = false;
    try {
      checkProgram(aimedOut, 3, 'p');
    } catch {
      refused = true;
    }
    t.is(refused, OP_CPU_WORD[code as Op] !== undefined, `${OP_NAMES[code]}: OP_CPU_WORD and the check agree`);
    // three CPUs, each with the op aimed at every CPU in turn
    const programs = [0, 1, 2].map(() => new Int32Array([0, 1, 2].flatMap((target) => example(code, target))));
    for (let j = 0; j < 3; j++) {
      const cand = dropCpu(programs, j);
      t.is(cand.length, 2);
      t.true(replayable(cand), `${OP_NAMES[code]}: drop cpu${j}`);
      for (const p of cand) for (let o = 0; o < p.length; o += OP_WORDS) t.true(p[o] === code);
    }
  }
  t.is(codes.length, 14);
});

test('a candidate replay would refuse is not run, nor kept', (t) => {
  t.false(replayable([new Int32Array([Op.phys, 0, 1, 0])]), 'a lookup aimed at a CPU the machine lacks');
  t.false(replayable([new Int32Array(0), new Int32Array(0)], [3 << 1, 5]), 'a schedule naming an entity the machine lacks');
  t.true(replayable([new Int32Array(0), new Int32Array(0)], [2 << 1, 5]), 'the kworker of two CPUs is entity 2');
});

/** Fuzz until a finding, then replay its minimal repro three times. */
async function shrunkAndReplayed(t: ExecutionContext, scenario: string, o: { inject?: string; strictKnown?: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-shrink-'));
  const res = await fuzz(shared(), {
    scenarios: [scenarioByName(scenario)!], budgetMs: 60_000, shrinkBudgetMs: 600_000, strategy: Mode.pct, depth: 3, cpus: 3, ops: 0, seed: 1,
    keepGoing: false, outDir: dir, inject: o.inject ?? null, strictKnown: o.strictKnown, maxRuns: 20,
  });
  t.is(res.findings.length, 1);
  const f = res.findings[0]!;
  t.true(f.minimal.cpus < f.original.cpus, `a CPU was dropped: ${f.original.cpus} -> ${f.minimal.cpus}`);
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, [CLI, 'replay', f.reproPath, '--quiet'], { encoding: 'utf8' });
    t.is(r.status, 1, r.stderr);
    t.regex(r.stdout, new RegExp(`reproduced: ${f.violation.kind} at step ${f.violation.step}, as recorded`));
  }
}

test.serial('the minimal repro of a phys finding replays 3 times out of 3', async (t) => {
  // 2.6.35's wrong answers made findings (--strict-known): their lookups name the CPU whose copy they read
  await shrunkAndReplayed(t, 'phys-lookup', { strictKnown: true });
});

test.serial('the minimal repro of an interrupt-free finding replays 3 times out of 3', async (t) => {
  await shrunkAndReplayed(t, 'irq-free', { inject: 'single-mutex' });
});
