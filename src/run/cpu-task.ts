// What a pool thread is given: a session (the long-lived task that plays
// run after run, src/run/session.ts) or one locking self-test program.
// Violations travel back as data, never as errors (custom error classes
// cross threads as plain Error).

import { Kernel, type MachineSpec } from './machine.ts';
import { Oops, StopRun, type Violation } from '../report/violation.ts';
import { runSelftestProgram } from './selftest.ts';
import { runSession, type SessionTask } from './session.ts';

export interface SelftestTask {
  kind: 'selftest';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  cpu: number;
  program: string;
  args: number[];
}

export type CpuTask = SelftestTask | SessionTask;

export interface CpuTaskResult {
  cpu: number;
  violations: Violation[];
  log: string[];
  values: number[];
  oops: boolean;
  stopped: boolean;
}

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
