// The per-CPU context: the one seam between the allocator and everything
// that makes it concurrent. This file is the API the kernel code sees --
// what a kernel developer knows as mutex_lock, spin_lock_irqsave,
// local_irq_save, preempt_disable, might_sleep, wait_for_completion, BUG
// and WARN -- and nothing else; the machinery behind it lives beside it:
// the held-lock stack (held.ts), the lock words (lock-word.ts), interrupts
// (irq.ts), reports (splat.ts) and instrumentation (instrument.ts).
//
// Each call is a scheduling point (controlled mode switches CPUs there,
// free-running mode takes pending interrupts there) and a hook for the
// checkers (lockdep, might_sleep, the race detector's clocks). All of a
// CPU's state lives in its record in shared memory, so another thread (the
// watchdog, a deadlock report) can read it.

import { LK, X, X_OPS, X_SIZE, MAX_OPS } from './records.ts';
import { RUN, EV, SYSTEM_RUNNING } from '../run/records.ts';
import { StopRun, type HeldLockInfo, type ViolationKind, FATAL_KINDS } from '../report/violation.ts';
import { F, siteName } from './sites.ts';
import { LOCK_IS_MUTEX } from './locks.ts';
import type { CpuCore, CpuHost } from './hooks.ts';
import { heldDepth, heldField, heldLocks, heldSection, holds, popHeld, pushHeld } from './held.ts';
import { HL } from './records.ts';
import { HARDIRQ_OFFSET, SOFTIRQ_DISABLE_OFFSET, pendingIrqs, raiseIrq, takeOneIrq } from './irq.ts';
import { acquired, completionDone, completionWait, lockOwner, mutexWordRelease, mutexWordTry, mutexWordWait, releasing, spinWordRelease, spinWordTry, spinWordWait } from './lock-word.ts';
import { coverOverlap, OVERLAP_SITES, timelineEvent } from './instrument.ts';
import { badUnlock, buildReport } from './splat.ts';

export { CpuState, type CpuCore, type CpuHost, type LockdepHooks, type SchedHooks, type SyncHooks } from './hooks.ts';

/** An interrupt handler: runs on `cpu` in hardirq context. */
export type IrqHandler = (cpu: Cpu, kind: number, a0: number, a1: number, a2: number) => void;
export { HARDIRQ_OFFSET } from './irq.ts';
export { timelineEvent } from './instrument.ts';
export { kernelRelease } from './splat.ts';

export class Cpu implements CpuCore {
  readonly w: Int32Array;
  readonly x: number; // base of this CPU's record
  readonly lk: number; // base of the lock table
  private readonly run: number; // base of the machine's header block
  irqHandler: IrqHandler | null = null;

  constructor(readonly host: CpuHost, readonly id: number) {
    const L = host.shm.L;
    this.w = host.shm.w;
    this.x = L.cpus + id * X_SIZE;
    this.run = L.run;
    this.lk = L.locks;
  }

  get name(): string {
    return this.id < this.host.nrCpus ? `cpu${this.id}` : 'kworker/0:1';
  }

  // ---- context: in_atomic(), in_irq(), irqs_disabled() ------------------------
  preemptCount(): number {
    return this.w[this.x + X.PREEMPT]!;
  }
  inAtomic(): boolean {
    return this.w[this.x + X.PREEMPT] !== 0;
  }
  inIrq(): boolean {
    return this.w[this.x + X.PREEMPT]! >= HARDIRQ_OFFSET;
  }
  irqsDisabled(): boolean {
    return this.w[this.x + X.IRQS_OFF] !== 0;
  }
  hardirqDepth(): number {
    return this.w[this.x + X.PREEMPT]! >>> 16;
  }
  steps(): number {
    return this.w[this.x + X.STEPS]!;
  }

