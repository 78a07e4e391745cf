// Locking self-tests (the spirit of the kernel's lib/locking-selftest.c):
// small programs, one per CPU thread, that exercise the mutex, spinlocks,
// irq flags, interrupts and lockdep on real threads. Each program is a
// function of its CPU context; words of the scratch region coordinate
// phases (never sleeps or timers).

import type { Cpu } from '../../sync/cpu.ts';
import { Lock } from '../../sync/locks.ts';
import { F } from '../../sync/sites.ts';
import type { Kernel } from '../machine.ts';
import { X } from '../../sync/records.ts';

export const IRQ_TAKE_SPIN = 1;
export const IRQ_TAKE_MUTEX = 2;
export const IRQ_TAKE_A = 3;

/** Scratch words used by the programs. */
export const S = { counter: 0, phase: 1, irqsDone: 2, idleStop: 3, spinCounter: 4 } as const;

export type SelftestProgram = (k: Kernel, cpu: Cpu, args: number[]) => number[];

function scratch(k: Kernel): number {
  return k.shm.L.scratch;
}

function waitFor(k: Kernel, word: number, value: number): void {
  const at = scratch(k) + word;
  for (let v = Atomics.load(k.shm.w, at); v < value; v = Atomics.load(k.shm.w, at)) Atomics.wait(k.shm.w, at, v, 50);
}

/** Interrupt CPU `target` with `kind` and wait until its handler has run. */
function interrupt(k: Kernel, cpu: Cpu, target: number, kind: number): void {
  cpu.raiseIrq(target, kind, 0, 0, 0);
  waitFor(k, S.irqsDone, 1);
}

function bump(k: Kernel, word: number): void {
  Atomics.add(k.shm.w, scratch(k) + word, 1);
  Atomics.notify(k.shm.w, scratch(k) + word);
}

/** The interrupt handler of the self-tests: runs in hardirq context. */
export function selftestIrq(k: Kernel, cpu: Cpu, kind: number): void {
  if (kind === IRQ_TAKE_SPIN) {
    cpu.spinLock(Lock.test_irq_lock);
    cpu.spinUnlock(Lock.test_irq_lock);
  } else if (kind === IRQ_TAKE_MUTEX) {
    cpu.mutexLock(Lock.test_mutex_b);
    cpu.mutexUnlock(Lock.test_mutex_b);
  } else if (kind === IRQ_TAKE_A) {
    cpu.spinLock(Lock.test_a);
    cpu.spinUnlock(Lock.test_a);
  }
  bump(k, S.irqsDone);
}

