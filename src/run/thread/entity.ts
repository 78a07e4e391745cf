// What one pool thread does in one run: play a CPU (its program, then
// interrupts until every CPU is done) or the kworker (the reclaim work until
// no CPU can queue more). Violations are recorded on the thread's Kernel;
// the session reports them back as data.

import { EV, RUN } from '../records.ts';
import { X } from '../../sync/records.ts';
import { CpuState, type Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { Oops, StopRun, type Violation } from '../../report/violation.ts';
import type { InvariantFailure } from '../../check/invariants.ts';
import { failureLines } from '../../check/verdict.ts';
import { ControlledScheduler } from '../../sched/controlled.ts';
import { Mode } from '../../sched/strategy.ts';
import { strategyFor } from '../../sched/strategies.ts';
import type { Lockdep } from '../../lockdep/lockdep.ts';
import type { Scenario } from '../../../scenarios/lib/scenario.ts';
import { OP_WORDS } from '../../../scenarios/lib/program.ts';
import { finishBoot, type Kernel } from '../machine.ts';
import { CpuProgramRunner } from './cpu-program.ts';

export const BATCH = 1000;
const IDLE_WAIT_MS = 5;

/** One CPU's part of a run. */
export interface CpuPart {
  cpu: number;
  scenario: Scenario;
  seed: number;
  /** Ops to run (0: until the duration is over). */
  ops: number;
  /** Run this long after the start barrier (0: run `ops`). */
  durationMs: number;
  /** An explicit program (controlled runs, replay, shrinking). */
  program: Int32Array | null;
  checks: boolean;
  /** A size mix replacing the scenario's standard sizes. */
  sizes?: Int32Array;
  /** Ops at the start of the program a deadline never cuts (a directed set-up). */
  setupOps: number;
}

export interface PartResult {
  reclaimRuns: number;
  activeMs: number;
}

/** Wait until word >= value, or the run is stopped. */
function waitAtLeast(k: Kernel, at: number, value: number): void {
  const w = k.shm.w;
  for (let v = Atomics.load(w, at); v < value; v = Atomics.load(w, at)) {
    if (Atomics.load(w, k.shm.L.run + RUN.STOP) !== 0) throw new StopRun();
    Atomics.wait(w, at, v, 20);
  }
}

function bump(w: Int32Array, at: number): void {
  Atomics.add(w, at, 1);
  Atomics.notify(w, at);
}

/** The per-op index check under pcpu_lock (checks on). */
export function installIndexCheck(k: Kernel, runner: CpuProgramRunner, checks: boolean): void {
  if (!checks) {
    k.pcpu.indexCheck = null;
    return;
  }
  const checker = k.gen.invariants(k);
  const counters = runner.counters;
  const found: InvariantFailure[] = [];
  k.pcpu.indexCheck = (c, chunk) => {
    counters.checks++;
    if (found.length !== 0) found.length = 0;
    const f = checker.checkChunk(chunk, found, false);
    if (f.length) c.report('invariant', `percpu: invariant violated: ${f[0]!.invariant}`, failureLines(f).trimEnd(), undefined, { invariant: f[0]!.invariant });
  };
}

export function playCpu(k: Kernel, runner: CpuProgramRunner, part: CpuPart, res: PartResult): void {
  const cpu = runner.cpu;
  const w = k.shm.w;
  const h = k.shm.L.run;
  installIndexCheck(k, runner, part.checks);
  const nCpus = k.nrCpus;
  const sched = k.sched instanceof ControlledScheduler ? k.sched : null;
  // waiting at the start barrier is not a hang (the watchdog counts nothing
  // before RUN_GO); in a controlled run the CPU is runnable: it waits for its turn
  w[cpu.x + X.STATE] = sched ? CpuState.running : CpuState.idle;
  bump(w, h + RUN.RUN_READY);
  // in a controlled run the timeline records it once this CPU holds the run token
  cpu.pushSite(F.cpu_program);
  const logEnter = (): void => {
    if (w[h + RUN.EVLOG] !== 0) cpu.event(EV.ENTER, F.cpu_program);
  };
  if (part.cpu === 0) {
    logEnter(); // CPU 0 holds the token first
    const boot = part.scenario.boot?.(part.seed, nCpus);
    if (boot) {
      w[cpu.x + X.STATE] = CpuState.running;
      cpu.enter(F.boot_alloc);
      runner.run(boot, runner.bootSlots);
      cpu.leave();
      finishBoot(k.shm);
      cpu.localIrqEnable(); // start_kernel: the early-boot phase is over
      w[cpu.x + X.STATE] = CpuState.idle;
    }
    // free-running CPUs start together; in a controlled run the token orders
    // everything, and the runner set every CPU's state before the run began
    if (!sched) waitAtLeast(k, h + RUN.RUN_READY, k.shm.L.nrEntities);
    Atomics.store(w, h + RUN.RUN_GO, 1);
    Atomics.notify(w, h + RUN.RUN_GO);
  } else if (sched) {
    const irq = sched.waitToken(cpu.id);
    logEnter();
    if (irq) cpu.takeOneIrq();
  } else {
    waitAtLeast(k, h + RUN.RUN_GO, 1);
  }
  w[cpu.x + X.STATE] = CpuState.running;
  const t0 = Date.now();
  const deadline = part.durationMs ? t0 + part.durationMs : 0;
  // a directed set-up is never cut by the deadline (the other CPUs wait for what it completes)
  const runUntil = (prog: Int32Array, len: number, setup: number): boolean => {
    const head = Math.min(len, setup);
    if (head) runner.run(prog, runner.slots, 0, head);
    return runner.run(prog, runner.slots, head, len, deadline) === len;
  };
  if (part.program && deadline) {
    // a free-running timed run of given programs (a scenario from a file): stop at the deadline
    runUntil(part.program, part.program.length / OP_WORDS, part.setupOps);
  } else if (part.program) {
    runner.run(part.program, runner.slots);
  } else {
    for (let batch = 0, done = 0; part.ops === 0 || done < part.ops; batch++) {
      const setup = batch === 0 ? part.setupOps : 0;
      if (!setup && deadline && Date.now() >= deadline) break;
      const n = part.ops === 0 ? Math.max(BATCH, setup) : Math.min(BATCH, part.ops - done);
      const prog = part.scenario.program({ cpu: part.cpu, cpus: nCpus, seed: part.seed, ops: n, batch, sizes: part.sizes });
      const len = Math.min(n, prog.length / OP_WORDS);
      if (len === 0) break; // a directed scenario: its program is finite
      if (!runUntil(prog, len, setup)) break;
      done += len;
    }
  }
  runner.freeAll();
  res.activeMs = Date.now() - t0;
  cpu.leave();
  // idle: keep taking interrupts until every CPU is done and our queue is empty
  w[cpu.x + X.STATE] = CpuState.idle;
  bump(w, h + RUN.CPUS_DONE);
  while (Atomics.load(w, h + RUN.CPUS_DONE) < nCpus || cpu.pendingIrqs() > 0) {
    if (sched) {
      if (sched.idle(cpu)) cpu.takeOneIrq();
      continue;
    }
    const v = Atomics.load(w, cpu.x + X.WAKE);
    cpu.point();
    if (cpu.pendingIrqs() === 0) Atomics.wait(w, cpu.x + X.WAKE, v, IDLE_WAIT_MS);
  }
  // every CPU is done: no interrupt can come any more; what a handler allocated meanwhile goes now
  if (runner.irqPoolHeld()) {
    w[cpu.x + X.STATE] = CpuState.running;
    runner.freeIrqPool();
    w[cpu.x + X.STATE] = CpuState.idle;
  }
}

/** The events workqueue's worker: run work while any CPU may still queue it. */
export function playKworker(k: Kernel, res: PartResult): void {
  const cpu: Cpu = k.kworker;
  const w = k.shm.w;
  const h = k.shm.L.run;
  const nCpus = k.nrCpus;
  const sched = k.sched instanceof ControlledScheduler ? k.sched : null;
  w[cpu.x + X.STATE] = CpuState.idle;
  bump(w, h + RUN.RUN_READY);
  if (sched) sched.waitToken(cpu.id);
  else waitAtLeast(k, h + RUN.RUN_GO, 1);
  const wake = k.wq.wakeWord();
  for (;;) {
    if (Atomics.load(w, h + RUN.STOP) !== 0) throw new StopRun();
    const v = Atomics.load(w, wake);
    if (k.wq.queued()) {
      w[cpu.x + X.STATE] = CpuState.running;
      k.wq.runNext(cpu);
      res.reclaimRuns++;
      w[cpu.x + X.STATE] = CpuState.idle;
      continue;
    }
    if (Atomics.load(w, h + RUN.CPUS_EXITED) >= nCpus && !k.wq.queued()) break;
    if (sched) sched.idle(cpu);
    else Atomics.wait(w, wake, v, IDLE_WAIT_MS);
  }
}

/**
 * One entity's view of a machine, kept from run to run: its Kernel (its
 * own allocator object, checkers and CPU contexts over the shared memory),
 * its program runner and a scheduler per strategy. A pool thread of the
 * threads engine has one per machine; the in-thread engine one per entity,
 * so that every entity keeps the state of its own, as a thread would.
 */
export interface Attached {
  k: Kernel;
  lockdep: Lockdep;
  runner: CpuProgramRunner | null;
  scheds: Map<Mode, ControlledScheduler>;
}

export function attachedView(k: Kernel): Attached {
  return { k, lockdep: k.lockdep as Lockdep, runner: null, scheds: new Map() };
}

export function crash(k: Kernel, id: number, e: unknown): Violation {
  const cpu = k.cpu(id);
  return {
    kind: 'crash', cpu: id, step: cpu.steps(), title: `internal error on ${cpu.name}: ${(e as Error).message}`,
    text: `${(e as Error).stack ?? String(e)}\n`, held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
  };
}

/** How an entity's part ended. */
export interface EntityEnd {
  oops: boolean;
  stopped: boolean;
  /** A CPU's program runner (its counters); null for the kworker. */
  runner: CpuProgramRunner | null;
}

/**
 * Entity `me`'s part of the run the machine was booted for: a CPU's
 * program or the kworker's loop, then its exit (the token passed on). An
 * oops or a stop ends it; anything else thrown is an internal error,
 * reported as a crash.
 */
export function playEntity(m: Attached, me: number, mode: Mode, timing: boolean, part: CpuPart, res: PartResult): EntityEnd {
  const k = m.k;
  k.attach();
  const checks = part.checks;
  k.lockdep = checks ? m.lockdep : null;
  k.setChecks(checks);
  k.timing = timing;
  if (mode === Mode.os) {
    k.sched = null;
  } else {
    let s = m.scheds.get(mode);
    if (!s) m.scheds.set(mode, (s = new ControlledScheduler(k.shm, strategyFor(mode), k.wq)));
    k.sched = s;
  }
  const kworker = me === k.spec.L.kworker;
  const cpu = k.cpu(me);
  res.reclaimRuns = 0;
  res.activeMs = 0;
  const end: EntityEnd = { oops: false, stopped: false, runner: null };
  try {
    if (kworker) {
      playKworker(k, res);
    } else {
      const runner = (m.runner ??= new CpuProgramRunner(k, cpu, checks));
      runner.reset(checks);
      end.runner = runner;
      playCpu(k, runner, part, res);
    }
  } catch (e) {
    if (e instanceof Oops) end.oops = true;
    else if (e instanceof StopRun) end.stopped = true;
    else k.onViolation(crash(k, me, e));
  } finally {
    k.shm.w[cpu.x + X.STATE] = CpuState.done;
    if (!kworker) {
      Atomics.add(k.shm.w, k.shm.L.run + RUN.CPUS_EXITED, 1);
      Atomics.notify(k.shm.w, k.shm.L.run + RUN.CPUS_EXITED);
    }
    Atomics.notify(k.shm.w, k.wq.wakeWord());
    if (k.sched instanceof ControlledScheduler) {
      try {
        k.sched.exit(cpu);
      } catch (e) {
        if (e instanceof Oops) end.oops = true;
        else if (!(e instanceof StopRun)) k.onViolation(crash(k, me, e));
      }
    }
  }
  return end;
}
