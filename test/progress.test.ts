// Progress judged on the kernel's own work (src/check/progress.ts): every run
// of the reclaim work must do its job, judged by the specification as it
// does it; a run that returns having done nothing is reported at its end, and
// the requests it was run for stay unserved for the leak check, whatever a
// later run does.

import test from 'ava';
import { machine, v2635 } from './helpers.ts';
import type { Kernel } from '../src/run/machine.ts';
import { leakCheck } from '../src/check/leak.ts';
import { WORK_RECLAIM } from '../src/workqueue/workqueue.ts';

/** Two chunks emptied on cpu0: the second free requests reclaim. */
function twoEmptyChunks(k: Kernel): void {
  const cpu = k.cpu(0);
  const a = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
  const b = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
  k.pcpu.freePercpu(cpu, a);
  k.pcpu.freePercpu(cpu, b);
}

const progressOf = (k: Kernel): string[] => k.violations.filter((v) => (v.details as { check?: string } | undefined)?.check === 'work-progress').map((v) => `${v.title}\n${v.text}`);

test('the faithful reclaim does its job in every run: nothing reported, nothing left', (t) => {
  const { k } = machine({ cpus: 2 });
  twoEmptyChunks(k);
  t.true(k.wq.pending(k.wq.work(WORK_RECLAIM)));
  t.is(k.runReclaimIfPending().length, 1);
  t.deepEqual(progressOf(k), []);
  t.is(k.wq.unjudged(k.wq.work(WORK_RECLAIM)), 0);
  t.deepEqual(leakCheck(k), []);
});

test('a reclaim run that returns at once (a failed trylock) is reported at its end, naming what it left, and its requests stay unserved at quiescence', (t) => {
  const { k } = machine({ cpus: 2 });
  // the bug: the work function gives up without looking
  v2635(k).ops = { ...v2635(k).ops, reclaim: () => [] };
  twoEmptyChunks(k);
  k.runReclaimIfPending();
  const p = progressOf(k);
  t.is(p.length, 1, k.violations.map((v) => v.title).join('\n'));
  t.regex(p[0]!, /^percpu: pcpu_reclaim_work ran and did not do its job/);
  t.regex(p[0]!, /1 schedule_work call\(s\) since the last run that did its job/);
  t.regex(p[0]!, /pcpu_slot\[\d+\] holds 2 fully free chunks \(#\d+, #\d+\), 2\.6\.35 leaves one/);
  // the work ran (it started), but nothing served the request: a leak, and no run the harness
  // makes later is needed to see it
  t.false(k.wq.pending(k.wq.work(WORK_RECLAIM)));
  t.is(k.wq.unserved(k.wq.work(WORK_RECLAIM)), 0, 'started: the old test was satisfied here');
  const leaks = leakCheck(k);
  t.is(leaks.length, 1, leaks.join('\n'));
  t.regex(leaks[0]!, /2 fully free chunks left .* although reclaim was requested: 1 schedule_work call\(s\) never followed by a run of the work that did its job/);
});

test('a later run that does its job serves the earlier requests, but the run that did nothing stays reported', (t) => {
  const { k } = machine({ cpus: 2 });
  const reclaim = v2635(k).ops.reclaim;
  let runs = 0;
  v2635(k).ops = { ...v2635(k).ops, reclaim: (p, cpu) => (++runs === 1 ? [] : reclaim(p, cpu)) };
  twoEmptyChunks(k);
  k.runReclaimIfPending();
  // a third chunk emptied: another request, and this run reclaims
  const cpu = k.cpu(0);
  k.pcpu.freePercpu(cpu, k.pcpu.pcpuAlloc(cpu, 30000, 8, false));
  k.runReclaimIfPending();
  t.is(progressOf(k).length, 1);
  t.deepEqual(leakCheck(k), []);
});