export const SELFTESTS: Record<string, SelftestProgram> = {
  /** args: [n]. n increments of a plain shared word under the mutex. */
  'mutex-inc': (k, cpu, [n = 0]) => {
    const at = scratch(k) + S.counter;
    for (let i = 0; i < n; i++) {
      cpu.mutexLock(Lock.test_mutex_a);
      k.shm.w[at] = k.shm.w[at]! + 1;
      cpu.mutexUnlock(Lock.test_mutex_a);
    }
    return [];
  },
  /** args: [n]. n increments under spin_lock_irqsave. */
  'spin-inc': (k, cpu, [n = 0]) => {
    const at = scratch(k) + S.spinCounter;
    for (let i = 0; i < n; i++) {
      const flags = cpu.spinLockIrqSave(Lock.test_a);
      k.shm.w[at] = k.shm.w[at]! + 1;
      cpu.spinUnlockIrqRestore(Lock.test_a, flags);
    }
    return [];
  },
  /** A then B, then let the other phase start. */
  'order-ab': (k, cpu) => {
    cpu.spinLock(Lock.test_a);
    cpu.spinLock(Lock.test_b);
    cpu.spinUnlock(Lock.test_b);
    cpu.spinUnlock(Lock.test_a);
    bump(k, S.phase);
    return [];
  },
  /** After order-ab is done: B then A. Nothing can deadlock; lockdep must still see the cycle. */
  'order-ba': (k, cpu) => {
    waitFor(k, S.phase, 1);
    cpu.spinLock(Lock.test_b);
    cpu.spinLock(Lock.test_a);
    cpu.spinUnlock(Lock.test_a);
    cpu.spinUnlock(Lock.test_b);
    return [];
  },
  /** A -> B, B -> C, then C -> A: a cycle of three. */
  'order-abc': (k, cpu) => {
    const pairs: [Lock, Lock][] = [[Lock.test_a, Lock.test_b], [Lock.test_b, Lock.test_c], [Lock.test_c, Lock.test_a]];
    for (const [x, y] of pairs) {
      cpu.spinLock(x);
      cpu.spinLock(y);
      cpu.spinUnlock(y);
      cpu.spinUnlock(x);
    }
    return [];
  },
  /** Take test_irq_lock with irqs on, then have CPU args[0] take it in an interrupt. */
  'irq-unsafe-spin': (k, cpu, [target = 1]) => {
    cpu.spinLock(Lock.test_irq_lock);
    cpu.spinUnlock(Lock.test_irq_lock);
    interrupt(k, cpu, target, IRQ_TAKE_SPIN);
    bump(k, S.idleStop);
    return [];
  },
  /**
   * test_irq_lock becomes irq-safe (CPU args[0] takes it in an interrupt),
   * test_c irq-unsafe (taken with irqs on); then test_c under test_irq_lock.
   */
  'safe-to-unsafe': (k, cpu, [target = 1]) => {
    interrupt(k, cpu, target, IRQ_TAKE_SPIN);
    cpu.spinLock(Lock.test_c);
    cpu.spinUnlock(Lock.test_c);
    const flags = cpu.spinLockIrqSave(Lock.test_irq_lock);
    cpu.spinLock(Lock.test_c);
    cpu.spinUnlock(Lock.test_c);
    cpu.spinUnlockIrqRestore(Lock.test_irq_lock, flags);
    bump(k, S.idleStop);
    return [];
  },
  /** test_a -> test_c with test_c irq-unsafe; then CPU args[0] takes test_a in an interrupt. */
  inversion: (k, cpu, [target = 1]) => {
    cpu.spinLock(Lock.test_c);
    cpu.spinUnlock(Lock.test_c);
    const flags = cpu.spinLockIrqSave(Lock.test_a);
    cpu.spinLock(Lock.test_c);
    cpu.spinUnlock(Lock.test_c);
    cpu.spinUnlockIrqRestore(Lock.test_a, flags);
    interrupt(k, cpu, target, IRQ_TAKE_A);
    bump(k, S.idleStop);
    return [];
  },
  /** Lock the mutex and let the other CPU unlock it; returns whether trylock saw it taken. */
  'mutex-lock-hold': (k, cpu) => {
    cpu.mutexLock(Lock.test_mutex_a);
    bump(k, S.phase);
    waitFor(k, S.phase, 2);
    return [];
  },
  'mutex-foreign-unlock': (k, cpu) => {
    waitFor(k, S.phase, 1);
    const got = cpu.mutexTrylock(Lock.test_mutex_a) ? 1 : 0;
    cpu.mutexUnlock(Lock.test_mutex_a);
    bump(k, S.phase);
    return [got];
  },
  /** Have CPU args[0] take a mutex in an interrupt. */
  'irq-mutex': (k, cpu, [target = 1]) => {
    interrupt(k, cpu, target, IRQ_TAKE_MUTEX);
    bump(k, S.idleStop);
    return [];
  },
  /** Take interrupts until told to stop. */
  idle: (k, cpu) => {
    const stop = scratch(k) + S.idleStop;
    const wake = cpu.x + X.WAKE;
    while (Atomics.load(k.shm.w, stop) === 0) {
      cpu.point();
      Atomics.wait(k.shm.w, wake, Atomics.load(k.shm.w, wake), 20);
    }
    return [];
  },
  /** A mutex under a spinlock: might_sleep in atomic context. */
  'mutex-under-spin': (_k, cpu) => {
    cpu.spinLock(Lock.test_a);
    cpu.mutexLock(Lock.test_mutex_a);
    cpu.mutexUnlock(Lock.test_mutex_a);
    cpu.spinUnlock(Lock.test_a);
    return [];
  },
  /** irqsave nesting: returns irqsDisabled() after each step (1/0). */
  'irqsave-nesting': (_k, cpu) => {
    const s = (): number => (cpu.irqsDisabled() ? 1 : 0);
    const out: number[] = [s()];
    const f1 = cpu.spinLockIrqSave(Lock.test_a);
    out.push(s());
    const f2 = cpu.spinLockIrqSave(Lock.test_b);
    out.push(s());
    cpu.spinUnlockIrqRestore(Lock.test_b, f2);
    out.push(s());
    cpu.spinUnlockIrqRestore(Lock.test_a, f1);
    out.push(s());
    cpu.localIrqDisable();
    const f3 = cpu.spinLockIrqSave(Lock.test_a);
    cpu.spinUnlockIrqRestore(Lock.test_a, f3);
    out.push(s());
    cpu.localIrqEnable();
    out.push(s(), cpu.preemptCount());
    return out;
  },
  /** In the early-boot phase (irqs off), spin_unlock_irq turns them on. */
  'boot-irq-enable': (_k, cpu) => {
    cpu.spinLockIrq(Lock.test_a);
    cpu.spinUnlockIrq(Lock.test_a);
    return [];
  },
  /** Release a lock that is not held. */
  'bad-unlock': (_k, cpu) => {
    cpu.spinUnlock(Lock.test_c);
    return [];
  },
  /** Take a spinlock twice. */
  recursion: (_k, cpu) => {
    cpu.spinLock(Lock.test_b);
    cpu.spinLock(Lock.test_b);
    return [];
  },
};

export function runSelftestProgram(k: Kernel, cpu: Cpu, name: string, args: number[]): number[] {
  const p = SELFTESTS[name];
  if (!p) throw new Error(`unknown self-test program '${name}'`);
  cpu.irqHandler = (c, kind) => selftestIrq(k, c, kind);
  cpu.enter(F.test_body);
  const r = p(k, cpu, args);
  cpu.leave();
  return r;
}
