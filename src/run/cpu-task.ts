// What one worker thread does for one task: view the shared memory as a
// Kernel, play one CPU (or the kworker) for a whole run, and return the
// results as data. Violations travel back as data, never as errors (custom
// error classes cross threads as plain Error).

import { Kernel, finishBoot, type MachineSpec } from './machine.ts';
import { Oops, StopRun, type Violation } from '../report/violation.ts';
import { runSelftestProgram } from './selftest.ts';
import { CpuProgramRunner } from './cpu-program.ts';
import { newCounters, type CpuCounters } from '../report/result.ts';
import { H, X } from '../shm/layout.ts';
import { CpuState, type Cpu } from '../sync/cpu.ts';
import { F } from '../sync/sites.ts';
import { InvariantChecker } from '../check/invariants.ts';
import { failureLines } from '../check/verdict.ts';
import { WORK_RECLAIM } from '../workqueue/workqueue.ts';
import { scenarioByName } from '../../scenarios/index.ts';
import { OP_WORDS } from '../../scenarios/lib/program.ts';
import { ControlledScheduler } from '../sched/controlled.ts';
import { Mode } from '../sched/strategy.ts';
import { strategyFor } from '../sched/strategies.ts';

export interface SelftestTask {
  kind: 'selftest';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  cpu: number;
  program: string;
  args: number[];
}

export interface RunCpuTask {
  kind: 'cpu';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  /** Scheduling: os (free running) or a controlled strategy. */
  mode: Mode;
  cpu: number;
  scenario: string;
  seed: number;
  /** Ops for this CPU (0: until the deadline). */
  ops: number;
  /** Run for this long once every CPU has started (0: run `ops`). */
  durationMs: number;
  /** Explicit program (replay, shrinking); otherwise generated from the scenario. */
  program?: Int32Array;
  /** Early-boot program (CPU 0 only). */
  boot?: Int32Array;
  checks: boolean;
  timing: boolean;
}

export interface KworkerTask {
  kind: 'kworker';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  mode: Mode;
  checks: boolean;
  timing: boolean;
}

export type CpuTask = SelftestTask | RunCpuTask | KworkerTask;

export interface CpuTaskResult {
  cpu: number;
  violations: Violation[];
  log: string[];
  values: number[];
  counters: CpuCounters;
  /** The task ended by an oops on this CPU (its program did not finish). */
  oops: boolean;
  stopped: boolean;
  reclaimRuns: number;
  /** Milliseconds from the start barrier to the end of this CPU's program. */
  activeMs: number;
}

export const BATCH = 1000;
const IDLE_WAIT_MS = 5;

function crash(cpu: Cpu, e: unknown): Violation {
  return {
    kind: 'crash', cpu: cpu.id, step: cpu.steps(), title: `internal error on ${cpu.name}: ${(e as Error).message}`,
    text: `${(e as Error).stack ?? String(e)}\n`, held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
  };
}

/** Wait until word >= value, or the run is stopped. */
function waitAtLeast(k: Kernel, at: number, value: number): void {
  const w = k.shm.w;
  for (let v = Atomics.load(w, at); v < value; v = Atomics.load(w, at)) {
    if (Atomics.load(w, k.shm.L.header + H.STOP) !== 0) throw new StopRun();
    Atomics.wait(w, at, v, 20);
  }
}

function bump(w: Int32Array, at: number): void {
  Atomics.add(w, at, 1);
  Atomics.notify(w, at);
}