  // ---- the operation stack (the call trace of reports) -------------------------
  enter(site: F): void {
    if (this.logging()) this.event(EV.ENTER, site);
    if (this.w[this.run + RUN.COVERAGE] !== 0 && OVERLAP_SITES.has(site)) coverOverlap(this.host.shm, this.id, site);
    this.pushSite(site);
  }
  /** enter() without a timeline event (a thread that does not hold the run token yet). */
  pushSite(site: F): void {
    const d = this.w[this.x + X.OP_DEPTH]!;
    if (d < MAX_OPS) this.w[this.x + X_OPS + d] = site;
    this.w[this.x + X.OP_DEPTH] = d + 1;
  }
  leave(): void {
    if (this.logging()) this.event(EV.LEAVE, this.site());
    this.w[this.x + X.OP_DEPTH]!--;
  }
  /** The function currently running (lock sites are attributed to it). */
  site(): number {
    const d = this.w[this.x + X.OP_DEPTH]!;
    return d > 0 && d <= MAX_OPS ? this.w[this.x + X_OPS + d - 1]! : F.none;
  }
  stack(): string[] {
    const d = Math.min(this.w[this.x + X.OP_DEPTH]!, MAX_OPS);
    const out: string[] = [];
    for (let i = d - 1; i >= 0; i--) out.push(siteName(this.w[this.x + X_OPS + i]!));
    return out;
  }
  /** Is the timeline being recorded? */
  logging(): boolean {
    return this.w[this.run + RUN.EVLOG] !== 0;
  }
  /** Append to the timeline (only the token holder runs, so plain writes are ordered). */
  event(kind: EV, arg: number): void {
    timelineEvent(this.host.shm, this.id, kind, arg);
  }

  // ---- scheduling points, might_sleep() ----------------------------------------
  /** A point where the kernel could be preempted or interrupted. */
  point(): void {
    if (!this.pointGoesOn()) this.pointTurn();
  }

  /** The action pointGoesOn decided, for the pointTurn that follows it. */
  private pointAct = 0;

  /**
   * The first half of a scheduling point, which never waits: count it and
   * decide; true when this CPU simply goes on (no other CPU runs, no
   * interrupt is taken), else pointTurn() must follow at once. The hottest
   * callers write `if (!this.pointGoesOn()) this.pointTurn();` rather than
   * point(): the same point, but in the in-thread engine a point that goes
   * on then costs no coroutine frame (only pointTurn can suspend).
   */
  pointGoesOn(): boolean {
    this.w[this.x + X.STEPS]!++;
    const s = this.host.sched;
    if (s !== null) {
      const a = s.pointAction(this);
      this.pointAct = a;
      return a === this.id * 2;
    }
    if (this.w[this.run + RUN.STOP] !== 0) throw new StopRun();
    return this.w[this.x + X.IRQS_OFF] !== 0 || this.w[this.x + X.IRQ_HEAD] === this.w[this.x + X.IRQ_TAIL];
  }

  /** The second half of a scheduling point pointGoesOn said is one to act on: let others run, take interrupts. */
  pointTurn(): void {
    const s = this.host.sched;
    if (s === null) {
      this.takeIrqs();
      return;
    }
    const a = this.pointAct;
    if (a >> 1 === this.id ? (a & 1) === 1 : s.switchTo(this, a)) takeOneIrq(this);
  }

  /** might_sleep(): complain when called in atomic context once the system runs. */
  mightSleep(): void {
    if (!this.pointGoesOn()) this.pointTurn();
    if ((this.inAtomic() || this.irqsDisabled()) && this.w[this.run + RUN.SYSTEM_STATE] === SYSTEM_RUNNING) {
      this.report('sleep-in-atomic', `BUG: sleeping function called from invalid context at mm/percpu.c:${siteName(this.site())}`,
        `in_atomic(): ${this.inAtomic() ? 1 : 0}, irqs_disabled(): ${this.irqsDisabled() ? 1 : 0}, cpu: ${this.id}, name: ${this.name}`);
    }
  }

