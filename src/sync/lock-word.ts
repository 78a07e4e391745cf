// The lock words behind the kernel's locks, in the lock table of shared
// memory: a futex-style mutex (0 free, 1 locked, 2 contended), a spinlock
// (0 free, 1 locked) and completions (1 not done, 0 done). In a controlled
// run a contended lock hands the run token to someone else until the word
// is free; free-running threads spin briefly, then sleep on the word.
// Every acquisition and release is where the lock statistics are kept and
// the race detector's clocks pass.

import { LK, X } from './records.ts';
import { RUN, EV } from '../run/records.ts';
import { CpuState } from './hooks.ts';
import { SY } from './records.ts';
import { StopRun } from '../report/violation.ts';
import { lockName } from './locks.ts';
import type { CpuCore as Cpu } from './hooks.ts';

const pause: () => void = (Atomics as unknown as { pause?: () => void }).pause?.bind(Atomics) ?? (() => {});
const SPIN_TRIES = 64;
const WAIT_MS = 20;

function stopped(cpu: Cpu): boolean {
  return cpu.w[cpu.host.shm.L.run + RUN.STOP] !== 0;
}

/** The lock is ours: statistics, owner, timeline, clocks. */
export function acquired(cpu: Cpu, lock: number, contended: boolean): void {
  const w = cpu.w;
  w[cpu.x + X.PENDING] = 0;
  if (cpu.logging()) cpu.event(EV.ACQUIRE, lock);
  const r = cpu.lk + lock * LK.SIZE;
  w[r + LK.OWNER] = cpu.id + 1;
  Atomics.add(w, r + LK.ACQUIRED, 1);
  if (contended) Atomics.add(w, r + LK.CONTENDED, 1);
  if (cpu.host.timing) w[r + LK.HOLD_START] = (performance.now() * 1000) | 0;
  cpu.host.race?.lockAcquired(cpu, lock);
}

/** The lock is about to be let go (it was ours). */
export function releasing(cpu: Cpu, lock: number): void {
  const w = cpu.w;
  if (cpu.logging()) cpu.event(EV.RELEASE, lock);
  const r = cpu.lk + lock * LK.SIZE;
  w[r + LK.OWNER] = 0;
  cpu.host.race?.lockReleased(cpu, lock);
  if (cpu.host.timing) {
    const held = (((performance.now() * 1000) | 0) - w[r + LK.HOLD_START]!) | 0;
    if (held > w[r + LK.MAX_HOLD]!) w[r + LK.MAX_HOLD] = held;
  }
}

export function lockOwner(cpu: Cpu, lock: number): number {
  return cpu.w[cpu.lk + lock * LK.SIZE + LK.OWNER]! - 1;
}

/**
 * The mutex word is taken (mutexWordTry failed): wait until it is ours.
 * The uncontended path is mutexWordTry alone, a plain call, so that in the
 * in-thread engine only a contended lock costs a coroutine frame.
 */
export function mutexWordWait(cpu: Cpu, lock: number): void {
  const w = cpu.w;
  const at = cpu.lk + lock * LK.SIZE + LK.STATE;
  const s = cpu.host.sched;
  if (s !== null) {
    if (cpu.logging()) cpu.event(EV.WAIT, lock);
    while (Atomics.compareExchange(w, at, 0, 1) !== 0) s.waitFor(cpu, lock, CpuState.blocked);
    return;
  }
  const prev = w[cpu.x + X.STATE]!;
  w[cpu.x + X.STATE] = CpuState.blocked;
  w[cpu.x + X.WAIT_LOCK] = lock;
  while (Atomics.exchange(w, at, 2) !== 0) {
    if (stopped(cpu)) throw new StopRun();
    Atomics.wait(w, at, 2, WAIT_MS);
  }
  w[cpu.x + X.STATE] = prev;
}

export function mutexWordTry(cpu: Cpu, lock: number): boolean {
  return Atomics.compareExchange(cpu.w, cpu.lk + lock * LK.SIZE + LK.STATE, 0, 1) === 0;
}