function runCpu(task: RunCpuTask, k: Kernel, res: CpuTaskResult): void {
  const cpu = k.cpu(task.cpu);
  const w = k.shm.w;
  const h = k.shm.L.header;
  const runner = new CpuProgramRunner(k, cpu, task.checks);
  res.counters = runner.counters;
  if (task.checks) {
    const checker = new InvariantChecker(k);
    k.pcpu.indexCheck = (c, chunk) => {
      runner.counters.checks++;
      const f = checker.checkChunk(chunk, [], false);
      if (f.length) c.report('invariant', `percpu: invariant violated: ${f[0]!.invariant}`, failureLines(f).trimEnd());
    };
  }
  const nCpus = task.spec.cfg.cpus;
  const sched = k.sched instanceof ControlledScheduler ? k.sched : null;
  // waiting at the start barrier is not a hang (the watchdog looks at running CPUs
  // only); in a controlled run the CPU is runnable: it waits for its first turn
  w[cpu.x + X.STATE] = sched ? CpuState.running : CpuState.idle;
  bump(w, h + H.RUN_READY);
  cpu.enter(F.cpu_program);
  if (task.cpu === 0) {
    if (task.boot) {
      w[cpu.x + X.STATE] = CpuState.running;
      cpu.enter(F.boot_alloc);
      runner.run(task.boot, runner.bootSlots);
      cpu.leave();
      finishBoot(k.shm);
      cpu.localIrqEnable(); // start_kernel: the early-boot phase is over
      w[cpu.x + X.STATE] = CpuState.idle;
    }
    waitAtLeast(k, h + H.RUN_READY, nCpus + 1);
    Atomics.store(w, h + H.RUN_GO, 1);
    Atomics.notify(w, h + H.RUN_GO);
  } else if (sched) {
    if (sched.waitToken(cpu.id)) cpu.takeOneIrq();
  } else {
    waitAtLeast(k, h + H.RUN_GO, 1);
  }
  w[cpu.x + X.STATE] = CpuState.running;
  const t0 = Date.now();
  const deadline = task.durationMs ? t0 + task.durationMs : 0;
  const scenario = scenarioByName(task.scenario);
  if (task.program) {
    runner.run(task.program, runner.slots);
  } else if (scenario) {
    for (let batch = 0, done = 0; task.ops === 0 || done < task.ops; batch++) {
      if (deadline && Date.now() >= deadline) break;
      const n = task.ops === 0 ? BATCH : Math.min(BATCH, task.ops - done);
      const prog = scenario.program({ cpu: task.cpu, cpus: nCpus, seed: task.seed, ops: n, batch });
      const len = Math.min(n, prog.length / OP_WORDS);
      if (len === 0) break; // a directed scenario: its program is finite
      runner.run(prog, runner.slots, 0, len);
      done += len;
    }
  }
  runner.freeAll();
  res.activeMs = Date.now() - t0;
  cpu.leave();
  // idle: keep taking interrupts until every CPU is done and our queue is empty
  w[cpu.x + X.STATE] = CpuState.idle;
  bump(w, h + H.CPUS_DONE);
  while (Atomics.load(w, h + H.CPUS_DONE) < nCpus || cpu.pendingIrqs() > 0) {
    if (sched) {
      if (sched.idle(cpu)) cpu.takeOneIrq();
      continue;
    }
    const v = Atomics.load(w, cpu.x + X.WAKE);
    cpu.point();
    if (cpu.pendingIrqs() === 0) Atomics.wait(w, cpu.x + X.WAKE, v, IDLE_WAIT_MS);
  }
}

/** The events workqueue's worker thread: run work while any CPU may still queue it. */
function runKworker(task: KworkerTask, k: Kernel, res: CpuTaskResult): void {
  const cpu = k.kworker;
  const w = k.shm.w;
  const h = k.shm.L.header;
  const nCpus = task.spec.cfg.cpus;
  const sched = k.sched instanceof ControlledScheduler ? k.sched : null;
  w[cpu.x + X.STATE] = CpuState.idle;
  bump(w, h + H.RUN_READY);
  if (sched) sched.waitToken(cpu.id);
  else waitAtLeast(k, h + H.RUN_GO, 1);
  const wake = k.wq.wakeWord();
  for (;;) {
    if (Atomics.load(w, h + H.STOP) !== 0) throw new StopRun();
    const v = Atomics.load(w, wake);
    if (k.wq.pending(WORK_RECLAIM)) {
      w[cpu.x + X.STATE] = CpuState.running;
      k.wq.runIfPending(cpu, WORK_RECLAIM, (c) => void k.pcpu.reclaim(c));
      res.reclaimRuns++;
      w[cpu.x + X.STATE] = CpuState.idle;
      continue;
    }
    if (Atomics.load(w, h + H.CPUS_EXITED) >= nCpus && !k.wq.pending(WORK_RECLAIM)) break;
    if (sched) sched.idle(cpu);
    else Atomics.wait(w, wake, v, IDLE_WAIT_MS);
  }
}

export function runCpuTask(task: CpuTask): CpuTaskResult {
  // "checks off" (the bench's baseline) also turns lockdep off
  const k = new Kernel(task.spec, task.sab, { timing: task.kind !== 'selftest' && task.timing, lockdep: task.kind === 'selftest' || task.checks });
  if (task.kind !== 'selftest' && task.mode !== Mode.os) k.sched = new ControlledScheduler(k.shm, strategyFor(task.mode), k.wq);
  const id = task.kind === 'kworker' ? task.spec.L.kworker : task.cpu;
  const cpu = k.cpu(id);
  const res: CpuTaskResult = { cpu: id, violations: k.violations, log: k.log, values: [], counters: newCounters(), oops: false, stopped: false, reclaimRuns: 0, activeMs: 0 };
  try {
    if (task.kind === 'selftest') res.values = runSelftestProgram(k, cpu, task.program, task.args);
    else if (task.kind === 'kworker') runKworker(task, k, res);
    else runCpu(task, k, res);
  } catch (e) {
    if (e instanceof Oops) res.oops = true;
    else if (e instanceof StopRun) res.stopped = true;
    else {
      const v = crash(cpu, e);
      k.onViolation(v);
    }
  } finally {
    if (task.kind !== 'selftest') {
      k.shm.w[cpu.x + X.STATE] = CpuState.done;
      if (task.kind === 'cpu') bump(k.shm.w, k.shm.L.header + H.CPUS_EXITED);
      Atomics.notify(k.shm.w, k.wq.wakeWord());
      if (k.sched instanceof ControlledScheduler) {
        try {
          k.sched.exit(cpu);
        } catch (e) {
          if (e instanceof Oops) res.oops = true;
          else if (!(e instanceof StopRun)) throw e;
        }
      }
    }
  }
  return res;
}