  // ---- preempt_disable(), local_irq_*() ------------------------------------------
  preemptDisable(): void {
    this.w[this.x + X.PREEMPT]!++;
  }
  preemptEnable(): void {
    this.preemptEnableNoResched();
    if (!this.pointGoesOn()) this.pointTurn();
  }
  /** preempt_enable_no_resched(): the count only; preempt_enable() is this and its scheduling point. */
  preemptEnableNoResched(): void {
    this.w[this.x + X.PREEMPT]!--;
  }
  /** local_bh_disable(): softirqs off, so this context counts as in_softirq() (bottom halves' context). */
  localBhDisable(): void {
    this.w[this.x + X.PREEMPT] = this.w[this.x + X.PREEMPT]! + SOFTIRQ_DISABLE_OFFSET;
  }
  localBhEnable(): void {
    this.w[this.x + X.PREEMPT] = this.w[this.x + X.PREEMPT]! - SOFTIRQ_DISABLE_OFFSET;
    if (!this.pointGoesOn()) this.pointTurn();
  }
  inSoftirq(): boolean {
    return (this.w[this.x + X.PREEMPT]! & 0xff00) !== 0;
  }
  localIrqDisable(): void {
    if (this.w[this.x + X.IRQS_OFF] === 0 && !this.inIrq()) this.host.race?.irqFlag(this, true);
    this.w[this.x + X.IRQS_OFF] = 1;
  }
  localIrqEnable(): void {
    if (this.w[this.run + RUN.EARLY_BOOT_IRQS_DISABLED] !== 0 && this.id < this.host.nrCpus) {
      this.report('irqs-enabled-early', 'WARNING: Interrupts were enabled early',
        'DEBUG_LOCKS_WARN_ON(early_boot_irqs_disabled): irqs were enabled while the boot CPU still runs with them off');
    }
    if (this.w[this.x + X.IRQS_OFF] !== 0 && !this.inIrq()) this.host.race?.irqFlag(this, false);
    this.w[this.x + X.IRQS_OFF] = 0;
  }
  localIrqSave(): number {
    const flags = this.w[this.x + X.IRQS_OFF]!;
    this.localIrqDisable();
    return flags;
  }
  localIrqRestore(flags: number): void {
    if (flags === 0) this.localIrqEnable();
    else this.localIrqDisable();
  }

  // ---- mutex_lock(), mutex_trylock(), mutex_unlock() -------------------------------
  mutexLock(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    this.mightSleep();
    this.host.lockdep?.acquire(this, lock, false);
    pushHeld(this.w, this.x, lock, this.site(), this.hardirqDepth(), false);
    if (mutexWordTry(this, lock)) {
      acquired(this, lock, false);
    } else {
      mutexWordWait(this, lock);
      acquired(this, lock, true);
    }
  }

  mutexTrylock(lock: number): boolean {
    this.w[this.x + X.PENDING] = lock + 1;
    if (!this.pointGoesOn()) this.pointTurn();
    this.w[this.x + X.PENDING] = 0;
    if (!mutexWordTry(this, lock)) return false;
    this.host.lockdep?.acquire(this, lock, true);
    pushHeld(this.w, this.x, lock, this.site(), this.hardirqDepth(), true);
    acquired(this, lock, false);
    return true;
  }

  mutexUnlock(lock: number): void {
    const owner = lockOwner(this, lock);
    if (owner !== this.id) badUnlock(this, lock, owner, true);
    this.host.lockdep?.release(this, lock);
    popHeld(this.w, this.x, lock, this.hardirqDepth());
    if (owner === this.id) releasing(this, lock);
    mutexWordRelease(this, lock);
    this.host.sched?.released(this, lock);
    if (!this.pointGoesOn()) this.pointTurn();
  }

  // ---- spin_lock(), spin_lock_irq(), spin_lock_irqsave() and their unlocks -------------
  spinLock(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    if (!this.pointGoesOn()) this.pointTurn();
    this.preemptDisable();
    if (!this.spinTakeTry(lock)) spinWordWait(this, lock);
  }
  // (the unlocks spell preempt_enable() out: its point is then a plain call when the CPU goes on)
  spinUnlock(lock: number): void {
    this.spinRelease(lock);
    this.preemptEnableNoResched();
    if (!this.pointGoesOn()) this.pointTurn();
  }
  spinLockIrq(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    if (!this.pointGoesOn()) this.pointTurn();
    this.localIrqDisable();
    this.preemptDisable();
    if (!this.spinTakeTry(lock)) spinWordWait(this, lock);
  }
  spinUnlockIrq(lock: number): void {
    this.spinRelease(lock);
    this.localIrqEnable();
    this.preemptEnableNoResched();
    if (!this.pointGoesOn()) this.pointTurn();
  }
  spinLockIrqSave(lock: number): number {
    this.w[this.x + X.PENDING] = lock + 1;
    if (!this.pointGoesOn()) this.pointTurn();
    const flags = this.localIrqSave();
    this.preemptDisable();
    if (!this.spinTakeTry(lock)) spinWordWait(this, lock);
    return flags;
  }
  spinUnlockIrqRestore(lock: number, flags: number): void {
    this.spinRelease(lock);
    this.localIrqRestore(flags);
    this.preemptEnableNoResched();
    if (!this.pointGoesOn()) this.pointTurn();
  }
  /** Lockdep, the held-lock stack, then the word if it is free; false when spinWordWait must follow. */
  private spinTakeTry(lock: number): boolean {
    this.host.lockdep?.acquire(this, lock, false);
    pushHeld(this.w, this.x, lock, this.site(), this.hardirqDepth(), false);
    return spinWordTry(this, lock);
  }
  private spinRelease(lock: number): void {
    const owner = lockOwner(this, lock);
    if (owner !== this.id) badUnlock(this, lock, owner, false);
    this.host.lockdep?.release(this, lock);
    popHeld(this.w, this.x, lock, this.hardirqDepth());
    if (owner === this.id) releasing(this, lock);
    spinWordRelease(this, lock);
    this.host.sched?.released(this, lock);
  }