export function mutexWordRelease(cpu: Cpu, lock: number): void {
  const at = cpu.lk + lock * LK.SIZE + LK.STATE;
  if (Atomics.exchange(cpu.w, at, 0) === 2) Atomics.notify(cpu.w, at, 1);
}

/**
 * Take the spinlock word if it is free (a broken lock, a test hook, always
 * is); false when it is not, and spinWordWait must follow. Split like the
 * mutex: the uncontended path is a plain call in the in-thread engine too.
 */
export function spinWordTry(cpu: Cpu, lock: number): boolean {
  if (Atomics.compareExchange(cpu.w, cpu.lk + lock * LK.SIZE + LK.STATE, 0, 1) === 0 || cpu.w[cpu.host.shm.L.sy + SY.BROKEN_LOCK] === lock + 1) {
    acquired(cpu, lock, false);
    return true;
  }
  return false;
}

/** Spin until the spinlock word spinWordTry found taken is ours. */
export function spinWordWait(cpu: Cpu, lock: number): void {
  const w = cpu.w;
  const at = cpu.lk + lock * LK.SIZE + LK.STATE;
  if (lockOwner(cpu, lock) === cpu.id) {
    cpu.report('spinlock-recursion', `BUG: spinlock recursion on CPU#${cpu.id}, ${cpu.name}`,
      `lock: ${lockName(lock)}, .owner_cpu: ${cpu.id}; the lock is held by the context this one interrupted`);
  }
  const s = cpu.host.sched;
  if (s !== null) {
    if (cpu.logging()) cpu.event(EV.WAIT, lock);
    while (Atomics.compareExchange(w, at, 0, 1) !== 0) s.waitFor(cpu, lock, CpuState.spinning);
    acquired(cpu, lock, true);
    return;
  }
  const prev = w[cpu.x + X.STATE]!;
  w[cpu.x + X.STATE] = CpuState.spinning;
  w[cpu.x + X.WAIT_LOCK] = lock;
  const waiters = cpu.lk + lock * LK.SIZE + LK.WAITERS;
  for (;;) {
    for (let i = 0; i < SPIN_TRIES; i++) {
      if (Atomics.load(w, at) === 0 && Atomics.compareExchange(w, at, 0, 1) === 0) {
        w[cpu.x + X.STATE] = prev;
        acquired(cpu, lock, true);
        return;
      }
      pause();
    }
    if (stopped(cpu)) throw new StopRun();
    // two cores, many CPU threads: stop burning the core the owner needs
    Atomics.add(w, waiters, 1);
    Atomics.wait(w, at, 1, 1);
    Atomics.sub(w, waiters, 1);
  }
}

export function spinWordRelease(cpu: Cpu, lock: number): void {
  const at = cpu.lk + lock * LK.SIZE + LK.STATE;
  Atomics.store(cpu.w, at, 0);
  if (cpu.w[cpu.lk + lock * LK.SIZE + LK.WAITERS] !== 0) Atomics.notify(cpu.w, at, 1);
}

/** Sleep until completion `c` is done. */
export function completionWait(cpu: Cpu, c: number): void {
  const w = cpu.w;
  const at = cpu.lk + c * LK.SIZE + LK.STATE;
  const s = cpu.host.sched;
  if (s !== null) {
    while (Atomics.load(w, at) !== 0) s.waitFor(cpu, c, CpuState.blocked);
  } else {
    const prev = w[cpu.x + X.STATE]!;
    w[cpu.x + X.STATE] = CpuState.blocked;
    w[cpu.x + X.WAIT_LOCK] = c;
    while (Atomics.load(w, at) !== 0) {
      if (stopped(cpu)) throw new StopRun();
      Atomics.wait(w, at, 1, WAIT_MS);
    }
    w[cpu.x + X.STATE] = prev;
  }
  cpu.host.race?.completionWaited(cpu, c);
}

/** complete_all(): the word is done for good; every waiter wakes. */
export function completionDone(cpu: Cpu, c: number): void {
  const at = cpu.lk + c * LK.SIZE + LK.STATE;
  cpu.host.race?.completed(cpu, c);
  Atomics.store(cpu.w, at, 0);
  Atomics.notify(cpu.w, at);
}
