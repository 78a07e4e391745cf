// The per-CPU context: the one seam between the allocator and everything
// that makes it concurrent.
//
// The allocator never touches Atomics, threads or the scheduler. It calls
// this object to lock, to possibly sleep, to allocate memory and to queue
// work. Each such call is a scheduling point (controlled mode switches CPUs
// there, free-running mode takes pending interrupts there) and a hook for
// the checkers (lockdep, might_sleep, the irq-state check).
//
// All of a CPU's state - preempt count, irq flag, held locks, operation
// stack, pending interrupts - is in its record in shared memory, so another
// thread (the watchdog, a deadlock report) can read it.

import { EV, EV_CAP, EV_WORDS, H, HL, IRQ_ENTRY, IRQ_QUEUE, LK, MAX_HELD, MAX_OPS, SC, SYSTEM_RUNNING, X, X_IRQS, X_OPS, X_SIZE, type Shm } from '../shm/layout.ts';
import { Cov, covSet } from '../shm/coverage.ts';
import { Oops, StopRun, type HeldLockInfo, type Violation, type ViolationKind, FATAL_KINDS } from '../report/violation.ts';
import { F, siteName } from './sites.ts';
import { LOCK_IS_MUTEX, lockName } from './locks.ts';
import { rawLock, rawUnlock } from './raw.ts';

export const HARDIRQ_OFFSET = 1 << 16;

/** CPU run states, for the scheduler and the watchdog. */
export enum CpuState {
  running = 0,
  blocked = 1, // waiting for a mutex
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
  /** A scheduling point: may run other CPUs before returning. Returns true
   * when this CPU should take one pending interrupt now. */
  point(cpu: Cpu): boolean;
  /** This CPU cannot proceed until `lock` is free: run others meanwhile. */
  waitFor(cpu: Cpu, lock: number, state: CpuState): void;
  /** Lock released: nothing to do for most strategies. */
  released(cpu: Cpu, lock: number): void;
}

/**
 * Happens-before edges for the race detector (src/race): every kernel
 * synchronization the CPU context performs passes its vector clock on.
 */
export interface SyncHooks {
  acquire(cpu: Cpu, obj: number): void;
  release(cpu: Cpu, obj: number): void;
  releaseJoin(cpu: Cpu, obj: number): void;
  lockObj(lock: number): number;
  irqObj(target: number): number;
  workObj(work: number): number;
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
  /** The context of another CPU (or the kworker) of the same machine. */
  cpu(id: number): Cpu;
}

/** Operations whose overlap with another entity's counts as coverage: map extension and populate against free and reclaim. */
const OVERLAP_SITES: ReadonlySet<number> = new Set([
  F.pcpu_extend_area_map, F.pcpu_populate_chunk, F.pcpu_depopulate_chunk, F.pcpu_create_chunk, F.pcpu_destroy_chunk,
  F.free_percpu, F.pcpu_free_area, F.pcpu_reclaim, F.pcpu_alloc_area,
]);

/** Append one event to the timeline ring (the caller holds the run token). */
export function timelineEvent(shm: Shm, entity: number, kind: EV, arg: number): void {
  const w = shm.w;
  const L = shm.L;
  const n = w[L.header + H.EV_LEN]!;
  const at = L.evlog + (n % EV_CAP) * EV_WORDS;
  w[at] = w[L.sched + SC.STEP]!;
  w[at + 1] = entity;
  w[at + 2] = kind;
  w[at + 3] = arg;
  w[L.header + H.EV_LEN] = n + 1;
}

export type IrqHandler = (cpu: Cpu, kind: number, a0: number, a1: number, a2: number) => void;

const pause: () => void = (Atomics as unknown as { pause?: () => void }).pause?.bind(Atomics) ?? (() => {});
const SPIN_TRIES = 64;
const WAIT_MS = 20;

export class Cpu {
  readonly w: Int32Array;
  readonly x: number; // base of this CPU's record
  readonly h: number; // base of the header
  readonly lk: number; // base of the lock table
  irqHandler: IrqHandler | null = null;
  /** Irqs-off state checked by the irq-state check around calls. */
  private readonly shm: Shm;

  constructor(readonly host: CpuHost, readonly id: number) {
    this.shm = host.shm;
    this.w = host.shm.w;
    this.x = host.shm.L.cpus + id * X_SIZE;
    this.h = host.shm.L.header;
    this.lk = host.shm.L.locks;
  }

  get name(): string {
    return this.id < this.host.nrCpus ? `cpu${this.id}` : 'kworker/0:1';
  }