  // ---- wait_for_completion(), complete_all() (not tracked by lockdep, as in 2.6.35) ----
  waitForCompletion(c: number): void {
    this.mightSleep();
    completionWait(this, c);
  }
  complete(c: number): void {
    completionDone(this, c);
    this.host.sched?.released(this, c);
    if (!this.pointGoesOn()) this.pointTurn();
  }

  /** lock_map_acquire/release: lockdep-only maps (work items, workqueues). */
  lockMapAcquire(lock: number): void {
    this.host.lockdep?.acquire(this, lock, false);
    pushHeld(this.w, this.x, lock, this.site(), this.hardirqDepth(), false);
  }
  lockMapRelease(lock: number): void {
    this.host.lockdep?.release(this, lock);
    popHeld(this.w, this.x, lock, this.hardirqDepth());
  }

  isMutex(lock: number): boolean {
    return LOCK_IS_MUTEX[lock] === true;
  }
  lockOwner(lock: number): number {
    return lockOwner(this, lock);
  }
  /** Acquisitions of a lock so far (statistics). */
  lockAcquisitions(lock: number): number {
    return this.w[this.lk + lock * LK.SIZE + LK.ACQUIRED]!;
  }

  // ---- interrupts ------------------------------------------------------------------
  /** Queue an interrupt on `target` (an IPI carrying work); false if its queue is full. */
  raiseIrq(target: number, kind: number, a0: number, a1: number, a2: number): boolean {
    return raiseIrq(this, target, kind, a0, a1, a2);
  }
  pendingIrqs(): number {
    return pendingIrqs(this);
  }
  /** Take every pending interrupt (free-running mode, irqs enabled). */
  takeIrqs(): void {
    while (this.w[this.x + X.IRQS_OFF] === 0 && pendingIrqs(this) > 0) takeOneIrq(this);
  }
  takeOneIrq(): void {
    takeOneIrq(this);
  }
  runIrqHandler(kind: number, a0: number, a1: number, a2: number): void {
    this.irqHandler?.(this, kind, a0, a1, a2);
  }

  // ---- held locks, as lockdep and reports see them --------------------------------
  heldDepth(): number {
    return heldDepth(this.w, this.x);
  }
  heldLock(i: number): number {
    return heldField(this.w, this.x, i, HL.LOCK);
  }
  heldSite(i: number): number {
    return heldField(this.w, this.x, i, HL.SITE);
  }
  heldIrqCtx(i: number): number {
    return heldField(this.w, this.x, i, HL.IRQ_CTX);
  }
  heldTrylock(i: number): boolean {
    return heldField(this.w, this.x, i, HL.FLAGS) === 1;
  }
  holds(lock: number): boolean {
    return holds(this.w, this.x, lock);
  }
  /** Locks held in the current context, a bit each. */
  lockMask(): number {
    return this.w[this.x + X.LOCKMASK]!;
  }
  heldLocks(): HeldLockInfo[] {
    return heldLocks(this.w, this.x, this.host.lockdep);
  }
  heldSection(): string {
    return heldSection(this.heldLocks(), `${this.name}/${this.id}`);
  }

  // ---- BUG(), WARN(), lockdep's splats -------------------------------------------------
  /**
   * Record a violation. Fatal kinds unwind this CPU like BUG() does; the
   * others print and continue, as WARN and lockdep do. `banner` frames the
   * title the way lockdep does.
   */
  report(kind: ViolationKind, title: string, body: string, fatal = FATAL_KINDS.has(kind), details?: Record<string, unknown>, banner = false): void {
    buildReport(this, kind, title, body, fatal, details, banner);
  }
}
