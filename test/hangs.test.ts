// No run ends without a verdict: a free-running deadlock is reported
// however it arises, whatever the CPUs outside it do, and a run that meets
// a historical bug's deadlock leaves nothing behind for the next one. No
// test here decides anything by time: the watchdog's verdicts come from
// what the CPUs are waiting for, and a run that took its whole budget shows
// as incomplete, which the tests refuse.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, sharedRunner } from './helpers.ts';
import { deadlockSignature } from '../src/run/main/watchdog.ts';
import { CpuState } from '../src/sync/cpu.ts';
import { LK, X } from '../src/sync/records.ts';
import { HARDIRQ_OFFSET } from '../src/sync/irq.ts';
import { Lock } from '../src/sync/locks.ts';
import { Op } from '../scenarios/lib/program.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { BUGS } from '../src/percpu/2.6.35/variants.ts';
import type { Kernel } from '../src/run/machine.ts';

const shared = sharedRunner();
const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

/** Put entity `e` in a state: waiting on `lock` (or not), holding `holds`. */
function pose(k: Kernel, e: number, state: CpuState, lock = 0, holds: number[] = []): void {
  const w = k.shm.w, x = k.cpu(e).x;
  w[x + X.STATE] = state;
  w[x + X.WAIT_LOCK] = lock;
  for (const l of holds) w[k.shm.L.locks + l * LK.SIZE + LK.OWNER] = e + 1;
}

test('a deadlock is the waits that can never end: behind a spinner, behind an interrupt handler, whatever idle CPUs do', (t) => {
  // cpu0 holds the mutex and spins on test_a; cpu1 holds test_a and sleeps on the mutex; cpu2 and cpu3 sleep on the mutex
  const { k } = machine({ cpus: 4 });
  pose(k, 0, CpuState.spinning, Lock.test_a, [Lock.pcpu_alloc_mutex]);
  pose(k, 1, CpuState.blocked, Lock.pcpu_alloc_mutex, [Lock.test_a]);
  pose(k, 2, CpuState.blocked, Lock.pcpu_alloc_mutex);
  pose(k, 3, CpuState.blocked, Lock.pcpu_alloc_mutex);
  pose(k, 4, CpuState.idle); // the kworker
  const sig = deadlockSignature(k);
  t.is(sig.split('\n').length, 4, sig);
  // an idle CPU passing scheduling points changes nothing
  k.shm.w[k.cpu(4).x + X.STEPS] = k.shm.w[k.cpu(4).x + X.STEPS]! + 100;
  t.is(deadlockSignature(k), sig);
  // cpu0's interrupt handler spins on pcpu_lock, held by cpu1, which sleeps on the mutex cpu0's task holds
  const { k: k2 } = machine({ cpus: 2 });
  pose(k2, 0, CpuState.spinning, Lock.pcpu_lock, [Lock.pcpu_alloc_mutex]);
  k2.shm.w[k2.cpu(0).x + X.PREEMPT] = HARDIRQ_OFFSET;
  pose(k2, 1, CpuState.blocked, Lock.pcpu_alloc_mutex, [Lock.pcpu_lock]);
  t.not(deadlockSignature(k2), '');
  // a handler waiting for a lock its own interrupted task holds can never get it
  const { k: k3 } = machine({ cpus: 2 });
  pose(k3, 0, CpuState.blocked, Lock.pcpu_alloc_mutex, [Lock.pcpu_alloc_mutex]);
  k3.shm.w[k3.cpu(0).x + X.PREEMPT] = HARDIRQ_OFFSET;
  t.not(deadlockSignature(k3), '');
  // contention is not a deadlock: the owner is running
  const { k: k4 } = machine({ cpus: 2 });
  pose(k4, 0, CpuState.running, 0, [Lock.pcpu_alloc_mutex]);
  pose(k4, 1, CpuState.blocked, Lock.pcpu_alloc_mutex);
  t.is(deadlockSignature(k4), '');
});

test.serial('a free-running run where every CPU ends up behind a spinning one reports the deadlock, with the wait-for cycle', async (t) => {
  const L = (l: number, take = true): number[] => [take ? Op.lock : Op.unlock, l, 0, 0];
  const W = (c: number): number[] => [Op.wait, c, 0, 0];
  const C = (c: number): number[] => [Op.complete, c, 0, 0];
  const prog = (...ops: number[][]): Int32Array => Int32Array.from(ops.flat());
  const a = Lock.test_mutex_a, s = Lock.test_a, ca = Lock.completion_a, cb = Lock.completion_b;
  const programs = [
    prog(L(a), C(cb), W(ca), L(s), L(s, false), L(a, false)), // holds the mutex, then spins on test_a
    prog(W(cb), L(s), C(ca), L(a), L(a, false), L(s, false)), // holds test_a, then sleeps on the mutex
    prog(W(cb), L(a), L(a, false)),
  ];
  const r = await shared().run({ scenario: scenarioByName('alloc-free-storm')!, cpus: 3, seed: 1, programs, watchdogMs: 1000 });
  t.is(r.status, 'violation');
  const d = r.violations.find((v) => v.kind === 'deadlock');
  t.truthy(d, r.violations.map((v) => v.title).join('\n'));
  t.regex(d!.text, /wait-for cycle: /);
  t.regex(d!.text, /cpu0 spins on test_lock_a held by cpu1/);
});

for (const bug of BUGS) {
  test.serial(`run all --inject ${bug.name} --seed 1 ends every run with a verdict, none by its budget`, (t) => {
    const json = join(mkdtempSync(join(tmpdir(), 'percpu-hang-')), 'r.json');
    const r = spawnSync(process.execPath, [CLI, 'run', 'all', '--inject', bug.name, '--seed', '1', '--json', json, '--quiet'], { encoding: 'utf8' });
    t.true(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { results: { scenario: string; status: string }[] };
    t.is(doc.results.length, 14);
    t.deepEqual(doc.results.filter((x) => x.status === 'incomplete').map((x) => x.scenario), []);
  });
}
