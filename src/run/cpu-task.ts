// What one worker thread does for one task: view the shared memory as a
// Kernel, play one CPU (or the kworker), and return the results as data.
// Violations travel back as data, never as errors (custom error classes
// cross threads as plain Error).

import { Kernel, type MachineSpec } from './machine.ts';
import { Oops, StopRun, type Violation } from '../report/violation.ts';
import { runSelftestProgram } from './selftest.ts';

export interface SelftestTask {
  kind: 'selftest';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  cpu: number;
  program: string;
  args: number[];
}

export type CpuTask = SelftestTask;

export interface CpuTaskResult {
  cpu: number;
  violations: Violation[];
  log: string[];
  values: number[];
  /** The task ended by an oops on this CPU (its program did not finish). */
  oops: boolean;
  stopped: boolean;
}

export function runCpuTask(task: CpuTask): CpuTaskResult {
  const k = new Kernel(task.spec, task.sab, { timing: true });
  // the CPU's record was reset at boot: other CPUs may already have queued interrupts on it
  const cpu = k.cpu(task.cpu);
  const res: CpuTaskResult = { cpu: task.cpu, violations: k.violations, log: k.log, values: [], oops: false, stopped: false };
  try {
    res.values = runSelftestProgram(k, cpu, task.program, task.args);
  } catch (e) {
    if (e instanceof Oops) res.oops = true;
    else if (e instanceof StopRun) res.stopped = true;
    else {
      res.violations.push({
        kind: 'crash', cpu: task.cpu, step: cpu.steps(), title: `internal error on ${cpu.name}: ${(e as Error).message}`,
        text: `${(e as Error).stack ?? String(e)}\n`, held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
      });
    }
  }
  return res;
}