  // ---- context queries ------------------------------------------------------
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

  // ---- operation stack ------------------------------------------------------
  enter(site: F): void {
    if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.ENTER, site);
    if (this.w[this.h + H.COVERAGE] !== 0 && OVERLAP_SITES.has(site)) this.coverOverlap(site);
    this.pushSite(site);
  }

  /** Novelty feedback: the overlapping operations other entities are inside while this one enters `site`. */
  private coverOverlap(site: F): void {
    const L = this.shm.L;
    for (let e = 0; e < L.nrEntities; e++) {
      if (e === this.id) continue;
      const x = L.cpus + e * X_SIZE;
      const d = Math.min(this.w[x + X.OP_DEPTH]!, MAX_OPS);
      for (let i = 0; i < d; i++) {
        const other = this.w[x + X_OPS + i]!;
        if (OVERLAP_SITES.has(other)) covSet(this.w, L, Cov.OVERLAP, site, other, 0, 0);
      }
    }
  }
  /** enter() without a timeline event (a thread that does not hold the run token yet). */
  pushSite(site: F): void {
    const d = this.w[this.x + X.OP_DEPTH]!;
    if (d < MAX_OPS) this.w[this.x + X_OPS + d] = site;
    this.w[this.x + X.OP_DEPTH] = d + 1;
  }
  leave(): void {
    if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.LEAVE, this.site());
    this.w[this.x + X.OP_DEPTH]!--;
  }

  /**
   * Append to the timeline (controlled runs asked for one). Only the token
   * holder runs, so plain writes are ordered; the step is the scheduler's.
   */
  event(kind: EV, arg: number): void {
    timelineEvent(this.shm, this.id, kind, arg);
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

  // ---- scheduling points ----------------------------------------------------
  /** A point where the kernel could be preempted or interrupted. */
  point(): void {
    this.w[this.x + X.STEPS]!++;
    const s = this.host.sched;
    if (s !== null) {
      if (s.point(this)) this.takeOneIrq();
      return;
    }
    if (this.w[this.h + H.STOP] !== 0) throw new StopRun();
    if (this.w[this.x + X.IRQS_OFF] === 0 && this.w[this.x + X.IRQ_HEAD] !== this.w[this.x + X.IRQ_TAIL]) this.takeIrqs();
  }

  /** might_sleep(): complain when called in atomic context once the system runs. */
  mightSleep(): void {
    this.point();
    if ((this.inAtomic() || this.irqsDisabled()) && this.w[this.h + H.SYSTEM_STATE] === SYSTEM_RUNNING) {
      const where = siteName(this.site());
      this.report('sleep-in-atomic', `BUG: sleeping function called from invalid context at mm/percpu.c:${where}`,
        `in_atomic(): ${this.inAtomic() ? 1 : 0}, irqs_disabled(): ${this.irqsDisabled() ? 1 : 0}, cpu: ${this.id}, name: ${this.name}`);
    }
  }

  // ---- preemption and irq flags --------------------------------------------
  preemptDisable(): void {
    this.w[this.x + X.PREEMPT]!++;
  }
  preemptEnable(): void {
    this.w[this.x + X.PREEMPT]!--;
    this.point();
  }
  localIrqDisable(): void {
    this.w[this.x + X.IRQS_OFF] = 1;
  }
  localIrqEnable(): void {
    if (this.w[this.h + H.EARLY_BOOT_IRQS_DISABLED] !== 0 && this.id < this.host.nrCpus) {
      this.report('irqs-enabled-early', 'WARNING: Interrupts were enabled early',
        'DEBUG_LOCKS_WARN_ON(early_boot_irqs_disabled): irqs were enabled while the boot CPU still runs with them off');
    }
    this.w[this.x + X.IRQS_OFF] = 0;
  }
  localIrqSave(): number {
    const flags = this.w[this.x + X.IRQS_OFF]!;
    this.w[this.x + X.IRQS_OFF] = 1;
    return flags;
  }
  localIrqRestore(flags: number): void {
    if (flags === 0) this.localIrqEnable();
    else this.w[this.x + X.IRQS_OFF] = 1;
  }

  // ---- held-lock stack -------------------------------------------------------
  heldDepth(): number {
    return this.w[this.x + X.HELD_DEPTH]!;
  }
  heldLock(i: number): number {
    return this.w[this.x + X.HELD + i * HL.SIZE + HL.LOCK]!;
  }
  heldSite(i: number): number {
    return this.w[this.x + X.HELD + i * HL.SIZE + HL.SITE]!;
  }
  heldIrqCtx(i: number): number {
    return this.w[this.x + X.HELD + i * HL.SIZE + HL.IRQ_CTX]!;
  }
  holds(lock: number): boolean {
    for (let i = this.heldDepth() - 1; i >= 0; i--) if (this.heldLock(i) === lock) return true;
    return false;
  }
  heldTrylock(i: number): boolean {
    return this.w[this.x + X.HELD + i * HL.SIZE + HL.FLAGS] === 1;
  }
  private pushHeld(lock: number, trylock = false): void {
    const d = this.w[this.x + X.HELD_DEPTH]!;
    if (d < MAX_HELD) {
      const e = this.x + X.HELD + d * HL.SIZE;
      this.w[e + HL.LOCK] = lock;
      this.w[e + HL.SITE] = this.site();
      this.w[e + HL.IRQ_CTX] = this.hardirqDepth();
      this.w[e + HL.FLAGS] = trylock ? 1 : 0;
      this.w[this.x + X.HELD_DEPTH] = d + 1;
    }
    this.w[this.x + X.LOCKMASK] = this.w[this.x + X.LOCKMASK]! | (1 << lock);
  }
  /** Recompute the current context's lock mask from the held stack. */
  private remask(): void {
    const ctx = this.hardirqDepth();
    let m = 0;
    for (let i = this.heldDepth() - 1; i >= 0; i--) if (this.heldIrqCtx(i) === ctx) m |= 1 << this.heldLock(i);
    this.w[this.x + X.LOCKMASK] = m;
  }
  /** Locks held in the current context, a bit each. */
  lockMask(): number {
    return this.w[this.x + X.LOCKMASK]!;
  }
  /** Remove a lock from the held stack; false when it was not held. */
  private popHeld(lock: number): boolean {
    const d = this.w[this.x + X.HELD_DEPTH]!;
    for (let i = d - 1; i >= 0; i--) {
      if (this.heldLock(i) !== lock) continue;
      const from = this.x + X.HELD + (i + 1) * HL.SIZE;
      this.w.copyWithin(from - HL.SIZE, from, this.x + X.HELD + d * HL.SIZE);
      this.w[this.x + X.HELD_DEPTH] = d - 1;
      this.remask();
      return true;
    }
    return false;
  }
  heldLocks(): HeldLockInfo[] {
    const out: HeldLockInfo[] = [];
    const ld = this.host.lockdep;
    for (let i = 0; i < this.heldDepth(); i++) {
      const l = this.heldLock(i);
      out.push({ lock: `(${lockName(l)})${ld ? ld.usageString(l) : ''}`, at: siteName(this.heldSite(i)) });
    }
    return out;
  }

  // ---- lock statistics ----------------------------------------------------------
  private acquired(lock: number, contended: boolean): void {
    this.w[this.x + X.PENDING] = 0;
    if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.ACQUIRE, lock);
    const r = this.lk + lock * LK.SIZE;
    this.w[r + LK.OWNER] = this.id + 1;
    Atomics.add(this.w, r + LK.ACQUIRED, 1);
    if (contended) Atomics.add(this.w, r + LK.CONTENDED, 1);
    if (this.host.timing) this.w[r + LK.HOLD_START] = (performance.now() * 1000) | 0;
    const race = this.host.race;
    if (race !== null) race.acquire(this, race.lockObj(lock));
  }
  private releasing(lock: number): void {
    if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.RELEASE, lock);
    const r = this.lk + lock * LK.SIZE;
    this.w[r + LK.OWNER] = 0;
    const race = this.host.race;
    if (race !== null) race.release(this, race.lockObj(lock));
    if (this.host.timing) {
      const held = (((performance.now() * 1000) | 0) - this.w[r + LK.HOLD_START]!) | 0;
      if (held > this.w[r + LK.MAX_HOLD]!) this.w[r + LK.MAX_HOLD] = held;
    }
  }
  lockOwner(lock: number): number {
    return this.w[this.lk + lock * LK.SIZE + LK.OWNER]! - 1;
  }

  // ---- mutex (sleeping lock, futex-style: 0 free, 1 locked, 2 contended) ----
  mutexLock(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    this.mightSleep();
    this.host.lockdep?.acquire(this, lock, false);
    this.pushHeld(lock);
    const at = this.lk + lock * LK.SIZE + LK.STATE;
    let contended = false;
    if (Atomics.compareExchange(this.w, at, 0, 1) !== 0) {
      contended = true;
      const s = this.host.sched;
      if (s !== null) {
        if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.WAIT, lock);
        while (Atomics.compareExchange(this.w, at, 0, 1) !== 0) s.waitFor(this, lock, CpuState.blocked);
      } else {
        const prev = this.w[this.x + X.STATE]!;
        this.w[this.x + X.STATE] = CpuState.blocked;
        this.w[this.x + X.WAIT_LOCK] = lock;
        while (Atomics.exchange(this.w, at, 2) !== 0) {
          if (this.w[this.h + H.STOP] !== 0) throw new StopRun();
          Atomics.wait(this.w, at, 2, WAIT_MS);
        }
        this.w[this.x + X.STATE] = prev;
      }
    }
    this.acquired(lock, contended);
  }

  mutexTrylock(lock: number): boolean {
    this.w[this.x + X.PENDING] = lock + 1;
    this.point();
    this.w[this.x + X.PENDING] = 0;
    const at = this.lk + lock * LK.SIZE + LK.STATE;
    if (Atomics.compareExchange(this.w, at, 0, 1) !== 0) return false;
    this.host.lockdep?.acquire(this, lock, true);
    this.pushHeld(lock, true);
    this.acquired(lock, false);
    return true;
  }

  mutexUnlock(lock: number): void {
    const owner = this.lockOwner(lock);
    if (owner !== this.id) {
      this.report('bad-unlock', 'DEBUG_LOCKS_WARN_ON(lock->owner != current)',
        `${lockName(lock)} unlocked by ${this.name} but owned by ${owner < 0 ? 'nobody' : `cpu${owner}`}`, false);
    }
    this.host.lockdep?.release(this, lock);
    this.popHeld(lock);
    if (owner === this.id) this.releasing(lock);
    const at = this.lk + lock * LK.SIZE + LK.STATE;
    if (Atomics.exchange(this.w, at, 0) === 2) Atomics.notify(this.w, at, 1);
    this.host.sched?.released(this, lock);
    this.point();
  }

  // ---- spinlocks --------------------------------------------------------------
  spinLock(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    this.point();
    this.preemptDisable();
    this.host.lockdep?.acquire(this, lock, false);
    this.pushHeld(lock);
    this.spinAcquire(lock);
  }
  spinUnlock(lock: number): void {
    this.spinRelease(lock);
    this.preemptEnable();
  }
  spinLockIrq(lock: number): void {
    this.w[this.x + X.PENDING] = lock + 1;
    this.point();
    this.localIrqDisable();
    this.preemptDisable();
    this.host.lockdep?.acquire(this, lock, false);
    this.pushHeld(lock);
    this.spinAcquire(lock);
  }
  spinUnlockIrq(lock: number): void {
    this.spinRelease(lock);
    this.localIrqEnable();
    this.preemptEnable();
  }
  spinLockIrqSave(lock: number): number {
    this.w[this.x + X.PENDING] = lock + 1;
    this.point();
    const flags = this.localIrqSave();
    this.preemptDisable();
    this.host.lockdep?.acquire(this, lock, false);
    this.pushHeld(lock);
    this.spinAcquire(lock);
    return flags;
  }
  spinUnlockIrqRestore(lock: number, flags: number): void {
    this.spinRelease(lock);
    this.localIrqRestore(flags);
    this.preemptEnable();
  }

  private spinAcquire(lock: number): void {
    const at = this.lk + lock * LK.SIZE + LK.STATE;
    if (Atomics.compareExchange(this.w, at, 0, 1) === 0 || this.w[this.h + H.BROKEN_LOCK] === lock + 1) {
      this.acquired(lock, false);
      return;
    }
    if (this.lockOwner(lock) === this.id) {
      this.report('spinlock-recursion', `BUG: spinlock recursion on CPU#${this.id}, ${this.name}`,
        `lock: ${lockName(lock)}, .owner_cpu: ${this.id}; the lock is held by the context this one interrupted`);
    }
    const s = this.host.sched;
    if (s !== null) {
      if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.WAIT, lock);
      while (Atomics.compareExchange(this.w, at, 0, 1) !== 0) s.waitFor(this, lock, CpuState.spinning);
    } else {
      const prev = this.w[this.x + X.STATE]!;
      this.w[this.x + X.STATE] = CpuState.spinning;
      this.w[this.x + X.WAIT_LOCK] = lock;
      const waiters = this.lk + lock * LK.SIZE + LK.WAITERS;
      for (;;) {
        for (let i = 0; i < SPIN_TRIES; i++) {
          if (Atomics.load(this.w, at) === 0 && Atomics.compareExchange(this.w, at, 0, 1) === 0) {
            this.w[this.x + X.STATE] = prev;
            this.acquired(lock, true);
            return;
          }
          pause();
        }
        if (this.w[this.h + H.STOP] !== 0) throw new StopRun();
        // two cores, many CPU threads: stop burning the core the owner needs
        Atomics.add(this.w, waiters, 1);
        Atomics.wait(this.w, at, 1, 1);
        Atomics.sub(this.w, waiters, 1);
      }
    }
    this.acquired(lock, true);
  }

  private spinRelease(lock: number): void {
    const owner = this.lockOwner(lock);
    if (owner !== this.id) {
      this.report('bad-unlock', `BUG: spinlock wrong CPU on CPU#${this.id}, ${this.name}`,
        `lock: ${lockName(lock)}, .owner_cpu: ${owner}`, false);
    }
    this.host.lockdep?.release(this, lock);
    this.popHeld(lock);
    if (owner === this.id) this.releasing(lock);
    const at = this.lk + lock * LK.SIZE + LK.STATE;
    Atomics.store(this.w, at, 0);
    if (this.w[this.lk + lock * LK.SIZE + LK.WAITERS] !== 0) Atomics.notify(this.w, at, 1);
    this.host.sched?.released(this, lock);
  }

  // ---- completions (not tracked by lockdep, as in 2.6.35) ------------------------
  /** wait_for_completion: sleep until `c` is completed. */
  waitForCompletion(c: number): void {
    this.mightSleep();
    const at = this.lk + c * LK.SIZE + LK.STATE;
    const s = this.host.sched;
    const race = this.host.race;
    if (s !== null) {
      while (Atomics.load(this.w, at) !== 0) s.waitFor(this, c, CpuState.blocked);
      if (race !== null) race.acquire(this, race.lockObj(c));
      return;
    }
    const prev = this.w[this.x + X.STATE]!;
    this.w[this.x + X.STATE] = CpuState.blocked;
    this.w[this.x + X.WAIT_LOCK] = c;
    while (Atomics.load(this.w, at) !== 0) {
      if (this.w[this.h + H.STOP] !== 0) throw new StopRun();
      Atomics.wait(this.w, at, 1, WAIT_MS);
    }
    this.w[this.x + X.STATE] = prev;
    if (race !== null) race.acquire(this, race.lockObj(c));
  }

  /** complete_all: wake every waiter of `c`. */
  complete(c: number): void {
    const at = this.lk + c * LK.SIZE + LK.STATE;
    const race = this.host.race;
    if (race !== null) race.releaseJoin(this, race.lockObj(c));
    Atomics.store(this.w, at, 0);
    Atomics.notify(this.w, at);
    this.host.sched?.released(this, c);
    this.point();
  }

  /** lock_map_acquire/release: lockdep-only maps (work items, workqueues). */
  lockMapAcquire(lock: number): void {
    this.host.lockdep?.acquire(this, lock, false);
    this.pushHeld(lock);
  }
  lockMapRelease(lock: number): void {
    this.host.lockdep?.release(this, lock);
    this.popHeld(lock);
  }

  isMutex(lock: number): boolean {
    return LOCK_IS_MUTEX[lock] === true;
  }

  // ---- interrupts ------------------------------------------------------------------
  /** Queue an interrupt on `target` (an IPI carrying work); false if its queue is full. */
  raiseIrq(target: number, kind: number, a0: number, a1: number, a2: number): boolean {
    const tx = this.shm.L.cpus + target * X_SIZE;
    const w = this.w;
    rawLock(w, tx + X.IRQ_LOCK);
    const head = w[tx + X.IRQ_HEAD]!;
    const tail = w[tx + X.IRQ_TAIL]!;
    if (tail - head >= IRQ_QUEUE) {
      rawUnlock(w, tx + X.IRQ_LOCK);
      return false;
    }
    const e = tx + X_IRQS + (tail % IRQ_QUEUE) * IRQ_ENTRY;
    const race = this.host.race;
    if (race !== null) race.releaseJoin(this, race.irqObj(target));
    w[e] = kind;
    w[e + 1] = a0;
    w[e + 2] = a1;
    w[e + 3] = a2;
    Atomics.store(w, tx + X.IRQ_TAIL, tail + 1);
    rawUnlock(w, tx + X.IRQ_LOCK);
    Atomics.add(w, tx + X.WAKE, 1);
    Atomics.notify(w, tx + X.WAKE, 1);
    return true;
  }

  pendingIrqs(): number {
    return Atomics.load(this.w, this.x + X.IRQ_TAIL) - this.w[this.x + X.IRQ_HEAD]!;
  }

  /** Take every pending interrupt (free-running mode, irqs enabled). */
  takeIrqs(): void {
    while (this.w[this.x + X.IRQS_OFF] === 0 && this.pendingIrqs() > 0) this.takeOneIrq();
  }

  /** Run one pending interrupt's handler in hardirq context on this CPU. */
  takeOneIrq(): void {
    const w = this.w;
    const head = w[this.x + X.IRQ_HEAD]!;
    if (Atomics.load(w, this.x + X.IRQ_TAIL) === head) return;
    const e = this.x + X_IRQS + (head % IRQ_QUEUE) * IRQ_ENTRY;
    const kind = w[e]!, a0 = w[e + 1]!, a1 = w[e + 2]!, a2 = w[e + 3]!;
    rawLock(w, this.x + X.IRQ_LOCK);
    w[this.x + X.IRQ_HEAD] = head + 1;
    const race = this.host.race;
    if (race !== null) race.acquire(this, race.irqObj(this.id));
    rawUnlock(w, this.x + X.IRQ_LOCK);
    const savedIrqs = w[this.x + X.IRQS_OFF]!;
    // an idle CPU runs while it handles the interrupt (the scheduler and the watchdog must see it)
    const savedState = w[this.x + X.STATE]!;
    if (savedState === CpuState.idle) w[this.x + X.STATE] = CpuState.running;
    w[this.x + X.PREEMPT] = w[this.x + X.PREEMPT]! + HARDIRQ_OFFSET;
    w[this.x + X.IRQS_OFF] = 1;
    // the handler's context holds no lock of its own yet
    const savedMask = w[this.x + X.LOCKMASK]!;
    w[this.x + X.LOCKMASK] = 0;
    w[this.x + X.IRQS_TAKEN]!++;
    this.enter(F.handle_irq);
    this.irqHandler?.(this, kind, a0, a1, a2);
    this.leave();
    w[this.x + X.PREEMPT] = w[this.x + X.PREEMPT]! - HARDIRQ_OFFSET;
    w[this.x + X.LOCKMASK] = savedMask;
    w[this.x + X.IRQS_OFF] = savedIrqs;
    w[this.x + X.STATE] = savedState;
  }

  // ---- violations ------------------------------------------------------------------
  /** The "N locks held by ..." section of a report. */
  heldSection(): string {
    const held = this.heldLocks();
    if (!held.length) return `no locks held by ${this.name}/${this.id}.\n`;
    let out = `${held.length} lock${held.length > 1 ? 's' : ''} held by ${this.name}/${this.id}:\n`;
    held.forEach((hl, i) => (out += ` #${i}:  ${hl.lock}, at: ${hl.at}\n`));
    return out;
  }

  /**
   * Record a violation. Fatal kinds unwind this CPU like BUG() does; the
   * others print and continue, as WARN and lockdep do. `banner` frames the
   * title the way lockdep does.
   */
  report(kind: ViolationKind, title: string, body: string, fatal = FATAL_KINDS.has(kind), details?: Record<string, unknown>, banner = false): void {
    if (this.w[this.h + H.EVLOG] !== 0) this.event(EV.REPORT, 0);
    const held = this.heldLocks();
    const stack = this.stack();
    let text: string;
    if (banner) {
      const rule = (c: string): string => c.repeat(title.length);
      text = `${rule('=')}\n${title}\n${KERNEL_VERSION}\n${rule('-')}\n${body}\n${this.heldSection()}\nstack backtrace:\nCPU: ${this.id} Comm: ${this.name}\n`;
    } else {
      text = `${title}\n${body}\n${this.heldSection()}Call Trace:\n`;
    }
    text += stack.map((s) => ` ${s}\n`).join('');
    // controlled runs count steps globally: the same violation replays at the same step
    const step = this.host.sched ? this.w[this.shm.L.sched + SC.STEP]! : this.steps();
    const v: Violation = { kind, cpu: this.id, step, title, text, held, stack, fatal };
    if (details) v.details = details;
    this.host.onViolation(v);
    if (fatal) throw new Oops(v);
  }
}

export const KERNEL_VERSION = '2.6.35-percpu-stress';
