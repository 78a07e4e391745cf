// What the CPU context calls out to: the lock validator, the controlled
// scheduler, the race detector's clocks, and the machine the CPU belongs
// to. Each is implemented in its own layer (src/lockdep, src/sched,
// src/race, src/run/machine.ts); the context only knows these shapes. They
// are written against CpuCore, the part of the context its own machinery
// (held.ts, irq.ts, lock-word.ts, splat.ts) needs; the Cpu class of cpu.ts
// is the whole of it.

import type { Shm } from '../shm/layout.ts';
import type { HeldLockInfo, Violation, ViolationKind } from '../report/violation.ts';
import type { EV } from '../run/records.ts';

/** The CPU context as its machinery and the hooks see it (src/sync/cpu.ts implements it). */
export interface CpuCore {
  readonly w: Int32Array;
  /** Base of this CPU's record, and of the lock table. */
  readonly x: number;
  readonly lk: number;
  readonly id: number;
  readonly name: string;
  readonly host: CpuHost;
  /** Run this CPU's interrupt handler for one interrupt (in hardirq context already). */
  runIrqHandler(kind: number, a0: number, a1: number, a2: number): void;
  inIrq(): boolean;
  steps(): number;
  site(): number;
  stack(): string[];
  enter(site: number): void;
  leave(): void;
  logging(): boolean;
  event(kind: EV, arg: number): void;
  heldLocks(): HeldLockInfo[];
  heldSection(): string;
  report(kind: ViolationKind, title: string, body: string, fatal?: boolean, details?: Record<string, unknown>, banner?: boolean): void;
}
type Cpu = CpuCore;

/** CPU run states, for the scheduler and the watchdog. */
export enum CpuState {
  running = 0,
  blocked = 1, // waiting for a mutex or a completion
  spinning = 2, // waiting for a spinlock
  idle = 3, // program done, still taking interrupts
  done = 4,
}

/** What lockdep needs to see; implemented by src/lockdep. */
export interface LockdepHooks {
  /** Called before the lock is pushed on the held stack (the stack holds the previous locks). */
  acquire(cpu: Cpu, lock: number, trylock: boolean): void;
  /** Called before the lock is popped; reports an unlock of a lock not held. */
  release(cpu: Cpu, lock: number): void;
  /** The {+.+.}-style usage string of a lock class. */
  usageString(lock: number): string;
}

/** What controlled scheduling needs; implemented by src/sched. */
export interface SchedHooks {
  /**
   * A scheduling point's decision, which never waits: `cpu.id * 2` to go on,
   * `cpu.id * 2 + 1` to go on after taking one pending interrupt, anything
   * else an action to hand the run over with (switchTo). Split from the
   * hand-over so that a point that goes on, most of them, is a plain call
   * in the in-thread engine too (only switchTo suspends).
   */
  pointAction(cpu: Cpu): number;
  /** Hand the run over as `action` says and wait to get it back; returns true when this CPU should take one pending interrupt now. */
  switchTo(cpu: Cpu, action: number): boolean;
  /** This CPU cannot proceed until `lock` is free: run others meanwhile. */
  waitFor(cpu: Cpu, lock: number, state: CpuState): void;
  /** Lock released: nothing to do for most strategies. */
  released(cpu: Cpu, lock: number): void;
}

/**
 * Happens-before edges for the race detector (src/race): every kernel
 * synchronization the CPU context performs passes a vector clock on. The
 * clock is the current context's: the CPU's task, or the interrupt handler
 * running on it.
 */
export interface SyncHooks {
  /** Take a lock: the context's clock joins the lock's. */
  lockAcquired(cpu: Cpu, lock: number): void;
  /** Release a lock: the lock's clock becomes the context's. */
  lockReleased(cpu: Cpu, lock: number): void;
  /** complete(): the completion's clock joins the context's. */
  completed(cpu: Cpu, c: number): void;
  /** wait_for_completion() returned. */
  completionWaited(cpu: Cpu, c: number): void;
  /** local_irq_disable (true) or enable (false) in task context: orders the task against this CPU's handlers. */
  irqFlag(cpu: Cpu, disable: boolean): void;
  /** An interrupt was queued on `target` in queue entry `slot`: it carries the raiser's clock. */
  irqRaised(cpu: Cpu, target: number, slot: number): void;
  /** This CPU's handler starts (entry `slot`) or ends. */
  irqEnter(cpu: Cpu, slot: number): void;
  irqExit(cpu: Cpu): void;
  /** schedule_work() made a request that a run of the work will serve (it queued the work, or found it queued and not yet started). */
  workRequested(cpu: Cpu, work: number): void;
  /** The worker took the work from pending to running: it has seen every request served by this run. */
  workStarted(cpu: Cpu, work: number): void;
  /** A run of the work ended. */
  workEnded(cpu: Cpu, work: number): void;
  /** flush_work() returned: every run that ended is behind the caller. */
  workFlushed(cpu: Cpu, work: number): void;
}

/** What a CPU needs from the machine it belongs to. */
export interface CpuHost {
  shm: Shm;
  lockdep: LockdepHooks | null;
  sched: SchedHooks | null;
  /** The race detector's clocks (checks on), or null. */
  race: SyncHooks | null;
  /** Measure lock hold times (free-running mode only: time is not deterministic). */
  timing: boolean;
  nrCpus: number;
  /** Emulator capacity exhausted: throw CapacityExceeded instead of failing the allocation. */
  strictCapacity: boolean;
  onViolation(v: Violation): void;
  /** The kernel log (printk). */
  printk(cpu: Cpu, line: string): void;
  /**
   * Heap memory at word `p`, `words` long, is about to be freed: debug-objects
   * checks the objects it tracks there (work items) and applies its fixups.
   */
  freeing(cpu: Cpu, p: number, words: number): void;
  /** The context of another CPU (or the kworker) of the same machine. */
  cpu(id: number): Cpu;
  /** Attribute a report to a known issue's mechanism, if one fired for it (src/check/known.ts; checks on only). */
  attribute(cpu: Cpu, v: Violation): void;
  /**
   * A memory call on `cpu` failed for a reason outside the kernel code under
   * test: a failure injected at `why` (a FailSite name) or the emulator's
   * capacity ('capacity'). What justifies an allocation's failure
   * (src/check/failures.ts).
   */
  mmFailed(cpu: Cpu, why: string): void;
  /**
   * The memory layer is about to free the heap object at `at` ('object') or
   * release the vm area of `span` bytes at `at` ('vm-area'): what is torn
   * down must be out of use (src/check/lifecycle.ts; checks on only).
   */
  tearingDown(cpu: Cpu, kind: 'object' | 'vm-area', at: number, span: number): void;
}
