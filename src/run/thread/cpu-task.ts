// What a pool thread does with a task: a session (the long-lived task that
// plays run after run, session.ts) or one locking self-test program.
// Violations travel back as data, never as errors (custom error classes
// cross threads as plain Error).

import { Kernel } from '../machine.ts';
import { Oops, StopRun } from '../../report/violation.ts';
import type { CpuTask, CpuTaskResult, SelftestTask } from '../messages.ts';
import { runSelftestProgram } from './selftest.ts';
import { runSession } from './session.ts';

export type { CpuTask, CpuTaskResult, SelftestTask } from '../messages.ts';

function selftest(task: SelftestTask): CpuTaskResult {
  const k = new Kernel(task.spec, task.sab, { lockdep: true });
  const cpu = k.cpu(task.cpu);
  const res: CpuTaskResult = { cpu: task.cpu, violations: k.violations, log: k.log, values: [], oops: false, stopped: false };
  try {
    res.values = runSelftestProgram(k, cpu, task.program, task.args);
  } catch (e) {
    if (e instanceof Oops) res.oops = true;
    else if (e instanceof StopRun) res.stopped = true;
    else {
      k.onViolation({
        kind: 'crash', cpu: cpu.id, step: cpu.steps(), title: `internal error on ${cpu.name}: ${(e as Error).message}`,
        text: `${(e as Error).stack ?? String(e)}\n`, held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
      });
    }
  }
  return res;
}

export function runCpuTask(task: CpuTask): CpuTaskResult | number {
  return task.kind === 'session' ? runSession(task) : selftest(task);
}
